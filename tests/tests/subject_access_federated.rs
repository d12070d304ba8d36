//! The subject access report gathered across the federation (decision
//! 0980), over real HTTPS, QUIC, signatures and databases: a Guizhou
//! company's penalty is queried by Guangdong, and Chongqing asks Guangdong
//! about the company too; the company asks its home region, Guizhou, who
//! looked at its records. Guizhou asks every region; each answers with its
//! own log's part; the report shows Guangdong's query at Guizhou and
//! Chongqing's at Guangdong, and names the regions that received the
//! company's records. A region that is not the company's home is refused
//! by every region, with the reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use credex_node::config::GatewayConfig;
use credex_node::service::now_ms;
use credex_protocol::query::SubjectRef;
use credex_tests::gateway::{GUIZHOU, client, connect_as};
use credex_tests::{
    Federation, ask, audit_all, authorized_query, findings, gy_penalty_query, gz_penalty_query,
    import_samples, until_stored_some, witness_all,
};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_home_region_gathers_who_looked_at_a_subject_in_every_region() {
    let fed = Federation::new();
    let nodes = fed
        .start_wired_with(&["national-1", "gy-1", "cq-1", "gz-1"], |c| {
            if c.region.to_string() == GUIZHOU {
                credex_tests::release_penalties_to_chongqing_and_guangdong(&fed, c);
                c.gateway = Some(GatewayConfig::on("127.0.0.1:0".parse().unwrap()));
            }
        })
        .await;
    let (national, gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    import_samples(&fed, gy, GUIZHOU).await;
    let company = credex_tests::subjects(GUIZHOU)[1].clone();
    // Guangdong queries Guizhou about the company; Chongqing asks Guangdong.
    ask(
        gz,
        gy,
        &authorized_query(&fed, gz, gy_penalty_query(&company)),
    )
    .await;
    ask(
        cq,
        gz,
        &authorized_query(&fed, cq, gz_penalty_query(&company, &["amount"])),
    )
    .await;

    // The company's credit desk at Guizhou asks for the federated report.
    let desk = client(&fed, GUIZHOU, "credit-repair-desk", "sar");
    let mut conn = connect_as(&fed, gy, &desk).await;
    let r = conn
        .post_json("/v1/subject-access/federated", &json!({"subject": company}))
        .await
        .unwrap();
    assert_eq!(r.status, 202, "{}", r.json());
    let request = r.json()["request"].as_str().unwrap().to_owned();
    assert_eq!(
        r.json()["asked"],
        json!(["000000", "440000", "500000"]),
        "{}",
        r.json()
    );
    let path = format!("/v1/subject-access/federated/{request}");
    let report: Value = until_stored_some(gy.storage(), "every region answers", || async {
        let r = connect_as(&fed, gy, &desk).await.get(&path).await.unwrap();
        assert_eq!(r.status, 200, "{}", r.json());
        let report = r.json();
        (report["waiting"] == json!([])).then_some(report)
    })
    .await;
    assert_eq!(report["refused"], json!([]), "{report}");
    let part = |region: &str| -> Value {
        report["parts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["region"] == region)
            .cloned()
            .unwrap_or_else(|| panic!("no part of {region}: {report}"))
    };
    let accesses_by = |region: &str| -> Vec<String> {
        part(region)["accesses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["by"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(accesses_by(GUIZHOU), ["440000/gz-1"], "{report}");
    assert_eq!(accesses_by("440000"), ["500000/cq-1"], "{report}");
    assert!(accesses_by("500000").is_empty(), "{report}");
    // Guizhou's own part names its records by id, the recipients beside.
    let disclosures = part(GUIZHOU)["disclosures"].as_array().unwrap().clone();
    assert!(
        disclosures
            .iter()
            .any(|d| d["recipient"] == "440000" && d["record_id"] == format!("{GUIZHOU}-AP-0002")),
        "{report}"
    );
    assert!(!report.to_string().contains("内部备注"), "no record field");

    // Chongqing is not the company's home: its own node will not ask, and
    // a Chongqing node that asks anyway (bypassing that check) is refused
    // by every region, each saying why.
    let elsewhere = cq.subject_access();
    let e = elsewhere
        .ask(
            SubjectRef::LegalPerson(company.clone()),
            "cq-desk",
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("home province 520000"), "{e}");
    let request = [0x5A; 16];
    let mut writes = Vec::new();
    let mut sent_to = Vec::new();
    let regions: Vec<credex_protocol::RegionCode> = ["000000", "440000", "520000"]
        .map(|r| r.parse().unwrap())
        .to_vec();
    for region in &regions {
        let body = credex_policies::egress::release_access_report_request(
            *region,
            &credex_protocol::rights::AccessReportRequest {
                request,
                subject: SubjectRef::LegalPerson(company.clone()),
            },
        )
        .unwrap();
        let (signed, outbox) = cq.federation().prepare(body, now_ms()).unwrap();
        writes.push(outbox);
        sent_to.push((*region, signed.envelope.message_id));
    }
    writes.push(
        credex_node::storage::StateWrite::encoded(
            credex_flows::rights::ASKED_NS,
            hex::encode(request),
            &credex_flows::rights::AccessAsked {
                subject: SubjectRef::LegalPerson(company.clone()),
                regions,
                asked_by: "cq-desk".into(),
                at_ms: now_ms(),
            },
        )
        .unwrap(),
    );
    cq.storage()
        .append_entry_with_state(
            &credex_journal::AccessReportAsked {
                version: credex_journal::ENTRY_VERSION,
                at_ms: now_ms(),
                request,
                subject_digest: credex_journal::subject_digest(&SubjectRef::LegalPerson(
                    company.clone(),
                )),
                asked_by: "cq-desk".into(),
                sent_to,
            },
            writes,
        )
        .await
        .unwrap();
    cq.federation().wake();
    let id = hex::encode(request);
    let refused = until_stored_some(cq.storage(), "every region refuses Chongqing", || async {
        let r = elsewhere.gathered(&id).await.unwrap();
        (r.waiting.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(refused.refused.len(), 3, "{refused:?}");
    assert!(refused.parts.len() == 1, "only Chongqing's own part");
    for r in &refused.refused {
        assert!(r.reason.contains("home province 520000"), "{r:?}");
    }

    // Every request and answer is in the logs, which audit clean.
    let all = [national, gy, cq, gz];
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    for node in nodes {
        node.shutdown().await;
    }
}
