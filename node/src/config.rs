//! Node configuration: a TOML file parsed into raw structs that reject
//! unknown keys, then validated into a typed [`NodeConfig`].
//!
//! Every error names the file, the key and what was expected. Relative paths
//! in the file are resolved against the file's own directory, so a
//! configuration directory can be moved as a whole.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use credex_protocol::{FrameLimit, NodeName, RegionCode};
use serde::Deserialize;

mod limits;

pub use limits::IngressLimits;

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

/// The role a node plays in the federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    /// A provincial or city credit centre's node.
    Provincial,
    /// The national credit information sharing platform's node (region 000000).
    National,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Human,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    node: RawNode,
    tls: RawTls,
    listen: RawListen,
    #[serde(default)]
    transport: RawTransport,
    #[serde(default)]
    storage: RawStorage,
    #[serde(default)]
    log: RawLog,
    #[serde(default)]
    policy: RawPolicy,
    #[serde(default)]
    peers: Vec<RawPeer>,
    #[serde(default)]
    upward: RawUpward,
    #[serde(default)]
    metrics: RawMetrics,
    #[serde(default)]
    pseudonyms: RawPseudonyms,
    #[serde(default)]
    limits: limits::RawLimits,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPseudonyms {
    keys: Option<PathBuf>,
    vault_key: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawUpward {
    enabled: Option<bool>,
    reporting_list: Option<PathBuf>,
    holidays: Option<PathBuf>,
    batch_size: Option<u32>,
    max_in_flight: Option<u32>,
    interval_ms: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    listen: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    file: Option<PathBuf>,
    catalogue_supplement: Option<PathBuf>,
    groups: Option<PathBuf>,
    max_clock_skew_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    region: String,
    name: String,
    role: Option<NodeRole>,
    data_dir: PathBuf,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTls {
    cert: PathBuf,
    key: PathBuf,
    root: PathBuf,
    #[serde(default)]
    crls: Vec<PathBuf>,
    crl_reload_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListen {
    addr: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTransport {
    idle_timeout_ms: Option<u64>,
    keep_alive_ms: Option<u64>,
    handshake_timeout_ms: Option<u64>,
    request_timeout_ms: Option<u64>,
    max_connections: Option<u32>,
    max_connections_per_peer: Option<u32>,
    max_streams_per_connection: Option<u32>,
    max_frame_bytes: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawStorage {
    url: Option<String>,
    schema: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLog {
    format: Option<LogFormat>,
    level: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPeer {
    region: String,
    name: String,
    addr: String,
    server_name: Option<String>,
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
}

/// Where the keys that name natural persons are (`[pseudonyms]`,
/// docs/decisions/0630-pseudonym-key.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PseudonymConfig {
    /// The federation's pseudonymization key ring (`keys`, mode 0600).
    /// Without it the node cannot import natural persons' records, and
    /// refuses to start if it holds any.
    pub keys: Option<PathBuf>,
    /// The node-local vault key (`vault_key`, mode 0600; created at the
    /// first import). Default: `subject-vault.key` in the data directory.
    /// Every process of one node (PostgreSQL) must use the same file.
    pub vault_key: PathBuf,
}

/// Upward reporting (数据报送, `[upward]`): whether and how this provincial
/// node reports its records to the national node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpwardConfig {
    /// Report upward (provincial nodes only; a peer of region 000000 must
    /// be configured).
    pub enabled: bool,
    /// The reporting list (数据报送清单); the built-in list when absent.
    pub reporting_list: Option<PathBuf>,
    /// The working-day calendar (工作日历) with the holidays; the built-in
    /// 2026 calendar when absent.
    pub holidays: Option<PathBuf>,
    /// Most records per batch (1 ..= 500).
    pub batch_size: u32,
    /// Most batches sent and not yet acknowledged (backpressure, 1 ..= 64).
    pub max_in_flight: u32,
    /// How often the node looks for newly imported records.
    pub interval: Duration,
}

impl Default for UpwardConfig {
    fn default() -> Self {
        UpwardConfig {
            enabled: false,
            reporting_list: None,
            holidays: None,
            batch_size: 500,
            max_in_flight: 4,
            interval: Duration::from_secs(1),
        }
    }
}

/// The metrics endpoint (`[metrics]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The TCP address `GET /metrics` is served on (Prometheus text
    /// format); no endpoint when absent. Keep it on a local or management
    /// interface: it has no authentication.
    pub listen: Option<SocketAddr>,
}

/// Where the node's sharing policy (共享策略) comes from.
#[derive(Debug, Clone)]
pub struct PolicyFiles {
    /// The policy TOML. Without one the node answers every query with a
    /// denial (deny by default).
    pub file: Option<PathBuf>,
    /// A province's supplementary catalogue, layered on the base catalogue.
    pub catalogue_supplement: Option<PathBuf>,
    /// Agreement groups; the built-in groups when absent.
    pub groups: Option<PathBuf>,
    /// How far a request's signing time may be from this node's clock.
    pub max_clock_skew: Duration,
}

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

/// Transport timeouts and caps, each within a sane range.
#[derive(Debug, Clone)]
pub struct TransportLimits {
    /// Close a connection after this long without traffic (both peers' minimum applies).
    pub idle_timeout: Duration,
    /// Send keep-alives this often; always below the idle timeout.
    pub keep_alive: Duration,
    /// Give up a handshake after this long.
    pub handshake_timeout: Duration,
    /// Give up reading or answering one request after this long.
    pub request_timeout: Duration,
    /// Most concurrent inbound connections in all.
    pub max_connections: u32,
    /// Most concurrent inbound connections from one peer node.
    pub max_connections_per_peer: u32,
    /// Most concurrent request streams a peer may open on one connection.
    pub max_streams_per_connection: u32,
    /// Largest frame accepted, checked before allocation.
    pub max_frame: FrameLimit,
    /// Per-peer quotas and the frame memory budget (`[limits]`).
    pub ingress: IngressLimits,
}

impl Default for TransportLimits {
    fn default() -> Self {
        TransportLimits {
            idle_timeout: Duration::from_secs(30),
            keep_alive: Duration::from_secs(10),
            handshake_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_connections: 1024,
            max_connections_per_peer: 8,
            max_streams_per_connection: 256,
            max_frame: FrameLimit::DEFAULT,
            ingress: IngressLimits::default(),
        }
    }
}

/// Where the node stores its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorageTarget {
    /// An embedded SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database, optionally in its own schema.
    Postgres {
        /// `postgres://` URL.
        url: String,
        /// Schema to use (created if absent).
        schema: Option<String>,
    },
}

/// A peer node this node dials.
#[derive(Debug, Clone)]
pub struct PeerConfig {
    /// The peer's region; its certificate must name it.
    pub region: RegionCode,
    /// The peer's node name; its certificate must name it.
    pub name: NodeName,
    /// UDP address of the peer's endpoint.
    pub addr: SocketAddr,
    /// TLS server name sent as SNI (a stable logical name, not an IP).
    pub server_name: String,
}

/// The logical TLS server name of a node: `NAME.REGION.credex`.
pub fn logical_server_name(region: RegionCode, name: &NodeName) -> String {
    format!("{name}.{region}.credex")
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
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: path.to_owned(),
            key: key.to_owned(),
            reason,
        };
        let resolve = |p: &Path| {
            if p.is_absolute() {
                p.to_owned()
            } else {
                base.join(p)
            }
        };

        let region: RegionCode = raw
            .node
            .region
            .parse()
            .map_err(|e| invalid("node.region", format!("{e}")))?;
        let name: NodeName = raw
            .node
            .name
            .parse()
            .map_err(|e| invalid("node.name", format!("{e}")))?;
        let role = raw.node.role.unwrap_or(if region.is_national() {
            NodeRole::National
        } else {
            NodeRole::Provincial
        });
        match (role, region.is_national()) {
            (NodeRole::National, false) => {
                return Err(invalid(
                    "node.role",
                    format!("the national role needs region 000000, not {region}"),
                ));
            }
            (NodeRole::Provincial, true) => {
                return Err(invalid(
                    "node.role",
                    "region 000000 is the national platform; its role must be \"national\"".into(),
                ));
            }
            _ => {}
        }
        let data_dir = resolve(&raw.node.data_dir);

        let listen: SocketAddr = raw.listen.addr.parse().map_err(|_| {
            invalid(
                "listen.addr",
                format!(
                    "{:?} is not an IP address with a port, e.g. \"127.0.0.1:7401\"",
                    raw.listen.addr
                ),
            )
        })?;

        let d = TransportLimits::default();
        let t = &raw.transport;
        let ms = |key: &str, v: Option<u64>, default: Duration, min: u64, max: u64| match v {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(Duration::from_millis(v)),
            Some(v) => Err(invalid(key, format!("{v} ms is outside {min}..={max} ms"))),
        };
        let count = |key: &str, v: Option<u32>, default: u32, max: u32| match v {
            None => Ok(default),
            Some(v) if (1..=max).contains(&v) => Ok(v),
            Some(v) => Err(invalid(key, format!("{v} is outside 1..={max}"))),
        };
        let idle_timeout = ms(
            "transport.idle_timeout_ms",
            t.idle_timeout_ms,
            d.idle_timeout,
            1_000,
            600_000,
        )?;
        let keep_alive = ms(
            "transport.keep_alive_ms",
            t.keep_alive_ms,
            d.keep_alive,
            100,
            300_000,
        )?;
        let keep_alive = if t.keep_alive_ms.is_none() {
            keep_alive.min(idle_timeout / 3)
        } else {
            keep_alive
        };
        if keep_alive >= idle_timeout {
            return Err(invalid(
                "transport.keep_alive_ms",
                format!(
                    "{} ms must be below transport.idle_timeout_ms ({} ms), or idle peers are dropped",
                    keep_alive.as_millis(),
                    idle_timeout.as_millis()
                ),
            ));
        }
        let max_frame = match t.max_frame_bytes {
            None => d.max_frame,
            Some(b) => FrameLimit::new(b)
                .map_err(|e| invalid("transport.max_frame_bytes", e.to_string()))?,
        };
        let transport = TransportLimits {
            idle_timeout,
            keep_alive,
            handshake_timeout: ms(
                "transport.handshake_timeout_ms",
                t.handshake_timeout_ms,
                d.handshake_timeout,
                100,
                120_000,
            )?,
            request_timeout: ms(
                "transport.request_timeout_ms",
                t.request_timeout_ms,
                d.request_timeout,
                100,
                600_000,
            )?,
            max_connections: count(
                "transport.max_connections",
                t.max_connections,
                d.max_connections,
                100_000,
            )?,
            max_connections_per_peer: count(
                "transport.max_connections_per_peer",
                t.max_connections_per_peer,
                d.max_connections_per_peer,
                1_000,
            )?,
            max_streams_per_connection: count(
                "transport.max_streams_per_connection",
                t.max_streams_per_connection,
                d.max_streams_per_connection,
                10_000,
            )?,
            max_frame,
            ingress: limits::parse(&raw.limits, max_frame, invalid)?,
        };

        let tls = TlsFiles {
            cert: resolve(&raw.tls.cert),
            key: resolve(&raw.tls.key),
            root: resolve(&raw.tls.root),
            crls: raw.tls.crls.iter().map(|p| resolve(p)).collect(),
            crl_reload: ms(
                "tls.crl_reload_ms",
                raw.tls.crl_reload_ms,
                Duration::from_secs(5),
                100,
                3_600_000,
            )?,
        };

        let storage = match raw.storage.url.as_deref() {
            None => {
                if raw.storage.schema.is_some() {
                    return Err(invalid(
                        "storage.schema",
                        "a schema needs a postgres:// storage.url".into(),
                    ));
                }
                StorageTarget::Sqlite(data_dir.join("credex.db"))
            }
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                StorageTarget::Postgres {
                    url: url.to_owned(),
                    schema: raw.storage.schema.clone(),
                }
            }
            Some(url) if url.starts_with("sqlite:") => {
                if raw.storage.schema.is_some() {
                    return Err(invalid(
                        "storage.schema",
                        "a schema needs a postgres:// storage.url".into(),
                    ));
                }
                let p = url
                    .trim_start_matches("sqlite://")
                    .trim_start_matches("sqlite:");
                StorageTarget::Sqlite(resolve(Path::new(p)))
            }
            Some(_) => {
                return Err(invalid(
                    "storage.url",
                    "expected \"sqlite:PATH\" or a \"postgres://\" URL".into(),
                ));
            }
        };

        let policy = PolicyFiles {
            file: raw.policy.file.as_deref().map(resolve),
            catalogue_supplement: raw.policy.catalogue_supplement.as_deref().map(resolve),
            groups: raw.policy.groups.as_deref().map(resolve),
            max_clock_skew: ms(
                "policy.max_clock_skew_ms",
                raw.policy.max_clock_skew_ms,
                Duration::from_secs(300),
                1_000,
                3_600_000,
            )?,
        };

        let log_level = raw.log.level.clone().unwrap_or_else(|| "info".into());
        if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
            return Err(invalid(
                "log.level",
                format!(
                    "{log_level:?} is not a tracing filter such as \"info\" or \"credex_node=debug\""
                ),
            ));
        }

        let mut peers = Vec::with_capacity(raw.peers.len());
        for (i, p) in raw.peers.iter().enumerate() {
            let key = |k: &str| format!("peers[{i}].{k}");
            let peer_region: RegionCode = p
                .region
                .parse()
                .map_err(|e| invalid(&key("region"), format!("{e}")))?;
            let peer_name: NodeName = p
                .name
                .parse()
                .map_err(|e| invalid(&key("name"), format!("{e}")))?;
            let addr: SocketAddr = p.addr.parse().map_err(|_| {
                invalid(
                    &key("addr"),
                    format!("{:?} is not an IP address with a port", p.addr),
                )
            })?;
            if peer_region == region && peer_name == name {
                return Err(invalid(
                    &key("name"),
                    "a node cannot list itself as a peer".into(),
                ));
            }
            if peers
                .iter()
                .any(|q: &PeerConfig| q.region == peer_region && q.name == peer_name)
            {
                return Err(invalid(
                    &key("name"),
                    format!("peer {peer_name} of region {peer_region} is listed twice"),
                ));
            }
            let server_name = p
                .server_name
                .clone()
                .unwrap_or_else(|| logical_server_name(peer_region, &peer_name));
            if rustls_pki_types::ServerName::try_from(server_name.clone()).is_err() {
                return Err(invalid(
                    &key("server_name"),
                    format!("{server_name:?} is not a valid DNS name"),
                ));
            }
            peers.push(PeerConfig {
                region: peer_region,
                name: peer_name,
                addr,
                server_name,
            });
        }

        let du = UpwardConfig::default();
        let u = &raw.upward;
        let upward = UpwardConfig {
            enabled: u.enabled.unwrap_or(false),
            reporting_list: u.reporting_list.as_deref().map(resolve),
            holidays: u.holidays.as_deref().map(resolve),
            batch_size: count("upward.batch_size", u.batch_size, du.batch_size, 500)?,
            max_in_flight: count(
                "upward.max_in_flight",
                u.max_in_flight,
                du.max_in_flight,
                64,
            )?,
            interval: ms(
                "upward.interval_ms",
                u.interval_ms,
                du.interval,
                50,
                600_000,
            )?,
        };
        if upward.enabled {
            if role == NodeRole::National {
                return Err(invalid(
                    "upward.enabled",
                    "the national node receives upward reports; it does not send them".into(),
                ));
            }
            if !peers.iter().any(|p: &PeerConfig| p.region.is_national()) {
                return Err(invalid(
                    "upward.enabled",
                    "upward reporting needs a [[peers]] entry of region 000000 (the national node)"
                        .into(),
                ));
            }
        }
        let pseudonyms = PseudonymConfig {
            keys: raw.pseudonyms.keys.as_deref().map(resolve),
            vault_key: raw
                .pseudonyms
                .vault_key
                .as_deref()
                .map_or_else(|| data_dir.join("subject-vault.key"), resolve),
        };
        let metrics = MetricsConfig {
            listen: match &raw.metrics.listen {
                None => None,
                Some(addr) => Some(addr.parse().map_err(|_| {
                    invalid(
                        "metrics.listen",
                        format!(
                            "{addr:?} is not an IP address with a port, e.g. \"127.0.0.1:9401\""
                        ),
                    )
                })?),
            },
        };

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
            log_format: raw.log.format.unwrap_or_default(),
            log_level,
            policy,
            peers,
            upward,
            metrics,
            pseudonyms,
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
