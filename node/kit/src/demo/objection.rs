//! Act 6, an objection (异议): the listed company objects in Chongqing;
//! Guizhou, which made the entry, marks it "异议处理中" on every region
//! that holds the entry — Guangdong included — with its deadlines in
//! working days; Guizhou accepts it, reviews it and finds it unfounded,
//! and every holder sees the entry stand, uncontested.
//!
//! Owns: the scene. Does not own the procedure (`credex_node::lists`).

use std::time::SystemTime;

use anyhow::Result;
use credex_node::lists::{CaseAnswer, CaseView, Lists, ListsPolicy};
use credex_node::query::unix_ms;
use credex_node::service::RunningNode;
use credex_protocol::lists::{EntryId, ProcedureOutcome};

use super::{Checks, wait_for};

fn lists(node: &RunningNode) -> Lists {
    Lists::new(node.federation().clone(), ListsPolicy::builtin())
}

fn now() -> i64 {
    unix_ms(SystemTime::now())
}

/// The mark `node` holds of the objection to `id`, once at `stage`.
async fn marked(node: &RunningNode, id: &EntryId, stage: &str) -> Option<CaseView> {
    wait_for(|| async {
        lists(node)
            .case_marks(now())
            .await
            .ok()?
            .into_iter()
            .find(|m| &m.entry == id && m.stage == stage)
    })
    .await
}

/// The scene, on entry `id` of Guizhou held by Chongqing and Guangdong.
pub(super) async fn objected_and_dismissed(
    id: &EntryId,
    gy: &RunningNode,
    cq: &RunningNode,
    gz: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    println!(
        "   the company objects (异议) in Chongqing: the penalty behind the listing was under administrative review"
    );
    lists(cq)
        .objection(id, "作为认定依据的行政处罚正在行政复议中", now())
        .await?;
    let case = wait_for(|| async {
        lists(gy)
            .cases(now())
            .await
            .ok()?
            .into_iter()
            .find(|c| &c.entry == id)
    })
    .await;
    let at_gz = marked(gz, id, "filed").await;
    checks.check(
        case.is_some() && at_gz.as_ref().is_some_and(|m| m.pending),
        "the objection reaches Guizhou, which marks the entry 异议处理中 on every holder — Guangdong, which never saw the objection, included",
        &match (&case, &at_gz) {
            (Some(c), Some(_)) => format!(
                "objection {} filed in {}; accept or refuse by {} (2 working days, decision 0920)",
                &c.case[..8],
                c.filed_in,
                c.accept_by
            ),
            _ => "the mark did not arrive within 15 s".into(),
        },
    );
    let Some(case) = case else { return Ok(()) };
    let origin = lists(gy);
    origin
        .answer_case(
            id,
            &case.case,
            CaseAnswer::Accept,
            "已受理，正在核查",
            now(),
        )
        .await?;
    let accepted = marked(cq, id, "accepted").await;
    checks.check(
        accepted.as_ref().is_some_and(|m| m.decide_by.is_some()),
        "Guizhou accepts it (受理): the region the subject filed in learns the decision deadline",
        &accepted
            .and_then(|m| m.decide_by)
            .map(|by| format!("decide by {by} (10 working days)"))
            .unwrap_or_else(|| "no acceptance within 15 s".into()),
    );
    origin
        .answer_case(
            id,
            &case.case,
            CaseAnswer::Decide(ProcedureOutcome::Dismissed),
            "复议维持原处罚决定，异议不成立",
            now(),
        )
        .await?;
    let (at_cq, at_gz) = (
        marked(cq, id, "dismissed").await,
        marked(gz, id, "dismissed").await,
    );
    checks.check(
        at_cq.is_some_and(|m| !m.pending) && at_gz.is_some_and(|m| !m.pending),
        "the review upholds the penalty (异议不成立): every holder sees the objection closed and the entry stand",
        "Chongqing and Guangdong: dismissed, no longer 异议处理中",
    );
    Ok(())
}
