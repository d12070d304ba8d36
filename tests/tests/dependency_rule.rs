//! The layering rule, checked from the manifests and `Cargo.lock`: the pure
//! crates, the journal, the flows and the auditor pull in no runtime
//! (tokio, sqlx, quinn), and no crate reaches up a layer:
//!
//! ```text
//! protocol ← pki, policies ← journal ← flows ← audit ← node ← simulator, tests
//! ```
//!
//! Normal dependencies only (what a user of the crate compiles); a test
//! harness may use anything.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Crates that mean I/O, an async runtime or a network stack.
const RUNTIME: &[&str] = &["tokio", "sqlx", "quinn", "mio", "socket2"];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace root")
        .to_path_buf()
}

fn toml_at(path: &Path) -> toml::Table {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.parse()
        .unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
}

/// Every workspace crate: name → its normal dependencies (package names).
fn workspace() -> BTreeMap<String, Vec<String>> {
    let root = root();
    let manifest = toml_at(&root.join("Cargo.toml"));
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members");
    let mut crates = BTreeMap::new();
    for member in members {
        let dir = root.join(member.as_str().expect("member path"));
        let m = toml_at(&dir.join("Cargo.toml"));
        let name = m["package"]["name"]
            .as_str()
            .expect("package.name")
            .to_owned();
        let deps = m
            .get("dependencies")
            .and_then(|d| d.as_table())
            .map(|d| {
                d.iter()
                    .map(|(key, spec)| {
                        // `webpki = { package = "rustls-webpki", … }`
                        spec.get("package")
                            .and_then(|p| p.as_str())
                            .unwrap_or(key)
                            .to_owned()
                    })
                    .collect()
            })
            .unwrap_or_default();
        crates.insert(name, deps);
    }
    crates
}

/// Every locked package: name → the names it depends on (all versions merged).
fn lock() -> BTreeMap<String, BTreeSet<String>> {
    let lock = toml_at(&root().join("Cargo.lock"));
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in lock["package"].as_array().expect("[[package]]") {
        let name = p["name"].as_str().expect("name").to_owned();
        let deps = out.entry(name).or_default();
        for d in p
            .get("dependencies")
            .and_then(|d| d.as_array())
            .into_iter()
            .flatten()
        {
            let d = d.as_str().expect("dependency");
            deps.insert(d.split(' ').next().unwrap_or(d).to_owned());
        }
    }
    out
}

/// What compiling `krate` as a dependency compiles: workspace crates by
/// their normal dependencies, external crates by the lock.
fn closure(krate: &str) -> BTreeSet<String> {
    let ws = workspace();
    let lock = lock();
    let mut seen = BTreeSet::new();
    let mut todo: Vec<String> = ws[krate].clone();
    while let Some(next) = todo.pop() {
        if !seen.insert(next.clone()) {
            continue;
        }
        match ws.get(&next) {
            Some(deps) => todo.extend(deps.iter().cloned()),
            None => todo.extend(lock.get(&next).into_iter().flatten().cloned()),
        }
    }
    seen
}

#[test]
fn pure_crates_the_journal_flows_and_auditor_pull_in_no_runtime() {
    for krate in [
        "credex-protocol",
        "credex-pki",
        "credex-policies",
        "credex-journal",
        "credex-flows",
        "credex-audit",
    ] {
        let deps = closure(krate);
        let runtime: Vec<&&str> = RUNTIME.iter().filter(|r| deps.contains(**r)).collect();
        assert!(runtime.is_empty(), "{krate} depends on {runtime:?}");
        assert!(!deps.contains("credex-node"), "{krate} depends on the node");
    }
}

#[test]
fn no_crate_reaches_up_a_layer() {
    let above: &[(&str, &[&str])] = &[
        (
            "credex-protocol",
            &["credex-pki", "credex-policies", "credex-journal"],
        ),
        (
            "credex-journal",
            &["credex-pki", "credex-policies", "credex-flows"],
        ),
        ("credex-flows", &["credex-audit", "credex-node"]),
        ("credex-audit", &["credex-node", "credex-simulator"]),
        ("credex-node", &["credex-simulator", "credex-tests"]),
    ];
    for (krate, forbidden) in above {
        let deps = closure(krate);
        for f in *forbidden {
            assert!(
                !deps.contains(*f),
                "{krate} depends on {f}, a layer above it"
            );
        }
    }
}

#[test]
fn the_rule_sees_a_runtime_where_there_is_one() {
    // The node does run tokio: a closure that missed it would make the
    // tests above pass for nothing.
    let node = closure("credex-node");
    assert!(node.contains("tokio") && node.contains("quinn") && node.contains("sqlx"));
    assert!(closure("credex-audit").contains("credex-pki"));
}
