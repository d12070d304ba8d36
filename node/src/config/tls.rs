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
    /// PEM: the federation root certificate (the trust anchor).
    pub root: PathBuf,
    /// PEM CRLs of the root and region CAs; reloaded while running.
    pub crls: Vec<PathBuf>,
    /// How often the CRL files are checked for changes.
    pub crl_reload: Duration,
}

/// The raw `[tls]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    root: PathBuf,
    #[serde(default)]
    crls: Vec<PathBuf>,
    crl_reload_ms: Option<u64>,
}

/// `[tls]` with its paths resolved.
pub(super) fn parse(raw: &RawTls, values: &Values<'_>) -> Result<TlsFiles, ConfigError> {
    Ok(TlsFiles {
        cert: values.resolve(&raw.cert),
        key: values.resolve(&raw.key),
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
