//! Act 6, a signed credit report (信用报告): Guizhou issues a report on the
//! listed company for an administrative approval — what it holds, as its
//! policy releases it for that purpose — logged, with the proof that its
//! log holds it; Chongqing verifies it offline with the federation root,
//! accepts it under its agreement with Guizhou, and refuses a copy whose
//! content was changed.
//!
//! Owns: the scene. Does not own issuing (`credex_node::reports`) or
//! verifying (`credex_audit::report`).

use std::time::SystemTime;

use anyhow::Result;
use credex_audit::report::{accept, verify};
use credex_node::query::unix_ms;
use credex_node::reports::{ReportRequest, issue};
use credex_node::service::RunningNode;
use credex_protocol::report::{ReportBundle, ReportKind};
use credex_protocol::tlog::TlogProof;
use rustls_pki_types::UnixTime;

use super::Checks;

/// The scene, on `company`, issued by `gy` and verified by `cq`.
pub(super) async fn issued_and_verified(
    company: &str,
    gy: &RunningNode,
    cq: &RunningNode,
    checks: &mut Checks,
) -> Result<()> {
    let text = issue(
        gy.federation(),
        gy.queries().policy(),
        &ReportRequest {
            subject: company.to_owned(),
            kind: ReportKind::General,
            purpose: "administrative_approval".into(),
            valid_days: 90,
            requested_by: "demo".into(),
            officer: "王芳 (信用科)".into(),
        },
        unix_ms(SystemTime::now()),
    )
    .await?;
    let trust = cq.transport().trust().current();
    let verified = verify(&text, &trust, UnixTime::now());
    checks.check(
        verified.is_ok(),
        "Guizhou issues a signed credit report (信用报告) on the company; Chongqing verifies it offline: signature, certificate, validity, and the proof that Guizhou's log holds it",
        &match &verified {
            Ok(v) => format!(
                "{} sections ({}), {} withheld field(s) named; logged at index {}, valid until {}",
                v.report.sections.len(),
                v.report
                    .sections
                    .iter()
                    .map(|s| s.category.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                v.report.withheld.len(),
                v.log_index,
                v.report.valid_until
            ),
            Err(e) => e.to_string(),
        },
    );
    // Accepted in Chongqing under its agreement with Guizhou (信用报告互认).
    let accepted = verified.as_ref().ok().map(|v| {
        accept(
            v,
            &credex_policies::AgreementSet::builtin(),
            cq.config().region,
            unix_ms(SystemTime::now()),
        )
    });
    checks.check(
        matches!(accepted, Some(Ok(Some(_)))),
        "Chongqing accepts the report under the Chongqing–Guizhou agreement (信用报告互认): its kind, purpose and age are within the agreement's terms",
        &match accepted {
            Some(Ok(Some(code))) => format!("accepted under {code}"),
            Some(Err(e)) => e.to_string(),
            _ => "not verified".into(),
        },
    );
    // A copy whose content was changed after signing.
    let mut proof = TlogProof::parse(&text)?;
    let mut bundle: ReportBundle =
        credex_protocol::decode(proof.extra.as_deref().unwrap_or_default())?;
    bundle.signed.report.valid_until = "2099-12-31".into();
    proof.extra = Some(credex_protocol::encode(&bundle)?);
    let refused = verify(&proof.to_text(), &trust, UnixTime::now());
    checks.check(
        refused.is_err(),
        "a copy with its validity stretched is refused, with the reason",
        &refused.err().map(|e| e.to_string()).unwrap_or_default(),
    );
    Ok(())
}
