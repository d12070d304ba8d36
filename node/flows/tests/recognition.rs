//! Mutual recognition (互认) across four nodes on the harness: results a
//! region issues, re-evaluates and revokes reach every member its
//! agreements bind, exactly once and in order, whatever the links do; each
//! member ends holding the issuer's latest result under the decision its
//! agreements give, and the issuer knows which members recognised it.
//!
//! The issuing side here is the test (it signs and queues what the node's
//! `eval::issue` would); the receiving side is `credex_flows::recognition`
//! as the node runs it.

mod support;

use std::sync::Arc;

use credex_flows::flow::Flow;
use credex_flows::recognition::{HOLDERS_NS, RECEIVED_NS, ReceivedRecord, Recognition};
use credex_pki::TrustStore;
use credex_pki::authorization::sign_node_statement;
use credex_pki::issue::{CertificateAuthority, KeyAlgorithm, Validity, create_root};
use credex_pki::signing::SigningKey;
use credex_policies::egress::release_result_push;
use credex_policies::{AgreementSet, Catalogue};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::{
    AttestationStatus, DOMAIN_EVAL_ATTESTATION, EvaluationAttestation, Scheme,
};
use credex_protocol::federation::DeliveryStatus;
use credex_protocol::recognition::{IssuedAttestation, ResultPush};
use rustls_pki_types::CertificateDer;
use support::{Faults, Line, Net, Rng};

const GY: &str = "520000";
const CQ: &str = "500000";
const GD: &str = "440000";
const NATIONAL: &str = "000000";
const DAY_MS: i64 = 86_400_000;
/// Valid USCCs of Guizhou companies (GB 32100 check characters).
const SUBJECTS: [&str; 3] = [
    "91520000100052019T",
    "91520000100052027M",
    "91520000100052035G",
];

fn region(code: &str) -> RegionCode {
    code.parse().expect("region code")
}

/// A test federation: a root, a region CA and one node per region.
struct Federation {
    trust: Arc<TrustStore>,
    /// The Guizhou node's key and chain (leaf first).
    issuer: (SigningKey, Vec<Vec<u8>>),
    /// The Chongqing node's key and chain: a node of another region.
    impostor: (SigningKey, Vec<Vec<u8>>),
}

fn federation() -> Federation {
    let now = time::OffsetDateTime::now_utc();
    let validity = Validity::days_from(now - time::Duration::days(1), 3650);
    let root = create_root("credex test root", KeyAlgorithm::Ed25519, validity).expect("root");
    let root_ca = CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem).expect("root CA");
    let node_of = |code: &str| {
        let rca = root_ca
            .issue_region_ca(region(code), KeyAlgorithm::Ed25519, validity)
            .expect("region CA");
        let ca = CertificateAuthority::from_pem(&rca.cert_pem, &rca.key_pem).expect("region CA");
        let name = format!("n-{code}").parse().expect("node name");
        let node = ca
            .issue_node(&name, &[], &[], KeyAlgorithm::Ed25519, validity)
            .expect("node");
        let key = SigningKey::from_pkcs8_pem(&node.key_pem).expect("node key");
        (key, vec![node.cert_der, rca.cert_der])
    };
    Federation {
        trust: Arc::new(
            TrustStore::new(CertificateDer::from(root.cert_der), Vec::new()).expect("trust"),
        ),
        issuer: node_of(GY),
        impostor: node_of(CQ),
    }
}

/// Sign `a` as the node whose key and chain are `signer`.
fn sign(signer: &(SigningKey, Vec<Vec<u8>>), a: EvaluationAttestation) -> IssuedAttestation {
    let bytes = credex_protocol::encode(&a).expect("encode");
    let issuer = sign_node_statement(DOMAIN_EVAL_ATTESTATION, &bytes, &signer.0, signer.1.clone())
        .expect("sign");
    IssuedAttestation {
        attestation: a,
        issuer,
    }
}

fn attestation(rng: &mut Rng, subject: &str, grade: &str, now: i64) -> EvaluationAttestation {
    EvaluationAttestation {
        attestation_id: rng.id(),
        issuer_region: region(GY),
        issuer_node: format!("n-{GY}").parse().expect("node name"),
        scheme: Scheme::PublicCredit,
        scheme_version: "2024".into(),
        subject: subject.into(),
        grade: grade.into(),
        period_start: "2025-01-01".into(),
        period_end: "2025-12-31".into(),
        issued_at_ms: now,
        valid_until_ms: now + 200 * DAY_MS,
        status: AttestationStatus::Active,
        supersedes: None,
    }
}

/// The network: Guizhou issues; Chongqing and Guangdong recognise public
/// credit results of Guizhou under the shipped agreements; the national
/// platform takes part in no recognition agreement here.
fn network(seed: u64, faults: Faults, fed: &Federation, now: i64) -> Net {
    let mut net = Net::new(seed, faults, Arc::clone(&fed.trust), now);
    for code in [GY, CQ, GD, NATIONAL] {
        let flow: Arc<dyn Flow> = Arc::new(Recognition::new(region(code), AgreementSet::builtin()));
        net.add_node(region(code), &format!("n-{code}"), vec![flow]);
    }
    net
}

/// Queue a push of `result` from Guizhou to `to` (as `eval::issue` does).
fn push(net: &mut Net, to: &str, result: &IssuedAttestation) {
    let body = release_result_push(
        &AgreementSet::builtin(),
        &Catalogue::base(),
        region(GY),
        region(to),
        &ResultPush {
            result: result.clone(),
        },
    )
    .expect("an agreement binds Guizhou and the member");
    net.queue(region(GY), body);
}

fn held(net: &Net, at: &str, subject: &str) -> Option<ReceivedRecord> {
    net.node(region(at))
        .state(RECEIVED_NS, &format!("{subject}/public_credit/{GY}"))
}

/// One seeded run: each subject gets a result, a re-evaluation that
/// supersedes it and, for the last subject, a revocation of that.
fn run(seed: u64, fed: &Federation) -> usize {
    let mut rng = Rng(seed ^ 0x5eed);
    let faults = Faults::random(&mut rng);
    let start = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut net = network(seed, faults, fed, start);
    let mut latest = Vec::new();
    for (i, subject) in SUBJECTS.iter().enumerate() {
        let first = sign(&fed.issuer, attestation(&mut net.rng, subject, "优", start));
        let mut second = attestation(&mut net.rng, subject, "良", start + 1);
        second.supersedes = Some(first.attestation.attestation_id);
        let second = sign(&fed.issuer, second);
        let mut last = second.clone();
        for member in [CQ, GD] {
            push(&mut net, member, &first);
        }
        net.advance(rng.below(2_000) as i64);
        for member in [CQ, GD] {
            push(&mut net, member, &second);
        }
        if i == SUBJECTS.len() - 1 {
            let mut revoked = attestation(&mut net.rng, subject, "良", start + 2);
            revoked.status = AttestationStatus::Revoked {
                reason: "objection upheld".into(),
            };
            revoked.supersedes = Some(second.attestation.attestation_id);
            last = sign(&fed.issuer, revoked);
            for member in [CQ, GD] {
                push(&mut net, member, &last);
            }
        }
        latest.push(last);
        net.advance(rng.below(5_000) as i64);
    }
    net.run_until_quiet();
    check(seed, &net, &latest);
    net.nodes
        .values()
        .flat_map(|n| &n.journal)
        .filter(|l| {
            matches!(
                l,
                Line::Received {
                    duplicate: true,
                    ..
                }
            )
        })
        .count()
}

fn check(seed: u64, net: &Net, latest: &[IssuedAttestation]) {
    for member in [CQ, GD] {
        let node = net.node(region(member));
        // Every push applied once: 2 per subject, 3 for the revoked one.
        let applied = node
            .journal
            .iter()
            .filter(|l| {
                matches!(
                    l,
                    Line::Received {
                        duplicate: false,
                        status: DeliveryStatus::Applied,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(applied, 2 * SUBJECTS.len() + 1, "seed {seed}: {member}");
        for result in latest {
            let a = &result.attestation;
            let held = held(net, member, &a.subject)
                .unwrap_or_else(|| panic!("seed {seed}: {member} holds nothing for {}", a.subject));
            assert_eq!(
                held.result, *result,
                "seed {seed}: {member} holds the latest"
            );
            let in_force = a.status == AttestationStatus::Active;
            assert_eq!(held.decision.recognised, in_force, "seed {seed}: {member}");
        }
    }
    let issuer = net.node(region(GY));
    assert_eq!(issuer.outbox_len(), 0, "seed {seed}: the outbox drained");
    // Members that recognised a result are holders of it (for its changes).
    for result in latest
        .iter()
        .filter(|r| r.attestation.status == AttestationStatus::Active)
    {
        for member in [CQ, GD] {
            let key = format!("public_credit/{}/{member}", result.attestation.subject);
            let id = issuer
                .state
                .get(&credex_flows::flow::StateKey::new(HOLDERS_NS, key))
                .unwrap_or_else(|| panic!("seed {seed}: {member} not a holder"));
            assert_eq!(id.as_slice(), result.attestation.attestation_id);
        }
    }
    // Log agreement: what the issuer logged as sent is what members gave.
    let sent = issuer
        .journal
        .iter()
        .filter(|l| matches!(l, Line::Sent { .. }))
        .count();
    assert_eq!(
        sent,
        2 * (2 * SUBJECTS.len() + 1),
        "seed {seed}: sent once each"
    );
}

#[test]
fn results_reach_every_member_once_and_the_latest_wins_under_faults() {
    let fed = federation();
    let duplicates: usize = (0..300).map(|seed| run(seed, &fed)).sum();
    // The links did misbehave: members saw deliveries again.
    assert!(duplicates > 100, "only {duplicates} duplicate deliveries");
}

#[test]
fn a_result_signed_by_another_regions_node_is_refused_for_good() {
    let fed = federation();
    let start = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut net = network(1, Faults::NONE, &fed, start);
    let forged = sign(
        &fed.impostor,
        attestation(&mut net.rng, SUBJECTS[0], "优", start),
    );
    push(&mut net, CQ, &forged);
    net.run_until_quiet();
    let received = &net.node(region(CQ)).journal[0];
    let Line::Received {
        status: DeliveryStatus::Refused { reason },
        ..
    } = received
    else {
        panic!("expected a refusal, got {received:?}");
    };
    assert!(reason.starts_with("not-verified: "), "{reason}");
    assert!(held(&net, CQ, SUBJECTS[0]).is_none());
}

#[test]
fn an_older_result_arriving_late_changes_nothing() {
    let fed = federation();
    let start = time::OffsetDateTime::now_utc().unix_timestamp() * 1000;
    let mut net = network(2, Faults::NONE, &fed, start);
    let older = sign(
        &fed.issuer,
        attestation(&mut net.rng, SUBJECTS[1], "优", start),
    );
    let newer = sign(
        &fed.issuer,
        attestation(&mut net.rng, SUBJECTS[1], "良", start + 10),
    );
    push(&mut net, GD, &newer);
    push(&mut net, GD, &older);
    net.run_until_quiet();
    let held = held(&net, GD, SUBJECTS[1]).expect("held");
    assert_eq!(held.result, newer);
    let Line::Received { summary, .. } = &net.node(region(GD)).journal[1] else {
        panic!("expected the second delivery");
    };
    assert!(summary.contains("superseded"), "{summary}");
}
