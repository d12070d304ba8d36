//! Why a certificate or CRL could not be issued: the one error of issuing,
//! shared by the issuer ([`crate::issue`]), the key pairs
//! ([`crate::cert_key`]) and the SM2 finishing ([`crate::sm2_x509`]).

use crate::identity::{CertKind, Subject};

/// Longest common name accepted for a root (X.520 upper bound).
pub const MAX_COMMON_NAME_LEN: usize = 64;

/// Why a certificate or CRL could not be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IssueError {
    /// `not_after` is not after `not_before`.
    #[error("validity period is empty: it must end after it starts")]
    EmptyValidity,
    /// The requested validity is not inside the issuing CA's own validity.
    #[error(
        "validity {requested_from} to {requested_to} is not inside the issuing CA's validity {ca_from} to {ca_to}"
    )]
    OutsideIssuerValidity {
        /// Requested start.
        requested_from: String,
        /// Requested end.
        requested_to: String,
        /// The CA's start.
        ca_from: String,
        /// The CA's end.
        ca_to: String,
    },
    /// The root's common name is empty, too long or has control characters.
    #[error("common name must be 1-{MAX_COMMON_NAME_LEN} characters without control characters")]
    BadCommonName,
    /// Only the federation root issues region CA certificates.
    #[error("only the federation root CA may issue region CA certificates; this CA is {0}")]
    OnlyRootIssuesRegionCas(Subject),
    /// Only a region CA issues node, operator and authority certificates.
    #[error("only a region CA may issue {kind} certificates; this CA is {issuer}")]
    OnlyRegionCaIssuesLeaves {
        /// What was asked for.
        kind: CertKind,
        /// Who was asked.
        issuer: Subject,
    },
    /// A DNS name for a node certificate is not a valid DNS name.
    #[error("{0:?} is not a valid DNS name")]
    BadDnsName(String),
    /// A serial to revoke is empty or longer than 21 bytes (20 octets plus a sign byte).
    #[error("serial {0:?} cannot be a certificate serial (1-21 bytes)")]
    BadRevokedSerial(String),
    /// A CRL's next update is not after its this-update time.
    #[error("CRL next update must be after this update")]
    CrlNextUpdateNotAfterThisUpdate,
    /// The system random number generator failed.
    #[error("the system random number generator failed")]
    Random,
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),
    /// A public key given to certify (its private half held elsewhere,
    /// e.g. in a hardware security module) is not an Ed25519 or P-256 key.
    #[error("cannot certify this public key: {0}")]
    BadPublicKey(String),
    /// The certificate or CRL could not be encoded or signed (by rcgen, or
    /// when putting in the SM2 identifiers and signing again).
    #[error("could not encode or sign: {0}")]
    Encoding(String),
}
