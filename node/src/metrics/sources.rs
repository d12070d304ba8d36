//! Where the samples come from on a running node: the query counters, the
//! log (entries, checkpoint size and age), the federation outbox, the
//! transport's ingress limits, the upward channel and the joint lists.
//! [`sources`] takes the node's parts ([`Observed`]), not the node.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use credex_protocol::federation::Flow;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::sample::{QueryCounters, Sample, SampleFuture, SampleSource};
use crate::config::NodeConfig;
use crate::federation::Federation;
use crate::storage::Storage;

/// How often the checkpoint watcher looks at the latest checkpoint.
const CHECKPOINT_POLL: Duration = Duration::from_millis(200);

/// The parts of a running node the metrics observe.
pub struct Observed<'a> {
    /// The node's configuration.
    pub config: &'a NodeConfig,
    /// The store.
    pub storage: &'a Storage,
    /// The checkpointer.
    pub checkpoints: &'a crate::log::Checkpoints,
    /// Federation messaging.
    pub federation: &'a Federation,
    /// The transport.
    pub transport: &'a crate::transport::Transport,
    /// The query service's counters.
    pub query_counters: Arc<QueryCounters>,
    /// The catalogue of the node's policy.
    pub catalogue: &'a credex_policies::Catalogue,
    /// The region's duties as this process sees them.
    pub duties: Option<&'a crate::duties::Duties>,
}

/// The query service's counters.
struct QuerySource(Arc<QueryCounters>);

impl SampleSource for QuerySource {
    fn samples(&self) -> SampleFuture<'_> {
        Box::pin(async move { self.0.samples() })
    }
}

/// The transport's ingress limits.
struct IngressSource(crate::transport::Transport);

impl SampleSource for IngressSource {
    fn samples(&self) -> SampleFuture<'_> {
        Box::pin(async move { self.0.ingress_stats().samples() })
    }
}

/// The log: size, checkpoint size and age.
struct LogSource {
    storage: Storage,
    checkpoint: Arc<Mutex<(u64, Instant)>>,
}

impl SampleSource for LogSource {
    fn samples(&self) -> SampleFuture<'_> {
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

/// Whether this process does the region's duties (decision 1020).
struct DutiesSource(crate::duties::Duties);

impl SampleSource for DutiesSource {
    fn samples(&self) -> SampleFuture<'_> {
        Box::pin(async move {
            let token = self.0.token();
            vec![
                Sample::gauge(
                    "credex_duties_held",
                    "1 while this process does the region's duties (delivery, upward, witnessing, watches), else 0.",
                    if token.is_some() { 1.0 } else { 0.0 },
                ),
                Sample::gauge(
                    "credex_duties_token",
                    "The duties lease's fencing token while this process holds it, else 0.",
                    token.unwrap_or(0) as f64,
                ),
            ]
        })
    }
}

/// Federation outbox depth per flow.
struct OutboxSource(Federation);

impl SampleSource for OutboxSource {
    fn samples(&self) -> SampleFuture<'_> {
        Box::pin(async move {
            let pending = match self.0.outbox().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: cannot read the outbox");
                    return Vec::new();
                }
            };
            [Flow::Recognition, Flow::Lists, Flow::Upward, Flow::Rights]
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
    /// What the records still waiting are judged by.
    rules: crate::upward::UpwardRules,
}

impl SampleSource for UpwardSource {
    fn samples(&self) -> SampleFuture<'_> {
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
            match crate::upward::status(&self.storage, &self.rules).await {
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
        for (d, n) in [
            ("double_publicity", c.overdue),
            ("reporting_list", c.past_deadline_waiting),
        ] {
            out.push(
                Sample::gauge(
                    "credex_upward_records_overdue",
                    "Records not yet acknowledged by the national node and already past a deadline: \
                     双公示's 7 working days (counted late) or the reporting list's, by category.",
                    n as f64,
                )
                .label("category", &c.category)
                .label("deadline", d),
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
pub fn flow_sources(node: &Observed<'_>) -> Vec<Arc<dyn SampleSource>> {
    vec![
        Arc::new(UpwardSource {
            storage: node.storage.clone(),
            national: node.config.region.is_national(),
            rules: crate::upward::UpwardRules::of_started_node(node.config, node.catalogue),
        }),
        Arc::new(ListsSource(crate::lists::Lists::new(
            node.federation.clone(),
            // The node started with these files, so they load again; the
            // built-in policy only decides deadlines shown as overdue.
            crate::lists::ListsPolicy::with_catalogue(node.config, node.catalogue)
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
    fn samples(&self) -> SampleFuture<'_> {
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

/// Every source of a node; a task on `tracker` follows its checkpoints
/// until `shutdown`.
pub fn sources(
    node: &Observed<'_>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) -> Vec<Arc<dyn SampleSource>> {
    let checkpoint = Arc::new(Mutex::new((0u64, Instant::now())));
    watch_checkpoints(
        node.checkpoints.clone(),
        Arc::clone(&checkpoint),
        tracker,
        shutdown,
    );
    let mut s: Vec<Arc<dyn SampleSource>> = vec![
        Arc::new(QuerySource(Arc::clone(&node.query_counters))),
        Arc::new(LogSource {
            storage: node.storage.clone(),
            checkpoint,
        }),
        Arc::new(OutboxSource(node.federation.clone())),
        Arc::new(IngressSource(node.transport.clone())),
    ];
    if let Some(duties) = node.duties {
        s.push(Arc::new(DutiesSource(duties.clone())));
    }
    s.extend(flow_sources(node));
    s
}

/// Follow the latest checkpoint's size, and when it changed.
fn watch_checkpoints(
    checkpoints: crate::log::Checkpoints,
    slot: Arc<Mutex<(u64, Instant)>>,
    tracker: &TaskTracker,
    shutdown: CancellationToken,
) {
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
