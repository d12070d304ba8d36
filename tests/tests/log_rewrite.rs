//! Issue 13 §2: an operator who holds its log key rewrites its own log.
//!
//! Each test plays the operator of Guangdong's node (gz-1) editing its own
//! database after Guizhou (gy-1) asked it three times, and checks what the
//! auditor says: a rewritten log verifies on its own key but nothing else
//! vouches for it; a pinned checkpoint or the witness's export convicts it;
//! a release logged twice, an authorization used beyond its uses and a
//! quota overrun are flagged even in a joint audit where everything else
//! matches.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use credex_audit::anchor::{AuditOptions, WitnessKeyError, witness_key};
use credex_audit::{self as audit, AuditReport};
use credex_journal::{AccessEntry, kind};
use credex_node::query::unix_ms;
use credex_node::requester::{self, QuerySpec};
use credex_node::service::RunningNode;
use credex_node::storage::danger;
use credex_protocol::query::{Outcome, SubjectAuthorization, SubjectRef};
use credex_tests::{
    Federation, ask, authorized_query, gz_penalty_query, import_samples, signer, subjects,
    witness_all,
};

/// gy-1 and gz-1 (with `policy_edit` applied to Guangdong's policy), gz's
/// samples imported.
async fn pair(
    fed: &Federation,
    policy_edit: impl Fn(String) -> String,
) -> (RunningNode, RunningNode) {
    let gy = fed.start("gy-1").await;
    let mut config = fed.config("gz-1");
    let file = config.policy.file.clone().unwrap();
    let edited = file.with_file_name("policy-edited.toml");
    std::fs::write(
        &edited,
        policy_edit(std::fs::read_to_string(&file).unwrap()),
    )
    .unwrap();
    config.policy.file = Some(edited);
    let gz = fed.start_with(config).await;
    import_samples(fed, &gz, "440000").await;
    (gy, gz)
}

async fn export(node: &RunningNode, out: &Path) {
    credex_tests::export_log(node, out).await;
}

/// Received access entries of `node`: (journal seq, entry).
async fn received(node: &RunningNode) -> Vec<(u64, AccessEntry)> {
    let all = node.storage().journal_range(0, 4096).await.unwrap();
    all.into_iter()
        .filter(|r| r.kind == kind::QUERY_RECEIVED)
        .map(|r| (r.seq, credex_protocol::decode(&r.body).unwrap()))
        .collect()
}

fn rules(report: &AuditReport) -> Vec<&'static str> {
    let mut r: Vec<&'static str> = report.violations.iter().map(|v| v.rule).collect();
    r.sort();
    r.dedup();
    r
}

/// An auditor holding only gz-1's export and gy-1's node certificate.
fn options_with_witness(gy: &RunningNode, pinned: Vec<(String, Vec<u8>)>) -> AuditOptions {
    let trust = gy.transport().trust().current();
    let chain = std::fs::read_to_string(&gy.config().tls.cert).unwrap();
    AuditOptions {
        pinned,
        witnesses: vec![witness_key(&trust, &chain, &gy.config().tls.cert).unwrap()],
        ..AuditOptions::default()
    }
}

/// The review's experiment: gz-1's operator deletes two release entries,
/// rebuilds its tree and exports with its real key. Alone, the log is not
/// verified (nothing but its own key vouches for it); with a checkpoint
/// pinned from an earlier audit, or beside the witness's export, the
/// rewrite is caught; and the witness refuses to cosign the rewritten log.
#[tokio::test]
async fn a_log_its_operator_rewrote_is_not_verified_and_is_caught_by_what_others_hold() {
    let fed = Federation::new();
    let (gy, gz) = pair(&fed, |p| p).await;
    let s = subjects("440000");
    for subject in &s[..3] {
        let q = authorized_query(&fed, &gy, gz_penalty_query(subject, &["amount"]));
        assert_eq!(ask(&gy, &gz, &q).await.body.outcome, Outcome::Granted);
    }
    witness_all(&[&gy, &gz]).await;
    let trust = gy.transport().trust().current();
    let out = tempfile::tempdir().unwrap();

    // An honest export, audited alone: anchored by Guizhou's cosignature.
    let earlier = out.path().join("earlier");
    export(&gz, &earlier).await;
    let honest = audit::verify_with(
        std::slice::from_ref(&earlier),
        &trust,
        &options_with_witness(&gy, Vec::new()),
        &|_| {},
    );
    assert!(honest.passed(), "{:#?}", honest.violations);
    let anchor = honest.logs[0].anchor.clone().unwrap();
    assert_eq!(anchor.witnesses, ["credex/520000/gy-1"]);
    assert_eq!(anchor.size, honest.logs[0].size);
    let pinned = vec![(
        "earlier/checkpoint".to_owned(),
        std::fs::read(earlier.join("checkpoint")).unwrap(),
    )];

    // The rewrite: the first two releases disappear with the disclosures
    // entered for them, everything after them is appended again, the tree
    // is rebuilt, and the export is signed with the real key.
    let releases = received(&gz).await;
    let (first, second) = (releases[0].0, releases[1].0);
    let erased = [releases[0].1.query_digest, releases[1].1.query_digest];
    danger::rewrite_log(gz.storage(), first, |record| {
        let disclosure_of_erased = record.kind == credex_journal::kind::RECORDS_DISCLOSED
            && credex_protocol::decode::<credex_journal::RecordsDisclosed>(&record.body)
                .is_ok_and(|d| {
                    matches!(d.by, credex_journal::DisclosedBy::Query { query_digest } if erased.contains(&query_digest))
                });
        record.seq != first && record.seq != second && !disclosure_of_erased
    })
    .await
    .unwrap();
    let rewritten = out.path().join("rewritten");
    export(&gz, &rewritten).await;

    // Alone, it verifies on its own key — and is not called verified.
    let alone = audit::verify_with(
        std::slice::from_ref(&rewritten),
        &trust,
        &options_with_witness(&gy, Vec::new()),
        &|_| {},
    );
    assert_eq!(
        rules(&alone),
        ["log_not_anchored"],
        "{:#?}",
        alone.violations
    );
    assert_eq!(alone.logs[0].anchor, None);
    // So a subject's "who looked at my records" does not pass on it either.
    let (_, subject_report) = audit::subject_report(
        std::slice::from_ref(&rewritten),
        &trust,
        &options_with_witness(&gy, Vec::new()),
        &[SubjectRef::LegalPerson(s[0].clone())],
    );
    assert!(!subject_report.passed());

    // With the checkpoint pinned from the earlier audit: caught.
    let with_pin = audit::verify_with(
        std::slice::from_ref(&rewritten),
        &trust,
        &options_with_witness(&gy, pinned),
        &|_| {},
    );
    assert!(
        rules(&with_pin).contains(&"pinned_checkpoint_mismatch"),
        "{:#?}",
        with_pin.violations
    );

    // Beside the witness's export: caught as a fork.
    let gy_dir = out.path().join("gy");
    export(&gy, &gy_dir).await;
    let joint = audit::verify(&[gy_dir, rewritten], &trust);
    assert!(rules(&joint).contains(&"fork"), "{:#?}", joint.violations);

    // And the witness refuses to vouch for the rewritten history.
    let conn = credex_tests::dial(&gz, &gy, "520000", "gy-1")
        .await
        .unwrap();
    // The rewrite dropped entries: the witness cosigned more of this log
    // than the database now holds.
    let refused = gz.request_cosignature(&conn, 0).await;
    assert!(
        matches!(
            refused,
            Err(credex_node::log::CosignError::DatabaseBehind { witnessed, held, .. })
                if witnessed > held
        ),
        "{}",
        refused.map_or_else(|e| e.to_string(), |size| format!("cosigned at {size}"))
    );
    // Signing on would fork the log further: the checkpointer stops.
    assert!(gz.checkpoints().halted().is_some());
    gy.shutdown().await;
    gz.shutdown().await;
}

/// A verbatim copy of a release entry appended later (the same signed query
/// and nonce released twice), a second release on a one-use authorization,
/// and a release beyond the peer's daily quota: each flagged in a joint
/// audit where both logs are anchored and every access matches.
#[tokio::test]
async fn repeats_overused_authorizations_and_quota_overruns_are_flagged() {
    let fed = Federation::new();
    let (gy, gz) = pair(&fed, |p| {
        p.replace("quota = { per_day = 20000 }", "quota = { per_day = 2 }")
    })
    .await;
    let s = subjects("440000");
    // Two releases, the quota's two.
    let mut granted = Vec::new();
    for subject in &s[..2] {
        let q = authorized_query(&fed, &gy, gz_penalty_query(subject, &["amount"]));
        assert_eq!(ask(&gy, &gz, &q).await.body.outcome, Outcome::Granted);
        granted.push(q);
    }

    // The operator appends a verbatim copy of the first release entry.
    let (_, first) = received(&gz).await.remove(0);
    gz.storage()
        .append(
            kind::QUERY_RECEIVED,
            credex_protocol::encode(&first).unwrap(),
        )
        .await
        .unwrap();
    // … and logs a third release, over the quota, under a one-use
    // authorization already used once (the pipeline refuses both: only an
    // edited log can hold them).
    let now = unix_ms(SystemTime::now());
    let consent = requester::issue_authorization(
        &signer(&fed, "440000", "portal"),
        SubjectAuthorization {
            authorization_id: requester::random_id(),
            subject: SubjectRef::LegalPerson(s[2].clone()),
            grantee_region: "520000".parse().unwrap(),
            purposes: vec!["public_procurement".into()],
            categories: vec!["admin_penalty".into()],
            not_before_ms: now - 60_000,
            not_after_ms: now + 86_400_000,
            max_uses: 1,
        },
    )
    .unwrap();
    let with_consent = |subject: &str| QuerySpec {
        legal_basis: None,
        subject_authorization: Some(consent.clone()),
        ..gz_penalty_query(subject, &["amount"])
    };
    for _ in 0..2 {
        let q = authorized_query(&fed, &gy, with_consent(&s[2]));
        credex_tests::forge_release(&gz, &q, &first).await;
    }
    witness_all(&[&gy, &gz]).await;

    let out = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = vec![out.path().join("gy"), out.path().join("gz")];
    export(&gy, &dirs[0]).await;
    export(&gz, &dirs[1]).await;
    let report = audit::verify(&dirs, &gy.transport().trust().current());
    let found = rules(&report);
    for rule in [
        "repeated_release",
        "authorization_overused",
        "quota_exceeded",
    ] {
        assert!(found.contains(&rule), "{rule}: {:#?}", report.violations);
    }
    assert!(report.logs.iter().all(|l| l.anchor.is_some()));
    gy.shutdown().await;
    gz.shutdown().await;
}

/// An auditor's `--witness-cert` must be a node of this federation: an
/// officer's certificate, another federation's node and an empty file are
/// each refused by their own rule, naming the file; the node's own chain
/// gives its key.
#[tokio::test]
async fn a_witness_certificate_is_a_node_of_this_federation() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let trust = gy.transport().trust().current();
    let refused = |path: &Path| {
        let pem = std::fs::read_to_string(path).unwrap();
        let e = witness_key(&trust, &pem, path).unwrap_err();
        assert!(
            e.to_string().starts_with(&path.display().to_string()),
            "{e}"
        );
        e
    };

    let officer = fed.path().join("operators/520000/req-1.pem");
    let e = refused(&officer);
    assert!(
        matches!(
            e,
            WitnessKeyError::DoesNotVerify {
                error: credex_pki::VerifyError::WrongKind { .. },
                ..
            }
        ),
        "{e:?}"
    );
    let other = Federation::new();
    assert!(matches!(
        refused(&other.node_cert("gy-1")),
        WitnessKeyError::DoesNotVerify { .. }
    ));
    let empty = fed.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    assert!(matches!(
        refused(&empty),
        WitnessKeyError::Pem {
            error: credex_pki::PemError::NoCertificates,
            ..
        }
    ));

    let own = fed.node_cert("gy-1");
    let pem = std::fs::read_to_string(&own).unwrap();
    assert!(witness_key(&trust, &pem, &own).is_ok());
    gy.shutdown().await;
}
