//! Node configuration: a TOML file parsed into raw structs that reject
//! unknown keys, then validated into a typed [`NodeConfig`].
//!
//! Every error names the file, the key and what was expected. Relative paths
//! in the file are resolved against the file's own directory, so a
//! configuration directory can be moved as a whole.
//!
//! One module per section, each owning its typed value, its raw table and
//! its checks: `identity` (`[node]`), `transport` (`[listen]`,
//! `[transport]`), [`limits`](IngressLimits) (`[limits]`), `tls`,
//! `storage`, `policy`, `peers` (`[[peers]]`), `upward`, `pseudonyms`,
//! `observability` (`[log]`, `[metrics]`), `gateway`; `values` holds the checks they
//! share. This file holds the whole file's shape, the error and the order
//! in which sections are validated.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use credex_protocol::{NodeName, RegionCode};
use serde::Deserialize;

mod gateway;
mod identity;
mod limits;
mod observability;
mod peers;
mod policy;
mod pseudonyms;
mod storage;
mod tls;
mod transport;
mod upward;
mod values;

pub use gateway::{ConsoleConfig, GatewayConfig, WebIdentityFiles};
pub use identity::NodeRole;
pub use limits::IngressLimits;
pub use observability::{LogFormat, MetricsConfig};
pub use peers::{PeerConfig, logical_server_name};
pub use policy::PolicyFiles;
pub use pseudonyms::PseudonymConfig;
pub use storage::StorageTarget;
pub use tls::{ModuleKeyConfig, PIN_ENV, PinSource, SigningFiles, TlsFiles};
pub use transport::TransportLimits;
pub use upward::UpwardConfig;

use values::Values;

/// A configuration file that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read configuration: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value of the wrong type.
    #[error("{path}: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// The parser's message, which names the line, column and key.
        message: String,
    },
    /// A key has a value outside what it accepts.
    #[error("{path}: key `{key}`: {reason}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// The dotted key, e.g. `transport.idle_timeout_ms`.
        key: String,
        /// What was expected.
        reason: String,
    },
}

/// The whole file: one table per section, unknown keys refused.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: identity::RawNode,
    tls: tls::RawTls,
    listen: transport::RawListen,
    #[serde(default)]
    transport: transport::RawTransport,
    #[serde(default)]
    storage: storage::RawStorage,
    #[serde(default)]
    log: observability::RawLog,
    #[serde(default)]
    policy: policy::RawPolicy,
    #[serde(default)]
    peers: Vec<peers::RawPeer>,
    #[serde(default)]
    upward: upward::RawUpward,
    #[serde(default)]
    metrics: observability::RawMetrics,
    #[serde(default)]
    pseudonyms: pseudonyms::RawPseudonyms,
    #[serde(default)]
    limits: limits::RawLimits,
    #[serde(default)]
    gateway: gateway::RawGateway,
    #[serde(default)]
    console: gateway::RawConsole,
}

/// A validated node configuration.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// The file it came from.
    pub path: PathBuf,
    /// This node's region.
    pub region: RegionCode,
    /// This node's name within its region.
    pub name: NodeName,
    /// Provincial or national.
    pub role: NodeRole,
    /// Where the node keeps its database and state.
    pub data_dir: PathBuf,
    /// Certificates and keys.
    pub tls: TlsFiles,
    /// The UDP address the QUIC endpoint binds.
    pub listen: SocketAddr,
    /// Timeouts and caps.
    pub transport: TransportLimits,
    /// Where records and logs are stored.
    pub storage: StorageTarget,
    /// The key-encryption key file of encryption at rest
    /// (`[storage] key_encryption_key`); none: values are stored in clear.
    pub key_encryption_key: Option<PathBuf>,
    /// Log output.
    pub log_format: LogFormat,
    /// Default tracing filter, e.g. `info` or `credex_node=debug`.
    pub log_level: String,
    /// The sharing policy and the files it builds on.
    pub policy: PolicyFiles,
    /// The peers this node knows how to reach.
    pub peers: Vec<PeerConfig>,
    /// Upward reporting to the national platform (`[upward]`).
    pub upward: UpwardConfig,
    /// The Prometheus metrics endpoint (`[metrics]`).
    pub metrics: MetricsConfig,
    /// Keys that name natural persons (`[pseudonyms]`).
    pub pseudonyms: PseudonymConfig,
    /// The integration gateway (`[gateway]`); none when absent.
    pub gateway: Option<GatewayConfig>,
    /// The web console (`[console]`); none when `listen` is absent.
    pub console: Option<ConsoleConfig>,
}

impl NodeConfig {
    /// Read and validate a configuration file.
    pub fn load(path: &Path) -> Result<NodeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Validate configuration text as if read from `path` (which names it in
    /// errors and anchors relative paths).
    ///
    /// Sections are validated in a fixed order and the first invalid key is
    /// reported.
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let values = Values::new(path);
        let (region, name, role) = identity::parse(&raw.node, &values)?;
        let data_dir = values.resolve(&raw.node.data_dir);
        let listen: SocketAddr = transport::listen(&raw.listen, &values)?;
        let transport = transport::parse(&raw.transport, &raw.limits, &values)?;
        let tls = tls::parse(&raw.tls, &values)?;
        let storage = storage::parse(&raw.storage, &data_dir, &values)?;
        let key_encryption_key = storage::key_encryption_key(&raw.storage, &values);
        let policy = policy::parse(&raw.policy, &values)?;
        let log_level = observability::log_level(&raw.log, &values)?;
        let peers = peers::parse(&raw.peers, region, &name, &values)?;
        let upward = upward::parse(&raw.upward, role, &peers, &values)?;
        let pseudonyms = pseudonyms::parse(&raw.pseudonyms, &data_dir, &values);
        let metrics = observability::metrics(&raw.metrics, &values)?;
        let gateway = gateway::parse(&raw.gateway, &values)?;
        let console = gateway::parse_console(&raw.console, &values)?;

        Ok(NodeConfig {
            path: path.to_owned(),
            region,
            name,
            role,
            data_dir,
            tls,
            listen,
            transport,
            storage,
            key_encryption_key,
            log_format: raw.log.format.unwrap_or_default(),
            log_level,
            policy,
            peers,
            upward,
            metrics,
            pseudonyms,
            gateway,
            console,
        })
    }

    /// The peer with this region and name, if configured.
    pub fn peer(&self, region: RegionCode, name: &NodeName) -> Option<&PeerConfig> {
        self.peers
            .iter()
            .find(|p| p.region == region && &p.name == name)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const GOOD: &str = r#"
[node]
region = "520000"
name = "gy-1"
data_dir = "data"

[tls]
cert = "certs/node.pem"
key = "certs/node.key"
root = "certs/root.pem"
crls = ["crl/520000.pem"]

[listen]
addr = "127.0.0.1:7401"

[transport]
idle_timeout_ms = 20000

[[peers]]
region = "500000"
name = "cq-1"
addr = "127.0.0.1:7402"
"#;

    fn parse(text: &str) -> Result<NodeConfig, ConfigError> {
        NodeConfig::parse(text, Path::new("/etc/credex/node.toml"))
    }

    #[test]
    fn good_config_resolves_paths_and_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.region.to_string(), "520000");
        assert_eq!(c.role, NodeRole::Provincial);
        assert_eq!(c.tls.cert, Path::new("/etc/credex/certs/node.pem"));
        assert_eq!(
            c.storage,
            StorageTarget::Sqlite("/etc/credex/data/credex.db".into())
        );
        assert_eq!(c.transport.idle_timeout, Duration::from_secs(20));
        assert!(c.transport.keep_alive < c.transport.idle_timeout);
        assert_eq!(c.peers[0].server_name, "cq-1.500000.credex");
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = GOOD.replace(
            "idle_timeout_ms = 20000",
            "idle_timeout_ms = 20000\nidel = 1",
        );
        let msg = parse(&text).unwrap_err().to_string();
        assert!(msg.starts_with("/etc/credex/node.toml"), "{msg}");
        assert!(msg.contains("idel"), "{msg}");
        assert!(msg.contains("line"), "{msg}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let cases = [
            (
                GOOD.replace("\"520000\"\nname", "\"52000\"\nname"),
                "node.region",
            ),
            (GOOD.replace("gy-1", "GY_1"), "node.name"),
            (GOOD.replace("127.0.0.1:7401", "localhost"), "listen.addr"),
            (
                GOOD.replace("idle_timeout_ms = 20000", "idle_timeout_ms = 5"),
                "transport.idle_timeout_ms",
            ),
            (
                GOOD.replace(
                    "idle_timeout_ms = 20000",
                    "idle_timeout_ms = 5000\nkeep_alive_ms = 6000",
                ),
                "transport.keep_alive_ms",
            ),
            (
                GOOD.replace("idle_timeout_ms = 20000", "max_frame_bytes = 10"),
                "transport.max_frame_bytes",
            ),
            (
                GOOD.replace("\"500000\"", "\"520000\"")
                    .replace("cq-1", "gy-1"),
                "peers[0].name",
            ),
            (
                GOOD.replace(
                    "data_dir = \"data\"",
                    "data_dir = \"data\"\nrole = \"national\"",
                ),
                "node.role",
            ),
        ];
        for (text, key) in cases {
            let msg = parse(&text).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("key `{key}`")),
                "expected key {key}: {msg}"
            );
        }
    }

    #[test]
    fn missing_file_is_reported_with_path() {
        let msg = NodeConfig::load(Path::new("/nonexistent/credex.toml"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("/nonexistent/credex.toml"), "{msg}");
    }

    #[test]
    fn upward_and_metrics_sections_are_validated() {
        let national =
            "\n[[peers]]\nregion = \"000000\"\nname = \"national-1\"\naddr = \"127.0.0.1:7404\"\n";
        let text = format!(
            "{GOOD}{national}\n[upward]\nenabled = true\nholidays = \"cal.toml\"\nbatch_size = 100\nmax_in_flight = 2\n\n[metrics]\nlisten = \"127.0.0.1:9401\"\n"
        );
        let c = parse(&text).unwrap();
        assert!(c.upward.enabled);
        assert_eq!(c.upward.batch_size, 100);
        assert_eq!(c.upward.max_in_flight, 2);
        assert_eq!(
            c.upward.holidays.as_deref(),
            Some(Path::new("/etc/credex/cal.toml"))
        );
        assert_eq!(c.metrics.listen, Some("127.0.0.1:9401".parse().unwrap()));
        let d = parse(GOOD).unwrap();
        assert!(!d.upward.enabled && d.metrics.listen.is_none());
        assert_eq!(d.gateway, None);
        let g = parse(&format!("{GOOD}\n[gateway]\nlisten = \"127.0.0.1:8443\"\n")).unwrap();
        assert_eq!(
            g.gateway,
            Some(GatewayConfig::on("127.0.0.1:8443".parse().unwrap()))
        );
        let w = parse(&format!(
            "{GOOD}\n[gateway]\nlisten = \"127.0.0.1:8443\"\ncertificate = \"web/gw.pem\"\nkey = \"web/gw.key\"\n"
        ))
        .unwrap();
        let web = w.gateway.unwrap().web_identity.unwrap();
        assert_eq!(web.certificate, Path::new("/etc/credex/web/gw.pem"));
        assert_eq!(web.key, Path::new("/etc/credex/web/gw.key"));
        assert_eq!(d.pseudonyms.keys, None);
        assert_eq!(
            d.pseudonyms.vault_key,
            Path::new("/etc/credex/data/subject-vault.key")
        );
        let p = parse(&format!("{GOOD}\n[pseudonyms]\nkeys = \"keys/ring.txt\"\n")).unwrap();
        assert_eq!(
            p.pseudonyms.keys.as_deref(),
            Some(Path::new("/etc/credex/keys/ring.txt"))
        );
        let msg = parse(&format!("{GOOD}\n[pseudonyms]\nkey = \"ring.txt\"\n"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("key") && msg.contains("line"), "{msg}");
        assert_eq!(d.upward.batch_size, 500);

        let cases = [
            (
                format!("{GOOD}{national}\n[upward]\nbatch_size = 501\n"),
                "upward.batch_size",
            ),
            (
                format!("{GOOD}{national}\n[upward]\nmax_in_flight = 0\n"),
                "upward.max_in_flight",
            ),
            (
                format!("{GOOD}\n[upward]\nenabled = true\n"),
                "upward.enabled",
            ),
            (
                format!("{GOOD}\n[metrics]\nlisten = \"localhost\"\n"),
                "metrics.listen",
            ),
            (
                format!("{GOOD}\n[gateway]\nlisten = \"localhost:8443\"\n"),
                "gateway.listen",
            ),
            (
                format!("{GOOD}\n[gateway]\nmax_connections = 4\n"),
                "gateway.listen",
            ),
            (
                format!("{GOOD}\n[console]\nlisten = \"8444\"\n"),
                "console.listen",
            ),
            (
                format!("{GOOD}\n[gateway]\nlisten = \"127.0.0.1:8443\"\nheader_timeout_ms = 1\n"),
                "gateway.header_timeout_ms",
            ),
            (
                format!(
                    "{GOOD}\n[gateway]\nlisten = \"127.0.0.1:8443\"\ncertificate = \"web.pem\"\n"
                ),
                "gateway.key",
            ),
            (
                format!("{GOOD}\n[console]\nlisten = \"127.0.0.1:8444\"\nkey = \"web.key\"\n"),
                "console.certificate",
            ),
        ];
        for (text, key) in cases {
            let msg = parse(&text).unwrap_err().to_string();
            assert!(
                msg.contains(&format!("key `{key}`")),
                "expected key {key}: {msg}"
            );
        }
        let msg = parse(&format!("{GOOD}\n[upward]\nbatch = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(msg.contains("batch") && msg.contains("line"), "{msg}");
    }
}
