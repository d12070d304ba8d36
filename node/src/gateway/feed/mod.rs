//! `POST /v1/records`: the live record feed (issue 15 item 3, decision
//! 0830). The provincial credit platform (省公共信用信息平台) mirrors its
//! database changes into the node, a batch at a time.
//!
//! A batch is `application/x-ndjson` (one [`RecordChange`] per line) or
//! `application/json` (one change), at most [`MAX_FEED_BODY`] bytes, with an
//! `Idempotency-Key` header. It is applied whole or not at all:
//!
//! 1. the caller needs role `feed`;
//! 2. a key already applied returns the answer stored then (same body) or
//!    `idempotency-conflict` (another body) — nothing is applied again;
//! 3. every line is decoded and validated against the catalogue as
//!    `credex records import` validates rows; each source's sequence must
//!    continue exactly (`sequence-gap` names a gap or a rewind); every bad
//!    line is listed in one problem's `errors`, and nothing is applied;
//! 4. citizen IDs become subject keys and pseudonyms as on import; the
//!    records, the sequences, the idempotency record and the
//!    [`RecordsFed`](credex_journal::RecordsFed) entries commit in one
//!    storage transaction ([`crate::storage::Storage::feed_records`]), and
//!    the answer is sent once it is durable.
//!
//! No clear citizen ID is logged, journaled or echoed in a problem.
//! Propagation of the changes to other regions: see decision 0830.

mod api;
mod apply;
mod parse;

use std::collections::HashMap;

use axum::Extension;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use credex_journal::{GatewayClient, sha256};
use credex_pki::GatewayRole;

pub use api::{ChangeOp, FeedAnswer, RecordChange, SourceProgress};

use self::parse::BadLine;
use super::body::read_body;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
use crate::storage::{FeedOutcome, MAX_IDEMPOTENCY_KEY_LEN, StorageError, StoredFeedAnswer};

/// Largest feed batch accepted, in bytes.
pub const MAX_FEED_BODY: usize = 8 * 1024 * 1024;

/// The header naming a batch for retries.
pub const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The operation, as role refusals name it.
const OPERATION: &str = "POST /v1/records";

/// Apply a batch of record changes from the region's credit platform.
/// Needs role `feed`.
#[utoipa::path(
    post,
    path = "/v1/records",
    tag = "records",
    params(
        ("Idempotency-Key" = String, Header,
         description = "The client's name for this batch (1 to 128 visible ASCII characters). \
            A retry with the same key and body returns the first answer and applies nothing again; \
            the same key with another body is refused.")
    ),
    request_body(
        description = "One change per line (NDJSON), or one change (JSON).",
        content(
            (RecordChange = "application/x-ndjson"),
            (RecordChange = "application/json")
        )
    ),
    responses(
        (status = 200, description = "the batch is applied and durable (or was, for a retry)", body = FeedAnswer),
        (status = 400, description = "no or a malformed Idempotency-Key; a malformed line", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "the certificate lacks role `feed`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "the key was used for another batch", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 413, description = "the batch is too large", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 415, description = "neither NDJSON nor JSON", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "bad lines (each in `errors`); nothing was applied", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 500, description = "the node could not apply the batch; nothing was applied", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "the node is shutting down", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn feed_records(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    request: Request,
) -> Response {
    let path = request.uri().path().to_owned();
    match feed(&state, &client, request).await {
        Ok(response) => response,
        Err(problem) => problem.at_instance(path).into_response(),
    }
}

async fn feed(
    state: &GatewayState,
    client: &ClientIdentity,
    request: Request,
) -> Result<Response, Problem> {
    client.require(GatewayRole::Feed, OPERATION)?;
    let key = idempotency_key(request.headers())?;
    let single = batch_media_type(request.headers())?;
    let body = read_body(request, MAX_FEED_BODY).await?;
    let request_digest = sha256(&body);
    let identity = client.identity_uri();
    let storage = state.storage();
    if let Some(stored) = storage
        .feed_answer(&identity, &key)
        .await
        .map_err(storage_problem)?
    {
        return replay(stored, request_digest, &key);
    }
    let Checked {
        changes,
        sequenced,
        mut last,
        resolved,
    } = check(state, &body, single).await?;
    let meta = apply::BatchMeta {
        client: GatewayClient {
            identity,
            fingerprint: client.fingerprint(),
        },
        idempotency_key: &key,
        request_digest,
        now_ms: storage.clock().now_ms(),
    };
    let (batch, answer) = apply::build(&changes, resolved, meta)?;
    let outcome = storage.feed_records(batch).await.map_err(storage_problem)?;
    match outcome {
        FeedOutcome::Applied { first_journal_seq } => {
            tracing::info!(
                client = %client.name(),
                applied = answer.applied,
                first_journal_seq,
                "record feed batch applied"
            );
            let bytes = serde_json::to_vec(&answer)
                .map_err(|e| Problem::new(ProblemType::Internal, e.to_string()))?;
            Ok(json_response(bytes))
        }
        FeedOutcome::Replay { answer } => Ok(json_response(answer)),
        FeedOutcome::KeyReused => Err(conflict(&key)),
        FeedOutcome::SequenceMoved { source, last_seq } => {
            // Another batch of the source was applied meanwhile.
            last.insert(source, last_seq);
            Err(refusal(apply::sequence_problems(&sequenced, &last)))
        }
    }
}

/// A batch whose every line is valid, in sequence and resolved to stored
/// keys.
struct Checked {
    changes: Vec<parse::Change>,
    sequenced: Vec<parse::Sequenced>,
    /// Each source's last applied sequence number, as read.
    last: HashMap<String, u64>,
    resolved: apply::Resolved,
}

/// Read the batch: every line parsed and validated, every source's
/// sequence checked against the store, every subject resolved; or the
/// problem listing every bad line.
async fn check(state: &GatewayState, body: &[u8], single: bool) -> Result<Checked, Problem> {
    let catalogue = state.parts().queries.policy().catalogue();
    let parse::ParsedBatch {
        changes,
        sequenced,
        mut bad,
    } = parse::parse_batch(body, single, catalogue);
    let mut last = HashMap::new();
    for source in apply::sources(sequenced.iter().map(|s| s.source.as_str())) {
        let seq = state
            .storage()
            .feed_last_seq(source)
            .await
            .map_err(storage_problem)?;
        last.insert(source.to_owned(), seq);
    }
    bad.extend(apply::sequence_problems(&sequenced, &last));
    // The node's key ring and vault key, loaded once at start.
    let persons = state.parts().persons.as_deref();
    match apply::resolve(&changes, persons) {
        Ok(resolved) if bad.is_empty() => Ok(Checked {
            changes,
            sequenced,
            last,
            resolved,
        }),
        Ok(_) => Err(refusal(bad)),
        Err(more) => {
            bad.extend(more);
            Err(refusal(bad))
        }
    }
}

/// The key of `Idempotency-Key`: required, 1 to
/// [`MAX_IDEMPOTENCY_KEY_LEN`] visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<String, Problem> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Err(Problem::new(
            ProblemType::IdempotencyKeyMissing,
            "a feed batch needs an Idempotency-Key header",
        ));
    };
    let bytes = value.as_bytes();
    if bytes.is_empty()
        || bytes.len() > MAX_IDEMPOTENCY_KEY_LEN
        || !bytes.iter().all(|b| (0x21..=0x7e).contains(b))
    {
        return Err(Problem::new(
            ProblemType::IdempotencyKeyMissing,
            format!(
                "Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LEN} visible ASCII characters"
            ),
        ));
    }
    Ok(String::from_utf8_lossy(bytes).into_owned())
}

/// Whether the body is one JSON change (`true`) or NDJSON lines.
fn batch_media_type(headers: &HeaderMap) -> Result<bool, Problem> {
    let found = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = found.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-ndjson") {
        Ok(false)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Ok(true)
    } else {
        Err(Problem::new(
            ProblemType::UnsupportedMediaType,
            format!(
                "expected Content-Type application/x-ndjson or application/json, got {}",
                if found.is_empty() { "none" } else { found }
            ),
        ))
    }
}

fn replay(stored: StoredFeedAnswer, digest: [u8; 32], key: &str) -> Result<Response, Problem> {
    if stored.request_digest == digest {
        Ok(json_response(stored.answer))
    } else {
        Err(conflict(key))
    }
}

fn conflict(key: &str) -> Problem {
    Problem::new(
        ProblemType::IdempotencyConflict,
        format!(
            "Idempotency-Key {key:?} was used for another batch; nothing was applied \
             (use a new key for a new batch)"
        ),
    )
}

/// The batch's refusal: every bad line in `errors`, sorted by line; the
/// problem's type is the first bad line's.
fn refusal(mut bad: Vec<BadLine>) -> Problem {
    bad.sort_by_key(|b| b.problem.line);
    let (kind, line) = bad
        .first()
        .map_or((ProblemType::FieldInvalid, 1), |b| (b.kind, b.problem.line));
    let detail = format!(
        "{} bad line{} (the first is line {line}); nothing of the batch was applied",
        bad.len(),
        if bad.len() == 1 { "" } else { "s" }
    );
    Problem::new(kind, detail)
        .at_line(line)
        .with_errors(bad.into_iter().map(|b| b.problem).collect())
}

fn storage_problem(e: StorageError) -> Problem {
    tracing::error!(error = %e, "record feed: storage failed; nothing was applied");
    match e {
        StorageError::Closed { .. } | StorageError::QueueFull { .. } => Problem::new(
            ProblemType::Unavailable,
            "the node cannot take batches now; retry with the same Idempotency-Key",
        )
        .retry_after(1),
        _ => Problem::new(
            ProblemType::Internal,
            "the store did not apply the batch; nothing was applied (retry with the same Idempotency-Key)",
        ),
    }
}

fn json_response(bytes: Vec<u8>) -> Response {
    let mut response = (StatusCode::OK, bytes).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
