//! Putting back journal records a restore lost ([`Storage::recover_entries`]):
//! the records `from..` of this node's own log, taken from an export that
//! holds them, each with the time it was first recorded, so the tree grows
//! back to exactly the roots the log published (decision 1000).
//!
//! Only the journal and its tree come back. The flow state those records
//! wrote when they were first appended (claims, outbox, cases) is the
//! restored database's; the caller says so to the operator.

use super::claims::ClaimLedger;
use super::engine::{Engine, JournalRow};
use super::tree::{HeadSender, TreeState, record_leaf_hash};
use super::writer::{Command, extend_tree};
use super::{MAX_BODY_LEN, Storage, StorageError};

/// Records to put back at the end of the journal.
#[derive(Debug)]
pub(crate) struct Recovery {
    /// The journal's length they continue: the first one's sequence number.
    from: u64,
    /// `(kind, recorded_at_unix_ms, body)`, in log order.
    entries: Vec<(u16, i64, Vec<u8>)>,
    /// The attachments they name: `(digest or policy hash, bytes)`.
    attachments: Vec<([u8; 32], Vec<u8>)>,
}

impl Storage {
    /// Append `entries` — `(kind, recorded_at_unix_ms, body)` as they were
    /// first recorded — after the journal's first `from` records, with the
    /// `attachments` they name, in one transaction. Refused if the journal
    /// does not hold exactly `from` records. Returns the new length. For
    /// `credex log recover` only: the caller has checked the entries
    /// against a checkpoint the log signed, and the attachments against
    /// their names.
    pub async fn recover_entries(
        &self,
        from: u64,
        entries: Vec<(u16, i64, Vec<u8>)>,
        attachments: Vec<([u8; 32], Vec<u8>)>,
    ) -> Result<u64, StorageError> {
        if let Some((_, _, body)) = entries.iter().find(|(_, _, b)| b.len() > MAX_BODY_LEN) {
            return Err(StorageError::BodyTooLarge {
                len: body.len(),
                max: MAX_BODY_LEN,
            });
        }
        let attachments = self.seal_attachments(attachments)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.send(Command::Recover {
            recovery: Recovery {
                from,
                entries,
                attachments,
            },
            reply,
        })
        .await?;
        self.answer(answer).await
    }
}

/// The writer's side: insert each record with its own time, extend the
/// tree, commit, publish the new head.
pub(super) async fn run(
    engine: &Engine,
    recovery: &Recovery,
    tree: &mut TreeState,
    heads: &HeadSender,
) -> Result<u64, StorageError> {
    let moved = |found: u64| StorageError::Corrupt {
        location: engine.location().to_string(),
        detail: format!(
            "recovery continues a journal of {} records, but it holds {found}: nothing was recovered",
            recovery.from
        ),
    };
    if tree.size() != recovery.from {
        return Err(moved(tree.size()));
    }
    let mut tx = engine.begin_batch().await?;
    let mut grown = tree.clone();
    for (kind, at_ms, body) in &recovery.entries {
        let row = JournalRow {
            kind: *kind,
            body: body.clone(),
            leaf: record_leaf_hash(*kind, *at_ms, body),
        };
        let seq = tx
            .append_journal(std::slice::from_ref(&row), *at_ms)
            .await?;
        if seq != grown.size() {
            return Err(moved(seq));
        }
        grown = extend_tree(engine, &mut tx, &grown, seq, std::slice::from_ref(&row))
            .await?
            .tree;
    }
    let mut stored = ClaimLedger::default();
    for (digest, content) in &recovery.attachments {
        // Whole, as the export holds them (decision 1180).
        stored.attach(super::attachment::Stored {
            digest: *digest,
            body: content.clone(),
            assembled: false,
        });
    }
    tx.take_claims(&stored).await?;
    tx.commit().await?;
    heads.send_replace(grown.head());
    *tree = grown;
    Ok(tree.size())
}
