//! `[log]` and `[metrics]`: how the node reports on itself — the tracing
//! output format and filter, and the Prometheus endpoint.
//!
//! Owns: [`LogFormat`], [`MetricsConfig`] and the check that the level is a
//! tracing filter. Does not own the transparency log (`crate::log`) nor the
//! metrics themselves (`crate::metrics`).

use std::net::SocketAddr;

use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

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

/// The metrics endpoint (`[metrics]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MetricsConfig {
    /// The TCP address `GET /metrics` is served on (Prometheus text
    /// format); no endpoint when absent. Keep it on a local or management
    /// interface: it has no authentication.
    pub listen: Option<SocketAddr>,
}

/// The raw `[log]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub(super) format: Option<LogFormat>,
    level: Option<String>,
}

/// The raw `[metrics]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    listen: Option<String>,
}

/// `log.level`: a tracing filter, `info` when absent.
pub(super) fn log_level(raw: &RawLog, values: &Values<'_>) -> Result<String, ConfigError> {
    let log_level = raw.level.clone().unwrap_or_else(|| "info".into());
    if tracing_subscriber::EnvFilter::try_new(&log_level).is_err() {
        return Err(values.invalid(
            "log.level",
            format!(
                "{log_level:?} is not a tracing filter such as \"info\" or \"credex_node=debug\""
            ),
        ));
    }
    Ok(log_level)
}

/// `[metrics]`: the endpoint's address, if any.
pub(super) fn metrics(raw: &RawMetrics, values: &Values<'_>) -> Result<MetricsConfig, ConfigError> {
    let listen = match &raw.listen {
        None => None,
        Some(addr) => Some(addr.parse().map_err(|_| {
            values.invalid(
                "metrics.listen",
                format!("{addr:?} is not an IP address with a port, e.g. \"127.0.0.1:9401\""),
            )
        })?),
    };
    Ok(MetricsConfig { listen })
}
