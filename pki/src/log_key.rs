//! A node's log key as auditors and witnesses know it: the Ed25519 key of
//! the node certificate, named by the log's origin
//! (`credex.example/REGION/NODE`), as a C2SP note verifier.

use credex_protocol::tlog::{KeyName, SignatureType, VerifierKey, credex_origin};
use credex_protocol::{NodeName, RegionCode, SignatureAlgorithm};

use crate::signing::VerifyingKey;

/// Why a certificate's key cannot verify a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogKeyError {
    /// Checkpoints are signed notes, which need an Ed25519 key.
    #[error("the node key must be Ed25519 to sign log checkpoints: {0}")]
    NotEd25519(String),
    /// The origin is not a valid note key name.
    #[error("log origin {0:?} is not a valid note key name")]
    BadOrigin(String),
}

/// The log verifier key of a node, from its certificate (which the caller
/// has verified): its Ed25519 key, named by the node's origin, for
/// checkpoints (`sig_type` Ed25519) or cosignatures (cosignature/v1).
pub fn node_log_verifier(
    cert_der: &[u8],
    region: RegionCode,
    name: &NodeName,
    sig_type: SignatureType,
) -> Result<VerifierKey, LogKeyError> {
    let key = VerifyingKey::from_certificate_der(cert_der)
        .map_err(|e| LogKeyError::NotEd25519(e.to_string()))?;
    if key.algorithm() != SignatureAlgorithm::Ed25519 {
        return Err(LogKeyError::NotEd25519(format!("{:?}", key.algorithm())));
    }
    let pk: [u8; 32] = key
        .public_key()
        .try_into()
        .map_err(|_| LogKeyError::NotEd25519("public key is not 32 bytes".into()))?;
    let origin = credex_origin(region, name);
    let name = KeyName::new(&origin).map_err(|_| LogKeyError::BadOrigin(origin.clone()))?;
    Ok(VerifierKey::new(name, sig_type, pk))
}
