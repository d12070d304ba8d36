//! Act 7, upward reporting (数据报送): each province reports its records
//! to the national platform (000000) — a penalty decided today on time
//! (双公示), every record due in numbered batches with signed receipts, only
//! what the reporting catalogue collects, natural persons by pseudonym, the
//! national node's totals, and, while the national node is down, a penalty
//! past its 7 working days counted late as it waits.
//!
//! Owns: the act, and reading the federation's pseudonym key ring and the
//! withheld fields from a node's log for the other acts. Does not own the
//! reporting flow (`credex_node::upward`).

use std::path::Path;

use anyhow::{Context, Result};
use credex_node::records;
use credex_node::service::RunningNode;

use super::{Checks, wait_for};
use crate::dev;

/// Act 7. The national node (`running[3]`) is stopped and started again
/// in place for the last step.
pub(super) async fn act(
    dir: &Path,
    running: &mut Vec<RunningNode>,
    checks: &mut Checks,
) -> Result<()> {
    let (gy, national) = (&running[0], &running[3]);
    println!(
        "\n7. Upward reporting (数据报送): each province reports its records to the national platform (000000)"
    );
    let company = penalty_decided_today(dir, gy, checks).await?;
    provinces_report(running, checks).await;
    egress_gate_upward(gy, national, &company, checks).await?;
    natural_person_upward(gy, national, checks).await?;
    national_aggregates(national, checks).await?;
    late_while_waiting(dir, running, checks).await
}

/// A penalty Guizhou decided today: reported at once, within 7 working
/// days (双公示). Returns the company it is about.
async fn penalty_decided_today(
    dir: &Path,
    gy: &RunningNode,
    checks: &mut Checks,
) -> Result<String> {
    let today = credex_flows::calendar::china_date_text(credex_node::clock::now_ms());
    let company = import_penalty(dir, gy, "TODAY", &today).await?;
    let on_time = wait_for(|| async {
        let s = credex_node::upward::status(gy.storage(), &upward_rules(gy))
            .await
            .ok()?;
        s.categories
            .iter()
            .find(|c| c.category == "admin_penalty" && c.on_time >= 1)
            .map(|c| c.on_time)
    })
    .await;
    checks.check(
        on_time.is_some(),
        "Guizhou imports a penalty decided today: reported at once, within 7 working days (双公示 on time)",
        &on_time
            .map(|n| format!("{n} penalty record(s) on time"))
            .unwrap_or_else(|| "not reported within 15 s".into()),
    );
    Ok(company)
}

/// Guizhou imports penalty `520000-AP-{id}` decided on `decided`
/// (YYYY-MM-DD) about its first sample company; returns the company.
async fn import_penalty(dir: &Path, gy: &RunningNode, id: &str, decided: &str) -> Result<String> {
    let company = &dev::sample_subjects("520000".parse()?)[0];
    let file = dir.join(format!("records/520000/admin_penalty-{id}.jsonl"));
    std::fs::write(
        &file,
        format!(
            r#"{{"record_id":"520000-AP-{id}","subject":"{company}","decision_number":"黔市监罚〔2026〕99号","violation_type":"虚假宣传","facts":"发布虚假广告","basis":"《中华人民共和国广告法》第五十五条","penalty_type":"罚款","content":"罚款人民币20000元","amount":"20000.00","decision_date":"{decided}","deciding_authority":"贵州省市场监督管理局","case_notes":"内部备注：当事人态度恶劣，不得外传","officer_phone":"13900000000"}}"#
        ),
    )?;
    records::import_file(
        gy.storage(),
        &file,
        "admin_penalty",
        gy.queries().policy().catalogue(),
    )
    .await?;
    Ok(company.clone())
}

/// The national node is down while Guizhou imports a penalty decided 30
/// days ago: it waits, and Guizhou's status counts it late already (a
/// province whose batches never arrive does not read punctual). The
/// national node comes back; the penalty is acknowledged and counted late
/// once.
async fn late_while_waiting(
    dir: &Path,
    running: &mut Vec<RunningNode>,
    checks: &mut Checks,
) -> Result<()> {
    let config = running[3].config().clone();
    running.remove(3).shutdown().await;
    for _ in 0..50 {
        if std::net::UdpSocket::bind(config.listen).is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let gy = &running[0];
    let decided = credex_flows::calendar::china_date(credex_node::clock::now_ms())
        .context("today's date in China")?
        - time::Duration::days(30);
    import_penalty(dir, gy, "OLD", &decided.to_string()).await?;
    let penalties = |s: &credex_node::upward::UpwardStatus| {
        s.categories
            .iter()
            .find(|c| c.category == "admin_penalty")
            .cloned()
    };
    let waiting = wait_for(|| async {
        let s = credex_node::upward::status(gy.storage(), &upward_rules(gy))
            .await
            .ok()?;
        let c = penalties(&s)?;
        (c.overdue >= 1).then_some((c, s.timeliness_rate))
    })
    .await;
    checks.check(
        waiting.is_some(),
        "the national platform is down: Guizhou's penalty decided 30 days ago waits, and already counts late (双公示)",
        &waiting
            .as_ref()
            .map(|(c, rate)| {
                format!(
                    "{} waiting past 7 working days, {} late among those acknowledged; 双公示 timeliness {:.0}%",
                    c.overdue,
                    c.late,
                    rate * 100.0
                )
            })
            .unwrap_or_else(|| "not counted within 15 s".into()),
    );
    let late_before = waiting.map_or(0, |(c, _)| c.late);
    // The deadline watch has warned the province's systems (event feed
    // `upward.deadline_at_risk`) before anyone reads the counts.
    let warned = wait_for(|| async {
        let journal = gy.storage().journal_range(0, 100_000).await.ok()?;
        journal
            .iter()
            .filter(|r| r.kind == credex_journal::kind::UPWARD_DEADLINE_AT_RISK)
            .filter_map(|r| {
                credex_protocol::decode::<credex_journal::UpwardDeadlineAtRisk>(&r.body).ok()
            })
            .find(|r| r.missed)
    })
    .await;
    checks.check(
        warned.is_some(),
        "the deadline watch raised upward.deadline_at_risk for the waiting penalty",
        &warned
            .map(|r| {
                format!(
                    "batch {}: {} record(s), deadline {} missed",
                    r.seq, r.records_at_risk, r.earliest_deadline
                )
            })
            .unwrap_or_else(|| "no event within 15 s".into()),
    );
    running.insert(
        3,
        RunningNode::start(config)
            .await
            .context("restarting the national node")?,
    );
    let gy = &running[0];
    let reported = wait_for(|| async {
        let s = credex_node::upward::status(gy.storage(), &upward_rules(gy))
            .await
            .ok()?;
        let c = penalties(&s)?;
        (c.overdue == 0 && s.reported == s.due).then_some(c)
    })
    .await;
    checks.check(
        reported.as_ref().is_some_and(|c| c.late == late_before + 1),
        "the national platform is back: the penalty is acknowledged and counted late once",
        &reported
            .map(|c| format!("{} late, {} waiting", c.late, c.overdue))
            .unwrap_or_else(|| "not acknowledged within 15 s".into()),
    );
    Ok(())
}

/// Chongqing and Guangdong report every record due.
async fn provinces_report(running: &[RunningNode], checks: &mut Checks) {
    for (node, name) in [(&running[1], "Chongqing"), (&running[2], "Guangdong")] {
        let status = wait_for(|| async {
            let s = credex_node::upward::status(node.storage(), &upward_rules(node))
                .await
                .ok()?;
            (s.due > 0 && s.reported == s.due && s.batches_pending == 0).then_some(s)
        })
        .await;
        checks.check(
            status.is_some(),
            &format!("{name} reports every record due, in numbered batches with signed receipts"),
            &status
                .map(|s| {
                    format!(
                        "reporting rate {:.0}% ({} of {} records, {} batch(es) acknowledged); 双公示 timeliness {:.0}% — the sample penalties were decided months ago and reported only now, so they count as late",
                        s.reporting_rate * 100.0,
                        s.reported,
                        s.due,
                        s.batches_acked,
                        s.timeliness_rate * 100.0
                    )
                })
                .unwrap_or_else(|| "not fully reported within 15 s".into()),
        );
    }
}

/// The egress gate: the batch carries only what the reporting catalogue
/// collects; Guizhou's log says what it withheld.
async fn egress_gate_upward(
    gy: &RunningNode,
    national: &RunningNode,
    company: &str,
    checks: &mut Checks,
) -> Result<()> {
    let withheld = reported_withheld(gy).await?;
    let at_national = national
        .storage()
        .records_for(company, &["admin_penalty".to_owned()])
        .await?;
    let leaked: Vec<String> = at_national
        .iter()
        .filter_map(|r| credex_protocol::decode::<credex_policies::Record>(&r.body).ok())
        .flat_map(|r| r.fields.into_keys())
        .filter(|f| f == "case_notes" || f == "officer_phone")
        .collect();
    checks.check(
        !at_national.is_empty() && leaked.is_empty() && withheld.iter().any(|f| f == "admin_penalty.case_notes"),
        "the egress gate sends upward only what the reporting catalogue collects",
        &format!(
            "withheld and logged by Guizhou: {}; the national platform holds the penalty without them",
            withheld.join(", ")
        ),
    );
    Ok(())
}

/// Guangdong's individual business operator reached the national node
/// under the pseudonym, the only name it has outside Guangdong.
async fn natural_person_upward(
    gy: &RunningNode,
    national: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    let person = dev::sample_persons("440000".parse()?)[0].clone();
    let ring = federation_ring(gy)?;
    let pseudonym = ring.current_pseudonym(&person)?.to_string();
    let person_at_national = national
        .storage()
        .records_for(&pseudonym, &["admin_penalty".to_owned()])
        .await?;
    checks.check(
        person_at_national.len() == 1,
        "a natural person's penalty goes upward under the keyed pseudonym",
        &format!(
            "the national platform holds {} record(s) under {}…",
            person_at_national.len(),
            &pseudonym[..12]
        ),
    );
    Ok(())
}

/// The national platform aggregates what the provinces reported.
async fn national_aggregates(national: &RunningNode, checks: &mut Checks) -> Result<()> {
    let received = credex_node::upward::received(national.storage()).await?;
    let summary: Vec<String> = received
        .iter()
        .map(|r| {
            format!(
                "{}: {} records in {} batch(es)",
                r.region, r.records, r.batches
            )
        })
        .collect();
    checks.check(
        received.len() >= 2 && received.iter().all(|r| r.records > 0),
        "the national platform aggregates what the provinces reported, exactly once",
        &summary.join("; "),
    );
    Ok(())
}

/// The federation's pseudonym key ring, as `node` is configured with it.
pub(super) fn federation_ring(node: &RunningNode) -> Result<credex_pki::PseudonymKeyRing> {
    let path = node
        .config()
        .pseudonyms
        .keys
        .as_ref()
        .context("the development federation has a pseudonym key ring")?;
    Ok(credex_node::pseudonyms::load_ring(path)?)
}

/// The fields the egress gate withheld from `node`'s upward batches, as
/// its log records them (`category.field`).
async fn reported_withheld(node: &RunningNode) -> Result<Vec<String>> {
    let mut out = std::collections::BTreeSet::new();
    let storage = node.storage();
    let len = storage.journal_len().await?;
    let mut at = 0;
    while at < len {
        let page = storage.journal_range(at, 1000).await?;
        if page.is_empty() {
            break;
        }
        at += page.len() as u64;
        for row in page {
            if row.kind != credex_journal::kind::BATCH_PREPARED {
                continue;
            }
            let b: credex_journal::BatchPrepared = credex_protocol::decode(&row.body)?;
            for c in b.withheld {
                out.extend(c.fields.iter().map(|f| format!("{}.{f}", c.category)));
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// The reporting list and calendar `node` judges its upward status by.
fn upward_rules(node: &RunningNode) -> credex_node::upward::UpwardRules {
    credex_node::upward::UpwardRules::of_started_node(
        node.config(),
        node.queries().policy().catalogue(),
    )
}
