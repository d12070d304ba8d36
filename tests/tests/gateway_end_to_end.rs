//! Issue 15 end to end, over real HTTPS and real QUIC: Guizhou's provincial
//! platform feeds a penalty record through the gateway, Guangdong lists the
//! same company and pushes the entry over QUIC, a business system's credit
//! check answers both, and a two-person query to Guangdong is made entirely
//! through the gateway — each step in Guizhou's access log.

#![allow(clippy::unwrap_used)]

use credex_kit::gateway_client::officer_signature;
use credex_tests::gateway::{
    GUANGDONG, GUIZHOU, client, connect_as, guizhou_and_guangdong, listed_by_guangdong,
};
use credex_tests::{Federation, import_samples, within};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_platform_feeds_a_system_checks_and_two_officers_query_all_through_the_gateway() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    import_samples(&fed, &gz, GUANGDONG).await;
    // A company registered in Guangdong, doing business in Guizhou.
    let company = credex_tests::subjects(GUANGDONG)[1].clone();

    // 1. The provincial platform feeds Guizhou's penalty on the company.
    let platform = client(&fed, GUIZHOU, "credit-platform", "feed");
    let mut feed = connect_as(&fed, &gy, &platform).await;
    let line = json!({
        "source": "market-regulation", "seq": 1, "op": "upsert",
        "record": {
            "category": "admin_penalty", "record_id": "QZ-2026-0007", "subject": company,
            "decision_number": "黔市监罚〔2026〕7号", "penalty_type": "罚款",
            "amount": "12000.00", "decision_date": "2026-03-15"
        }
    });
    let r = feed
        .call_with_headers(
            "POST",
            "/v1/records",
            Some("application/x-ndjson"),
            &[("Idempotency-Key", "market-2026-12-04-1")],
            format!("{line}\n").into_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    // 2. Guangdong lists the company; the entry reaches Guizhou over QUIC.
    let entry_id = within("listing", listed_by_guangdong(&gy, &gz, &company)).await;

    // 3. The tendering system checks the company before a procurement award.
    let tendering = client(&fed, GUIZHOU, "tendering-system", "check");
    let mut check = connect_as(&fed, &gy, &tendering).await;
    let r = check
        .post_json(
            "/v1/checks",
            &json!({"subject": company, "purpose": "public_procurement", "officer": "张敏 (交易中心)"}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let result = &r.json()["results"][0];
    let fed_record = result["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_id"] == "QZ-2026-0007" || r["fields"]["amount"] == "12000.00")
        .cloned();
    assert!(
        fed_record.is_some(),
        "the fed record is not in the check: {result}"
    );
    let lists = result["lists"].as_array().unwrap();
    assert!(
        lists
            .iter()
            .any(|e| e["entry_id"] == entry_id.as_str() && e["origin_region"] == GUANGDONG),
        "the pushed entry is not in the check: {result}"
    );

    // 4. A two-person query to Guangdong, drafted and signed through the gateway.
    let procurement = client(&fed, GUIZHOU, "procurement-platform", "query");
    let mut q = connect_as(&fed, &gy, &procurement).await;
    let draft = q
        .post_json(
            "/v1/queries",
            &json!({
                "target_region": GUANGDONG, "subject": company, "purpose": "public_procurement",
                "requested": [{"category": "admin_penalty", "fields": ["decision_number", "amount"]}],
                "legal_basis": "joint-punishment-memorandum", "case_reference": "黔采〔2026〕0457号"
            }),
        )
        .await
        .unwrap()
        .json();
    let id = draft["id"].as_str().unwrap().to_owned();
    let mut to_sign = draft["to_sign"].as_str().unwrap().to_owned();
    for officer in ["req-1", "apv-1"] {
        let dir = fed.path().join("operators/520000");
        let body = officer_signature(
            &dir.join(format!("{officer}.pem")),
            &dir.join(format!("{officer}.key")),
            &to_sign,
        )
        .unwrap();
        let r = q
            .post_json(&format!("/v1/queries/{id}/signatures"), &body)
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", r.json());
        to_sign = r.json()["to_sign"].as_str().unwrap_or_default().to_owned();
    }
    let answered: Value = within("answer", async {
        loop {
            let v = q
                .get(&format!("/v1/queries/{id}?wait=10"))
                .await
                .unwrap()
                .json();
            if v["state"] != "sending" {
                return v;
            }
        }
    })
    .await;
    assert_eq!(answered["state"], "answered", "{answered}");
    assert_eq!(answered["answer"]["outcome"], "granted", "{answered}");

    // Every step is in Guizhou's access log.
    let kinds: Vec<u16> = gy
        .storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .iter()
        .map(|r| r.kind)
        .collect();
    for (kind, what) in [
        (credex_journal::kind::RECORDS_FED, "the fed batch"),
        (credex_journal::kind::MESSAGE_RECEIVED, "the pushed listing"),
        (credex_journal::kind::CREDIT_CHECKED, "the credit check"),
        (
            credex_journal::kind::QUERY_SENT,
            "the query and its receipt",
        ),
    ] {
        assert!(kinds.contains(&kind), "{what} is not in Guizhou's log");
    }
    gy.shutdown().await;
    gz.shutdown().await;
}
