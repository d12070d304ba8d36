//! Load on a region served by several processes, or by a database that
//! fails over (decision 1020): queries without pause from another region,
//! each answer kept with the leaf its receipt names.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use credex_journal::{AccessEntry, kind};
use credex_node::requester::{self, QuerySpec};
use credex_node::service::RunningNode;
use credex_node::storage::Storage;
use credex_protocol::query::{CategoryFields, SubjectRef};

use crate::{Federation, authorized_query, subjects};

/// A penalty query to Guangdong under a legal basis.
pub fn penalty_query(subject: &str) -> QuerySpec {
    QuerySpec {
        target_region: "440000".parse().expect("a region code"),
        subject: SubjectRef::LegalPerson(subject.into()),
        purpose: "public_procurement".into(),
        requested: vec![CategoryFields {
            category: "admin_penalty".into(),
            fields: vec!["decision_number".into(), "amount".into()],
        }],
        legal_basis: Some("joint-punishment-memorandum".into()),
        subject_authorization: None,
    }
}

/// An answered query: when it was sent (or when the failed attempts it
/// ended began), how long until the answer, its digest and the leaf its
/// receipt names in Guangdong's log.
pub struct Answered {
    /// When it was sent, or when the failed attempts it ended began.
    pub sent: Instant,
    /// From then until the answer.
    pub took: Duration,
    /// The query's digest.
    pub digest: [u8; 32],
    /// The leaf its receipt names in the responder's log.
    pub leaf: u64,
}

/// Query Guangdong from `from` until `stop`, over connections to whichever
/// of its processes answers (`Transport::connect_peer`).
/// Task `task` of `tasks` asks about every `tasks`-th company. Returns the
/// answers and how many attempts failed.
pub async fn load(
    fed: Arc<Federation>,
    from: Arc<RunningNode>,
    stop: Arc<AtomicBool>,
    (task, tasks): (usize, usize),
) -> (Vec<Answered>, usize) {
    let gz = from
        .config()
        .peers
        .iter()
        .find(|p| p.region.to_string() == "440000")
        .expect("Guangdong is a configured peer")
        .clone();
    let trust = from.transport().trust().current();
    let subjects = subjects("440000");
    let (mut answered, mut failed) = (Vec::new(), 0);
    let mut conn = None;
    // Since when this task has been trying to get an answer: a failover's
    // wait counts in the latency of the answer that ends it.
    let mut waiting_since: Option<Instant> = None;
    let mut n = task;
    while !stop.load(Ordering::Relaxed) {
        if conn.is_none() {
            match from.transport().connect_peer(&gz).await {
                Ok(c) => conn = Some(c),
                Err(_) => {
                    failed += 1;
                    waiting_since.get_or_insert_with(Instant::now);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_ref() else { continue };
        n += tasks;
        let query = authorized_query(&fed, &from, penalty_query(&subjects[n % subjects.len()]));
        let sent = Instant::now();
        match requester::send(c, &trust, from.storage(), &query).await {
            Ok(response) => {
                let receipt = response
                    .receipt
                    .as_ref()
                    .expect("an answer carries a receipt");
                let since = waiting_since.take().unwrap_or(sent);
                answered.push(Answered {
                    sent: since,
                    took: since.elapsed(),
                    digest: response.body.query_digest,
                    leaf: receipt.leaf_index,
                });
            }
            Err(_) => {
                failed += 1;
                waiting_since.get_or_insert(sent);
                conn = None;
            }
        }
    }
    (answered, failed)
}

/// The 99th percentile of `took` (zero if empty).
pub fn p99(mut took: Vec<Duration>) -> Duration {
    if took.is_empty() {
        return Duration::ZERO;
    }
    took.sort();
    took[(took.len() * 99 / 100).min(took.len() - 1)]
}

/// Every journal entry of `storage` of kind `of`, with its leaf index.
pub async fn entries(storage: &Storage, of: u16) -> Vec<(u64, Vec<u8>)> {
    let len = storage.journal_len().await.expect("journal length");
    let mut out = Vec::new();
    let mut from = 0;
    while from < len {
        let page = storage.journal_range(from, 1000).await.expect("journal");
        from += page.len() as u64;
        out.extend(
            page.into_iter()
                .filter(|r| r.kind == of)
                .map(|r| (r.seq, r.body)),
        );
    }
    out
}

/// Check that every answered query is in `storage`'s log exactly once, at
/// the leaf its receipt names, and that no two answers share a leaf;
/// returns the queries the log received.
pub async fn assert_each_answer_logged_once(storage: &Storage, answered: &[Answered]) -> usize {
    let received: Vec<(u64, AccessEntry)> = entries(storage, kind::QUERY_RECEIVED)
        .await
        .into_iter()
        .map(|(seq, body)| {
            (
                seq,
                credex_protocol::decode(&body).expect("an access entry"),
            )
        })
        .collect();
    for a in answered {
        let same: Vec<&(u64, AccessEntry)> = received
            .iter()
            .filter(|(_, e)| e.query_digest == a.digest)
            .collect();
        assert_eq!(same.len(), 1, "an answered query is in the log once");
        assert_eq!(same[0].0, a.leaf, "at the leaf its receipt names");
    }
    let mut leaves: Vec<u64> = answered.iter().map(|a| a.leaf).collect();
    leaves.sort_unstable();
    leaves.dedup();
    assert_eq!(leaves.len(), answered.len(), "no two answers share a leaf");
    received.len()
}

/// Start `tasks` query tasks from each of `from` until `stop`.
pub fn start_load(
    fed: &Arc<Federation>,
    from: &[&Arc<RunningNode>],
    tasks: usize,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<(Vec<Answered>, usize)>> {
    let mut handles = Vec::new();
    for node in from {
        for task in 0..tasks {
            handles.push(tokio::spawn(load(
                Arc::clone(fed),
                Arc::clone(node),
                Arc::clone(stop),
                (task, tasks),
            )));
        }
    }
    handles
}

/// Stop the load and gather its answers and failed attempts.
pub async fn stop_load(
    stop: &AtomicBool,
    handles: Vec<tokio::task::JoinHandle<(Vec<Answered>, usize)>>,
) -> (Vec<Answered>, usize) {
    stop.store(true, Ordering::Relaxed);
    let (mut answered, mut failed) = (Vec::new(), 0);
    for h in handles {
        let (a, f) = h.await.expect("a load task");
        answered.extend(a);
        failed += f;
    }
    (answered, failed)
}
