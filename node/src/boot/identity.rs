//! What a node starts with, read from disk once: its certificate chain and
//! private key, and everything derived from them — the TLS credentials,
//! the key that signs responses, envelopes and acknowledgements, and the
//! log key that signs checkpoints. Under the `sm2-sm3` suite a second pair,
//! `[tls] signing_cert` and `signing_key` (SM2), signs the node's messages
//! while the TLS pair (Ed25519) keeps the transport and the C2SP
//! checkpoint line.
//!
//! [`NodeIdentity::load`] reads the certificate and the key file once
//! each, checks that the key file is readable by its owner only and that
//! the certificate names the configured region and node, and hands out
//! shared handles: the running node ([`crate::service`]) passes them to
//! the transport, the query service, the federation and the flows, none of
//! which opens a key file of its own. One-shot tools that need only one
//! piece use [`load_credentials`] or [`load_node_signing_key`].

use std::path::Path;
use std::sync::Arc;

use credex_pki::Subject;
use credex_pki::signing::SigningKey;
use rustls_pki_types::pem::PemObject as _;

use super::StartError;
use crate::config::NodeConfig;
use crate::log::LogKey;
use crate::tls::NodeCredentials;

/// A node's identity, loaded once.
pub struct NodeIdentity {
    /// The TLS credentials (chain, key, the leaf's parsed identity).
    pub credentials: NodeCredentials,
    /// The key that signs this node's messages: the signing pair's when
    /// configured, else the TLS key.
    pub signing_key: Arc<SigningKey>,
    /// Its certificate chain, DER, leaf first (carried in signed objects).
    pub chain: Vec<Vec<u8>>,
    /// The TLS certificate chain as read (PEM): its Ed25519 key verifies the
    /// log's checkpoints; served to auditors with the log.
    pub chain_pem: String,
    /// The signing pair's chain as read (PEM), when one is configured.
    pub signing_chain_pem: Option<String>,
    /// The node key as the log's checkpoint signer.
    pub log_key: Arc<LogKey>,
}

impl NodeIdentity {
    /// Read and check the certificate and key files `config` names.
    pub fn load(config: &NodeConfig) -> Result<NodeIdentity, StartError> {
        let files = IdentityFiles::read(config)?;
        let credentials = files.credentials(config)?;
        let log_key = LogKey::from_pkcs8_pem(&files.key_pem, config.region, &config.name)?;
        let Some(signing) = &config.tls.signing else {
            let signing_key = Arc::new(files.signing_key(config)?);
            let chain = credentials.chain.iter().map(|c| c.to_vec()).collect();
            return Ok(NodeIdentity {
                credentials,
                signing_key,
                chain,
                chain_pem: files.cert_pem,
                signing_chain_pem: None,
                log_key: Arc::new(log_key),
            });
        };
        crate::file_modes::check_private(&signing.key)?;
        let (cert_pem, key_pem) = (read_text(&signing.cert)?, read_text(&signing.key)?);
        let chain = node_chain(&cert_pem, &signing.cert, config)?;
        let signing_key =
            SigningKey::from_pkcs8_pem(&key_pem).map_err(|e| tls_file_error(&signing.key, e))?;
        // `node_chain` returns a non-empty chain, leaf first.
        signing_key
            .check_matches_certificate(&chain[0])
            .map_err(|e| {
                tls_file_error(&signing.key, format!("{e} ({})", signing.cert.display()))
            })?;
        let signing_key = Arc::new(signing_key);
        // An SM2 signing pair also signs the checkpoints' SM2 line, so a
        // receipt verifies with the certificate the signed object carries
        // (decision 1070); the Ed25519 line stays the C2SP one.
        let log_key = match signing_key.algorithm() {
            credex_protocol::SignatureAlgorithm::Sm2Sm3 => {
                log_key.with_sm2(Arc::clone(&signing_key))?
            }
            _ => log_key,
        };
        Ok(NodeIdentity {
            credentials,
            signing_key,
            chain: chain.iter().map(|c| c.to_vec()).collect(),
            chain_pem: files.cert_pem,
            signing_chain_pem: Some(cert_pem),
            log_key: Arc::new(log_key),
        })
    }
}

impl NodeIdentity {
    /// Check that the key signing this node's messages is of `suite`, the
    /// federation's (its root's): peers refuse signatures of another suite.
    pub fn check_suite(
        &self,
        suite: credex_protocol::Suite,
        config: &NodeConfig,
    ) -> Result<(), StartError> {
        let algorithm = self.signing_key.algorithm();
        if suite.signs_with(algorithm) {
            return Ok(());
        }
        let (path, fix) = match (&config.tls.signing, suite) {
            (Some(signing), credex_protocol::Suite::Sm2Sm3) => {
                (&signing.key, "name an SM2 key and its certificate there")
            }
            (None, credex_protocol::Suite::Sm2Sm3) => (
                &config.tls.key,
                "name an SM2 key and its node certificate as [tls] signing_key and signing_cert \
                 (the TLS key stays Ed25519)",
            ),
            (Some(signing), _) => (
                &signing.key,
                "remove [tls] signing_key and signing_cert: the TLS key signs",
            ),
            (None, _) => (&config.tls.key, "use an Ed25519 or P-256 key"),
        };
        Err(StartError::Suite {
            path: path.clone(),
            reason: format!(
                "this key signs with {algorithm:?}, but the federation's crypto suite is {suite} \
                 (set by its root certificate); {fix}"
            ),
        })
    }
}

/// Check that the federation's pseudonymization key ring, when `config`
/// names one, computes the MAC of `suite` (HMAC-SHA256 or HMAC-SM3): a ring
/// of the other suite would name every natural person differently from the
/// rest of the federation.
pub fn check_ring_suite(
    config: &NodeConfig,
    suite: credex_protocol::Suite,
) -> Result<(), StartError> {
    let Some(keys) = &config.pseudonyms.keys else {
        return Ok(());
    };
    let ring = crate::pseudonyms::load_ring(keys)?;
    if ring.suite() == suite {
        return Ok(());
    }
    Err(StartError::Suite {
        path: keys.clone(),
        reason: format!(
            "the pseudonymization key ring is of the {} suite, but the federation's crypto suite is \
             {suite} (set by its root certificate); the root's operator makes the ring with \
             `credex pki pseudonym-key new --suite {suite}`",
            ring.suite()
        ),
    })
}

/// The certificate and key files' texts.
struct IdentityFiles {
    cert_pem: String,
    key_pem: String,
}

impl IdentityFiles {
    fn read(config: &NodeConfig) -> Result<IdentityFiles, StartError> {
        let tls = &config.tls;
        crate::file_modes::check_private(&tls.key)?;
        Ok(IdentityFiles {
            cert_pem: read_text(&tls.cert)?,
            key_pem: read_text(&tls.key)?,
        })
    }

    /// The chain and key, checked against the configured identity.
    fn credentials(&self, config: &NodeConfig) -> Result<NodeCredentials, StartError> {
        let tls = &config.tls;
        let chain = node_chain(&self.cert_pem, &tls.cert, config)?;
        let identity =
            credex_pki::identity_from_der(&chain[0]).map_err(|e| tls_file_error(&tls.cert, e))?;
        let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes())
            .map_err(|e| tls_file_error(&tls.key, format!("not a PEM private key: {e}")))?;
        Ok(NodeCredentials {
            chain,
            key,
            identity,
        })
    }

    fn signing_key(&self, config: &NodeConfig) -> Result<SigningKey, StartError> {
        SigningKey::from_pkcs8_pem(&self.key_pem).map_err(|e| tls_file_error(&config.tls.key, e))
    }
}

/// The chain in `pem` (read from `path`), non-empty, its leaf a node
/// certificate naming the configured region and node.
fn node_chain(
    pem: &str,
    path: &Path,
    config: &NodeConfig,
) -> Result<Vec<rustls_pki_types::CertificateDer<'static>>, StartError> {
    let chain = credex_pki::certs_from_pem(pem).map_err(|e| tls_file_error(path, e))?;
    let Some(leaf) = chain.first() else {
        return Err(tls_file_error(path, "no CERTIFICATE section"));
    };
    let identity = credex_pki::identity_from_der(leaf).map_err(|e| tls_file_error(path, e))?;
    match &identity.subject {
        Subject::Node { region, name } if *region == config.region && *name == config.name => {
            Ok(chain)
        }
        other => Err(StartError::IdentityMismatch {
            path: path.to_owned(),
            reason: format!(
                "the configuration names node {} of region {}, but the certificate is for {other}",
                config.name, config.region
            ),
        }),
    }
}

/// Load this node's certificate chain and key, and check the certificate
/// names the configured region and node.
pub fn load_credentials(config: &NodeConfig) -> Result<NodeCredentials, StartError> {
    IdentityFiles::read(config)?.credentials(config)
}

/// The key that signs the node's messages: the signing pair's when
/// configured, else the TLS key.
pub fn load_node_signing_key(config: &NodeConfig) -> Result<Arc<SigningKey>, StartError> {
    Ok(NodeIdentity::load(config)?.signing_key)
}

pub(crate) fn tls_file_error(path: &Path, reason: impl std::fmt::Display) -> StartError {
    StartError::TlsFile {
        path: path.to_owned(),
        reason: reason.to_string(),
    }
}

pub(crate) fn read_text(path: &Path) -> Result<String, StartError> {
    std::fs::read_to_string(path).map_err(|e| tls_file_error(path, format!("cannot read: {e}")))
}
