//! The `credex` binary, driven as an operator would: PKI commands, bad
//! input, two node processes greeting each other and stopping on SIGTERM,
//! and the demo.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;
use std::time::{Duration, Instant};

#[test]
fn pki_commands_issue_show_verify_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let gz = dir.path().join("440000");
    let out = dir.path().join("out");
    ok(&["pki", "init-root", "--dir", p(&root)]);
    ok(&[
        "pki",
        "region-ca",
        "--root",
        p(&root),
        "--region",
        "440000",
        "--dir",
        p(&gz),
        "--alg",
        "p256",
    ]);
    let issued = ok(&[
        "pki",
        "node",
        "--ca",
        p(&gz),
        "--name",
        "gz-1",
        "--ip",
        "127.0.0.1",
        "--out",
        p(&out),
    ]);
    assert!(
        issued.contains("node certificate for node gz-1 of region 440000"),
        "{issued}"
    );
    ok(&[
        "pki",
        "operator",
        "--ca",
        p(&gz),
        "--name",
        "li-si",
        "--role",
        "approver",
        "--out",
        p(&out),
    ]);
    ok(&[
        "pki",
        "authority",
        "--ca",
        p(&gz),
        "--name",
        "portal",
        "--out",
        p(&out),
    ]);
    let client = ok(&[
        "pki",
        "client",
        "--ca",
        p(&gz),
        "--name",
        "xinyidai",
        "--roles",
        "feed,check",
        "--out",
        p(&out),
    ]);
    assert!(
        client.contains(
            "gateway client certificate for xinyidai, roles check+feed, of region 440000"
        ),
        "{client}"
    );

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for key in ["gz-1.key", "li-si.key", "portal.key", "xinyidai.key"] {
            let mode = std::fs::metadata(out.join(key))
                .unwrap()
                .permissions()
                .mode()
                & 0o777;
            assert_eq!(mode, 0o600, "{key} must be owner-only");
        }
        let mode = std::fs::metadata(root.join("ca.key"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
    }

    let shown = ok(&[
        "pki",
        "show",
        p(&out.join("gz-1.pem")),
        p(&out.join("li-si.pem")),
    ]);
    assert!(shown.contains("DNS names gz-1.440000.credex"), "{shown}");
    assert!(shown.contains("IP addresses 127.0.0.1"), "{shown}");
    assert!(
        shown.contains("region CA certificate for region 440000"),
        "{shown}"
    );
    assert!(
        shown.contains("operator certificate for li-si, role approver, of region 440000"),
        "{shown}"
    );

    let crls = [
        p(&root.join("crl.pem")).to_owned(),
        p(&gz.join("crl.pem")).to_owned(),
    ];
    let verify = |cert: &str| {
        credex(&[
            "pki",
            "verify",
            "--root",
            p(&root.join("ca.pem")),
            "--crl",
            &crls[0],
            "--crl",
            &crls[1],
            cert,
        ])
    };
    let node_pem = p(&out.join("gz-1.pem")).to_owned();
    assert!(verify(&node_pem).status.success());
    assert!(verify(p(&out.join("li-si.pem"))).status.success());

    let revoked = ok(&["pki", "revoke", "--ca", p(&gz), &node_pem]);
    assert!(
        revoked.contains("revoked node gz-1 of region 440000"),
        "{revoked}"
    );
    let after = verify(&node_pem);
    assert!(!after.status.success());
    assert!(String::from_utf8_lossy(&after.stderr).contains("revoked"));
    // The operator is unaffected, and revoking twice is refused.
    assert!(verify(p(&out.join("li-si.pem"))).status.success());
    let again = fails(&["pki", "revoke", "--ca", p(&gz), &node_pem]);
    assert!(again.contains("already revoked"), "{again}");
    // Keys are never overwritten.
    let clash = fails(&[
        "pki",
        "node",
        "--ca",
        p(&gz),
        "--name",
        "gz-1",
        "--out",
        p(&out),
    ]);
    assert!(clash.contains("already exists"), "{clash}");
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    ok(&["pki", "init-root", "--dir", p(&root)]);

    let e = fails(&[
        "pki",
        "region-ca",
        "--root",
        p(&root),
        "--region",
        "99",
        "--dir",
        "x",
    ]);
    assert!(e.contains("not six digits"), "{e}");
    let e = fails(&[
        "pki",
        "node",
        "--ca",
        p(&root),
        "--name",
        "n-1",
        "--out",
        p(dir.path()),
    ]);
    assert!(e.contains("region CA"), "{e}");
    let e = fails(&[
        "pki",
        "operator",
        "--ca",
        p(&root),
        "--name",
        "x",
        "--role",
        "boss",
        "--out",
        "x",
    ]);
    assert!(e.contains("requester, approver, auditor, admin"), "{e}");
    let e = fails(&[
        "pki",
        "client",
        "--ca",
        p(&root),
        "--name",
        "x",
        "--roles",
        "feed,boss",
        "--out",
        "x",
    ]);
    assert!(
        e.contains("unknown gateway role \"boss\"") && e.contains("--roles"),
        "{e}"
    );
    let e = fails(&["pki", "show", p(&root.join("ca.key"))]);
    assert!(e.contains("no CERTIFICATE"), "{e}");
    let e = fails(&["node", "run", "--config", "/nonexistent/node.toml"]);
    assert!(e.contains("/nonexistent/node.toml"), "{e}");

    // The auditor's rule documents: each refusal names the flag and the file.
    let broken = dir.path().join("agreements");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("broken.toml"), "code = ").unwrap();
    let audit_with = |flag: &str, value: &std::path::Path| {
        let ca = root.join("ca.pem");
        fails(&[
            "audit",
            "verify",
            p(dir.path()),
            "--trust",
            p(&ca),
            flag,
            p(value),
        ])
    };
    let e = audit_with("--agreements", &dir.path().join("none"));
    assert!(
        e.contains("--agreements") && e.contains("not a directory"),
        "{e}"
    );
    let e = audit_with("--agreements", &broken);
    assert!(e.contains("broken.toml"), "{e}");
    let e = audit_with("--reporting-list", &dir.path().join("none.toml"));
    assert!(
        e.contains("--reporting-list") && e.contains("none.toml"),
        "{e}"
    );

    credex(&[
        "dev",
        "init",
        p(&dir.path().join("fed")),
        "--base-port",
        "29000",
    ]);
    let config = dir.path().join("fed/nodes/gy-1/node.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("[listen]", "[listen]\nport = 1")).unwrap();
    let e = fails(&["node", "run", "--config", p(&config)]);
    assert!(
        e.contains("node.toml") && e.contains("port") && e.contains("line"),
        "{e}"
    );
}

/// A worker count in the environment that is not a whole number of 1 or
/// more is an error naming the variable, where tokio would panic, and the
/// command does nothing (decision 1240).
#[test]
fn a_wrong_worker_count_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    let init_root = |workers: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_credex"))
            .args(["pki", "init-root", "--dir", p(&root)])
            .env("TOKIO_WORKER_THREADS", workers)
            .output()
            .unwrap()
    };
    for bad in ["0", "three"] {
        let out = init_root(bad);
        let e = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: {e}");
        assert!(
            e.contains("TOKIO_WORKER_THREADS") && e.contains(bad) && !e.contains("panicked"),
            "{e}"
        );
        assert!(!root.exists(), "{bad}: the command ran");
    }
    let out = init_root("1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(root.exists());
}

#[cfg(unix)]
#[test]
fn two_node_processes_greet_each_other_and_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 30000);
    let gy = fed.join("nodes/gy-1/node.toml");
    let cq = fed.join("nodes/cq-1/node.toml");
    let mut gy_node = start_node(&gy);
    let mut cq_node = start_node(&cq);

    let deadline = Instant::now() + Duration::from_secs(30);
    let said = loop {
        let out = credex(&["node", "hello", "--config", p(&gy), "--peer", "500000/cq-1"]);
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "cq-1 never answered: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(said.starts_with("500000/cq-1 at 127.0.0.1:"), "{said}");
    assert!(said.contains("protocol 1"), "{said}");

    assert!(
        terminate(&mut cq_node).success(),
        "cq-1 should exit 0 on SIGTERM"
    );
    assert!(
        terminate(&mut gy_node).success(),
        "gy-1 should exit 0 on SIGTERM"
    );

    // cq-1 recorded the Hello of gy-1 (from the one-shot client) durably.
    let peers = ok(&["node", "peers", "--config", p(&cq)]);
    assert!(peers.contains("520000/gy-1"), "{peers}");
}

#[test]
fn demo_runs_and_passes_its_checks() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo");
    let out = credex(&["demo", "--keep", p(&kept)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    assert!(stdout.contains("refused"), "{stdout}");
    for section in [
        "Dual-authorized queries",
        "Mutual recognition",
        "Joint punishment",
        "Upward reporting",
        "The auditor",
    ] {
        assert!(
            stdout.contains(section),
            "no {section:?} section:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("the egress gate released to Chongqing"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the egress gate sends upward only"),
        "{stdout}"
    );
    assert!(
        stdout.contains("marks the entry 异议处理中 on every holder"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Guizhou marks it 信用修复审核中 on every holder")
            && stdout.contains("grants the repair: the entry ends on every holder")
            && stdout.contains("Chongqing verifies it offline: signature, certificate, validity"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "Guizhou, the owner, marks it 异议处理中 on every region that received the record"
        ) && stdout.contains("Guizhou gathers every region's part over the federation"),
        "{stdout}"
    );
    assert!(
        stdout.contains("the new process took Guangdong's duties"),
        "{stdout}"
    );
    no_internal_field_leaves_its_region(&kept);
    no_citizen_id_in_any_node(&kept);
    only_released_details_reach_each_member(&kept);
    corrections_were_confirmed(&kept);
}

/// The whole demo under the `sm2-sm3` suite (商用密码): every act passes
/// with SM2 certificates and signatures and HMAC-SM3 pseudonyms, and each
/// exported log carries its node's SM2 signing chain and checkpoints with
/// an SM2 line beside the C2SP Ed25519 one.
#[test]
fn demo_runs_under_sm2_sm3() {
    let dir = tempfile::tempdir().unwrap();
    let kept = dir.path().join("demo");
    let out = credex(&["demo", "--suite", "sm2-sm3", "--keep", p(&kept)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(" 0 failed") && stdout.contains("crypto suite sm2-sm3"),
        "{stdout}"
    );
    let root = std::fs::read_to_string(kept.join("pki/root/ca.pem")).unwrap();
    let trust = credex_pki::TrustStore::from_pem(&root, &[]).unwrap();
    assert_eq!(trust.suite(), credex_protocol::Suite::Sm2Sm3);
    for node in ["gy-1", "cq-1", "gz-1", "national-1"] {
        let export = kept.join("audit").join(node);
        assert!(export.join("node-signing.pem").exists(), "{node}");
        let checkpoint = std::fs::read_to_string(export.join("checkpoint")).unwrap();
        let lines = checkpoint
            .lines()
            .filter(|l| l.starts_with("\u{2014} "))
            .count();
        assert!(lines >= 2, "{node}: {checkpoint}");
    }
    no_citizen_id_in_any_node(&kept);
}

/// The demo corrects a penalty Guizhou had reported upward: `credex records
/// corrections` on the kept node shows the national platform confirmed it,
/// and the national node shows its copy marked.
fn corrections_were_confirmed(kept: &std::path::Path) {
    let config = |node: &str| kept.join("nodes").join(node).join("node.toml");
    let sent = ok(&["records", "corrections", "--config", p(&config("gy-1"))]);
    assert!(
        sent.contains("replaced") && sent.contains("→ 000000: confirmed"),
        "{sent}"
    );
    ok(&[
        "records",
        "corrections",
        "--config",
        p(&config("gy-1")),
        "--unconfirmed",
    ]);
    let received = ok(&[
        "records",
        "corrections",
        "--config",
        p(&config("national-1")),
    ]);
    assert!(
        received.contains("of 520000 replaced") && received.contains("stale"),
        "{received}"
    );
}

/// The demo's listing names a responsible person, a detail the
/// Chongqing–Guizhou agreement releases and the Pan-Pearl River one does
/// not: Chongqing's files hold it, Guangdong's (and the national node's)
/// do not.
fn only_released_details_reach_each_member(kept: &std::path::Path) {
    let value = "王某".as_bytes();
    let holds = |node: &str| {
        let mut files = Vec::new();
        collect_files(&kept.join("nodes").join(node).join("data"), &mut files);
        collect_files(&kept.join("audit").join(node), &mut files);
        files
            .iter()
            .any(|f| contains(&std::fs::read(f).unwrap(), value))
    };
    assert!(holds("cq-1"), "released to Chongqing, but not found there");
    assert!(!holds("gz-1"), "withheld from Guangdong, but found there");
    assert!(!holds("national-1"));
}

/// After the demo, which queries, lists and reports natural persons, no
/// node's database files or log export hold a demo citizen ID in clear or
/// its old unkeyed digest (SHA-256(len ‖ "credex/citizen-id/v1" ‖ ID)).
fn no_citizen_id_in_any_node(kept: &std::path::Path) {
    let mut ids: Vec<String> = ["520000", "500000", "440000", "000000"]
        .iter()
        .flat_map(|r| credex_kit::dev::sample_persons(r.parse().unwrap()))
        .collect();
    ids.push(credex_kit::dev::synthetic_citizen_id(
        "520000".parse().unwrap(),
        7,
    ));
    let mut needles: Vec<(String, Vec<u8>)> = Vec::new();
    for id in &ids {
        let tag = b"credex/citizen-id/v1";
        let mut legacy = vec![tag.len() as u8];
        legacy.extend_from_slice(tag);
        legacy.extend_from_slice(id.as_bytes());
        let digest = ring::digest::digest(&ring::digest::SHA256, &legacy);
        needles.push((format!("citizen ID {id}"), id.as_bytes().to_vec()));
        needles.push((format!("unkeyed digest of {id}"), digest.as_ref().to_vec()));
        needles.push((
            format!("unkeyed digest of {id} in hex"),
            hex::encode(digest.as_ref()).into_bytes(),
        ));
    }
    let mut files = Vec::new();
    for node in ["gy-1", "cq-1", "gz-1", "national-1"] {
        collect_files(&kept.join("nodes").join(node).join("data"), &mut files);
        collect_files(&kept.join("audit").join(node), &mut files);
    }
    assert!(files.len() > 8, "{files:?}");
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        for (what, needle) in &needles {
            assert!(
                !contains(&bytes, needle),
                "{what} found in {}",
                file.display()
            );
        }
    }
    // The input files the province's platform handed over do hold them:
    // the scan can see an ID where there is one.
    let input = std::fs::read(kept.join("records/440000/admin_penalty.jsonl")).unwrap();
    assert!(contains(&input, ids[2].as_bytes()));
}

/// After every flow of the demo (queries, recognition, downgrade, listing,
/// feedback, repair, upward), no node's database files, log export or
/// stored values — opened under the node's keys, since the stores are
/// encrypted at rest (decision 1110) — hold the value of another region's
/// `internal` field.
fn no_internal_field_leaves_its_region(kept: &std::path::Path) {
    use credex_protocol::RegionCode;
    let nodes = [
        ("gy-1", "520000"),
        ("cq-1", "500000"),
        ("gz-1", "440000"),
        ("national-1", "000000"),
    ];
    // Guizhou's own additions in the demo: an internal case note on the
    // penalty it reports upward, and internal review notes on its listing.
    let guizhou_extra = [
        "内部备注：当事人态度恶劣，不得外传".to_owned(),
        "内部复核意见：证据链完整，不得外传".to_owned(),
    ];
    let mut scanned = 0;
    for (node, region) in nodes {
        let mut files = Vec::new();
        for root in [kept.join("nodes").join(node), kept.join("audit").join(node)] {
            collect_files(&root, &mut files);
        }
        assert!(
            files
                .iter()
                .any(|f| f.to_string_lossy().contains("credex.db")),
            "no database of {node} under {}",
            kept.display()
        );
        // What the store holds, in clear: every record body, attachment
        // and flow-state value opened under the node's keys.
        let opened = opened_values(&kept.join("nodes").join(node).join("node.toml"));
        assert!(!opened.is_empty(), "{node}'s store holds no value");
        for (other, other_region) in nodes {
            if other == node || other_region == "000000" {
                continue;
            }
            let r: RegionCode = other_region.parse().unwrap();
            let mut secrets = credex_kit::dev::sample_internal_values(r);
            if other_region == "520000" {
                secrets.extend(guizhou_extra.iter().cloned());
            }
            for file in &files {
                let bytes = std::fs::read(file).unwrap();
                scanned += bytes.len();
                for secret in &secrets {
                    assert!(
                        !contains(&bytes, secret.as_bytes()),
                        "{other}'s internal value {secret:?} found in {} (at {node})",
                        file.display()
                    );
                }
            }
            for (table, value) in &opened {
                scanned += value.len();
                for secret in &secrets {
                    assert!(
                        !contains(value, secret.as_bytes()),
                        "{other}'s internal value {secret:?} found in {node}'s {table}"
                    );
                }
            }
        }
        // The scan finds them at home, in the opened store (Guangdong's
        // imported samples, Guizhou's review notes on its listing; its case
        // note went with the record the demo corrects): the test can fail.
        // In the database files even these are sealed.
        let own: Vec<String> = match node {
            "gz-1" => credex_kit::dev::sample_internal_values(region.parse().unwrap()),
            "gy-1" => guizhou_extra[1..].to_vec(),
            _ => Vec::new(),
        };
        for value in &own[..own.len().min(2)] {
            assert!(
                opened.iter().any(|(_, v)| contains(v, value.as_bytes())),
                "{node}'s own internal value {value:?} not found in its opened store: the scan sees nothing"
            );
            assert!(
                !files
                    .iter()
                    .filter(|f| f.to_string_lossy().contains("credex.db"))
                    .any(|f| contains(&std::fs::read(f).unwrap(), value.as_bytes())),
                "{node}'s own internal value {value:?} is in clear in its database files"
            );
        }
    }
    assert!(scanned > 0);
}

/// Every value the store of the node configured by `config` holds, opened
/// under its keys (`Storage::open_every_value`), with its table.
fn opened_values(config: &std::path::Path) -> Vec<(&'static str, Vec<u8>)> {
    let config = credex_node::config::NodeConfig::load(config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let storage = credex_node::service::open_storage(&config).await.unwrap();
        assert!(
            storage.encrypted_at_rest(),
            "the demo's stores are encrypted at rest"
        );
        let mut values = Vec::new();
        storage
            .open_every_value(|table, clear| values.push((table, clear.to_vec())))
            .await
            .unwrap();
        storage.close().await;
        values
    })
}

fn collect_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let path = e.path();
        if path.is_dir() {
            collect_files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(unix)]
#[test]
fn query_flow_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 40000);
    let gy = fed.join("nodes/gy-1/node.toml");
    let gz = fed.join("nodes/gz-1/node.toml");
    let ops = fed.join("operators/520000");

    // A bad row is reported with its line, and the file is refused whole.
    let good = std::fs::read_to_string(fed.join("records/440000/admin_penalty.jsonl")).unwrap();
    let mut lines: Vec<&str> = good.lines().collect();
    let broken = lines[1].replace("\"amount\":\"10000.00\"", "\"amount\":\"ten thousand\"");
    lines[1] = &broken;
    let bad_file = dir.path().join("bad.jsonl");
    std::fs::write(&bad_file, lines.join("\n")).unwrap();
    let e = fails(&[
        "records",
        "import",
        "--config",
        p(&gz),
        "--category",
        "admin_penalty",
        p(&bad_file),
    ]);
    assert!(
        e.contains("bad.jsonl:2:") && e.contains("amount") && e.contains("nothing of this file"),
        "{e}"
    );
    let out = ok(&[
        "records",
        "import",
        "--config",
        p(&gz),
        "--category",
        "admin_penalty",
        p(&fed.join("records/440000/admin_penalty.jsonl")),
    ]);
    // Three companies and one individual business operator (个体工商户).
    assert!(out.contains("imported 4 admin_penalty records"), "{out}");

    let mut node = start_node(&gz);
    let subject = credex_kit::dev::sample_subjects("440000".parse().unwrap())[1].clone();
    let q = dir.path().join("q.cxq");
    let drafted = ok(&[
        "query",
        "new",
        "--config",
        p(&gy),
        "--cert",
        p(&ops.join("req-1.pem")),
        "--key",
        p(&ops.join("req-1.key")),
        "--target",
        "440000",
        "--subject",
        &subject,
        "--purpose",
        "public_procurement",
        "--fields",
        "admin_penalty=decision_number,amount,case_notes",
        "--legal-basis",
        "joint-punishment-memorandum",
        "--out",
        p(&q),
    ]);
    assert!(drafted.contains("approved: no"), "{drafted}");
    let e = fails(&["query", "send", "--config", p(&gy), p(&q)]);
    assert!(e.contains("not been approved"), "{e}");
    // The requester cannot approve their own query.
    let e = fails(&[
        "query",
        "approve",
        "--cert",
        p(&ops.join("req-1.pem")),
        "--key",
        p(&ops.join("req-1.key")),
        p(&q),
    ]);
    assert!(e.contains("approver role"), "{e}");
    ok(&[
        "query",
        "approve",
        "--cert",
        p(&ops.join("apv-1.pem")),
        "--key",
        p(&ops.join("apv-1.key")),
        p(&q),
    ]);

    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = loop {
        let out = credex(&["query", "send", "--config", p(&gy), p(&q)]);
        if out.status.success() {
            break String::from_utf8(out.stdout).unwrap();
        }
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(
            Instant::now() < deadline && !err.contains("replay"),
            "query failed: {err}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(answer.starts_with("Trimmed by 440000/gz-1"), "{answer}");
    assert!(
        answer.contains("withheld admin_penalty: case_notes"),
        "{answer}"
    );
    assert!(answer.contains("amount: 10000.00"), "{answer}");

    // A natural person (个体工商户): the approver sees the case and the
    // masked ID, and approves only the person in the case file (issue 13 §4).
    let region: credex_protocol::RegionCode = "440000".parse().unwrap();
    let person = credex_kit::dev::sample_persons(region)[0].clone();
    let someone_else = credex_kit::dev::synthetic_citizen_id(region, 77);
    let np = dir.path().join("np.cxq");
    let (req_pem, req_key) = (ops.join("req-1.pem"), ops.join("req-1.key"));
    let (apv_pem, apv_key) = (ops.join("apv-1.pem"), ops.join("apv-1.key"));
    let draft_person = |case: Option<&str>| {
        let mut args = vec![
            "query",
            "new",
            "--config",
            p(&gy),
            "--cert",
            p(&req_pem),
            "--key",
            p(&req_key),
            "--target",
            "440000",
            "--subject",
            &person,
            "--purpose",
            "public_procurement",
            "--fields",
            "admin_penalty=decision_number,amount",
            "--legal-basis",
            "joint-punishment-memorandum",
            "--out",
            p(&np),
        ];
        if let Some(case) = case {
            args.extend(["--case", case]);
        }
        credex(&args)
    };
    let e = String::from_utf8_lossy(&draft_person(None).stderr).to_string();
    assert!(e.contains("--case"), "{e}");
    let out = draft_person(Some("粤市监罚〔2026〕个1号"));
    assert!(out.status.success());
    let shown = ok(&["query", "show", p(&np)]);
    let masked = format!("{}**********{}", &person[..4], &person[14..]);
    assert!(
        shown.contains(&masked) && shown.contains("case: 粤市监罚〔2026〕个1号"),
        "{shown}"
    );
    assert!(!shown.contains(&person), "{shown}");
    let approve_as = |id: Option<&str>| {
        let mut args = vec![
            "query",
            "approve",
            "--cert",
            p(&apv_pem),
            "--key",
            p(&apv_key),
            "--config",
            p(&gy),
        ];
        if let Some(id) = id {
            args.extend(["--subject-id", id]);
        }
        args.push(p(&np));
        credex(&args)
    };
    let e = String::from_utf8_lossy(&approve_as(None).stderr).to_string();
    assert!(e.contains("--subject-id"), "{e}");
    let e = String::from_utf8_lossy(&approve_as(Some(&someone_else)).stderr).to_string();
    assert!(e.contains("another person"), "{e}");
    assert!(
        !e.contains(&someone_else),
        "the clear ID is not echoed: {e}"
    );
    let approved = approve_as(Some(&person));
    let said = String::from_utf8_lossy(&approved.stdout).to_string();
    assert!(
        approved.status.success() && said.contains("about the person in the case file"),
        "{said}"
    );
    let answer = ok(&["query", "send", "--config", p(&gy), p(&np)]);
    assert!(answer.starts_with("Granted by 440000/gz-1"), "{answer}");
    assert!(
        !answer.contains("内部备注"),
        "internal notes leaked: {answer}"
    );
    // Sending the same approved query again is a replay.
    let again = ok(&["query", "send", "--config", p(&gy), p(&q)]);
    assert!(again.contains("replay"), "{again}");
    assert!(terminate(&mut node).success());

    // Guangdong's disclosures ledger names Guizhou as the recipient of the
    // company's penalty, and equals its recomputation from the log.
    let record_id = good
        .lines()
        .find(|l| l.contains(&format!("\"subject\":\"{subject}\"")))
        .and_then(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| v["record_id"].as_str().unwrap().to_owned())
        .unwrap();
    let who = ok(&[
        "log",
        "recipients",
        "--config",
        p(&gz),
        "--category",
        "admin_penalty",
        "--record-id",
        &record_id,
    ]);
    assert!(
        who.contains("1 recipient(s)") && who.contains("520000") && who.contains("by query"),
        "{who}"
    );
    let checked = ok(&["log", "check-disclosures", "--config", p(&gz)]);
    assert!(checked.contains("0 difference(s)"), "{checked}");

    // Subject authorizations and identifier checks.
    let auth = dir.path().join("a.cxa");
    let out = ok(&[
        "authorization",
        "issue",
        "--cert",
        p(&fed.join("authorities/440000/portal.pem")),
        "--key",
        p(&fed.join("authorities/440000/portal.key")),
        "--subject",
        &subject,
        "--grantee",
        "520000",
        "--purposes",
        "financing",
        "--categories",
        "tax_credit_rating",
        "--days",
        "7",
        "--uses",
        "2",
        "--out",
        p(&auth),
    ]);
    assert!(out.contains("valid 7 days, 2 use(s)"), "{out}");
    let report = credex(&[
        "id",
        "check",
        &subject,
        "91440000MA00000000",
        "11010519491231002X",
    ]);
    assert!(!report.status.success());
    let text = String::from_utf8_lossy(&report.stdout);
    assert!(
        text.contains("line 2") && text.contains("3 checked") && text.contains("1 invalid"),
        "{text}"
    );
}

#[test]
fn pseudonym_keys_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 44000);
    let ring = dir.path().join("ring.txt");
    let id = "11010519491231002X";

    // The root's operator creates the ring (0600), then adds epoch 2.
    let new_key = |epoch| {
        [
            "pki",
            "pseudonym-key",
            "new",
            "--epoch",
            epoch,
            "--out",
            p(&ring),
        ]
    };
    let out = ok(&new_key("1"));
    assert!(out.contains("never to auditors"), "{out}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&ring).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let e = fails(&new_key("1"));
    assert!(e.contains("must be higher"), "{e}");
    ok(&new_key("2"));
    let shown = ok(&["pki", "pseudonym-key", "show", p(&ring)]);
    assert!(
        shown.contains("epoch 1 ") && shown.contains("(current)"),
        "{shown}"
    );
    let text = std::fs::read_to_string(&ring).unwrap();
    for line in text.lines().filter(|l| l.starts_with("epoch")) {
        let key = line.rsplit(' ').next().unwrap();
        assert!(!shown.contains(key), "show printed a key: {shown}");
    }

    // A subject's tool prints a pseudonym per epoch; the ID never appears.
    let of = ok(&["pseudonym", "of", "--keys", p(&ring), id]);
    assert!(
        of.contains("epoch 1: 1:") && of.contains("epoch 2: 2:"),
        "{of}"
    );
    assert!(!of.contains(id), "{of}");

    // An authority needs the ring to name a natural person.
    let portal = fed.join("authorities/520000");
    let (portal_cert, portal_key) = (portal.join("portal.pem"), portal.join("portal.key"));
    let issue = |extra: &[&str]| {
        let auth = dir.path().join("a.cxa");
        let mut args = vec![
            "authorization",
            "issue",
            "--cert",
            p(&portal_cert),
            "--key",
            p(&portal_key),
            "--subject",
            id,
            "--grantee",
            "440000",
            "--purposes",
            "financing",
            "--categories",
            "admin_penalty",
            "--out",
        ];
        args.push(p(&auth));
        args.extend_from_slice(extra);
        credex(&args)
    };
    let refused = issue(&[]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--pseudonym-keys"));
    assert!(issue(&["--pseudonym-keys", p(&ring)]).status.success());

    // A node without a key ring refuses natural persons' records.
    let file = dir.path().join("person.jsonl");
    std::fs::write(
        &file,
        format!(
            r#"{{"record_id":"NP-1","subject":"{id}","decision_number":"粤罚〔2026〕1号","violation_type":"无证经营","facts":"无证经营","basis":"第十三条","penalty_type":"罚款","content":"罚款","amount":"1000.00","decision_date":"2026-03-01","deciding_authority":"广州市市场监督管理局"}}"#
        ),
    )
    .unwrap();
    let gz = fed.join("nodes/gz-1/node.toml");
    // `dev init` gives every node the federation's ring: take it away.
    let config = std::fs::read_to_string(&gz).unwrap();
    let section = "[pseudonyms]\nkeys = \"../../pki/pseudonym-keys.txt\"\n";
    assert!(config.contains(section), "{config}");
    std::fs::write(&gz, config.replace(section, "")).unwrap();
    let import = [
        "records",
        "import",
        "--config",
        p(&gz),
        "--category",
        "admin_penalty",
    ];
    let e = fails(&[&import[..], &[p(&file)]].concat());
    assert!(e.contains("key ring") && !e.contains(id), "{e}");
    // With `[pseudonyms] keys` it imports.
    let config = std::fs::read_to_string(&gz).unwrap();
    std::fs::write(
        &gz,
        format!("{config}\n[pseudonyms]\nkeys = \"{}\"\n", ring.display()),
    )
    .unwrap();
    let out = ok(&[&import[..], &[p(&file)]].concat());
    assert!(out.contains("imported 1 admin_penalty records"), "{out}");

    // Auditors hold no key: a clear citizen ID is not accepted.
    let e = fails(&[
        "audit",
        "subject",
        id,
        p(dir.path()),
        "--trust",
        p(&fed.join("pki/root/ca.pem")),
    ]);
    assert!(e.contains("pseudonym"), "{e}");

    // Dropping an epoch; a ring readable by others is refused.
    ok(&["pki", "pseudonym-key", "drop", "--epoch", "1", p(&ring)]);
    let shown = ok(&["pki", "pseudonym-key", "show", p(&ring)]);
    assert!(
        !shown.contains("epoch 1 ") && shown.contains("epoch 2 "),
        "{shown}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&ring, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = fails(&["pseudonym", "of", "--keys", p(&ring), id]);
        assert!(e.contains("chmod 600"), "{e}");
    }
}

/// A SIGTERM that arrives while the node starts (a service manager stopping
/// it at once) ends in a clean shutdown with exit status 0, not in the
/// signal's default kill: `node run` installs its handlers before the start.
#[cfg(unix)]
#[test]
fn a_node_stopped_while_it_starts_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 48000);
    let config = fed.join("nodes/gz-1/node.toml");
    let data_dir = credex_node::config::NodeConfig::load(&config)
        .unwrap()
        .data_dir;
    let mut node = start_node(&config);
    // The start creates the database, after the handlers are installed and
    // well before it has finished (migrations, keys, the log's head).
    let deadline = Instant::now() + Duration::from_secs(20);
    while !data_dir.join("credex.db").exists() {
        assert!(Instant::now() < deadline, "the node did not begin to start");
        std::thread::sleep(Duration::from_millis(1));
    }
    let status = terminate(&mut node);
    assert!(status.success(), "{status:?}");
}
