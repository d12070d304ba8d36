//! Signed credit reports through the gateway (`POST /v1/reports`), over
//! real HTTPS with client certificates: Guizhou's procurement platform asks
//! for a special report on a company; the file it gets verifies in
//! Guangdong and is accepted there under the Pan-Pearl River terms; the
//! issuance is logged with the platform and the officer; a client without
//! role `check` and a bad body are refused, and nothing is issued.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use credex_audit::report::{accept, verify};
use credex_journal::{ReportIssued, kind};
use credex_policies::AgreementSet;
use credex_tests::gateway::{GUIZHOU, client, connect_as, guizhou_and_guangdong};
use credex_tests::{Federation, entries_of_kind, import_samples};
use rustls_pki_types::UnixTime;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_gets_a_report_that_verifies_and_is_accepted_elsewhere() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    import_samples(&fed, &gy, GUIZHOU).await;
    let company = credex_tests::subjects(GUIZHOU)[0].clone();
    let platform = client(&fed, GUIZHOU, "procurement-platform", "check");
    let mut conn = connect_as(&fed, &gy, &platform).await;
    let ask = json!({
        "subject": company, "kind": "no_violation", "purpose": "public_procurement",
        "officer": "李强 (交易中心)", "valid_days": 30
    });
    let r = conn.post_json("/v1/reports", &ask).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let text = r.json()["report"].as_str().unwrap().to_owned();
    let trust = gz.transport().trust().current();
    let verified = verify(&text, &trust, UnixTime::now()).unwrap();
    assert_eq!(verified.report.purpose, "public_procurement");
    assert_eq!(
        accept(
            &verified,
            &AgreementSet::builtin(),
            gz.config().region,
            credex_node::service::now_ms()
        ),
        Ok(Some("pan-pearl-river".to_owned()))
    );
    // Logged with who asked and the officer.
    let issued = entries_of_kind(&gy, kind::REPORT_ISSUED).await;
    assert_eq!(issued.len(), 1);
    let entry: ReportIssued = credex_protocol::decode(&issued[0]).unwrap();
    assert_eq!(entry.officer, "李强 (交易中心)");
    assert!(
        entry.requested_by.contains("procurement-platform"),
        "{}",
        entry.requested_by
    );

    // The company's subject access report lists the report issued.
    let sar = client(&fed, GUIZHOU, "service-hall", "sar");
    let mut hall = connect_as(&fed, &gy, &sar).await;
    let r = hall
        .post_json("/v1/subject-access", &json!({"subject": company}))
        .await
        .unwrap();
    assert_eq!(r.status, 200);
    let report = r.json();
    let listed: Vec<&serde_json::Value> = report["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["kind"] == "credit_report")
        .collect();
    assert_eq!(listed.len(), 1, "{report}");
    assert_eq!(listed[0]["outcome"], "no_violation");
    assert_eq!(listed[0]["officers"][0], "李强 (交易中心)");

    // Refused: a bad kind, a bad subject, a purpose that is not a check's.
    for (body, field) in [
        (
            json!({"subject": company, "kind": "summary", "purpose": "public_procurement", "officer": "李强"}),
            "/kind",
        ),
        (
            json!({"subject": "91520000MA6DKXXX1Z", "kind": "general", "purpose": "public_procurement", "officer": "李强"}),
            "/subject",
        ),
        (
            json!({"subject": company, "kind": "general", "purpose": "upward_reporting", "officer": "李强"}),
            "/purpose",
        ),
        (
            json!({"subject": company, "kind": "general", "purpose": "public_procurement", "officer": " "}),
            "/officer",
        ),
    ] {
        let r = conn.post_json("/v1/reports", &body).await.unwrap();
        assert_eq!(r.status, 422, "{body}");
        assert_eq!(
            r.json()["field"],
            field,
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    // A client without role `check`.
    let feeder = client(&fed, GUIZHOU, "feeder", "feed");
    let mut conn = connect_as(&fed, &gy, &feeder).await;
    let r = conn.post_json("/v1/reports", &ask).await.unwrap();
    assert_eq!(r.status, 403);
    assert_eq!(
        entries_of_kind(&gy, kind::REPORT_ISSUED).await.len(),
        1,
        "nothing more issued"
    );
    gy.shutdown().await;
    gz.shutdown().await;
}
