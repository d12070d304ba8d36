//! The credit records that concurrent queries read, batched (issue 18 §1).
//!
//! Each query reads its subject's records in the categories it asks for.
//! Read one by one, that is one round trip a query, and PostgreSQL spends
//! more on binding and answering such a statement than on executing it
//! (docs/performance.md, session 26). So one task takes the reads that are
//! waiting and sends them as one statement: one index range per subject,
//! each with its own categories and limit. While that statement is in
//! flight the next reads queue, so batches grow with the load, and a read
//! that comes alone waits for nothing but the task's hand-off.
//!
//! What a caller gets is what [`super::PgEngine::records_for`] returned
//! before: its subject's records in its categories, ordered by category and
//! record id in byte order, at most its limit. Cancel-safe: a caller that
//! goes away leaves its answer unsent; its read is done anyway (it only
//! reads).

use std::sync::Arc;

use sqlx::PgPool;
use tokio::sync::{mpsc, oneshot};

use crate::storage::StorageError;
use crate::storage::records::StoredRecord;

/// Reads waiting at most: beyond it a caller waits for room.
const QUEUE: usize = 4096;

/// Reads sent in one statement at most.
const MAX_BATCH: usize = 256;

/// The statement: for each read (subject key, limit), its categories given
/// as (read's ordinal, category) pairs.
const READ_BATCH: &str = "SELECT q.i, r.category, r.record_id, r.body \
     FROM UNNEST($1::text[], $2::int8[]) WITH ORDINALITY AS q(key, lim, i) \
     CROSS JOIN LATERAL (SELECT category, record_id, body FROM records \
       WHERE subject_key = q.key AND category = ANY(ARRAY( \
         SELECT c.category FROM UNNEST($3::int8[], $4::text[]) AS c(i, category) WHERE c.i = q.i)) \
       ORDER BY category COLLATE \"C\", record_id COLLATE \"C\" LIMIT q.lim) r";

/// The handle queries read through; the task ends when the last handle is
/// dropped.
#[derive(Clone)]
pub(super) struct RecordReads {
    queue: mpsc::Sender<Read>,
    location: Arc<str>,
}

/// One query's read, waiting for its batch.
struct Read {
    subject_key: String,
    categories: Vec<String>,
    limit: usize,
    reply: oneshot::Sender<Result<Vec<StoredRecord>, StorageError>>,
}

impl RecordReads {
    /// Starts the task that reads on `pool`. Needs a tokio runtime.
    pub(super) fn start(pool: PgPool, location: Arc<str>) -> RecordReads {
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(run(pool, Arc::clone(&location), waiting));
        RecordReads { queue, location }
    }

    /// The records of `subject_key` in `categories`, at most `limit`,
    /// ordered by category and record id (byte order).
    pub(super) async fn read(
        &self,
        subject_key: &str,
        categories: &[String],
        limit: usize,
    ) -> Result<Vec<StoredRecord>, StorageError> {
        let stopped = || StorageError::Closed {
            location: self.location.to_string(),
        };
        let (reply, answer) = oneshot::channel();
        let read = Read {
            subject_key: subject_key.to_owned(),
            categories: categories.to_vec(),
            limit,
            reply,
        };
        self.queue.send(read).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// Takes every read waiting, up to [`MAX_BATCH`], sends them as one
/// statement, and answers each.
async fn run(pool: PgPool, location: Arc<str>, mut waiting: mpsc::Receiver<Read>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while waiting.recv_many(&mut batch, MAX_BATCH).await > 0 {
        batch.retain(|read| !read.reply.is_closed());
        if !batch.is_empty() {
            match read_batch(&pool, &batch).await {
                Ok(found) => {
                    for (read, records) in batch.drain(..).zip(found) {
                        let _ = read.reply.send(Ok(records));
                    }
                }
                Err(e) => {
                    let error = StorageError::Read {
                        operation: "records of a subject",
                        location: location.to_string(),
                        source: Arc::new(e.into()),
                    };
                    for read in batch.drain(..) {
                        let _ = read.reply.send(Err(error.clone()));
                    }
                }
            }
        }
        batch.clear();
    }
}

/// The records each of `batch` asked for, in `batch`'s order, each read's
/// ordered by category and record id.
async fn read_batch(pool: &PgPool, batch: &[Read]) -> Result<Vec<Vec<StoredRecord>>, sqlx::Error> {
    let keys: Vec<&str> = batch.iter().map(|r| r.subject_key.as_str()).collect();
    let limits: Vec<i64> = batch
        .iter()
        .map(|r| i64::try_from(r.limit).unwrap_or(i64::MAX))
        .collect();
    let mut ordinals: Vec<i64> = Vec::new();
    let mut categories: Vec<&str> = Vec::new();
    for (ordinal, read) in (1i64..).zip(batch) {
        for category in &read.categories {
            ordinals.push(ordinal);
            categories.push(category);
        }
    }
    let rows: Vec<(i64, String, String, Vec<u8>)> = sqlx::query_as(READ_BATCH)
        .bind(keys)
        .bind(limits)
        .bind(ordinals)
        .bind(categories)
        .fetch_all(pool)
        .await?;
    let mut found: Vec<Vec<StoredRecord>> = vec![Vec::new(); batch.len()];
    for (ordinal, category, record_id, body) in rows {
        // WITH ORDINALITY counts from 1.
        if let Some(records) = usize::try_from(ordinal - 1)
            .ok()
            .and_then(|i| found.get_mut(i))
        {
            records.push(StoredRecord {
                category,
                record_id,
                body,
            });
        }
    }
    // Byte order, as `COLLATE "C"` (and SQLite's BINARY): a lateral
    // subquery's order is not kept by the join around it.
    for records in &mut found {
        records.sort_by(|a, b| (&a.category, &a.record_id).cmp(&(&b.category, &b.record_id)));
    }
    Ok(found)
}
