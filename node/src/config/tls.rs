//! `[tls]`: where this node's certificate, key, trust anchor and CRLs are,
//! and how often the CRLs are re-read.
//!
//! The key is a PKCS#8 file, or a key in a hardware security module named
//! by an RFC 7512 URI in its place (decision 1090):
//!
//! ```toml
//! key = "pkcs11:token=credex-gz;object=gz-1?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:gz-1.pin"
//! ```
//!
//! The PIN is never in the configuration: `pin-source` names a file
//! readable by its owner only (relative to the configuration's
//! directory), else the node reads `CREDEX_PKCS11_PIN`.
//!
//! Owns: [`TlsFiles`], [`ModuleKeyConfig`]. Does not read or check the
//! files themselves (the node does that at start, with `credex-pki`).

use std::path::PathBuf;
use std::time::Duration;

use credex_pki::module_key::{ModuleKeyRef, Pkcs11Uri};
use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

/// Paths of this node's TLS material, resolved against the config file's directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// PEM: this node's certificate followed by its region CA's.
    pub cert: PathBuf,
    /// PEM: this node's PKCS#8 private key. When the key is in a module
    /// ([`TlsFiles::key_in_module`]), the URI as written: never opened.
    pub key: PathBuf,
    /// The key's place in a hardware security module, when `[tls] key` is
    /// a `pkcs11:` URI; `None`: the key is the file `key`.
    pub key_in_module: Option<ModuleKeyConfig>,
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

/// A node key in a PKCS#11 module (`[tls] key = "pkcs11:…"`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleKeyConfig {
    /// The module, the token's label and the key's label.
    pub key: ModuleKeyRef,
    /// Where the user PIN is.
    pub pin: PinSource,
}

/// Where the node reads its token's user PIN: never the configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PinSource {
    /// A file readable by its owner only (`pin-source=file:PATH`), its
    /// one line the PIN.
    File(PathBuf),
    /// The environment variable [`PIN_ENV`].
    Environment,
}

/// The environment variable holding the PIN when the URI names no
/// `pin-source`.
pub const PIN_ENV: &str = "CREDEX_PKCS11_PIN";

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
    let key_in_module = match raw.key.to_str() {
        Some(text) if Pkcs11Uri::is_uri(text) => {
            let uri = Pkcs11Uri::parse(text).map_err(|e| {
                values.invalid(
                    "tls.key",
                    format!(
                        "{e}; expected pkcs11:token=TOKEN;object=LABEL?module-path=LIBRARY\
                         [&pin-source=file:PIN_FILE]"
                    ),
                )
            })?;
            let pin = match uri.pin_file {
                Some(file) => PinSource::File(values.resolve(&file)),
                None => PinSource::Environment,
            };
            Some(ModuleKeyConfig { key: uri.key, pin })
        }
        _ => None,
    };
    if raw
        .signing_key
        .as_ref()
        .and_then(|k| k.to_str())
        .is_some_and(Pkcs11Uri::is_uri)
    {
        return Err(values.invalid(
            "tls.signing_key",
            "a key in a module is supported for tls.key only; the SM2 signing key needs an SM2 \
             module (decision 1090), so name its PKCS#8 file"
                .into(),
        ));
    }
    Ok(TlsFiles {
        cert: values.resolve(&raw.cert),
        key: match key_in_module {
            Some(_) => raw.key.clone(),
            None => values.resolve(&raw.key),
        },
        key_in_module,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::path::Path;

    use super::*;
    use crate::config::NodeConfig;

    const CONFIG: &str = r#"
[node]
region = "440000"
name = "gz-1"
data_dir = "data"

[tls]
cert = "gz-1.pem"
key = "KEY"
root = "root.pem"

[listen]
addr = "127.0.0.1:7401"
"#;

    fn parse(key: &str) -> Result<NodeConfig, crate::config::ConfigError> {
        NodeConfig::parse(
            &CONFIG.replace("KEY", key),
            Path::new("/etc/credex/node.toml"),
        )
    }

    #[test]
    fn a_pkcs11_uri_names_the_key_in_its_module_and_the_pin_file() {
        let c = parse(
            "pkcs11:token=credex-gz;object=gz-1?module-path=/usr/lib/softhsm/libsofthsm2.so\
             &pin-source=file:gz-1.pin",
        )
        .unwrap();
        let module = c.tls.key_in_module.unwrap();
        assert_eq!(module.key.token, "credex-gz");
        assert_eq!(module.key.label, "gz-1");
        assert_eq!(
            module.key.module,
            Path::new("/usr/lib/softhsm/libsofthsm2.so")
        );
        assert_eq!(module.pin, PinSource::File("/etc/credex/gz-1.pin".into()));
        let env = parse("pkcs11:token=t;object=k?module-path=/m.so").unwrap();
        assert_eq!(env.tls.key_in_module.unwrap().pin, PinSource::Environment);
        let file = parse("gz-1.key").unwrap();
        assert_eq!(file.tls.key, Path::new("/etc/credex/gz-1.key"));
        assert!(file.tls.key_in_module.is_none());
    }

    #[test]
    fn a_bad_pkcs11_uri_names_the_file_the_key_and_what_is_expected() {
        let msg = parse("pkcs11:token=t;object=k?module-path=/m.so&pin-value=1234")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/etc/credex/node.toml"), "{msg}");
        assert!(msg.contains("tls.key"), "{msg}");
        assert!(msg.contains("pin-source=file:"), "{msg}");
        let msg = parse("pkcs11:object=k?module-path=/m.so")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("names no token"), "{msg}");
        assert!(msg.contains("pkcs11:token=TOKEN;object=LABEL"), "{msg}");
    }
}
