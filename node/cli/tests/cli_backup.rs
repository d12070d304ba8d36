//! `credex backup`, `credex restore` and `credex log recover` through the
//! binary (issue 18 §4, decision 1000): a node restored from an old
//! snapshot refuses to start while its log lacks what it already signed,
//! names the way out, and gets past that check once the entries are back
//! from an export of its log.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

use credex_node::config::NodeConfig;
use credex_node::log::head::{HEAD_FILE, read_head_file};

/// Run the node until its checkpointer has recorded a head beyond `beyond`,
/// then stop it; the head's size.
fn run_until_head_beyond(config: &Path, data_dir: &Path, beyond: u64) -> u64 {
    let mut node = start_node(config);
    let deadline = Instant::now() + Duration::from_secs(20);
    let size = loop {
        if let Ok(Some(head)) = read_head_file(&data_dir.join(HEAD_FILE))
            && head.size > beyond
        {
            break head.size;
        }
        assert!(
            Instant::now() < deadline,
            "no checkpoint beyond {beyond} within 20 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(terminate(&mut node).success());
    size
}

/// The first file below `dir`, depth first (a small log's bundle is
/// `tile/entries/000.p/N`).
fn first_file(dir: &Path) -> std::path::PathBuf {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_file() {
            return path;
        }
        if path.is_dir() {
            return first_file(&path);
        }
    }
    panic!("no file below {}", dir.display())
}

#[test]
fn an_old_snapshot_restored_by_the_cli_is_refused_until_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 24000);
    let config = fed.join("nodes/gz-1/node.toml");
    // Its peers are not running here: do not wait long for them.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[transport]\n", "[transport]\nhandshake_timeout_ms = 300\n");
    std::fs::write(&config, text).unwrap();
    let data_dir = NodeConfig::load(&config).unwrap().data_dir;

    let first = run_until_head_beyond(&config, &data_dir, 0);
    let snapshot = dir.path().join("snapshot");
    let out = ok(&["backup", "--config", p(&config), "--out", p(&snapshot)]);
    assert!(out.contains("snapshot of credex/440000/gz-1"), "{out}");
    let snapshot_size: u64 = out
        .split("at log size ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no log size in {out}"));
    assert!(snapshot_size >= first, "{out}");

    // The node runs on: its log grows past the snapshot, and is exported.
    let later = run_until_head_beyond(&config, &data_dir, snapshot_size);
    let export = dir.path().join("export");
    ok(&["log", "export", "--config", p(&config), "--out", p(&export)]);

    let out = ok(&["restore", "--from", p(&snapshot), "--force"]);
    assert!(out.contains("credex log recover"), "{out}");
    let e = fails(&["node", "run", "--config", p(&config)]);
    for says in [
        "log head",
        &format!("holds {snapshot_size} entries"),
        &format!("checkpoint of size {later}"),
        "head file",
        "credex log recover",
    ] {
        assert!(e.contains(says), "the refusal does not say {says:?}: {e}");
    }
    let recover = [
        "log",
        "recover",
        "--config",
        p(&config),
        "--from",
        p(&export),
    ];
    // A doctored export is not taken.
    let bundle = first_file(&export.join("tile/entries"));
    let good = std::fs::read(&bundle).unwrap();
    let mut bad = good.clone();
    *bad.last_mut().unwrap() ^= 1;
    std::fs::write(&bundle, &bad).unwrap();
    let e = fails(&recover);
    assert!(e.contains("entry bundles"), "{e}");
    std::fs::write(&bundle, &good).unwrap();

    let out = ok(&recover);
    assert!(
        out.contains(&format!("recovered entries {snapshot_size}..")),
        "{out}"
    );
    // Past the head check; a restored node still needs a witness to answer.
    let e = fails(&["node", "run", "--config", p(&config)]);
    assert!(e.contains("will not sign until one does"), "{e}");
}
