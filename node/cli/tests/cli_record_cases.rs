//! `credex records object|apply-repair|cases|answer` driven as officers
//! would, against running node processes (decision 0980): a subject
//! objects in Chongqing to a Guizhou penalty; Guizhou reads the case with
//! its grounds, accepts and dismisses it; Chongqing sees each stage. Bad
//! input is refused with the flag at fault.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// `credex records cases --json` at `config` until `check` holds.
fn cases_until(
    config: &Path,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = ok(&["records", "cases", "--config", p(config), "--json"]);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        if check(&doc) {
            return doc;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; last {doc:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_objection_to_a_record_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dir.path().join("fed");
    let base = 47000 + (std::process::id() % 1000) as u16 * 4;
    ok(&["dev", "init", p(&fed), "--base-port", &base.to_string()]);
    let gy = fed.join("nodes/gy-1/node.toml");
    let cq = fed.join("nodes/cq-1/node.toml");
    let penalties = fed.join("records/520000/admin_penalty.jsonl");
    ok(&[
        "records",
        "import",
        "--config",
        p(&gy),
        "--category",
        "admin_penalty",
        p(&penalties),
    ]);
    let _nodes = [start_node(&gy), start_node(&cq)];
    let deadline = Instant::now() + Duration::from_secs(30);
    while !credex(&["node", "hello", "--config", p(&cq), "--peer", "520000/gy-1"])
        .status
        .success()
    {
        assert!(Instant::now() < deadline, "gy-1 never answered");
        std::thread::sleep(Duration::from_millis(200));
    }
    let subject = credex_kit::dev::sample_subjects("520000".parse().unwrap())[0].clone();
    let file = |command: &str, extra: &[&str]| {
        let mut args = vec![
            "records",
            command,
            "--config",
            p(&cq),
            "--owner",
            "520000",
            "--subject",
            &subject,
            "--category",
            "admin_penalty",
            "--record-id",
            "520000-AP-0001",
            "--statement",
            "处罚对象认定错误",
        ];
        args.extend_from_slice(extra);
        credex(&args)
    };

    // Bad input: a repair without its commitment letter, a bad owner.
    let out = file("apply-repair", &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("evidence"), "{err}");
    let e = fails(&[
        "records",
        "object",
        "--config",
        p(&cq),
        "--owner",
        "52",
        "--subject",
        &subject,
        "--category",
        "admin_penalty",
        "--record-id",
        "x",
        "--statement",
        "s",
    ]);
    assert!(e.contains("--owner"), "{e}");

    let out = file("object", &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("objection") && said.contains("520000"),
        "{said}"
    );

    // Guizhou sees the case with the grounds and the record's id.
    let doc = cases_until(&gy, "the case opens at Guizhou", |d| {
        d["owned_here"].as_array().is_some_and(|a| !a.is_empty())
    });
    let case = &doc["owned_here"][0];
    assert_eq!(case["record_id"], "520000-AP-0001");
    assert_eq!(case["statement"], "处罚对象认定错误");
    assert_eq!(case["filed_in"], "500000");
    let id = case["case"].as_str().unwrap().to_owned();
    cases_until(&cq, "Chongqing sees it filed", |d| {
        d["told_here"][0]["pending"] == "异议处理中"
    });

    let e = fails(&["records", "answer", "--config", p(&gy), "00ff", "--accept"]);
    assert!(e.contains("no case 00ff"), "{e}");
    let e = fails(&[
        "records",
        "answer",
        "--config",
        p(&gy),
        &id,
        "--decide",
        "maybe",
    ]);
    assert!(e.contains("--decide \"maybe\""), "{e}");
    let out = ok(&["records", "answer", "--config", p(&gy), &id, "--accept"]);
    assert!(out.contains("marked on 500000"), "{out}");
    ok(&[
        "records",
        "answer",
        "--config",
        p(&gy),
        &id,
        "--decide",
        "dismissed",
        "--note",
        "经核查，异议不成立",
    ]);
    let doc = cases_until(&cq, "Chongqing sees it dismissed", |d| {
        d["told_here"][0]["stage"] == "dismissed"
    });
    assert_eq!(doc["told_here"][0]["note"], "经核查，异议不成立");
    assert!(
        doc["told_here"][0]["statement"].is_null(),
        "the grounds stay at Guizhou"
    );
    let text = ok(&["records", "cases", "--config", p(&cq)]);
    assert!(
        text.contains("told here: objection") && text.contains("dismissed"),
        "{text}"
    );
}
