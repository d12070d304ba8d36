//! What a node starts with, read from disk once: its certificate chain and
//! private key, and everything derived from them — the TLS credentials,
//! the key that signs responses, envelopes and acknowledgements, and the
//! log key that signs checkpoints.
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
    /// The node key as a message signing key.
    pub signing_key: Arc<SigningKey>,
    /// The certificate chain, DER, leaf first (carried in signed objects).
    pub chain: Vec<Vec<u8>>,
    /// The certificate chain as read (PEM), served to auditors.
    pub chain_pem: String,
    /// The node key as the log's checkpoint signer.
    pub log_key: Arc<LogKey>,
}

impl NodeIdentity {
    /// Read and check the certificate and key files `config` names.
    pub fn load(config: &NodeConfig) -> Result<NodeIdentity, StartError> {
        let files = IdentityFiles::read(config)?;
        let credentials = files.credentials(config)?;
        let signing_key = Arc::new(files.signing_key(config)?);
        let log_key = Arc::new(LogKey::from_pkcs8_pem(
            &files.key_pem,
            config.region,
            &config.name,
        )?);
        let chain = credentials.chain.iter().map(|c| c.to_vec()).collect();
        Ok(NodeIdentity {
            credentials,
            signing_key,
            chain,
            chain_pem: files.cert_pem,
            log_key,
        })
    }
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
        let chain =
            credex_pki::certs_from_pem(&self.cert_pem).map_err(|e| tls_file_error(&tls.cert, e))?;
        let Some(leaf) = chain.first() else {
            return Err(tls_file_error(&tls.cert, "no CERTIFICATE section"));
        };
        let identity =
            credex_pki::identity_from_der(leaf).map_err(|e| tls_file_error(&tls.cert, e))?;
        match &identity.subject {
            Subject::Node { region, name } if *region == config.region && *name == config.name => {}
            other => {
                return Err(StartError::IdentityMismatch {
                    path: tls.cert.clone(),
                    reason: format!(
                        "the configuration names node {} of region {}, but the certificate is for {other}",
                        config.name, config.region
                    ),
                });
            }
        }
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

/// Load this node's certificate chain and key, and check the certificate
/// names the configured region and node.
pub fn load_credentials(config: &NodeConfig) -> Result<NodeCredentials, StartError> {
    IdentityFiles::read(config)?.credentials(config)
}

/// The node's key as a message signing key.
pub fn load_node_signing_key(config: &NodeConfig) -> Result<SigningKey, StartError> {
    IdentityFiles::read(config)?.signing_key(config)
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
