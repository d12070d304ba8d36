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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credex_protocol::federation::Flow;
use credex_protocol::query::{Outcome, QueryReason};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::boot::StartError;
use crate::federation::{Federation, FlowFuture};
use crate::service::RunningNode;
use crate::storage::Storage;

/// Largest request head read, in bytes; longer requests are refused.
pub const MAX_REQUEST_HEAD: usize = 8 * 1024;
/// How long a client may take to send its request.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the checkpoint watcher looks at the latest checkpoint.
const CHECKPOINT_POLL: Duration = Duration::from_millis(200);
/// Most concurrent scrapes; more connections wait to be accepted.
const MAX_CONCURRENT: usize = 16;

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
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>>;
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

/// The query service's counters.
struct QuerySource(Arc<QueryCounters>);

impl SampleSource for QuerySource {
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>> {
        Box::pin(async move { self.0.samples() })
    }
}

/// The transport's ingress limits.
struct IngressSource(crate::transport::Transport);

impl SampleSource for IngressSource {
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>> {
        Box::pin(async move { self.0.ingress_stats().samples() })
    }
}

/// The log: size, checkpoint size and age.
struct LogSource {
    storage: Storage,
    checkpoint: Arc<Mutex<(u64, Instant)>>,
}

impl SampleSource for LogSource {
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>> {
        Box::pin(async move {
            let size = self.storage.tree_head().size;
            let (cp_size, since) = *self
                .checkpoint
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            vec![
                Sample::gauge(
                    "credex_log_entries",
                    "Entries in this node's access log (tree size).",
                    size as f64,
                ),
                Sample::gauge(
                    "credex_log_checkpoint_size",
                    "Tree size of the latest signed checkpoint.",
                    cp_size as f64,
                ),
                Sample::gauge(
                    "credex_log_checkpoint_age_seconds",
                    "Seconds since the latest signed checkpoint was made (0.2 s resolution).",
                    since.elapsed().as_secs_f64(),
                ),
                Sample::gauge(
                    "credex_log_unsigned_entries",
                    "Entries not yet covered by a signed checkpoint.",
                    size.saturating_sub(cp_size) as f64,
                ),
            ]
        })
    }
}

/// Federation outbox depth per flow.
struct OutboxSource(Federation);

impl SampleSource for OutboxSource {
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>> {
        Box::pin(async move {
            let pending = match self.0.outbox().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: cannot read the outbox");
                    return Vec::new();
                }
            };
            [Flow::Recognition, Flow::Lists, Flow::Upward]
                .into_iter()
                .map(|flow| {
                    Sample::gauge(
                        "credex_federation_outbox_messages",
                        "Federation messages waiting for acknowledgement, by flow.",
                        pending.iter().filter(|m| m.flow == flow).count() as f64,
                    )
                    .label("flow", flow.code())
                })
                .collect()
        })
    }
}

/// The upward channel: reporting rate and timeliness on a province, what
/// was received on the national node.
struct UpwardSource {
    storage: Storage,
    national: bool,
}

impl SampleSource for UpwardSource {
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>> {
        Box::pin(async move {
            if self.national {
                return match crate::upward::received(&self.storage).await {
                    Ok(r) => national_samples(&r),
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: cannot read upward state");
                        Vec::new()
                    }
                };
            }
            match crate::upward::status(&self.storage).await {
                Ok(s) => province_samples(&s),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: cannot read upward state");
                    Vec::new()
                }
            }
        })
    }
}

fn province_samples(s: &crate::upward::UpwardStatus) -> Vec<Sample> {
    let mut out = vec![
        Sample::gauge(
            "credex_upward_reporting_rate",
            "Records reported to the national platform / records due (target 1).",
            s.reporting_rate,
        ),
        Sample::gauge(
            "credex_upward_timeliness_rate",
            "双公示 records reported within 7 working days / those reported (target 1).",
            s.timeliness_rate,
        ),
        Sample::gauge(
            "credex_upward_records_unreportable",
            "Due records that cannot be reported upward (record id too long).",
            s.unreportable as f64,
        ),
        Sample::gauge(
            "credex_upward_batches_pending",
            "Upward batches sent or queued and not yet acknowledged.",
            s.batches_pending as f64,
        ),
        Sample::counter(
            "credex_upward_batches_acked_total",
            "Upward batches acknowledged by the national node.",
            s.batches_acked as f64,
        ),
        Sample::counter(
            "credex_upward_batches_refused_total",
            "Upward batches refused by the national node.",
            s.batches_refused as f64,
        ),
    ];
    for c in &s.categories {
        out.push(
            Sample::gauge(
                "credex_upward_records_due",
                "Records due for upward reporting (imported, on the reporting list), by category.",
                c.due as f64,
            )
            .label("category", &c.category),
        );
        out.push(
            Sample::gauge(
                "credex_upward_records_reported",
                "Records acknowledged by the national node, by category.",
                c.reported as f64,
            )
            .label("category", &c.category),
        );
        for (t, n) in [("within", c.within_deadline), ("past", c.past_deadline)] {
            out.push(
                Sample::gauge(
                    "credex_upward_deadline_records",
                    "Records reported within or past the reporting list's deadline (报送时限), by category.",
                    n as f64,
                )
                .label("category", &c.category)
                .label("deadline", t),
            );
        }
        if c.on_time + c.late + c.undated > 0 {
            for (t, n) in [
                ("on_time", c.on_time),
                ("late", c.late),
                ("undated", c.undated),
            ] {
                out.push(
                    Sample::gauge(
                        "credex_upward_double_publicity_records",
                        "双公示 records reported, by category and timeliness (7 working days).",
                        n as f64,
                    )
                    .label("category", &c.category)
                    .label("timeliness", t),
                );
            }
        }
    }
    out
}

fn national_samples(received: &[crate::upward::ReceivedFrom]) -> Vec<Sample> {
    let mut out = Vec::new();
    for p in received {
        out.push(
            Sample::gauge(
                "credex_upward_received_batches",
                "Upward batches applied from each province.",
                p.batches as f64,
            )
            .label("region", &p.region),
        );
        for (category, n) in &p.categories {
            out.push(
                Sample::gauge(
                    "credex_upward_received_records",
                    "Records received from each province, by category.",
                    *n as f64,
                )
                .label("region", &p.region)
                .label("category", category),
            );
        }
    }
    out
}

/// The flows' own sample sources. **Hook**: a flow with gauges of its own
/// (e.g. list entries by state, from the lists flow) adds one line here.
pub fn flow_sources(node: &RunningNode) -> Vec<Arc<dyn SampleSource>> {
    vec![
        Arc::new(UpwardSource {
            storage: node.storage().clone(),
            national: node.config().region.is_national(),
        }),
        Arc::new(ListsSource(crate::lists::Lists::new(
            node.federation().clone(),
            // The node started with these files, so they load again; the
            // built-in policy only decides deadlines shown as overdue.
            crate::lists::ListsPolicy::with_catalogue(
                node.config(),
                node.queries().policy().catalogue(),
            )
            .unwrap_or_else(|_| crate::lists::ListsPolicy::builtin()),
        ))),
    ]
}

/// Joint lists: per list type, this region's entries by each receiving
/// region's stage, overdue obligations, and entries held from other regions.
struct ListsSource(crate::lists::Lists);

fn stage_name(stage: crate::lists::Stage) -> &'static str {
    use crate::lists::Stage;
    match stage {
        Stage::Sent => "sent",
        Stage::Responded => "responded",
        Stage::Refused => "refused",
        Stage::FeedbackReceived => "feedback_received",
        Stage::ChangeSent => "change_sent",
        Stage::ChangeConfirmed => "change_confirmed",
    }
}

impl SampleSource for ListsSource {
    fn samples(&self) -> FlowFuture<'_, Vec<Sample>> {
        Box::pin(async move {
            let mut out = Vec::new();
            let now = crate::clock::now_ms();
            match self.0.status(now).await {
                Ok(entries) => {
                    let mut stages: BTreeMap<(&'static str, &'static str), u64> = BTreeMap::new();
                    let mut overdue: BTreeMap<&'static str, u64> = BTreeMap::new();
                    for e in &entries {
                        for r in &e.regions {
                            *stages
                                .entry((e.list_type.code(), stage_name(r.stage)))
                                .or_default() += 1;
                            if !r.overdue.is_empty() {
                                *overdue.entry(e.list_type.code()).or_default() += 1;
                            }
                        }
                    }
                    for ((list, stage), n) in stages {
                        out.push(
                            Sample::gauge(
                                "credex_lists_sent_region_state",
                                "This region's list entries, per receiving region, by the region's stage (发起—响应—反馈).",
                                n as f64,
                            )
                            .label("list", list)
                            .label("stage", stage),
                        );
                    }
                    for (list, n) in overdue {
                        out.push(
                            Sample::gauge(
                                "credex_lists_overdue",
                                "(entry, region) pairs with a response, feedback or confirmation overdue.",
                                n as f64,
                            )
                            .label("list", list),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "metrics: cannot read list status"),
            }
            match self.0.received().await {
                Ok(held) => {
                    let mut by_list: BTreeMap<&'static str, u64> = BTreeMap::new();
                    for h in held.iter().filter(|h| h.ended.is_none()) {
                        *by_list.entry(h.entry.list_type.code()).or_default() += 1;
                    }
                    for (list, n) in by_list {
                        out.push(
                            Sample::gauge(
                                "credex_lists_held",
                                "Entries other regions sent here and still in force.",
                                n as f64,
                            )
                            .label("list", list),
                        );
                    }
                }
                Err(e) => tracing::warn!(error = %e, "metrics: cannot read held list entries"),
            }
            out
        })
    }
}

/// Every source of `node`; a task on `tracker` follows its checkpoints
/// until `shutdown`.
pub fn sources(
    node: &RunningNode,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Vec<Arc<dyn SampleSource>> {
    let checkpoint = Arc::new(Mutex::new((0u64, Instant::now())));
    watch_checkpoints(node, Arc::clone(&checkpoint), tracker, shutdown);
    let mut s: Vec<Arc<dyn SampleSource>> = vec![
        Arc::new(QuerySource(node.queries().counters())),
        Arc::new(LogSource {
            storage: node.storage().clone(),
            checkpoint,
        }),
        Arc::new(OutboxSource(node.federation().clone())),
        Arc::new(IngressSource(node.transport().clone())),
    ];
    s.extend(flow_sources(node));
    s
}

/// Follow the latest checkpoint's size, and when it changed.
fn watch_checkpoints(
    node: &RunningNode,
    slot: Arc<Mutex<(u64, Instant)>>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
    let checkpoints = node.checkpoints().clone();
    tracker.spawn(async move {
        loop {
            if let Some(head) = checkpoints.latest() {
                let mut s = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if s.0 != head.size {
                    *s = (head.size, Instant::now());
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(CHECKPOINT_POLL) => {}
            }
        }
    });
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

/// Bind `addr` and serve `GET /metrics` from `sources` until `shutdown`.
/// Returns the bound address.
pub async fn serve(
    addr: SocketAddr,
    sources: Vec<Arc<dyn SampleSource>>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<SocketAddr, StartError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::Flow {
            flow: "metrics",
            reason: format!("metrics.listen: cannot bind {addr}: {e}"),
        })?;
    let bound = listener.local_addr().map_err(|e| StartError::Flow {
        flow: "metrics",
        reason: format!("metrics.listen: {e}"),
    })?;
    let sources = Arc::new(sources);
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
    let tasks = tracker.clone();
    tracker.spawn(async move {
        loop {
            let permit = tokio::select! {
                _ = shutdown.cancelled() => break,
                p = Arc::clone(&permits).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let (stream, _) = tokio::select! {
                _ = shutdown.cancelled() => break,
                a = listener.accept() => match a {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "metrics: accept failed");
                        continue;
                    }
                },
            };
            let sources = Arc::clone(&sources);
            tasks.spawn(async move {
                if let Err(e) = answer(stream, &sources).await {
                    tracing::debug!(error = %e, "metrics: request failed");
                }
                drop(permit);
            });
        }
    });
    tracing::info!(addr = %bound, "metrics endpoint listening");
    Ok(bound)
}

/// Read one request head and answer it.
async fn answer(mut stream: TcpStream, sources: &[Arc<dyn SampleSource>]) -> std::io::Result<()> {
    let head = match tokio::time::timeout(REQUEST_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(Some(head))) => head,
        Ok(Ok(None)) => {
            return respond(&mut stream, "431 Request Header Fields Too Large", "").await;
        }
        Ok(Err(e)) => return Err(e),
        Err(_) => return respond(&mut stream, "408 Request Timeout", "").await,
    };
    let line = head.lines().next().unwrap_or("");
    let mut parts = line.split(' ');
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if method != "GET" {
        return respond(&mut stream, "405 Method Not Allowed", "only GET\n").await;
    }
    let path = target.split('?').next().unwrap_or("");
    if path != "/metrics" {
        return respond(&mut stream, "404 Not Found", "try /metrics\n").await;
    }
    let mut samples = Vec::new();
    for s in sources {
        samples.extend(s.samples().await);
    }
    respond(&mut stream, "200 OK", &render(&samples)).await
}

/// The request head up to the blank line; `None` when it is too long.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find_head_end(&buf) {
            return Ok(Some(String::from_utf8_lossy(&buf[..end]).into_owned()));
        }
        if buf.len() >= MAX_REQUEST_HEAD {
            return Ok(None);
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(Some(String::from_utf8_lossy(&buf).into_owned()));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4)
        .position(|w| w == b"\r\n\r\n")
        .or_else(|| buf.windows(2).position(|w| w == b"\n\n"))
}

async fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    let content_type = if status.starts_with("200") {
        "text/plain; version=0.0.4; charset=utf-8"
    } else {
        "text/plain; charset=utf-8"
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await
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
