//! Mutual recognition of credit evaluation results (信用评价结果互认) between
//! real nodes on loopback: results pushed through the federation outbox,
//! decided by the receiver against the agreements, changes propagating
//! across a restart, exactly once, in the logs, and through the ordinary
//! query path.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use credex_journal::{MessageReceived, ReceivedOutcome, kind as fed_kind};
use credex_node::config::NodeConfig;
use credex_node::eval::{self, IssueOutcome, ReceivedRecord};
use credex_node::requester::{self, QuerySpec, Signer};
use credex_node::service::{RunningNode, now_ms};
use credex_pki::authorization::sign_node_statement;
use credex_protocol::evaluation::{AttestationStatus, EvaluationAttestation, Scheme};
use credex_protocol::federation::{
    DOMAIN_FEDERATION_MESSAGE, DeliveryStatus, Envelope, Flow, SignedEnvelope,
};
use credex_protocol::query::{CategoryFields, Outcome, SubjectAuthorization, SubjectRef};
use credex_protocol::recognition::{IssuedAttestation, ResultPush, kind as push_kind};
use credex_protocol::{RegionCode, Request, Response};
use credex_tests::{dial, init_tracing, until_stored, within};

const GY: &str = "520000";
const CQ: &str = "500000";
const GD: &str = "440000";
const BJ: &str = "110000";
const DAY: i64 = 86_400_000;

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

/// A federation of the given provinces whose nodes listen on free
/// loopback ports and know each other's.
struct Fed {
    dir: tempfile::TempDir,
    configs: BTreeMap<&'static str, NodeConfig>,
}

impl Fed {
    fn new(codes: &[&str]) -> Fed {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let regions: Vec<_> = credex_kit::dev::PROVINCES
            .iter()
            .copied()
            .filter(|(code, _, _)| codes.contains(code))
            .collect();
        let nodes = credex_kit::dev::init_regions(dir.path(), 1, &regions).unwrap();
        // Hold every socket until all ports are picked, so they differ.
        let sockets: Vec<_> = nodes
            .iter()
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: BTreeMap<RegionCode, u16> = nodes
            .iter()
            .zip(&sockets)
            .map(|(n, s)| (n.region, s.local_addr().unwrap().port()))
            .collect();
        drop(sockets);
        let mut configs = BTreeMap::new();
        for (n, (code, _, _)) in nodes.iter().zip(&regions) {
            let mut c = NodeConfig::load(&n.config).unwrap();
            c.listen.set_port(ports[&n.region]);
            for p in &mut c.peers {
                p.addr.set_port(ports[&p.region]);
            }
            configs.insert(*code, c);
        }
        Fed { dir, configs }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn config(&self, code: &str) -> NodeConfig {
        self.configs[code].clone()
    }

    async fn start(&self, code: &str) -> RunningNode {
        RunningNode::start(self.config(code)).await.unwrap()
    }

    fn signer(&self, code: &str, name: &str) -> Signer {
        let dir = if name == "portal" {
            self.path().join(format!("authorities/{code}"))
        } else {
            self.path().join(format!("operators/{code}"))
        };
        Signer::load(
            &dir.join(format!("{name}.pem")),
            &dir.join(format!("{name}.key")),
        )
        .unwrap()
    }
}

fn subject(code: &str, n: u32) -> String {
    credex_kit::dev::synthetic_uscc(region(code), region(code).as_u32() / 10_000 * 100 + n)
}

/// Write `rows` as a JSON Lines import file and import it at `node`.
async fn import(node: &RunningNode, dir: &Path, name: &str, rows: &[String]) -> Vec<IssueOutcome> {
    credex_tests::import_results(node, dir, name, rows).await
}

fn row(subject: &str, scheme: &str, version: &str, grade: &str) -> String {
    format!(
        r#"{{"subject":"{subject}","scheme":"{scheme}","scheme_version":"{version}","grade":"{grade}","period_start":"2025-01-01","period_end":"2025-12-31","valid_until":"2027-06-30"}}"#
    )
}

/// The effective grade of `subject` under `scheme` at `node`, now.
async fn effective(node: &RunningNode, subject: &str, scheme: Scheme) -> Option<String> {
    let agreements = eval::load_agreements(node.config()).unwrap();
    let e = eval::effective(
        node.storage(),
        &agreements,
        node.config().region,
        subject,
        now_ms(),
    )
    .await
    .unwrap();
    e.schemes
        .into_iter()
        .find(|s| s.scheme == scheme)
        .and_then(|s| s.grade)
}

/// Wait until the condition (which may `.await`) holds, checking it
/// again after each write of `node`'s store (20 s at most).
macro_rules! until {
    ($node:expr, $what:expr, $cond:expr) => {
        until_stored($node.storage(), $what, || async { $cond }).await
    };
}

async fn received(node: &RunningNode, subject: &str, issuer: &str) -> Vec<ReceivedRecord> {
    node.storage()
        .state_scan(eval::RECEIVED_NS, &format!("{subject}/"), None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k.ends_with(issuer))
        .map(|(_, v)| credex_protocol::decode(&v).unwrap())
        .collect()
}

async fn decision_of(node: &RunningNode, subject: &str, issuer: &str) -> Option<String> {
    received(node, subject, issuer)
        .await
        .first()
        .map(|r| r.decision.reason_code.clone())
}

/// The recognition messages in `node`'s log (kind 7, flow recognition).
async fn recognition_log(node: &RunningNode) -> Vec<MessageReceived> {
    node.storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == fed_kind::MESSAGE_RECEIVED)
        .map(|r| credex_protocol::decode::<MessageReceived>(&r.body).unwrap())
        .filter(|m| m.flow == Flow::Recognition)
        .collect()
}

/// The index of the entry in which `node` logged receiving message `digest`.
async fn received_at(node: &RunningNode, digest: &[u8; 32]) -> u64 {
    node.storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .into_iter()
        .find(|r| {
            r.kind == fed_kind::MESSAGE_RECEIVED
                && credex_protocol::decode::<MessageReceived>(&r.body)
                    .is_ok_and(|m| m.message_digest == *digest)
        })
        .map(|r| r.seq)
        .expect("the message's entry")
}

async fn audit_passes(nodes: &[&RunningNode]) {
    credex_tests::witness_all(nodes).await;
    let out = tempfile::tempdir().unwrap();
    let mut dirs: Vec<PathBuf> = Vec::new();
    for node in nodes {
        let dir = out.path().join(node.config().name.as_str());
        let chain = std::fs::read_to_string(&node.config().tls.cert).unwrap();
        credex_node::export::export(node.storage(), node.log_key(), &chain, &dir)
            .await
            .unwrap();
        dirs.push(dir);
    }
    let report = credex_audit::verify(&dirs, &nodes[0].transport().trust().current());
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.logs.len(), nodes.len());
}

/// A push of `result` from `from` to `to`, signed with `from`'s real node
/// key, sent over a real connection; returns the delivery status.
async fn deliver(
    fed: &Fed,
    from: &RunningNode,
    to: &RunningNode,
    result: IssuedAttestation,
) -> DeliveryStatus {
    let payload = credex_protocol::encode(&ResultPush { result }).unwrap();
    let signed = envelope(fed, from, to.config().region, payload);
    deliver_envelope(from, to, signed).await
}

fn envelope(fed: &Fed, from: &RunningNode, to: RegionCode, payload: Vec<u8>) -> SignedEnvelope {
    let config = fed.config(&from.config().region.to_string());
    let identity = credex_node::boot::NodeIdentity::load(&config).unwrap();
    let (key, chain): (_, Vec<Vec<u8>>) = (identity.signing_key, identity.chain);
    let envelope = Envelope {
        message_id: requester::random_id(),
        flow: Flow::Recognition,
        kind: push_kind::RESULT_PUSH,
        from_region: config.region,
        from_node: config.name.clone(),
        to_region: to,
        created_at_ms: now_ms(),
        // A record that releases exactly what the body carries: these
        // forgeries are about signatures and agreements, not egress.
        egress: credex_tests::egress_as_carried(
            Flow::Recognition,
            push_kind::RESULT_PUSH,
            &payload,
        ),
        payload,
    };
    let bytes = credex_protocol::encode(&envelope).unwrap();
    let sender = sign_node_statement(DOMAIN_FEDERATION_MESSAGE, &bytes, &key, chain).unwrap();
    SignedEnvelope { envelope, sender }
}

async fn deliver_envelope(
    from: &RunningNode,
    to: &RunningNode,
    signed: SignedEnvelope,
) -> DeliveryStatus {
    let conn = within(
        "dial",
        dial(
            from,
            to,
            &to.config().region.to_string(),
            to.config().name.as_str(),
        ),
    )
    .await
    .unwrap();
    let response = within("deliver", conn.request(&Request::Deliver(Box::new(signed))))
        .await
        .unwrap();
    conn.close();
    match response {
        Response::Delivered(ack) => ack.ack.status,
        other => panic!("expected an acknowledgement, got {other:?}"),
    }
}

fn attestation(
    issuer: &RunningNode,
    subject: &str,
    scheme: Scheme,
    grade: &str,
) -> EvaluationAttestation {
    EvaluationAttestation {
        attestation_id: requester::random_id(),
        issuer_region: issuer.config().region,
        issuer_node: issuer.config().name.clone(),
        scheme,
        scheme_version: match scheme {
            Scheme::PublicCredit => "2024",
            Scheme::TaxCredit => "2025",
            Scheme::EnvironmentalCredit => "2013",
        }
        .into(),
        subject: subject.into(),
        grade: grade.into(),
        period_start: "2025-01-01".into(),
        period_end: "2025-12-31".into(),
        issued_at_ms: now_ms() - DAY,
        valid_until_ms: now_ms() + 200 * DAY,
        status: AttestationStatus::Active,
        supersedes: None,
    }
}

/// Guizhou issues; Chongqing (Chongqing–Guizhou agreement) and Guangdong
/// (Pan-Pearl River) recognise. Two downgrades reach both, the second
/// while Chongqing is down; every decision is in Chongqing's log, the logs
/// pass the audit, and a re-delivered push changes nothing.
#[tokio::test]
async fn a_downgrade_reaches_both_members_and_survives_a_restart() {
    let fed = Fed::new(&[GY, CQ, GD]);
    let gy = fed.start(GY).await;
    let mut cq = fed.start(CQ).await;
    let gd = fed.start(GD).await;
    let s = subject(GY, 1);

    // First result: 优 (top grade) → Chongqing A, Guangdong A.
    let out = import(
        &gy,
        fed.path(),
        "first",
        &[row(&s, "public_credit", "2024", "优")],
    )
    .await;
    let IssueOutcome::Issued { pushed_to, .. } = &out[0] else {
        panic!("expected a new result, got {out:?}");
    };
    assert!(pushed_to.contains(&region(CQ)) && pushed_to.contains(&region(GD)));
    for (node, grade) in [(&cq, "A"), (&gd, "A")] {
        until!(node, "first result recognised", {
            effective(node, &s, Scheme::PublicCredit).await.as_deref() == Some(grade)
        });
    }
    // The treatment Chongqing grants for a recognised top grade.
    let agreements = eval::load_agreements(cq.config()).unwrap();
    let e = eval::effective(cq.storage(), &agreements, region(CQ), &s, now_ms())
        .await
        .unwrap();
    let pc = &e.schemes[0];
    assert_eq!(pc.common_grade.as_deref(), Some("I"));
    assert!(pc.green_channel);
    let decided = &pc.inputs[pc.decided_by.unwrap()];
    assert_eq!(
        (
            decided.source,
            decided.issuer_region.as_str(),
            decided.grade.as_str()
        ),
        ("recognised", GY, "优")
    );
    assert_eq!(decided.agreement.as_deref(), Some("chongqing-guizhou"));
    // Both acknowledgements recorded who holds the result.
    until!(&gy, "acks recorded", {
        gy.storage()
            .state_scan(eval::HOLDERS_NS, &format!("public_credit/{s}/"), None, 10)
            .await
            .unwrap()
            .len()
            == 2
    });
    // Importing the same result again changes nothing.
    let out = import(
        &gy,
        fed.path(),
        "again",
        &[row(&s, "public_credit", "2024", "优")],
    )
    .await;
    assert_eq!(out, [IssueOutcome::Unchanged]);

    // Downgrade to 中 → C at both.
    let out = import(
        &gy,
        fed.path(),
        "second",
        &[row(&s, "public_credit", "2024", "中")],
    )
    .await;
    assert!(matches!(out[0], IssueOutcome::Superseded { .. }), "{out:?}");
    for node in [&cq, &gd] {
        until!(node, "downgrade recognised", {
            effective(node, &s, Scheme::PublicCredit).await.as_deref() == Some("C")
        });
    }
    until!(&gy, "outbox drained", {
        gy.federation().outbox().await.unwrap().is_empty()
    });

    // Chongqing goes down; the issuer downgrades again to 差.
    cq.shutdown().await;
    import(
        &gy,
        fed.path(),
        "third",
        &[row(&s, "public_credit", "2024", "差")],
    )
    .await;
    until!(&gd, "Guangdong sees D", {
        effective(&gd, &s, Scheme::PublicCredit).await.as_deref() == Some("D")
    });
    until!(&gy, "a delivery attempt to Chongqing failed", {
        gy.federation()
            .outbox()
            .await
            .unwrap()
            .iter()
            .any(|m| m.to_region == region(CQ) && m.attempts >= 1)
    });
    // Guangdong applied the change before Guizhou took its acknowledgement
    // in: wait for Guizhou's side too.
    until!(&gy, "Guangdong's acknowledgement taken in", {
        gy.federation().pending_for(region(GD)).await.unwrap() == 0
    });
    assert_eq!(gy.federation().pending_for(region(CQ)).await.unwrap(), 1);

    // Chongqing restarts with the same configuration and data.
    cq = fed.start(CQ).await;
    assert_eq!(
        effective(&cq, &s, Scheme::PublicCredit).await.as_deref(),
        Some("C"),
        "the restarted node still holds the earlier result"
    );
    until!(&cq, "the update reaches the restarted node", {
        effective(&cq, &s, Scheme::PublicCredit).await.as_deref() == Some("D")
    });
    until!(&gy, "outbox drained after the restart", {
        gy.federation().pending_for(region(CQ)).await.unwrap() == 0
    });

    // Every decision is in Chongqing's log: three pushes, applied, each
    // naming its attestation and the decision.
    let issued = eval::list(gy.storage()).await.unwrap();
    assert_eq!(issued.len(), 1);
    let log = recognition_log(&cq).await;
    assert_eq!(log.len(), 3, "{log:#?}");
    for m in &log {
        assert_eq!(m.outcome, ReceivedOutcome::Applied);
        assert!(
            m.summary.contains("→ recognised under chongqing-guizhou"),
            "{}",
            m.summary
        );
        assert!(!m.summary.contains(&s), "no clear USCC in the log");
    }
    for grade in ["优", "中", "差"] {
        assert_eq!(
            log.iter()
                .filter(|m| m.summary.contains(&format!("grade {grade:?}")))
                .count(),
            1,
            "{grade}"
        );
    }

    // Exactly once: the first push delivered again (the signed envelope as
    // Chongqing logged it) is a duplicate and changes nothing.
    let first_digest = log[0].message_digest;
    let first: SignedEnvelope = credex_protocol::decode(
        &cq.storage()
            .entry_attachment(received_at(&cq, &first_digest).await, &first_digest)
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    let first_payload = first.envelope.payload.clone();
    let status = deliver_envelope(&gy, &cq, first).await;
    assert_eq!(status, DeliveryStatus::AlreadyApplied);
    assert_eq!(
        effective(&cq, &s, Scheme::PublicCredit).await.as_deref(),
        Some("D")
    );
    let log = recognition_log(&cq).await;
    assert_eq!(log.len(), 4);
    assert_eq!(log[3].outcome, ReceivedOutcome::Duplicate);

    // The first result pushed afresh (a new message: say, relayed late)
    // does not win over the newer one held.
    let old: ResultPush = credex_protocol::decode(&first_payload).unwrap();
    assert_eq!(old.result.attestation.grade, "优");
    assert_eq!(
        deliver(&fed, &gy, &cq, old.result).await,
        DeliveryStatus::Applied
    );
    let held = received(&cq, &s, GY).await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].result.attestation.grade, "差");
    assert_eq!(
        effective(&cq, &s, Scheme::PublicCredit).await.as_deref(),
        Some("D")
    );
    let log = recognition_log(&cq).await;
    assert!(
        log[4].summary.contains("→ superseded"),
        "{}",
        log[4].summary
    );

    audit_passes(&[&gy, &cq, &gd]).await;

    // A revocation propagates too: no grade counts any more.
    let (_, pushed) = eval::revoke(
        gy.federation(),
        &eval::load_agreements(gy.config()).unwrap(),
        gy.queries().policy().catalogue(),
        &s,
        Scheme::PublicCredit,
        "异议成立",
        now_ms(),
    )
    .await
    .unwrap();
    assert!(pushed.contains(&region(CQ)) && pushed.contains(&region(GD)));
    for node in [&cq, &gd] {
        until!(node, "revocation applied", {
            decision_of(node, &s, GY).await.as_deref() == Some("revoked")
        });
        assert_eq!(effective(node, &s, Scheme::PublicCredit).await, None);
    }
    // A re-evaluation after the revocation, dated before it (the
    // evaluation was made before the revocation was filed), supersedes it.
    let late = format!(
        r#"{{"subject":"{s}","scheme":"public_credit","scheme_version":"2024","grade":"良","period_start":"2025-01-01","period_end":"2025-12-31","issued_at":{},"valid_until":"2027-06-30"}}"#,
        now_ms() - DAY
    );
    import(&gy, fed.path(), "late", &[late]).await;
    for node in [&cq, &gd] {
        until!(node, "re-evaluation after the revocation applied", {
            effective(node, &s, Scheme::PublicCredit).await.as_deref() == Some("B")
        });
    }
    // The issuer journalled each issue, downgrade and revocation, with the
    // subject as a digest only.
    let issued: Vec<credex_journal::EvaluationIssued> = gy
        .storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == credex_journal::kind::EVALUATION_ISSUED)
        .inspect(|r| assert!(!String::from_utf8_lossy(&r.body).contains(&s)))
        .map(|r| credex_protocol::decode(&r.body).unwrap())
        .collect();
    let grades: Vec<(&str, bool)> = issued
        .iter()
        .map(|e| (e.grade.as_str(), e.revoked))
        .collect();
    assert_eq!(
        grades,
        [
            ("优", false),
            ("中", false),
            ("差", false),
            ("差", true),
            ("良", false)
        ]
    );
    let digest = credex_journal::subject_digest(&SubjectRef::LegalPerson(s.clone()));
    assert!(issued.iter().all(|e| e.subject_digest == digest));
    assert!(
        issued[1..]
            .iter()
            .zip(&issued)
            .all(|(later, earlier)| later.supersedes == Some(earlier.attestation_id))
    );
    for node in [gy, cq, gd] {
        node.shutdown().await;
    }
}

/// Results the receiver must not recognise: from a region with no
/// agreement with it, expired, with a forged signature, or under a scheme
/// the agreement does not list. Every decision is logged and the log
/// passes the audit.
#[tokio::test]
async fn results_outside_the_agreements_are_not_recognised() {
    let fed = Fed::new(&[GY, CQ, GD, BJ]);
    let gy = fed.start(GY).await;
    let cq = fed.start(CQ).await;
    let gd = fed.start(GD).await;
    let bj = fed.start(BJ).await;

    // Beijing is in no agreement with Chongqing: its import refuses a grade
    // scale it has none of, and a result it pushes anyway is not recognised.
    let s_bj = subject(BJ, 1);
    let file = fed.path().join("bj.jsonl");
    std::fs::write(&file, row(&s_bj, "public_credit", "2024", "A")).unwrap();
    let err = eval::parse_results(
        &file,
        region(BJ),
        &eval::load_agreements(bj.config()).unwrap(),
        now_ms(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains(":1:") && err.contains("no agreement gives region 110000"),
        "{err}"
    );
    let result = eval::sign_attestation(
        bj.federation(),
        attestation(&bj, &s_bj, Scheme::PublicCredit, "A"),
    )
    .unwrap();
    let to = [region(CQ)].into_iter().collect();
    // The egress gate releases nothing to a region no agreement binds…
    let agreements = eval::load_agreements(bj.config()).unwrap();
    let catalogue = credex_policies::Catalogue::base();
    let (writes, pushed) = eval::push_writes(
        bj.federation(),
        &agreements,
        &catalogue,
        &result,
        &to,
        &Default::default(),
        now_ms(),
    )
    .unwrap();
    assert!(writes.is_empty() && pushed.is_empty());
    // …so a Beijing node that goes around it (a doctored sender) is
    // refused by Chongqing's agreements instead.
    let push = credex_protocol::recognition::ResultPush {
        result: result.clone(),
    };
    let body = credex_tests::unchecked_body(
        Flow::Recognition,
        push_kind::RESULT_PUSH,
        region(CQ),
        credex_protocol::encode(&push).unwrap(),
    );
    let (_, write) = bj.federation().prepare(body, now_ms()).unwrap();
    let writes = vec![write];
    bj.storage().write_state(writes).await.unwrap();
    bj.federation().wake();
    until!(&cq, "Beijing's result decided", {
        decision_of(&cq, &s_bj, BJ).await.is_some()
    });
    assert_eq!(
        decision_of(&cq, &s_bj, BJ).await.as_deref(),
        Some("no_agreement")
    );
    assert_eq!(effective(&cq, &s_bj, Scheme::PublicCredit).await, None);

    // Expired: issued in 2024, valid until the end of 2024.
    let s_old = subject(GY, 2);
    let old = format!(
        r#"{{"subject":"{s_old}","scheme":"public_credit","scheme_version":"2024","grade":"优","period_start":"2023-01-01","period_end":"2023-12-31","issued_at":"2024-01-15","valid_until":"2024-12-31"}}"#
    );
    import(&gy, fed.path(), "old", &[old]).await;
    for node in [&cq, &gd] {
        until!(node, "expired result decided", {
            decision_of(node, &s_old, GY).await.is_some()
        });
        assert_eq!(
            decision_of(node, &s_old, GY).await.as_deref(),
            Some("expired")
        );
        assert_eq!(effective(node, &s_old, Scheme::PublicCredit).await, None);
    }

    // A scheme the agreement does not list: Chongqing–Guizhou has no
    // environmental credit. Chongqing is not subscribed to Guizhou's
    // environmental results (Guangdong is, under Pan-Pearl River) …
    let s_env = subject(GY, 3);
    let out = import(
        &gy,
        fed.path(),
        "env",
        &[row(&s_env, "environmental_credit", "2013", "蓝")],
    )
    .await;
    let IssueOutcome::Issued { pushed_to, .. } = &out[0] else {
        panic!("{out:?}")
    };
    assert!(pushed_to.contains(&region(GD)) && !pushed_to.contains(&region(CQ)));
    until!(&gd, "Guangdong recognises the environmental result", {
        effective(&gd, &s_env, Scheme::EnvironmentalCredit)
            .await
            .as_deref()
            == Some("蓝")
    });
    // … and one pushed to it anyway is not recognised.
    let env = eval::sign_attestation(
        gy.federation(),
        attestation(&gy, &s_env, Scheme::EnvironmentalCredit, "蓝"),
    )
    .unwrap();
    assert_eq!(deliver(&fed, &gy, &cq, env).await, DeliveryStatus::Applied);
    assert_eq!(
        decision_of(&cq, &s_env, GY).await.as_deref(),
        Some("scheme_not_recognised")
    );
    assert_eq!(
        effective(&cq, &s_env, Scheme::EnvironmentalCredit).await,
        None
    );

    // Forged signatures, delivered over real connections by real nodes.
    let s_forged = subject(GY, 4);
    // (a) A real Guizhou attestation of 差, tampered to 优.
    let mut tampered = eval::sign_attestation(
        gy.federation(),
        attestation(&gy, &s_forged, Scheme::PublicCredit, "差"),
    )
    .unwrap();
    tampered.attestation.grade = "优".into();
    let status = deliver(&fed, &gy, &cq, tampered).await;
    let DeliveryStatus::Refused { reason } = status else {
        panic!("tampered attestation accepted: {status:?}")
    };
    assert!(reason.contains("signature"), "{reason}");
    // (b) Guangdong signs a result in Guizhou's name with its own key.
    let mut claim = attestation(&gd, &s_forged, Scheme::PublicCredit, "优");
    claim.issuer_region = region(GY);
    claim.issuer_node = "gy-1".parse().unwrap();
    let impostor = eval::sign_attestation(gd.federation(), claim).unwrap();
    let status = deliver(&fed, &gd, &cq, impostor).await;
    assert!(
        matches!(&status, DeliveryStatus::Refused { reason } if reason.contains("signature")),
        "{status:?}"
    );
    // (c) Guizhou's real signature, but pushed with the chain swapped for
    // Guangdong's (a relay cannot re-sign a result it did not issue).
    let mut swapped = eval::sign_attestation(
        gy.federation(),
        attestation(&gy, &s_forged, Scheme::PublicCredit, "优"),
    )
    .unwrap();
    swapped.issuer = eval::sign_attestation(
        gd.federation(),
        attestation(&gd, &s_forged, Scheme::PublicCredit, "优"),
    )
    .unwrap()
    .issuer;
    assert!(matches!(
        deliver(&fed, &gd, &cq, swapped).await,
        DeliveryStatus::Refused { .. }
    ));
    assert!(received(&cq, &s_forged, GY).await.is_empty());
    assert_eq!(effective(&cq, &s_forged, Scheme::PublicCredit).await, None);
    // A valid result relayed by another member is verified from its own
    // chain and recognised.
    let relayed = eval::sign_attestation(
        gy.federation(),
        attestation(&gy, &s_forged, Scheme::PublicCredit, "良"),
    )
    .unwrap();
    assert_eq!(
        deliver(&fed, &gd, &cq, relayed).await,
        DeliveryStatus::Applied
    );
    assert_eq!(
        effective(&cq, &s_forged, Scheme::PublicCredit)
            .await
            .as_deref(),
        Some("B")
    );

    // Every decision is in Chongqing's log: Beijing's, the expired one,
    // the unlisted scheme, three refused forgeries, the relayed one.
    let log = recognition_log(&cq).await;
    let codes: Vec<String> = log
        .iter()
        .map(|m| match &m.outcome {
            o if o.is_refused() => "refused".to_owned(),
            _ => m
                .summary
                .split("→ ")
                .nth(1)
                .and_then(|s| s.split([' ', ';']).next())
                .unwrap_or("")
                .to_owned(),
        })
        .collect();
    assert_eq!(
        codes,
        [
            "no_agreement",
            "expired",
            "scheme_not_recognised",
            "refused",
            "refused",
            "refused",
            "recognised"
        ]
    );
    audit_passes(&[&cq, &gy, &gd, &bj]).await;
    for node in [gy, cq, gd, bj] {
        node.shutdown().await;
    }
}

/// "A member asks another member for a subject's current result": an
/// ordinary dual-authorized query for the evaluation category; the
/// requester recognises the attestation in the response and logs it.
#[tokio::test]
async fn a_result_fetched_by_an_ordinary_query_is_recognised() {
    let fed = Fed::new(&[GY, CQ]);
    let gy = fed.start(GY).await;
    let cq = fed.start(CQ).await;
    let s = subject(GY, 5);
    import(
        &gy,
        fed.path(),
        "r",
        &[row(&s, "public_credit", "2024", "良")],
    )
    .await;

    let now = now_ms();
    let consent = requester::issue_authorization(
        &fed.signer(GY, "portal"),
        SubjectAuthorization {
            authorization_id: requester::random_id(),
            subject: SubjectRef::LegalPerson(s.clone()),
            grantee_region: region(CQ),
            purposes: vec!["financing".into()],
            categories: vec!["public_credit_evaluation".into()],
            not_before_ms: now - DAY,
            not_after_ms: now + DAY,
            max_uses: 1,
        },
    )
    .unwrap();
    let spec = QuerySpec {
        target_region: region(GY),
        subject: SubjectRef::LegalPerson(s.clone()),
        purpose: "financing".into(),
        requested: vec![CategoryFields {
            category: "public_credit_evaluation".into(),
            fields: vec!["attestation".into(), "period".into()],
        }],
        legal_basis: None,
        subject_authorization: Some(consent),
    };
    let mut file = requester::draft_and_sign(
        region(CQ),
        cq.config().name.clone(),
        spec,
        &fed.signer(CQ, "req-1"),
        SystemTime::now(),
    )
    .unwrap();
    requester::approve(&mut file, &fed.signer(CQ, "apv-1")).unwrap();
    let query = file.authorized().unwrap();
    let conn = within("dial", dial(&cq, &gy, GY, "gy-1")).await.unwrap();
    let trust = cq.transport().trust().current();
    let response = within(
        "query",
        requester::send(&conn, &trust, cq.storage(), &query),
    )
    .await
    .unwrap();
    assert_eq!(response.body.outcome, Outcome::Granted);
    assert_eq!(response.body.records.len(), 1);

    let before = cq.storage().journal_len().await.unwrap();
    let found = eval::recognise_from_response(
        cq.storage(),
        &trust,
        &eval::load_agreements(cq.config()).unwrap(),
        region(CQ),
        &response,
        now_ms(),
    )
    .await
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].attestation.grade, "良");
    assert!(found[0].decision.recognised);
    assert_eq!(found[0].decision.local_grade.as_deref(), Some("B"));
    let entries = cq.storage().journal_range(before, 100).await.unwrap();
    let decided: Vec<credex_journal::RecognitionDecided> = entries
        .iter()
        .filter(|r| r.kind == credex_journal::kind::RECOGNITION_DECIDED)
        .map(|r| credex_protocol::decode(&r.body).unwrap())
        .collect();
    assert_eq!(decided.len(), 1);
    assert!(decided[0].decision.recognised);
    assert!(matches!(
        decided[0].origin,
        credex_journal::Origin::Query { .. }
    ));
    assert_eq!(
        effective(&cq, &s, Scheme::PublicCredit).await.as_deref(),
        Some("B")
    );

    // A response whose attestation was altered is refused as forged.
    let mut forged = response.clone();
    for (k, v) in &mut forged.body.records[0].fields {
        if k == "attestation"
            && let credex_protocol::query::Value::Text(hex_text) = v
        {
            let mut result: IssuedAttestation =
                credex_protocol::decode(&hex::decode(&*hex_text).unwrap()).unwrap();
            result.attestation.grade = "优".into();
            *hex_text = hex::encode(credex_protocol::encode(&result).unwrap());
        }
    }
    let err = eval::recognise_from_response(
        cq.storage(),
        &trust,
        &eval::load_agreements(cq.config()).unwrap(),
        region(CQ),
        &forged,
        now_ms(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    assert_eq!(
        effective(&cq, &s, Scheme::PublicCredit).await.as_deref(),
        Some("B")
    );
    audit_passes(&[&cq, &gy]).await;
    conn.close();
    gy.shutdown().await;
    cq.shutdown().await;
}

/// Import validation: every row checked before anything is written, errors
/// name the line.
#[tokio::test]
async fn import_files_are_validated_as_a_whole() {
    let fed = Fed::new(&[GY, CQ]);
    let agreements = eval::load_agreements(&fed.config(GY)).unwrap();
    let s = subject(GY, 1);
    let good = row(&s, "public_credit", "2024", "优");
    let bad_check_digit = format!("{}{}", &s[..17], if s.ends_with('0') { '1' } else { '0' });
    let cases = [
        (
            row(&s, "public_credit", "2024", "A"),
            "grade \"A\" is not on region 520000",
        ),
        (row(&s, "credit", "2024", "优"), "unknown evaluation scheme"),
        (good.replace(&s, &bad_check_digit), "subject"),
        (
            good.replace("2025-12-31", "2024-12-31"),
            "period_end is before period_start",
        ),
        (
            good.replace("\"scheme_version\":\"2024\",", ""),
            "missing scheme_version",
        ),
        (good.clone(), "already appears on line 1"),
    ];
    for (i, (bad, expected)) in cases.iter().enumerate() {
        let file = fed.path().join(format!("bad{i}.jsonl"));
        std::fs::write(&file, format!("{good}\n{bad}\n")).unwrap();
        let err = eval::parse_results(&file, region(GY), &agreements, now_ms())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":2:") && err.contains(expected),
            "case {i}: {err}"
        );
    }
    // A file without results is refused, not "imported".
    let empty = fed.path().join("empty.csv");
    std::fs::write(&empty, "subject,scheme\n").unwrap();
    let err = eval::parse_results(&empty, region(GY), &agreements, now_ms())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no result rows"), "{err}");
    // CSV works too.
    let csv = fed.path().join("ok.csv");
    std::fs::write(
        &csv,
        format!(
            "subject,scheme,scheme_version,grade,period_start,period_end,valid_until\n{s},tax_credit,2025,A,2025-01-01,2025-12-31,2027-06-30\n"
        ),
    )
    .unwrap();
    let rows = eval::parse_results(&csv, region(GY), &agreements, now_ms()).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].scheme, Scheme::TaxCredit);
    // Nothing was written by a failed import: the node starts with no result.
    let gy = fed.start(GY).await;
    assert!(eval::list(gy.storage()).await.unwrap().is_empty());
    gy.shutdown().await;
}

/// A member that recognised a result keeps hearing of its changes even when
/// the issuer's agreements no longer subscribe it (learnt from its
/// acknowledgement); a member that never held the result is not told.
#[tokio::test]
async fn members_that_recognised_a_result_keep_receiving_its_changes() {
    let fed = Fed::new(&[GY, CQ]);
    let gy = fed.start(GY).await;
    let cq = fed.start(CQ).await;
    let (held, fresh) = (subject(GY, 6), subject(GY, 7));
    import(
        &gy,
        fed.path(),
        "first",
        &[row(&held, "public_credit", "2024", "优")],
    )
    .await;
    until!(&gy, "recognised and acknowledged", {
        gy.storage()
            .state(eval::HOLDERS_NS, &format!("public_credit/{held}/{CQ}"))
            .await
            .unwrap()
            .is_some()
    });
    // The issuer now applies only the Pan-Pearl River agreement, which
    // Chongqing is not a member of.
    let ppr = eval::Agreements::empty()
        .with_text(
            include_str!("../../policies/agreements/pan-pearl-river.toml"),
            "pan-pearl-river.toml",
        )
        .unwrap();
    assert!(!eval::subscribers(&ppr, region(GY), Scheme::PublicCredit).contains(&region(CQ)));
    let file = fed.path().join("second.jsonl");
    std::fs::write(
        &file,
        [
            row(&held, "public_credit", "2024", "良"),
            row(&fresh, "public_credit", "2024", "良"),
        ]
        .join("\n"),
    )
    .unwrap();
    let rows = eval::parse_results(&file, region(GY), &ppr, now_ms()).unwrap();
    let report = eval::issue(
        gy.federation(),
        &ppr,
        gy.queries().policy().catalogue(),
        &rows,
        now_ms(),
    )
    .await
    .unwrap();
    let pushed = |o: &IssueOutcome| match o {
        IssueOutcome::Issued { pushed_to, .. } | IssueOutcome::Superseded { pushed_to, .. } => {
            pushed_to.clone()
        }
        IssueOutcome::Unchanged => Vec::new(),
    };
    assert_eq!(pushed(&report.outcomes[0]), [region(CQ)]);
    assert!(pushed(&report.outcomes[1]).is_empty());
    until!(&cq, "the holder sees the change", {
        effective(&cq, &held, Scheme::PublicCredit).await.as_deref() == Some("B")
    });
    assert!(received(&cq, &fresh, GY).await.is_empty());
    gy.shutdown().await;
    cq.shutdown().await;
}
