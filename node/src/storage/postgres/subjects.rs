//! PostgreSQL: the subject vault and aliases ([`crate::storage::subjects`]).

use credex_protocol::query::SubjectPseudonym;
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::PgEngine;
use crate::storage::StorageError;
use crate::storage::subjects::{SubjectAlias, SubjectRow};

/// Vault rows (two parameters) or aliases (three) per `INSERT`, well under
/// PostgreSQL's bound-parameter limit.
const ROWS_PER_INSERT: usize = 4096;

/// Inserts `subjects` (vault rows, then their aliases), keeping rows
/// already present; part of the caller's transaction.
pub(super) async fn insert(
    conn: &mut PgConnection,
    subjects: &[SubjectRow],
) -> Result<(), sqlx::Error> {
    for chunk in subjects.chunks(ROWS_PER_INSERT) {
        let mut insert =
            QueryBuilder::<Postgres>::new("INSERT INTO subject_vault (subject_key, sealed_id) ");
        insert.push_values(chunk, |mut row, s| {
            row.push_bind(s.subject_key.as_str())
                .push_bind(s.sealed_id.as_slice());
        });
        insert.push(" ON CONFLICT (subject_key) DO NOTHING");
        insert.build().persistent(false).execute(&mut *conn).await?;
    }
    let aliases: Vec<(&SubjectPseudonym, &str)> = subjects
        .iter()
        .flat_map(|s| s.aliases.iter().map(|a| (a, s.subject_key.as_str())))
        .collect();
    insert_aliases(conn, &aliases).await
}

async fn insert_aliases(
    conn: &mut PgConnection,
    aliases: &[(&SubjectPseudonym, &str)],
) -> Result<(), sqlx::Error> {
    for chunk in aliases.chunks(ROWS_PER_INSERT) {
        let mut insert = QueryBuilder::<Postgres>::new(
            "INSERT INTO subject_aliases (epoch, pseudonym, subject_key) ",
        );
        insert.push_values(chunk, |mut row, (p, key)| {
            row.push_bind(i64::from(p.epoch))
                .push_bind(p.mac.as_slice())
                .push_bind(*key);
        });
        insert.push(" ON CONFLICT (epoch, pseudonym) DO NOTHING");
        insert.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

impl PgEngine {
    pub(crate) async fn update_aliases(
        &self,
        add: &[SubjectAlias],
        drop_epochs: &[u32],
    ) -> Result<u64, StorageError> {
        const OP: &str = "subject alias update";
        let fail = |e| self.write_error(OP, e);
        let mut tx = self.pool.begin().await.map_err(fail)?;
        let mut changed = 0;
        for epoch in drop_epochs {
            changed += sqlx::query("DELETE FROM subject_aliases WHERE epoch = $1")
                .bind(i64::from(*epoch))
                .execute(&mut *tx)
                .await
                .map_err(fail)?
                .rows_affected();
        }
        let pairs: Vec<(&SubjectPseudonym, &str)> = add
            .iter()
            .map(|a| (&a.pseudonym, a.subject_key.as_str()))
            .collect();
        insert_aliases(&mut tx, &pairs).await.map_err(fail)?;
        tx.commit().await.map_err(fail)?;
        Ok(changed + add.len() as u64)
    }

    pub(crate) async fn subject_for(
        &self,
        pseudonym: &SubjectPseudonym,
    ) -> Result<Option<String>, StorageError> {
        sqlx::query_scalar(
            "SELECT subject_key FROM subject_aliases WHERE epoch = $1 AND pseudonym = $2",
        )
        .bind(i64::from(pseudonym.epoch))
        .bind(pseudonym.mac.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| self.read_error("subject alias", e))
    }

    pub(crate) async fn sealed_subjects(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<(String, Vec<u8>)>, StorageError> {
        sqlx::query_as(
            "SELECT subject_key, sealed_id FROM subject_vault WHERE subject_key > $1 \
             ORDER BY subject_key LIMIT $2",
        )
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| self.read_error("subject vault page", e))
    }

    pub(crate) async fn subject_counts(&self) -> Result<(i64, Vec<(i64, i64)>), StorageError> {
        let fail = |e| self.read_error("subject counts", e);
        let persons: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM subject_vault")
            .fetch_one(&self.pool)
            .await
            .map_err(fail)?;
        let by_epoch = sqlx::query_as(
            "SELECT epoch, COUNT(*) FROM subject_aliases GROUP BY epoch ORDER BY epoch",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(fail)?;
        Ok((persons, by_epoch))
    }
}
