//! Issuing certificates and CRLs: the root, region CAs and leaves.

use std::fmt;
use std::net::IpAddr;

use credex_protocol::{NodeName, RegionCode, Role};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, DnValue, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyUsagePurpose,
    RevokedCertParams, SanType, SerialNumber,
};
use ring::rand::{SecureRandom, SystemRandom};
use rustls_pki_types::CertificateDer;
use time::{Duration, OffsetDateTime, PrimitiveDateTime, UtcOffset};

use crate::cert_key::CertKey;
use crate::identity::{
    CertIdentity, CertKind, PemError, Subject, certs_from_pem, parse_certificate,
};

pub use crate::cert_key::{KeyAlgorithm, UnknownKeyAlgorithm};
pub use crate::issue_error::{IssueError, MAX_COMMON_NAME_LEN};

/// Organisation (O) in every credex certificate's subject.
pub const ORGANIZATION: &str = "credex federation";

/// How far [`Validity::days_from`] backdates `not_before`, so that a
/// certificate issued just now is accepted by peers whose clocks are slightly
/// behind.
pub const CLOCK_SKEW_ALLOWANCE: Duration = Duration::hours(1);

/// The validity period of a certificate to issue. Times are kept in UTC,
/// truncated to whole seconds (what X.509 encodes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl Validity {
    /// A validity period from `not_before` to `not_after`; the end must be
    /// after the start.
    pub fn new(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Self, IssueError> {
        let not_before = whole_seconds_utc(not_before);
        let not_after = whole_seconds_utc(not_after);
        if not_after <= not_before {
            return Err(IssueError::EmptyValidity);
        }
        Ok(Validity {
            not_before,
            not_after,
        })
    }

    /// Valid for `days` days from `now`, with `not_before` backdated by
    /// [`CLOCK_SKEW_ALLOWANCE`]. The end saturates at the end of year 9999.
    pub fn days_from(now: OffsetDateTime, days: u32) -> Self {
        let not_before = whole_seconds_utc(now.saturating_sub(CLOCK_SKEW_ALLOWANCE));
        let not_after = now
            .checked_add(Duration::days(i64::from(days)))
            .unwrap_or(PrimitiveDateTime::MAX.assume_utc());
        Validity {
            not_before,
            not_after: whole_seconds_utc(not_after),
        }
    }

    /// Start of validity.
    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    /// End of validity.
    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }
}

fn whole_seconds_utc(t: OffsetDateTime) -> OffsetDateTime {
    let t = t.to_offset(UtcOffset::UTC);
    t - Duration::nanoseconds(i64::from(t.nanosecond()))
}

/// A freshly issued certificate and its new key pair.
///
/// `Debug` does not print the private key.
#[derive(Clone, PartialEq, Eq)]
pub struct Issued {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The private key, PKCS#8 PEM (`PRIVATE KEY`). Secret.
    pub key_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("cert_pem", &self.cert_pem)
            .field("key_pem", &"[private key redacted]")
            .field("cert_der", &format_args!("{} bytes", self.cert_der.len()))
            .finish()
    }
}

/// A certificate issued for a key held elsewhere
/// ([`CertificateAuthority::issue_node_for_key`]): no private key comes
/// with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedCertificate {
    /// The certificate, PEM (`CERTIFICATE`).
    pub cert_pem: String,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

/// The public half of a key whose private half is held elsewhere (a
/// hardware security module, decision 1090), to certify: Ed25519 or ECDSA
/// P-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldPublicKey {
    alg: KeyAlgorithm,
    raw: Vec<u8>,
}

impl HeldPublicKey {
    /// The raw public key `raw` of `alg`: 32 bytes for Ed25519, a 65-byte
    /// uncompressed point for P-256. SM2 is refused.
    pub fn new(alg: KeyAlgorithm, raw: &[u8]) -> Result<Self, IssueError> {
        let fits = match alg {
            KeyAlgorithm::Ed25519 => raw.len() == 32,
            KeyAlgorithm::EcdsaP256 => raw.len() == 65 && raw[0] == 0x04,
            KeyAlgorithm::Sm2 => false,
        };
        if !fits {
            return Err(IssueError::BadPublicKey(format!(
                "{} bytes is not an {alg} public key (32 bytes for ed25519, an uncompressed \
                 65-byte point for p256; no sm2)",
                raw.len()
            )));
        }
        Ok(HeldPublicKey {
            alg,
            raw: raw.to_vec(),
        })
    }
}

impl rcgen::PublicKeyData for HeldPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.raw
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self.alg {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            _ => &rcgen::PKCS_ED25519,
        }
    }
}

/// A certificate to list in a CRL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokedCert {
    /// The certificate's serial, as [`CertIdentity::serial`] gives it.
    pub serial: Vec<u8>,
    /// When the revocation took effect.
    pub revoked_at: OffsetDateTime,
}

/// Why a CA certificate and key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CaLoadError {
    /// The certificate PEM holds no readable certificate.
    #[error("CA certificate: {0}")]
    Pem(#[from] PemError),
    /// The certificate PEM holds more than one certificate.
    #[error("CA certificate PEM holds {0} certificates; expected exactly one")]
    MultipleCertificates(usize),
    /// The certificate's credex identity could not be read.
    #[error("CA certificate: {0}")]
    Identity(#[from] crate::identity::IdentityError),
    /// The certificate is not a root or region CA certificate.
    #[error("certificate is {0}, not the federation root or a region CA")]
    NotACa(CertKind),
    /// The certificate subject has an empty or multi-valued RDN, which the
    /// issuer cannot reproduce exactly.
    #[error("CA certificate subject has an empty or multi-valued RDN")]
    UnsupportedSubject,
    /// The key PEM is not a PKCS#8 Ed25519, P-256 or SM2 private key.
    #[error("CA key is not a PKCS#8 Ed25519, ECDSA P-256 or SM2 private key (PEM \"PRIVATE KEY\")")]
    BadKey,
    /// The key is not the certificate's key.
    #[error("CA key does not belong to the CA certificate")]
    KeyMismatch,
    /// rcgen could not use the certificate as an issuer.
    #[error("CA certificate cannot be used as issuer: {0}")]
    Issuer(String),
}

/// Create a new self-signed federation root CA certificate and key.
///
/// The root is `CA:true` with path length 1 (root → region CA → leaf) and
/// key usages keyCertSign and cRLSign.
pub fn create_root(
    common_name: &str,
    alg: KeyAlgorithm,
    validity: Validity,
) -> Result<Issued, IssueError> {
    if common_name.is_empty()
        || common_name.chars().count() > MAX_COMMON_NAME_LEN
        || common_name.chars().any(char::is_control)
    {
        return Err(IssueError::BadCommonName);
    }
    let key = CertKey::generate(alg)?;
    let cert_der = root_certificate(common_name, &key, validity)?;
    Ok(issued(cert_der, &key))
}

/// Create a new self-signed federation root CA certificate whose key stays
/// in a device (a hardware security module, decision 1090): Ed25519 or
/// ECDSA P-256. The same certificate as [`create_root`]; only the
/// certificate comes back.
pub fn create_root_in_device(
    common_name: &str,
    key: std::sync::Arc<dyn crate::signing::DeviceKey>,
    validity: Validity,
) -> Result<IssuedCertificate, IssueError> {
    let algorithm = key.algorithm();
    let key = CertKey::in_device(key).ok_or_else(|| {
        IssueError::BadPublicKey(format!(
            "a CA key in a device must be Ed25519 or P-256, not {algorithm:?}"
        ))
    })?;
    let cert_der = root_certificate(common_name, &key, validity)?;
    Ok(IssuedCertificate {
        cert_pem: pem_lf("CERTIFICATE", cert_der.clone()),
        cert_der,
    })
}

/// The root certificate for `key`.
fn root_certificate(
    common_name: &str,
    key: &CertKey,
    validity: Validity,
) -> Result<Vec<u8>, IssueError> {
    if common_name.is_empty()
        || common_name.chars().count() > MAX_COMMON_NAME_LEN
        || common_name.chars().any(char::is_control)
    {
        return Err(IssueError::BadCommonName);
    }
    let rng = SystemRandom::new();
    let mut params = base_params(&Subject::Root, common_name, &validity, &rng)?;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(1));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    add_key_id_attribute(&mut params, key);
    // Fix the key identifier for both SKI and AKI: rcgen derives the AKI
    // of a self-signed certificate through a reference to the key, whose
    // trait impl does not forward an SM2 key's true SubjectPublicKeyInfo.
    params.key_identifier_method = KeyIdMethod::PreSpecified(params.key_identifier(key));
    let draft = params
        .self_signed(key)
        .map_err(|e| IssueError::Encoding(e.to_string()))?;
    crate::sm2_x509::finish_certificate(draft.der(), key.is_sm2(), key)
}

/// A root or region CA, loaded with its private key, that issues
/// certificates and CRLs.
///
/// The CA knows its own identity and enforces the hierarchy: only the root
/// issues region CAs, and a region CA issues leaves for its own region only.
pub struct CertificateAuthority {
    identity: CertIdentity,
    cert_pem: String,
    cert_der: CertificateDer<'static>,
    issuer: Issuer<'static, CertKey>,
    rng: SystemRandom,
}

impl fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateAuthority")
            .field("identity", &self.identity)
            .field("key", &"[private key redacted]")
            .finish()
    }
}

impl CertificateAuthority {
    /// Load a CA from its certificate PEM and PKCS#8 private key PEM.
    ///
    /// The certificate must name the root or a region CA, and the key must
    /// be the certificate's key.
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Self, CaLoadError> {
        Self::with_key(cert_pem, || {
            CertKey::from_pem(key_pem).ok_or(CaLoadError::BadKey)
        })
    }

    /// Load a CA from its certificate PEM and its key inside a device (a
    /// hardware security module, decision 1090): every certificate and CRL
    /// it issues is signed there. The key must be the certificate's, and
    /// Ed25519 or ECDSA P-256.
    pub fn in_device(
        cert_pem: &str,
        key: std::sync::Arc<dyn crate::signing::DeviceKey>,
    ) -> Result<Self, CaLoadError> {
        Self::with_key(cert_pem, || {
            CertKey::in_device(key).ok_or(CaLoadError::BadKey)
        })
    }

    fn with_key(
        cert_pem: &str,
        key: impl FnOnce() -> Result<CertKey, CaLoadError>,
    ) -> Result<Self, CaLoadError> {
        let mut certs = certs_from_pem(cert_pem)?;
        if certs.len() != 1 {
            return Err(CaLoadError::MultipleCertificates(certs.len()));
        }
        let cert_der = certs.remove(0);
        let parsed = parse_certificate(&cert_der)?;
        let kind = parsed.identity.kind();
        if !kind.is_ca() {
            return Err(CaLoadError::NotACa(kind));
        }
        // rcgen re-encodes the subject as the issuer name of what we issue;
        // it panics on an empty RDN and refuses multi-valued ones. Check here
        // so a bad file is an error, not a panic.
        let (_, x509) = x509_parser::parse_x509_certificate(&cert_der)
            .map_err(|e| crate::identity::IdentityError::Malformed(e.to_string()))?;
        if x509.subject().iter().any(|rdn| rdn.iter().count() != 1) {
            return Err(CaLoadError::UnsupportedSubject);
        }
        let key = key()?;
        if key.public_key_raw() != parsed.public_key.as_slice() {
            return Err(CaLoadError::KeyMismatch);
        }
        let issuer = Issuer::from_ca_cert_der(&cert_der, key)
            .map_err(|e| CaLoadError::Issuer(e.to_string()))?;
        Ok(CertificateAuthority {
            identity: parsed.identity,
            cert_pem: cert_pem.to_owned(),
            cert_der,
            issuer,
            rng: SystemRandom::new(),
        })
    }

    /// The CA's own identity (root or region CA).
    pub fn identity(&self) -> &CertIdentity {
        &self.identity
    }

    /// The CA certificate, PEM, as loaded.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> &CertificateDer<'static> {
        &self.cert_der
    }

    /// Issue a region CA certificate (`CA:true`, path length 0, keyCertSign
    /// and cRLSign). Only the root may.
    pub fn issue_region_ca(
        &self,
        region: RegionCode,
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        if self.identity.subject != Subject::Root {
            return Err(IssueError::OnlyRootIssuesRegionCas(
                self.identity.subject.clone(),
            ));
        }
        self.check_within(&validity)?;
        let key = CertKey::generate(alg)?;
        let subject = Subject::RegionCa { region };
        let cn = format!("credex region CA {region}");
        let mut params = base_params(&subject, &cn, &validity, &self.rng)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        add_key_id_attribute(&mut params, &key);
        self.sign(&params, key)
    }

    /// Issue a region CA certificate for `key`, a public key whose private
    /// half stays in a device (decision 1090): the same certificate as
    /// [`CertificateAuthority::issue_region_ca`]. Only the root may.
    pub fn issue_region_ca_for_key(
        &self,
        region: RegionCode,
        key: &HeldPublicKey,
        validity: Validity,
    ) -> Result<IssuedCertificate, IssueError> {
        if self.identity.subject != Subject::Root {
            return Err(IssueError::OnlyRootIssuesRegionCas(
                self.identity.subject.clone(),
            ));
        }
        self.check_within(&validity)?;
        let subject = Subject::RegionCa { region };
        let cn = format!("credex region CA {region}");
        let mut params = base_params(&subject, &cn, &validity, &self.rng)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        add_key_id_attribute(&mut params, key);
        self.sign_held(&params, key)
    }

    /// Issue a node certificate for `name` in this region CA's own region:
    /// TLS server and client authentication, with the given DNS and IP
    /// names. Only a region CA may; it cannot issue for another region.
    pub fn issue_node(
        &self,
        name: &NodeName,
        dns_names: &[String],
        ip_addrs: &[IpAddr],
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        let region = self.own_region(CertKind::Node)?;
        self.issue_node_unchecked(region, name, dns_names, ip_addrs, alg, validity)
    }

    /// Issue an operator certificate (an accountable person with a role) in
    /// this region CA's own region: digitalSignature and contentCommitment,
    /// no extended key usage.
    pub fn issue_operator(
        &self,
        name: &NodeName,
        role: Role,
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        let region = self.own_region(CertKind::Operator)?;
        self.check_within(&validity)?;
        let subject = Subject::Operator {
            region,
            role,
            name: name.clone(),
        };
        let cn = format!("credex operator {name} ({role}, {region})");
        self.issue_signer(&subject, &cn, alg, validity)
    }

    /// Issue an authorization-authority certificate (a body that signs data
    /// subjects' electronic authorizations) in this region CA's own region:
    /// digitalSignature and contentCommitment, no extended key usage.
    pub fn issue_authority(
        &self,
        name: &NodeName,
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        let region = self.own_region(CertKind::Authority)?;
        self.check_within(&validity)?;
        let subject = Subject::Authority {
            region,
            name: name.clone(),
        };
        let cn = format!("credex authorization authority {name} ({region})");
        self.issue_signer(&subject, &cn, alg, validity)
    }

    /// Issue a gateway client certificate for a system of this region CA's
    /// own region (its provincial credit platform, a business system),
    /// granting `roles` at the node's integration gateway: digitalSignature
    /// and clientAuth only — it can neither serve TLS nor sign requests.
    pub fn issue_client(
        &self,
        name: &NodeName,
        roles: crate::identity::GatewayRoles,
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        let region = self.own_region(CertKind::Client)?;
        self.check_within(&validity)?;
        let key = CertKey::generate(alg)?;
        let subject = Subject::Client {
            region,
            roles,
            name: name.clone(),
        };
        let cn = format!("credex gateway client {name} ({region})");
        let mut params = base_params(&subject, &cn, &validity, &self.rng)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.sign(&params, key)
    }

    /// A CRL signed by this CA listing `revoked`, as PEM (`X509 CRL`).
    ///
    /// `crl_number` must increase with every CRL this CA publishes: a
    /// [`TrustStore`](crate::TrustStore) given several CRLs of one CA keeps
    /// the highest-numbered.
    pub fn crl(
        &self,
        revoked: &[RevokedCert],
        crl_number: u64,
        this_update: OffsetDateTime,
        next_update: OffsetDateTime,
    ) -> Result<String, IssueError> {
        let this_update = whole_seconds_utc(this_update);
        let next_update = whole_seconds_utc(next_update);
        if next_update <= this_update {
            return Err(IssueError::CrlNextUpdateNotAfterThisUpdate);
        }
        let revoked_certs = revoked
            .iter()
            .map(|r| {
                if r.serial.is_empty() || r.serial.len() > 21 {
                    return Err(IssueError::BadRevokedSerial(hex::encode(&r.serial)));
                }
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: whole_seconds_utc(r.revoked_at),
                    reason_code: None,
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let params = CertificateRevocationListParams {
            this_update,
            next_update,
            crl_number: SerialNumber::from(crl_number),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let draft = params
            .signed_by(&self.issuer)
            .map_err(|e| IssueError::Encoding(e.to_string()))?;
        let der = crate::sm2_x509::finish_crl(draft.der(), self.issuer.key())?;
        Ok(pem_lf("X509 CRL", der))
    }

    /// Issue a node certificate for any region, without checking that this
    /// CA is a region CA or that the region is its own. Reachable only via
    /// [`danger::issue_node_for`](crate::danger::issue_node_for).
    pub(crate) fn issue_node_unchecked(
        &self,
        region: RegionCode,
        name: &NodeName,
        dns_names: &[String],
        ip_addrs: &[IpAddr],
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        self.check_within(&validity)?;
        let key = CertKey::generate(alg)?;
        let params = self.node_params(region, name, dns_names, ip_addrs, &validity)?;
        self.sign(&params, key)
    }

    /// Issue a node certificate for `name` in this region CA's own region
    /// for a public key whose private half is held elsewhere — in a
    /// hardware security module (decision 1090). The same profile as
    /// [`CertificateAuthority::issue_node`]; only the certificate comes
    /// back.
    pub fn issue_node_for_key(
        &self,
        name: &NodeName,
        dns_names: &[String],
        ip_addrs: &[IpAddr],
        key: &HeldPublicKey,
        validity: Validity,
    ) -> Result<IssuedCertificate, IssueError> {
        let region = self.own_region(CertKind::Node)?;
        self.check_within(&validity)?;
        let params = self.node_params(region, name, dns_names, ip_addrs, &validity)?;
        self.sign_held(&params, key)
    }

    /// `params` signed by this CA for `key`, held elsewhere.
    fn sign_held(
        &self,
        params: &CertificateParams,
        key: &HeldPublicKey,
    ) -> Result<IssuedCertificate, IssueError> {
        let draft = params
            .signed_by(key, &self.issuer)
            .map_err(|e| IssueError::Encoding(e.to_string()))?;
        let cert_der = crate::sm2_x509::finish_certificate(draft.der(), false, self.issuer.key())?;
        Ok(IssuedCertificate {
            cert_pem: pem_lf("CERTIFICATE", cert_der.clone()),
            cert_der,
        })
    }

    /// A node certificate's parameters: TLS server and client
    /// authentication, the credex URI and the given DNS and IP names.
    fn node_params(
        &self,
        region: RegionCode,
        name: &NodeName,
        dns_names: &[String],
        ip_addrs: &[IpAddr],
        validity: &Validity,
    ) -> Result<CertificateParams, IssueError> {
        let subject = Subject::Node {
            region,
            name: name.clone(),
        };
        let cn = format!("credex node {name} ({region})");
        let mut params = base_params(&subject, &cn, validity, &self.rng)?;
        for dns in dns_names {
            if rustls_pki_types::DnsName::try_from(dns.as_str()).is_err() {
                return Err(IssueError::BadDnsName(dns.clone()));
            }
            let ia5 = dns
                .as_str()
                .try_into()
                .map_err(|_| IssueError::BadDnsName(dns.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        params
            .subject_alt_names
            .extend(ip_addrs.iter().map(|ip| SanType::IpAddress(*ip)));
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        Ok(params)
    }

    fn issue_signer(
        &self,
        subject: &Subject,
        cn: &str,
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        let key = CertKey::generate(alg)?;
        let mut params = base_params(subject, cn, &validity, &self.rng)?;
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::ContentCommitment,
        ];
        self.sign(&params, key)
    }

    fn own_region(&self, kind: CertKind) -> Result<RegionCode, IssueError> {
        match self.identity.subject {
            Subject::RegionCa { region } => Ok(region),
            _ => Err(IssueError::OnlyRegionCaIssuesLeaves {
                kind,
                issuer: self.identity.subject.clone(),
            }),
        }
    }

    fn check_within(&self, validity: &Validity) -> Result<(), IssueError> {
        if validity.not_before < self.identity.not_before
            || validity.not_after > self.identity.not_after
        {
            use crate::identity::format_time;
            return Err(IssueError::OutsideIssuerValidity {
                requested_from: format_time(validity.not_before),
                requested_to: format_time(validity.not_after),
                ca_from: format_time(self.identity.not_before),
                ca_to: format_time(self.identity.not_after),
            });
        }
        Ok(())
    }

    fn sign(&self, params: &CertificateParams, key: CertKey) -> Result<Issued, IssueError> {
        let draft = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| IssueError::Encoding(e.to_string()))?;
        let cert_der =
            crate::sm2_x509::finish_certificate(draft.der(), key.is_sm2(), self.issuer.key())?;
        Ok(issued(cert_der, &key))
    }
}

/// The certificate `cert_der` with its new `key`.
fn issued(cert_der: Vec<u8>, key: &CertKey) -> Issued {
    Issued {
        cert_pem: pem_lf("CERTIFICATE", cert_der.clone()),
        key_pem: key.private_key_pem(),
        cert_der,
    }
}

/// PEM with LF line endings, as rcgen writes it on Unix.
fn pem_lf(tag: &str, der: Vec<u8>) -> String {
    pem::encode_config(
        &pem::Pem::new(tag, der),
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

/// Parameters shared by every credex certificate: subject DN, the one
/// credex URI, a random serial, validity, authority key identifier.
fn base_params(
    subject: &Subject,
    common_name: &str,
    validity: &Validity,
    rng: &SystemRandom,
) -> Result<CertificateParams, IssueError> {
    let mut params = CertificateParams::default();
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(random_serial(rng)?);
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CountryName,
        DnValue::PrintableString("CN".try_into().map_err(encoding)?),
    );
    dn.push(DnType::OrganizationName, ORGANIZATION);
    if let Some(region) = subject.region() {
        dn.push(DnType::OrganizationalUnitName, format!("region {region}"));
    }
    dn.push(DnType::CommonName, common_name);
    params.distinguished_name = dn;
    let uri = subject.to_uri().try_into().map_err(encoding)?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// CA subjects also carry the DN attribute serialNumber (2.5.4.5) set to the
/// first 8 bytes of the key identifier, in hex. Two generations of one
/// region's CA (key rollover) then have different subject names, so a CRL of
/// the old CA is never taken as authoritative for certificates of the new
/// one (CRLs are matched to certificates by issuer name).
fn add_key_id_attribute(params: &mut CertificateParams, key: &impl rcgen::PublicKeyData) {
    let key_id = params.key_identifier(key);
    let short = hex::encode(&key_id[..key_id.len().min(8)]);
    if let Ok(value) = short.as_str().try_into() {
        params.distinguished_name.push(
            DnType::CustomDnType(vec![2, 5, 4, 5]),
            DnValue::PrintableString(value),
        );
    }
}

/// 16 random bytes, made positive and kept at exactly 16 octets in DER
/// (top bit clear, next bit set).
fn random_serial(rng: &SystemRandom) -> Result<SerialNumber, IssueError> {
    let mut bytes = [0u8; 16];
    rng.fill(&mut bytes).map_err(|_| IssueError::Random)?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::from_slice(&bytes))
}

fn encoding(e: impl fmt::Display) -> IssueError {
    IssueError::Encoding(e.to_string())
}
