//! Objections to records and credit repair of records (decision 0980),
//! over real QUIC, signatures and databases: Guizhou's penalties are
//! queried by Guangdong and reported upward; a subject objects in
//! Chongqing, a region that never saw the record; Guizhou opens the case
//! and marks it on Guangdong, the national platform and Chongqing, accepts
//! it and upholds it, and the record is withdrawn everywhere. A repair
//! filed at Guizhou itself is refused within the minimum publication
//! period, and a later one is granted: every recipient is told `repaired`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use credex_journal::record_key;
use credex_node::lists::{CaseAnswer, EvidenceFile};
use credex_node::rights::{CaseToFile, RecordCaseView, RecordCases};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::RegionCode;
use credex_protocol::lists::{EvidenceKind, Procedure, ProcedureOutcome};
use credex_protocol::query::SubjectRef;
use credex_protocol::rights::RecordChange;
use credex_tests::{
    Federation, ask, audit_all, authorized_query, findings, gy_penalty_query, until_stored,
    until_stored_some, witness_all,
};

const GUIZHOU: &str = "520000";

fn cases(node: &RunningNode) -> RecordCases {
    RecordCases::for_node(node.federation().clone(), node.config()).unwrap()
}

fn guizhou() -> RegionCode {
    GUIZHOU.parse().unwrap()
}

/// A penalty of `subject` decided `days_ago` days ago (China calendar).
fn penalty(record_id: &str, subject: &str, days_ago: i64) -> String {
    let decided = time::OffsetDateTime::now_utc().date() - time::Duration::days(days_ago);
    format!(
        r#"{{"record_id":"{record_id}","subject":"{subject}","decision_number":"黔罚〔2026〕{record_id}号","violation_type":"未按规定公示年度报告","facts":"逾期未公示","basis":"《企业信息公示暂行条例》第八条","penalty_type":"罚款","content":"罚款人民币500元","amount":"500.00","decision_date":"{decided}","deciding_authority":"贵州省市场监督管理局"}}"#
    )
}

fn filing(procedure: Procedure, subject: &str, record_id: &str) -> CaseToFile {
    let evidence = match procedure {
        Procedure::Repair => vec![
            EvidenceFile {
                kind: EvidenceKind::CommitmentLetter,
                title: "信用承诺书.pdf".into(),
                content: b"%PDF letter".to_vec(),
            },
            EvidenceFile {
                kind: EvidenceKind::ProofOfPerformance,
                title: "缴款凭证.pdf".into(),
                content: b"%PDF receipt".to_vec(),
            },
        ],
        Procedure::Objection => Vec::new(),
    };
    CaseToFile {
        procedure,
        owner: guizhou(),
        subject: SubjectRef::LegalPerson(subject.to_owned()),
        category: "admin_penalty".into(),
        record_id: record_id.into(),
        statement: "该处罚决定已被行政复议撤销".into(),
        evidence,
    }
}

/// The mark of `case` as `node` holds it, once it stands at `stage`.
async fn marked(node: &RunningNode, case: &str, stage: &str) -> RecordCaseView {
    let rights = cases(node);
    until_stored_some(
        node.storage(),
        &format!("{} holds case {case} at {stage}", node.config().region),
        || async {
            rights
                .marks(now_ms())
                .await
                .unwrap()
                .into_iter()
                .find(|v| v.case == case && v.stage == stage)
        },
    )
    .await
}

/// The regions `node` has a correction of Guizhou's `record_id` from, with
/// the change.
async fn corrected(node: &RunningNode, record_id: &str) -> Option<RecordChange> {
    let key = hex::encode(record_key("admin_penalty", record_id));
    credex_node::corrections::received(node.storage())
        .await
        .unwrap()
        .into_iter()
        .find(|(owner, record, _)| owner.to_string() == GUIZHOU && *record == key)
        .map(|(_, _, c)| c.change)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_about_a_record_is_marked_on_every_recipient_and_decided_by_its_owner() {
    let fed = Federation::new();
    let (nodes, subject, _) = credex_tests::penalty_queried_by_guangdong(&fed).await;
    let (national, gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);

    // Three more penalties of the company, then Guangdong asks again.
    let file = fed.path().join("case-penalties.jsonl");
    std::fs::write(
        &file,
        [
            penalty("RC-OBJ", &subject, 60),
            penalty("RC-EARLY", &subject, 30),
            penalty("RC-REPAIR", &subject, 120),
        ]
        .join("\n"),
    )
    .unwrap();
    credex_node::records::import_file(
        gy.storage(),
        &file,
        "admin_penalty",
        gy.queries().policy().catalogue(),
    )
    .await
    .unwrap();
    let answer = ask(
        gz,
        gy,
        &authorized_query(&fed, gz, gy_penalty_query(&subject)),
    )
    .await;
    let ids: BTreeSet<&str> = answer
        .body
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert!(
        ids.contains("RC-OBJ") && ids.contains("RC-REPAIR"),
        "{ids:?}"
    );

    // The reporter sends the new penalties upward: the national platform
    // holds a copy of each.
    let held_nationally = |record_id: &'static str| {
        let subject = subject.clone();
        async move {
            national
                .storage()
                .records_for(&subject, &["admin_penalty".to_owned()])
                .await
                .unwrap()
                .iter()
                .any(|r| r.record_id == format!("{GUIZHOU}:{record_id}"))
        }
    };
    until_stored(
        national.storage(),
        "the national platform holds RC-OBJ and RC-REPAIR",
        || async { held_nationally("RC-OBJ").await && held_nationally("RC-REPAIR").await },
    )
    .await;

    // A record that is not the subject's, or not Guizhou's, opens nothing.
    let other = credex_tests::subjects(GUIZHOU)[0].clone();
    let e = cases(cq)
        .file(filing(Procedure::Objection, &other, "RC-OBJ"), now_ms())
        .await;
    let refused_case = e.unwrap();
    // Chongqing cannot know; Guizhou's node refuses it, and says why.
    let refused = marked(cq, &refused_case, "refused").await;
    assert!(refused.note.contains("holds no record"), "{refused:?}");

    // The subject objects in Chongqing, which never saw the record.
    let case = cases(cq)
        .file(filing(Procedure::Objection, &subject, "RC-OBJ"), now_ms())
        .await
        .unwrap();
    let at_cq = cases(cq).marks(now_ms()).await.unwrap();
    let filed = at_cq.iter().find(|v| v.case == case).unwrap();
    assert_eq!(filed.pending, Some("异议处理中"), "{filed:?}");

    // Guizhou opens it and marks it on Guangdong (queried it), Chongqing
    // (filed it) — 异议处理中 on each.
    for node in [gz, cq] {
        let v = marked(node, &case, "filed").await;
        assert_eq!(v.pending, Some("异议处理中"));
        assert_eq!(v.owner, guizhou());
        assert_eq!(v.filed_in.to_string(), "500000");
        assert_eq!(v.statement, None, "the grounds stay with the owner");
    }
    assert!(
        credex_tests::event_kinds(gz)
            .await
            .contains(&"record.case_marked".to_owned())
    );
    assert!(
        credex_tests::event_kinds(gy)
            .await
            .contains(&"record.case_filed".to_owned())
    );
    let owned = cases(gy).cases(now_ms()).await.unwrap();
    let at_owner = owned.iter().find(|v| v.case == case).unwrap();
    assert_eq!(at_owner.record_id.as_deref(), Some("RC-OBJ"));
    assert_eq!(
        at_owner.statement.as_deref(),
        Some("该处罚决定已被行政复议撤销")
    );
    assert!(
        owned.iter().all(|v| v.case != refused_case),
        "a filing about another subject's record opened a case"
    );

    // Nobody answers for two weeks: both sides journal the missed
    // acceptance deadline once, and Chongqing tells the national platform.
    let later = now_ms() + 14 * 86_400_000;
    let at_filer = cases(cq).report_overdue(later).await.unwrap();
    assert_eq!(at_filer.len(), 1, "{at_filer:?}");
    assert_eq!(at_filer[0].case, case);
    assert_eq!(at_filer[0].overdue, Some("acceptance"));
    let at_owner = cases(gy).report_overdue(later).await.unwrap();
    assert_eq!(at_owner.len(), 1, "{at_owner:?}");
    assert!(
        cases(cq).report_overdue(later).await.unwrap().is_empty(),
        "once"
    );
    let notice = until_stored_some(
        national.storage(),
        "the national platform is told",
        || async {
            credex_node::upward::objections_overdue(national.storage())
                .await
                .unwrap()
                .into_iter()
                .find(|o| o.notice.about.decider() == guizhou())
        },
    )
    .await;
    assert_eq!(
        notice.notice.about,
        credex_protocol::lists::CaseAbout::Record {
            owner: guizhou(),
            record: record_key("admin_penalty", "RC-OBJ"),
        }
    );
    assert!(
        credex_tests::event_kinds(gy)
            .await
            .contains(&"record.case_overdue".to_owned())
    );

    // Accepted, then upheld: the record is withdrawn from release, and every
    // region that received it is told it was deleted.
    let told = cases(gy)
        .answer(&case, CaseAnswer::Accept, "已受理", now_ms())
        .await
        .unwrap();
    assert!(told.contains(&"440000".parse().unwrap()), "{told:?}");
    let v = marked(gz, &case, "accepted").await;
    assert!(v.decide_by.is_some());
    // Deciding before acceptance is refused; an outcome of the other
    // procedure too.
    let e = cases(gy)
        .answer(
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Granted),
            "",
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot be decided granted"), "{e}");
    cases(gy)
        .answer(
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Upheld),
            "异议成立",
            now_ms(),
        )
        .await
        .unwrap();
    for node in [gz, cq] {
        let v = marked(node, &case, "upheld").await;
        assert_eq!(v.pending, None);
    }
    until_stored_some(
        gz.storage(),
        "Guangdong is told RC-OBJ was deleted",
        || async { (corrected(gz, "RC-OBJ").await == Some(RecordChange::Deleted)).then_some(()) },
    )
    .await;
    // The national platform found its copy by the key Guizhou names it by,
    // and withdrew it.
    until_stored(
        national.storage(),
        "the national platform withdraws its copy of RC-OBJ",
        || async { !held_nationally("RC-OBJ").await },
    )
    .await;
    let again = ask(
        gz,
        gy,
        &authorized_query(&fed, gz, gy_penalty_query(&subject)),
    )
    .await;
    assert!(
        again.body.records.iter().all(|r| r.record_id != "RC-OBJ"),
        "an upheld objection left the record published"
    );

    // A repair filed at Guizhou itself: too early within three months of
    // the decision, the day named; a penalty decided four months ago may
    // be repaired.
    let e = cases(gy)
        .file(filing(Procedure::Repair, &subject, "RC-EARLY"), now_ms())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("may be repaired from"), "{e}");
    let repair = cases(gy)
        .file(filing(Procedure::Repair, &subject, "RC-REPAIR"), now_ms())
        .await
        .unwrap();
    let v = marked(gz, &repair, "filed").await;
    assert_eq!(v.pending, Some("信用修复审核中"));
    assert_eq!(v.filed_in, guizhou());
    let files = cases(gy).evidence(&repair).await.unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0].content, b"%PDF letter");
    cases(gy)
        .answer(&repair, CaseAnswer::Accept, "", now_ms())
        .await
        .unwrap();
    cases(gy)
        .answer(
            &repair,
            CaseAnswer::Decide(ProcedureOutcome::Granted),
            "准予信用修复",
            now_ms(),
        )
        .await
        .unwrap();
    marked(gz, &repair, "granted").await;
    until_stored_some(
        gz.storage(),
        "Guangdong is told RC-REPAIR was repaired",
        || async {
            (corrected(gz, "RC-REPAIR").await == Some(RecordChange::Repaired)).then_some(())
        },
    )
    .await;
    until_stored(
        national.storage(),
        "the national platform withdraws its copy of RC-REPAIR",
        || async { !held_nationally("RC-REPAIR").await },
    )
    .await;
    // Deciding it again is idempotent.
    cases(gy)
        .answer(
            &repair,
            CaseAnswer::Decide(ProcedureOutcome::Granted),
            "",
            now_ms(),
        )
        .await
        .unwrap();

    // Honest: the four logs audit clean, cases and withdrawals included.
    let all = [national, gy, cq, gz];
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, &dir.path().join("honest")).await;
    assert!(report.passed(), "{:?}", findings(&report));
    // An owner that marks an objection upheld but keeps publishing the
    // record is caught from its own log.
    gy.storage()
        .append_entry(&credex_journal::CaseMarked {
            version: credex_journal::ENTRY_VERSION,
            at_ms: now_ms(),
            procedure: Procedure::Objection,
            record: record_key("admin_penalty", "RC-EARLY"),
            case: [0xAB; 16],
            stage: credex_protocol::lists::ProcedureStage::Decided(ProcedureOutcome::Upheld),
            text_digest: [0; 32],
            sent_to: Vec::new(),
        })
        .await
        .unwrap();
    let report = audit_all(&all, &dir.path().join("doctored")).await;
    let found = findings(&report);
    assert!(
        found
            .iter()
            .any(|(log, rule)| log.contains(GUIZHOU) && *rule == "decision_not_carried_out"),
        "{found:?}"
    );
    for node in nodes {
        node.shutdown().await;
    }
}
