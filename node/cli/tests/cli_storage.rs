//! Encryption at rest through the binary (decision 1110): a development
//! node's store holds imported records sealed; `credex storage new-data-key`
//! and `rewrap` rotate its keys; a missing or superseded key-encryption key
//! stops the command, naming the file.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn records_are_sealed_and_keys_rotate_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 26000);
    let node = fed.join("nodes/gz-1");
    let config = node.join("node.toml");
    let records = fed.join("records/440000/admin_penalty.jsonl");
    let out = ok(&[
        "records",
        "import",
        "--config",
        p(&config),
        "--category",
        "admin_penalty",
        p(&records),
    ]);
    assert!(out.contains("imported 4 admin_penalty records"), "{out}");

    // Field values of the records imported, and none of them in the
    // node's database files.
    let text = std::fs::read_to_string(&records).unwrap();
    assert!(text.contains("逾期未公示2025年度报告") && text.contains("罚款人民币5000元"));
    for file in std::fs::read_dir(node.join("data")).unwrap() {
        let Ok(bytes) = std::fs::read(file.unwrap().path()) else {
            continue;
        };
        for needle in [
            "逾期未公示2025年度报告",
            "罚款人民币5000元",
            "内部备注440000-1",
        ] {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle} in clear in the store"
            );
        }
    }

    let keys = ok(&["storage", "keys", "--config", p(&config)]);
    assert!(keys.contains("data key 1: aes-256-gcm"), "{keys}");
    let out = ok(&["storage", "new-data-key", "--config", p(&config)]);
    assert!(out.contains("data key 2 started"), "{out}");

    let new_kek = node.join("kek-2.pem");
    ok(&["storage", "new-kek", "--out", p(&new_kek)]);
    let e = fails(&["storage", "new-kek", "--out", p(&new_kek)]);
    assert!(
        e.contains("kek-2.pem") && e.contains("already exists"),
        "{e}"
    );
    let out = ok(&[
        "storage",
        "rewrap",
        "--config",
        p(&config),
        "--kek-new",
        p(&new_kek),
    ]);
    assert!(out.contains("2 data keys rewrapped"), "{out}");

    // The configured (old) key no longer opens the store.
    let e = fails(&["storage", "keys", "--config", p(&config)]);
    assert!(
        e.contains("does not unwrap") && e.contains("storage-kek.pem"),
        "{e}"
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("storage-kek.pem", "kek-2.pem");
    std::fs::write(&config, text).unwrap();
    let keys = ok(&["storage", "keys", "--config", p(&config)]);
    assert!(
        keys.contains("data key 1: aes-256-gcm") && keys.contains("data key 2: aes-256-gcm"),
        "{keys}"
    );
    // The store opens under the new key: records import (sealed under
    // data key 2 now, which this process chose at open).
    let out = ok(&[
        "records",
        "import",
        "--config",
        p(&config),
        "--category",
        "admin_penalty",
        p(&records),
    ]);
    assert!(out.contains("imported 4 admin_penalty records"), "{out}");

    // Every stored value opens under the store's keys...
    let out = ok(&["storage", "verify", "--config", p(&config)]);
    assert!(
        out.contains("4 record bodies") && out.contains("open under this store's keys"),
        "{out}"
    );
    // ...until one record's sealed body is copied onto another's row (an
    // edit of the database by hand): verify names the row that fails.
    let db = node.join("data/credex.db");
    let moved = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys\n\
             c = sqlite3.connect(sys.argv[1])\n\
             a, b = c.execute('SELECT record_id, body FROM records ORDER BY record_id LIMIT 2').fetchall()\n\
             c.execute('UPDATE records SET body = ? WHERE record_id = ?', (a[1], b[0]))\n\
             c.commit()\n\
             print(b[0])",
        )
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        moved.status.success(),
        "{}",
        String::from_utf8_lossy(&moved.stderr)
    );
    let victim = String::from_utf8(moved.stdout).unwrap();
    let e = fails(&["storage", "verify", "--config", p(&config)]);
    assert!(e.contains("records") && e.contains(victim.trim()), "{e}");

    // A key file that is missing stops the node's start, naming it.
    std::fs::remove_file(&new_kek).unwrap();
    let e = fails(&["node", "run", "--config", p(&config)]);
    assert!(e.contains("kek-2.pem"), "{e}");
}
