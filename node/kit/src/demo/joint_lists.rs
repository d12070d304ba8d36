//! Act 6, joint punishment (联合奖惩, 一处失信 处处受限): Guizhou lists a
//! company as seriously dishonest; the listing reaches the regions its
//! agreements bind, each responds and reports the measures it applied,
//! the egress gate releases to each only the details its agreement names;
//! a natural person is listed by pseudonym; the company objects, and the
//! objection is marked on every holder and decided ([`super::objection`]);
//! every region feeds back; then the company applies for credit repair
//! across regions ([`super::repair`]); Guizhou issues a signed credit
//! report on it that Chongqing verifies offline ([`super::report`]).
//!
//! Owns: the act's scenes. Does not own the lists flow (`credex_node::lists`).

use std::time::SystemTime;

use anyhow::Result;
use credex_node::lists::{Added, EntryDraft, Lists, ListsPolicy};
use credex_node::query::unix_ms;
use credex_node::service::RunningNode;
use credex_protocol::lists::{EntryId, ListKind, NoticeMeans, SubjectNotice};

use super::upward::federation_ring;
use super::{Checks, wait_for};
use crate::dev;

/// Act 6.
pub(super) async fn act(running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, cq, gz) = (&running[0], &running[1], &running[2]);
    println!(
        "\n6. Joint punishment (联合奖惩, 一处失信 处处受限): a serious-dishonesty listing in Guizhou binds its partners"
    );
    let company = dev::sample_subjects("520000".parse()?)[2].clone();
    let draft = serious_dishonesty(&company);
    let added = lists(gy).add(&draft, unix_ms(SystemTime::now())).await?;
    let sent_to: Vec<String> = added.sent_to.iter().map(|r| r.to_string()).collect();
    println!(
        "   Guizhou lists company {company} (restricted from government procurement, public funds, honours);"
    );
    println!(
        "   the Chongqing–Guizhou and Pan-Pearl River agreements bind {} (no node of the other Pan-Pearl River members runs in this demo: {} recorded as not sent)",
        sent_to.join(", "),
        added.no_peer.len()
    );
    members_respond(&draft, &added, cq, gz, checks).await?;
    natural_person_listed(&draft, gy, cq, checks).await?;
    super::objection::objected_and_dismissed(&added.id, gy, cq, gz, checks).await?;
    fed_back(&added.id, gy, checks).await;
    super::repair::applied_and_granted(&added.id, &draft, gy, cq, gz, checks).await?;
    super::report::issued_and_verified(&company, gy, cq, checks).await
}

/// The lists service of `node` under the built-in lists policy.
fn lists(node: &RunningNode) -> Lists {
    Lists::new(node.federation().clone(), ListsPolicy::builtin())
}

/// The listing: a company restricted from government procurement, public
/// funds and honours, with details of which one is internal.
fn serious_dishonesty(company: &str) -> EntryDraft {
    let today = credex_flows::calendar::china_date_text(unix_ms(SystemTime::now()));
    EntryDraft {
        subject: company.to_owned(),
        list_type: ListKind::SeriousDishonesty,
        basis: "《贵州省社会信用条例》; 行政处罚决定书 黔市监处〔2026〕18号".into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: today.clone(),
        planned_exit: "2029-11-01".into(),
        measures: vec![
            "restrict_government_procurement".into(),
            "restrict_public_funds".into(),
            "restrict_honours".into(),
        ],
        notice: SubjectNotice {
            date: today,
            means: NoticeMeans::Written,
        },
        details: [
            ("document_number", "黔信用认〔2026〕7号"),
            ("facts", "拒不履行行政处罚决定，情节严重"),
            ("responsible_person", "王某"),
            ("review_notes", "内部复核意见：证据链完整，不得外传"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
    }
}

/// Each bound member receives the listing, gets only the details its
/// agreement names, and feeds back the measures it applied.
async fn members_respond(
    draft: &EntryDraft,
    added: &Added,
    cq: &RunningNode,
    gz: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    for (node, name, applied) in [
        (
            cq,
            "Chongqing",
            vec!["restrict_government_procurement", "restrict_public_funds"],
        ),
        (
            gz,
            "Guangdong",
            vec!["restrict_government_procurement", "restrict_honours"],
        ),
    ] {
        let held = wait_for(|| async {
            lists(node)
                .received()
                .await
                .ok()?
                .into_iter()
                .find(|h| h.entry.id == added.id)
        })
        .await;
        checks.check(
            held.is_some(),
            &format!("{name} receives the listing and responds (发起→响应)"),
            &held
                .as_ref()
                .map(|h| format!("measures to apply: {}", h.entry.measures.join(", ")))
                .unwrap_or_else(|| "not received within 15 s".into()),
        );
        // The egress gate: each member gets the details its agreement names.
        let (expected, agreement) = match name {
            "Chongqing" => (
                &["document_number", "facts", "responsible_person"][..],
                "Chongqing–Guizhou",
            ),
            _ => (&["document_number", "facts"][..], "Pan-Pearl River"),
        };
        let got: Vec<&str> = held
            .as_ref()
            .map(|h| h.entry.details.keys().map(String::as_str).collect())
            .unwrap_or_default();
        checks.check(
            got == expected,
            &format!(
                "the egress gate released to {name} only the details the {agreement} agreement names"
            ),
            &format!(
                "received {}; withheld {} (review_notes is internal and never leaves Guizhou)",
                got.join(", "),
                draft
                    .details
                    .keys()
                    .filter(|k| !got.contains(&k.as_str()))
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        let applied: Vec<String> = applied.into_iter().map(String::from).collect();
        lists(node)
            .feedback(
                &added.id,
                &applied,
                "applied from the day of receipt",
                unix_ms(SystemTime::now()),
            )
            .await?;
    }
    Ok(())
}

/// A judgment debtor who is a natural person (失信被执行人): listed by the
/// current-epoch pseudonym of the federation's key ring.
async fn natural_person_listed(
    draft: &EntryDraft,
    gy: &RunningNode,
    cq: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    let person = dev::synthetic_citizen_id("520000".parse()?, 7);
    let mut policy = ListsPolicy::builtin();
    policy.pseudonyms = Some(federation_ring(gy)?);
    let person_entry = Lists::new(gy.federation().clone(), policy)
        .add(
            &EntryDraft {
                subject: person,
                measures: vec!["restrict_government_procurement".into()],
                details: Default::default(),
                ..draft.clone()
            },
            unix_ms(SystemTime::now()),
        )
        .await?;
    let held_by_pseudonym = wait_for(|| async {
        let held = lists(cq).received().await.ok()?;
        let h = held.into_iter().find(|h| h.entry.id == person_entry.id)?;
        h.entry.subject.starts_with("1:").then_some(h.entry.subject)
    })
    .await;
    checks.check(
        held_by_pseudonym.is_some(),
        "a natural person (失信被执行人) listed in Guizhou reaches Chongqing under the keyed pseudonym, never the citizen ID",
        &held_by_pseudonym
            .map(|s| format!("Chongqing holds the entry under {}…", &s[..12]))
            .unwrap_or_else(|| "not received within 15 s".into()),
    );
    Ok(())
}

/// Guizhou's status shows every region's feedback, nothing overdue.
async fn fed_back(id: &EntryId, gy: &RunningNode, checks: &mut Checks) {
    let all_fed_back = wait_for(|| async {
        let status = lists(gy).status(unix_ms(SystemTime::now())).await.ok()?;
        let entry = status.into_iter().find(|e| &e.id == id)?;
        (entry.regions.len() == 2
            && entry.regions.iter().all(|r| r.feedback.is_some())
            && !entry.is_overdue())
        .then_some(entry)
    })
    .await;
    checks.check(
        all_fed_back.is_some(),
        "Guizhou's status shows each region's response and feedback (→反馈), nothing overdue",
        &all_fed_back
            .map(|e| {
                e.regions
                    .iter()
                    .map(|r| {
                        format!(
                            "{}: {:?}, applied {}",
                            r.region,
                            r.stage,
                            r.feedback
                                .as_ref()
                                .map(|f| f.applied.join("+"))
                                .unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_else(|| "feedback missing after 15 s".into()),
    );
}
