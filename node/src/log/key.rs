//! The node's log signing key ([`LogKey`]): the Ed25519 key of the C2SP
//! checkpoint line and cosignatures (in a file or a module, decision 1090)
//! and, under `sm2-sm3`, the SM2 line's key with the SM3 tree's root
//! (decisions 1070, 1100).

use std::sync::Arc;

use credex_pki::signing::SigningKey;
use credex_protocol::tlog::{
    Checkpoint, Hash, KeyName, NoteSignature, SM2_SM3_IDENTIFIER, SignatureType, VerifierKey,
    credex_origin,
};
use credex_protocol::{NodeName, RegionCode};
use ring::signature::Ed25519KeyPair;
use rustls_pki_types::pem::PemObject;

use super::LogError;
use super::note_key::NoteKey;

/// The node's log signing keys and their public verifier keys: the
/// Ed25519 key (always; C2SP's line) and, under `sm2-sm3`, the SM2 key.
pub struct LogKey {
    name: KeyName,
    pair: NoteKey,
    verifier: VerifierKey,
    witness: VerifierKey,
    sm2: Option<Sm2Line>,
}

/// The SM2 line's key: the node's message-signing key.
struct Sm2Line {
    key: Arc<SigningKey>,
    verifier: VerifierKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogKey")
            .field("verifier", &self.verifier.to_string())
            .field("sm2", &self.sm2.as_ref().map(|l| l.verifier.to_string()))
            .finish()
    }
}

impl LogKey {
    /// The log key of node `name` of `region`, from its PKCS#8 PEM key.
    pub fn from_pkcs8_pem(
        pem: &str,
        region: RegionCode,
        name: &NodeName,
    ) -> Result<LogKey, LogError> {
        let der = rustls_pki_types::PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| LogError::KeyNotEd25519(format!("not a PKCS#8 PEM key: {e}")))?;
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.secret_pkcs8_der())
            .map_err(|e| LogError::KeyNotEd25519(e.to_string()))?;
        let origin = credex_origin(region, name);
        let name = KeyName::new(&origin).map_err(|_| LogError::BadOrigin(origin.clone()))?;
        let verifier = VerifierKey::for_key_pair(name.clone(), SignatureType::Ed25519, &pair)
            .map_err(|e| LogError::KeyNotEd25519(e.to_string()))?;
        let witness = VerifierKey::for_key_pair(name.clone(), SignatureType::CosignatureV1, &pair)
            .map_err(|e| LogError::KeyNotEd25519(e.to_string()))?;
        Ok(LogKey {
            name,
            pair: NoteKey::Ring(pair),
            verifier,
            witness,
            sm2: None,
        })
    }

    /// The log key of node `name` of `region`, inside a device — a
    /// hardware security module (decision 1090): the node's Ed25519 TLS
    /// key in its token.
    pub fn in_device(
        key: Arc<dyn credex_pki::signing::DeviceKey>,
        region: RegionCode,
        name: &NodeName,
    ) -> Result<LogKey, LogError> {
        if key.algorithm() != credex_protocol::SignatureAlgorithm::Ed25519 {
            return Err(LogError::KeyNotEd25519(format!(
                "the {} is {:?}",
                key.location(),
                key.algorithm()
            )));
        }
        let origin = credex_origin(region, name);
        let name = KeyName::new(&origin).map_err(|_| LogError::BadOrigin(origin.clone()))?;
        let pair = NoteKey::Device(key);
        let verifier = VerifierKey::new(name.clone(), SignatureType::Ed25519, pair.public_key())
            .map_err(|e| LogError::KeyNotEd25519(e.to_string()))?;
        let witness = VerifierKey::new(
            name.clone(),
            SignatureType::CosignatureV1,
            pair.public_key(),
        )
        .map_err(|e| LogError::KeyNotEd25519(e.to_string()))?;
        Ok(LogKey {
            name,
            pair,
            verifier,
            witness,
            sm2: None,
        })
    }

    /// This log key, also signing every checkpoint with the node's SM2
    /// message-signing `key` (the `sm2-sm3` suite): a second line after the
    /// Ed25519 one, which peers check against the SM2 certificate the
    /// node's signed objects carry. Refuses a key that is not SM2.
    pub fn with_sm2(self, key: Arc<SigningKey>) -> Result<LogKey, LogError> {
        let algorithm = key.algorithm();
        if algorithm != credex_protocol::SignatureAlgorithm::Sm2Sm3 {
            return Err(LogError::KeyNotSm2(algorithm));
        }
        let verifier = VerifierKey::new(self.name.clone(), SignatureType::Sm2Sm3, key.public_key())
            .map_err(|e| LogError::Sign(format!("the SM2 key cannot sign notes: {e}")))?;
        Ok(LogKey {
            sm2: Some(Sm2Line { key, verifier }),
            ..self
        })
    }

    /// The verifier key (`NAME+HEX+BASE64`), as exported beside the log.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The SM2 line's verifier key, when the log signs one.
    pub fn sm2_verifier(&self) -> Option<&VerifierKey> {
        self.sm2.as_ref().map(|l| &l.verifier)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        self.name.as_str()
    }

    /// Whether this log's checkpoints carry the SM2 line and state the
    /// SM3 tree's root (the `sm2-sm3` suite).
    pub fn states_sm3_root(&self) -> bool {
        self.sm2.is_some()
    }

    /// Sign a checkpoint for a tree of `size` with `root` (SHA-256) and,
    /// under `sm2-sm3` ([`LogKey::states_sm3_root`]), `sm3_root`, the SM3
    /// tree's root over the same entries, in an extension line: the
    /// Ed25519 line, then the SM2 line when the log has an SM2 key.
    pub fn sign(&self, size: u64, root: Hash, sm3_root: Option<&Hash>) -> Result<String, LogError> {
        let checkpoint = match (sm3_root, self.states_sm3_root()) {
            (Some(sm3), true) => Checkpoint::with_sm3_root(self.name.as_str(), size, root, sm3),
            (None, false) => Checkpoint::new(self.name.as_str(), size, root),
            (None, true) => {
                return Err(LogError::Sm3Root(
                    "signs an SM2 line, but no SM3 root was given",
                ));
            }
            (Some(_), false) => {
                return Err(LogError::Sm3Root(
                    "signs no SM2 line, but an SM3 root was given",
                ));
            }
        }
        .map_err(|e| LogError::Sign(e.to_string()))?;
        let mut note = self
            .pair
            .sign_checkpoint(&checkpoint, &self.name, &self.verifier)?;
        if let Some(sm2) = &self.sm2 {
            // The SM2 line's bytes are framed as every credex signature is,
            // with the type identifier as the domain (decision 1070).
            let signature = sm2
                .key
                .sign(SM2_SM3_IDENTIFIER.as_bytes(), note.text().as_bytes())
                .map_err(|e| LogError::Sign(e.to_string()))?;
            note.add_signature(NoteSignature::new(
                self.name.clone(),
                sm2.verifier.id(),
                signature.bytes,
            ))
            .map_err(|e| LogError::Sign(e.to_string()))?;
        }
        String::from_utf8(note.to_bytes()).map_err(|e| LogError::Sign(e.to_string()))
    }

    /// Cosign another log's checkpoint as a witness (tlog-cosignature), at `timestamp` (Unix seconds).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Result<String, LogError> {
        self.pair
            .cosign(checkpoint, &self.name, &self.witness, timestamp)
    }

    /// This key as a witness (cosignature/v1) verifier key.
    pub fn witness_verifier(&self) -> VerifierKey {
        self.witness.clone()
    }
}
