//! Credit reports in the console, in a real browser (decision 0970): an
//! officer issues a report on a company for a purpose and gets the file and
//! its printable page; then verifies a report file — accepted, since this
//! region issued it — and a doctored copy, refused with the reason.

#![allow(clippy::unwrap_used)]

use credex_tests::browser::{Driver, skipped};
use credex_tests::console::{origin, start_with_console};
use credex_tests::{Federation, entries_of_kind, import_samples};

#[tokio::test]
async fn an_officer_issues_a_report_and_verifies_one() {
    if skipped() {
        return;
    }
    let fed = Federation::new();
    let gy = start_with_console(&fed).await;
    import_samples(&fed, &gy, "520000").await;
    let company = credex_tests::subjects("520000")[0].clone();
    let driver = Driver::start().await;
    let b = driver.browser(gy.console().unwrap().certificate()).await;
    let ops = fed.path().join("operators/520000");
    b.sign_in(
        &format!("{}/", origin(&gy)),
        &ops.join("apv-1.pem"),
        &ops.join("apv-1.key"),
    )
    .await;
    b.click("#nav-reports").await;
    b.fill("#r-subject", &company).await;
    b.select("#r-kind", "general").await;
    b.select("#r-purpose", "public_procurement").await;
    b.click("#r-submit").await;
    let said = b.wait_for_text("#r-issued-summary", "有效期至").await;
    assert!(
        said.contains("公共信用信息报告") && said.contains("admin_penalty"),
        "{said}"
    );
    let link = b.run("return document.getElementById('r-file').href").await;
    assert!(
        link.as_str().is_some_and(|h| h.starts_with("blob:")),
        "{link}"
    );
    // Issued in the officer's name, in the log before the file existed.
    let issued = entries_of_kind(&gy, credex_journal::kind::REPORT_ISSUED).await;
    assert_eq!(issued.len(), 1);
    let entry: credex_journal::ReportIssued = credex_protocol::decode(&issued[0]).unwrap();
    assert_eq!(entry.officer, "urn:credex:operator:520000:approver:apv-1");

    // A report file, as a company would present it: verified and accepted.
    let file = credex_node::reports::issue(
        gy.federation(),
        gy.queries().policy(),
        &credex_node::reports::ReportRequest {
            subject: company.clone(),
            kind: credex_protocol::report::ReportKind::NoViolation,
            purpose: "public_procurement".into(),
            valid_days: 30,
            requested_by: "counter".into(),
            officer: "王芳".into(),
        },
        credex_node::service::now_ms(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("report.tlog-proof");
    std::fs::write(&good, &file).unwrap();
    b.choose_file("#r-upload", &good).await;
    b.click("#r-verify").await;
    let verdict = b.wait_for_text("#r-verdict", "核验通过").await;
    assert!(verdict.contains("采信"), "{verdict}");
    assert!(b.text("#r-verified").await.contains("专项信用报告"));

    // One character of the report changed: refused, with the reason.
    let mut doctored: Vec<char> = file.chars().collect();
    let at = doctored.len() / 2;
    doctored[at] = if doctored[at] == 'A' { 'B' } else { 'A' };
    let bad = dir.path().join("doctored.tlog-proof");
    std::fs::write(&bad, doctored.into_iter().collect::<String>()).unwrap();
    b.choose_file("#r-upload", &bad).await;
    b.click("#r-verify").await;
    let verdict = b.wait_for_text("#r-verdict", "核验不通过").await;
    assert!(verdict.len() > "核验不通过：".len(), "{verdict}");
    b.screenshot("reports").await;
    b.close().await;
    gy.shutdown().await;
}
