//! The instruments: a [`Sample`] (one line of the exposition), the
//! [`SampleSource`]s asked for samples at every scrape, the query service's
//! lock-free [`QueryCounters`], and [`render`]ing samples in the
//! Prometheus text format. No node parts, no network.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};

use credex_protocol::query::{Outcome, QueryReason};

/// The future a [`SampleSource`] returns.
pub type SampleFuture<'a> = Pin<Box<dyn Future<Output = Vec<Sample>> + Send + 'a>>;

/// Prometheus metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Monotonic counter.
    Counter,
    /// Value that goes up and down.
    Gauge,
}

/// One sample of one series.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Metric name (`credex_…`).
    pub name: &'static str,
    /// Help text of the metric family.
    pub help: &'static str,
    /// Its type.
    pub kind: MetricType,
    /// Label pairs.
    pub labels: Vec<(&'static str, String)>,
    /// The value.
    pub value: f64,
}

impl Sample {
    /// A gauge sample.
    pub fn gauge(name: &'static str, help: &'static str, value: f64) -> Sample {
        Sample {
            name,
            help,
            kind: MetricType::Gauge,
            labels: Vec::new(),
            value,
        }
    }

    /// A counter sample.
    pub fn counter(name: &'static str, help: &'static str, value: f64) -> Sample {
        Sample {
            kind: MetricType::Counter,
            ..Sample::gauge(name, help, value)
        }
    }

    /// With a label.
    pub fn label(mut self, key: &'static str, value: impl Into<String>) -> Sample {
        self.labels.push((key, value.into()));
        self
    }
}

/// Something that contributes samples at every scrape. Implementations
/// must be cheap and must not fail the scrape: on error, return what they
/// have (and log).
pub trait SampleSource: Send + Sync + 'static {
    /// The current samples.
    fn samples(&self) -> SampleFuture<'_>;
}

/// Queries answered, by decision and reason. Updated by the query service
/// on every answer (lock-free).
#[derive(Debug)]
pub struct QueryCounters {
    /// [outcome][reason index]; the last reason slot counts unknown codes.
    counts: [[AtomicU64; QueryReason::ALL.len() + 1]; 3],
}

impl Default for QueryCounters {
    fn default() -> Self {
        QueryCounters {
            counts: std::array::from_fn(|_| std::array::from_fn(|_| AtomicU64::new(0))),
        }
    }
}

const OUTCOMES: [Outcome; 3] = [Outcome::Granted, Outcome::Trimmed, Outcome::Denied];

fn outcome_name(o: Outcome) -> &'static str {
    match o {
        Outcome::Granted => "granted",
        Outcome::Trimmed => "trimmed",
        Outcome::Denied => "denied",
    }
}

impl QueryCounters {
    /// Count one answered query.
    pub fn record(&self, outcome: Outcome, reason: QueryReason) {
        let o = OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(2);
        let r = QueryReason::ALL
            .iter()
            .position(|x| *x == reason)
            .unwrap_or(QueryReason::ALL.len());
        self.counts[o][r].fetch_add(1, Ordering::Relaxed);
    }

    /// How many queries were answered with `outcome` for `reason`.
    pub fn count(&self, outcome: Outcome, reason: QueryReason) -> u64 {
        let o = OUTCOMES.iter().position(|x| *x == outcome).unwrap_or(2);
        let r = QueryReason::ALL
            .iter()
            .position(|x| *x == reason)
            .unwrap_or(QueryReason::ALL.len());
        self.counts[o][r].load(Ordering::Relaxed)
    }

    /// The non-zero counts as samples.
    pub fn samples(&self) -> Vec<Sample> {
        let mut out = Vec::new();
        for (o, outcome) in OUTCOMES.iter().enumerate() {
            for (r, slot) in self.counts[o].iter().enumerate() {
                let n = slot.load(Ordering::Relaxed);
                if n == 0 {
                    continue;
                }
                let reason = QueryReason::ALL.get(r).map_or("unknown", |x| x.name());
                out.push(
                    Sample::counter(
                        "credex_queries_total",
                        "Queries answered by this node, by decision and reason.",
                        n as f64,
                    )
                    .label("decision", outcome_name(*outcome))
                    .label("reason", reason),
                );
            }
        }
        out
    }
}

/// Render samples in the Prometheus text format, one family per name (in
/// order of first appearance).
pub fn render(samples: &[Sample]) -> String {
    let mut families: Vec<&'static str> = Vec::new();
    let mut by_name: BTreeMap<&'static str, Vec<&Sample>> = BTreeMap::new();
    for s in samples {
        if !by_name.contains_key(s.name) {
            families.push(s.name);
        }
        by_name.entry(s.name).or_default().push(s);
    }
    let mut out = String::new();
    for name in families {
        let list = &by_name[name];
        let first = list[0];
        let kind = match first.kind {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        };
        let _ = writeln!(out, "# HELP {name} {}", escape_help(first.help));
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for s in list {
            out.push_str(name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    let _ = write!(out, "{k}=\"{}\"", escape_label(v));
                }
                out.push('}');
            }
            let _ = writeln!(out, " {}", format_value(s.value));
        }
    }
    out
}

fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        format!("{v}")
    }
}

fn escape_help(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\n', "\\n")
}

fn escape_label(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_families_once_with_escaped_labels() {
        let text = render(&[
            Sample::counter("credex_x_total", "X.", 2.0).label("a", "q\"uo\\te"),
            Sample::gauge("credex_y", "Y.", 0.5),
            Sample::counter("credex_x_total", "X.", 3.0).label("a", "b"),
        ]);
        assert_eq!(
            text,
            "# HELP credex_x_total X.\n# TYPE credex_x_total counter\n\
             credex_x_total{a=\"q\\\"uo\\\\te\"} 2\ncredex_x_total{a=\"b\"} 3\n\
             # HELP credex_y Y.\n# TYPE credex_y gauge\ncredex_y 0.5\n"
        );
    }

    #[test]
    fn query_counters_count_by_decision_and_reason() {
        let c = QueryCounters::default();
        c.record(Outcome::Denied, QueryReason::Replay);
        c.record(Outcome::Denied, QueryReason::Replay);
        c.record(Outcome::Granted, QueryReason::Granted);
        c.record(Outcome::Denied, QueryReason::Unknown(999));
        assert_eq!(c.count(Outcome::Denied, QueryReason::Replay), 2);
        let text = render(&c.samples());
        assert!(
            text.contains("credex_queries_total{decision=\"denied\",reason=\"replay\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("{decision=\"granted\",reason=\"granted\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("{decision=\"denied\",reason=\"unknown\"} 1"),
            "{text}"
        );
    }
}
