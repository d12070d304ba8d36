//! Verifying certificates against the federation root and the CRLs.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{
    CertificateDer, CertificateRevocationListDer, SignatureVerificationAlgorithm, TrustAnchor,
    UnixTime,
};
use time::OffsetDateTime;
use webpki::{
    CertRevocationList, EndEntityCert, ExpirationPolicy, ExtendedKeyUsageValidator,
    KeyPurposeIdIter, KeyUsage, OwnedCertRevocationList, RevocationCheckDepth,
    RevocationOptionsBuilder, UnknownStatusPolicy,
};
use x509_parser::num_bigint::BigUint;

use crate::identity::{
    CertIdentity, CertKind, IdentityError, MAX_CERT_LEN, ParsedCert, certs_from_pem, format_time,
    parse_certificate,
};
use crate::signing::{SignatureError, VerifyingKey};

mod error;

use credex_protocol::{Signature, Suite};
pub use error::{ChainPart, TrustError, VerifyError};

/// Signature algorithms accepted in certificate chains and CRLs: ring's,
/// and SM2 with SM3 for the `sm2-sm3` suite (decision 1060).
static SUPPORTED_ALGS: &[&dyn SignatureVerificationAlgorithm] = &[
    crate::sm2_x509::SM2_WITH_SM3,
    webpki::ring::ED25519,
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA384_LEGACY_KEY,
    webpki::ring::RSA_PSS_2048_8192_SHA512_LEGACY_KEY,
];

/// What a certificate is being verified for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// A node presenting itself as a TLS server (needs serverAuth).
    TlsServer,
    /// A node presenting itself as a TLS client (needs clientAuth).
    TlsClient,
    /// An operator or authorization authority signing a message.
    Signing,
    /// A region's own system presenting itself to the node's integration
    /// gateway as a TLS client (needs a gateway client certificate with
    /// clientAuth).
    GatewayClient,
}

impl Purpose {
    fn accepts(self, kind: CertKind) -> bool {
        match self {
            Purpose::TlsServer | Purpose::TlsClient => kind == CertKind::Node,
            Purpose::Signing => matches!(kind, CertKind::Operator | CertKind::Authority),
            Purpose::GatewayClient => kind == CertKind::Client,
        }
    }
}

impl fmt::Display for Purpose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Purpose::TlsServer => "TLS server authentication (needs a node certificate)",
            Purpose::TlsClient => "TLS client authentication (needs a node certificate)",
            Purpose::Signing => {
                "signing (needs an operator or authorization-authority certificate)"
            }
            Purpose::GatewayClient => {
                "gateway client authentication (needs a gateway client certificate)"
            }
        })
    }
}

/// A certificate that verified: its identity and that of its issuing region
/// CA. Only [`TrustStore::verify`] makes one.
///
/// A shared handle: the chain cache and every query signed under the same
/// certificate hold the one verification, so a clone copies no identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCert(Arc<Verified>);

/// What a [`VerifiedCert`] holds.
#[derive(Debug, PartialEq, Eq)]
struct Verified {
    identity: CertIdentity,
    issuer: CertIdentity,
    /// The certificate's public key, read once when the chain verified
    /// (kept with the chain cache: a signature check needs no parse).
    key: Result<VerifyingKey, SignatureError>,
    /// The federation's suite: signatures of another are refused.
    suite: Suite,
}

impl VerifiedCert {
    /// Verify `signature` over `domain` ‖ `message` by the verified
    /// certificate's key: [`crate::signing::verify_signature`] without
    /// reading the certificate again. A signature whose algorithm is not
    /// of the federation's suite is refused, whatever the key.
    pub fn verify_signature(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        if !self.0.suite.signs_with(signature.algorithm) {
            return Err(SignatureError::OutsideSuite {
                algorithm: signature.algorithm,
                suite: self.0.suite,
            });
        }
        match &self.0.key {
            Ok(key) => key.verify(domain, message, signature),
            Err(e) => Err(e.clone()),
        }
    }

    /// The verified certificate's identity.
    pub fn identity(&self) -> &CertIdentity {
        &self.0.identity
    }

    /// The identity of the region CA that issued it.
    pub fn issuer(&self) -> &CertIdentity {
        &self.0.issuer
    }

    /// The verified certificate's identity, by value (a copy while the chain
    /// cache still holds the verification).
    pub fn into_identity(self) -> CertIdentity {
        Arc::try_unwrap(self.0).map_or_else(|shared| shared.identity.clone(), |v| v.identity)
    }
}

/// The federation root plus the current CRLs: everything needed to verify a
/// credex certificate offline.
///
/// Cheap to rebuild: on CRL reload, build a new store with
/// [`with_crls`](Self::with_crls) and swap it in.
pub struct TrustStore {
    root_der: CertificateDer<'static>,
    suite: Suite,
    root_subject_der: Vec<u8>,
    anchor: TrustAnchor<'static>,
    crls: Vec<CertRevocationList<'static>>,
    /// Chains already verified under this store. The store is immutable (a
    /// CRL change builds a new one), so a cached success never outlives the
    /// CRLs it was checked against; each hit still checks the time window.
    cache: std::sync::Mutex<std::collections::HashMap<[u8; 32], CachedChain>>,
    /// Certificates read (parsed, not verified) under this store, by the
    /// SHA-256 of their DER: rule 4 reads both officers' leaves before any
    /// chain is verified, and an officer's certificate is the same on every
    /// query it signs.
    read: std::sync::Mutex<std::collections::HashMap<[u8; 32], Arc<ParsedCert>>>,
}

/// A verified chain and the time window in which the verification holds.
#[derive(Clone)]
struct CachedChain {
    verified: VerifiedCert,
    valid_from: i64,
    valid_until: i64,
}

/// Most chains remembered per store; the cache is emptied when full.
const CHAIN_CACHE_CAPACITY: usize = 4096;

/// Most certificates kept read per store; emptied when full.
const READ_CACHE_CAPACITY: usize = 4096;

fn chain_key(
    purpose: Purpose,
    end_entity: &[u8],
    intermediates: &[CertificateDer<'_>],
) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    ctx.update(&[purpose as u8]);
    for cert in std::iter::once(end_entity).chain(intermediates.iter().map(|c| c.as_ref())) {
        ctx.update(&(cert.len() as u64).to_be_bytes());
        ctx.update(cert);
    }
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

/// The read cache's key of one certificate: the SHA-256 of its DER.
fn der_key(der: &[u8]) -> [u8; 32] {
    let mut key = [0u8; 32];
    key.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, der).as_ref());
    key
}

impl fmt::Debug for TrustStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustStore")
            .field("root_der", &format_args!("{} bytes", self.root_der.len()))
            .field("crls", &self.crls.len())
            .finish()
    }
}

impl TrustStore {
    /// A store trusting `root_der` (which must name `urn:credex:root`) and
    /// applying `crls`. Of several CRLs from one CA, the highest CRL number
    /// wins.
    pub fn new(
        root_der: CertificateDer<'static>,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<Self, TrustError> {
        let parsed = parse_certificate(&root_der).map_err(TrustError::RootIdentity)?;
        let kind = parsed.identity.kind();
        if kind != CertKind::Root {
            return Err(TrustError::NotARoot(kind));
        }
        let anchor = webpki::anchor_from_trusted_cert(&root_der)
            .map_err(TrustError::BadRoot)?
            .to_owned();
        let root_key = VerifyingKey::from_certificate_der(&root_der)
            .map_err(|e| TrustError::RootKey(e.to_string()))?;
        Ok(TrustStore {
            suite: Suite::of_root_key(root_key.algorithm()),
            root_subject_der: parsed.subject_der,
            anchor,
            crls: parse_crls(&crls)?,
            root_der,
            cache: Default::default(),
            read: Default::default(),
        })
    }

    /// A store from the root certificate PEM and CRL PEM texts (each text may
    /// hold several `X509 CRL` sections, and must hold at least one).
    pub fn from_pem(root_pem: &str, crl_pems: &[String]) -> Result<Self, TrustError> {
        let mut roots = certs_from_pem(root_pem).map_err(TrustError::RootPem)?;
        if roots.len() != 1 {
            return Err(TrustError::MultipleRoots(roots.len()));
        }
        let root = roots.remove(0);
        let mut crls = Vec::new();
        for (index, text) in crl_pems.iter().enumerate() {
            let found = CertificateRevocationListDer::pem_slice_iter(text.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TrustError::CrlPem {
                    index,
                    reason: format!("malformed PEM: {e}"),
                })?;
            if found.is_empty() {
                return Err(TrustError::CrlPem {
                    index,
                    reason: "no X509 CRL section found".to_owned(),
                });
            }
            crls.extend(found);
        }
        TrustStore::new(root, crls)
    }

    /// The same root with a new set of CRLs (replacing the current ones).
    pub fn with_crls(
        &self,
        crls: Vec<CertificateRevocationListDer<'static>>,
    ) -> Result<TrustStore, TrustError> {
        Ok(TrustStore {
            suite: self.suite,
            root_der: self.root_der.clone(),
            root_subject_der: self.root_subject_der.clone(),
            anchor: self.anchor.clone(),
            crls: parse_crls(&crls)?,
            cache: Default::default(),
            read: Default::default(),
        })
    }

    /// The federation's crypto suite, set by its root's key: chains and
    /// signatures of another suite are refused.
    pub fn suite(&self) -> Suite {
        self.suite
    }

    /// The root certificate, DER.
    pub fn root_der(&self) -> &CertificateDer<'static> {
        &self.root_der
    }

    /// The DER encoding of the root's subject Name (a SEQUENCE), e.g. for
    /// the certificate-authority hints a TLS server sends.
    pub fn root_subject_der(&self) -> &[u8] {
        &self.root_subject_der
    }

    /// How many CRLs (at most one per CA) the store applies.
    pub fn crl_count(&self) -> usize {
        self.crls.len()
    }

    /// Read (parse, without verifying) the certificate `der`, once per
    /// store: later reads of the same bytes return the first result.
    pub(crate) fn read_certificate(&self, der: &[u8]) -> Result<Arc<ParsedCert>, IdentityError> {
        if der.len() > MAX_CERT_LEN {
            // Refused by the parser; not worth hashing first.
            return parse_certificate(der).map(Arc::new);
        }
        let key = der_key(der);
        let lock = || self.read.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = lock().get(&key) {
            return Ok(Arc::clone(hit));
        }
        let parsed = Arc::new(parse_certificate(der)?);
        let mut read = lock();
        if read.len() >= READ_CACHE_CAPACITY {
            read.clear();
        }
        read.insert(key, Arc::clone(&parsed));
        Ok(parsed)
    }

    /// The identity the certificate `der` names, read but not verified
    /// (e.g. to name in one's own log the officers whose query one sends).
    /// Read once per store, like [`TrustStore::read_certificate`].
    pub fn identity_of(&self, der: &[u8]) -> Result<CertIdentity, IdentityError> {
        self.with_identity_of(der, CertIdentity::clone)
    }

    /// [`Self::identity_of`] without a copy: `read` gets the identity the
    /// store keeps.
    pub fn with_identity_of<R>(
        &self,
        der: &[u8],
        read: impl FnOnce(&CertIdentity) -> R,
    ) -> Result<R, IdentityError> {
        self.read_certificate(der)
            .map(|parsed| read(&parsed.identity))
    }

    /// [`TrustStore::verify`] over a chain as messages carry it: DER
    /// certificates, the end entity first, then its issuers.
    pub fn verify_chain(
        &self,
        chain: &[Vec<u8>],
        now: UnixTime,
        purpose: Purpose,
    ) -> Result<VerifiedCert, VerifyError> {
        let (leaf, rest) = chain.split_first().ok_or(VerifyError::EmptyChain)?;
        let intermediates: Vec<CertificateDer<'_>> = rest
            .iter()
            .map(|c| CertificateDer::from(c.as_slice()))
            .collect();
        self.verify(
            &CertificateDer::from(leaf.as_slice()),
            &intermediates,
            now,
            purpose,
        )
    }

    /// Verify `end_entity` for `purpose` at time `now`.
    ///
    /// Checks, in order: the certificate names a credex identity whose kind
    /// suits the purpose (node for TLS, operator or authority for signing);
    /// the chain verifies to the root with webpki (signatures, validity,
    /// basic constraints, extended key usage); no certificate in the chain
    /// is revoked by the CRLs; the path is exactly root → region CA →
    /// certificate; and the certificate's region is its issuing CA's region.
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        purpose: Purpose,
    ) -> Result<VerifiedCert, VerifyError> {
        let key = chain_key(purpose, end_entity, intermediates);
        let now_secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        // A poisoned lock only means another verification panicked; the map
        // holds complete entries, so it is still usable.
        let lock = || self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = lock().get(&key)
            && hit.valid_from <= now_secs
            && now_secs <= hit.valid_until
        {
            return Ok(hit.verified.clone());
        }
        let verified = self.verify_uncached(end_entity, intermediates, now, purpose)?;
        let root = parse_certificate(&self.root_der).map(|p| p.identity);
        let (leaf, issuer) = (verified.identity(), verified.issuer());
        let mut valid_from = leaf
            .not_before
            .unix_timestamp()
            .max(issuer.not_before.unix_timestamp());
        let mut valid_until = leaf
            .not_after
            .unix_timestamp()
            .min(issuer.not_after.unix_timestamp());
        if let Ok(root) = root {
            valid_from = valid_from.max(root.not_before.unix_timestamp());
            valid_until = valid_until.min(root.not_after.unix_timestamp());
        }
        let mut cache = lock();
        if cache.len() >= CHAIN_CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(
            key,
            CachedChain {
                verified: verified.clone(),
                valid_from,
                valid_until,
            },
        );
        Ok(verified)
    }

    fn verify_uncached(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        purpose: Purpose,
    ) -> Result<VerifiedCert, VerifyError> {
        let leaf = parse_certificate(end_entity).map_err(VerifyError::Identity)?;
        let kind = leaf.identity.kind();
        if !purpose.accepts(kind) {
            return Err(VerifyError::WrongKind {
                expected: purpose,
                found: kind,
            });
        }

        let ee = EndEntityCert::try_from(end_entity).map_err(VerifyError::BadChain)?;
        let crl_refs: Vec<&CertRevocationList<'static>> = self.crls.iter().collect();
        // Revocation is checked for the whole chain: the leaf against its
        // region CA's CRL, the region CA against the root's CRL. A CA with
        // no CRL in the store has revoked nothing (a region that has never
        // revoked publishes none), so unknown status is allowed rather than
        // refusing every certificate of that region. CRL expiry is ignored:
        // a stale CRL still lists what it revoked, and refusing on expiry
        // would turn a late CRL publication into a federation-wide outage.
        let revocation = RevocationOptionsBuilder::new(&crl_refs)
            .ok()
            .map(|builder| {
                builder
                    .with_depth(RevocationCheckDepth::Chain)
                    .with_status_policy(UnknownStatusPolicy::Allow)
                    .with_expiration_policy(ExpirationPolicy::Ignore)
                    .build()
            });
        let usage = match purpose {
            Purpose::TlsServer => Usage::Eku(KeyUsage::server_auth()),
            Purpose::TlsClient | Purpose::GatewayClient => Usage::Eku(KeyUsage::client_auth()),
            Purpose::Signing => Usage::Signing,
        };
        let anchors = std::slice::from_ref(&self.anchor);
        let path = ee
            .verify_for_usage(
                SUPPORTED_ALGS,
                anchors,
                intermediates,
                now,
                usage,
                revocation,
                None,
            )
            .map_err(|e| self.map_webpki_error(e, &ee, now, purpose))?;

        let chain: Vec<CertificateDer<'_>> =
            path.intermediate_certificates().map(|c| c.der()).collect();
        let [issuer_der] = chain.as_slice() else {
            return Err(VerifyError::WrongChainLength(chain.len()));
        };
        let issuer = parse_certificate(issuer_der).map_err(VerifyError::IssuerIdentity)?;
        let issuer_kind = issuer.identity.kind();
        if issuer_kind != CertKind::RegionCa {
            return Err(VerifyError::IssuerNotRegionCa(issuer_kind));
        }
        let (leaf_region, issuer_region) = (leaf.identity.region(), issuer.identity.region());
        if leaf_region != issuer_region {
            let show = |r: Option<credex_protocol::RegionCode>| {
                r.map_or_else(|| "(none)".to_owned(), |r| r.to_string())
            };
            return Err(VerifyError::RegionMismatch {
                leaf: show(leaf_region),
                issuer: show(issuer_region),
            });
        }
        if purpose == Purpose::Signing && leaf.has_eku {
            return Err(VerifyError::SigningCertWithExtendedKeyUsage);
        }
        let key = VerifyingKey::from_certificate_der(end_entity);
        self.check_suite(issuer_der, &key, purpose)?;
        Ok(VerifiedCert(Arc::new(Verified {
            identity: leaf.identity,
            issuer: issuer.identity,
            key,
            suite: self.suite,
        })))
    }

    /// The region CA's key, and a signing certificate's, must be of the
    /// federation's suite (the root's is by definition). A TLS
    /// certificate's key is the TLS stack's (Ed25519 or P-256 under both
    /// suites: no QUIC stack speaks SM2), but its region CA signed it.
    fn check_suite(
        &self,
        issuer_der: &CertificateDer<'_>,
        key: &Result<VerifyingKey, SignatureError>,
        purpose: Purpose,
    ) -> Result<(), VerifyError> {
        let checked = |part, key: &Result<VerifyingKey, SignatureError>| match key {
            Ok(key) if self.suite.signs_with(key.algorithm()) => Ok(()),
            Ok(key) => Err(VerifyError::OutsideSuite {
                part,
                found: key.algorithm(),
                suite: self.suite,
            }),
            Err(e) => Err(VerifyError::UnreadableKey {
                part,
                reason: e.to_string(),
            }),
        };
        checked(
            ChainPart::RegionCa,
            &VerifyingKey::from_certificate_der(issuer_der),
        )?;
        if purpose == Purpose::Signing {
            checked(ChainPart::Certificate, key)?;
        }
        Ok(())
    }

    fn map_webpki_error(
        &self,
        error: webpki::Error,
        ee: &EndEntityCert<'_>,
        now: UnixTime,
        purpose: Purpose,
    ) -> VerifyError {
        use webpki::Error as E;
        let now_text = format_time(unix_to_datetime(now));
        match error {
            E::UnknownIssuer => VerifyError::UnknownIssuer,
            E::InvalidSignatureForPublicKey => VerifyError::BadSignature,
            E::CertExpired { not_after, .. } => VerifyError::Expired {
                not_after: format_time(unix_to_datetime(not_after)),
                now: now_text,
            },
            E::CertNotValidYet { not_before, .. } => VerifyError::NotYetValid {
                not_before: format_time(unix_to_datetime(not_before)),
                now: now_text,
            },
            E::CertRevoked => {
                // webpki does not say which certificate was revoked. At most
                // one CRL per issuer is kept, so if the leaf's issuer's CRL
                // lists the leaf, that (signature-checked) CRL is the one
                // webpki matched; otherwise it was the region CA.
                let leaf_listed = self.crls.iter().any(|crl| {
                    crl.issuer() == ee.issuer()
                        && matches!(crl.find_serial(ee.serial()), Ok(Some(_)))
                });
                if leaf_listed {
                    VerifyError::Revoked
                } else {
                    VerifyError::IssuerRevoked
                }
            }
            e @ (E::InvalidCrlSignatureForPublicKey
            | E::IssuerNotCrlSigner
            | E::UnsupportedCrlSignatureAlgorithmContext(_)
            | E::UnsupportedCrlSignatureAlgorithmForPublicKeyContext(_)) => VerifyError::BadCrl(e),
            e @ (E::RequiredEkuNotFoundContext(_) | E::EmptyEkuExtension) => {
                VerifyError::UsageNotAllowed { purpose, error: e }
            }
            e => VerifyError::BadChain(e),
        }
    }
}

/// The extended-key-usage policy for a purpose.
enum Usage {
    /// TLS: the EKU must include the given purpose if the extension is present.
    Eku(KeyUsage),
    /// Signing: anything here; whether the leaf carries an EKU extension at
    /// all is checked after path building, with its own error.
    Signing,
}

impl ExtendedKeyUsageValidator for Usage {
    fn validate(&self, iter: KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match self {
            Usage::Eku(usage) => usage.validate(iter),
            Usage::Signing => {
                for id in iter {
                    id?;
                }
                Ok(())
            }
        }
    }
}

/// Parse CRLs, keeping the highest-numbered one per issuer name, so a stale
/// CRL next to a fresh one cannot hide a revocation (webpki consults the
/// first CRL whose issuer matches).
fn parse_crls(
    crls: &[CertificateRevocationListDer<'static>],
) -> Result<Vec<CertRevocationList<'static>>, TrustError> {
    let mut newest: BTreeMap<Vec<u8>, (usize, BigUint, CertRevocationList<'static>)> =
        BTreeMap::new();
    for (index, der) in crls.iter().enumerate() {
        let bad = |reason: String| TrustError::BadCrl { index, reason };
        let owned = OwnedCertRevocationList::from_der(der).map_err(|e| bad(format!("{e:?}")))?;
        let (rest, parsed) = x509_parser::parse_x509_crl(der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        let number = parsed
            .crl_number()
            .cloned()
            .ok_or_else(|| bad("it has no CRL number".to_owned()))?;
        let crl = CertRevocationList::from(owned);
        let issuer = crl.issuer().to_vec();
        match newest.get(&issuer) {
            Some((first, kept, _)) if *kept == number => {
                if crls[*first].as_ref() != der.as_ref() {
                    return Err(TrustError::ConflictingCrls {
                        first: *first,
                        second: index,
                    });
                }
            }
            Some((_, kept, _)) if *kept > number => {}
            _ => {
                newest.insert(issuer, (index, number, crl));
            }
        }
    }
    Ok(newest.into_values().map(|(_, _, crl)| crl).collect())
}

/// A webpki time as a UTC date-time (for messages).
fn unix_to_datetime(t: UnixTime) -> OffsetDateTime {
    i64::try_from(t.as_secs())
        .ok()
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::PrimitiveDateTime::MAX.assume_utc())
}
