//! `[tls]`: where this node's certificate, key, trust anchor and CRLs are,
//! and how often the CRLs are re-read.
//!
//! Owns: [`TlsFiles`]. Does not read or check the files themselves (the
//! node does that at start, with `credex-pki`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

/// Paths of this node's TLS material, resolved against the config file's directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM: this node's certificate followed by its region CA's.
    pub cert: PathBuf,
    /// PEM: this node's PKCS#8 private key.
    pub key: PathBuf,
    /// The certificate and key that sign this node's messages, receipts and
    /// reports, when they are not the TLS ones: under the `sm2-sm3` suite
    /// an SM2 pair (no QUIC stack speaks SM2, so the TLS pair stays
    /// Ed25519). `None`: the TLS pair signs.
    pub signing: Option<SigningFiles>,
    /// PEM: the federation root certificate (the trust anchor).
    pub root: PathBuf,
    /// PEM CRLs of the root and region CAs; reloaded while running.
    pub crls: Vec<PathBuf>,
    /// How often the CRL files are checked for changes.
    pub crl_reload: Duration,
}

/// Paths of a node's message-signing certificate and key (`[tls]
/// signing_cert`, `signing_key`).
#[derive(Debug, Clone)]
pub struct SigningFiles {
    /// PEM: the signing certificate (naming this node) followed by its
    /// region CA's.
    pub cert: PathBuf,
    /// PEM: its PKCS#8 private key.
    pub key: PathBuf,
}

/// The raw `[tls]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    signing_cert: Option<PathBuf>,
    signing_key: Option<PathBuf>,
    root: PathBuf,
    #[serde(default)]
    crls: Vec<PathBuf>,
    crl_reload_ms: Option<u64>,
}

/// `[tls]` with its paths resolved.
pub(super) fn parse(raw: &RawTls, values: &Values<'_>) -> Result<TlsFiles, ConfigError> {
    let signing = match (&raw.signing_cert, &raw.signing_key) {
        (Some(cert), Some(key)) => Some(SigningFiles {
            cert: values.resolve(cert),
            key: values.resolve(key),
        }),
        (None, None) => None,
        (Some(_), None) => {
            return Err(values.invalid(
                "tls.signing_key",
                "missing: tls.signing_cert names a signing certificate, so its key is needed too"
                    .into(),
            ));
        }
        (None, Some(_)) => {
            return Err(values.invalid(
                "tls.signing_cert",
                "missing: tls.signing_key names a signing key, so its certificate is needed too"
                    .into(),
            ));
        }
    };
    Ok(TlsFiles {
        cert: values.resolve(&raw.cert),
        key: values.resolve(&raw.key),
        signing,
        root: values.resolve(&raw.root),
        crls: raw.crls.iter().map(|p| values.resolve(p)).collect(),
        crl_reload: values.millis(
            "tls.crl_reload_ms",
            raw.crl_reload_ms,
            Duration::from_secs(5),
            100,
            3_600_000,
        )?,
    })
}
