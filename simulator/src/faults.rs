//! Faults on a schedule: `KIND:NODES@START[+DURATION]`, e.g.
//! `kill:gz-1@10s+5s`, `partition:gy-1,gz-1@20s+5s`, `revoke:cq-1@30s`,
//! `malicious:gy-1@5s+10s`; or a TOML scenario file:
//!
//! ```toml
//! [[fault]]
//! spec = "kill:gz-1@10s+5s"
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// Stop the node abruptly (its endpoint closes, in-flight requests
    /// fail), then start it again on the same port and database.
    Kill {
        /// The node.
        node: String,
    },
    /// Drop every datagram between two nodes (through the relay both dial).
    Partition {
        /// One side.
        a: String,
        /// The other side.
        b: String,
    },
    /// Revoke the node's certificate (its region CA's CRL) and have every
    /// node reload its CRLs: its connections close and new ones are refused.
    Revoke {
        /// The node.
        node: String,
    },
    /// The node also sends over-asking, forged and replayed queries and
    /// consents of the wrong authority or attached late, floods one peer
    /// past its quota, and, after the run, its operator rewrites its log
    /// and appends a verbatim copy of a release entry
    /// ([`crate::malicious`]).
    Malicious {
        /// The node.
        node: String,
    },
}

/// One fault and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fault {
    /// What.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// When, from the start of the measured run.
    #[serde(with = "secs")]
    pub at: Duration,
    /// For how long (kill: until the restart; revoke: ignored, permanent).
    #[serde(with = "secs")]
    pub duration: Duration,
}

mod secs {
    use std::time::Duration;

    pub fn serialize<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
}

/// A fault specification that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("fault {spec:?}: {reason} (expected KIND:NODES@START[+DURATION], e.g. kill:gz-1@10s+5s)")]
pub struct FaultError {
    /// The text.
    pub spec: String,
    /// What was wrong.
    pub reason: String,
}

fn duration(text: &str) -> Option<Duration> {
    let t = text.trim();
    let (num, scale) = if let Some(ms) = t.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = t.strip_suffix('s') {
        (s, 1.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && (0.0..=86_400.0).contains(&v)).then(|| Duration::from_secs_f64(v * scale))
}

impl std::str::FromStr for Fault {
    type Err = FaultError;

    fn from_str(spec: &str) -> Result<Fault, FaultError> {
        let fail = |reason: &str| FaultError {
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (kind, rest) = spec.split_once(':').ok_or_else(|| fail("no ':'"))?;
        let (nodes, when) = rest.split_once('@').ok_or_else(|| fail("no '@'"))?;
        let (at, dur) = match when.split_once('+') {
            Some((a, d)) => (a, Some(d)),
            None => (when, None),
        };
        let at = duration(at).ok_or_else(|| fail("start is not a duration like 10s"))?;
        let dur = match dur {
            Some(d) => Some(duration(d).ok_or_else(|| fail("duration is not like 5s"))?),
            None => None,
        };
        let nodes: Vec<String> = nodes
            .split(',')
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .collect();
        let one = |nodes: &[String]| match nodes {
            [n] => Ok(n.clone()),
            _ => Err(fail("expected one node")),
        };
        let (kind, duration) = match kind.trim() {
            "kill" => (
                FaultKind::Kill { node: one(&nodes)? },
                dur.ok_or_else(|| fail("kill needs +DURATION (when to restart)"))?,
            ),
            "partition" => match nodes.as_slice() {
                [a, b] if a != b => (
                    FaultKind::Partition {
                        a: a.clone(),
                        b: b.clone(),
                    },
                    dur.ok_or_else(|| fail("partition needs +DURATION"))?,
                ),
                _ => return Err(fail("partition needs two different nodes: A,B")),
            },
            "revoke" => (FaultKind::Revoke { node: one(&nodes)? }, Duration::ZERO),
            "malicious" => (
                FaultKind::Malicious { node: one(&nodes)? },
                dur.ok_or_else(|| fail("malicious needs +DURATION"))?,
            ),
            _ => return Err(fail("unknown kind (kill, partition, revoke, malicious)")),
        };
        if duration.is_zero() && !matches!(kind, FaultKind::Revoke { .. }) {
            return Err(fail("the duration must be more than 0"));
        }
        Ok(Fault { kind, at, duration })
    }
}

impl Fault {
    /// The nodes it names.
    pub fn nodes(&self) -> Vec<&str> {
        match &self.kind {
            FaultKind::Kill { node }
            | FaultKind::Revoke { node }
            | FaultKind::Malicious { node } => {
                vec![node]
            }
            FaultKind::Partition { a, b } => vec![a, b],
        }
    }

    /// A short label for plots and tables.
    pub fn label(&self) -> String {
        match &self.kind {
            FaultKind::Kill { node } => format!("kill {node}"),
            FaultKind::Partition { a, b } => format!("partition {a}|{b}"),
            FaultKind::Revoke { node } => format!("revoke {node}"),
            FaultKind::Malicious { node } => format!("malicious {node}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    #[serde(default)]
    fault: Vec<ScenarioFault>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFault {
    spec: String,
}

/// Read a TOML scenario file (`[[fault]] spec = "…"`).
pub fn load_scenario(path: &std::path::Path) -> Result<Vec<Fault>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let s: Scenario = toml::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    s.fault
        .iter()
        .enumerate()
        .map(|(i, f)| {
            f.spec
                .parse()
                .map_err(|e: FaultError| format!("{}: fault[{i}]: {e}", path.display()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_kind() {
        let f: Fault = "kill:gz-1@10s+5s".parse().unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Kill {
                node: "gz-1".into()
            }
        );
        assert_eq!(f.at, Duration::from_secs(10));
        assert_eq!(f.duration, Duration::from_secs(5));
        let f: Fault = "partition:gy-1,gz-1@1.5s+500ms".parse().unwrap();
        assert_eq!(
            f.kind,
            FaultKind::Partition {
                a: "gy-1".into(),
                b: "gz-1".into()
            }
        );
        assert_eq!(f.at, Duration::from_millis(1500));
        assert_eq!(f.duration, Duration::from_millis(500));
        let f: Fault = "revoke:cq-1@30s".parse().unwrap();
        assert_eq!(f.duration, Duration::ZERO);
        assert!("malicious:gy-1@5s+10s".parse::<Fault>().is_ok());
    }

    #[test]
    fn rejects_what_it_cannot_schedule() {
        for bad in [
            "kill:gz-1@10s",
            "partition:gz-1@1s+1s",
            "partition:gz-1,gz-1@1s+1s",
            "explode:gz-1@1s+1s",
            "kill:gz-1+1s",
            "kill:gz-1@soon+1s",
            "kill:gz-1@1s+0s",
        ] {
            assert!(bad.parse::<Fault>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn scenario_files_name_the_bad_entry() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "[[fault]]\nspec = \"kill:gz-1@1s+1s\"\n[[fault]]\nspec = \"kill:gz-1\"\n",
        )
        .unwrap();
        let err = load_scenario(&path).unwrap_err();
        assert!(err.contains("fault[1]"), "{err}");
        std::fs::write(&path, "[[fault]]\nspec = \"revoke:gz-1@2s\"\n").unwrap();
        assert_eq!(load_scenario(&path).unwrap().len(), 1);
    }
}
