//! The event feed: what arrived from other regions and what this node did
//! about it, as an ordered, durable feed the region's systems read with a
//! cursor (`GET /v1/events?after=…&limit=…&wait=…`, role `events`).
//!
//! The feed is a view of the access log, not a second store: every event
//! is a journal entry (a list entry received, changed or objected to, a
//! recognised result, an upward batch, another region's query answered,
//! a recognition decision), and its cursor is the entry's position. So an
//! event exists exactly when the change it reports is durable, the order
//! is the log's, and a consumer that was down for a day resumes from its
//! cursor and misses nothing — across restarts, with no delivery state
//! kept per consumer. Long-polling waits on the store's write notifier.
//!
//! The cursor is opaque to clients: the position after the last entry
//! scanned, so a page with no events still moves it forward.

mod render;

use std::time::Duration;

use axum::Extension;
use axum::Json;
use credex_pki::GatewayRole;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::body::QueryParams;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
use crate::storage::{MAX_RANGE_LIMIT, Storage, StorageError};

pub use render::render;

/// Most events one page returns.
pub const MAX_LIMIT: u32 = 1000;
/// Events a page returns when `limit` is absent.
pub const DEFAULT_LIMIT: u32 = 100;
/// Longest wait for a new event, in seconds.
pub const MAX_WAIT_S: u32 = 30;
/// Most journal entries one page scans (the cursor moves past the rest of
/// a long run of entries that are not events on the next call).
pub const MAX_SCAN: u64 = 20_000;

/// The query of `GET /v1/events`.
#[derive(Debug, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// The `next` cursor of the previous page; the start of the feed when absent.
    pub after: Option<String>,
    /// Most events to return (1–1000, default 100).
    pub limit: Option<u32>,
    /// Seconds to wait for an event when there is none yet (0–30, default 0).
    pub wait: Option<u32>,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[schema(example = json!({
    "cursor": "42",
    "at_ms": 1764806400000_i64,
    "kind": "list.entry_received",
    "from": {"region": "500000", "node": "cq-1"},
    "summary": "serious_dishonesty entry 500000-7 received; binding here with 2 measures",
    "details": {"list_type": "serious_dishonesty", "subject": "91500000MA5U000012"}
}))]
pub struct Event {
    /// Resume after this event by passing it as `after`.
    pub cursor: String,
    /// When the node recorded it, Unix ms.
    pub at_ms: i64,
    /// What happened: `list.entry_received`, `list.entry_changed`,
    /// `list.feedback_received`, `list.change_confirmed`,
    /// `list.objection_received`, `list.procedure_marked`, `list.procedure_overdue`,
    /// `record.correction_received`, `record.case_filed`, `record.case_marked`,
    /// `upward.procedure_overdue`, `recognition.result_received`,
    /// `recognition.decided`, `upward.batch_received`,
    /// `upward.deadline_at_risk`, `query.answered`.
    pub kind: String,
    /// The region and node it came from, when it came from another region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Origin>,
    /// One line about it, as the log has it (no personal identifier).
    pub summary: String,
    /// The message as received (what the sender's egress gate released),
    /// or the decision's fields.
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// Where an event came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Origin {
    /// The region's GB/T 2260 code.
    pub region: String,
    /// The node's name.
    pub node: String,
}

/// A page of the feed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct EventPage {
    /// The events, oldest first.
    pub events: Vec<Event>,
    /// Pass as `after` to read on; equal to `after` when nothing new was scanned.
    pub next: String,
}

/// Read the event feed from a cursor, waiting up to `wait` seconds for an
/// event when there is none yet.
#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    params(EventsQuery),
    responses(
        (status = 200, description = "events after the cursor, oldest first", body = EventPage),
        (status = 400, description = "a query parameter is invalid", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `events`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, description = "the store did not answer", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    QueryParams(query): QueryParams<EventsQuery>,
) -> Result<Json<EventPage>, Problem> {
    client.require(GatewayRole::Events, "GET /v1/events")?;
    let page = PageRequest::parse(&query)?;
    read(state.storage(), page)
        .await
        .map(Json)
        .map_err(Problem::store_failed)
}

/// A checked page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// Position to scan from.
    pub after: u64,
    /// Most events.
    pub limit: u32,
    /// How long to wait for one.
    pub wait: Duration,
}

impl PageRequest {
    fn parse(q: &EventsQuery) -> Result<PageRequest, Problem> {
        let after = match q.after.as_deref() {
            None => 0,
            Some(text) => text.parse::<u64>().map_err(|_| {
                Problem::new(
                    ProblemType::QueryInvalid,
                    format!("after: {text:?} is not a cursor this feed gave out"),
                )
            })?,
        };
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(Problem::new(
                ProblemType::QueryInvalid,
                format!("limit: {limit} is outside 1..={MAX_LIMIT}"),
            ));
        }
        let wait = q.wait.unwrap_or(0);
        if wait > MAX_WAIT_S {
            return Err(Problem::new(
                ProblemType::QueryInvalid,
                format!("wait: {wait} s is more than {MAX_WAIT_S} s"),
            ));
        }
        Ok(PageRequest {
            after,
            limit,
            wait: Duration::from_secs(u64::from(wait)),
        })
    }
}

/// One page of the feed from `request.after`, waiting for an event as asked.
pub async fn read(storage: &Storage, request: PageRequest) -> Result<EventPage, StorageError> {
    let deadline = tokio::time::Instant::now() + request.wait;
    let mut writes = storage.subscribe_writes();
    let mut after = request.after;
    loop {
        // Mark the notifier seen before scanning, so a write that lands
        // during the scan wakes the wait below.
        writes.borrow_and_update();
        let (events, next) = scan(storage, after, request.limit).await?;
        if !events.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(EventPage {
                events,
                next: next.to_string(),
            });
        }
        after = next;
        if tokio::time::timeout_at(deadline, writes.changed())
            .await
            .is_err()
        {
            return Ok(EventPage {
                events,
                next: next.to_string(),
            });
        }
    }
}

/// Scan the journal from position `after` for at most `limit` events;
/// returns them and the position after the last entry scanned.
async fn scan(
    storage: &Storage,
    after: u64,
    limit: u32,
) -> Result<(Vec<Event>, u64), StorageError> {
    let mut events = Vec::new();
    let mut next = after;
    while next - after < MAX_SCAN && events.len() < limit as usize {
        let page = storage.journal_range(next, MAX_RANGE_LIMIT).await?;
        let Some(last) = page.last() else { break };
        let last_seq = last.seq;
        for record in &page {
            if let Some(event) = render(storage, record).await? {
                events.push(event);
                if events.len() == limit as usize {
                    return Ok((events, record.seq + 1));
                }
            }
        }
        next = last_seq + 1;
    }
    Ok((events, next))
}
