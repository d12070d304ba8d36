//! `credex report issue|verify` as an officer and a verifier in another
//! region would run them: Guizhou issues a report on a company from its
//! database; anyone verifies it offline with the federation root; a
//! changed file, a missing root and bad arguments are refused with a clear
//! reason.

#![allow(clippy::unwrap_used)]

mod common;
use common::*;

#[test]
fn a_report_is_issued_from_the_command_line_and_verified_offline() {
    let dir = tempfile::tempdir().unwrap();
    let fed = dev_federation(dir.path(), 41000);
    let gy = fed.join("nodes/gy-1/node.toml");
    let root = fed.join("pki/root/ca.pem");
    ok(&[
        "records",
        "import",
        "--config",
        p(&gy),
        "--category",
        "admin_penalty",
        p(&fed.join("records/520000/admin_penalty.jsonl")),
    ]);
    let subject = credex_kit::dev::sample_subjects("520000".parse().unwrap())[0].clone();
    let out = dir.path().join("report.tlog-proof");
    let issue = |kind: &str, purpose: &str| {
        credex(&[
            "report",
            "issue",
            "--config",
            p(&gy),
            "--subject",
            &subject,
            "--kind",
            kind,
            "--purpose",
            purpose,
            "--officer",
            "王芳 (信用科)",
            "--out",
            p(&out),
        ])
    };
    let stderr = |o: std::process::Output| String::from_utf8_lossy(&o.stderr).to_string();
    let e = stderr(issue("summary", "administrative_approval"));
    assert!(e.contains("expected general or no_violation"), "{e}");
    let e = stderr(issue("general", "marketing"));
    assert!(e.contains("purpose"), "{e}");
    assert!(!out.exists());
    let said = issue("general", "administrative_approval");
    assert!(said.status.success(), "{}", stderr(said));
    let e = stderr(issue("general", "administrative_approval"));
    assert!(e.contains("exists: not overwritten"), "{e}");

    let shown = ok(&["report", "verify", p(&out), "--trust", p(&root)]);
    assert!(
        shown.contains("VERIFIED 公共信用信息报告")
            && shown.contains("by node gy-1 of region 520000")
            && shown.contains("admin_penalty: 1 item(s)"),
        "{shown}"
    );
    let json = ok(&["report", "verify", p(&out), "--trust", p(&root), "--json"]);
    let doc: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(doc["verified"], true);
    assert_eq!(doc["issuer"], "520000");

    // Drawn for people: a page in plain Chinese with its QR code, and a
    // PDF printed by headless Chromium.
    let page = dir.path().join("report.html");
    let pdf = dir.path().join("report.pdf");
    let mut render = vec![
        "report",
        "render",
        p(&out),
        "--trust",
        p(&root),
        "--out",
        p(&page),
    ];
    let printing = std::env::var("CREDEX_SKIP_BROWSER").as_deref() != Ok("1");
    if printing {
        render.extend(["--pdf", p(&pdf)]);
    }
    ok(&render);
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("<h1>公共信用信息报告</h1>")
            && html.contains(&subject)
            && html.contains("贵州省信用信息共享节点 gy-1")
            && html.contains("行政处罚信息")
            && html.contains("<svg")
            && html.contains("credex-report/v1 520000/gy-1"),
        "{html}"
    );
    if printing {
        let bytes = std::fs::read(&pdf).unwrap();
        assert!(
            bytes.starts_with(b"%PDF") && bytes.len() > 2048,
            "{} bytes",
            bytes.len()
        );
    }

    // Chongqing accepts it under its agreement with Guizhou; Guangdong's
    // agreement takes only special reports for procurement.
    let accepted = ok(&[
        "report",
        "accept",
        p(&out),
        "--config",
        p(&fed.join("nodes/cq-1/node.toml")),
    ]);
    assert!(
        accepted.contains("ACCEPTED") && accepted.contains("渝黔信用评价结果互认协议"),
        "{accepted}"
    );
    let e = fails(&[
        "report",
        "accept",
        p(&out),
        "--config",
        p(&fed.join("nodes/gz-1/node.toml")),
    ]);
    assert!(
        e.contains("NOT ACCEPTED") && e.contains("no agreement between 440000 and 520000"),
        "{e}"
    );

    // One character of the signed report changed.
    let text = std::fs::read_to_string(&out).unwrap();
    let extra = text.lines().nth(1).unwrap();
    let mut changed = extra.to_owned();
    let at = changed.len() / 2;
    let c = if &changed[at..at + 1] == "A" {
        "B"
    } else {
        "A"
    };
    changed.replace_range(at..at + 1, c);
    let doctored = dir.path().join("doctored.tlog-proof");
    std::fs::write(&doctored, text.replacen(extra, &changed, 1)).unwrap();
    let e = fails(&["report", "verify", p(&doctored), "--trust", p(&root)]);
    assert!(e.contains("doctored.tlog-proof: REFUSED"), "{e}");
    let e = fails(&[
        "report",
        "render",
        p(&doctored),
        "--trust",
        p(&root),
        "--out",
        p(&page),
    ]);
    assert!(
        e.contains("REFUSED"),
        "a doctored report is never drawn: {e}"
    );
    // Another federation's root does not vouch for Guizhou.
    let other = tempfile::tempdir().unwrap();
    let other_fed = dev_federation(other.path(), 42000);
    let e = fails(&[
        "report",
        "verify",
        p(&out),
        "--trust",
        p(&other_fed.join("pki/root/ca.pem")),
    ]);
    assert!(e.contains("not a trusted node of the federation"), "{e}");
}
