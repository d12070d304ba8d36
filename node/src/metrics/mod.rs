//! The metrics endpoint: `GET /metrics` in the Prometheus text exposition
//! format (version 0.0.4), served by a small HTTP/1.1 responder on the
//! address of `[metrics] listen` (decision 0503; no HTTP crate: one
//! request per connection, a bounded request head, `Connection: close`).
//!
//! What it exposes comes from [`SampleSource`]s, each asked for its samples
//! at every scrape: queries by decision and reason ([`QueryCounters`], kept
//! by the query service), the log (entries, checkpoint size and age), the
//! federation outbox depth per flow, the transport's ingress limits
//! (requests refused over quota, frames abandoned, frame memory in use;
//! decision 0650), and the upward channel (reporting rate
//! and 双公示 timeliness on a province, what was received on the national
//! node). Flows plug in their own gauges in [`flow_sources`].
//!
//! The endpoint has no authentication: bind it to a loopback or management
//! address. It reveals counts only, never identifiers.
//!
//! The parts: [`sample`] (samples, sources, counters, the text format),
//! [`sources`] (what a running node exposes), [`serve`] (the responder).

mod sample;
mod serve;
mod sources;

pub use sample::{MetricType, QueryCounters, Sample, SampleFuture, SampleSource, render};
pub use serve::{MAX_REQUEST_HEAD, REQUEST_TIMEOUT, serve};
pub use sources::{Observed, flow_sources, sources};
