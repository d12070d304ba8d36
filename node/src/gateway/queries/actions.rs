//! What a two-person query goes through, whoever asks: a region system
//! through the gateway (its certificate's role checked by the handler) or
//! an officer through the console (their session's role checked there).
//! Each action checks the query's own rules — the catalogue, the officers'
//! signatures as the responder will (pki's rules 4–6), one signature at a
//! time — and keeps the query durably before it answers.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::model::{OfficerSignature, QueryState};
use super::store::{self, HeldQuery, HeldState};
use super::{MAX_WAIT_S, draft, officers, send};
use crate::gateway::problem::{Problem, ProblemType};
use crate::gateway::state::GatewayState;

/// Most queries [`list`] reads from the store.
pub const MAX_LISTED: usize = 2_000;

/// Check `new` and keep it as a draft by `drafted_by` (a gateway client's
/// or an officer's identity URI); the requester signs `to_sign` next.
pub async fn draft(
    state: &GatewayState,
    new: super::NewQuery,
    drafted_by: String,
) -> Result<HeldQuery, Problem> {
    let file = draft::draft(state, new, node_now(state))?;
    let held = HeldQuery {
        file,
        state: HeldState::AwaitingRequester,
        drafted_by,
        response: None,
        failure: None,
    };
    store::save(state.storage(), &held)
        .await
        .map_err(Problem::store_failed)?;
    tracing::info!(query = %store::key(&held.file.request.request_id), by = %held.drafted_by, "query drafted");
    Ok(held)
}

/// The query `id` as it stands, waiting up to `wait_s` seconds while it
/// is being sent.
pub async fn show(state: &GatewayState, id: &str, wait_s: u32) -> Result<HeldQuery, Problem> {
    if wait_s > MAX_WAIT_S {
        return Err(Problem::new(
            ProblemType::QueryInvalid,
            format!("wait: {wait_s} s is more than {MAX_WAIT_S} s"),
        ));
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(u64::from(wait_s));
    let mut writes = state.storage().subscribe_writes();
    loop {
        writes.borrow_and_update();
        let held = held(state, id).await?;
        if held.state != HeldState::Sending || tokio::time::Instant::now() >= deadline {
            return Ok(held);
        }
        if tokio::time::timeout_at(deadline, writes.changed())
            .await
            .is_err()
        {
            return Ok(held);
        }
    }
}

/// The held query `id`, or `query-unknown`.
pub async fn held(state: &GatewayState, id: &str) -> Result<HeldQuery, Problem> {
    let valid = id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    let found = if valid {
        store::load(state.storage(), &id.to_ascii_lowercase())
            .await
            .map_err(Problem::store_failed)?
    } else {
        None
    };
    found.ok_or_else(|| {
        Problem::new(
            ProblemType::QueryUnknown,
            format!("no query {id} at this node"),
        )
    })
}

/// The held queries in `state` (any when `None`), newest first; at most
/// [`MAX_LISTED`] are read.
pub async fn list(
    state: &GatewayState,
    wanted: Option<QueryState>,
) -> Result<Vec<HeldQuery>, Problem> {
    let storage = state.storage();
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    let mut read = 0;
    while read < MAX_LISTED {
        let page = storage
            .state_scan(store::NAMESPACE, "", after.as_deref(), 500)
            .await
            .map_err(Problem::store_failed)?;
        let Some((last, _)) = page.last() else { break };
        after = Some(last.clone());
        read += page.len();
        for (key, bytes) in page {
            let held: HeldQuery = credex_protocol::decode(&bytes)
                .map_err(|e| Problem::store_failed(format!("query {key}: {e}")))?;
            if wanted.is_none_or(|w| QueryState::from(held.state) == w) {
                out.push(held);
            }
        }
    }
    out.sort_by_key(|h| std::cmp::Reverse(h.file.request.issued_at_ms));
    Ok(out)
}

/// Add the next officer's signature to query `id`: the requester's, then
/// the approver's (who must be another person); the approved query is
/// then sent in the background. Returns the query as it now stands.
pub async fn add_signature(
    state: &GatewayState,
    id: &str,
    signature: &OfficerSignature,
) -> Result<HeldQuery, Problem> {
    let proof = officers::proof(signature)?;
    // One signature at a time per node: two approvals racing must not both
    // send.
    let _turn = state.query_turn().await;
    let mut held = held(state, id).await?;
    let trust = state.parts().federation.context().trust.current();
    let now = credex_flows::calendar::unix_time(state.storage().clock().now_ms());
    let request = &held.file.request;
    let refused = |e: credex_pki::AuthorizationError| {
        Problem::new(ProblemType::SignatureRefused, e.to_string()).at_field("/signature")
    };
    match held.state {
        HeldState::AwaitingRequester => {
            credex_pki::authorization::verify_requester(request, &proof, &trust, now)
                .map_err(refused)?;
            held.file.requester = Some(proof);
            held.state = HeldState::AwaitingApprover;
        }
        HeldState::AwaitingApprover => {
            let Some(requester) = held.file.requester.as_ref() else {
                return Err(Problem::store_failed(
                    "an awaiting-approver query without its requester",
                ));
            };
            credex_pki::authorization::verify_approver(request, requester, &proof, &trust, now)
                .map_err(refused)?;
            if let Some(id) = &signature.subject_id {
                confirm_subject(state, &held, id)?;
            } else if matches!(
                request.subject,
                credex_protocol::query::SubjectRef::NaturalPerson(_)
            ) {
                return Err(Problem::new(
                    ProblemType::FieldInvalid,
                    "the query is about a natural person: the approver gives the citizen ID in the case file, and the node checks the draft is about that person",
                )
                .at_field("/subject_id"));
            }
            held.file.approver = Some(proof);
            held.state = HeldState::Sending;
        }
        other => {
            return Err(Problem::new(
                ProblemType::QueryClosed,
                format!(
                    "query {id} is {:?} and takes no more signatures",
                    QueryState::from(other)
                ),
            ));
        }
    }
    store::save(state.storage(), &held)
        .await
        .map_err(Problem::store_failed)?;
    if held.state == HeldState::Sending {
        send::spawn(state.clone(), store::key(&held.file.request.request_id));
    }
    Ok(held)
}

fn confirm_subject(
    state: &GatewayState,
    held: &HeldQuery,
    citizen_id: &str,
) -> Result<(), Problem> {
    let field = |e: String| Problem::new(ProblemType::FieldInvalid, e).at_field("/subject_id");
    let Some(persons) = state.parts().persons.as_deref() else {
        return Err(field("this node has no pseudonym key ring".into()));
    };
    let ring = &persons.ring;
    crate::requester::confirm_subject(&held.file, citizen_id, ring)
        .map_err(|e| field(e.to_string()))
}

/// Now by the node's clock, the one its storage was handed.
fn node_now(state: &GatewayState) -> SystemTime {
    let ms = u64::try_from(state.storage().clock().now_ms()).unwrap_or(0);
    UNIX_EPOCH + Duration::from_millis(ms)
}
