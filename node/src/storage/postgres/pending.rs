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

use sqlx::PgConnection;

use crate::storage::StorageError;
use crate::storage::claims::{ClaimLedger, Counted};
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
    attachments: (Vec<Vec<u8>>, Vec<Vec<u8>>),
}

impl Pending {
    pub(super) fn is_empty(&self) -> bool {
        self.journal.seqs.is_empty()
            && self.tree.0.is_empty()
            && self.state.is_empty()
            && self.claims.is_none()
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

    /// Holds flow-state writes made at `at`, after those held before.
    pub(super) fn hold_state(&mut self, writes: &[StateWrite], at: i64) {
        self.state.extend(
            writes
                .iter()
                .map(|w| (w.ns.clone(), w.key.clone(), w.value.clone(), at)),
        );
    }

    /// Holds what a batch's claims took (none held yet).
    pub(super) fn hold_claims(&mut self, ledger: &ClaimLedger) {
        let mut claims = Claims::default();
        for (region, nonce, expires) in &ledger.nonces {
            claims.nonces.0.push(region.clone());
            claims.nonces.1.push(nonce.to_vec());
            claims.nonces.2.push(*expires);
        }
        for (id, c) in &ledger.uses {
            if c.existed {
                claims.uses_updated.0.push(id.to_vec());
                claims.uses_updated.1.push(after(c));
                claims.uses_updated.2.push(c.before);
            } else {
                claims.uses_inserted.0.push(id.to_vec());
                claims.uses_inserted.1.push(after(c));
            }
        }
        for ((peer, window), c) in &ledger.quota {
            if c.existed {
                claims.quota_updated.0.push(peer.clone());
                claims.quota_updated.1.push(*window);
                claims.quota_updated.2.push(after(c));
                claims.quota_updated.3.push(c.before);
            } else {
                claims.quota_inserted.0.push(peer.clone());
                claims.quota_inserted.1.push(*window);
                claims.quota_inserted.2.push(after(c));
            }
        }
        for (digest, body) in &ledger.attachments {
            claims.attachments.0.push(digest.to_vec());
            claims.attachments.1.push(body.clone());
        }
        self.claims = Some(claims);
    }

    /// Sends every held write in one statement on `conn`. A guarded claim
    /// write that changed fewer rows than it should is
    /// [`StorageError::ClaimRaced`] (the transaction is then rolled back by
    /// its owner); a failed statement is `Err(Ok(e))` for the caller to name.
    pub(super) async fn send(
        self,
        conn: &mut PgConnection,
        location: &str,
    ) -> Result<(), Result<sqlx::Error, StorageError>> {
        let mut sql = Statement::default();
        let Pending {
            journal,
            tree,
            state,
            claims,
        } = self;
        if !journal.seqs.is_empty() {
            let [s, k, a, b] = sql.params();
            sql.with(format!(
                "INSERT INTO journal (seq, kind, recorded_at_unix_ms, body) \
                 SELECT * FROM UNNEST({s}::int8[], {k}::int4[], {a}::int8[], {b}::bytea[])"
            ));
        }
        if !tree.0.is_empty() {
            let [i, h] = sql.params();
            sql.with(format!(
                "INSERT INTO tree_hashes (idx, hash) SELECT * FROM UNNEST({i}::int8[], {h}::bytea[])"
            ));
        }
        let (puts, deletes) = last_writes(state);
        if !puts.0.is_empty() {
            let [n, k, v, a] = sql.params();
            sql.with(format!(
                "INSERT INTO flow_state (ns, key, value, updated_at_unix_ms) \
                 SELECT * FROM UNNEST({n}::text[], {k}::text[], {v}::bytea[], {a}::int8[]) \
                 ON CONFLICT (ns, key) DO UPDATE \
                 SET value = excluded.value, updated_at_unix_ms = excluded.updated_at_unix_ms"
            ));
        }
        if !deletes.0.is_empty() {
            let [n, k] = sql.params();
            sql.with(format!(
                "DELETE FROM flow_state WHERE (ns, key) IN \
                 (SELECT * FROM UNNEST({n}::text[], {k}::text[]))"
            ));
        }
        // Each guarded write returns its rows, counted against what it must
        // change.
        let mut expected = Vec::new();
        if let Some(c) = &claims {
            if !c.nonces.0.is_empty() {
                let [r, n, e] = sql.params();
                expected.push(c.nonces.0.len());
                sql.counted(format!(
                    "INSERT INTO nonces (requester_region, nonce, expires_at_unix_ms) \
                     SELECT * FROM UNNEST({r}::text[], {n}::bytea[], {e}::int8[]) \
                     ON CONFLICT DO NOTHING RETURNING 1"
                ));
            }
            if !c.uses_updated.0.is_empty() {
                let [i, after, before] = sql.params();
                expected.push(c.uses_updated.0.len());
                sql.counted(format!(
                    "UPDATE authorization_uses a SET uses = u.after \
                     FROM UNNEST({i}::bytea[], {after}::int8[], {before}::int8[]) AS u(id, after, before) \
                     WHERE a.authorization_id = u.id AND a.uses = u.before RETURNING 1"
                ));
            }
            if !c.uses_inserted.0.is_empty() {
                let [i, after] = sql.params();
                expected.push(c.uses_inserted.0.len());
                sql.counted(format!(
                    "INSERT INTO authorization_uses (authorization_id, uses) \
                     SELECT * FROM UNNEST({i}::bytea[], {after}::int8[]) \
                     ON CONFLICT DO NOTHING RETURNING 1"
                ));
            }
            if !c.quota_updated.0.is_empty() {
                let [p, w, after, before] = sql.params();
                expected.push(c.quota_updated.0.len());
                sql.counted(format!(
                    "UPDATE quota_usage q SET used = u.after \
                     FROM UNNEST({p}::text[], {w}::int8[], {after}::int8[], {before}::int8[]) \
                     AS u(peer, win, after, before) \
                     WHERE q.peer = u.peer AND q.window_start_unix_ms = u.win AND q.used = u.before \
                     RETURNING 1"
                ));
            }
            if !c.quota_inserted.0.is_empty() {
                let [p, w, after] = sql.params();
                expected.push(c.quota_inserted.0.len());
                sql.counted(format!(
                    "INSERT INTO quota_usage (peer, window_start_unix_ms, used) \
                     SELECT * FROM UNNEST({p}::text[], {w}::int8[], {after}::int8[]) \
                     ON CONFLICT DO NOTHING RETURNING 1"
                ));
            }
            if !c.attachments.0.is_empty() {
                let [d, b] = sql.params();
                sql.with(format!(
                    "INSERT INTO attachments (digest, body) \
                     SELECT * FROM UNNEST({d}::bytea[], {b}::bytea[]) ON CONFLICT (digest) DO NOTHING"
                ));
            }
        }
        let text = sql.text();
        // Bound in the order the parameters were numbered above.
        let mut query = sqlx::query_as::<_, (Vec<i64>,)>(&text);
        if !journal.seqs.is_empty() {
            query = query
                .bind(journal.seqs)
                .bind(journal.kinds)
                .bind(journal.at)
                .bind(journal.bodies);
        }
        if !tree.0.is_empty() {
            query = query.bind(tree.0).bind(tree.1);
        }
        if !puts.0.is_empty() {
            query = query.bind(puts.0).bind(puts.1).bind(puts.2).bind(puts.3);
        }
        if !deletes.0.is_empty() {
            query = query.bind(deletes.0).bind(deletes.1);
        }
        if let Some(c) = claims {
            if !c.nonces.0.is_empty() {
                query = query.bind(c.nonces.0).bind(c.nonces.1).bind(c.nonces.2);
            }
            if !c.uses_updated.0.is_empty() {
                let (i, after, before) = c.uses_updated;
                query = query.bind(i).bind(after).bind(before);
            }
            if !c.uses_inserted.0.is_empty() {
                query = query.bind(c.uses_inserted.0).bind(c.uses_inserted.1);
            }
            if !c.quota_updated.0.is_empty() {
                let (p, w, after, before) = c.quota_updated;
                query = query.bind(p).bind(w).bind(after).bind(before);
            }
            if !c.quota_inserted.0.is_empty() {
                let (p, w, after) = c.quota_inserted;
                query = query.bind(p).bind(w).bind(after);
            }
            if !c.attachments.0.is_empty() {
                query = query.bind(c.attachments.0).bind(c.attachments.1);
            }
        }
        let (changed,) = query.fetch_one(conn).await.map_err(Ok)?;
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
        Ok(())
    }
}

/// The counter's value once the batch's uses are added (the ledger decided
/// each against the maximum).
fn after(c: &Counted) -> i64 {
    c.before + c.added
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

/// One statement of data-modifying `WITH` clauses, its parameters numbered
/// as they are asked for; it selects the row counts of the guarded ones.
#[derive(Default)]
struct Statement {
    clauses: Vec<String>,
    counted: Vec<String>,
    params: usize,
}

impl Statement {
    /// The next `N` parameter placeholders.
    fn params<const N: usize>(&mut self) -> [String; N] {
        std::array::from_fn(|_| {
            self.params += 1;
            format!("${}", self.params)
        })
    }

    fn with(&mut self, clause: String) {
        self.clauses
            .push(format!("w{} AS ({clause})", self.clauses.len()));
    }

    fn counted(&mut self, clause: String) {
        let name = format!("w{}", self.clauses.len());
        self.counted.push(format!("(SELECT count(*) FROM {name})"));
        self.clauses.push(format!("{name} AS ({clause})"));
    }

    fn text(&self) -> String {
        format!(
            "WITH {} SELECT ARRAY[{}]::int8[]",
            self.clauses.join(", "),
            self.counted.join(", ")
        )
    }
}
