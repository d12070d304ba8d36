//! Withdrawing a record from release because a subject's case was decided
//! for the subject: a credit repair granted ends its publication
//! (`repaired`), an objection upheld removes it (`deleted`).
//!
//! The withdrawal is one record-feed batch of the node's own source, in
//! one transaction with a `records_changed` entry naming the record, under
//! the idempotency key of the case: applied once whatever the retries. The
//! correction sweep (decision 0950) then tells every region that received
//! the record — by query, list push or upward batch, the national platform
//! included.

use credex_journal::{RecordsChanged, record_key, sha256};

use super::RightsError;
use crate::federation::FederationContext;
use crate::storage::{FeedBatch, FeedOutcome, RecordKey, SourceAdvance};

/// The record feed source under which granted repairs withdraw records.
pub const REPAIRS_SOURCE: &str = "credex.repairs";
/// The record feed source under which upheld objections remove records.
pub const OBJECTIONS_SOURCE: &str = "credex.objections";
/// The record feed source under which a copy of another region's record
/// (the national node's, reported upward) is withdrawn when its owner
/// deleted or repaired it.
pub const CORRECTIONS_SOURCE: &str = "credex.corrections";

/// How often a withdrawal retries when another process moved the source's
/// sequence under it.
const SEQUENCE_RETRIES: usize = 8;

/// Why a record is withdrawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Withdrawal {
    /// A credit repair was granted: publication ended early (提前停止公示).
    Repaired,
    /// An objection was upheld: the record was wrong and is removed.
    ObjectionUpheld,
    /// The record's owner deleted it (a copy held here is removed).
    DeletedAtOwner,
    /// The record's owner ended its publication by a repair (a copy held
    /// here is withdrawn likewise).
    RepairedAtOwner,
}

/// Withdraw `record` (stored under `subject_key`) from release for
/// `why`, once per `idempotency_key`.
pub async fn withdraw(
    ctx: &FederationContext,
    record: &RecordKey,
    why: Withdrawal,
    idempotency_key: &str,
    now_ms: i64,
) -> Result<(), RightsError> {
    let storage = &ctx.storage;
    let key = record_key(&record.category, &record.record_id);
    let (source, changed) = match why {
        Withdrawal::Repaired => (REPAIRS_SOURCE, RecordsChanged::repaired(now_ms, vec![key])),
        Withdrawal::RepairedAtOwner => (
            CORRECTIONS_SOURCE,
            RecordsChanged::repaired(now_ms, vec![key]),
        ),
        Withdrawal::ObjectionUpheld | Withdrawal::DeletedAtOwner => {
            let source = match why {
                Withdrawal::ObjectionUpheld => OBJECTIONS_SOURCE,
                _ => CORRECTIONS_SOURCE,
            };
            let mut entries = RecordsChanged::entries(now_ms, &[], &[key]);
            let Some(entry) = entries.pop() else {
                return Err(RightsError::Corrupt("no records_changed entry".into()));
            };
            (source, entry)
        }
    };
    let changed = credex_journal::encode(&changed)
        .map_err(|e| RightsError::Corrupt(format!("records_changed entry: {e}")))?;
    for _ in 0..SEQUENCE_RETRIES {
        let next = storage.feed_last_seq(source).await? + 1;
        let batch = FeedBatch {
            client: format!("urn:credex:node:{}:{source}", ctx.region),
            idempotency_key: idempotency_key.to_owned(),
            request_digest: sha256(idempotency_key.as_bytes()),
            answer: Vec::new(),
            upserts: Vec::new(),
            deletes: vec![record.clone()],
            subjects: Vec::new(),
            sequences: vec![SourceAdvance {
                source: source.to_owned(),
                first: next,
                last: next,
            }],
            entries: vec![(changed.kind, changed.body.clone())],
        };
        match storage.feed_records(batch).await? {
            FeedOutcome::Applied { .. } | FeedOutcome::Replay { .. } => {
                tracing::info!(category = %record.category, source, "record withdrawn from release");
                return Ok(());
            }
            FeedOutcome::SequenceMoved { .. } => continue,
            FeedOutcome::KeyReused => {
                return Err(RightsError::Corrupt(format!(
                    "the key {idempotency_key} was used for another withdrawal"
                )));
            }
        }
    }
    Err(RightsError::Invalid(format!(
        "a {} record could not be withdrawn: {source} kept moving",
        record.category
    )))
}
