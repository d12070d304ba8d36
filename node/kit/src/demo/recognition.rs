//! Act 5, mutual recognition (信用评价结果互认): Guizhou evaluates a
//! company; Chongqing (Chongqing–Guizhou agreement) and Guangdong
//! (Pan-Pearl River agreement) recognise the result without evaluating
//! again, and a downgrade reaches both.
//!
//! Owns: the act and how it reads a company's effective grade. Does not own
//! the recognition rules (`credex_policies::recognise`).

use std::path::Path;

use anyhow::Result;
use credex_node::eval;
use credex_node::service::RunningNode;
use credex_protocol::evaluation::Scheme;

use super::{Checks, wait_for};
use crate::dev;

/// The effective public-credit grade of `subject` at `node` and how it was
/// decided, if a result counts.
async fn effective_public_credit(node: &RunningNode, subject: &str) -> Option<String> {
    let agreements = eval::load_agreements(node.config()).ok()?;
    let e = eval::effective(
        node.storage(),
        &agreements,
        node.config().region,
        subject,
        credex_node::clock::now_ms(),
    )
    .await
    .ok()?;
    let pc = e
        .schemes
        .into_iter()
        .find(|s| s.scheme == Scheme::PublicCredit)?;
    let grade = pc.grade.clone()?;
    let input = pc.inputs.get(pc.decided_by?)?;
    Some(format!(
        "{grade} (common grade {}; {}; green channel {}) — {} grade {} from {}, under {}",
        pc.common_grade.as_deref().unwrap_or("-"),
        pc.supervision_tier.as_deref().unwrap_or("-"),
        if pc.green_channel { "yes" } else { "no" },
        input.source,
        input.grade,
        input.issuer_region,
        input.agreement.as_deref().unwrap_or("-"),
    ))
}

/// Guizhou evaluates a company; Chongqing (Chongqing–Guizhou agreement) and
/// Guangdong (Pan-Pearl River agreement) recognise the result; a downgrade
/// reaches both.
pub(super) async fn act(dir: &Path, running: &[RunningNode], checks: &mut Checks) -> Result<()> {
    let (gy, cq, gz) = (&running[0], &running[1], &running[2]);
    println!(
        "\n5. Mutual recognition (信用评价结果互认): Guizhou's public credit comprehensive evaluation counts elsewhere"
    );
    let company = dev::sample_subjects("520000".parse()?)[1].clone();
    let agreements = eval::load_agreements(gy.config()).map_err(anyhow::Error::msg)?;
    let issue = |grade: &'static str, name: &'static str| {
        let company = company.clone();
        let agreements = agreements.clone();
        async move {
            let file = dir.join(format!("evaluations-520000-{name}.jsonl"));
            std::fs::write(
                &file,
                format!(
                    r#"{{"subject":"{company}","scheme":"public_credit","scheme_version":"2024","grade":"{grade}","period_start":"2025-01-01","period_end":"2025-12-31","valid_until":"2027-06-30"}}"#
                ),
            )?;
            let now = credex_node::clock::now_ms();
            let rows = eval::parse_results(&file, gy.config().region, &agreements, now)?;
            eval::issue(
                gy.federation(),
                &agreements,
                gy.queries().policy().catalogue(),
                &rows,
                now,
            )
            .await?;
            anyhow::Ok(())
        }
    };
    issue("优", "first").await?;
    println!(
        "   Guizhou rates company {company} 优 (top grade), signs the result and pushes it to the members of its agreements:"
    );
    for (node, name) in [(cq, "Chongqing"), (gz, "Guangdong")] {
        let seen = wait_for(|| effective_public_credit(node, &company)).await;
        checks.check(
            seen.is_some(),
            &format!("{name} recognises it without evaluating again"),
            &seen.unwrap_or_else(|| "not recognised within 15 s".into()),
        );
    }
    issue("差", "downgrade").await?;
    println!("   Guizhou re-evaluates the company and downgrades it to 差:");
    for (node, name) in [(cq, "Chongqing"), (gz, "Guangdong")] {
        let seen = wait_for(|| async {
            effective_public_credit(node, &company)
                .await
                .filter(|e| e.contains("grade 差"))
        })
        .await;
        checks.check(
            seen.is_some(),
            &format!("the downgrade reaches {name} and its local treatment follows"),
            &seen.unwrap_or_else(|| "not updated within 15 s".into()),
        );
    }
    Ok(())
}
