//! The writes of a PostgreSQL batch transaction held back until its next
//! statement or its commit, then sent as one statement of data-modifying
//! `WITH` clauses: a group commit's claims, flow state, journal rows and
//! tree hashes in one round trip rather than one each (decision 1160).
//!
//! Every other statement of the batch goes through
//! [`PgBatch::conn`](super::PgBatch::conn), which sends the held writes
//! first: whatever the batch reads sees what it wrote, as if each write had
//! been sent at once. Only the time a failed write is reported changes (at
//! the next statement or the commit), and a failed write fails the whole
//! transaction either way.

use std::collections::HashMap;

use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::storage::StorageError;
use crate::storage::claims::ClaimLedger;
use crate::storage::engine::seq_column;
use crate::storage::state::StateWrite;

/// Writes held for one statement. Claims are held once: a second
/// [`Pending::hold_claims`] needs the first sent (their guards read what
/// the first wrote).
#[derive(Default)]
pub(super) struct Pending {
    journal: JournalRows,
    tree: (Vec<i64>, Vec<Vec<u8>>),
    /// Flow-state writes in the order made; only each key's last counts.
    state: Vec<HeldState>,
    claims: Option<Claims>,
    /// Signed checkpoints to store: size, note, signed at.
    checkpoints: (Vec<i64>, Vec<String>, Vec<i64>),
}

#[derive(Default)]
struct JournalRows {
    seqs: Vec<i64>,
    kinds: Vec<i32>,
    at: Vec<i64>,
    bodies: Vec<Vec<u8>>,
}

/// A batch's claims as the columns of their guarded writes.
#[derive(Default)]
struct Claims {
    nonces: (Vec<String>, Vec<Vec<u8>>, Vec<i64>),
    /// Counters with a row: (key, after, before).
    uses_updated: (Vec<Vec<u8>>, Vec<i64>, Vec<i64>),
    uses_inserted: (Vec<Vec<u8>>, Vec<i64>),
    quota_updated: (Vec<String>, Vec<i64>, Vec<i64>, Vec<i64>),
    quota_inserted: (Vec<String>, Vec<i64>, Vec<i64>),
    attachments: (Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<bool>),
    kept: KeptColumns,
}

/// Attachments kept by their entry (decision 1220), as columns: seq,
/// digest, body, assembled.
type KeptColumns = (Vec<i64>, Vec<Vec<u8>>, Vec<Vec<u8>>, Vec<bool>);

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.journal.seqs.is_empty()
            && self.tree.0.is_empty()
            && self.state.is_empty()
            && self.claims.is_none()
            && self.checkpoints.0.is_empty()
    }

    pub(super) fn has_claims(&self) -> bool {
        self.claims.is_some()
    }

    /// Holds journal rows `(seq, kind, body)` recorded at `at`.
    pub(super) fn hold_journal<'a>(
        &mut self,
        rows: impl Iterator<Item = (i64, u16, &'a [u8])>,
        at: i64,
    ) {
        for (seq, kind, body) in rows {
            self.journal.seqs.push(seq);
            self.journal.kinds.push(i32::from(kind));
            self.journal.at.push(at);
            self.journal.bodies.push(body.to_vec());
        }
    }

    /// Holds tree hashes at consecutive indexes from `first_index`.
    pub(super) fn hold_tree_hashes<'a>(
        &mut self,
        first_index: i64,
        hashes: impl Iterator<Item = &'a [u8]>,
    ) {
        for (index, hash) in (first_index..).zip(hashes) {
            self.tree.0.push(index);
            self.tree.1.push(hash.to_vec());
        }
    }

    /// Holds this node's signed checkpoint of the tree of `size` (a
    /// database integer) unless one is stored for that size. Whether it was
    /// stored comes back from [`Pending::send`].
    pub(super) fn hold_checkpoint(&mut self, size: i64, note: &str, at: i64) {
        self.checkpoints.0.push(size);
        self.checkpoints.1.push(note.to_owned());
        self.checkpoints.2.push(at);
    }

    /// Holds flow-state writes made at `at`, after those held before.
    pub(super) fn hold_state(&mut self, writes: &[StateWrite], at: i64) {
        self.state.extend(
            writes
                .iter()
                .map(|w| (w.ns.clone(), w.key.clone(), w.value.clone(), at)),
        );
    }

    /// Holds what a batch's claims took (none held yet). Fails only for a
    /// seq beyond a database integer.
    pub(super) fn hold_claims(
        &mut self,
        ledger: &ClaimLedger,
        location: &str,
    ) -> Result<(), StorageError> {
        let mut claims = Claims::default();
        for (region, nonce, expires) in &ledger.nonces {
            claims.nonces.0.push(region.clone());
            claims.nonces.1.push(nonce.to_vec());
            claims.nonces.2.push(*expires);
        }
        for (id, c) in &ledger.uses {
            if c.existed {
                claims.uses_updated.0.push(id.to_vec());
                claims.uses_updated.1.push(c.after());
                claims.uses_updated.2.push(c.before);
            } else {
                claims.uses_inserted.0.push(id.to_vec());
                claims.uses_inserted.1.push(c.after());
            }
        }
        for ((peer, window), c) in &ledger.quota {
            if c.existed {
                claims.quota_updated.0.push(peer.clone());
                claims.quota_updated.1.push(*window);
                claims.quota_updated.2.push(c.after());
                claims.quota_updated.3.push(c.before);
            } else {
                claims.quota_inserted.0.push(peer.clone());
                claims.quota_inserted.1.push(*window);
                claims.quota_inserted.2.push(c.after());
            }
        }
        for a in &ledger.attachments {
            claims.attachments.0.push(a.digest.to_vec());
            claims.attachments.1.push(a.body.clone());
            claims.attachments.2.push(a.assembled);
        }
        for (seq, a) in &ledger.kept {
            claims.kept.0.push(seq_column(location, *seq)?);
            claims.kept.1.push(a.digest.to_vec());
            claims.kept.2.push(a.body.clone());
            claims.kept.3.push(a.assembled);
        }
        self.claims = Some(claims);
        Ok(())
    }

    /// Sends every held write in one statement on `conn`, and returns for
    /// each held checkpoint, in order, whether it is stored: inserted, or
    /// the same note already stored for its size (false: another note is,
    /// and nothing was written for it). A guarded claim write that changed
    /// fewer rows than it should is [`StorageError::ClaimRaced`] (the
    /// transaction is then rolled back by its owner); a failed statement is
    /// `Err(Ok(e))` for the caller to name.
    pub(super) async fn send(
        self,
        conn: &mut PgConnection,
        location: &str,
    ) -> Result<Vec<bool>, Result<sqlx::Error, StorageError>> {
        let Pending {
            journal,
            tree,
            state,
            claims,
            checkpoints,
        } = self;
        let mut sql = Statement::default();
        let (sizes, notes, signed_at) = checkpoints;
        let checkpoints = (!sizes.is_empty()).then(|| {
            let inserted = sql.write(None, |q| {
                q.push(
                    "INSERT INTO checkpoints (size, note, signed_at_unix_ms) SELECT * FROM UNNEST(",
                );
                column(q, sizes.clone(), "int8[], ");
                column(q, notes.clone(), "text[], ");
                column(
                    q,
                    signed_at,
                    "int8[]) ON CONFLICT (size) DO NOTHING RETURNING size, note",
                );
            });
            (inserted, sizes, notes)
        });
        if !journal.seqs.is_empty() {
            sql.write(None, |q| {
                q.push("INSERT INTO journal (seq, kind, recorded_at_unix_ms, body) SELECT * FROM UNNEST(");
                column(q, journal.seqs, "int8[], ");
                column(q, journal.kinds, "int4[], ");
                column(q, journal.at, "int8[], ");
                column(q, journal.bodies, "bytea[])");
            });
        }
        if !tree.0.is_empty() {
            sql.write(None, |q| {
                q.push("INSERT INTO tree_hashes (idx, hash) SELECT * FROM UNNEST(");
                column(q, tree.0, "int8[], ");
                column(q, tree.1, "bytea[])");
            });
        }
        let (puts, deletes) = last_writes(state);
        if !puts.0.is_empty() {
            sql.write(None, |q| {
                q.push("INSERT INTO flow_state (ns, key, value, updated_at_unix_ms) SELECT * FROM UNNEST(");
                column(q, puts.0, "text[], ");
                column(q, puts.1, "text[], ");
                column(q, puts.2, "bytea[], ");
                column(q, puts.3, "int8[]) ");
                q.push(
                    "ON CONFLICT (ns, key) DO UPDATE \
                     SET value = excluded.value, updated_at_unix_ms = excluded.updated_at_unix_ms",
                );
            });
        }
        if !deletes.0.is_empty() {
            sql.write(None, |q| {
                q.push("DELETE FROM flow_state WHERE (ns, key) IN (SELECT * FROM UNNEST(");
                column(q, deletes.0, "text[], ");
                column(q, deletes.1, "text[]))");
            });
        }
        if let Some(c) = claims {
            // Each guarded write returns its rows, counted against what it
            // must change.
            let (regions, nonces, expiries) = c.nonces;
            if !regions.is_empty() {
                sql.write(Some(regions.len()), |q| {
                    q.push("INSERT INTO nonces (requester_region, nonce, expires_at_unix_ms) SELECT * FROM UNNEST(");
                    column(q, regions, "text[], ");
                    column(q, nonces, "bytea[], ");
                    column(q, expiries, "int8[]) ON CONFLICT DO NOTHING RETURNING 1");
                });
            }
            let (ids, after, before) = c.uses_updated;
            if !ids.is_empty() {
                sql.write(Some(ids.len()), |q| {
                    q.push("UPDATE authorization_uses a SET uses = u.after FROM UNNEST(");
                    column(q, ids, "bytea[], ");
                    column(q, after, "int8[], ");
                    column(q, before, "int8[]) AS u(id, after, before) ");
                    q.push("WHERE a.authorization_id = u.id AND a.uses = u.before RETURNING 1");
                });
            }
            let (ids, after) = c.uses_inserted;
            if !ids.is_empty() {
                sql.write(Some(ids.len()), |q| {
                    q.push("INSERT INTO authorization_uses (authorization_id, uses) SELECT * FROM UNNEST(");
                    column(q, ids, "bytea[], ");
                    column(q, after, "int8[]) ON CONFLICT DO NOTHING RETURNING 1");
                });
            }
            let (peers, windows, after, before) = c.quota_updated;
            if !peers.is_empty() {
                sql.write(Some(peers.len()), |q| {
                    q.push("UPDATE quota_usage q SET used = u.after FROM UNNEST(");
                    column(q, peers, "text[], ");
                    column(q, windows, "int8[], ");
                    column(q, after, "int8[], ");
                    column(q, before, "int8[]) AS u(peer, win, after, before) ");
                    q.push(
                        "WHERE q.peer = u.peer AND q.window_start_unix_ms = u.win \
                         AND q.used = u.before RETURNING 1",
                    );
                });
            }
            let (peers, windows, after) = c.quota_inserted;
            if !peers.is_empty() {
                sql.write(Some(peers.len()), |q| {
                    q.push("INSERT INTO quota_usage (peer, window_start_unix_ms, used) SELECT * FROM UNNEST(");
                    column(q, peers, "text[], ");
                    column(q, windows, "int8[], ");
                    column(q, after, "int8[]) ON CONFLICT DO NOTHING RETURNING 1");
                });
            }
            let (digests, bodies, assembled) = c.attachments;
            if !digests.is_empty() {
                sql.write(None, |q| {
                    q.push(
                        "INSERT INTO attachments (digest, body, assembled) SELECT * FROM UNNEST(",
                    );
                    column(q, digests, "bytea[], ");
                    column(q, bodies, "bytea[], ");
                    column(q, assembled, "bool[]) ON CONFLICT (digest) DO NOTHING");
                });
            }
            let (seqs, digests, bodies, assembled) = c.kept;
            if !seqs.is_empty() {
                sql.write(None, |q| {
                    q.push("INSERT INTO entry_attachments (seq, digest, body, assembled) SELECT * FROM UNNEST(");
                    column(q, seqs, "int8[], ");
                    column(q, digests, "bytea[], ");
                    column(q, bodies, "bytea[], ");
                    column(q, assembled, "bool[])");
                    q.push(crate::storage::claims::on_kept_conflict!());
                });
            }
        }
        let (mut query, expected) = sql.finish(checkpoints);
        let (changed, stored): (Vec<i64>, Vec<bool>) =
            query.build_query_as().fetch_one(conn).await.map_err(Ok)?;
        let raced = changed.len() != expected.len()
            || changed
                .iter()
                .zip(&expected)
                .any(|(&n, &want)| usize::try_from(n).ok() != Some(want));
        if raced {
            return Err(Err(StorageError::ClaimRaced {
                location: location.to_owned(),
            }));
        }
        Ok(stored)
    }
}

/// Binds `values` as one array parameter, followed by `cast_and_rest`
/// (its type, then the text that follows it).
fn column<T>(q: &mut QueryBuilder<'static, Postgres>, values: Vec<T>, cast_and_rest: &str)
where
    Vec<T>: for<'q> sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + Send + 'static,
{
    q.push_bind(values).push("::").push(cast_and_rest);
}

/// A held flow-state write: namespace, key, value (none: delete), time.
type HeldState = (String, String, Option<Vec<u8>>, i64);
type Puts = (Vec<String>, Vec<String>, Vec<Vec<u8>>, Vec<i64>);
type Deletes = (Vec<String>, Vec<String>);

/// Each key's last write: the puts and the deletes (PostgreSQL refuses an
/// upsert that names a row twice).
fn last_writes(state: Vec<HeldState>) -> (Puts, Deletes) {
    let mut last = HashMap::new();
    for (order, (ns, key, value, at)) in state.into_iter().enumerate() {
        last.insert((ns, key), (order, value, at));
    }
    // In the order written, so one batch's statement text and rows do not
    // depend on the hash map's order.
    let mut last: Vec<_> = last.into_iter().collect();
    last.sort_by_key(|(_, (order, _, _))| *order);
    let (mut puts, mut deletes): (Puts, Deletes) = Default::default();
    for ((ns, key), (_, value, at)) in last {
        match value {
            Some(value) => {
                puts.0.push(ns);
                puts.1.push(key);
                puts.2.push(value);
                puts.3.push(at);
            }
            None => {
                deletes.0.push(ns);
                deletes.1.push(key);
            }
        }
    }
    (puts, deletes)
}

/// One statement of data-modifying `WITH` clauses, each with the
/// parameters it binds; it selects the row counts of the guarded ones.
#[derive(Default)]
struct Statement {
    query: Option<QueryBuilder<'static, Postgres>>,
    clauses: usize,
    /// The guarded clauses' names and the rows each must change.
    counted: Vec<(String, usize)>,
}

impl Statement {
    /// Adds a clause that `write` pushes (text and parameters); with
    /// `must_change`, the rows it returns are counted against that.
    fn write(
        &mut self,
        must_change: Option<usize>,
        write: impl FnOnce(&mut QueryBuilder<'static, Postgres>),
    ) -> String {
        let name = format!("w{}", self.clauses);
        self.clauses += 1;
        let query = match &mut self.query {
            Some(query) => query.push(", "),
            None => self.query.insert(QueryBuilder::new("WITH ")),
        };
        query.push(&name).push(" AS (");
        write(query);
        query.push(")");
        if let Some(rows) = must_change {
            self.counted.push((name.clone(), rows));
        }
        name
    }

    /// The statement, and the rows each counted clause must change, in
    /// the order of the counts it selects. It selects the counts, then
    /// whether each checkpoint of `checkpoints` (the clause that inserted
    /// them, their sizes and notes) is stored: inserted by that clause, or
    /// its note already there (the statement's snapshot holds the rows from
    /// before it, not the ones it inserts).
    fn finish(
        self,
        checkpoints: Option<(String, Vec<i64>, Vec<String>)>,
    ) -> (QueryBuilder<'static, Postgres>, Vec<usize>) {
        let mut query = self
            .query
            .unwrap_or_else(|| QueryBuilder::new("WITH w AS (SELECT 1)"));
        let counts: Vec<String> = self
            .counted
            .iter()
            .map(|(name, _)| format!("(SELECT count(*) FROM {name})"))
            .collect();
        query.push(format!(" SELECT ARRAY[{}]::int8[], ", counts.join(", ")));
        match checkpoints {
            None => {
                query.push("ARRAY[]::bool[]");
            }
            Some((inserted, sizes, notes)) => {
                query.push("ARRAY(SELECT EXISTS (SELECT 1 FROM ");
                query.push(&inserted);
                query.push(
                    " i WHERE i.size = s.size AND i.note = s.note) \
                     OR COALESCE(c.note = s.note, false) FROM UNNEST(",
                );
                column(&mut query, sizes, "int8[], ");
                column(
                    &mut query,
                    notes,
                    "text[]) WITH ORDINALITY AS s(size, note, n) ",
                );
                query.push("LEFT JOIN checkpoints c ON c.size = s.size ORDER BY s.n)");
            }
        }
        (
            query,
            self.counted.into_iter().map(|(_, rows)| rows).collect(),
        )
    }
}
