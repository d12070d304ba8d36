//! Signed credit reports (信用报告), over real signatures, logs and
//! certificates: Guizhou issues a report on a company it holds penalties
//! of; Chongqing verifies it offline with the federation root and its CRLs.
//! A changed byte, a changed field, a changed signature, a moved proof, an
//! expired report and a revoked issuer are each refused with their reason.
//! Chongqing accepts it under its agreement with Guizhou; Guangdong, whose
//! agreement takes other reports, does not; nor does anyone once it is
//! older than the agreement allows.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use credex_audit::report::{NotAccepted, ReportRefused, accept, verify};
use credex_node::reports::{ReportRequest, issue};
use credex_node::service::{RunningNode, now_ms};
use credex_protocol::report::{ReportBundle, ReportKind};
use credex_protocol::tlog::TlogProof;
use credex_tests::Federation;
use rustls_pki_types::UnixTime;

const GUIZHOU: &str = "520000";

async fn issued(gy: &RunningNode, subject: &str, kind: ReportKind, days: u32) -> String {
    issue(
        gy.federation(),
        gy.queries().policy(),
        &ReportRequest {
            subject: subject.to_owned(),
            kind,
            purpose: "administrative_approval".into(),
            valid_days: days,
            requested_by: "test".into(),
            officer: "王芳 (信用科)".into(),
        },
        now_ms(),
    )
    .await
    .unwrap()
}

/// `text` with its bundle changed by `change`.
fn doctored(text: &str, change: impl FnOnce(&mut ReportBundle)) -> String {
    let mut proof = TlogProof::parse(text).unwrap();
    let mut bundle: ReportBundle =
        credex_protocol::decode(proof.extra.as_deref().unwrap()).unwrap();
    change(&mut bundle);
    proof.extra = Some(credex_protocol::encode(&bundle).unwrap());
    proof.to_text()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_issued_in_guizhou_verifies_in_chongqing_and_every_tampering_is_refused() {
    let fed = Federation::new();
    let nodes = fed.start_wired(&["gy-1", "cq-1"]).await;
    let (gy, cq) = (&nodes[0], &nodes[1]);
    credex_tests::import_samples(&fed, gy, GUIZHOU).await;
    let subject = credex_tests::subjects(GUIZHOU)[1].clone();
    // A Guangdong company Guizhou holds nothing of.
    let clean = credex_tests::subjects("440000")[0].clone();

    let text = issued(gy, &subject, ReportKind::General, 90).await;
    assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "), "{text}");
    let trust = cq.transport().trust().current();
    let now = UnixTime::now();
    let ok = verify(&text, &trust, now).unwrap();
    assert_eq!(ok.issuer.0.to_string(), GUIZHOU);
    assert_eq!(ok.issuer.1.to_string(), "gy-1");
    let penalties = ok
        .report
        .sections
        .iter()
        .find(|s| s.category == "admin_penalty")
        .expect("the penalties Guizhou holds");
    assert!(!penalties.items.is_empty());
    assert!(ok.log_index < gy.storage().journal_len().await.unwrap());
    assert_eq!(ok.report.policy_hash, gy.queries().policy().policy_hash());
    // What the policy withholds for the purpose is named, never shown.
    for w in &ok.report.withheld {
        let (category, field) = w.split_once('.').unwrap();
        for s in ok.report.sections.iter().filter(|s| s.category == category) {
            assert!(s.items.iter().all(|i| !i.fields.contains_key(field)), "{w}");
        }
    }
    // Accepted in Chongqing under the Chongqing–Guizhou agreement; not in
    // Guangdong, whose Pan-Pearl River terms take special reports for
    // procurement only; not once older than the agreement allows; Guizhou
    // accepts its own.
    let agreements = credex_policies::AgreementSet::builtin();
    let region = |r: &str| r.parse::<credex_protocol::RegionCode>().unwrap();
    assert_eq!(
        accept(&ok, &agreements, region("500000"), now_ms()),
        Ok(Some("chongqing-guizhou".to_owned()))
    );
    let e = accept(&ok, &agreements, region("440000"), now_ms()).unwrap_err();
    assert!(matches!(e, NotAccepted::NoAgreement { .. }), "{e}");
    let month_later = now_ms() + 31 * 86_400_000;
    let e = accept(&ok, &agreements, region("500000"), month_later).unwrap_err();
    assert!(
        matches!(
            e,
            NotAccepted::TooOld {
                max_age_days: 30,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(
        accept(&ok, &agreements, region(GUIZHOU), now_ms()),
        Ok(None)
    );
    let procurement = issue(
        gy.federation(),
        gy.queries().policy(),
        &ReportRequest {
            subject: subject.clone(),
            kind: ReportKind::NoViolation,
            purpose: "public_procurement".into(),
            valid_days: 30,
            requested_by: "test".into(),
            officer: "王芳 (信用科)".into(),
        },
        now_ms(),
    )
    .await
    .unwrap();
    let special = verify(&procurement, &trust, now).unwrap();
    assert_eq!(
        accept(&special, &agreements, region("440000"), now_ms()),
        Ok(Some("pan-pearl-river".to_owned()))
    );

    // A company with no penalty gets a no-violation report that says so.
    let none = verify(
        &issued(gy, &clean, ReportKind::NoViolation, 30).await,
        &trust,
        now,
    )
    .unwrap();
    assert!(
        none.report.nothing_held().contains(&"admin_penalty"),
        "{:?}",
        none.report
    );

    // A byte of the report changed: the signature no longer verifies.
    let e = verify(
        &doctored(&text, |b| b.signed.report.issued_at_ms += 1),
        &trust,
        now,
    )
    .unwrap_err();
    assert_eq!(e, ReportRefused::Signature);
    // A field changed.
    let e = verify(
        &doctored(&text, |b| {
            let item = &mut b.signed.report.sections[0].items[0];
            let value = item.fields.values_mut().next().unwrap();
            *value = "无".into();
        }),
        &trust,
        now,
    )
    .unwrap_err();
    assert_eq!(e, ReportRefused::Signature);
    // The signature changed.
    let e = verify(
        &doctored(&text, |b| b.signed.signer.signature.bytes[0] ^= 1),
        &trust,
        now,
    )
    .unwrap_err();
    assert_eq!(e, ReportRefused::Signature);
    // The log entry swapped for another report's.
    let other = TlogProof::parse(&issued(gy, &clean, ReportKind::General, 30).await).unwrap();
    let other: ReportBundle = credex_protocol::decode(other.extra.as_deref().unwrap()).unwrap();
    let e = verify(&doctored(&text, |b| b.entry = other.entry), &trust, now).unwrap_err();
    assert!(matches!(e, ReportRefused::NotLogged(_)), "{e}");
    // The proof moved to another index.
    let mut moved = TlogProof::parse(&text).unwrap();
    moved.index += 1;
    let e = verify(&moved.to_text(), &trust, now).unwrap_err();
    assert!(matches!(e, ReportRefused::NotLogged(_)), "{e}");
    // A checkpoint not signed by the issuer's log.
    let mut forged = TlogProof::parse(&text).unwrap();
    forged.checkpoint = forged.checkpoint.replacen('\n', "\n1", 1);
    let e = verify(&forged.to_text(), &trust, now).unwrap_err();
    assert!(matches!(e, ReportRefused::Checkpoint(_)), "{e}");
    // Not a report at all.
    let e = verify("hello\n\nworld\n", &trust, now).unwrap_err();
    assert!(matches!(e, ReportRefused::Format(_)), "{e}");

    // Past its last day.
    let later = UnixTime::since_unix_epoch(Duration::from_secs(now.as_secs() + 91 * 86_400));
    match verify(&text, &trust, later).unwrap_err() {
        ReportRefused::Expired { valid_until, .. } => {
            assert_eq!(valid_until, ok.report.valid_until)
        }
        other => panic!("expected expiry, got {other}"),
    }

    // Guizhou's signing certificate revoked: refused by a Chongqing that has
    // loaded the new CRL.
    fed.ca(GUIZHOU).revoke(&fed.signing_cert("gy-1")).unwrap();
    cq.reload_crls().await.unwrap();
    let trust = cq.transport().trust().current();
    let e = verify(&text, &trust, UnixTime::now()).unwrap_err();
    assert!(matches!(e, ReportRefused::IssuerRevoked(_)), "{e}");
    assert!(e.to_string().contains("revoked"), "{e}");
    for node in nodes {
        node.shutdown().await;
    }
}
