//! Cases about records and evaluation results as credit checks show them
//! (decision 0980), over real HTTPS and QUIC: a record under objection at its
//! owner until decided, and a recognised evaluation under objection in the
//! recognising region until its issuer upholds it and revokes the result.

#![allow(clippy::unwrap_used)]

use credex_node::lists::CaseAnswer;
use credex_node::service::now_ms;
use credex_protocol::lists::ProcedureOutcome;
use credex_tests::gateway::{
    GUANGDONG, GUIZHOU, check, client, connect_as, evaluated_by_guangdong, guizhou_and_guangdong,
};
use credex_tests::{Federation, import_samples, until_stored, within};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_under_objection_shows_so_in_its_owners_checks_until_decided() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    import_samples(&fed, &gy, GUIZHOU).await;
    let company = credex_tests::subjects(GUIZHOU)[0].clone();
    let record_id = format!("{GUIZHOU}-AP-0001");
    // The subject objects at Guizhou itself, which owns the penalty.
    let cases =
        credex_node::rights::RecordCases::for_node(gy.federation().clone(), gy.config()).unwrap();
    let case = cases
        .file(
            credex_node::rights::CaseToFile {
                procedure: credex_protocol::lists::Procedure::Objection,
                owner: GUIZHOU.parse().unwrap(),
                subject: credex_protocol::query::SubjectRef::LegalPerson(company.clone()),
                category: "admin_penalty".into(),
                record_id: record_id.clone(),
                statement: "处罚对象认定错误".into(),
                evidence: Vec::new(),
            },
            now_ms(),
        )
        .await
        .unwrap();
    let desk = client(&fed, GUIZHOU, "approval-desk", "check");
    let mut conn = connect_as(&fed, &gy, &desk).await;
    let body = json!({"subject": company, "purpose": "public_procurement", "officer": "李强"});
    let (status, answer) = check(&mut conn, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    let penalty = result["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["record_id"] == record_id.as_str())
        .unwrap_or_else(|| panic!("{result}"));
    assert_eq!(penalty["under_objection"], true, "异议处理中: {result}");
    assert_eq!(penalty["under_repair_review"], false);
    let objections = result["objections"].as_array().unwrap();
    assert_eq!(objections.len(), 1, "{result}");
    assert_eq!(
        objections[0]["record"],
        format!("admin_penalty/{record_id}")
    );
    assert_eq!(objections[0]["from_region"], GUIZHOU);
    assert_eq!(objections[0]["stage"], "filed");
    assert!(
        !answer.to_string().contains("处罚对象认定错误"),
        "grounds stay with the case"
    );

    // Accepted and dismissed: the record stands, uncontested.
    for step in [
        CaseAnswer::Accept,
        CaseAnswer::Decide(ProcedureOutcome::Dismissed),
    ] {
        cases
            .answer(&case, step, "经核查，异议不成立", now_ms())
            .await
            .unwrap();
    }
    let (_, answer) = check(&mut conn, body).await;
    let result = &answer["results"][0];
    assert_eq!(result["objections"], json!([]), "{result}");
    assert!(
        result["records"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["record_id"] == record_id.as_str() && r["under_objection"] == false),
        "{result}"
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_objection_to_a_recognised_evaluation_is_marked_here_and_an_upheld_one_revokes_it() {
    use credex_node::rights::{CaseToFile, RecordCases};
    use credex_protocol::evaluation::Scheme;
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    let company = credex_tests::subjects(GUIZHOU)[1].clone();
    within("evaluation", evaluated_by_guangdong(&gy, &gz, &company)).await;
    // The company objects in Guizhou to Guangdong's evaluation of it.
    let here = RecordCases::for_node(gy.federation().clone(), gy.config()).unwrap();
    let issuer = RecordCases::for_node(gz.federation().clone(), gz.config()).unwrap();
    let record_id = credex_policies::egress::evaluation_record_id(Scheme::PublicCredit, &company);
    let case = here
        .file(
            CaseToFile {
                procedure: credex_protocol::lists::Procedure::Objection,
                owner: GUANGDONG.parse().unwrap(),
                subject: credex_protocol::query::SubjectRef::LegalPerson(company.clone()),
                category: "public_credit_evaluation".into(),
                record_id: record_id.clone(),
                statement: "评价所依据的处罚已被撤销".into(),
                evidence: Vec::new(),
            },
            now_ms(),
        )
        .await
        .unwrap();
    until_stored(gz.storage(), "Guangdong opens the case", || async {
        issuer
            .cases(now_ms())
            .await
            .unwrap()
            .iter()
            .any(|v| v.case == case)
    })
    .await;
    let desk = client(&fed, GUIZHOU, "approval-desk", "check");
    let mut conn = connect_as(&fed, &gy, &desk).await;
    let body = json!({"subject": company, "purpose": "administrative_approval", "officer": "王芳"});
    let (status, answer) = check(&mut conn, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(
        result["evaluations"][0]["under_objection"], true,
        "{result}"
    );
    assert_eq!(result["evaluations"][0]["counts_now"], true, "{result}");
    assert_eq!(
        result["objections"][0]["record"],
        format!("public_credit_evaluation/{record_id}"),
        "{result}"
    );

    // Guangdong accepts and upholds it: the result is revoked everywhere.
    for step in [
        CaseAnswer::Accept,
        CaseAnswer::Decide(ProcedureOutcome::Upheld),
    ] {
        issuer
            .answer(&case, step, "异议成立", now_ms())
            .await
            .unwrap();
    }
    until_stored(gy.storage(), "the revocation reaches Guizhou", || async {
        credex_node::eval::list(gy.storage())
            .await
            .unwrap()
            .iter()
            .any(|l| l.kind == "received" && l.subject == company && l.status != "active")
    })
    .await;
    let (_, answer) = check(&mut conn, body).await;
    let result = &answer["results"][0];
    assert_eq!(result["objections"], json!([]), "{result}");
    assert!(
        result["evaluations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["counts_now"] == false),
        "{result}"
    );
    gy.shutdown().await;
    gz.shutdown().await;
}
