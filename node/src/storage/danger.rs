//! Dangerous access to the store, for tests only.
//!
//! Tests play a malicious operator who edits the node's own database to
//! hide or change an access (DESIGN §12); the access log must make that
//! visible. The edits here change the journal or the checkpoints *without*
//! the Merkle tree following (except [`truncate_log`], which rewinds
//! everything to fork the log, and [`rewrite_log`], which appends again
//! after it), exactly as an operator with database access could. Nothing in the node may call this module, and it is
//! compiled only with the cargo feature `danger`, which the tests and the
//! simulator enable and the `credex` binary never does (decision 0700).
//!
//! Every edit runs through the writer queue, in order with appends, under
//! the journal's write lock. Like [`Storage::append`]: dropping a future
//! after its edit was queued does not withdraw the edit.

use tokio::sync::oneshot;

use credex_protocol::tlog::stored_hash_count;

use super::writer::Command;
use super::{Storage, StorageError};

/// One edit, run by the writer.
pub(crate) enum DangerEdit {
    OverwriteBody { seq: i64, body: Vec<u8> },
    DeleteJournalRow { seq: i64 },
    SwapJournalRows { a: i64, b: i64 },
    ReplaceCheckpoint { size: i64, note: String },
    TruncateLog { size: i64, hashes: i64 },
}

/// Executes `sql` (one or more statements, no parameters) against the store,
/// bypassing every check of the storage layer, and returns the number of
/// rows affected. It runs through the writer queue, in order with appends,
/// so on SQLite it uses the single write connection (a `PRAGMA` it sets
/// stays set on that connection).
pub async fn execute_raw(storage: &Storage, sql: &str) -> Result<u64, StorageError> {
    let (reply, answer) = oneshot::channel();
    storage
        .send(Command::ExecuteRaw {
            sql: sql.to_owned(),
            reply,
        })
        .await?;
    storage.answer(answer).await
}

/// Replaces the body of journal record `seq` (its tree hashes stay), as an
/// operator rewriting an entry would. Returns the rows changed (0 if there
/// is no such record).
pub async fn overwrite_journal_body(
    storage: &Storage,
    seq: u64,
    body: Vec<u8>,
) -> Result<u64, StorageError> {
    edit(
        storage,
        DangerEdit::OverwriteBody {
            seq: db_int(seq),
            body,
        },
    )
    .await
}

/// Deletes journal record `seq` (its tree hashes stay), as an operator
/// hiding an entry would. Deleting the last record makes later appends fail
/// (their tree hashes would overwrite stored ones). Returns the rows
/// deleted.
pub async fn delete_journal_row(storage: &Storage, seq: u64) -> Result<u64, StorageError> {
    edit(storage, DangerEdit::DeleteJournalRow { seq: db_int(seq) }).await
}

/// Swaps kind, time and body of journal records `a` and `b` (their tree
/// hashes stay), as an operator reordering entries would. Returns the rows
/// changed (2, or 0 if either record is missing or `a == b`).
pub async fn swap_journal_rows(storage: &Storage, a: u64, b: u64) -> Result<u64, StorageError> {
    edit(
        storage,
        DangerEdit::SwapJournalRows {
            a: db_int(a),
            b: db_int(b),
        },
    )
    .await
}

/// Replaces the stored checkpoint of tree size `size` with `note` (for
/// example one signed with another key). Returns the rows changed.
pub async fn replace_checkpoint(
    storage: &Storage,
    size: u64,
    note: String,
) -> Result<u64, StorageError> {
    edit(
        storage,
        DangerEdit::ReplaceCheckpoint {
            size: db_int(size),
            note,
        },
    )
    .await
}

/// Rewinds the log to its first `size` records: deletes the later journal
/// records, the attachments they keep, their tree hashes, and the
/// checkpoints (with cosignatures) of larger trees; the writer then continues from `size`. Appending after
/// this forks the log: checkpoints already handed out for larger sizes
/// contradict the new ones. Returns the journal rows deleted.
pub async fn truncate_log(storage: &Storage, size: u64) -> Result<u64, StorageError> {
    let hashes = stored_hash_count(size).ok_or_else(|| StorageError::TreeSizeUnavailable {
        size,
        committed: storage.tree_head().size,
    })?;
    edit(
        storage,
        DangerEdit::TruncateLog {
            size: db_int(size),
            hashes: db_int(hashes),
        },
    )
    .await
}

/// Rewrites the log from record `from` on, as an operator hiding entries
/// would: the records from `from` that `keep` accepts are appended again
/// (new seqs, a rebuilt tree, new checkpoints signed with the node's key)
/// and the attachment each kept (decision 1220) moves with it to its new
/// seq; the others vanish with their attachments. Returns the new seqs of
/// the records kept, in order.
pub async fn rewrite_log(
    storage: &Storage,
    from: u64,
    keep: impl Fn(&super::JournalRecord) -> bool,
) -> Result<Vec<u64>, StorageError> {
    let mut later = Vec::new();
    loop {
        let page = storage
            .journal_range(from + later.len() as u64, 4096)
            .await?;
        if page.is_empty() {
            break;
        }
        later.extend(page);
    }
    // The attachments of the records to rewrite, parked beside the journal
    // while it is truncated: a sealed body is bound to its digest, not to
    // its seq, so it opens wherever it is put back.
    execute_raw(
        storage,
        &format!(
            "DROP TABLE IF EXISTS danger_parked_attachments; \
             CREATE TABLE danger_parked_attachments AS \
             SELECT seq, digest, body, assembled FROM entry_attachments WHERE seq >= {}",
            db_int(from)
        ),
    )
    .await?;
    truncate_log(storage, from).await?;
    let mut moves = String::new();
    let mut kept = Vec::new();
    for record in later.into_iter().filter(|r| keep(r)) {
        let seq = storage.append(record.kind, record.body).await?;
        moves.push_str(&format!(
            "INSERT INTO entry_attachments (seq, digest, body, assembled) \
             SELECT {}, digest, body, assembled FROM danger_parked_attachments WHERE seq = {}; ",
            db_int(seq),
            db_int(record.seq)
        ));
        kept.push(seq);
    }
    moves.push_str("DROP TABLE danger_parked_attachments");
    execute_raw(storage, &moves).await?;
    Ok(kept)
}

/// Beyond `i64::MAX` nothing is stored: such a value matches no row.
fn db_int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

async fn edit(storage: &Storage, edit: DangerEdit) -> Result<u64, StorageError> {
    let (reply, answer) = oneshot::channel();
    storage.send(Command::Danger { edit, reply }).await?;
    storage.answer(answer).await
}
