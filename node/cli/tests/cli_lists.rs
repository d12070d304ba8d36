//! `credex lists …` driven as an operator would, against running node
//! processes: a Guizhou listing reaches Guangdong (Pan-Pearl River) and
//! Chongqing (Chongqing–Guizhou), feedback and an objection come back, a
//! repair is confirmed; a credit repair application filed in Chongqing with
//! its evidence files is read, accepted and granted in Guizhou; bad input
//! is refused with a clear error.

#![allow(clippy::unwrap_used)]
#![cfg(unix)]

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// `credex lists status --json` until `check` holds (30 s at most).
fn status_until(config: &Path, what: &str, check: impl Fn(&serde_json::Value) -> bool) {
    json_until("status", config, what, check);
}

/// `credex lists COMMAND --json` until `check` holds (30 s at most).
fn json_until(
    command: &str,
    config: &Path,
    what: &str,
    check: impl Fn(&serde_json::Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = ok(&["lists", command, "--config", p(config), "--json"]);
        let doc: serde_json::Value = serde_json::from_str(&out).unwrap();
        if check(&doc) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: not reached; last status {doc:#}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn all_regions(doc: &serde_json::Value, stage: &str) -> bool {
    let regions = doc["made"][0]["regions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    regions.len() == 2 && regions.iter().all(|r| r["stage"] == stage)
}

#[test]
fn listing_feedback_objection_and_repair_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dir.path().join("fed");
    let base = 46000 + (std::process::id() % 1000) as u16 * 4;
    ok(&["dev", "init", p(&fed), "--base-port", &base.to_string()]);
    let gy = fed.join("nodes/gy-1/node.toml");
    let gz = fed.join("nodes/gz-1/node.toml");
    let cq = fed.join("nodes/cq-1/node.toml");
    let _nodes = [start_node(&gy), start_node(&gz), start_node(&cq)];
    // Wait until all three answer (and so have created their databases).
    for (from, peer) in [
        (&gz, "520000/gy-1"),
        (&gy, "440000/gz-1"),
        (&gy, "500000/cq-1"),
    ] {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !credex(&["node", "hello", "--config", p(from), "--peer", peer])
            .status
            .success()
        {
            assert!(Instant::now() < deadline, "{peer} never answered");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    let subject = credex_kit::dev::sample_subjects("520000".parse().unwrap())[0].clone();
    let entry = |subject: &str, measures: &str| {
        format!(
            r#"{{"subject": "{subject}", "list_type": "serious_dishonesty",
                "basis": "《贵州省社会信用条例》第三十条", "authority": "贵州省市场监督管理局",
                "entry_date": "2026-11-02", "planned_exit": "2029-11-01",
                "measures": [{measures}], "notice": {{"date": "2026-10-20", "means": "written"}}}}"#
        )
    };
    let file = dir.path().join("entry.json");

    // Bad files are refused before anything is sent.
    let mut bad_subject = subject.clone();
    let last = if bad_subject.ends_with('0') { "1" } else { "0" };
    bad_subject.replace_range(17..18, last);
    std::fs::write(&file, entry(&bad_subject, "\"restrict_honours\"")).unwrap();
    let e = fails(&["lists", "add", "--config", p(&gy), p(&file)]);
    assert!(e.contains("subject"), "{e}");
    std::fs::write(&file, entry(&subject, "\"green_channel\"")).unwrap();
    let e = fails(&["lists", "add", "--config", p(&gy), p(&file)]);
    assert!(
        e.contains("green_channel") && e.contains("does not apply"),
        "{e}"
    );
    std::fs::write(&file, "{\"subject\": 1}").unwrap();
    let e = fails(&["lists", "add", "--config", p(&gy), p(&file)]);
    assert!(
        e.contains("entry.json") && e.contains("not a list entry"),
        "{e}"
    );

    // The listing goes to Guangdong and Chongqing (the two agreements);
    // the other Pan-Pearl River members have no peer in this federation.
    std::fs::write(
        &file,
        entry(
            &subject,
            "\"restrict_government_procurement\", \"restrict_honours\"",
        ),
    )
    .unwrap();
    let out = ok(&["lists", "add", "--config", p(&gy), p(&file)]);
    assert!(out.contains("sent to: 440000, 500000"), "{out}");
    assert!(out.contains("NOT sent") && out.contains("350000"), "{out}");
    let id = out
        .lines()
        .find_map(|l| l.strip_prefix("entry "))
        .unwrap()
        .to_owned();
    assert!(id.starts_with("520000-"), "{id}");
    status_until(&gy, "both responded", |d| all_regions(d, "responded"));
    let held = ok(&["lists", "status", "--config", p(&gz)]);
    assert!(held.contains(&format!("received {id} rev 0")), "{held}");

    // Feedback from Guangdong, an objection routed by Chongqing.
    let e = fails(&[
        "lists",
        "feedback",
        "--config",
        p(&gz),
        &id,
        "--applied",
        "green_channel",
    ]);
    assert!(e.contains("does not apply"), "{e}");
    ok(&[
        "lists",
        "feedback",
        "--config",
        p(&gz),
        &id,
        "--applied",
        "restrict_government_procurement,restrict_honours",
        "--note",
        "已在广东实施",
    ]);
    ok(&[
        "lists",
        "objection",
        "--config",
        p(&cq),
        &id,
        "--reason",
        "处罚决定已被复议撤销",
    ]);
    status_until(&gy, "feedback and objection", |d| {
        let e = &d["made"][0];
        e["objections"][0]["reason"] == "处罚决定已被复议撤销"
            && e["regions"]
                .as_array()
                .unwrap()
                .iter()
                .any(|r| r["region"] == "440000" && r["stage"] == "feedback_received")
    });
    let shown = ok(&["lists", "status", "--config", p(&gy)]);
    assert!(
        shown.contains(
            "440000 FeedbackReceived applied restrict_government_procurement,restrict_honours"
        ),
        "{shown}"
    );
    assert!(shown.contains("objection via 500000"), "{shown}");
    // Nothing is overdue now.
    assert_eq!(
        ok(&["lists", "status", "--config", p(&gy), "--overdue"]),
        ""
    );

    // Guizhou handles the objection; Guangdong, which holds the entry,
    // sees where it stands.
    let shown = ok(&["lists", "objections", "--config", p(&gy)]);
    assert!(
        shown.contains("made here")
            && shown.contains("filed in 500000 — filed 异议处理中")
            && shown.contains("grounds: 处罚决定已被复议撤销"),
        "{shown}"
    );
    let objection = shown
        .split_whitespace()
        .skip_while(|w| *w != "objection")
        .nth(1)
        .unwrap()
        .to_owned();
    json_until("objections", &gz, "Guangdong holds the mark", |d| {
        d["held_here"][0]["stage"] == "filed" && d["held_here"][0]["pending"] == true
    });
    let answer = |at: &Path, what: &[&str]| {
        let mut args = vec![
            "lists",
            "answer-objection",
            "--config",
            p(at),
            &id,
            &objection,
        ];
        args.extend(what);
        credex(&args)
    };
    let refused = |out: std::process::Output| String::from_utf8_lossy(&out.stderr).to_string();
    let e = refused(answer(&gz, &["--accept"]));
    assert!(e.contains("only that region"), "{e}");
    let e = refused(answer(&gy, &["--decide", "maybe"]));
    assert!(
        e.contains("upheld, corrected, dismissed or withdrawn"),
        "{e}"
    );
    let e = refused(answer(&gy, &[]));
    assert!(e.contains("--accept, --refuse or --decide"), "{e}");
    let out = answer(&gy, &["--accept", "--note", "已受理"]);
    assert!(out.status.success(), "{}", refused(out));
    let out = answer(
        &gy,
        &["--decide", "dismissed", "--note", "经核查，异议不成立"],
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("marked on 440000, 500000"), "{said}");
    json_until("objections", &gz, "the decision reaches Guangdong", |d| {
        d["held_here"][0]["stage"] == "dismissed" && d["held_here"][0]["pending"] == false
    });

    // Only Guizhou changes its entry; its repair is confirmed by both.
    let e = fails(&["lists", "change", "--config", p(&gz), &id, "--repair"]);
    assert!(e.contains("only that region can change it"), "{e}");
    let e = fails(&["lists", "change", "--config", p(&gy), &id, "--exit"]);
    assert!(
        e.contains("planned exit date 2029-11-01 is not reached"),
        "{e}"
    );
    let e = fails(&["lists", "change", "--config", p(&gy), &id]);
    assert!(e.contains("--repair"), "{e}");
    let out = ok(&[
        "lists",
        "change",
        "--config",
        p(&gy),
        &id,
        "--repair",
        "--reason",
        "信用修复完成",
    ]);
    assert!(out.contains("sent to: 440000, 500000"), "{out}");
    status_until(&gy, "repair confirmed", |d| {
        d["made"][0]["ended"] == "repair" && all_regions(d, "change_confirmed")
    });
    let held = ok(&["lists", "status", "--config", p(&cq)]);
    assert!(
        held.contains("rev 1") && held.contains("ENDED (repair)"),
        "{held}"
    );

    // An earlier listing (October 2025): the company applies for credit
    // repair in Chongqing with its evidence files.
    let old_entry = entry(&subject, "\"restrict_honours\"")
        .replace("2026-11-02", "2025-10-15")
        .replace("2029-11-01", "2028-10-14")
        .replace("2026-10-20", "2025-10-10");
    std::fs::write(&file, old_entry).unwrap();
    let out = ok(&["lists", "add", "--config", p(&gy), p(&file)]);
    let old = out
        .lines()
        .find_map(|l| l.strip_prefix("entry "))
        .unwrap()
        .to_owned();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok(&["lists", "status", "--config", p(&cq)]).contains(&format!("received {old}")) {
        assert!(Instant::now() < deadline, "Chongqing never held {old}");
        std::thread::sleep(Duration::from_millis(200));
    }
    let letter = dir.path().join("信用承诺书.pdf");
    let receipt = dir.path().join("receipt.pdf");
    std::fs::write(&letter, "%PDF-1.7 本企业承诺依法诚信经营").unwrap();
    std::fs::write(&receipt, "%PDF-1.7 罚款已缴清").unwrap();
    let apply = |evidence: &[String]| {
        let mut args = vec![
            "lists".to_owned(),
            "apply-repair".to_owned(),
            "--config".to_owned(),
            p(&cq).to_owned(),
            old.clone(),
            "--statement".to_owned(),
            "罚款已缴清，完成整改".to_owned(),
        ];
        for e in evidence {
            args.extend(["--evidence".to_owned(), e.clone()]);
        }
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        credex(&args)
    };
    let e = refused(run(apply(&[format!("receipt:{}", p(&receipt))])));
    assert!(e.contains("kind \"receipt\""), "{e}");
    let e = refused(run(apply(&[format!(
        "proof_of_performance:{}",
        p(&receipt)
    )])));
    assert!(e.contains("commitment letter"), "{e}");
    let e = refused(run(apply(&[
        "commitment_letter:/nonexistent.pdf".to_owned()
    ])));
    assert!(
        e.contains("/nonexistent.pdf") && e.contains("cannot read"),
        "{e}"
    );
    let out = run(apply(&[
        format!("commitment_letter:{}", p(&letter)),
        format!("proof_of_performance:{}", p(&receipt)),
    ]));
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        said.contains("(2 evidence file(s)) queued for region 520000"),
        "{said}"
    );
    let case = said.split_whitespace().nth(2).unwrap().to_owned();
    json_until("cases", &gy, "Guizhou records the application", |d| {
        d["made_here"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["case"] == case.as_str()))
    });
    let shown = ok(&["lists", "cases", "--config", p(&gy)]);
    assert!(
        shown.contains(&format!(
            "repair {case} filed in 500000 — filed 信用修复审核中"
        )) && shown.contains("evidence: commitment_letter: 信用承诺书.pdf"),
        "{shown}"
    );
    let out_dir = dir.path().join("evidence");
    let out = ok(&[
        "lists",
        "evidence",
        "--config",
        p(&gy),
        &old,
        &case,
        "--out",
        p(&out_dir),
    ]);
    assert!(out.contains("00-commitment_letter-信用承诺书.pdf"), "{out}");
    assert_eq!(
        std::fs::read(out_dir.join("01-proof_of_performance-receipt.pdf")).unwrap(),
        std::fs::read(&receipt).unwrap()
    );
    let decide = |what: &[&str]| {
        let mut args = vec!["lists", "answer", "--config", p(&gy), &old, &case];
        args.extend(what);
        credex(&args)
    };
    let out = decide(&["--accept"]);
    assert!(out.status.success(), "{}", refused(out));
    let e = refused(decide(&["--decide", "upheld"]));
    assert!(e.contains("cannot be decided upheld"), "{e}");
    let out = decide(&["--decide", "granted", "--note", "准予信用修复"]);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.contains("repair granted"), "{said}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let held = ok(&["lists", "status", "--config", p(&cq)]);
        if held
            .lines()
            .any(|l| l.contains(&old) && l.contains("ENDED (repair)"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the repair never reached Chongqing: {held}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}
