//! An auditor in the console, in a real browser (issue 16): uploads an
//! exported log folder, follows the verification's progress, and sees an
//! honest export pass with a planted anomaly flagged (four officers on one
//! company within a week), then a doctored copy of the same export caught.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};

use credex_protocol::Role;
use credex_tests::browser::{Browser, Driver, skipped};
use credex_tests::console::{guizhou_with_console_and_guangdong, origin};
use credex_tests::{Federation, ask, export_log, gz_penalty_query, signer, witness_all};

/// Flip one byte of the first entry bundle of the export at `dir`.
fn doctor(dir: &Path) {
    let mut bundles: Vec<PathBuf> = Vec::new();
    let mut stack = vec![dir.join("tile/entries")];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                bundles.push(p);
            }
        }
    }
    bundles.sort();
    let file = &bundles[0];
    let mut bytes = std::fs::read(file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x01;
    std::fs::write(file, bytes).unwrap();
}

/// Verify the export at `dir`; the verdict once it says `expected`.
async fn verify_folder(b: &Browser, dir: &Path, expected: &str) -> String {
    b.choose_file("#export-folder", dir).await;
    b.click("#audit-start").await;
    b.wait_for_text("#audit-verdict", expected).await
}

#[tokio::test]
async fn an_auditor_verifies_exports_sees_a_planted_anomaly_and_catches_a_doctored_one() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let (gy, gz) = guizhou_with_console_and_guangdong(&fed).await;
    // Four Guizhou requesters ask about one Guangdong company in a week.
    let ops = fed.path().join("operators/520000");
    for name in ["req-2", "req-3", "req-4"] {
        fed.ca("520000")
            .issue_operator(
                &name.parse().unwrap(),
                Role::Requester,
                credex_tests::signing_algorithm(),
                30,
                &ops,
            )
            .unwrap();
    }
    let subject = credex_tests::subjects("440000")[0].clone();
    for name in ["req-1", "req-2", "req-3", "req-4"] {
        let mut file = credex_node::requester::draft_and_sign(
            gy.config().region,
            gy.config().name.clone(),
            gz_penalty_query(&subject, &["decision_number", "amount"]),
            &signer(&fed, "520000", name),
            std::time::SystemTime::now(),
        )
        .unwrap();
        credex_node::requester::approve(&mut file, &signer(&fed, "520000", "apv-1")).unwrap();
        ask(&gy, &gz, &file.authorized().unwrap()).await;
    }
    witness_all(&[&gy, &gz]).await;
    let out = tempfile::tempdir().unwrap();
    let honest = out.path().join("gz-honest");
    export_log(&gz, &honest).await;
    let doctored = out.path().join("gz-doctored");
    export_log(&gz, &doctored).await;
    doctor(&doctored);

    let driver = Driver::start().await;
    let b = driver.browser(gy.console().unwrap().certificate()).await;
    b.sign_in(
        &format!("{}/", origin(&gy)),
        &ops.join("aud-1.pem"),
        &ops.join("aud-1.key"),
    )
    .await;
    b.click("#nav-audit").await;
    b.wait_for("#view-audit").await;

    let verdict = verify_folder(&b, &honest, "核验通过").await;
    assert!(verdict.contains("未发现违规"), "{verdict}");
    assert!(b.text("#audit-progress-text").await.contains("已核验"));
    // Look, not read: the accesses drawn per day, peer, purpose, officer.
    let officers = b
        .run(r##"return document.querySelectorAll("#audit-chart-officer rect.bar").length"##)
        .await;
    assert_eq!(officers, 4, "one bar per requesting officer");
    let peer = b
        .run(r##"return document.querySelector("#audit-chart-peer svg").textContent"##)
        .await;
    assert!(peer.as_str().unwrap().contains("贵州省"), "{peer}");
    let anomalies = b.text("#anomaly-rows").await;
    assert!(anomalies.contains("多人查询同一主体"), "{anomalies}");
    b.run(r##"document.querySelector("#audit-verdict").scrollIntoView(); return null"##)
        .await;
    b.screenshot("audit-anomaly").await;
    b.run(r##"document.querySelector("#audit-chart-days").scrollIntoView(); return null"##)
        .await;
    b.screenshot("audit-overview").await;

    // Guizhou's own log, copied by the node itself: it passes.
    b.click("#audit-own").await;
    b.wait_for_text("#audit-verdict", "未发现违规").await;
    let read = credex_tests::entries_of_kind(&gy, credex_journal::kind::AUDIT_FETCH).await;
    assert!(
        !read.is_empty(),
        "the auditor's read of the log is not logged"
    );

    verify_folder(&b, &doctored, "项违规").await;
    let violations = b.text("#violation-rows").await;
    assert!(
        violations.contains("tiles") || violations.contains("entry"),
        "{violations}"
    );
    b.screenshot("audit-doctored").await;

    b.close().await;
    gy.shutdown().await;
    gz.shutdown().await;
}
