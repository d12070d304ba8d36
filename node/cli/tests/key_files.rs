//! Key files other tools read, and files only the node's user may read
//! (issue 12 item 7, issue 13 §6; decision 0610).

#![allow(clippy::unwrap_used)]

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{dev_federation, fails, ok, p};

fn files_named(dir: &Path, pred: &dyn Fn(&Path) -> bool, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let path = e.path();
        if path.is_dir() {
            files_named(&path, pred, out);
        } else if pred(&path) {
            out.push(path);
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Whether a tool is here; in CI (`CREDEX_REQUIRE_KEY_TOOLS=1`) it must be.
fn have(tool: &str, probe: &[&str]) -> bool {
    let present = Command::new(tool)
        .args(probe)
        .output()
        .is_ok_and(|o| o.status.success());
    if !present {
        assert!(
            std::env::var("CREDEX_REQUIRE_KEY_TOOLS").as_deref() != Ok("1"),
            "{tool} is required here (CREDEX_REQUIRE_KEY_TOOLS=1)"
        );
        eprintln!("SKIPPED part of the test: {tool} {probe:?} is not available");
    }
    present
}

#[test]
fn every_private_key_is_pkcs8_that_openssl_and_python_read_and_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 46000);
    // Every kind of key credex writes: CA (root, region), node, operator,
    // authority; the witness and log keys are the node key (decision 0009).
    let mut keys = Vec::new();
    files_named(
        &fed,
        &|f| f.extension().is_some_and(|e| e == "key"),
        &mut keys,
    );
    for kind in [
        "pki/root/",
        "pki/520000/",
        "nodes/gy-1/",
        "operators/520000/",
        "authorities/520000/",
    ] {
        assert!(
            keys.iter().any(|k| k.to_string_lossy().contains(kind)),
            "no key under {kind}: {keys:?}"
        );
    }
    // And an ECDSA P-256 operator key.
    let p256 = dir.path().join("p256");
    ok(&[
        "pki",
        "operator",
        "--ca",
        p(&fed.join("pki/520000")),
        "--name",
        "ecdsa-1",
        "--role",
        "requester",
        "--alg",
        "p256",
        "--out",
        p(&p256),
    ]);
    files_named(
        &p256,
        &|f| f.extension().is_some_and(|e| e == "key"),
        &mut keys,
    );

    let openssl = have("openssl", &["version"]);
    let python = have("python3", &["-c", "import cryptography"]);
    for key in &keys {
        assert_eq!(mode(key), 0o600, "{}", key.display());
        let text = std::fs::read_to_string(key).unwrap();
        assert!(
            text.starts_with("-----BEGIN PRIVATE KEY-----\n"),
            "{}",
            key.display()
        );
        if openssl {
            let out = Command::new("openssl")
                .args(["pkey", "-in", p(key), "-noout"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "openssl pkey {}: {}",
                key.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        if python {
            let out = Command::new("python3")
                .args([
                    "-c",
                    "import sys; from cryptography.hazmat.primitives.serialization import load_pem_private_key; load_pem_private_key(open(sys.argv[1], 'rb').read(), None)",
                    p(key),
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "python cryptography {}: {}",
                key.display(),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn a_node_refuses_a_readable_key_or_database_and_keeps_its_files_private() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 46100);
    let config = fed.join("nodes/gz-1/node.toml");
    let key = fed.join("nodes/gz-1/gz-1.key");

    // Importing opens the database: directory 0700, files 0600.
    ok(&[
        "records",
        "import",
        "--config",
        p(&config),
        "--category",
        "admin_penalty",
        p(&fed.join("records/440000/admin_penalty.jsonl")),
    ]);
    let data = fed.join("nodes/gz-1/data");
    assert_eq!(mode(&data), 0o700);
    let mut db_files = Vec::new();
    files_named(
        &data,
        &|f| f.to_string_lossy().contains("credex.db"),
        &mut db_files,
    );
    assert!(!db_files.is_empty());
    for f in &db_files {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }

    // A log export is owner-only too.
    let export = dir.path().join("export");
    ok(&["log", "export", "--config", p(&config), "--out", p(&export)]);
    let mut exported = Vec::new();
    files_named(&export, &|_| true, &mut exported);
    assert!(!exported.is_empty());
    for f in &exported {
        assert_eq!(mode(f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&export), 0o700);

    // A key others can read: the node does not start.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = fails(&["node", "run", "--config", p(&config)]);
    assert!(
        e.contains("gz-1.key") && e.contains("644") && e.contains("chmod 600"),
        "{e}"
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A database others can read: neither.
    let db = data.join("credex.db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = fails(&["node", "run", "--config", p(&config)]);
    assert!(e.contains("credex.db") && e.contains("chmod 600"), "{e}");
}
