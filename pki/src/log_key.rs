//! A node's log keys as auditors and witnesses know them, from a node
//! certificate, named by the log's origin (`credex/REGION/NODE`), as C2SP
//! note verifiers.
//!
//! A checkpoint carries the log's Ed25519 line (the TLS certificate's key,
//! what C2SP witnesses and tlog tools check) and, under the `sm2-sm3`
//! suite, an SM2 line by the node's message-signing key (decision 1070).
//! Which line a verifier checks follows the certificate it is given: the
//! chain in a signed object (a receipt's responder, an acknowledgement's
//! receiver, a credit report's issuer) gives the SM2 line under `sm2-sm3`;
//! the TLS certificate gives the Ed25519 line and the cosigning key.

use credex_protocol::tlog::{KeyName, SignatureType, VerifierKey, credex_origin};
use credex_protocol::{NodeName, RegionCode, SignatureAlgorithm};

use crate::signing::VerifyingKey;

/// Why a certificate's key cannot verify a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogKeyError {
    /// The certificate's key cannot be read.
    #[error("the node certificate's key cannot be read: {0}")]
    Certificate(String),
    /// The certificate's key is not of a type that signs this kind of log
    /// signature: checkpoints are signed by an Ed25519 or an SM2 key,
    /// cosignatures (cosignature/v1) by an Ed25519 key.
    #[error("the node certificate holds {found} key; {expected}")]
    WrongKeyType {
        /// What the signature needs.
        expected: &'static str,
        /// The certificate's key algorithm.
        found: String,
    },
    /// The certificate's public key is not a valid key of its type.
    #[error("the node certificate's key cannot verify notes: {0}")]
    BadKey(String),
    /// The origin is not a valid note key name.
    #[error("log origin {0:?} is not a valid note key name")]
    BadOrigin(String),
}

/// What checkpoint signatures need of a key.
const CHECKPOINT_KEYS: &str =
    "checkpoints are signed by an Ed25519 key or, under the sm2-sm3 suite, an SM2 key";

/// What cosignatures need of a key.
const COSIGNATURE_KEYS: &str = "cosignatures (cosignature/v1) are made by the Ed25519 TLS key";

/// The verifier of the checkpoint signature that the node certificate
/// `cert_der` (which the caller has verified) vouches for: its Ed25519 key
/// for the Ed25519 line, its SM2 key for the SM2 line. Named by the node's
/// origin.
pub fn node_checkpoint_verifier(
    cert_der: &[u8],
    region: RegionCode,
    name: &NodeName,
) -> Result<VerifierKey, LogKeyError> {
    let key = certificate_key(cert_der)?;
    let sig_type = match key.algorithm() {
        SignatureAlgorithm::Ed25519 => SignatureType::Ed25519,
        SignatureAlgorithm::Sm2Sm3 => SignatureType::Sm2Sm3,
        other => return Err(wrong_key(CHECKPOINT_KEYS, other)),
    };
    verifier(&key, region, name, sig_type)
}

/// The cosignature (cosignature/v1) verifier of the node whose TLS
/// certificate is `cert_der` (which the caller has verified): its Ed25519
/// key, named by the node's origin.
pub fn node_witness_verifier(
    cert_der: &[u8],
    region: RegionCode,
    name: &NodeName,
) -> Result<VerifierKey, LogKeyError> {
    let key = certificate_key(cert_der)?;
    if key.algorithm() != SignatureAlgorithm::Ed25519 {
        return Err(wrong_key(COSIGNATURE_KEYS, key.algorithm()));
    }
    verifier(&key, region, name, SignatureType::CosignatureV1)
}

/// The log verifier key of a node for `sig_type`, from its certificate
/// (which the caller has verified). For a log signature (`Ed25519` or
/// `Sm2Sm3`) this is [`node_checkpoint_verifier`]: the line follows the
/// certificate's key, whichever of the two is asked for. For
/// `CosignatureV1` it is [`node_witness_verifier`].
pub fn node_log_verifier(
    cert_der: &[u8],
    region: RegionCode,
    name: &NodeName,
    sig_type: SignatureType,
) -> Result<VerifierKey, LogKeyError> {
    if sig_type.is_log_signature() {
        node_checkpoint_verifier(cert_der, region, name)
    } else {
        node_witness_verifier(cert_der, region, name)
    }
}

fn certificate_key(cert_der: &[u8]) -> Result<VerifyingKey, LogKeyError> {
    VerifyingKey::from_certificate_der(cert_der)
        .map_err(|e| LogKeyError::Certificate(e.to_string()))
}

fn wrong_key(expected: &'static str, found: SignatureAlgorithm) -> LogKeyError {
    let found = match found {
        SignatureAlgorithm::Ed25519 => "an Ed25519".to_owned(),
        SignatureAlgorithm::EcdsaP256Sha256 => "an ECDSA P-256".to_owned(),
        SignatureAlgorithm::Sm2Sm3 => "an SM2".to_owned(),
        other => format!("a {other:?}"),
    };
    LogKeyError::WrongKeyType { expected, found }
}

fn verifier(
    key: &VerifyingKey,
    region: RegionCode,
    name: &NodeName,
    sig_type: SignatureType,
) -> Result<VerifierKey, LogKeyError> {
    let origin = credex_origin(region, name);
    let name = KeyName::new(&origin).map_err(|_| LogKeyError::BadOrigin(origin.clone()))?;
    VerifierKey::new(name, sig_type, key.public_key())
        .map_err(|e| LogKeyError::BadKey(e.to_string()))
}
