//! A federation under the `sm2-sm3` crypto suite (商用密码, issue 19): SM2
//! CAs, officers, authorities and node signing certificates; each node's
//! TLS certificate keeps an Ed25519 key. A query is signed, answered,
//! received and audited end to end over real QUIC with SM2 signatures; a
//! node or a region of the other suite is refused with a reason that names
//! the suite.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use credex_node::boot::StartError;
use credex_node::service::RunningNode;
use credex_node::transport::ClientError;
use credex_pki::KeyAlgorithm;
use credex_protocol::{SignatureAlgorithm, Suite};
use credex_tests::{
    Federation, ask, audit_all, authorized_query, findings, gy_penalty_query, import_samples,
    release_penalties_to_chongqing_and_guangdong, subjects, within, witness_all,
};

fn sm2_federation() -> Federation {
    Federation::with_suite(Suite::Sm2Sm3)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_is_signed_answered_and_audited_in_sm2() {
    let fed = sm2_federation();
    let nodes = fed
        .start_wired_with(&["gy-1", "gz-1"], |c| {
            if c.region.to_string() == "520000" {
                release_penalties_to_chongqing_and_guangdong(&fed, c);
            }
        })
        .await;
    let (gy, gz) = (&nodes[0], &nodes[1]);
    assert_eq!(gy.transport().trust().current().suite(), Suite::Sm2Sm3);
    import_samples(&fed, gy, "520000").await;
    let subject = subjects("520000")[1].clone();
    let query = authorized_query(&fed, gz, gy_penalty_query(&subject));
    // The officers signed in SM2, and so does the answering node.
    assert_eq!(
        query.requester.signature.algorithm,
        SignatureAlgorithm::Sm2Sm3
    );
    assert_eq!(
        query.approver.signature.algorithm,
        SignatureAlgorithm::Sm2Sm3
    );
    let answer = ask(gz, gy, &query).await;
    assert!(!answer.body.records.is_empty());
    assert_eq!(
        answer.responder.signature.algorithm,
        SignatureAlgorithm::Sm2Sm3
    );
    // Natural persons are named by HMAC-SM3 pseudonyms.
    let ring =
        credex_node::pseudonyms::load_ring(fed.config("gy-1").pseudonyms.keys.as_ref().unwrap())
            .unwrap();
    assert_eq!(ring.suite(), Suite::Sm2Sm3);
    // The answer's receipt (a checkpoint of Guizhou's log) verified in
    // `ask`. Its checkpoint states the SM3 tree's root beside the SHA-256
    // one (decision 1100), which the audit below recomputes.
    let receipt = answer.receipt.as_ref().unwrap();
    let note = credex_protocol::tlog::Note::parse(receipt.checkpoint.as_bytes()).unwrap();
    let checkpoint = credex_protocol::tlog::Checkpoint::parse(note.text()).unwrap();
    assert!(
        checkpoint.sm3_root().unwrap().is_some(),
        "{}",
        receipt.checkpoint
    );
    // Witnessed (the witnesses cosign the body with its SM3 line), both
    // logs audit clean.
    let all: Vec<&RunningNode> = nodes.iter().collect();
    witness_all(&all).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&all, dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    // Each export carries the node's SM2 signing chain: without it, the
    // auditor cannot check the checkpoints' SM2 line, and says so.
    let bare = dir.path().join("without-signing-chain");
    let chain = std::fs::read_to_string(&gy.config().tls.cert).unwrap();
    credex_node::export::export_chains(
        gy.storage(),
        gy.log_key(),
        credex_node::export::NodeChains::tls_only(&chain),
        &bare,
    )
    .await
    .unwrap();
    let report = credex_audit::verify(&[bare], &gy.transport().trust().current());
    assert!(
        findings(&report)
            .iter()
            .any(|(_, rule)| *rule == "signing_certificate"),
        "{:?}",
        findings(&report)
    );
    for node in nodes {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn a_node_whose_messages_would_be_signed_outside_the_suite_does_not_start() {
    let fed = sm2_federation();
    // Without its SM2 signing pair, Guizhou's node would sign with its
    // Ed25519 TLS key.
    let mut config = fed.config("gy-1");
    config.tls.signing = None;
    let Err(e) = RunningNode::start(config).await else {
        panic!("a node signing outside its federation's suite started");
    };
    assert!(matches!(e, StartError::Suite { .. }), "{e}");
    let text = e.to_string();
    assert!(
        text.contains("sm2-sm3") && text.contains("signing_key") && text.contains("gy-1.key"),
        "{text}"
    );
}

#[tokio::test]
async fn a_node_with_a_pseudonym_ring_of_the_other_suite_does_not_start() {
    let fed = sm2_federation();
    let ring = credex_pki::PseudonymKeyRing::new([credex_pki::PseudonymKey::generate(
        1,
        &ring::rand::SystemRandom::new(),
    )
    .unwrap()])
    .unwrap();
    let path = fed.path().join("hmac-sha256.keys");
    credex_node::pseudonyms::save_ring(&path, &ring, true).unwrap();
    let mut config = fed.config("gy-1");
    config.pseudonyms.keys = Some(path);
    let Err(e) = RunningNode::start(config).await else {
        panic!("a node with an HMAC-SHA256 ring started in an sm2-sm3 federation");
    };
    let text = e.to_string();
    assert!(
        text.contains("ed25519-sha256") && text.contains("sm2-sm3") && text.contains("--suite"),
        "{text}"
    );
}

#[tokio::test]
async fn a_region_ca_of_the_other_suite_is_refused_by_its_peers() {
    let fed = sm2_federation();
    let cq = fed.start("cq-1").await;
    // The root's operator re-issues Guizhou a region CA, and it a node
    // certificate: an SM2 one is a peer like any other; an Ed25519 one
    // chains up to the same root, but the federation never mixes suites.
    dial_under_new_region_ca(&fed, &cq, KeyAlgorithm::Sm2, "sm2")
        .await
        .expect("a re-keyed SM2 region CA's node is a peer");
    let err = dial_under_new_region_ca(&fed, &cq, KeyAlgorithm::Ed25519, "ed25519")
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connection { .. }), "{err}");
    cq.shutdown().await;
}

/// Dial `cq` as Guizhou's node, with a node certificate (Ed25519, for TLS)
/// of a new Guizhou region CA with an `alg` key.
async fn dial_under_new_region_ca(
    fed: &Federation,
    cq: &RunningNode,
    alg: KeyAlgorithm,
    label: &str,
) -> Result<credex_node::transport::PeerConnection, ClientError> {
    let dir = fed.path().join(format!("mixed-{label}"));
    let guizhou: credex_protocol::RegionCode = "520000".parse().unwrap();
    let ca = fed
        .root()
        .create_region(guizhou, dir.join("ca"), alg, 30)
        .unwrap();
    let name: credex_protocol::NodeName = "gy-1".parse().unwrap();
    let issued = ca
        .issue_node(
            &name,
            &[credex_node::config::logical_server_name(guizhou, &name)],
            &["127.0.0.1".parse().unwrap()],
            KeyAlgorithm::Ed25519,
            30,
            &dir.join("node"),
        )
        .unwrap();
    let mut config = fed.config("gy-1");
    config.tls.cert = issued.cert;
    config.tls.key = issued.key;
    let transport = credex_node::service::client_transport(&config).unwrap();
    let cq_name: credex_protocol::NodeName = "cq-1".parse().unwrap();
    let chongqing = "500000".parse().unwrap();
    let conn = within(
        "dial",
        transport.connect(
            cq.local_addr(),
            &credex_node::config::logical_server_name(chongqing, &cq_name),
            chongqing,
            Some(cq_name),
        ),
    )
    .await?;
    // A refused client certificate shows on the first exchange.
    conn.request(&credex_protocol::Request::Ping(credex_protocol::Ping {
        nonce: 1,
    }))
    .await?;
    Ok(conn)
}
