//! Credit repair across regions (信用修复), over real QUIC, signatures and
//! databases: Guizhou lists a company on the serious-dishonesty list on an
//! administrative penalty that Guangdong had queried and that was reported
//! upward; the entry is pushed to Chongqing and Guangdong. The company
//! applies for repair in Chongqing: too early, refused with the first day
//! it may apply; with tampered evidence, refused; in time, filed, accepted
//! and granted — the entry ends on every holder, the penalty is no longer
//! published at Guizhou, and every region that received it (Chongqing and
//! Guangdong by push or query, the national platform by the upward batch)
//! is told and confirms; once Guizhou's evaluating body re-evaluates the
//! company, the downgrade Chongqing recognised on the penalty is lifted.
//! The logs audit clean, and a grant the origin never carried out is
//! caught.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use credex_journal::{MessageSent, kind, record_key, sha256};
use credex_node::corrections::{received, sent};
use credex_node::eval;
use credex_node::lists::{CaseAnswer, CaseView, EntryDraft, EvidenceFile, Lists};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::evaluation::Scheme;
use credex_protocol::federation::{DeliveryStatus, Flow};
use credex_protocol::lists::{
    Evidence, EvidenceKind, ListKind, ProcedureOutcome, RepairApplication, kind as msg,
};
use credex_protocol::rights::RecordChange;
use credex_tests::lists::{lists, serious_dishonesty};
use credex_tests::{Federation, audit_all, findings, until_stored, until_stored_some, witness_all};

const GUIZHOU: &str = "520000";

fn set(regions: &[&str]) -> BTreeSet<String> {
    regions.iter().map(|r| (*r).to_owned()).collect()
}

/// A serious-dishonesty entry of `subject` listed on `entry_date`.
fn listed_on(subject: &str, entry_date: &str, planned_exit: &str) -> EntryDraft {
    let mut draft = serious_dishonesty(subject);
    draft.entry_date = entry_date.into();
    draft.planned_exit = planned_exit.into();
    draft.notice.date = entry_date.into();
    draft
}

fn commitment_letter() -> EvidenceFile {
    EvidenceFile {
        kind: EvidenceKind::CommitmentLetter,
        title: "信用承诺书.pdf".into(),
        content: "本企业承诺：已纠正失信行为，今后依法诚信经营。"
            .repeat(40)
            .into_bytes(),
    }
}

fn fine_paid() -> EvidenceFile {
    EvidenceFile {
        kind: EvidenceKind::ProofOfPerformance,
        title: "罚款缴纳凭证.pdf".into(),
        content: vec![0x25, 0x50, 0x44, 0x46, 0x2d, 0x31, 0x2e, 0x37, 7, 7, 7],
    }
}

/// The mark `node` holds of the case about `entry`, once `ready` holds.
async fn mark(node: &RunningNode, what: &str, ready: impl Fn(&CaseView) -> bool) -> CaseView {
    let service = lists(node);
    until_stored_some(node.storage(), what, || async {
        service
            .case_marks(now_ms())
            .await
            .unwrap()
            .into_iter()
            .find(|c| ready(c))
    })
    .await
}

/// Send a repair application straight from `from`'s federation, past the
/// filing checks (a holder that lies), and return what the origin answered.
async fn send_raw(from: &RunningNode, application: &RepairApplication) -> DeliveryStatus {
    let before = lists_sent(from).await.len();
    let body = credex_tests::unchecked_body(
        Flow::Lists,
        msg::REPAIR_APPLICATION,
        application.entry.origin,
        credex_protocol::encode(application).unwrap(),
    );
    let (_, write) = from.federation().prepare(body, now_ms()).unwrap();
    from.storage().write_state(vec![write]).await.unwrap();
    from.federation().wake();
    until_stored_some(from.storage(), "the origin answers", || async {
        lists_sent(from).await.get(before).map(|m| m.status.clone())
    })
    .await
}

async fn lists_sent(node: &RunningNode) -> Vec<MessageSent> {
    let mut records = Vec::new();
    loop {
        let page = node
            .storage()
            .journal_range(records.len() as u64, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            break;
        }
        records.extend(page);
    }
    records
        .into_iter()
        .filter(|r| r.kind == kind::MESSAGE_SENT)
        .map(|r| credex_protocol::decode::<MessageSent>(&r.body).unwrap())
        .filter(|m| m.flow == Flow::Lists && m.message_kind == msg::REPAIR_APPLICATION)
        .collect()
}

fn refused(status: &DeliveryStatus, needle: &str) {
    match status {
        DeliveryStatus::Refused { reason } => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
        }
        other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
    }
}

/// Guizhou issues `grade` for `subject` under the public credit scheme
/// (an import file, as its evaluating body hands it in).
async fn evaluate(
    node: &RunningNode,
    dir: &std::path::Path,
    name: &str,
    subject: &str,
    grade: &str,
) {
    let row = format!(
        r#"{{"subject":"{subject}","scheme":"public_credit","scheme_version":"2024","grade":"{grade}","period_start":"2025-01-01","period_end":"2025-12-31","valid_until":"2027-06-30"}}"#
    );
    credex_tests::import_results(node, dir, name, &[row]).await;
}

/// Wait until `node` recognises `grade` (its local scale) for `subject`.
async fn recognised(node: &RunningNode, subject: &str, grade: &str) {
    let agreements = eval::load_agreements(node.config()).unwrap();
    until_stored(node.storage(), "the result is recognised", || async {
        let e = eval::effective(
            node.storage(),
            &agreements,
            node.config().region,
            subject,
            now_ms(),
        )
        .await
        .unwrap();
        e.schemes
            .iter()
            .any(|s| s.scheme == Scheme::PublicCredit && s.grade.as_deref() == Some(grade))
    })
    .await;
}

async fn held_ended(node: &RunningNode, service: &Lists, id: &credex_protocol::lists::EntryId) {
    until_stored(node.storage(), "the entry ends on the holder", || async {
        service.received().await.unwrap().iter().any(|h| {
            h.entry.id == *id && h.ended == Some(credex_protocol::lists::ChangeKind::Repair)
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repair_filed_in_chongqing_is_granted_and_ends_publication_everywhere() {
    let fed = Federation::new();
    let (nodes, subject, record) = credex_tests::penalty_queried_by_guangdong(&fed).await;
    let (national, gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let key = record_key("admin_penalty", &record);

    // Two listings: one made a month ago, one fourteen months ago on the
    // penalty Guangdong queried.
    let origin = lists(gy);
    let recent = origin
        .add(&listed_on(&subject, "2026-11-02", "2029-11-01"), now_ms())
        .await
        .unwrap()
        .id;
    let old = origin
        .add_resting_on(
            &listed_on(&subject, "2025-10-15", "2028-10-14"),
            "admin_penalty",
            &record,
            now_ms(),
        )
        .await
        .unwrap()
        .id;
    let (cq_lists, gz_lists) = (lists(cq), lists(gz));
    until_stored(cq.storage(), "Chongqing holds both entries", || async {
        cq_lists.received().await.unwrap().len() == 2
    })
    .await;
    until_stored(gy.storage(), "the penalty is reported upward", || async {
        credex_node::disclosures::recipients(gy.storage(), &key)
            .await
            .unwrap()
            .iter()
            .any(|d| d.recipient.to_string() == "000000")
    })
    .await;

    // Too early: refused in Chongqing, naming the first day.
    let e = cq_lists
        .apply_repair(
            &recent,
            "已缴纳罚款并完成整改",
            vec![commitment_letter()],
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("may be repaired from 2027-11-02"),
        "{e}"
    );
    // A holder that sends it anyway is refused by the origin, which names
    // the day too; so is one whose evidence does not match its digest.
    let letter = commitment_letter();
    let mut application = RepairApplication {
        entry: recent,
        statement: "已缴纳罚款并完成整改".into(),
        evidence: vec![Evidence {
            kind: letter.kind,
            title: letter.title.clone(),
            digest: sha256(&letter.content),
            content: letter.content.clone(),
        }],
    };
    refused(
        &send_raw(cq, &application).await,
        "may be repaired from 2027-11-02",
    );
    application.entry = old;
    application.evidence[0].content[3] ^= 1;
    refused(
        &send_raw(cq, &application).await,
        "does not match its SHA-256 digest",
    );
    application.evidence.clear();
    refused(&send_raw(cq, &application).await, "evidence: 0 file(s)");
    assert!(origin.cases(now_ms()).await.unwrap().is_empty());

    // Guizhou's evaluation downgraded the company on the penalty (中); the
    // downgrade is recognised in Chongqing (C).
    let dir = tempfile::tempdir().unwrap();
    evaluate(gy, dir.path(), "downgrade", &subject, "中").await;
    recognised(cq, &subject, "C").await;

    // In time: filed in Chongqing, marked on both holders.
    let case = cq_lists
        .apply_repair(
            &old,
            "已缴纳罚款并完成整改，签署信用承诺书",
            vec![commitment_letter(), fine_paid()],
            now_ms(),
        )
        .await
        .unwrap();
    let filed = mark(gz, "Guangdong sees the repair filed", |c| {
        c.case == case && c.stage == "filed"
    })
    .await;
    assert_eq!((filed.procedure, filed.pending), ("repair", true));
    assert_eq!(filed.filed_in.to_string(), "500000");
    let at_origin = origin.cases(now_ms()).await.unwrap();
    assert_eq!(at_origin.len(), 1);
    assert_eq!(at_origin[0].evidence.len(), 2);
    assert!(at_origin[0].evidence[0].starts_with("commitment_letter: 信用承诺书.pdf"));
    // The reviewers read the files as the subject handed them in.
    let files = origin.evidence(&old, &case).await.unwrap();
    assert_eq!(files[0].1, commitment_letter().content);
    assert_eq!(files[1].1, fine_paid().content);

    // Accepted, then granted: a repair cannot be "upheld".
    origin
        .answer_case(
            &old,
            &case,
            CaseAnswer::Accept,
            "材料齐全，予以受理",
            now_ms(),
        )
        .await
        .unwrap();
    let accepted = mark(cq, "Chongqing sees it accepted", |c| {
        c.case == case && c.stage == "accepted"
    })
    .await;
    assert!(accepted.decide_by.is_some());
    let e = origin
        .answer_case(
            &old,
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Upheld),
            "",
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot be decided upheld"), "{e}");
    let told = origin
        .answer_case(
            &old,
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Granted),
            "准予信用修复",
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(told.len(), 2);
    for (node, service) in [(cq, &cq_lists), (gz, &gz_lists)] {
        held_ended(node, service, &old).await;
        mark(node, "the holder sees it granted", |c| {
            c.case == case && c.stage == "granted" && !c.pending
        })
        .await;
    }
    // The other listing stands.
    assert!(
        cq_lists
            .received()
            .await
            .unwrap()
            .iter()
            .any(|h| h.entry.id == recent && h.ended.is_none())
    );

    // The penalty is no longer published at Guizhou, and every region
    // that received it is told and confirms.
    let subject_key = credex_node::pseudonyms::stored_subject_key(
        gy.storage(),
        &credex_protocol::query::SubjectRef::LegalPerson(subject.clone()),
    )
    .await
    .unwrap()
    .unwrap();
    let held = gy
        .storage()
        .records_for(&subject_key, &["admin_penalty".to_owned()])
        .await
        .unwrap();
    assert!(held.iter().all(|r| r.record_id != record));
    let hex_key = hex::encode(key);
    until_stored(gy.storage(), "every recipient confirms", || async {
        let to: BTreeSet<String> = sent(gy.storage())
            .await
            .unwrap()
            .into_iter()
            .filter(|t| t.record == hex_key && t.change == "repaired")
            .filter(|t| t.confirmed_at_ms.is_some())
            .map(|t| t.recipient.to_string())
            .collect();
        to == set(&["000000", "440000", "500000"])
    })
    .await;
    for node in [national, cq, gz] {
        let got = received(node.storage()).await.unwrap();
        assert!(
            got.iter().any(|(owner, r, c)| owner.to_string() == GUIZHOU
                && *r == hex_key
                && c.change == RecordChange::Repaired),
            "{got:?}"
        );
    }
    // The evaluating body re-evaluates once the penalty is repaired: the
    // recognised downgrade is lifted in Chongqing.
    evaluate(gy, dir.path(), "after-repair", &subject, "良").await;
    recognised(cq, &subject, "B").await;

    // Each side's systems read it in their event feed: the origin the
    // application (its evidence by name and digest, never its bytes), the
    // holders the marks, every recipient the correction.
    let page = credex_node::gateway::events::read(
        gy.storage(),
        credex_node::gateway::events::PageRequest {
            after: 0,
            limit: 1000,
            wait: std::time::Duration::ZERO,
        },
    )
    .await
    .unwrap();
    let received = page
        .events
        .iter()
        .find(|e| e.kind == "list.repair_application_received")
        .expect("the application is an event at the origin");
    let details = serde_json::to_value(received).unwrap();
    let text = details.to_string();
    assert!(
        text.contains("commitment_letter")
            && text.contains(&hex::encode(sha256(&commitment_letter().content))),
        "{text}"
    );
    assert!(
        !text.contains("依法诚信经营"),
        "evidence bytes in an event: {text}"
    );
    for (node, event) in [
        (cq, "list.procedure_marked"),
        (gz, "list.procedure_marked"),
        (national, "record.correction_received"),
    ] {
        let kinds = credex_tests::event_kinds(node).await;
        assert!(kinds.iter().any(|k| k == event), "{kinds:?}");
    }

    // Deciding it again finishes nothing twice.
    let again = origin
        .answer_case(
            &old,
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Granted),
            "",
            now_ms(),
        )
        .await
        .unwrap();
    assert!(again.is_empty());

    let all = [national, gy, cq, gz];
    witness_all(&all).await;
    let report = audit_all(&all, &dir.path().join("honest")).await;
    assert!(report.passed(), "{:?}", findings(&report));

    // An origin that marks a grant on every holder but keeps the entry in
    // force is caught from its own log.
    gy.storage()
        .append_entry(&credex_journal::ProcedureMarked {
            version: credex_journal::ENTRY_VERSION,
            at_ms: now_ms(),
            procedure: credex_protocol::lists::Procedure::Repair,
            entry: recent,
            case: [0xAB; 16],
            stage: credex_protocol::lists::ProcedureStage::Decided(ProcedureOutcome::Granted),
            note_digest: [0; 32],
            sent_to: Vec::new(),
        })
        .await
        .unwrap();
    let report = audit_all(&all, &dir.path().join("doctored")).await;
    let found = findings(&report);
    assert!(
        found
            .iter()
            .any(|(log, rule)| log.contains("520000") && *rule == "decision_not_carried_out"),
        "{found:?}"
    );
    assert_eq!(
        ListKind::SeriousDishonesty,
        cq_lists.received().await.unwrap()[0].entry.list_type
    );
    for node in nodes {
        node.shutdown().await;
    }
}
