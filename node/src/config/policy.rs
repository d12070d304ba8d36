//! `[policy]`: where the node's sharing policy (共享策略) and the files it
//! builds on are, and how far a request's signing time may be from this
//! node's clock.
//!
//! Owns: [`PolicyFiles`]. Does not load or validate the policy itself
//! (`credex-policies`, at start).

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

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
    /// The province's tightened publication periods and objection and
    /// repair deadlines (decision 0920); the national defaults when absent.
    pub rights: Option<PathBuf>,
}

/// The raw `[policy]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    file: Option<PathBuf>,
    catalogue_supplement: Option<PathBuf>,
    groups: Option<PathBuf>,
    max_clock_skew_ms: Option<u64>,
    rights: Option<PathBuf>,
}

/// `[policy]` with its paths resolved.
pub(super) fn parse(raw: &RawPolicy, values: &Values<'_>) -> Result<PolicyFiles, ConfigError> {
    Ok(PolicyFiles {
        file: raw.file.as_deref().map(|p| values.resolve(p)),
        catalogue_supplement: raw
            .catalogue_supplement
            .as_deref()
            .map(|p| values.resolve(p)),
        groups: raw.groups.as_deref().map(|p| values.resolve(p)),
        max_clock_skew: values.millis(
            "policy.max_clock_skew_ms",
            raw.max_clock_skew_ms,
            Duration::from_secs(300),
            1_000,
            3_600_000,
        )?,
        rights: raw.rights.as_deref().map(|p| values.resolve(p)),
    })
}
