//! The region's duties on SQLite: one process opens the database, so no
//! other process can take the duties, and a lease renewal that comes back
//! late — queued behind a large import, or behind another connection's
//! write lock — does not stop them (the 10-million-subject simulation saw
//! "the region's duties did not stop within 10 s" during its import).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use credex_node::config::StorageTarget;
use credex_tests::{Federation, within};

/// How long the other connection holds SQLite's write lock: past the
/// holder's `STOP_AFTER` (3 s), within the writer's busy timeout (5 s).
const HOLD: Duration = Duration::from_millis(4_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_renewal_on_sqlite_does_not_stop_the_duties() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let duties = gy.duties().expect("duties").clone();
    let token = within("the duties", duties.held()).await.expect("held");
    let StorageTarget::Sqlite(db) = &gy.config().storage else {
        panic!("the dev federation stores in SQLite");
    };
    // Another connection takes the write lock and keeps it: the node's next
    // lease claims wait in its writer until it is released.
    let mut locker = std::process::Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import sqlite3, sys, time\n\
             c = sqlite3.connect(sys.argv[1], isolation_level=None)\n\
             c.execute('BEGIN IMMEDIATE')\n\
             print('locked', flush=True)\n\
             time.sleep({})\n\
             c.execute('COMMIT')",
            HOLD.as_secs_f64()
        ))
        .arg(db)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(locker.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert_eq!(line.trim(), "locked");
    // While the lock is held, and two renewals after, the duties run on:
    // they are never stopped, not even for an instant.
    let mut changes = duties.watch();
    let changed = tokio::time::timeout(HOLD + Duration::from_secs(2), changes.changed()).await;
    assert!(
        changed.is_err(),
        "the duties changed hands during the lock: now {:?}",
        duties.token()
    );
    assert_eq!(duties.token(), Some(token));
    assert!(locker.wait().unwrap().success());
    gy.shutdown().await;
}
