//! The malicious peer's flood: one query answered the honest way, then its
//! copies sent as fast as one connection carries them, until the target's
//! per-region quota has throttled a burst's worth; and what the target
//! logged meanwhile (nothing throttled, other regions' queries still).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use credex_journal::{AccessEntry, kind};
use credex_node::storage::{Storage, StorageError};
use credex_node::transport::ClientError;
use credex_protocol::query::AuthorizedQuery;
use credex_protocol::{ErrorCode, Request, Response};

use super::journal;
use crate::report::FloodReport;
use crate::sim::context::{Ctx, Failure};
use crate::sim::workload::{Kind, Rng};

/// The pause after a flood that could not start: its target unreachable,
/// or its pair backing off for a second after a failed query.
pub(super) const FLOOD_RETRY_AFTER: Duration = Duration::from_millis(250);

/// In flight at once during a flood: one connection's worth of streams.
const FLOOD_IN_FLIGHT: usize = 64;

/// The shortest flood: long enough for the target to serve other regions
/// meanwhile.
const FLOOD_MIN: Duration = Duration::from_secs(2);

/// The longest flood, throttled or not.
const FLOOD_MAX: Duration = Duration::from_secs(10);

/// Flood node `to` from `node`: one query, answered once the honest way,
/// then sent again and again, [`FLOOD_IN_FLIGHT`] at a time, until at least
/// one quota's burst of copies were throttled and [`FLOOD_MIN`] passed (at
/// most [`FLOOD_MAX`]). `Err` says why the flood could not start.
pub(super) async fn flood(
    ctx: &Ctx,
    node: usize,
    to: usize,
    rng: &mut Rng,
) -> Result<FloodReport, String> {
    let target = &ctx.slots[to].node;
    let subject = target.subject(rng.below(target.subjects.max(1) as usize) as u32);
    let q = ctx
        .build(node, to, Kind::Basis, subject, "public_procurement")
        .map_err(|e| format!("query not built: {e}"))?;
    // Answered and logged on both sides first, so each copy the target
    // handles is a denied replay, and no release escapes the requester's log.
    ctx.send(node, to, &q).await.map_err(|f| match f {
        Failure::RequesterDown => "the flooding node is down".to_owned(),
        Failure::Unreachable(e) => format!("target unreachable: {e}"),
        Failure::Failed(e) => format!("first copy not answered: {e}"),
    })?;
    let gone = || format!("{} or {} went down", ctx.slots[node].node.name, target.name);
    let live = ctx.slots[node].live().ok_or_else(gone)?;
    let conn = ctx
        .connection(node, to, &live)
        .await
        .map_err(|_| format!("no connection to {}", target.name))?;
    let storage = ctx.slots[to].live().ok_or_else(gone)?.storage;
    let unread = |e: StorageError| format!("{}'s log not read: {e}", target.name);
    let before = storage.journal_len().await.map_err(unread)?;
    let burst = u64::from(ctx.peer_quota.burst);
    let request = Arc::new(Request::Query(Box::new(q.clone())));
    let started = Instant::now();
    let (mut sent, mut answered, mut throttled, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut failures = BTreeMap::new();
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        let enough = (throttled >= burst && started.elapsed() >= FLOOD_MIN)
            || started.elapsed() >= FLOOD_MAX;
        while !enough && in_flight.len() < FLOOD_IN_FLIGHT {
            let (conn, request) = (Arc::clone(&conn), Arc::clone(&request));
            in_flight.spawn(async move { conn.request(&request).await });
            sent += 1;
        }
        let Some(joined) = in_flight.join_next().await else {
            break;
        };
        match joined {
            Ok(Ok(Response::Query(_))) => answered += 1,
            Ok(Err(ClientError::Refused(e))) if e.code == ErrorCode::RateLimited => throttled += 1,
            other => {
                failed += 1;
                let why = match other {
                    Ok(Ok(_)) => "an answer of another kind".to_owned(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("task: {e}"),
                };
                let why: String = why.chars().take(100).collect();
                *failures.entry(why).or_default() += 1;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    // A token bucket lets `burst` plus `rate` per second through: a target
    // that handled no more than that (two cores shared by many loaded nodes
    // can be slower than the quota) owed no throttling.
    let allowed = burst as f64 + f64::from(ctx.peer_quota.requests_per_second) * seconds;
    let below_quota = throttled == 0 && ((answered + failed) as f64) <= allowed;
    // Requests the target was still handling when their answers came back
    // are durable by then (a response follows the entry's commit).
    let after = storage.journal_len().await.map_err(unread)?;
    let (logged, others_logged) = logged_during(&storage, before, after, &q, ctx, node)
        .await
        .ok_or_else(|| format!("{}'s log not read after the flood", target.name))?;
    Ok(FloodReport {
        target: target.name.to_string(),
        sent,
        answered,
        throttled,
        failed,
        failures,
        logged,
        others_logged,
        seconds,
        ok: throttled > 0 && (answered..=sent - throttled).contains(&logged) && others_logged > 0,
        below_quota: below_quota && (answered..=sent).contains(&logged) && others_logged > 0,
    })
}

/// Of the query entries `storage`'s node logged in `before..after`: those
/// of `q`, and those of regions other than `node`'s.
async fn logged_during(
    storage: &Storage,
    before: u64,
    after: u64,
    q: &AuthorizedQuery,
    ctx: &Ctx,
    node: usize,
) -> Option<(u64, u64)> {
    let region = ctx.slots[node].node.region;
    let (mut flood, mut others) = (0, 0);
    for r in journal(storage, before, after).await.ok()? {
        if r.kind != kind::QUERY_RECEIVED {
            continue;
        }
        let Ok(e) = credex_protocol::decode::<AccessEntry>(&r.body) else {
            continue;
        };
        if e.request_id == q.request.request_id {
            flood += 1;
        } else if e.requester_region != region {
            others += 1;
        }
    }
    Some((flood, others))
}
