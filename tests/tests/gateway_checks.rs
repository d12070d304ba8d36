//! Credit checks (信用核查) over the gateway, real HTTPS to a node whose
//! list entries arrive from another region over real QUIC: what a business
//! system gets, what the policy keeps from it, who is refused, and what the
//! access log records — never a clear citizen ID.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use credex_journal::{CreditChecked, GatewayRefused, kind};
use credex_node::lists::{CaseAnswer, EntryDraft, Lists, ListsPolicy};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::lists::{ListKind, NoticeMeans, ProcedureOutcome, SubjectNotice};
use credex_tests::gateway::{
    GUANGDONG, GUIZHOU, check, client, connect_as, evaluated_by_guangdong, guizhou_and_guangdong,
    listed_by_guangdong,
};
use credex_tests::{Federation, import_samples, until_stored, within};
use serde_json::{Value, json};

fn draft(subject: &str, authority: &str) -> EntryDraft {
    EntryDraft {
        subject: subject.to_owned(),
        list_type: ListKind::SeriousDishonesty,
        basis: "《贵州省社会信用条例》第三十条; 黔高法执〔2026〕9号".into(),
        authority: authority.into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2029-11-01".into(),
        measures: vec!["restrict_high_consumption".into()],
        notice: SubjectNotice {
            date: "2026-10-20".into(),
            means: NoticeMeans::Written,
        },
        details: BTreeMap::new(),
    }
}

async fn journal(node: &RunningNode) -> Vec<credex_node::storage::JournalRecord> {
    node.storage().journal_range(0, 10_000).await.unwrap()
}

async fn checked(node: &RunningNode) -> Vec<CreditChecked> {
    journal(node)
        .await
        .iter()
        .filter(|r| r.kind == kind::CREDIT_CHECKED)
        .map(|r| postcard::from_bytes(&r.body).unwrap())
        .collect()
}

/// Every released record field must be one the answer's decision does not
/// withhold; returns the (category, field) pairs seen.
fn fields_seen(answer: &Value) -> BTreeSet<(String, String)> {
    let withheld: BTreeSet<(String, String)> = answer["release"]["withheld"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["category"].as_str().unwrap().to_owned(),
                w["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let mut seen = BTreeSet::new();
    for result in answer["results"].as_array().unwrap() {
        for record in result["records"].as_array().unwrap() {
            let category = record["category"].as_str().unwrap();
            for field in record["fields"].as_object().unwrap().keys() {
                let pair = (category.to_owned(), field.clone());
                assert!(!withheld.contains(&pair), "withheld {pair:?} was answered");
                seen.insert(pair);
            }
        }
        for entry in result["lists"].as_array().unwrap() {
            for field in entry["details"].as_object().unwrap().keys() {
                let pair = ("serious_dishonesty".to_owned(), field.clone());
                assert!(!withheld.contains(&pair), "withheld {pair:?} was answered");
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_business_system_sees_local_records_and_a_listing_pushed_from_another_region() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    import_samples(&fed, &gy, GUIZHOU).await;
    let company = credex_tests::subjects(GUIZHOU)[0].clone();
    let entry_id = within("listing", listed_by_guangdong(&gy, &gz, &company)).await;
    within("evaluation", evaluated_by_guangdong(&gy, &gz, &company)).await;
    let approval = client(&fed, GUIZHOU, "approval-system", "check");
    let mut conn = connect_as(&fed, &gy, &approval).await;

    let (status, answer) = check(
        &mut conn,
        json!({"subject": company, "purpose": "public_procurement", "officer": "李强 (交易中心)"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(result["subject"], company);
    assert_eq!(result["subject_kind"], "legal_person");

    // (a) local records, released for the purpose.
    let penalty = result["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["category"] == "admin_penalty")
        .unwrap_or_else(|| panic!("no penalty record in {result}"));
    assert_eq!(penalty["fields"]["amount"], "5000.00");
    let seen = fields_seen(&answer);
    assert!(seen.contains(&("admin_penalty".into(), "decision_number".into())));

    // (c) the entry Guangdong pushed, with the measures that apply here.
    let lists = result["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1, "{result}");
    let entry = &lists[0];
    assert_eq!(entry["entry_id"], entry_id);
    assert_eq!(entry["origin_region"], GUANGDONG);
    assert_eq!(entry["list_type"], "serious_dishonesty");
    assert_eq!(entry["entry_date"], "2026-11-02");
    assert_eq!(
        entry["measures"][0]["code"],
        "restrict_government_procurement"
    );
    assert_eq!(entry["measures"][0]["kind"], "punishment");
    // The internal detail never left Guangdong, let alone reached the answer.
    assert!(entry["details"].get("review_notes").is_none(), "{entry}");
    assert_eq!(result["objections"], json!([]));
    assert_eq!(answer["journal"].as_array().unwrap().len(), 1);
    // No rule shares evaluation grades for procurement: the recognised
    // result is held but not answered.
    assert_eq!(result["evaluations"], json!([]), "{result}");

    // (b) For approval (cg-approval-supervision shares the grade) the
    // recognised result comes with both grades, agreement and treatment.
    let (status, answer) = check(
        &mut conn,
        json!({"subject": company, "purpose": "administrative_approval", "officer": "王芳"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let evaluations = answer["results"][0]["evaluations"].as_array().unwrap();
    assert_eq!(evaluations.len(), 1, "{answer}");
    let e = &evaluations[0];
    assert_eq!(e["issuer_region"], GUANGDONG);
    assert_eq!(e["scheme"], "public_credit");
    assert_eq!(e["original_grade"], "A");
    assert_eq!(e["common_grade"], "A");
    assert_eq!(e["local_grade"], "优");
    assert_eq!(e["green_channel"], true);
    assert!(
        e["agreement"].as_str().is_some_and(|a| !a.is_empty()),
        "{e}"
    );
    assert!(
        e["supervision_tier"].as_str().unwrap().starts_with("A:"),
        "{e}"
    );
    assert_eq!(e["counts_now"], true);
    // The listing is in force whatever the purpose.
    assert_eq!(answer["results"][0]["lists"][0]["entry_id"], entry_id);
    assert_eq!(checked(&gy).await.len(), 2);
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn fields_the_policy_withholds_for_the_purpose_are_never_answered() {
    let fed = Federation::new();
    let node = credex_tests::gateway::start_with_gateway(&fed).await;
    import_samples(&fed, &node, GUIZHOU).await;
    let company = credex_tests::subjects(GUIZHOU)[0].clone();
    let platform = client(&fed, GUIZHOU, "xinyidai-platform", "check");
    let mut conn = connect_as(&fed, &node, &platform).await;

    // The store holds internal, restricted and shared fields of this company.
    let stored = node
        .storage()
        .records_of_subjects(std::slice::from_ref(&company))
        .await
        .unwrap();
    let stored_fields: BTreeSet<(String, String)> = stored
        .iter()
        .flat_map(|r| {
            let record: credex_policies::Record = credex_protocol::decode(&r.record.body).unwrap();
            record
                .fields
                .into_keys()
                .map(move |f| (record.category.clone(), f))
        })
        .collect();
    for held in [
        ("admin_penalty", "case_notes"),
        ("tax_credit_rating", "score"),
        ("tax_credit_rating", "grade"),
    ] {
        assert!(
            stored_fields.contains(&(held.0.into(), held.1.into())),
            "{held:?}"
        );
    }

    // Approval: no rule shares the tax rating for it; internal and
    // restricted fields never go.
    let (status, answer) = check(
        &mut conn,
        json!({"subject": company, "purpose": "administrative_approval", "officer": "王芳"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let seen = fields_seen(&answer);
    assert!(
        !seen.iter().any(|(c, _)| c == "tax_credit_rating"),
        "{seen:?}"
    );
    assert!(!seen.contains(&("admin_penalty".into(), "case_notes".into())));
    assert!(seen.contains(&("public_credit_evaluation".into(), "grade".into())));
    let text = answer.to_string();
    for internal in credex_kit::dev::sample_internal_values(GUIZHOU.parse().unwrap()) {
        assert!(!text.contains(&internal), "{internal} was answered");
    }

    // Financing: cg-financing shares the tax grade, never its score.
    let (status, answer) = check(
        &mut conn,
        json!({"subject": company, "purpose": "financing", "officer": "王芳"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let seen = fields_seen(&answer);
    assert!(seen.contains(&("tax_credit_rating".into(), "grade".into())));
    assert!(!seen.contains(&("tax_credit_rating".into(), "score".into())));

    // A federation-only purpose is not a check purpose.
    let (status, answer) = check(
        &mut conn,
        json!({"subject": company, "purpose": "upward_reporting", "officer": "王芳"}),
    )
    .await;
    assert_eq!(status, 422, "{answer}");
    assert_eq!(answer["field"], "/purpose");
    node.shutdown().await;
}

#[tokio::test]
async fn a_client_without_role_check_is_refused_and_the_refusal_journaled() {
    let fed = Federation::new();
    let node = credex_tests::gateway::start_with_gateway(&fed).await;
    let feeder = client(&fed, GUIZHOU, "credit-platform", "feed");
    let mut conn = connect_as(&fed, &node, &feeder).await;
    let company = credex_tests::subjects(GUIZHOU)[0].clone();

    let (status, answer) = check(
        &mut conn,
        json!({"subject": company, "purpose": "supervision", "officer": "王芳"}),
    )
    .await;
    assert_eq!(status, 403, "{answer}");
    assert_eq!(answer["type"], "urn:credex:problem:role-missing");
    // Even a malformed body is refused for the role first.
    let r = conn
        .call(
            "POST",
            "/v1/checks/batch",
            Some("application/json"),
            b"{".to_vec(),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 403);

    let refused: Vec<GatewayRefused> = journal(&node)
        .await
        .iter()
        .filter(|r| r.kind == kind::GATEWAY_REFUSED)
        .map(|r| postcard::from_bytes(&r.body).unwrap())
        .collect();
    let operations: Vec<&str> = refused.iter().map(|r| r.operation.as_str()).collect();
    assert_eq!(operations, ["POST /v1/checks", "POST /v1/checks/batch"]);
    assert!(refused.iter().all(|r| r.problem == "role-missing"));
    assert_eq!(refused[0].client.fingerprint, feeder.identity.fingerprint);
    assert!(checked(&node).await.is_empty());
    node.shutdown().await;
}

#[tokio::test]
async fn one_bad_subject_refuses_the_batch_and_nothing_is_logged() {
    let fed = Federation::new();
    let node = credex_tests::gateway::start_with_gateway(&fed).await;
    let trading = client(&fed, GUIZHOU, "trading-center", "check");
    let mut conn = connect_as(&fed, &node, &trading).await;
    let good = credex_tests::subjects(GUIZHOU)[0].clone();
    let mut subjects: Vec<String> = vec![good.clone(); 40];
    // Index 17: a USCC whose check character is wrong.
    let mut bad = good.clone();
    let last = bad.pop().unwrap();
    bad.push(if last == '0' { '1' } else { '0' });
    subjects[17] = bad;

    let r = conn
        .post_json(
            "/v1/checks/batch",
            &json!({"purpose": "public_procurement", "officer": "李强", "subjects": subjects}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.json());
    assert_eq!(r.json()["type"], "urn:credex:problem:field-invalid");
    assert_eq!(r.json()["field"], "/subjects/17");
    assert!(checked(&node).await.is_empty());

    // The same batch without the bad subject is answered and logged.
    subjects[17] = good;
    let r = conn
        .post_json(
            "/v1/checks/batch",
            &json!({"purpose": "public_procurement", "officer": "李强", "subjects": subjects}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    assert_eq!(r.json()["results"].as_array().unwrap().len(), 40);
    assert_eq!(checked(&node).await.len(), 1);

    // 1,500 subjects are logged in two parts of at most 1,000, each with
    // the digest of its own slice of the results.
    let many: Vec<String> = (1..=1500)
        .map(|i| credex_kit::dev::synthetic_uscc(GUIZHOU.parse().unwrap(), 700_000 + i))
        .collect();
    let r = conn
        .post_json(
            "/v1/checks/batch",
            &json!({"purpose": "supervision", "officer": "李强", "subjects": many}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let answer = r.json();
    let results = answer["results"].as_array().unwrap();
    assert_eq!(results.len(), 1500);
    let logged = checked(&node).await;
    let parts: Vec<_> = logged[1..].iter().collect();
    assert_eq!(parts.len(), 2);
    for (i, (part, slice)) in parts.iter().zip(results.chunks(1000)).enumerate() {
        assert_eq!(part.part, (i as u32 + 1, 2));
        assert_eq!(part.subjects.len(), slice.len());
        let bytes = serde_json::to_vec(slice).unwrap();
        let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
        assert_eq!(
            part.answers_digest.as_slice(),
            digest.as_ref(),
            "part {}",
            i + 1
        );
        assert_eq!(answer["journal"][i]["subjects"], slice.len());
    }
    assert_eq!(
        parts[1].subjects[0],
        credex_journal::subject_digest(&credex_protocol::query::SubjectRef::LegalPerson(
            many[1000].clone()
        ))
    );

    // More than 10,000 subjects are refused as a whole.
    let r = conn
        .post_json(
            "/v1/checks/batch",
            &json!({"purpose": "supervision", "officer": "李强",
                    "subjects": vec![many[0].clone(); 10_001]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 422, "{}", r.json());
    assert_eq!(r.json()["field"], "/subjects");
    assert_eq!(checked(&node).await.len(), 3);
    node.shutdown().await;
}

#[tokio::test]
async fn a_check_is_journaled_with_system_purpose_and_officer_and_no_clear_citizen_id() {
    let fed = Federation::new();
    let node = credex_tests::gateway::start_with_gateway(&fed).await;
    import_samples(&fed, &node, GUIZHOU).await;
    let person = credex_kit::dev::sample_persons(GUIZHOU.parse().unwrap())[0].clone();
    let company = credex_tests::subjects(GUIZHOU)[1].clone();
    let approval = client(&fed, GUIZHOU, "approval-system", "check");
    let mut conn = connect_as(&fed, &node, &approval).await;

    let r = conn
        .post_json(
            "/v1/checks/batch",
            &json!({"purpose": "administrative_approval", "officer": "王芳 (审批科)",
                    "subjects": [person, company]}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", r.json());
    let answer = r.json();
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(!text.contains(&person), "the clear citizen ID was echoed");
    let shown = answer["results"][0]["subject"].as_str().unwrap();
    assert_eq!(shown.len(), person.len());
    assert!(shown.contains('*'), "{shown}");
    assert_eq!(answer["results"][0]["subject_kind"], "natural_person");
    // The person's penalty is found under the node-local key.
    let penalty = &answer["results"][0]["records"][0];
    assert_eq!(penalty["category"], "admin_penalty", "{answer}");
    assert!(penalty["fields"].get("offender_id_number").is_none());

    let entries = checked(&node).await;
    assert_eq!(entries.len(), 1);
    let e = &entries[0];
    assert_eq!(
        e.client.identity,
        "urn:credex:client:520000:check:approval-system"
    );
    assert_eq!(e.client.fingerprint, approval.identity.fingerprint);
    assert_eq!(e.purpose, "administrative_approval");
    assert_eq!(e.officer, "王芳 (审批科)");
    assert_eq!(e.part, (1, 1));
    let pseudonym: credex_protocol::query::SubjectPseudonym = answer["results"][0]["pseudonym"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        e.subjects,
        [
            credex_journal::subject_digest(&credex_protocol::query::SubjectRef::NaturalPerson(
                pseudonym
            )),
            credex_journal::subject_digest(&credex_protocol::query::SubjectRef::LegalPerson(
                company
            )),
        ]
    );
    // The digest covers the answers as sent.
    let results = serde_json::to_vec(&answer["results"]).unwrap();
    let digest = ring::digest::digest(&ring::digest::SHA256, &results);
    assert_eq!(e.answers_digest.as_slice(), digest.as_ref());
    assert_eq!(answer["journal"][0]["part"], 1);

    // No clear citizen ID anywhere in the journal's bytes.
    for record in journal(&node).await {
        assert!(
            !record
                .body
                .windows(person.len())
                .any(|w| w == person.as_bytes()),
            "journal record of kind {} holds the clear citizen ID",
            record.kind
        );
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_listed_here_shows_the_entry_and_the_objection_routed_back() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    let person = credex_kit::dev::sample_persons(GUIZHOU.parse().unwrap())[0].clone();
    // Guizhou lists the person (by pseudonym) and pushes the entry to
    // Guangdong; Guangdong routes the subject's objection back.
    let own = Lists::new(
        gy.federation().clone(),
        ListsPolicy::for_node(gy.config()).unwrap(),
    );
    let id = own
        .add(&draft(&person, "贵州省高级人民法院"), now_ms())
        .await
        .unwrap()
        .id;
    let member = Lists::new(gz.federation().clone(), ListsPolicy::builtin());
    until_stored(gz.storage(), "Guangdong holds the entry", || async {
        member
            .received()
            .await
            .unwrap()
            .iter()
            .any(|h| h.entry.id == id)
    })
    .await;
    member
        .objection(&id, "已全部履行判决义务", now_ms())
        .await
        .unwrap();
    until_stored(gy.storage(), "the objection reached Guizhou", || async {
        !gy.storage()
            .state_scan("lists.objections", "", None, 10)
            .await
            .unwrap()
            .is_empty()
    })
    .await;

    let court = client(&fed, GUIZHOU, "court-enforcement", "check");
    let mut conn = connect_as(&fed, &gy, &court).await;
    let (status, answer) = check(
        &mut conn,
        json!({"subject": person, "purpose": "joint_punishment", "officer": "赵敏"}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(!answer.to_string().contains(&person));
    let result = &answer["results"][0];
    assert_eq!(result["subject_kind"], "natural_person");
    let lists = result["lists"].as_array().unwrap();
    assert_eq!(lists.len(), 1, "{result}");
    assert_eq!(lists[0]["entry_id"], id.to_string());
    assert_eq!(lists[0]["origin_region"], GUIZHOU);
    assert_eq!(lists[0]["measures"][0]["code"], "restrict_high_consumption");
    let objections = result["objections"].as_array().unwrap();
    assert_eq!(objections.len(), 1, "{result}");
    assert_eq!(objections[0]["entry_id"], id.to_string());
    assert_eq!(objections[0]["from_region"], GUANGDONG);
    assert_eq!(objections[0]["stage"], "filed");
    assert!(objections[0]["accept_by"].as_str().is_some(), "{result}");
    assert_eq!(lists[0]["under_objection"], true, "异议处理中");
    // The subject's grounds stay with the lists flow.
    assert!(!answer.to_string().contains("已全部履行判决义务"));
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_entry_shows_under_objection_until_its_origin_decides() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    let company = credex_tests::subjects(GUIZHOU)[2].clone();
    let entry_id = within("listing", listed_by_guangdong(&gy, &gz, &company)).await;
    let id = entry_id.parse().unwrap();
    // The subject objects in Guizhou, which holds Guangdong's entry.
    let here = Lists::new(gy.federation().clone(), ListsPolicy::builtin());
    here.objection(&id, "处罚已撤销", now_ms()).await.unwrap();
    // Pending from filing, before Guangdong's mark arrives.
    let desk = client(&fed, GUIZHOU, "approval-desk", "check");
    let mut conn = connect_as(&fed, &gy, &desk).await;
    let body = json!({"subject": company, "purpose": "public_procurement", "officer": "李强"});
    let (status, answer) = check(&mut conn, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(result["lists"][0]["under_objection"], true, "{result}");
    let objections = result["objections"].as_array().unwrap();
    assert_eq!(objections.len(), 1, "{result}");
    assert_eq!(objections[0]["entry_id"], entry_id);
    assert_eq!(objections[0]["from_region"], GUIZHOU);
    assert_eq!(objections[0]["stage"], "filed");

    // Guangdong accepts, then dismisses it: the entry stands, uncontested.
    let origin = credex_tests::lists::lists(&gz);
    let case = credex_tests::lists::first_case(&gz).await;
    for answer in [
        CaseAnswer::Accept,
        CaseAnswer::Decide(ProcedureOutcome::Dismissed),
    ] {
        origin
            .answer_case(&id, &case.case, answer, "经核查，异议不成立", now_ms())
            .await
            .unwrap();
    }
    until_stored(gy.storage(), "the decision reaches Guizhou", || async {
        here.case_marks(now_ms())
            .await
            .unwrap()
            .iter()
            .any(|m| m.entry == id && m.stage == "dismissed")
    })
    .await;
    let (_, answer) = check(&mut conn, body).await;
    let result = &answer["results"][0];
    assert_eq!(result["lists"][0]["under_objection"], false, "{result}");
    assert_eq!(result["objections"], json!([]));
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_entry_shows_under_repair_review_until_the_repair_is_granted() {
    let fed = Federation::new();
    let (gy, gz) = guizhou_and_guangdong(&fed).await;
    let company = credex_tests::subjects(GUIZHOU)[2].clone();
    let entry_id = within(
        "listing",
        credex_tests::gateway::listed_by_guangdong_on(&gy, &gz, &company, "2025-09-01"),
    )
    .await;
    let id = entry_id.parse().unwrap();
    // The company applies for repair in Guizhou, which holds the entry.
    let here = Lists::new(gy.federation().clone(), ListsPolicy::builtin());
    let letter = credex_node::lists::EvidenceFile {
        kind: credex_protocol::lists::EvidenceKind::CommitmentLetter,
        title: "信用承诺书.pdf".into(),
        content: b"%PDF-1.7 commitment".to_vec(),
    };
    here.apply_repair(&id, "罚款已缴清", vec![letter], now_ms())
        .await
        .unwrap();
    let desk = client(&fed, GUIZHOU, "approval-desk", "check");
    let mut conn = connect_as(&fed, &gy, &desk).await;
    let body = json!({"subject": company, "purpose": "public_procurement", "officer": "李强"});
    let (status, answer) = check(&mut conn, body.clone()).await;
    assert_eq!(status, 200, "{answer}");
    let result = &answer["results"][0];
    assert_eq!(result["lists"][0]["under_repair_review"], true, "{result}");
    assert_eq!(result["lists"][0]["under_objection"], false, "{result}");
    assert_eq!(result["objections"], json!([]));
    let repairs = result["repairs"].as_array().unwrap();
    assert_eq!(repairs.len(), 1, "{result}");
    assert_eq!(repairs[0]["procedure"], "repair");
    assert_eq!(repairs[0]["stage"], "filed");

    // Guangdong accepts and grants it: the entry is no longer in force here.
    let origin = credex_tests::lists::lists(&gz);
    let case = credex_tests::lists::first_case(&gz).await;
    for answer in [
        CaseAnswer::Accept,
        CaseAnswer::Decide(ProcedureOutcome::Granted),
    ] {
        origin
            .answer_case(&id, &case.case, answer, "准予修复", now_ms())
            .await
            .unwrap();
    }
    until_stored(gy.storage(), "the repair reaches Guizhou", || async {
        here.received()
            .await
            .unwrap()
            .iter()
            .any(|h| h.entry.id == id && h.ended.is_some())
    })
    .await;
    let (_, answer) = check(&mut conn, body).await;
    let result = &answer["results"][0];
    assert_eq!(result["lists"], json!([]), "{result}");
    assert_eq!(result["repairs"], json!([]));
    gy.shutdown().await;
    gz.shutdown().await;
}
