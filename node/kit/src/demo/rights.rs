//! Act 10, subjects' rights over records (decision 0980): the company whose
//! penalty was reported upward objects to it in Guangdong (Chongqing's
//! certificate was revoked in act 9); Guizhou, which
//! owns the record, marks the case "异议处理中" on the national platform (it
//! received the record) and on Guangdong, accepts and dismisses it. Then
//! Guizhou's platform gathers the company's access report from every
//! region: who looked at the company, wherever they looked.
//!
//! Owns: the scenes. Does not own the procedure (`credex_node::rights`) nor
//! the gathering (`credex_node::subject_access`).

use anyhow::Result;
use credex_node::lists::CaseAnswer;
use credex_node::rights::{CaseToFile, RecordCaseView, RecordCases};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::lists::{Procedure, ProcedureOutcome};
use credex_protocol::query::SubjectRef;
use serde_json::{Value, json};

use super::{Checks, wait_for};
use crate::gateway_client::GatewayClient;

fn cases(node: &RunningNode) -> Option<RecordCases> {
    RecordCases::for_node(node.federation().clone(), node.config()).ok()
}

/// The case `case` as `node` was told of it, once at `stage`.
async fn told(node: &RunningNode, case: &str, stage: &str) -> Option<RecordCaseView> {
    let rights = cases(node)?;
    wait_for(|| async {
        rights
            .marks(now_ms())
            .await
            .ok()?
            .into_iter()
            .find(|v| v.case == case && v.stage == stage)
    })
    .await
}

/// `company` objects in Guangdong to Guizhou's penalty `record_id`, which
/// the national platform received upward.
pub(super) async fn objection_to_a_record(
    running: &[RunningNode],
    company: &str,
    record_id: &str,
    checks: &mut Checks,
) -> Result<()> {
    let (gy, gz) = (&running[0], &running[2]);
    let Some(national) = running.iter().find(|n| n.config().region.is_national()) else {
        return Ok(());
    };
    let (Some(owner), Some(filer)) = (cases(gy), cases(gz)) else {
        return Ok(());
    };
    let case = filer
        .file(
            CaseToFile {
                procedure: Procedure::Objection,
                owner: gy.config().region,
                subject: SubjectRef::LegalPerson(company.to_owned()),
                category: "admin_penalty".into(),
                record_id: record_id.into(),
                statement: "罚款金额已经复议变更，原处罚信息有误".into(),
                evidence: Vec::new(),
            },
            now_ms(),
        )
        .await?;
    let filed = told(national, &case, "filed").await;
    checks.check(
        filed
            .as_ref()
            .is_some_and(|v| v.pending == Some("异议处理中")),
        "the company objects in Guangdong to a Guizhou penalty: Guizhou, the owner, marks it 异议处理中 on every region that received the record — here the national platform — and on Guangdong",
        &filed
            .map(|v| format!("national platform: {} {}, accept by {}", v.procedure, v.stage, v.accept_by))
            .unwrap_or_else(|| "no mark within 15 s".into()),
    );
    owner
        .answer(&case, CaseAnswer::Accept, "已受理", now_ms())
        .await?;
    owner
        .answer(
            &case,
            CaseAnswer::Decide(ProcedureOutcome::Dismissed),
            "经核查，复议变更已更正，异议不成立",
            now_ms(),
        )
        .await?;
    let (at_national, at_filer) = (
        told(national, &case, "dismissed").await,
        told(gz, &case, "dismissed").await,
    );
    checks.check(
        at_national.is_some() && at_filer.is_some(),
        "Guizhou accepts and decides it (dismissed: the record had already been corrected); the decision reaches both",
        "the subject's grounds stay with the owner; the marks carry dates and a note only",
    );
    Ok(())
}

/// Guizhou's platform gathers `company`'s access report from every region.
pub(super) async fn who_looked_everywhere(
    conn: &mut GatewayClient,
    company: &str,
    checks: &mut Checks,
) -> Result<()> {
    let r = conn
        .post_json(
            "/v1/subject-access/federated",
            &json!({ "subject": company }),
        )
        .await?;
    let request = r.json()["request"].as_str().unwrap_or_default().to_owned();
    let path = format!("/v1/subject-access/federated/{request}");
    let mut report: Option<Value> = None;
    for _ in 0..150 {
        // Every region with a live peer answers; Chongqing, revoked in
        // act 9, cannot: the report names it as not answered.
        let got = conn.get(&path).await?.json();
        if got["parts"].as_array().map_or(0, Vec::len) >= 3 {
            report = Some(got);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let summary = report.as_ref().map(|rep| {
        rep["parts"]
            .as_array()
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| {
                        format!(
                            "{}: {} access(es), {} disclosure(s)",
                            p["region"].as_str().unwrap_or("?"),
                            p["accesses"].as_array().map_or(0, Vec::len),
                            p["disclosures"].as_array().map_or(0, Vec::len)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .map(|parts| format!("{parts}; not answered: {}", rep["waiting"]))
            .unwrap_or_default()
    });
    checks.check(
        r.status == 202 && report.is_some(),
        "the company asks its home region who looked at it: Guizhou gathers every region's part over the federation (each from its own log), and names any region that has not answered",
        &summary.unwrap_or_else(|| "the reachable regions did not answer within 15 s".into()),
    );
    Ok(())
}
