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
use credex_pki::module_key::{ModuleKey, Pin};
use credex_pki::signing::{DeviceKey, SigningKey};
use rustls_pki_types::pem::PemObject as _;

use super::StartError;
use crate::config::NodeConfig;
use crate::config::{ModuleKeyConfig, PIN_ENV, PinSource};
use crate::log::LogKey;
use crate::tls::{NodeCredentials, NodeKey};

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
        let log_key = files.key.log_key(config)?;
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

/// The certificate file's text and the key: a key file's text, or the
/// key opened in its module.
struct IdentityFiles {
    cert_pem: String,
    key: TlsKey,
}

/// The node's TLS key as loaded.
enum TlsKey {
    /// A PKCS#8 PEM file's text.
    Pem(String),
    /// In a device: a hardware security module (decision 1090).
    Device(Arc<dyn DeviceKey>),
}

impl TlsKey {
    /// The key file's text, or the key opened in its module.
    fn read(config: &NodeConfig) -> Result<TlsKey, StartError> {
        let tls = &config.tls;
        Ok(match &tls.key_in_module {
            Some(module) => TlsKey::Device(open_module_key(config, module)?),
            None => {
                crate::file_modes::check_private(&tls.key)?;
                TlsKey::Pem(read_text(&tls.key)?)
            }
        })
    }

    /// The log's checkpoint key: the TLS key.
    fn log_key(&self, config: &NodeConfig) -> Result<LogKey, StartError> {
        Ok(match self {
            TlsKey::Pem(pem) => LogKey::from_pkcs8_pem(pem, config.region, &config.name)?,
            TlsKey::Device(key) => LogKey::in_device(Arc::clone(key), config.region, &config.name)?,
        })
    }
}

impl IdentityFiles {
    fn read(config: &NodeConfig) -> Result<IdentityFiles, StartError> {
        Ok(IdentityFiles {
            key: TlsKey::read(config)?,
            cert_pem: read_text(&config.tls.cert)?,
        })
    }

    /// The chain and key, checked against the configured identity.
    fn credentials(&self, config: &NodeConfig) -> Result<NodeCredentials, StartError> {
        let tls = &config.tls;
        let chain = node_chain(&self.cert_pem, &tls.cert, config)?;
        let identity =
            credex_pki::identity_from_der(&chain[0]).map_err(|e| tls_file_error(&tls.cert, e))?;
        let key = match &self.key {
            TlsKey::Pem(pem) => NodeKey::File(
                rustls_pki_types::PrivateKeyDer::from_pem_slice(pem.as_bytes())
                    .map_err(|e| tls_file_error(&tls.key, format!("not a PEM private key: {e}")))?,
            ),
            TlsKey::Device(key) => {
                // A key file is checked against its certificate by rustls;
                // a device key here, naming both.
                SigningKey::in_device(Arc::clone(key))
                    .check_matches_certificate(&chain[0])
                    .map_err(|e| StartError::KeyInModule {
                        config: config.path.clone(),
                        reason: format!(
                            "the {} is not the key of the certificate {}: {e}",
                            key.location(),
                            tls.cert.display()
                        ),
                    })?;
                NodeKey::Device(Arc::clone(key))
            }
        };
        Ok(NodeCredentials {
            chain,
            key,
            identity,
        })
    }

    fn signing_key(&self, config: &NodeConfig) -> Result<SigningKey, StartError> {
        match &self.key {
            TlsKey::Pem(pem) => {
                SigningKey::from_pkcs8_pem(pem).map_err(|e| tls_file_error(&config.tls.key, e))
            }
            TlsKey::Device(key) => Ok(SigningKey::in_device(Arc::clone(key))),
        }
    }
}

/// Open the node key `module` names, with the PIN from its PIN source.
fn open_module_key(
    config: &NodeConfig,
    module: &ModuleKeyConfig,
) -> Result<Arc<dyn DeviceKey>, StartError> {
    let failed = |reason: String| StartError::KeyInModule {
        config: config.path.clone(),
        reason,
    };
    let pin = module_pin(&module.pin).map_err(|e| failed(e.to_string()))?;
    ModuleKey::open(&module.key, pin)
        .map(|key| Arc::new(key) as Arc<dyn DeviceKey>)
        .map_err(|e| failed(e.to_string()))
}

/// The token's user PIN from `source`: the first line of a file readable
/// by its owner only, or [`PIN_ENV`]. The error says which and why.
pub fn module_pin(source: &PinSource) -> Result<Pin, PinError> {
    let text = match source {
        PinSource::File(path) => {
            crate::file_modes::check_private(path)?;
            std::fs::read_to_string(path).map_err(|source| PinError::Read {
                path: path.clone(),
                source: Arc::new(source),
            })?
        }
        PinSource::Environment => std::env::var(PIN_ENV).map_err(|_| PinError::NoSource)?,
    };
    let pin = text.lines().next().unwrap_or_default();
    if pin.is_empty() {
        return Err(match source {
            PinSource::File(path) => PinError::EmptyFile { path: path.clone() },
            PinSource::Environment => PinError::EmptyEnvironment,
        });
    }
    Ok(Pin::new(pin.to_owned()))
}

/// Why [`module_pin`] found no PIN. Never carries the PIN or any part of it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PinError {
    /// The PIN file is readable by group or others.
    #[error(transparent)]
    ReadableByOthers(#[from] crate::file_modes::ReadableByOthers),
    /// The PIN file could not be read.
    #[error("cannot read the PIN file {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: Arc<std::io::Error>,
    },
    /// The key names no PIN file and [`PIN_ENV`] is not set.
    #[error(
        "the key's URI names no pin-source and {PIN_ENV} is not set; add \
         &pin-source=file:PATH (a file of mode 0600 holding the PIN) or set {PIN_ENV}"
    )]
    NoSource,
    /// The PIN file's first line is empty.
    #[error("the PIN file {} is empty", path.display())]
    EmptyFile {
        /// The file.
        path: std::path::PathBuf,
    },
    /// [`PIN_ENV`] is set but empty.
    #[error("{PIN_ENV} is empty")]
    EmptyEnvironment,
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

/// The log's checkpoint key alone — the TLS key, from its file or its
/// module, without the SM2 line — for tools that sign no message
/// (`credex log recover`).
pub fn load_log_key(config: &NodeConfig) -> Result<LogKey, StartError> {
    TlsKey::read(config)?.log_key(config)
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

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    /// Each rule a PIN file can break is refused by its own variant, naming
    /// the file; a good file gives its first line.
    #[test]
    fn a_pin_file_is_private_readable_and_not_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let file = |name: &str, text: &str, mode: u32| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).expect("write");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("mode");
            PinSource::File(path)
        };
        let shared = file("shared.pin", "1234\n", 0o644);
        let missing = PinSource::File(dir.path().join("missing.pin"));
        let empty = file("empty.pin", "\nsecond line\n", 0o600);
        let good = file("good.pin", "1234\nignored\n", 0o600);

        let err = module_pin(&shared).expect_err("readable by others");
        assert!(matches!(err, PinError::ReadableByOthers(_)), "{err}");
        assert!(err.to_string().contains("shared.pin"), "{err}");
        let err = module_pin(&missing).expect_err("missing");
        assert!(
            matches!(&err, PinError::Read { path, .. } if path.ends_with("missing.pin")),
            "{err}"
        );
        let err = module_pin(&empty).expect_err("empty first line");
        assert!(
            matches!(&err, PinError::EmptyFile { path } if path.ends_with("empty.pin")),
            "{err}"
        );
        assert!(module_pin(&good).is_ok());
        for err in [
            module_pin(&shared).expect_err("again"),
            module_pin(&empty).expect_err("again"),
        ] {
            assert!(!err.to_string().contains("1234"), "{err}");
        }
    }
}
