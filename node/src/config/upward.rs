//! `[upward]`: whether and how a provincial node reports its records to the
//! national node (数据报送) — the reporting list, the holiday calendar,
//! batch size, backpressure and polling interval.
//!
//! Owns: [`UpwardConfig`] and the rule that only a provincial node with a
//! national peer may enable it. Does not own the reporting itself
//! (`crate::upward`).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::identity::NodeRole;
use super::peers::PeerConfig;
use super::values::Values;

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

/// The raw `[upward]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUpward {
    enabled: Option<bool>,
    reporting_list: Option<PathBuf>,
    holidays: Option<PathBuf>,
    batch_size: Option<u32>,
    max_in_flight: Option<u32>,
    interval_ms: Option<u64>,
}

/// `[upward]` for a node of `role` with `peers`.
pub(super) fn parse(
    u: &RawUpward,
    role: NodeRole,
    peers: &[PeerConfig],
    values: &Values<'_>,
) -> Result<UpwardConfig, ConfigError> {
    let du = UpwardConfig::default();
    let upward = UpwardConfig {
        enabled: u.enabled.unwrap_or(false),
        reporting_list: u.reporting_list.as_deref().map(|p| values.resolve(p)),
        holidays: u.holidays.as_deref().map(|p| values.resolve(p)),
        batch_size: values.count("upward.batch_size", u.batch_size, du.batch_size, 500)?,
        max_in_flight: values.count(
            "upward.max_in_flight",
            u.max_in_flight,
            du.max_in_flight,
            64,
        )?,
        interval: values.millis(
            "upward.interval_ms",
            u.interval_ms,
            du.interval,
            50,
            600_000,
        )?,
    };
    if upward.enabled {
        if role == NodeRole::National {
            return Err(values.invalid(
                "upward.enabled",
                "the national node receives upward reports; it does not send them".into(),
            ));
        }
        if !peers.iter().any(|p| p.region.is_national()) {
            return Err(values.invalid(
                "upward.enabled",
                "upward reporting needs a [[peers]] entry of region 000000 (the national node)"
                    .into(),
            ));
        }
    }
    Ok(upward)
}
