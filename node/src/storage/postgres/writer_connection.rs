//! The writer's own PostgreSQL connection, and the transactions its group
//! commits run on it (decision 1330).
//!
//! The writer commits one batch after another. Through a pool of one
//! connection, each batch paid two round trips more than its statements:
//! the pool pings a connection when it is given back, and the next batch
//! waits for that ping to get it; and the journal's next seq was a
//! statement of its own after `BEGIN`. Here the writer holds a plain
//! connection, takes it for a batch and puts it back after `COMMIT`, with
//! nothing sent in between. A batch begins with one simple query of three
//! statements: `BEGIN`, the journal's advisory lock, and the next seq. In
//! `READ COMMITTED` each statement of a simple query takes its own
//! snapshot, so the seq is read once the lock is held.
//!
//! A batch that is not committed (an error, or its future dropped) drops
//! its connection: PostgreSQL rolls the transaction back when the socket
//! closes, and the next batch connects anew. No connection ever goes back
//! into use in an unknown state.
//!
//! The connection is made by the first batch, on the writer's thread, so
//! its round trips are driven there (decision 1160).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{Connection, Executor, Row};

/// The writer's connection while no batch holds it.
#[derive(Clone)]
pub(super) struct WriterConnection(Arc<Settings>);

struct Settings {
    connect: PgConnectOptions,
    /// The session settings every connection of the engine runs first.
    session: Arc<str>,
    connect_timeout: Duration,
    idle: Mutex<Option<PgConnection>>,
}

/// A transaction begun on the writer's connection: it holds the journal's
/// advisory lock until [`WriterTx::commit`] or until it is dropped (which
/// closes the connection, so the server rolls it back).
pub(super) struct WriterTx {
    conn: PgConnection,
    home: WriterConnection,
}

impl WriterConnection {
    pub(super) fn new(
        connect: PgConnectOptions,
        session: Arc<str>,
        connect_timeout: Duration,
    ) -> WriterConnection {
        WriterConnection(Arc::new(Settings {
            connect,
            session,
            connect_timeout,
            idle: Mutex::default(),
        }))
    }

    /// Begins a transaction holding the advisory lock `lock_key`, and reads
    /// the journal's next seq under it: one round trip on a connection
    /// already made.
    pub(super) async fn begin(&self, lock_key: i64) -> Result<(WriterTx, i64), sqlx::Error> {
        let idle = self
            .0
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let mut conn = match idle {
            Some(conn) => conn,
            None => self.connect().await?,
        };
        // The key is a number the engine computed, not input.
        let begin = format!(
            "BEGIN; SELECT pg_advisory_xact_lock({lock_key}); {}",
            super::NEXT_SEQ
        );
        // A query without arguments goes as one simple query.
        let rows = conn.fetch_all(begin.as_str()).await?;
        // The lock's statement returns one row (void), the next seq's the
        // last one.
        let next: i64 = match rows.last() {
            Some(row) => row.try_get(0)?,
            None => return Err(sqlx::Error::RowNotFound),
        };
        let tx = WriterTx {
            conn,
            home: self.clone(),
        };
        Ok((tx, next))
    }

    async fn connect(&self) -> Result<PgConnection, sqlx::Error> {
        let settings = &self.0;
        let mut conn = tokio::time::timeout(
            settings.connect_timeout,
            PgConnection::connect_with(&settings.connect),
        )
        .await
        .map_err(|_| {
            sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("no connection within {:?}", settings.connect_timeout),
            ))
        })??;
        conn.execute(&*settings.session).await?;
        Ok(conn)
    }

    /// Closes the idle connection, if any (a batch in flight drops its own).
    pub(super) async fn close(&self) {
        let idle = self
            .0
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(conn) = idle {
            // Best effort: the server ends the session when the socket closes.
            let _ = conn.close().await;
        }
    }
}

impl WriterTx {
    /// The transaction's connection.
    pub(super) fn conn(&mut self) -> &mut PgConnection {
        &mut self.conn
    }

    /// Commits, and gives the connection back for the next batch. On an
    /// error the connection is closed: whether `COMMIT` took effect is
    /// unknown, and the caller reports the batch as failed.
    pub(super) async fn commit(self) -> Result<(), sqlx::Error> {
        let WriterTx { mut conn, home } = self;
        conn.execute("COMMIT").await?;
        *home.0.idle.lock().unwrap_or_else(PoisonError::into_inner) = Some(conn);
        Ok(())
    }
}
