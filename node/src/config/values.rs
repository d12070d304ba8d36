//! The checks every section shares: an error that names the file and the
//! dotted key, durations in milliseconds and counts within a range, and
//! paths resolved against the configuration file's own directory.
//!
//! Owns: [`Values`]. Does not own any section's keys or defaults.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::ConfigError;

/// The file being validated: names it in errors and anchors relative paths.
pub(super) struct Values<'a> {
    path: &'a Path,
    base: &'a Path,
}

impl<'a> Values<'a> {
    /// Checks for the configuration read from `path`.
    pub(super) fn new(path: &'a Path) -> Self {
        Values {
            path,
            base: path.parent().unwrap_or(Path::new(".")),
        }
    }

    /// The error for `key`, saying what was expected.
    pub(super) fn invalid(&self, key: &str, reason: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_owned(),
            key: key.to_owned(),
            reason,
        }
    }

    /// `p`, or `p` under the configuration file's directory when relative.
    pub(super) fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base.join(p)
        }
    }

    /// A duration given in milliseconds, `default` when absent, else within
    /// `min..=max` ms.
    pub(super) fn millis(
        &self,
        key: &str,
        v: Option<u64>,
        default: Duration,
        min: u64,
        max: u64,
    ) -> Result<Duration, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) if (min..=max).contains(&v) => Ok(Duration::from_millis(v)),
            Some(v) => Err(self.invalid(key, format!("{v} ms is outside {min}..={max} ms"))),
        }
    }

    /// A count, `default` when absent, else within `1..=max`.
    pub(super) fn count(
        &self,
        key: &str,
        v: Option<u32>,
        default: u32,
        max: u32,
    ) -> Result<u32, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) if (1..=max).contains(&v) => Ok(v),
            Some(v) => Err(self.invalid(key, format!("{v} is outside 1..={max}"))),
        }
    }
}
