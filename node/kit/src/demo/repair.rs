//! Act 6, credit repair (信用修复): the listed company applies in Chongqing
//! for the month-old listing and is told the first day it may apply; it
//! then applies for its earlier listing (October 2025) with its commitment
//! letter (信用承诺书) and the receipt of the fine; Guizhou, which made the
//! entry, marks it "信用修复审核中" on every holder, accepts it, reads the
//! evidence and grants it; the entry ends on every holder, and each
//! confirms.
//!
//! Owns: the scene. Does not own the procedure (`credex_node::lists`).

use std::time::SystemTime;

use anyhow::Result;
use credex_node::lists::{CaseAnswer, EntryDraft, EvidenceFile, Lists, ListsPolicy};
use credex_node::query::unix_ms;
use credex_node::service::RunningNode;
use credex_protocol::lists::{ChangeKind, EntryId, EvidenceKind, ProcedureOutcome};

use super::{Checks, wait_for};

fn lists(node: &RunningNode) -> Lists {
    Lists::new(node.federation().clone(), ListsPolicy::builtin())
}

fn now() -> i64 {
    unix_ms(SystemTime::now())
}

fn evidence() -> Vec<EvidenceFile> {
    vec![
        EvidenceFile {
            kind: EvidenceKind::CommitmentLetter,
            title: "信用承诺书.pdf".into(),
            content: "本企业已纠正失信行为，承诺依法诚信经营，如有违反自愿接受惩戒。"
                .as_bytes()
                .to_vec(),
        },
        EvidenceFile {
            kind: EvidenceKind::ProofOfPerformance,
            title: "罚款缴纳凭证.pdf".into(),
            content: "黔市监罚〔2025〕9号 罚款 20000.00 元 已缴清"
                .as_bytes()
                .to_vec(),
        },
    ]
}

/// The scene: `recent` is the act's month-old listing of the company;
/// `draft` that listing's draft, re-dated for the earlier one.
pub(super) async fn applied_and_granted(
    recent: &EntryId,
    draft: &EntryDraft,
    gy: &RunningNode,
    cq: &RunningNode,
    gz: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    let (origin, filer) = (lists(gy), lists(cq));
    let early = filer
        .apply_repair(recent, "已缴纳罚款", evidence(), now())
        .await;
    checks.check(
        early
            .as_ref()
            .is_err_and(|e| e.to_string().contains("may be repaired from")),
        "the company applies for credit repair (信用修复) in Chongqing a month after listing: refused, naming the first day it may apply",
        &early.err().map(|e| e.to_string()).unwrap_or_default(),
    );

    let mut earlier = draft.clone();
    earlier.entry_date = "2025-10-15".into();
    earlier.planned_exit = "2028-10-14".into();
    earlier.notice.date = "2025-10-10".into();
    earlier.basis = "《贵州省社会信用条例》; 行政处罚决定书 黔市监罚〔2025〕9号".into();
    let old = origin.add(&earlier, now()).await?.id;
    let held = wait_for(|| async {
        let held = filer.received().await.ok()?;
        held.iter().any(|h| h.entry.id == old).then_some(())
    })
    .await;
    let case = match held {
        Some(()) => Some(
            filer
                .apply_repair(
                    &old,
                    "罚款已缴清，已完成信用修复培训，签署信用承诺书",
                    evidence(),
                    now(),
                )
                .await?,
        ),
        None => None,
    };
    let marked = wait_for(|| async {
        let case = case.as_ref()?;
        lists(gz)
            .case_marks(now())
            .await
            .ok()?
            .into_iter()
            .find(|m| &m.case == case && m.pending)
    })
    .await;
    checks.check(
        marked.is_some(),
        "for its earlier listing (October 2025, past the one-year minimum) it applies with a commitment letter and the fine's receipt; Guizhou marks it 信用修复审核中 on every holder",
        &marked
            .map(|m| {
                format!(
                    "Guangdong, which never saw the application: {} {}, accept by {}",
                    m.procedure, m.stage, m.accept_by
                )
            })
            .unwrap_or_else(|| "no mark within 15 s".into()),
    );
    let Some(case) = case else {
        return Ok(());
    };
    let files = origin.evidence(&old, &case).await?;
    origin
        .answer_case(&old, &case, CaseAnswer::Accept, "材料齐全，予以受理", now())
        .await?;
    origin
        .answer_case(
            &old,
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Granted),
            "准予信用修复，提前移出名单",
            now(),
        )
        .await?;
    let ended = wait_for(|| async {
        for node in [cq, gz] {
            let held = lists(node).received().await.ok()?;
            held.iter()
                .find(|h| h.entry.id == old && h.ended == Some(ChangeKind::Repair))?;
        }
        let status = origin.status(now()).await.ok()?;
        let entry = status.into_iter().find(|e| e.id == old)?;
        entry
            .regions
            .iter()
            .all(|r| {
                r.change
                    .as_ref()
                    .is_some_and(|c| c.confirmed_at_ms.is_some())
            })
            .then_some(entry.regions.len())
    })
    .await;
    checks.check(
        ended.is_some(),
        "Guizhou reads the evidence, accepts and grants the repair: the entry ends on every holder, and each confirms",
        &ended
            .map(|n| {
                format!(
                    "{} evidence file(s) checked against their digests; {n} confirmations",
                    files.len()
                )
            })
            .unwrap_or_else(|| "not ended and confirmed within 15 s".into()),
    );
    Ok(())
}
