//! Objections (异议) to a list entry across three regions over real QUIC,
//! signatures and databases: Guizhou lists a company and pushes the entry
//! to Chongqing and Guangdong; the subject objects in Chongqing; the
//! objection reaches Guizhou, which marks it "异议处理中" on every holder —
//! Guangdong included — with its deadlines in working days; a missed
//! deadline shows at the origin and in the region the subject filed in;
//! Guizhou accepts, then upholds it, and the decision and the revocation
//! reach every holder. Only the origin moves an objection, only forward;
//! the logs of all three audit clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use credex_journal::{CaseSide, ProcedureOverdue, kind};
use credex_node::lists::{CaseAnswer, CaseView, ListsError};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::lists::{ChangeKind, EntryId, ProcedureDeadline, ProcedureOutcome};
use credex_tests::lists::{first_case, lists, serious_dishonesty};
use credex_tests::{
    Federation, audit_all, entries_of_kind, findings, until_stored, until_stored_some, witness_all,
};

const DAY_MS: i64 = 86_400_000;

/// Wait until `node` holds entry `id`.
async fn holds(node: &RunningNode, id: &EntryId) {
    let held = lists(node);
    until_stored(node.storage(), "the member holds the entry", || async {
        held.received()
            .await
            .unwrap()
            .iter()
            .any(|h| h.entry.id == *id)
    })
    .await;
}

/// The mark `node` holds of the only objection to `id`, once `stage`.
async fn mark_at(node: &RunningNode, id: &EntryId, stage: &str) -> CaseView {
    let holder = lists(node);
    until_stored_some(node.storage(), &format!("the objection is {stage}"), || {
        let holder = holder.clone();
        let stage = stage.to_owned();
        async move {
            holder
                .case_marks(now_ms())
                .await
                .unwrap()
                .into_iter()
                .find(|m| m.entry == *id && m.stage == stage)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_objection_filed_in_chongqing_is_marked_decided_and_revoked_everywhere() {
    let fed = Federation::new();
    let nodes = fed.start_wired(&["gy-1", "cq-1", "gz-1"]).await;
    let (gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2]);
    let subject = credex_tests::subjects("520000")[0].clone();

    // Guizhou lists the company; both members hold the entry.
    let origin = lists(gy);
    let added = origin
        .add(&serious_dishonesty(&subject), now_ms())
        .await
        .unwrap();
    assert_eq!(added.sent_to.len(), 2, "{added:?}");
    let id = added.id;
    for member in [cq, gz] {
        holds(member, &id).await;
    }

    // The subject objects in Chongqing, which routes it to Guizhou.
    let filed_at = now_ms();
    lists(cq)
        .objection(&id, "处罚决定已被行政复议撤销", filed_at)
        .await
        .unwrap();
    let case = first_case(gy).await;
    assert_eq!(case.stage, "filed");
    assert!(case.pending);
    assert_eq!(case.filed_in.to_string(), "500000");
    assert_eq!(case.reason.as_deref(), Some("处罚决定已被行政复议撤销"));
    assert!(case.accept_by > credex_flows::calendar::china_date_text(filed_at));

    // Every holder shows it as pending — Guangdong, which never saw the
    // objection, and Chongqing, where it was filed.
    let at_gz = mark_at(gz, &id, "filed").await;
    let at_cq = mark_at(cq, &id, "filed").await;
    for mark in [&at_gz, &at_cq] {
        assert!(mark.pending);
        assert_eq!(mark.case, case.case);
        assert_eq!(mark.accept_by, case.accept_by);
        assert_eq!(mark.reason, None, "the grounds stay with the origin");
        assert_eq!(mark.overdue, None);
    }

    // Ten days on, nobody has accepted it: overdue at the origin and in
    // the subject's region.
    let later = now_ms() + 10 * DAY_MS;
    let overdue_at_origin = origin.cases(later).await.unwrap();
    assert_eq!(
        overdue_at_origin[0].overdue,
        Some(ProcedureDeadline::Acceptance)
    );
    let overdue_at_filer = lists(cq).case_marks(later).await.unwrap();
    assert_eq!(
        overdue_at_filer[0].overdue,
        Some(ProcedureDeadline::Acceptance)
    );

    // Only the origin moves an objection, and only forward.
    let e = lists(cq)
        .answer_case(&id, &case.case, CaseAnswer::Accept, "", now_ms())
        .await
        .unwrap_err();
    assert!(matches!(e, ListsError::NotOrigin(_)), "{e}");
    let e = origin
        .answer_case(
            &id,
            &case.case,
            CaseAnswer::Decide(ProcedureOutcome::Upheld),
            "",
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot be decided upheld"), "{e}");

    // Accepted: every holder learns the decision deadline.
    let told = origin
        .answer_case(
            &id,
            &case.case,
            CaseAnswer::Accept,
            "已受理，正在核查",
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(told.len(), 2);
    let accepted = mark_at(gz, &id, "accepted").await;
    let decide_by = accepted.decide_by.clone().expect("a decision deadline");
    assert!(decide_by > accepted.accept_by);
    assert_eq!(accepted.note, "已受理，正在核查");
    assert_eq!(
        mark_at(cq, &id, "accepted").await.decide_by,
        Some(decide_by)
    );
    let much_later = now_ms() + 40 * DAY_MS;
    assert_eq!(
        lists(gz).case_marks(much_later).await.unwrap()[0].overdue,
        Some(ProcedureDeadline::Decision)
    );

    // Upheld: the mark ends and the entry is revoked on every holder.
    origin
        .answer_case(
            &id,
            &case.case,
            CaseAnswer::Decide(ProcedureOutcome::Upheld),
            "复议决定撤销原处罚，移出名单",
            now_ms(),
        )
        .await
        .unwrap();
    for member in [cq, gz] {
        let decided = mark_at(member, &id, "upheld").await;
        assert!(!decided.pending);
        assert_eq!(decided.overdue, None);
        let held = lists(member);
        until_stored(member.storage(), "the entry is revoked", || async {
            held.received()
                .await
                .unwrap()
                .iter()
                .any(|h| h.entry.id == id && h.ended == Some(ChangeKind::Revoke))
        })
        .await;
    }
    let e = origin
        .answer_case(&id, &case.case, CaseAnswer::Refuse, "", now_ms())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("is upheld"), "{e}");

    // Every message and decision audits clean on all three logs.
    let all: Vec<&RunningNode> = nodes.iter().collect();
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    for node in nodes {
        node.shutdown().await;
    }
}

async fn overdue_entries(node: &RunningNode) -> Vec<ProcedureOverdue> {
    entries_of_kind(node, kind::PROCEDURE_OVERDUE)
        .await
        .iter()
        .map(|b| credex_protocol::decode(b).unwrap())
        .collect()
}

/// Guizhou lists a company held in Chongqing; the subject objects there.
/// Returns the entry and the objection's id once Guizhou has recorded it.
async fn objected(gy: &RunningNode, cq: &RunningNode) -> (EntryId, String) {
    let subject = credex_tests::subjects("520000")[1].clone();
    let id = lists(gy)
        .add(&serious_dishonesty(&subject), now_ms())
        .await
        .unwrap()
        .id;
    holds(cq, &id).await;
    lists(cq)
        .objection(&id, "该企业已履行全部义务", now_ms())
        .await
        .unwrap();
    (id, first_case(gy).await.case)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missed_deadline_is_reported_on_both_sides_and_to_the_national_platform() {
    let fed = Federation::new();
    let nodes = fed
        .start_wired(&["gy-1", "cq-1", "gz-1", "national-1"])
        .await;
    let (gy, cq, gz, national) = (&nodes[0], &nodes[1], &nodes[2], &nodes[3]);
    let (id, objection) = objected(gy, cq).await;
    mark_at(cq, &id, "filed").await;

    // Nothing is late today.
    for node in [gy, cq, gz] {
        assert!(
            lists(node)
                .report_overdue(now_ms())
                .await
                .unwrap()
                .is_empty()
        );
    }
    // Ten days on, Guizhou has neither accepted nor refused it.
    let later = now_ms() + 10 * DAY_MS;
    let at_origin = lists(gy).report_overdue(later).await.unwrap();
    assert_eq!(at_origin.len(), 1);
    assert_eq!(at_origin[0].overdue, Some(ProcedureDeadline::Acceptance));
    let at_filer = lists(cq).report_overdue(later).await.unwrap();
    assert_eq!(at_filer.len(), 1);
    assert!(
        lists(gz).report_overdue(later).await.unwrap().is_empty(),
        "Guangdong holds the entry but neither owes nor filed the objection"
    );
    // Once per objection and deadline.
    assert!(
        lists(gy)
            .report_overdue(later + DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        lists(cq)
            .report_overdue(later + DAY_MS)
            .await
            .unwrap()
            .is_empty()
    );

    let origin_said = overdue_entries(gy).await;
    assert_eq!(origin_said.len(), 1);
    assert_eq!(origin_said[0].side, CaseSide::Origin);
    assert_eq!(origin_said[0].national_message, None);
    let filer_said = overdue_entries(cq).await;
    assert_eq!(filer_said.len(), 1);
    assert_eq!(filer_said[0].side, CaseSide::FiledHere);
    assert_eq!(filer_said[0].deadline, at_filer[0].accept_by);
    assert!(filer_said[0].national_message.is_some());

    // The national platform learns which region is late, and on what.
    let reported = until_stored_some(
        national.storage(),
        "the national platform is told",
        || async {
            credex_node::upward::objections_overdue(national.storage())
                .await
                .unwrap()
                .into_iter()
                .next()
        },
    )
    .await;
    assert_eq!(
        reported.notice.about,
        credex_protocol::lists::CaseAbout::Entry(id)
    );
    assert_eq!(hex::encode(reported.notice.case), objection);
    assert_eq!(reported.notice.filed_in.to_string(), "500000");
    assert_eq!(reported.notice.missed, ProcedureDeadline::Acceptance);
    assert_eq!(reported.notice.deadline, at_filer[0].accept_by);
    // Each side's systems read it in their event feed.
    for (node, event) in [
        (gy, "list.procedure_overdue"),
        (cq, "list.procedure_overdue"),
        (national, "upward.procedure_overdue"),
    ] {
        let kinds = credex_tests::event_kinds(node).await;
        assert!(kinds.iter().any(|k| k == event), "{kinds:?}");
    }

    let all: Vec<&RunningNode> = nodes.iter().collect();
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_province_may_shorten_its_deadlines_and_never_lengthen_them() {
    let fed = Federation::new();
    // Guizhou accepts or refuses within one working day instead of two.
    let rights = fed.path().join("rights-520000.toml");
    std::fs::write(&rights, "[objections]\naccept_working_days = 1\n").unwrap();
    // A table that lengthens a national deadline stops the node at start.
    let mut loose = fed.config("gy-1");
    let too_long = fed.path().join("rights-loose.toml");
    std::fs::write(&too_long, "[objections]\ndecide_working_days = 30\n").unwrap();
    loose.policy.rights = Some(too_long);
    let Err(e) = RunningNode::start(loose).await else {
        panic!("a table that lengthens a deadline must stop the node");
    };
    assert!(
        e.to_string().contains("policy.rights") && e.to_string().contains("decide_working_days"),
        "{e}"
    );

    let nodes = fed
        .start_wired_with(&["gy-1", "cq-1"], |c| {
            if c.region.to_string() == "520000" {
                c.policy.rights = Some(rights.clone());
            }
        })
        .await;
    let cq = &nodes[1];
    let gy = &nodes[0];
    let filed_at = now_ms();
    let (_, _) = objected(gy, cq).await;
    let case = lists(gy).cases(now_ms()).await.unwrap().remove(0);
    let one_day = credex_flows::calendar::deadline_date(
        &credex_policies::HolidayCalendar::builtin_2026(),
        filed_at,
        1,
    );
    assert_eq!(case.accept_by, one_day, "one working day, not two");
    for node in nodes {
        node.shutdown().await;
    }
}

/// A subject objects at the origin itself: the case opens there at once and
/// is marked on every holder; a repair application there is checked against
/// the listing period as one routed by a holder would be.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_case_filed_at_the_origin_itself_is_marked_on_every_holder() {
    let fed = Federation::new();
    let nodes = fed.start_wired(&["gy-1", "cq-1", "gz-1"]).await;
    let (gy, cq, gz) = (&nodes[0], &nodes[1], &nodes[2]);
    let subject = credex_tests::subjects("520000")[1].clone();
    let origin = lists(gy);
    let id = origin
        .add(&serious_dishonesty(&subject), now_ms())
        .await
        .unwrap()
        .id;
    for member in [cq, gz] {
        holds(member, &id).await;
    }
    origin
        .objection(&id, "认定所依据的判决已撤销", now_ms())
        .await
        .unwrap();
    let cases = origin.cases(now_ms()).await.unwrap();
    assert_eq!(cases.len(), 1, "{cases:?}");
    assert_eq!(cases[0].filed_in.to_string(), "520000");
    assert_eq!(cases[0].reason.as_deref(), Some("认定所依据的判决已撤销"));
    for member in [cq, gz] {
        let mark = mark_at(member, &id, "filed").await;
        assert_eq!(mark.filed_in.to_string(), "520000");
        assert!(mark.pending);
    }
    // The entry is a month old: a repair is refused at the origin too, the
    // first day named.
    let e = origin
        .apply_repair(
            &id,
            "已履行",
            vec![credex_node::lists::EvidenceFile {
                kind: credex_protocol::lists::EvidenceKind::CommitmentLetter,
                title: "信用承诺书.pdf".into(),
                content: b"letter".to_vec(),
            }],
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("may be repaired from"), "{e}");
    for node in nodes {
        node.shutdown().await;
    }
}
