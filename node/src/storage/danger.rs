//! Dangerous access to the store, for tests only.
//!
//! Later tests play a malicious operator who edits the node's own database
//! to hide an access (DESIGN §12); the access log must make that visible.
//! Nothing in the node may call this module.

use tokio::sync::oneshot;

use super::writer::Command;
use super::{Storage, StorageError};

/// Executes `sql` (one or more statements, no parameters) against the store,
/// bypassing every check of the storage layer, and returns the number of
/// rows affected. It runs through the writer queue, in order with appends,
/// so on SQLite it uses the single write connection (a `PRAGMA` it sets
/// stays set on that connection).
///
/// Like [`Storage::append`]: dropping the future after the statement was
/// queued does not withdraw it.
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
