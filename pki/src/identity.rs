//! Reading the credex identity a certificate names.
//!
//! Every credex certificate carries exactly one subject-alternative-name URI
//! of the form `urn:credex:…` (see the crate documentation for the grammar).
//! [`identity_from_der`] reads it, together with the fields a person or a
//! verifier needs: serial, fingerprint, validity, DNS and IP names.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use credex_protocol::{NodeName, RegionCode, Role};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use time::{OffsetDateTime, UtcOffset};
use x509_parser::extensions::GeneralName;

/// The prefix every credex identity URI starts with.
pub const URI_PREFIX: &str = "urn:credex:";

/// Certificates larger than this are refused before parsing. credex
/// certificates are well under 2 KiB; the bound keeps hostile input cheap.
pub const MAX_CERT_LEN: usize = 64 * 1024;

/// Longest URI text quoted back in an error message.
const MAX_QUOTED_URI: usize = 128;

/// Why a certificate's credex identity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The input is larger than [`MAX_CERT_LEN`].
    #[error("certificate is {0} bytes, more than the {MAX_CERT_LEN}-byte limit")]
    TooLarge(usize),
    /// The bytes are not a DER X.509 certificate.
    #[error("not a readable X.509 certificate: {0}")]
    Malformed(String),
    /// The certificate is followed by extra bytes.
    #[error("certificate is followed by {0} trailing bytes")]
    TrailingBytes(usize),
    /// A subject alternative name entry could not be decoded.
    #[error("certificate has an unreadable subject alternative name entry")]
    UnreadableAltName,
    /// An iPAddress alternative name is neither 4 nor 16 bytes long.
    #[error("certificate has an IP address alternative name of {0} bytes (expected 4 or 16)")]
    BadIpAddress(usize),
    /// No `urn:credex:` URI is among the subject alternative names.
    #[error(
        "certificate names no credex identity (no urn:credex: URI in its subject alternative names)"
    )]
    NoCredexUri,
    /// More than one `urn:credex:` URI is present; a certificate names one identity.
    #[error("certificate names {0} credex identities; exactly one urn:credex: URI is allowed")]
    MultipleCredexUris(usize),
    /// The `urn:credex:` URI does not follow the grammar.
    #[error("credex identity URI {uri:?} is malformed: {reason}")]
    MalformedUri {
        /// The URI as found (truncated to 128 characters).
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A root or region CA identity on a certificate that is not a CA
    /// (basicConstraints cA is absent or false).
    #[error("certificate names {0} but is not a CA certificate")]
    CaIdentityWithoutCaFlag(CertKind),
    /// A leaf identity (node, operator, authority) on a CA certificate.
    #[error("certificate names {0} but is marked as a CA certificate")]
    LeafIdentityWithCaFlag(CertKind),
}

/// Why PEM text yielded no usable certificates.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PemError {
    /// The PEM text is malformed (bad markers or base64).
    #[error("malformed PEM: {0}")]
    Malformed(String),
    /// The text holds no `CERTIFICATE` section.
    #[error("no CERTIFICATE section found in the PEM text")]
    NoCertificates,
}

pub use crate::gateway_roles::{GatewayRole, GatewayRoles, GatewayRolesError};

/// The kind of credex certificate, without its names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertKind {
    /// The federation root CA (national trust anchor).
    Root,
    /// A region CA.
    RegionCa,
    /// A node (TLS client and server).
    Node,
    /// An accountable operator (经办人、审核人 …).
    Operator,
    /// An authorization authority, which signs data subjects' electronic
    /// authorizations (电子授权).
    Authority,
    /// A system of the region's own (the provincial credit platform, a
    /// business system) calling the node's integration gateway.
    Client,
}

impl CertKind {
    /// Whether certificates of this kind are CAs.
    pub fn is_ca(self) -> bool {
        matches!(self, CertKind::Root | CertKind::RegionCa)
    }
}

impl fmt::Display for CertKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CertKind::Root => "the federation root CA",
            CertKind::RegionCa => "a region CA",
            CertKind::Node => "a node",
            CertKind::Operator => "an operator",
            CertKind::Authority => "an authorization authority",
            CertKind::Client => "a gateway client",
        })
    }
}

/// The credex identity a certificate names (its `urn:credex:` URI, parsed).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Subject {
    /// `urn:credex:root` — the federation root CA.
    Root,
    /// `urn:credex:region-ca:RRRRRR` — the CA of one region.
    RegionCa {
        /// The region the CA serves.
        region: RegionCode,
    },
    /// `urn:credex:node:RRRRRR:NAME` — a node of a region.
    Node {
        /// The node's region.
        region: RegionCode,
        /// The node's name within its region.
        name: NodeName,
    },
    /// `urn:credex:operator:RRRRRR:ROLE:NAME` — an accountable person.
    Operator {
        /// The operator's region.
        region: RegionCode,
        /// The role the certificate grants.
        role: Role,
        /// The operator's name within the region.
        name: NodeName,
    },
    /// `urn:credex:authority:RRRRRR:NAME` — an authorization authority
    /// (e.g. a government service portal) that signs subjects' authorizations.
    Authority {
        /// The authority's region.
        region: RegionCode,
        /// The authority's name within the region.
        name: NodeName,
    },
    /// `urn:credex:client:RRRRRR:ROLES:NAME` — a system of the region's own
    /// calling its node's integration gateway, with the gateway roles the
    /// certificate grants (`ROLES`: sorted, `+`-joined, e.g. `check+feed`).
    Client {
        /// The client's region.
        region: RegionCode,
        /// The gateway roles granted.
        roles: GatewayRoles,
        /// The client system's name within the region.
        name: NodeName,
    },
}

impl Subject {
    /// The kind of certificate this identity belongs on.
    pub fn kind(&self) -> CertKind {
        match self {
            Subject::Root => CertKind::Root,
            Subject::RegionCa { .. } => CertKind::RegionCa,
            Subject::Node { .. } => CertKind::Node,
            Subject::Operator { .. } => CertKind::Operator,
            Subject::Authority { .. } => CertKind::Authority,
            Subject::Client { .. } => CertKind::Client,
        }
    }

    /// The region this identity belongs to; `None` for the root.
    pub fn region(&self) -> Option<RegionCode> {
        match self {
            Subject::Root => None,
            Subject::RegionCa { region }
            | Subject::Node { region, .. }
            | Subject::Operator { region, .. }
            | Subject::Authority { region, .. }
            | Subject::Client { region, .. } => Some(*region),
        }
    }

    /// The `urn:credex:` URI that encodes this identity in a certificate.
    pub fn to_uri(&self) -> String {
        match self {
            Subject::Root => format!("{URI_PREFIX}root"),
            Subject::RegionCa { region } => format!("{URI_PREFIX}region-ca:{region}"),
            Subject::Node { region, name } => format!("{URI_PREFIX}node:{region}:{name}"),
            Subject::Operator { region, role, name } => {
                format!("{URI_PREFIX}operator:{region}:{role}:{name}")
            }
            Subject::Authority { region, name } => format!("{URI_PREFIX}authority:{region}:{name}"),
            Subject::Client {
                region,
                roles,
                name,
            } => format!("{URI_PREFIX}client:{region}:{roles}:{name}"),
        }
    }

    /// Parse a `urn:credex:` URI. The grammar is exact: lowercase, no
    /// percent-encoding, no extra components.
    pub fn from_uri(uri: &str) -> Result<Subject, IdentityError> {
        let bad = |reason: &str| IdentityError::MalformedUri {
            uri: truncate(uri, MAX_QUOTED_URI),
            reason: truncate(reason, MAX_QUOTED_URI * 2),
        };
        let rest = uri
            .strip_prefix(URI_PREFIX)
            .ok_or_else(|| bad("it must start with \"urn:credex:\" in lowercase"))?;
        let parts: Vec<&str> = rest.split(':').collect();
        let region = |s: &str| s.parse::<RegionCode>().map_err(|e| bad(&e.to_string()));
        let name = |s: &str| s.parse::<NodeName>().map_err(|e| bad(&e.to_string()));
        match parts.as_slice() {
            ["root"] => Ok(Subject::Root),
            ["region-ca", r] => Ok(Subject::RegionCa { region: region(r)? }),
            ["node", r, n] => Ok(Subject::Node {
                region: region(r)?,
                name: name(n)?,
            }),
            ["operator", r, role, n] => Ok(Subject::Operator {
                region: region(r)?,
                role: role.parse::<Role>().map_err(|e| bad(&e.to_string()))?,
                name: name(n)?,
            }),
            ["authority", r, n] => Ok(Subject::Authority {
                region: region(r)?,
                name: name(n)?,
            }),
            ["client", r, roles, n] => Ok(Subject::Client {
                region: region(r)?,
                roles: roles
                    .parse::<GatewayRoles>()
                    .map_err(|e| bad(&e.to_string()))?,
                name: name(n)?,
            }),
            [
                "root" | "region-ca" | "node" | "operator" | "authority" | "client",
                ..,
            ] => Err(bad(
                "wrong number of components (root; region-ca:REGION; node:REGION:NAME; \
                 operator:REGION:ROLE:NAME; authority:REGION:NAME; client:REGION:ROLES:NAME)",
            )),
            _ => Err(bad(
                "unknown kind (expected root, region-ca, node, operator, authority or client)",
            )),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Root => f.write_str("the federation root CA"),
            Subject::RegionCa { region } => write!(f, "the region CA of region {region}"),
            Subject::Node { region, name } => write!(f, "node {name} of region {region}"),
            Subject::Operator { region, role, name } => {
                write!(f, "operator {name} ({role}) of region {region}")
            }
            Subject::Authority { region, name } => {
                write!(f, "authorization authority {name} of region {region}")
            }
            Subject::Client {
                region,
                roles,
                name,
            } => write!(f, "gateway client {name} ({roles}) of region {region}"),
        }
    }
}

/// What a credex certificate says about its holder, as read by
/// [`identity_from_der`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertIdentity {
    /// The credex identity the certificate names.
    pub subject: Subject,
    /// The serial number's DER content octets (big-endian two's complement,
    /// exactly as in the certificate and as CRLs list it).
    pub serial: Vec<u8>,
    /// SHA-256 of the certificate's DER encoding.
    pub fingerprint: [u8; 32],
    /// Start of validity (UTC).
    pub not_before: OffsetDateTime,
    /// End of validity (UTC).
    pub not_after: OffsetDateTime,
    /// The subject's common name (empty if the certificate has none).
    pub common_name: String,
    /// DNS names among the subject alternative names.
    pub dns_names: Vec<String>,
    /// IP addresses among the subject alternative names.
    pub ip_addrs: Vec<IpAddr>,
}

impl CertIdentity {
    /// The region the certificate belongs to; `None` for the root.
    pub fn region(&self) -> Option<RegionCode> {
        self.subject.region()
    }

    /// The certificate kind.
    pub fn kind(&self) -> CertKind {
        self.subject.kind()
    }

    /// The serial number as lowercase hex.
    pub fn serial_hex(&self) -> String {
        hex::encode(&self.serial)
    }

    /// The SHA-256 fingerprint as lowercase hex.
    pub fn fingerprint_hex(&self) -> String {
        hex::encode(self.fingerprint)
    }

    /// The certificate described in plain words, as `credex pki show`
    /// prints it. Same as the [`Display`](fmt::Display) rendering.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for CertIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.subject {
            Subject::Root => f.write_str("federation root CA certificate")?,
            Subject::RegionCa { region } => write!(f, "region CA certificate for region {region}")?,
            Subject::Node { region, name } => {
                write!(f, "node certificate for node {name} of region {region}")?
            }
            Subject::Operator { region, role, name } => write!(
                f,
                "operator certificate for {name}, role {role}, of region {region}"
            )?,
            Subject::Authority { region, name } => write!(
                f,
                "authorization-authority certificate for {name} of region {region}"
            )?,
            Subject::Client {
                region,
                roles,
                name,
            } => write!(
                f,
                "gateway client certificate for {name}, roles {roles}, of region {region}"
            )?,
        }
        if !self.common_name.is_empty() {
            write!(f, " (common name \"{}\")", self.common_name.escape_debug())?;
        }
        write!(
            f,
            ", serial {}, SHA-256 fingerprint {}, valid from {} to {}",
            self.serial_hex(),
            self.fingerprint_hex(),
            format_time(self.not_before),
            format_time(self.not_after),
        )?;
        if !self.dns_names.is_empty() {
            write!(f, ", DNS names {}", self.dns_names.join(", "))?;
        }
        if !self.ip_addrs.is_empty() {
            let ips: Vec<String> = self.ip_addrs.iter().map(IpAddr::to_string).collect();
            write!(f, ", IP addresses {}", ips.join(", "))?;
        }
        Ok(())
    }
}

/// Read the credex identity of a DER certificate.
///
/// This reads; it does not verify. Use [`TrustStore::verify`](crate::TrustStore::verify)
/// before trusting what it says.
pub fn identity_from_der(der: &[u8]) -> Result<CertIdentity, IdentityError> {
    parse_certificate(der).map(|parsed| parsed.identity)
}

/// All `CERTIFICATE` sections of a PEM text, in order. Other sections (keys,
/// CRLs) are skipped.
pub fn certs_from_pem(pem: &str) -> Result<Vec<CertificateDer<'static>>, PemError> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| PemError::Malformed(e.to_string()))?;
    if certs.is_empty() {
        return Err(PemError::NoCertificates);
    }
    Ok(certs)
}

/// The DNS names and IP addresses among the subject alternative names of
/// any X.509 certificate — e.g. a web server certificate from an intranet
/// CA, which names no credex identity.
pub fn server_names(der: &[u8]) -> Result<(Vec<String>, Vec<IpAddr>), IdentityError> {
    if der.len() > MAX_CERT_LEN {
        return Err(IdentityError::TooLarge(der.len()));
    }
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| IdentityError::Malformed(e.to_string()))?;
    let san = cert
        .subject_alternative_name()
        .map_err(|e| IdentityError::Malformed(format!("subject alternative names: {e}")))?;
    let mut dns_names = Vec::new();
    let mut ip_addrs = Vec::new();
    for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => ip_addrs.push(ip_from_bytes(bytes)?),
            _ => {}
        }
    }
    Ok((dns_names, ip_addrs))
}

/// A parsed certificate: its identity plus facts the verifier needs.
pub(crate) struct ParsedCert {
    pub(crate) identity: CertIdentity,
    /// Whether the certificate has an extended key usage extension.
    pub(crate) has_eku: bool,
    /// The raw subject public key (BIT STRING contents).
    pub(crate) public_key: Vec<u8>,
    /// The DER encoding of the subject Name (a SEQUENCE).
    pub(crate) subject_der: Vec<u8>,
}

pub(crate) fn parse_certificate(der: &[u8]) -> Result<ParsedCert, IdentityError> {
    if der.len() > MAX_CERT_LEN {
        return Err(IdentityError::TooLarge(der.len()));
    }
    let (rest, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| IdentityError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(IdentityError::TrailingBytes(rest.len()));
    }

    let san = cert
        .subject_alternative_name()
        .map_err(|e| IdentityError::Malformed(format!("subject alternative names: {e}")))?;
    let mut credex_uris = Vec::new();
    let mut dns_names = Vec::new();
    let mut ip_addrs = Vec::new();
    for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
        match name {
            // Count case variants too, so "URN:CREDEX:…" cannot slip past the
            // one-identity rule; `Subject::from_uri` then refuses them.
            GeneralName::URI(uri) if is_credex_uri(uri) => credex_uris.push(*uri),
            GeneralName::DNSName(dns) => dns_names.push((*dns).to_owned()),
            GeneralName::IPAddress(bytes) => ip_addrs.push(ip_from_bytes(bytes)?),
            GeneralName::Invalid(..) => return Err(IdentityError::UnreadableAltName),
            _ => {}
        }
    }
    let uri = match credex_uris.as_slice() {
        [] => return Err(IdentityError::NoCredexUri),
        [uri] => *uri,
        many => return Err(IdentityError::MultipleCredexUris(many.len())),
    };
    let subject = Subject::from_uri(uri)?;

    let is_ca = cert
        .basic_constraints()
        .map_err(|e| IdentityError::Malformed(format!("basic constraints: {e}")))?
        .is_some_and(|bc| bc.value.ca);
    let kind = subject.kind();
    match (kind.is_ca(), is_ca) {
        (true, false) => return Err(IdentityError::CaIdentityWithoutCaFlag(kind)),
        (false, true) => return Err(IdentityError::LeafIdentityWithCaFlag(kind)),
        _ => {}
    }
    let has_eku = cert
        .extended_key_usage()
        .map_err(|e| IdentityError::Malformed(format!("extended key usage: {e}")))?
        .is_some();

    let common_name = match cert.subject().iter_common_name().next() {
        Some(cn) => cn
            .as_str()
            .map_err(|e| IdentityError::Malformed(format!("common name: {e}")))?
            .to_owned(),
        None => String::new(),
    };

    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut fingerprint = [0u8; 32];
    fingerprint.copy_from_slice(digest.as_ref());

    Ok(ParsedCert {
        identity: CertIdentity {
            subject,
            serial: cert.raw_serial().to_vec(),
            fingerprint,
            not_before: cert.validity().not_before.to_datetime(),
            not_after: cert.validity().not_after.to_datetime(),
            common_name,
            dns_names,
            ip_addrs,
        },
        has_eku,
        public_key: cert.public_key().subject_public_key.data.to_vec(),
        subject_der: cert.subject().as_raw().to_vec(),
    })
}

fn is_credex_uri(uri: &str) -> bool {
    uri.as_bytes()
        .get(..URI_PREFIX.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(URI_PREFIX.as_bytes()))
}

fn ip_from_bytes(bytes: &[u8]) -> Result<IpAddr, IdentityError> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(IdentityError::BadIpAddress(bytes.len()))
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    match s.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    }
}

/// `2026-01-31 08:00:00 UTC`: the form times take in messages and errors.
pub(crate) fn format_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn uris_round_trip() {
        let region: RegionCode = "520000".parse().unwrap();
        let name: NodeName = "gy-1".parse().unwrap();
        let subjects = [
            Subject::Root,
            Subject::RegionCa { region },
            Subject::Node {
                region,
                name: name.clone(),
            },
            Subject::Operator {
                region,
                role: Role::Approver,
                name: name.clone(),
            },
            Subject::Authority { region, name },
        ];
        let uris = [
            "urn:credex:root",
            "urn:credex:region-ca:520000",
            "urn:credex:node:520000:gy-1",
            "urn:credex:operator:520000:approver:gy-1",
            "urn:credex:authority:520000:gy-1",
        ];
        for (subject, uri) in subjects.iter().zip(uris) {
            assert_eq!(subject.to_uri(), uri);
            assert_eq!(&Subject::from_uri(uri).unwrap(), subject);
        }
    }

    #[test]
    fn malformed_uris_are_refused() {
        for bad in [
            "urn:credex:",
            "urn:credex:root:520000",
            "URN:CREDEX:root",
            "urn:credex:node:520000",
            "urn:credex:node:52000:gy-1",
            "urn:credex:node:520000:GY-1",
            "urn:credex:node:520000:gy-1:extra",
            "urn:credex:operator:520000:boss:alice",
            "urn:credex:region-ca:990000",
            "urn:credex:peer:520000:x",
            "urn:credex:node:520000:gy%2d1",
        ] {
            let err = Subject::from_uri(bad).unwrap_err();
            assert!(
                matches!(err, IdentityError::MalformedUri { .. }),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn long_uris_are_truncated_in_errors() {
        let long = format!("urn:credex:node:520000:{}", "é".repeat(500));
        let err = Subject::from_uri(&long).unwrap_err().to_string();
        assert!(err.chars().count() < 500, "{err}");
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [
            &b""[..],
            b"\x30",
            b"\x30\x82\xff\xff",
            b"not a certificate",
            &[0u8; 300],
        ] {
            assert!(identity_from_der(bytes).is_err());
        }
        assert!(matches!(
            identity_from_der(&vec![0x30; MAX_CERT_LEN + 1]),
            Err(IdentityError::TooLarge(_))
        ));
    }

    #[test]
    fn pem_without_certificates() {
        assert_eq!(certs_from_pem(""), Err(PemError::NoCertificates));
        assert!(matches!(
            certs_from_pem("-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"),
            Err(PemError::Malformed(_))
        ));
    }

    #[test]
    fn time_format() {
        let t = OffsetDateTime::from_unix_timestamp(1_767_225_600).unwrap();
        assert_eq!(format_time(t), "2026-01-01 00:00:00 UTC");
    }
}
