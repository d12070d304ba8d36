//! Federation messaging between real nodes (QUIC, signatures, SQLite):
//! delivery through the durable outbox, exactly-once application, logging
//! on both sides with receipts the auditor cross-matches, retries across an
//! outage of the receiver, and refusal of forged or misaddressed messages.

use std::sync::Arc;

use credex_flows::flow::{self, AckError, Context, Effect, Peer, Read, Refused, View};
use credex_journal::{MessageReceived, ReceivedOutcome, kind};
use credex_node::service::RunningNode;
use credex_node::storage::StateWrite;
use credex_node::transport::ClientError;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow, SignedEnvelope};
use credex_protocol::{ErrorCode, Request, Response};
use credex_tests::{Federation, audit_all, dial, until_stored, within};

/// A flow for the test: applying a message stores its payload; a payload
/// that starts with `b"refuse"` is refused for good; the reply is the
/// payload reversed.
struct Echo;

impl flow::Flow for Echo {
    fn name(&self) -> Flow {
        Flow::Upward
    }

    fn reads(&self, _from: &Peer, _envelope: &Envelope) -> Result<Vec<Read>, flow::Refusal> {
        Ok(Vec::new())
    }

    fn receive(
        &self,
        _cx: &Context<'_>,
        _view: &View,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<Effect, flow::Refusal> {
        if envelope.payload.starts_with(b"refuse") {
            return Err(Refused::Invalid("the test flow refuses this".into()).into());
        }
        Ok(Effect {
            state: vec![StateWrite::put(
                "test.received",
                format!("{}/{}", from.region, hex::encode(&envelope.payload)),
                envelope.payload.clone(),
            )],
            reply: envelope.payload.iter().rev().copied().collect(),
            summary: format!("{} bytes", envelope.payload.len()),
            ..Effect::default()
        })
    }

    fn acknowledged(
        &self,
        _cx: &Context<'_>,
        _view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError> {
        // Keys are at most 512 bytes: a long payload is named by its start.
        let name = &envelope.payload[..envelope.payload.len().min(64)];
        Ok(vec![StateWrite::put(
            "test.acked",
            hex::encode(name),
            ack.reply.clone(),
        )])
    }
}

fn register(nodes: &[&RunningNode]) {
    for node in nodes {
        node.federation().register(Arc::new(Echo));
    }
}

/// Start `from` with its peer `to_name` at `addr`.
async fn start_pointing_at(
    fed: &Federation,
    from: &str,
    to_name: &str,
    addr: std::net::SocketAddr,
) -> RunningNode {
    let mut config = fed.config(from);
    for peer in &mut config.peers {
        if peer.name.as_str() == to_name {
            peer.addr = addr;
        }
    }
    fed.start_with(config).await
}

/// A test message for the [`Echo`] flow: no subject data, so it goes
/// around the egress gate (`egress::danger`) with an empty record.
fn test_body(to: &str, payload: &[u8]) -> credex_policies::egress::ReleasedBody {
    credex_policies::egress::danger::release_unchecked(
        Flow::Upward,
        1,
        to.parse().expect("region"),
        payload.to_vec(),
        credex_protocol::egress::EgressRecord::no_record_data(),
    )
}

/// Queue `payload` at `node` for `to` and wake delivery.
async fn send(node: &RunningNode, to: &str, payload: &[u8]) -> SignedEnvelope {
    let fedn = node.federation();
    let (signed, write) = fedn
        .prepare(test_body(to, payload), credex_node::service::now_ms())
        .expect("prepare");
    node.storage()
        .write_state(vec![write])
        .await
        .expect("queue");
    fedn.wake();
    signed
}

async fn until_delivered(node: &RunningNode) {
    until_stored(node.storage(), "outbox drains", || async {
        node.federation().outbox().await.expect("outbox").is_empty()
    })
    .await;
}

async fn received_entries(node: &RunningNode) -> Vec<MessageReceived> {
    node.storage()
        .journal_range(0, 4096)
        .await
        .expect("journal")
        .into_iter()
        .filter(|r| r.kind == kind::MESSAGE_RECEIVED)
        .map(|r| credex_protocol::decode(&r.body).expect("entry decodes"))
        .collect()
}

async fn count_kind(node: &RunningNode, wanted: u16) -> usize {
    node.storage()
        .journal_range(0, 4096)
        .await
        .expect("journal")
        .iter()
        .filter(|r| r.kind == wanted)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_applied_once_logged_on_both_sides_and_audited() {
    let fed = Federation::new();
    let cq = fed.start("cq-1").await;
    let gy = start_pointing_at(&fed, "gy-1", "cq-1", cq.local_addr()).await;
    register(&[&gy, &cq]);

    let signed = send(&gy, "500000", b"hello").await;
    until_delivered(&gy).await;
    assert_eq!(
        cq.storage()
            .state(
                "test.received",
                &format!("520000/{}", hex::encode(b"hello"))
            )
            .await
            .expect("state"),
        Some(b"hello".to_vec()),
        "the receiver applied the message"
    );
    assert_eq!(
        gy.storage()
            .state("test.acked", &hex::encode(b"hello"))
            .await
            .expect("state"),
        Some(b"olleh".to_vec()),
        "the sender got the flow's reply"
    );

    // The same signed message again (a retry after a lost ack): logged as
    // a duplicate, answered as already applied, nothing changes.
    let conn = within("dial", dial(&gy, &cq, "500000", "cq-1"))
        .await
        .expect("dial");
    let again = within(
        "redeliver",
        conn.request(&Request::Deliver(Box::new(signed.clone()))),
    )
    .await
    .expect("answer");
    match again {
        Response::Delivered(ack) => {
            assert_eq!(ack.ack.status, DeliveryStatus::AlreadyApplied);
            assert_eq!(
                ack.ack.reply,
                b"olleh".to_vec(),
                "the first answer is replayed"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let outcomes: Vec<_> = received_entries(&cq)
        .await
        .into_iter()
        .map(|e| e.outcome)
        .collect();
    assert_eq!(
        outcomes,
        vec![ReceivedOutcome::Applied, ReceivedOutcome::Duplicate]
    );
    assert_eq!(count_kind(&gy, kind::MESSAGE_SENT).await, 1);

    // A message the flow refuses is logged as refused on both sides and
    // not retried.
    send(&gy, "500000", b"refuse").await;
    until_delivered(&gy).await;
    let last = received_entries(&cq).await.pop().expect("entry");
    assert!(
        matches!(last.outcome, ReceivedOutcome::RefusedDigestOnly { .. }),
        "{last:?}"
    );
    assert_eq!(count_kind(&gy, kind::MESSAGE_SENT).await, 2);

    let dir = tempfile::tempdir().expect("dir");
    let report = audit_all(&[&gy, &cq], dir.path()).await;
    assert!(report.passed(), "{:#?}", report.violations);
    let messages: usize = report.logs.iter().map(|l| l.messages).sum();
    assert_eq!(messages, 5, "3 received + 2 sent entries checked");
    gy.shutdown().await;
    cq.shutdown().await;
}

/// A message refused for good is journaled by digest and size: its bytes
/// are neither in the entry nor kept as an attachment (issue 13 §5,
/// decision 0650), and the logs still pass the audit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_message_is_journaled_without_its_payload() {
    let fed = Federation::new();
    let cq = fed.start("cq-1").await;
    let gy = start_pointing_at(&fed, "gy-1", "cq-1", cq.local_addr()).await;
    register(&[&gy, &cq]);

    let mut payload = b"refuse".to_vec();
    payload.resize(200 * 1024, 0xA5);
    let signed = send(&gy, "500000", &payload).await;
    until_delivered(&gy).await;
    let envelope = credex_protocol::encode(&signed).expect("encode");
    let digest = credex_journal::sha256(&envelope);

    let journal = cq.storage().journal_range(0, 4096).await.expect("journal");
    let raw = journal
        .iter()
        .find(|r| r.kind == kind::MESSAGE_RECEIVED)
        .expect("the refusal is journaled");
    let entry: MessageReceived = credex_protocol::decode(&raw.body).expect("entry");
    assert_eq!(entry.message_id, signed.envelope.message_id);
    assert_eq!(entry.message_digest, digest, "the digest is kept");
    match &entry.outcome {
        ReceivedOutcome::RefusedDigestOnly {
            reason,
            envelope_len,
            beyond_release,
        } => {
            assert_eq!(*envelope_len as usize, envelope.len(), "and the size");
            assert!(beyond_release.is_empty(), "refused by its flow");
            assert!(reason.contains("refuses"), "{reason}");
        }
        other => panic!("expected a refusal by digest only, got {other:?}"),
    }
    assert!(
        raw.body.len() < 1024,
        "the entry holds no payload: {} bytes",
        raw.body.len()
    );
    assert!(
        !raw.body.windows(64).any(|w| w.iter().all(|b| *b == 0xA5)),
        "no payload bytes in the entry"
    );
    assert!(
        cq.storage()
            .entry_attachment(raw.seq, &digest)
            .await
            .expect("attachment")
            .is_none(),
        "the envelope is not kept"
    );
    // The sender learnt of the refusal and stopped.
    assert_eq!(count_kind(&gy, kind::MESSAGE_SENT).await, 1);

    let dir = tempfile::tempdir().expect("dir");
    let report = audit_all(&[&gy, &cq], dir.path()).await;
    assert!(report.passed(), "{:#?}", report.violations);
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waits_in_the_outbox_through_an_outage_and_a_restart() {
    let fed = Federation::new();
    // Reserve a port for Chongqing, which is down at first.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let cq_addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    let gy = start_pointing_at(&fed, "gy-1", "cq-1", cq_addr).await;
    register(&[&gy]);
    send(&gy, "500000", b"while down").await;
    until_stored(gy.storage(), "a failed attempt is recorded", || async {
        let pending = gy.federation().outbox().await.expect("outbox");
        pending.first().is_some_and(|p| p.attempts >= 1)
    })
    .await;
    let pending = gy.federation().outbox().await.expect("outbox");
    assert!(!pending[0].last_error.is_empty());

    // The sender restarts: the message is still queued.
    let config = gy.config().clone();
    gy.shutdown().await;
    let gy = fed.start_with(config).await;
    register(&[&gy]);
    assert_eq!(gy.federation().outbox().await.expect("outbox").len(), 1);

    let mut cq_config = fed.config("cq-1");
    cq_config.listen = cq_addr;
    let cq = fed.start_with(cq_config).await;
    register(&[&cq]);
    until_delivered(&gy).await;
    let entries = received_entries(&cq).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].outcome, ReceivedOutcome::Applied);
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_and_misaddressed_messages_are_refused() {
    let fed = Federation::new();
    let cq = fed.start("cq-1").await;
    let gy = start_pointing_at(&fed, "gy-1", "cq-1", cq.local_addr()).await;
    register(&[&gy, &cq]);
    let conn = within("dial", dial(&gy, &cq, "500000", "cq-1"))
        .await
        .expect("dial");
    let (good, _) = gy
        .federation()
        .prepare(test_body("500000", b"x"), credex_node::service::now_ms())
        .expect("prepare");
    let refused = |answer: Result<Response, ClientError>| match answer {
        Err(ClientError::Refused(e)) => e.code,
        other => panic!("expected a refusal, got {other:?}"),
    };

    // Payload changed after signing.
    let mut tampered = good.clone();
    tampered.envelope.payload = b"y".to_vec();
    let answer = conn.request(&Request::Deliver(Box::new(tampered))).await;
    assert_eq!(refused(answer), ErrorCode::NotAuthorized);

    // A node claiming to send for another region.
    let mut other_region = good.clone();
    other_region.envelope.from_region = "440000".parse().expect("region");
    let answer = conn
        .request(&Request::Deliver(Box::new(other_region)))
        .await;
    assert_eq!(refused(answer), ErrorCode::IdentityMismatch);

    // Addressed to another region (signed correctly).
    let (to_gz, _) = gy
        .federation()
        .prepare(test_body("440000", b"x"), credex_node::service::now_ms())
        .expect("prepare");
    let answer = conn.request(&Request::Deliver(Box::new(to_gz))).await;
    assert_eq!(refused(answer), ErrorCode::InvalidField);

    // The flow changed after signing (a message smuggled into another
    // flow): the signature no longer verifies.
    let mut other_flow = good.clone();
    other_flow.envelope.flow = Flow::Recognition;
    let answer = conn.request(&Request::Deliver(Box::new(other_flow))).await;
    assert_eq!(refused(answer), ErrorCode::NotAuthorized);

    assert!(
        received_entries(&cq).await.is_empty(),
        "nothing refused at the door is applied"
    );
    // The genuine message still goes through.
    let answer = conn
        .request(&Request::Deliver(Box::new(good)))
        .await
        .expect("answer");
    assert!(matches!(answer, Response::Delivered(_)), "{answer:?}");
    gy.shutdown().await;
    cq.shutdown().await;
}

/// List entries appear in the metrics endpoint: by list type and each
/// receiving region's stage at the origin, and as held entries at the
/// receiver.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_states_are_served_as_metrics() {
    use credex_node::lists::{EntryDraft, Lists, ListsPolicy};
    use credex_protocol::lists::{ListKind, NoticeMeans, SubjectNotice};
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let fed = Federation::new();
    let free_port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
    };
    let (gy_metrics, cq_metrics) = (free_port(), free_port());
    let mut cq_config = fed.config("cq-1");
    cq_config.metrics.listen = Some(cq_metrics);
    let cq = fed.start_with(cq_config).await;
    let mut gy_config = fed.config("gy-1");
    gy_config.metrics.listen = Some(gy_metrics);
    for peer in &mut gy_config.peers {
        if peer.name.as_str() == "cq-1" {
            peer.addr = cq.local_addr();
        }
    }
    let gy = fed.start_with(gy_config).await;
    let lists = Lists::new(gy.federation().clone(), ListsPolicy::builtin());
    let draft = EntryDraft {
        subject: credex_tests::subjects("520000")[0].clone(),
        list_type: ListKind::SeriousDishonesty,
        basis: "行政处罚决定书 黔市监处〔2026〕18号".into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2029-11-01".into(),
        measures: vec!["restrict_government_procurement".into()],
        notice: SubjectNotice {
            date: "2026-10-20".into(),
            means: NoticeMeans::Written,
        },
        details: Default::default(),
    };
    lists
        .add(&draft, credex_node::service::now_ms())
        .await
        .expect("listing");
    // Guangdong (bound by the Pan-Pearl River agreement) is not running;
    // wait for Chongqing's answer.
    until_stored(gy.storage(), "Chongqing responds", || async {
        let status = lists
            .status(credex_node::service::now_ms())
            .await
            .expect("status");
        status.iter().any(|e| {
            e.regions
                .iter()
                .any(|r| r.region.to_string() == "500000" && r.responded_at_ms.is_some())
        })
    })
    .await;
    let scrape = |addr: std::net::SocketAddr| async move {
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
        s.write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .expect("write");
        let mut out = String::new();
        s.read_to_string(&mut out).await.expect("read");
        out
    };
    let origin = within("scrape", scrape(gy_metrics)).await;
    assert!(
        origin.contains(
            "credex_lists_sent_region_state{list=\"serious_dishonesty\",stage=\"responded\"} 1"
        ),
        "{origin}"
    );
    let receiver = within("scrape", scrape(cq_metrics)).await;
    assert!(
        receiver.contains("credex_lists_held{list=\"serious_dishonesty\"} 1"),
        "{receiver}"
    );
    gy.shutdown().await;
    cq.shutdown().await;
}
