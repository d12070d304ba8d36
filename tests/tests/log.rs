//! The verifiable access log end to end: receipts across the network,
//! export as C2SP tiles, and the offline auditor — including the
//! tampering it must catch.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use credex_audit as audit;
use credex_journal::{AccessEntry, Direction, kind};
use credex_node::remote_audit::FetchLogError;
use credex_node::requester::{self, QuerySpec};
use credex_node::service::RunningNode;
use credex_node::storage::danger;
use credex_pki::authorization::approve_request;
use credex_protocol::query::{AuthorizedQuery, CategoryFields, Outcome, SubjectRef};
use credex_tests::{
    Federation, ask, authorized_query, import_samples, signer, subjects, witness_all,
};

fn penalty_query(subject: &str, fields: &[&str]) -> QuerySpec {
    QuerySpec {
        target_region: "440000".parse().unwrap(),
        subject: SubjectRef::LegalPerson(subject.into()),
        purpose: "public_procurement".into(),
        requested: vec![CategoryFields {
            category: "admin_penalty".into(),
            fields: fields.iter().map(|s| s.to_string()).collect(),
        }],
        legal_basis: Some("joint-punishment-memorandum".into()),
        subject_authorization: None,
    }
}

async fn entries(node: &RunningNode, k: u16) -> Vec<(u64, AccessEntry)> {
    node.storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == k)
        .map(|r| (r.seq, credex_protocol::decode(&r.body).unwrap()))
        .collect()
}

/// One more granted query of Guizhou's, signed and approved, and a
/// connection from Guizhou to Guangdong to send it on.
async fn one_more_query(
    fed: &Federation,
    gy: &RunningNode,
    gz: &RunningNode,
) -> (AuthorizedQuery, credex_node::transport::PeerConnection) {
    let q = authorized_query(fed, gy, penalty_query(&subjects("440000")[0], &["amount"]));
    let conn = credex_tests::dial(gy, gz, "440000", "gz-1").await.unwrap();
    (q, conn)
}

/// Guizhou asks Guangdong three times: granted, trimmed, denied.
async fn scenario(fed: &Federation) -> (RunningNode, RunningNode) {
    let gy = fed.start("gy-1").await;
    let gz = fed.start("gz-1").await;
    import_samples(fed, &gz, "440000").await;
    let s = &subjects("440000");
    for spec in [
        penalty_query(&s[0], &["decision_number", "amount"]),
        penalty_query(&s[1], &["amount", "case_notes"]),
        QuerySpec {
            purpose: "financing".into(),
            ..penalty_query(&s[2], &["amount"])
        },
    ] {
        ask(&gy, &gz, &authorized_query(fed, &gy, spec)).await;
    }
    (gy, gz)
}

/// A checkpoint `node`'s log key signs for a tree it does not hold (a
/// fork, or another log's head). Under `sm2-sm3` the key also states an
/// SM3 root: the forger's claim, which these tests do not check.
fn forged_checkpoint(node: &RunningNode, size: u64, root: credex_protocol::tlog::Hash) -> String {
    let key = node.log_key();
    let sm3 = credex_protocol::tlog::Hash([0xf0; 32]);
    key.sign(size, root, key.states_sm3_root().then_some(&sm3))
        .unwrap()
}

async fn export(node: &RunningNode, out: &Path, unchecked: bool) {
    if !unchecked {
        return credex_tests::export_log(node, out).await;
    }
    let chain = std::fs::read_to_string(&node.config().tls.cert).unwrap();
    let chains = credex_node::export::NodeChains {
        tls: &chain,
        signing: node.signing_chain_pem(),
    };
    credex_node::export::danger::export_unchecked_chains(
        node.storage(),
        node.log_key(),
        chains,
        out,
    )
    .await
    .unwrap();
}

fn rules(report: &audit::AuditReport) -> Vec<&'static str> {
    let mut r: Vec<&'static str> = report.violations.iter().map(|v| v.rule).collect();
    r.sort();
    r.dedup();
    r
}

#[tokio::test]
async fn a_granted_query_leaves_matching_entries_and_a_verifying_receipt() {
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    let sent = entries(&gy, kind::QUERY_SENT).await;
    let received = entries(&gz, kind::QUERY_RECEIVED).await;
    assert_eq!(sent.len(), 3);
    assert_eq!(received.len(), 3);
    for (_, s) in &sent {
        let cp = s
            .counterpart
            .as_ref()
            .expect("every sent entry holds the responder's receipt");
        assert_eq!(cp.origin, "credex/440000/gz-1");
        let (index, r) = received
            .iter()
            .find(|(_, r)| r.query_digest == s.query_digest)
            .unwrap();
        assert_eq!(
            cp.leaf_index, *index,
            "the receipt points at the responder's entry"
        );
        assert_eq!(r.direction, Direction::Received);
        assert_eq!((r.outcome, r.reason), (s.outcome, s.reason));
        // The receipt's root is the responder's tree root at that size.
        let root = gz.storage().tree_root(cp.checkpoint_size).await.unwrap();
        assert_eq!(*root.as_bytes(), cp.checkpoint_root);
    }

    // A receipt that was tampered with is refused by the requester.
    let (q, conn) = one_more_query(&fed, &gy, &gz).await;
    let resp = match conn
        .request(&credex_protocol::Request::Query(Box::new(q.clone())))
        .await
        .unwrap()
    {
        credex_protocol::Response::Query(r) => *r,
        other => panic!("{other:?}"),
    };
    let cert = resp.responder.chain[0].clone();
    let digest = credex_pki::authorization::query_digest(&q).unwrap();
    credex_node::log::verify_receipt(&resp, &cert, digest).expect("genuine receipt verifies");
    use credex_node::log::ReceiptError;
    let refused = |bad: &credex_protocol::query::QueryResponse, cert: &[u8], digest| {
        credex_node::log::verify_receipt(bad, cert, digest)
            .expect_err("a doctored receipt is refused")
    };
    let mut bad = resp.clone();
    bad.receipt.as_mut().unwrap().entry[20] ^= 1;
    assert!(matches!(
        refused(&bad, &cert, digest),
        ReceiptError::Inclusion(_)
    ));
    let mut bad = resp.clone();
    bad.receipt.as_mut().unwrap().leaf_index += 1;
    assert!(matches!(
        refused(&bad, &cert, digest),
        ReceiptError::Inclusion(_)
    ));
    let mut bad = resp.clone();
    bad.receipt = None;
    assert!(matches!(
        refused(&bad, &cert, digest),
        ReceiptError::Missing
    ));
    // A genuine receipt of another query: in the tree, but not this access.
    let mut other = digest;
    other[0] ^= 1;
    assert!(matches!(
        refused(&resp, &cert, other),
        ReceiptError::NotThisQuery
    ));
    let gy_cert =
        credex_pki::certs_from_pem(&std::fs::read_to_string(&gy.config().tls.cert).unwrap())
            .unwrap()[0]
            .to_vec();
    assert!(
        matches!(
            refused(&resp, &gy_cert, digest),
            ReceiptError::Checkpoint(_) | ReceiptError::Key(_)
        ),
        "signed by another node's key"
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

/// The requester's entries carry the time of the clock its storage was
/// handed (the node's one clock), not a reading of the system's own: the
/// intent and the sent entry both, and the response is checked at that time.
#[tokio::test]
async fn the_requester_logs_by_the_clock_it_was_handed() {
    #[derive(Debug)]
    struct Fixed(i64);
    impl credex_node::clock::Clock for Fixed {
        fn now_ms(&self) -> i64 {
            self.0
        }
    }
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    // Five seconds ahead of the system clock: within every certificate's
    // validity, and never what the system clock reads during the test.
    let at = credex_node::clock::now_ms() + 5_000;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("requester.db").display());
    let options = credex_node::storage::StorageOptions {
        clock: std::sync::Arc::new(Fixed(at)),
        ..Default::default()
    };
    let storage = credex_node::storage::Storage::open_with(&url, options)
        .await
        .unwrap();
    let (q, conn) = one_more_query(&fed, &gy, &gz).await;
    let trust = gy.transport().trust().current();
    requester::send(&conn, &trust, &storage, &q).await.unwrap();
    let logged = storage.journal_range(0, 16).await.unwrap();
    let intent = logged
        .iter()
        .find(|r| r.kind == kind::QUERY_INTENT)
        .expect("the intent is logged");
    let intent: credex_journal::QueryIntent =
        credex_journal::decode(intent.kind, &intent.body).unwrap();
    assert_eq!(intent.at_ms, at, "the intent's time is the handed clock's");
    let sent = logged
        .iter()
        .find(|r| r.kind == kind::QUERY_SENT)
        .expect("the sent entry is logged");
    let sent: AccessEntry = credex_journal::decode(sent.kind, &sent.body).unwrap();
    assert_eq!(
        sent.at_ms, at,
        "the sent entry's time is the handed clock's"
    );
    storage.close().await;
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn exported_logs_pass_the_audit_and_answer_the_subject() {
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    witness_all(&[&gy, &gz]).await;
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("gy"), out.path().join("gz"));
    export(&gy, &a, false).await;
    export(&gz, &b, false).await;
    assert!(
        b.join("checkpoint").exists() && b.join("tile/entries/000.p").exists()
            || b.join("tile/entries").exists()
    );
    let trust = gy.transport().trust().current();
    let report = audit::verify(&[a.clone(), b.clone()], &trust);
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.logs.len(), 2);
    let gz_log = report
        .logs
        .iter()
        .find(|l| l.origin == "credex/440000/gz-1")
        .unwrap();
    assert_eq!(gz_log.received, 3);
    assert!(gz_log.checkpoints >= 1);

    // Who looked at the first company? Guizhou, once, for procurement.
    let (accesses, _) = audit::subject_report(
        &[a, b],
        &trust,
        &credex_audit::anchor::AuditOptions::default(),
        &[SubjectRef::LegalPerson(subjects("440000")[0].clone())],
    );
    assert_eq!(accesses.len(), 1);
    assert_eq!(accesses[0].requester, "520000/gy-1");
    assert_eq!(accesses[0].purpose, "public_procurement");
    assert_eq!(
        accesses[0].released,
        ["admin_penalty.amount", "admin_penalty.decision_number"]
    );
    assert_eq!(accesses[0].officers.len(), 2);
    gy.shutdown().await;
    gz.shutdown().await;
}

/// Export both logs after `tamper` ran on Guangdong's database (or export
/// directory) and return the audit.
async fn audit_after<F, Fut>(tamper: F, unchecked: bool) -> audit::AuditReport
where
    F: FnOnce(Federation, RunningNode, RunningNode, PathBuf) -> Fut,
    Fut: std::future::Future<Output = (Federation, RunningNode, RunningNode)>,
{
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    // A checkpoint of the honest log exists before tampering, and each
    // node witnessed the other's.
    gz.checkpoints()
        .covering(gz.storage().tree_head().size - 1)
        .await
        .unwrap();
    witness_all(&[&gy, &gz]).await;
    let out = tempfile::tempdir().unwrap().keep();
    let (fed, gy, gz) = tamper(fed, gy, gz, out.clone()).await;
    let (a, b) = (out.join("gy"), out.join("gz"));
    export(&gy, &a, false).await;
    if !b.exists() {
        export(&gz, &b, unchecked).await;
    }
    let trust = gy.transport().trust().current();
    let report = audit::verify(&[a, b], &trust);
    gy.shutdown().await;
    gz.shutdown().await;
    drop(fed);
    report
}

async fn received_seq(gz: &RunningNode, n: usize) -> u64 {
    entries(gz, kind::QUERY_RECEIVED).await[n].0
}

#[tokio::test]
async fn audit_catches_an_entry_changed_in_the_database() {
    let report = audit_after(
        |fed, gy, gz, out| async move {
            let seq = received_seq(&gz, 0).await;
            let rec = gz.storage().journal_range(seq, 1).await.unwrap().remove(0);
            let mut e: AccessEntry = credex_protocol::decode(&rec.body).unwrap();
            e.purpose = "supervision".into(); // the operator rewrites why data left
            danger::overwrite_journal_body(gz.storage(), seq, credex_protocol::encode(&e).unwrap())
                .await
                .unwrap();
            // Our own export refuses to publish an altered database...
            let chain = std::fs::read_to_string(&gz.config().tls.cert).unwrap();
            assert!(
                credex_node::export::export(
                    gz.storage(),
                    gz.log_key(),
                    &chain,
                    &out.join("refused")
                )
                .await
                .is_err()
            );
            (fed, gy, gz)
        },
        true,
    )
    .await;
    // ...and a doctored export is caught against the checkpoints already signed and the receipts Guizhou holds.
    assert!(rules(&report).contains(&"fork"), "{:#?}", report.violations);
}

#[tokio::test]
async fn audit_catches_a_deleted_entry() {
    let report = audit_after(
        |fed, gy, gz, _| async move {
            let seq = received_seq(&gz, 1).await;
            danger::delete_journal_row(gz.storage(), seq).await.unwrap();
            (fed, gy, gz)
        },
        true,
    )
    .await;
    let r = rules(&report);
    assert!(
        r.contains(&"fork") || r.contains(&"access_missing_at_responder"),
        "{:#?}",
        report.violations
    );
}

#[tokio::test]
async fn audit_catches_swapped_entries() {
    let report = audit_after(
        |fed, gy, gz, _| async move {
            let (a, b) = (received_seq(&gz, 0).await, received_seq(&gz, 2).await);
            danger::swap_journal_rows(gz.storage(), a, b).await.unwrap();
            (fed, gy, gz)
        },
        true,
    )
    .await;
    assert!(rules(&report).contains(&"fork"), "{:#?}", report.violations);
}

#[tokio::test]
async fn audit_catches_a_checkpoint_signed_with_another_key() {
    let report = audit_after(
        |fed, gy, gz, out| async move {
            // Export honestly, then replace the checkpoint with one signed by Guizhou's key.
            let b = out.join("gz");
            export(&gz, &b, false).await;
            let head = gz.storage().tree_head();
            let forged = forged_checkpoint(&gy, head.size, head.root);
            let forged = forged.replace("credex/520000/gy-1", "credex/440000/gz-1");
            std::fs::write(b.join("checkpoint"), forged).unwrap();
            (fed, gy, gz)
        },
        false,
    )
    .await;
    assert!(
        rules(&report).contains(&"checkpoint_signature"),
        "{:#?}",
        report.violations
    );
}

#[tokio::test]
async fn audit_catches_an_access_missing_from_the_responders_log() {
    let report = audit_after(
        |fed, gy, gz, _| async move {
            // The responder truncates its log to hide the last two accesses.
            let keep = received_seq(&gz, 1).await;
            danger::truncate_log(gz.storage(), keep).await.unwrap();
            (fed, gy, gz)
        },
        true,
    )
    .await;
    let r = rules(&report);
    assert!(
        r.contains(&"access_missing_at_responder") || r.contains(&"log_truncated"),
        "{:#?}",
        report.violations
    );
}

#[tokio::test]
async fn audit_catches_a_release_approved_by_the_requester_themselves() {
    let report = audit_after(
        |fed, gy, gz, _| async move {
            // A corrupt responder logs a release for a self-approved request.
            let req = signer(&fed, "520000", "req-1");
            let file = requester::draft_and_sign(
                gy.config().region,
                gy.config().name.clone(),
                penalty_query(&subjects("440000")[0], &["amount"]),
                &req,
                SystemTime::now(),
            )
            .unwrap();
            let own = approve_request(
                &file.request,
                file.requester.as_ref().unwrap(),
                &req.key,
                req.chain.clone(),
            )
            .unwrap();
            let q = AuthorizedQuery {
                request: file.request.clone(),
                requester: file.requester.clone().unwrap(),
                approver: own,
                subject_authorization: None,
            };
            let like = entries(&gz, kind::QUERY_RECEIVED).await[0].1.clone();
            credex_tests::forge_release(&gz, &q, &like).await;
            (fed, gy, gz)
        },
        false,
    )
    .await;
    assert!(
        rules(&report).contains(&"release_without_dual_authorization"),
        "{:#?}",
        report.violations
    );
    assert!(
        report
            .violations
            .iter()
            .any(|v| v.detail.contains("same_officer")),
        "{:#?}",
        report.violations
    );
}

#[tokio::test]
async fn peers_cosign_checkpoints_and_the_audit_verifies_the_cosignatures() {
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    let conn = credex_tests::dial(&gz, &gy, "520000", "gy-1")
        .await
        .unwrap();
    let first = gz.request_cosignature(&conn, 0).await.unwrap();
    assert_eq!(first, gz.storage().tree_head().size);
    // The last receipt Guizhou holds is for exactly the checkpoint Guizhou
    // (as a witness) has now cosigned: its inclusion proof verified against
    // that root, which now carries a witness's cosignature.
    let last = entries(&gy, kind::QUERY_SENT).await.pop().unwrap().1;
    let receipt = last.counterpart.unwrap();
    assert_eq!(receipt.checkpoint_size, first);
    let note = gz.storage().checkpoint(first).await.unwrap().unwrap();
    let cosigs = gz.storage().cosignatures(first).await.unwrap();
    let full = format!("{note}{}", cosigs[0].1);
    let witness_cert =
        credex_pki::certs_from_pem(&std::fs::read_to_string(&gy.config().tls.cert).unwrap())
            .unwrap()[0]
            .to_vec();
    let witness_key = credex_pki::log_key::node_log_verifier(
        &witness_cert,
        "520000".parse().unwrap(),
        &"gy-1".parse().unwrap(),
        credex_protocol::tlog::SignatureType::CosignatureV1,
    )
    .unwrap();
    let opened = credex_protocol::tlog::open_checkpoint(
        full.as_bytes(),
        gz.log_key().verifier(),
        &[witness_key],
    )
    .unwrap();
    assert_eq!(opened.cosignatures().len(), 1);
    assert_eq!(
        *opened.checkpoint().root().as_bytes(),
        receipt.checkpoint_root
    );
    // More accesses, then a cosignature proven consistent with the first.
    ask(
        &gy,
        &gz,
        &authorized_query(
            &fed,
            &gy,
            penalty_query(&subjects("440000")[0], &["amount"]),
        ),
    )
    .await;
    let second = gz.request_cosignature(&conn, first).await.unwrap();
    assert!(second > first);
    // A stale idea of what the witness saw is corrected, not fatal.
    assert_eq!(gz.request_cosignature(&conn, 1).await.unwrap(), second);
    assert_eq!(gz.storage().cosignatures(second).await.unwrap().len(), 1);
    // And Guangdong witnesses Guizhou's, which the audit needs to anchor it.
    let back = credex_tests::dial(&gy, &gz, "440000", "gz-1")
        .await
        .unwrap();
    gy.request_cosignature(&back, 0).await.unwrap();

    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("gy"), out.path().join("gz"));
    export(&gy, &a, false).await;
    export(&gz, &b, false).await;
    let trust = gy.transport().trust().current();
    let report = audit::verify(&[a, b], &trust);
    assert!(report.passed(), "{:#?}", report.violations);
    let gz_log = report
        .logs
        .iter()
        .find(|l| l.origin == "credex/440000/gz-1")
        .unwrap();
    assert_eq!(
        gz_log.cosignatures, 1,
        "gy-1's cosignature on the final checkpoint verifies"
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn a_witness_catches_a_forked_log_and_keeps_the_evidence() {
    use credex_protocol::tlog::{MemoryHashStore, leaf_hash};
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    let conn = credex_tests::dial(&gz, &gy, "520000", "gy-1")
        .await
        .unwrap();
    let honest = gz.request_cosignature(&conn, 0).await.unwrap();

    // gz shows gy another history: a tree with the same signing key whose
    // prefix differs from what gy cosigned.
    let mut fork = MemoryHashStore::new();
    for i in 0..honest + 2 {
        fork.append_leaf_hash(leaf_hash(format!("rewritten {i}").as_bytes()))
            .unwrap();
    }
    let note = forged_checkpoint(&gz, honest + 2, fork.root().unwrap());
    let proof = credex_protocol::tlog::prove_consistency(honest, honest + 2, &fork).unwrap();
    let request = credex_protocol::WitnessRequest {
        checkpoint: note,
        old_size: honest,
        consistency_proof: proof.iter().map(|h| *h.as_bytes()).collect(),
    };
    match conn
        .request(&credex_protocol::Request::Witness(request))
        .await
    {
        Err(credex_node::transport::ClientError::Refused(e)) => {
            assert_eq!(e.code, credex_protocol::ErrorCode::ForkDetected, "{e:?}")
        }
        other => panic!("the witness must refuse a fork, got {other:?}"),
    }
    let evidence = gy.storage().evidence().await.unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].origin, "credex/440000/gz-1");
    assert!(credex_node::log::FORKS_DETECTED.load(std::sync::atomic::Ordering::Relaxed) >= 1);

    // The witness's export carries the evidence and the auditor raises it.
    let out = tempfile::tempdir().unwrap();
    let a = out.path().join("gy");
    export(&gy, &a, false).await;
    let report = audit::verify(&[a], &gy.transport().trust().current());
    assert!(
        rules(&report).contains(&"fork_evidence"),
        "{:#?}",
        report.violations
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

/// Two conflicting checkpoints of one log, sent to a witness at the same
/// moment on two streams: exactly one is cosigned, the other is refused as
/// a fork and both are kept as evidence (the witness serialises per log
/// and its store compares-and-sets).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_cosigns_only_one_of_two_conflicting_checkpoints_sent_at_once() {
    use credex_protocol::tlog::{MemoryHashStore, leaf_hash};
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let gz = fed.start("gz-1").await;
    let conn = credex_tests::dial(&gz, &gy, "520000", "gy-1")
        .await
        .unwrap();
    // gz signs two different trees of the same size (gy has seen none).
    let history = |tag: &str| {
        let mut tree = MemoryHashStore::new();
        for i in 0..5 {
            tree.append_leaf_hash(leaf_hash(format!("{tag} {i}").as_bytes()))
                .unwrap();
        }
        credex_protocol::WitnessRequest {
            checkpoint: forged_checkpoint(&gz, 5, tree.root().unwrap()),
            old_size: 0,
            consistency_proof: Vec::new(),
        }
    };
    let (a, b) = (
        history("shown to the auditor"),
        history("shown to everyone else"),
    );
    let (a, b) = (
        credex_protocol::Request::Witness(a),
        credex_protocol::Request::Witness(b),
    );
    let (ra, rb) = tokio::join!(conn.request(&a), conn.request(&b));
    let mut cosigned = 0;
    let mut forks = 0;
    for r in [ra, rb] {
        match r {
            Ok(credex_protocol::Response::Cosigned(_)) => cosigned += 1,
            Err(credex_node::transport::ClientError::Refused(e))
                if e.code == credex_protocol::ErrorCode::ForkDetected =>
            {
                forks += 1
            }
            other => panic!("unexpected answer {other:?}"),
        }
    }
    assert_eq!((cosigned, forks), (1, 1));
    let evidence = gy.storage().evidence().await.unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].origin, "credex/440000/gz-1");
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn audit_catches_a_field_released_outside_the_policy() {
    let report = audit_after(
        |fed, gy, gz, _| async move {
            // A corrupt responder logs (and so released) internal case notes
            // for a properly authorized request.
            let q = authorized_query(
                &fed,
                &gy,
                penalty_query(&subjects("440000")[0], &["amount", "case_notes"]),
            );
            let mut e = entries(&gz, kind::QUERY_RECEIVED).await[0].1.clone();
            e.request_id = q.request.request_id;
            e.released = vec![CategoryFields {
                category: "admin_penalty".into(),
                fields: vec!["amount".into(), "case_notes".into()],
            }];
            e.withheld = vec![];
            credex_tests::forge_release(&gz, &q, &e).await;
            (fed, gy, gz)
        },
        false,
    )
    .await;
    let outside: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.rule == "released_outside_policy")
        .collect();
    assert_eq!(outside.len(), 1, "{:#?}", report.violations);
    assert!(
        outside[0].detail.contains("admin_penalty.case_notes"),
        "{:#?}",
        outside
    );
}

#[tokio::test]
async fn an_auditor_fetches_a_log_remotely_and_nobody_else_may() {
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    witness_all(&[&gy, &gz]).await;
    // Any node's connection carries the request; the auditor's signature authorizes it.
    let conn = credex_tests::dial(&gy, &gz, "440000", "gz-1")
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    for (region, who) in [("440000", "aud-1"), ("000000", "aud-1")] {
        let dir = out.path().join(format!("{region}-{who}"));
        let size = credex_node::remote_audit::fetch_log(&conn, &signer(&fed, region, who), &dir)
            .await
            .unwrap();
        assert!(size >= 4, "policy, key and three accesses at least: {size}");
        // One log alone: the auditor knows its witness by its certificate.
        let trust = gy.transport().trust().current();
        let gy_chain = std::fs::read_to_string(&gy.config().tls.cert).unwrap();
        let options = credex_audit::anchor::AuditOptions {
            witnesses: vec![
                credex_audit::anchor::witness_key(&trust, &gy_chain, &gy.config().tls.cert)
                    .unwrap(),
            ],
            ..Default::default()
        };
        let report = audit::verify_with(&[dir], &trust, &options, &|_| {});
        assert!(
            report.logs[0]
                .anchor
                .as_ref()
                .is_some_and(|a| a.witnesses == ["credex/520000/gy-1"]),
            "{:#?}",
            report.logs
        );
        assert!(report.passed(), "{:#?}", report.violations);
        assert_eq!(report.logs[0].received, 3);
    }
    // Not an auditor, or an auditor of another region: refused, nothing served.
    for (region, who) in [
        ("440000", "req-1"),
        ("520000", "aud-1"),
        ("440000", "adm-1"),
    ] {
        let err = credex_node::remote_audit::fetch_log(
            &conn,
            &signer(&fed, region, who),
            &out.path().join("refused"),
        )
        .await
        .unwrap_err();
        let said = err.to_string();
        assert!(
            matches!(&err, FetchLogError::NotServed { path, .. } if path == "checkpoint")
                && (said.contains("not_authorized") || said.contains("may not audit")),
            "{region}/{who}: {err:?}"
        );
    }
    assert!(!out.path().join("refused/checkpoint").exists());
    // Each fetch is logged at the node that served it.
    let fetches = gz
        .storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .iter()
        .filter(|r| r.kind == credex_journal::kind::AUDIT_FETCH)
        .count();
    assert!(fetches >= 2 * 4, "{fetches}");
    gy.shutdown().await;
    gz.shutdown().await;
}

/// A bundle is kept by the entry that names it (decision 1220): the audit
/// fetch serves it with that entry's index, and says what to ask for when
/// the index is missing, wrong or not a number.
#[tokio::test]
async fn an_auditor_fetches_a_bundle_by_the_entry_that_names_it() {
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    let conn = credex_tests::dial(&gy, &gz, "440000", "gz-1")
        .await
        .unwrap();
    let auditor = signer(&fed, "440000", "aud-1");
    let get = |path: String| {
        let conn = &conn;
        let auditor = &auditor;
        async move {
            let fetch = credex_node::remote_audit::sign_fetch(
                &path,
                "440000".parse().unwrap(),
                &auditor.key,
                auditor.chain.clone(),
            )
            .unwrap();
            match conn
                .request(&credex_protocol::Request::AuditFetch(fetch))
                .await
            {
                Ok(credex_protocol::Response::AuditData(bytes)) => Ok(bytes),
                Ok(other) => panic!("unexpected answer {other:?}"),
                Err(refused) => Err(format!("{refused:?}")),
            }
        }
    };
    let journal = gz.storage().journal_range(0, 4096).await.unwrap();
    let (seq, digest) = journal
        .iter()
        .find(|r| r.kind == kind::QUERY_RECEIVED)
        .map(|r| {
            let e: AccessEntry = credex_protocol::decode(&r.body).unwrap();
            (r.seq, e.query_digest)
        })
        .expect("an access");
    let bundle = get(credex_node::remote_audit::attachment_path(&digest, seq))
        .await
        .expect("served by its entry");
    assert_eq!(credex_journal::sha256(&bundle), digest);

    let plain = format!("attachments/{}", hex::encode(digest));
    let said = get(plain.clone()).await.expect_err("no entry named");
    assert!(
        said.contains("NotFound") && said.contains("?entry=<index>"),
        "{said}"
    );
    let other = journal.iter().find(|r| r.seq != seq).unwrap().seq;
    let said = get(format!("{plain}?entry={other}"))
        .await
        .expect_err("another entry");
    assert!(said.contains("NotFound"), "{said}");
    let said = get(format!("{plain}?entry=first"))
        .await
        .expect_err("not an index");
    assert!(said.contains("not a number"), "{said}");
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn a_log_showing_different_histories_to_two_peers_is_caught_by_the_auditor() {
    use credex_protocol::tlog::{MemoryHashStore, leaf_hash};
    let fed = Federation::new();
    let (gy, gz) = scenario(&fed).await;
    let cq = fed.start("cq-1").await;
    // Guangdong shows Guizhou its real log...
    let to_gy = credex_tests::dial(&gz, &gy, "520000", "gy-1")
        .await
        .unwrap();
    let size = gz.request_cosignature(&to_gy, 0).await.unwrap();
    // ...and Chongqing, which has seen nothing of it yet, another history of the same size.
    let mut fork = MemoryHashStore::new();
    for i in 0..size {
        fork.append_leaf_hash(leaf_hash(format!("other history {i}").as_bytes()))
            .unwrap();
    }
    let to_cq = credex_tests::dial(&gz, &cq, "500000", "cq-1")
        .await
        .unwrap();
    let request = credex_protocol::WitnessRequest {
        checkpoint: forged_checkpoint(&gz, size, fork.root().unwrap()),
        old_size: 0,
        consistency_proof: vec![],
    };
    match to_cq
        .request(&credex_protocol::Request::Witness(request))
        .await
        .unwrap()
    {
        credex_protocol::Response::Cosigned(_) => {} // alone, Chongqing cannot tell
        other => panic!("{other:?}"),
    }
    let out = tempfile::tempdir().unwrap();
    let dirs: Vec<PathBuf> = ["gy", "gz", "cq"]
        .iter()
        .map(|n| out.path().join(n))
        .collect();
    export(&gy, &dirs[0], false).await;
    export(&gz, &dirs[1], false).await;
    export(&cq, &dirs[2], false).await;
    let report = audit::verify(&dirs, &gy.transport().trust().current());
    let forks: Vec<_> = report
        .violations
        .iter()
        .filter(|v| v.rule == "fork" && v.log == "credex/440000/gz-1")
        .collect();
    assert_eq!(forks.len(), 1, "{:#?}", report.violations);
    assert!(
        forks[0].detail.contains("credex/500000/cq-1"),
        "{:#?}",
        forks
    );
    // The honest witness's view matches the log.
    assert!(!forks[0].detail.contains("credex/520000/gy-1 witnessed"));
    for n in [gy, gz, cq] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn a_replayed_query_is_logged_twice_and_the_audit_still_matches_each_side() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let gz = fed.start("gz-1").await;
    import_samples(&fed, &gz, "440000").await;
    let q = authorized_query(
        &fed,
        &gy,
        penalty_query(&subjects("440000")[0], &["amount"]),
    );
    assert_eq!(ask(&gy, &gz, &q).await.body.outcome, Outcome::Granted);
    assert_eq!(
        ask(&gy, &gz, &q).await.body.reason,
        credex_protocol::query::QueryReason::Replay
    );
    witness_all(&[&gy, &gz]).await;
    let out = tempfile::tempdir().unwrap();
    let (a, b) = (out.path().join("gy"), out.path().join("gz"));
    export(&gy, &a, false).await;
    export(&gz, &b, false).await;
    let report = audit::verify(&[a, b], &gy.transport().trust().current());
    assert!(report.passed(), "{:#?}", report.violations);
    gy.shutdown().await;
    gz.shutdown().await;
}
