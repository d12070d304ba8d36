//! Joint reward/punishment lists (联合奖惩) across a federation on
//! loopback: initiate → respond → feedback among the Pan-Pearl River
//! members, changes confirmed by every receiver, objections routed back,
//! overdue detection with an injected clock, both sides' logs, the offline
//! audit — and peers that send what they must not.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use credex_audit as audit;
use credex_journal::{MessageReceived, MessageSent, ReceivedOutcome, kind as fed_kind};
use credex_node::config::NodeConfig;
use credex_node::lists::{self, EntryDraft, Lists, ListsError, ListsPolicy, Overdue, Stage};
use credex_node::service::{RunningNode, now_ms};
use credex_node::storage::JournalRecord;
use credex_node::transport::ClientError;
use credex_protocol::federation::{
    DOMAIN_FEDERATION_MESSAGE, DeliveryStatus, Envelope, Flow, SignedEnvelope,
};
use credex_protocol::lists::{
    ChangeKind, EntryChange, EntryId, Feedback, ListEntry, ListKind, NoticeMeans, SubjectNotice,
    kind as msg,
};
use credex_protocol::query::SubjectRef;
use credex_protocol::{ErrorCode, RegionCode, Request};
use credex_tests::{dial, init_tracing, until_stored, until_stored_some, within};

const DAY_MS: i64 = 86_400_000;

/// The nine Pan-Pearl River members, then Beijing (bound by no agreement
/// with any of them).
const PAN_PEARL_RIVER_AND_BEIJING: [(&str, &str, &str); 10] = [
    ("520000", "gy-1", "Guizhou 贵州"),
    ("350000", "fj-1", "Fujian 福建"),
    ("360000", "jx-1", "Jiangxi 江西"),
    ("430000", "hn-1", "Hunan 湖南"),
    ("440000", "gz-1", "Guangdong 广东"),
    ("450000", "gx-1", "Guangxi 广西"),
    ("460000", "hi-1", "Hainan 海南"),
    ("510000", "sc-1", "Sichuan 四川"),
    ("530000", "yn-1", "Yunnan 云南"),
    ("110000", "bj-1", "Beijing 北京"),
];

/// Nodes of `regions` (a development federation made for them), started on
/// loopback ports reserved up front so every node's `[[peers]]` can name
/// them.
struct Nodes {
    dir: tempfile::TempDir,
    configs: Vec<NodeConfig>,
    nodes: Vec<Option<RunningNode>>,
}

impl Nodes {
    async fn start(regions: &[(&'static str, &'static str, &'static str)]) -> Nodes {
        Self::start_with_agreements(regions, &[]).await
    }

    /// [`Nodes::start`], every node with the agreement files `agreements`
    /// (name, text) in the `agreements/` directory beside its configuration.
    async fn start_with_agreements(
        regions: &[(&'static str, &'static str, &'static str)],
        agreements: &[(&str, String)],
    ) -> Nodes {
        init_tracing();
        let dir = tempfile::tempdir().unwrap();
        let dev = credex_kit::dev::init_regions(dir.path(), 7401, regions).unwrap();
        for n in &dev {
            let beside = n.config.parent().unwrap().join("agreements");
            std::fs::create_dir_all(&beside).unwrap();
            for (name, text) in agreements {
                std::fs::write(beside.join(name), text).unwrap();
            }
        }
        // Reserve one free UDP port per node (held until all are chosen, so
        // they differ), then release them for the nodes to bind.
        let sockets: Vec<std::net::UdpSocket> = (0..dev.len())
            .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
            .collect();
        let ports: BTreeMap<RegionCode, u16> = dev
            .iter()
            .zip(&sockets)
            .map(|(n, s)| (n.region, s.local_addr().unwrap().port()))
            .collect();
        drop(sockets);
        let (mut nodes, mut configs) = (Vec::new(), Vec::new());
        for n in &dev {
            let mut config = NodeConfig::load(&n.config).unwrap();
            config.listen.set_port(ports[&n.region]);
            for peer in &mut config.peers {
                peer.addr.set_port(ports[&peer.region]);
            }
            nodes.push(Some(RunningNode::start(config.clone()).await.unwrap()));
            configs.push(config);
        }
        Nodes {
            dir,
            configs,
            nodes,
        }
    }

    fn index(&self, region: &str) -> usize {
        self.configs
            .iter()
            .position(|c| c.region.to_string() == region)
            .unwrap()
    }

    /// Stop the node of `region` (its database stays).
    async fn stop(&mut self, region: &str) {
        let i = self.index(region);
        self.nodes[i].take().unwrap().shutdown().await;
    }

    /// Start the node of `region` again, on the same port and database.
    async fn restart(&mut self, region: &str) {
        let i = self.index(region);
        let node = RunningNode::start(self.configs[i].clone()).await.unwrap();
        self.nodes[i] = Some(node);
    }

    fn node(&self, region: &str) -> &RunningNode {
        self.nodes
            .iter()
            .flatten()
            .find(|n| n.config().region.to_string() == region)
            .unwrap_or_else(|| panic!("no running node of {region}"))
    }

    fn lists(&self, region: &str) -> Lists {
        Lists::new(
            self.node(region).federation().clone(),
            ListsPolicy::builtin(),
        )
    }

    /// Export the node's log to `out/{region}` and stop it.
    async fn export_and_stop(&mut self, region: &str, out: &Path) {
        let i = self
            .nodes
            .iter()
            .position(|n| {
                n.as_ref()
                    .is_some_and(|n| n.config().region.to_string() == region)
            })
            .unwrap();
        // The others witness its log before it goes.
        let others: Vec<&RunningNode> = self.nodes.iter().flatten().collect();
        credex_tests::witness_all(&others).await;
        let node = self.nodes[i].take().unwrap();
        export(&node, &out.join(region)).await;
        node.shutdown().await;
    }

    async fn shutdown(self) {
        for node in self.nodes.into_iter().flatten() {
            node.shutdown().await;
        }
        drop(self.dir);
    }
}

async fn export(node: &RunningNode, out: &Path) {
    let chain = std::fs::read_to_string(&node.config().tls.cert).unwrap();
    credex_node::export::export(node.storage(), node.log_key(), &chain, out)
        .await
        .unwrap();
}

impl Nodes {
    /// Export every running node's log and check the offline audit passes
    /// over all of them.
    async fn audit_passes(&self) {
        let out = tempfile::tempdir().unwrap();
        let mut dirs = Vec::new();
        let running: Vec<&RunningNode> = self.nodes.iter().flatten().collect();
        credex_tests::witness_all(&running).await;
        for node in self.nodes.iter().flatten() {
            let dir = out.path().join(node.config().region.to_string());
            export(node, &dir).await;
            dirs.push(dir);
        }
        let trust = self.nodes[0]
            .as_ref()
            .unwrap()
            .transport()
            .trust()
            .current();
        let report = audit::verify(&dirs, &trust);
        assert!(report.passed(), "{:#?}", report.violations);
        assert_eq!(report.logs.len(), dirs.len());
    }
}

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

fn members_except(origin: &str) -> Vec<RegionCode> {
    PAN_PEARL_RIVER_AND_BEIJING[..9]
        .iter()
        .map(|(r, _, _)| region(r))
        .filter(|r| r.to_string() != origin)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn draft(list_type: ListKind, subject: String, measures: &[&str]) -> EntryDraft {
    EntryDraft {
        subject,
        list_type,
        basis: "《贵州省社会信用条例》第三十条; 行政处罚决定书 黔市监处〔2026〕18号".into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2029-11-01".into(),
        measures: measures.iter().map(|s| s.to_string()).collect(),
        notice: SubjectNotice {
            date: "2026-10-20".into(),
            means: NoticeMeans::Written,
        },
        details: Default::default(),
    }
}

fn company(region: &str, seq: u32) -> String {
    credex_kit::dev::synthetic_uscc(region.parse().unwrap(), seq)
}

/// Wait until every message in `node`'s outbox is for one of `stuck`.
async fn delivered(node: &RunningNode, stuck: &[RegionCode]) {
    until_stored(node.storage(), "outbox drained", || async {
        let pending = node.federation().outbox().await.unwrap();
        pending.iter().all(|m| stuck.contains(&m.to_region))
    })
    .await;
}

/// Wait until `check` holds for `region`'s status of its entries.
async fn status_until(
    lists: &Lists,
    what: &str,
    check: impl Fn(&[lists::EntryStatus]) -> bool,
) -> Vec<lists::EntryStatus> {
    let storage = &lists.federation().context().storage;
    until_stored_some(storage, what, || async {
        let status = lists.status(now_ms()).await.unwrap();
        check(&status).then_some(status)
    })
    .await
}

async fn journal(node: &RunningNode) -> Vec<JournalRecord> {
    let mut out = Vec::new();
    loop {
        let page = node
            .storage()
            .journal_range(out.len() as u64, 1000)
            .await
            .unwrap();
        if page.is_empty() {
            return out;
        }
        out.extend(page);
    }
}

/// Lists messages a node received (kind 7) and sent (kind 8), by message id.
async fn lists_messages(
    node: &RunningNode,
) -> (
    BTreeMap<[u8; 16], MessageReceived>,
    BTreeMap<[u8; 16], MessageSent>,
) {
    let (mut received, mut sent) = (BTreeMap::new(), BTreeMap::new());
    for r in journal(node).await {
        if r.kind == fed_kind::MESSAGE_RECEIVED {
            let m: MessageReceived = credex_protocol::decode(&r.body).unwrap();
            if m.flow == Flow::Lists {
                assert!(received.insert(m.message_id, m).is_none(), "logged twice");
            }
        } else if r.kind == fed_kind::MESSAGE_SENT {
            let m: MessageSent = credex_protocol::decode(&r.body).unwrap();
            if m.flow == Flow::Lists {
                assert!(sent.insert(m.message_id, m).is_none(), "logged twice");
            }
        }
    }
    (received, sent)
}

async fn kinds(node: &RunningNode) -> Vec<u16> {
    journal(node).await.into_iter().map(|r| r.kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guizhou_listing_travels_the_pan_pearl_river_and_back() {
    let mut fed = Nodes::start(&PAN_PEARL_RIVER_AND_BEIJING).await;
    let out = tempfile::tempdir().unwrap();
    let gy = fed.lists("520000");
    let members = members_except("520000");
    let subject = company("520000", 1);

    // Initiate (发起): a serious-dishonesty listing in Guizhou goes to the
    // eight other members; Chongqing (bound by the Chongqing–Guizhou
    // agreement) has no peer here and is reported so; Beijing gets nothing.
    let added = gy
        .add(
            &draft(
                ListKind::SeriousDishonesty,
                subject.clone(),
                &[
                    "restrict_government_procurement",
                    "restrict_public_tendering",
                ],
            ),
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(added.sent_to, members);
    assert_eq!(added.no_peer, vec![region("500000")]);
    let id = added.id;
    assert_eq!(id.origin, region("520000"));

    // Respond (响应): every member acknowledges and holds the entry.
    delivered(fed.node("520000"), &[]).await;
    let status = gy.status(now_ms()).await.unwrap();
    assert_eq!(status.len(), 1);
    let entry = &status[0];
    assert_eq!((entry.id, entry.revision, entry.ended), (id, 0, None));
    assert_eq!(entry.no_peer, vec![region("500000")]);
    assert_eq!(
        entry.regions.iter().map(|r| r.region).collect::<Vec<_>>(),
        members
    );
    for r in &entry.regions {
        assert_eq!(r.stage, Stage::Responded, "{}", r.region);
        assert!(r.responded_at_ms.is_some() && r.refused.is_none());
        assert!(r.overdue.is_empty());
        // Pan-Pearl River terms: respond within 5, feed back within 15 working days.
        assert!(r.respond_by_ms - r.sent_at_ms >= 5 * DAY_MS);
        assert!(r.feedback_by_ms - r.sent_at_ms >= 15 * DAY_MS);
    }
    for m in &members {
        let held = fed.lists(&m.to_string()).received().await.unwrap();
        assert_eq!(held.len(), 1, "{m}");
        assert_eq!(held[0].entry.id, id);
        assert_eq!(held[0].entry.subject, subject);
        assert_eq!(held[0].entry.list_type, ListKind::SeriousDishonesty);
    }
    assert!(fed.lists("110000").received().await.unwrap().is_empty());

    // Feedback (反馈): each member reports what it applied.
    for m in &members {
        let l = fed.lists(&m.to_string());
        l.feedback(
            &id,
            &["restrict_government_procurement".into()],
            &format!("applied by {m}"),
            now_ms(),
        )
        .await
        .unwrap();
        // A measure of the red list cannot be fed back on this entry.
        let err = l
            .feedback(&id, &["green_channel".into()], "", now_ms())
            .await
            .unwrap_err();
        assert!(err.to_string().contains("does not apply"), "{err}");
    }
    let status = status_until(&gy, "all feedback", |s| {
        s[0].regions
            .iter()
            .all(|r| r.stage == Stage::FeedbackReceived)
    })
    .await;
    for r in &status[0].regions {
        let f = r.feedback.as_ref().unwrap();
        assert_eq!(f.applied, ["restrict_government_procurement"]);
        assert_eq!(f.note, format!("applied by {}", r.region));
    }
    // Nothing is overdue, even long after: everyone answered.
    let later = gy.status(now_ms() + 60 * DAY_MS).await.unwrap();
    assert!(!later[0].is_overdue(), "{:#?}", later[0]);

    // An objection (异议) raised in Guangdong is routed back to Guizhou.
    fed.lists("440000")
        .objection(&id, "the penalty decision was annulled on review", now_ms())
        .await
        .unwrap();
    let status = status_until(&gy, "objection", |s| !s[0].objections.is_empty()).await;
    assert_eq!(status[0].objections.len(), 1);
    assert_eq!(status[0].objections[0].from_region, region("440000"));
    assert_eq!(
        status[0].objections[0].reason,
        "the penalty decision was annulled on review"
    );
    // Only the origin changes an entry; a receiver cannot.
    let err = fed
        .lists("440000")
        .change(&id, ChangeKind::Revoke, None, "", now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, ListsError::NotOrigin(_)), "{err}");
    // The planned exit (2029-11-01) is not reached.
    let err = gy
        .change(&id, ChangeKind::Exit, None, "", now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, ListsError::ExitNotReached { .. }), "{err}");

    // Credit repair (信用修复) propagates; every receiver applies and confirms.
    let repaired_to = gy
        .change(&id, ChangeKind::Repair, None, "信用修复完成", now_ms())
        .await
        .unwrap();
    assert_eq!(repaired_to, members);
    let status = status_until(&gy, "every confirmation", |s| {
        s[0].regions
            .iter()
            .all(|r| r.stage == Stage::ChangeConfirmed)
    })
    .await;
    assert_eq!(status[0].ended, Some(ChangeKind::Repair));
    assert_eq!(status[0].revision, 1);
    for r in &status[0].regions {
        let c = r.change.as_ref().unwrap();
        assert_eq!((c.revision, c.change), (1, ChangeKind::Repair));
        assert!(c.confirmed_at_ms.is_some());
    }
    for m in &members {
        let held = fed.lists(&m.to_string()).received().await.unwrap();
        assert_eq!(held[0].ended, Some(ChangeKind::Repair), "{m}");
        assert_eq!(held[0].entry.revision, 1);
        delivered(fed.node(&m.to_string()), &[]).await;
    }
    // An ended entry takes no more changes.
    assert!(matches!(
        gy.change(&id, ChangeKind::Revoke, None, "", now_ms()).await,
        Err(ListsError::Ended(_, ChangeKind::Repair))
    ));

    // Every message is in both logs: sent (kind 8, applied) at one end,
    // received (kind 7, applied) at the other, with the same message id.
    let (gy_in, gy_out) = lists_messages(fed.node("520000")).await;
    // 8 listings + 8 objection marks (异议处理中, to every holder) + 8
    // changes out; 8 feedbacks + 8 confirmations + 1 objection in.
    assert_eq!(gy_out.len(), 24);
    assert_eq!(gy_in.len(), 17);
    for m in &members {
        let node = fed.node(&m.to_string());
        let (m_in, m_out) = lists_messages(node).await;
        let expect_out = if m.to_string() == "440000" { 3 } else { 2 };
        assert_eq!((m_in.len(), m_out.len()), (3, expect_out), "{m}");
        for (mid, received) in &m_in {
            assert_eq!(received.outcome, ReceivedOutcome::Applied);
            let sent = &gy_out[mid];
            assert_eq!(
                (sent.to_region, &sent.status),
                (*m, &DeliveryStatus::Applied)
            );
            assert_eq!(sent.message_digest, received.message_digest);
        }
        for (mid, sent) in &m_out {
            assert_eq!(sent.status, DeliveryStatus::Applied);
            let received = &gy_in[mid];
            assert_eq!(received.from_region, *m);
            assert_eq!(received.message_digest, sent.message_digest);
        }
        // Its own events: feedback given (31), and in Guangdong the objection routed (33).
        let k = kinds(node).await;
        assert_eq!(
            k.iter()
                .filter(|&&k| k == credex_journal::kind::FEEDBACK_SENT)
                .count(),
            1
        );
        assert_eq!(
            k.iter()
                .filter(|&&k| k == credex_journal::kind::OBJECTION_ROUTED)
                .count(),
            usize::from(m.to_string() == "440000")
        );
    }
    let k = kinds(fed.node("520000")).await;
    assert_eq!(
        k.iter()
            .filter(|&&k| k == credex_journal::kind::LISTING_INITIATED)
            .count(),
        1
    );
    assert_eq!(
        k.iter()
            .filter(|&&k| k == credex_journal::kind::CHANGE_INITIATED)
            .count(),
        1
    );
    // No journal entry names the subject in clear (the signed messages,
    // kept as attachments, do; entries hold digests).
    for code in PAN_PEARL_RIVER_AND_BEIJING.map(|(code, _, _)| code) {
        for r in journal(fed.node(code)).await {
            assert!(
                !r.body
                    .windows(subject.len())
                    .any(|w| w == subject.as_bytes()),
                "{code}: entry {} (kind {}) names the subject",
                r.seq,
                r.kind
            );
        }
    }
    // Beijing saw none of it.
    let (bj_in, bj_out) = lists_messages(fed.node("110000")).await;
    assert!(bj_in.is_empty() && bj_out.is_empty());

    // Overdue detection with an injected clock. Yunnan goes down; a
    // key-attention listing reaches the seven others only.
    fed.export_and_stop("530000", out.path()).await;
    let yunnan = region("530000");
    let t0 = now_ms();
    let second = gy
        .add(
            &draft(
                ListKind::KeyAttention,
                company("520000", 2),
                &["increase_inspections"],
            ),
            t0,
        )
        .await
        .unwrap();
    delivered(fed.node("520000"), &[yunnan]).await;
    let find = |s: &[lists::EntryStatus]| s.iter().find(|e| e.id == second.id).cloned().unwrap();
    let now = find(&gy.status(t0).await.unwrap());
    assert!(!now.is_overdue(), "{now:#?}");
    // The deadlines are the Pan-Pearl River terms (5 and 15 working days,
    // counted in the holiday calendar). Just before the response deadline
    // nothing is overdue; at it, only Yunnan (which never responded).
    let yn = now.regions.iter().find(|r| r.region == yunnan).unwrap();
    assert_eq!(yn.stage, Stage::Sent);
    let respond_by = yn.respond_by_ms;
    assert!(respond_by - t0 >= 5 * DAY_MS);
    let before = find(&gy.status(respond_by - 1).await.unwrap());
    assert!(!before.is_overdue(), "{before:#?}");
    let at = find(&gy.status(respond_by).await.unwrap());
    for r in &at.regions {
        let expect = if r.region == yunnan {
            vec![Overdue::Response]
        } else {
            vec![]
        };
        assert_eq!(r.overdue, expect, "{}", r.region);
    }
    // At the feedback deadline, feedback is overdue everywhere, and Yunnan's
    // response; `--overdue` lists this entry and not the repaired one.
    let feedback_by = yn.feedback_by_ms;
    assert!(feedback_by - respond_by >= 10 * DAY_MS);
    let thirty = gy.status(feedback_by).await.unwrap();
    let e = find(&thirty);
    for r in &e.regions {
        let expect = if r.region == yunnan {
            vec![Overdue::Response, Overdue::Feedback]
        } else {
            assert_eq!(r.stage, Stage::Responded);
            vec![Overdue::Feedback]
        };
        assert_eq!(r.overdue, expect, "{}", r.region);
    }
    // The repaired entry stays clean.
    assert!(!thirty.iter().find(|s| s.id == id).unwrap().is_overdue());

    // The planned exit reached (clock injected past 2029-11-01): the exit
    // goes to all eight, the seven running ones confirm, Yunnan's
    // confirmation is overdue three working days on.
    let after_exit = 1_889_150_400_000; // 2029-11-12 12:00 CST
    assert!(credex_flows::calendar::china_date_text(after_exit).as_str() > "2029-11-01");
    let exited_to = gy
        .change(&second.id, ChangeKind::Exit, None, "", after_exit)
        .await
        .unwrap();
    assert_eq!(exited_to, members);
    let status = status_until(&gy, "seven exit confirmations", |s| {
        find(s)
            .regions
            .iter()
            .filter(|r| r.stage == Stage::ChangeConfirmed)
            .count()
            == 7
    })
    .await;
    assert_eq!(find(&status).ended, Some(ChangeKind::Exit));
    let overdue = find(&gy.status(after_exit + 10 * DAY_MS).await.unwrap());
    for r in &overdue.regions {
        if r.region == yunnan {
            assert_eq!(r.stage, Stage::ChangeSent);
            assert_eq!(
                r.overdue,
                vec![Overdue::Response, Overdue::ChangeConfirmation]
            );
        } else {
            // Ended entries owe no feedback; the exit is confirmed.
            assert!(r.overdue.is_empty(), "{}: {:?}", r.region, r.overdue);
        }
    }
    for m in &members {
        if *m != yunnan {
            delivered(fed.node(&m.to_string()), &[]).await;
        }
    }

    // The offline audit passes over all ten logs.
    let running: Vec<&RunningNode> = PAN_PEARL_RIVER_AND_BEIJING
        .iter()
        .filter(|(code, _, _)| *code != "530000")
        .map(|(code, _, _)| fed.node(code))
        .collect();
    credex_tests::witness_all(&running).await;
    for (code, _, _) in PAN_PEARL_RIVER_AND_BEIJING {
        if code != "530000" {
            export(fed.node(code), &out.path().join(code)).await;
        }
    }
    let dirs: Vec<_> = PAN_PEARL_RIVER_AND_BEIJING
        .iter()
        .map(|(code, _, _)| out.path().join(code))
        .collect();
    let trust = fed.node("520000").transport().trust().current();
    let report = audit::verify(&dirs, &trust);
    assert!(report.passed(), "{:#?}", report.violations);
    assert_eq!(report.logs.len(), 10);
    let messages = |origin: &str| {
        report
            .logs
            .iter()
            .find(|l| l.origin == origin)
            .unwrap()
            .messages
    };
    // Guizhou: first entry 24 sent (with the objection's marks) + 17
    // received; second entry 7 listings and 7 exits acknowledged, 7
    // confirmations received (Yunnan was down).
    assert_eq!(messages("credex/520000/gy-1"), 24 + 17 + 7 + 7 + 7);
    assert_eq!(messages("credex/110000/bj-1"), 0);
    fed.shutdown().await;
}

/// Queue a raw lists message from `from` (as a malicious peer would build
/// it: correctly signed by its own node, with a payload it must not send).
async fn send_raw(from: &RunningNode, to: &str, kind: u16, payload: Vec<u8>) {
    let (_, write) = from
        .federation()
        .prepare(
            credex_tests::unchecked_body(Flow::Lists, kind, region(to), payload),
            now_ms(),
        )
        .unwrap();
    from.storage().write_state(vec![write]).await.unwrap();
    from.federation().wake();
    delivered(from, &[]).await;
}

/// The last lists message `node` sent: what the receiver answered.
async fn last_sent(node: &RunningNode) -> MessageSent {
    journal(node)
        .await
        .into_iter()
        .rev()
        .filter(|r| r.kind == fed_kind::MESSAGE_SENT)
        .map(|r| credex_protocol::decode::<MessageSent>(&r.body).unwrap())
        .find(|m| m.flow == Flow::Lists)
        .unwrap()
}

fn refused(m: &MessageSent, needle: &str) {
    match &m.status {
        DeliveryStatus::Refused { reason } => {
            assert!(reason.contains(needle), "{reason:?} lacks {needle:?}")
        }
        other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peers_cannot_list_change_or_answer_for_others() {
    let fed = Nodes::start(&[
        ("520000", "gy-1", "Guizhou 贵州"),
        ("440000", "gz-1", "Guangdong 广东"),
        ("430000", "hn-1", "Hunan 湖南"),
        ("110000", "bj-1", "Beijing 北京"),
    ])
    .await;
    let (gy, gz, hn, bj) = (
        fed.node("520000"),
        fed.node("440000"),
        fed.node("430000"),
        fed.node("110000"),
    );
    let added = fed
        .lists("520000")
        .add(
            &draft(
                ListKind::SeriousDishonesty,
                company("520000", 3),
                &["restrict_honours"],
            ),
            now_ms(),
        )
        .await
        .unwrap();
    delivered(gy, &[]).await;
    let id = added.id;
    let entry_for = |origin: &str| ListEntry {
        id: EntryId {
            origin: region(origin),
            id: [9; 16],
        },
        revision: 0,
        list_type: ListKind::SeriousDishonesty,
        subject: SubjectRef::LegalPerson(company(origin, 4)),
        basis: "basis".into(),
        authority: "authority".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2027-11-01".into(),
        measures: vec!["restrict_honours".into()],
        notice: SubjectNotice {
            date: "2026-11-01".into(),
            means: NoticeMeans::Electronic,
        },
        details: Default::default(),
    };

    // Beijing, bound by no agreement with Guizhou, sends it a listing: logged and refused.
    let payload = credex_protocol::encode(&entry_for("110000")).unwrap();
    send_raw(bj, "520000", msg::LISTING, payload).await;
    refused(
        &last_sent(bj).await,
        "no agreement binds regions 110000 and 520000",
    );
    assert!(fed.lists("520000").received().await.unwrap().is_empty());
    let (gy_in, _) = lists_messages(gy).await;
    assert!(
        gy_in
            .values()
            .any(|m| m.from_region == region("110000") && m.outcome.is_refused())
    );

    // Guangdong forwards a "Guizhou" listing to Hunan: a region sends only its own entries.
    let mut forged = entry_for("520000");
    forged.id.id = [7; 16];
    send_raw(
        gz,
        "430000",
        msg::LISTING,
        credex_protocol::encode(&forged).unwrap(),
    )
    .await;
    refused(&last_sent(gz).await, "a region sends only its own entries");

    // Guangdong tries to revoke Guizhou's entry at Hunan: only the origin changes it.
    let change = EntryChange {
        entry: id,
        revision: 1,
        change: ChangeKind::Revoke,
        corrected: None,
        reason: String::new(),
    };
    send_raw(
        gz,
        "430000",
        msg::CHANGE,
        credex_protocol::encode(&change).unwrap(),
    )
    .await;
    refused(&last_sent(gz).await, "cannot change it");
    let held = fed.lists("430000").received().await.unwrap();
    assert_eq!((held[0].entry.id, held[0].ended), (id, None));

    // Beijing feeds back on Guizhou's entry it never received.
    let feedback = Feedback {
        entry: id,
        applied: vec!["restrict_honours".into()],
        note: String::new(),
    };
    send_raw(
        bj,
        "520000",
        msg::FEEDBACK,
        credex_protocol::encode(&feedback).unwrap(),
    )
    .await;
    refused(&last_sent(bj).await, "was not sent to region 110000");
    // A member's feedback naming a measure of another list is refused too.
    let bad = Feedback {
        applied: vec!["green_channel".into()],
        ..feedback
    };
    send_raw(
        gz,
        "520000",
        msg::FEEDBACK,
        credex_protocol::encode(&bad).unwrap(),
    )
    .await;
    refused(&last_sent(gz).await, "does not apply");
    // Garbage payloads and unknown kinds are refused, never a panic.
    send_raw(gz, "520000", msg::LISTING, vec![0xff; 40]).await;
    refused(&last_sent(gz).await, "does not decode");
    send_raw(gz, "520000", 99, vec![1]).await;
    refused(&last_sent(gz).await, "unknown lists message kind 99");
    let status = fed.lists("520000").status(now_ms()).await.unwrap();
    assert!(status[0].regions.iter().all(|r| r.feedback.is_none()));

    // A message claiming to come from Guizhou over Guangdong's connection,
    // and one whose payload was altered after signing, are not accepted at all.
    let conn = within("dial", dial(gz, hn, "430000", "hn-1"))
        .await
        .unwrap();
    let identity = credex_node::boot::NodeIdentity::load(gz.config()).unwrap();
    let (key, chain): (_, Vec<Vec<u8>>) = (identity.signing_key, identity.chain);
    let mut envelope = Envelope {
        message_id: [5; 16],
        flow: Flow::Lists,
        kind: msg::LISTING,
        from_region: region("520000"),
        from_node: "gy-1".parse().unwrap(),
        to_region: region("430000"),
        created_at_ms: now_ms(),
        payload: credex_protocol::encode(&forged).unwrap(),
        egress: credex_protocol::egress::EgressRecord::no_record_data(),
    };
    envelope.egress = credex_tests::egress_as_carried(Flow::Lists, msg::LISTING, &envelope.payload);
    let sign = |e: &Envelope| SignedEnvelope {
        envelope: e.clone(),
        sender: credex_pki::authorization::sign_node_statement(
            DOMAIN_FEDERATION_MESSAGE,
            &credex_protocol::encode(e).unwrap(),
            &key,
            chain.clone(),
        )
        .unwrap(),
    };
    let answer = conn
        .request(&Request::Deliver(Box::new(sign(&envelope))))
        .await;
    assert!(
        matches!(&answer, Err(ClientError::Refused(e)) if e.code == ErrorCode::IdentityMismatch),
        "{answer:?}"
    );
    envelope.from_region = region("440000");
    envelope.from_node = "gz-1".parse().unwrap();
    let mut tampered = sign(&envelope);
    tampered.envelope.payload = credex_protocol::encode(&entry_for("440000")).unwrap();
    let answer = conn.request(&Request::Deliver(Box::new(tampered))).await;
    assert!(
        matches!(&answer, Err(ClientError::Refused(e)) if e.code == ErrorCode::NotAuthorized),
        "{answer:?}"
    );
    conn.close();
    assert_eq!(fed.lists("430000").received().await.unwrap().len(), 1);

    // Local checks: a measure of another list, or a bad subject code, is refused before anything is sent.
    let l = fed.lists("520000");
    let err = l
        .add(
            &draft(
                ListKind::SeriousDishonesty,
                company("520000", 5),
                &["green_channel"],
            ),
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not apply"), "{err}");
    let mut bad_subject = company("520000", 5);
    bad_subject.replace_range(17..18, if bad_subject.ends_with('0') { "1" } else { "0" });
    let err = l
        .add(
            &draft(
                ListKind::SeriousDishonesty,
                bad_subject,
                &["restrict_honours"],
            ),
            now_ms(),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("subject"), "{err}");
    assert_eq!(l.status(now_ms()).await.unwrap().len(), 1);
    // The refusals are in both sides' logs, and the audit passes.
    fed.audit_passes().await;
    fed.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correction_then_a_revocation_reach_every_receiver() {
    let mut fed = Nodes::start(&[
        ("520000", "gy-1", "Guizhou 贵州"),
        ("440000", "gz-1", "Guangdong 广东"),
        ("430000", "hn-1", "Hunan 湖南"),
    ])
    .await;
    let gy = fed.lists("520000");
    let receivers = vec![region("430000"), region("440000")];
    let subject = company("520000", 6);
    let id = gy
        .add(
            &draft(
                ListKind::SeriousDishonesty,
                subject.clone(),
                &["restrict_honours"],
            ),
            now_ms(),
        )
        .await
        .unwrap()
        .id;
    delivered(fed.node("520000"), &[]).await;

    // An objection upheld in part (更正): new measures and exit date.
    let mut corrected = draft(
        ListKind::SeriousDishonesty,
        subject.clone(),
        &["restrict_honours", "restrict_public_funds"],
    );
    corrected.planned_exit = "2028-11-01".into();
    // A correction cannot move the entry to another list.
    let other_list = draft(
        ListKind::KeyAttention,
        subject.clone(),
        &["increase_inspections"],
    );
    let err = gy
        .change(&id, ChangeKind::Correct, Some(&other_list), "", now_ms())
        .await
        .unwrap_err();
    assert!(matches!(err, ListsError::Invalid(_)), "{err}");
    // Hunan is down when the correction is made: Guangdong confirms at
    // once, Hunan once it is back (the message waits in the outbox).
    fed.stop("430000").await;
    let to = gy
        .change(
            &id,
            ChangeKind::Correct,
            Some(&corrected),
            "异议部分成立",
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(to, receivers);
    let status = status_until(&gy, "Guangdong confirmed", |s| {
        s[0].regions
            .iter()
            .any(|r| r.region == region("440000") && r.stage == Stage::ChangeConfirmed)
    })
    .await;
    let hn = status[0]
        .regions
        .iter()
        .find(|r| r.region == region("430000"))
        .unwrap();
    assert_eq!(hn.stage, Stage::ChangeSent);
    fed.restart("430000").await;
    let status = status_until(&gy, "correction confirmed", |s| {
        s[0].regions
            .iter()
            .all(|r| r.stage == Stage::ChangeConfirmed)
    })
    .await;
    assert_eq!((status[0].revision, status[0].ended), (1, None));
    for r in &receivers {
        let held = fed.lists(&r.to_string()).received().await.unwrap();
        assert_eq!(held[0].entry.revision, 1, "{r}");
        assert_eq!(
            held[0].entry.measures,
            ["restrict_honours", "restrict_public_funds"]
        );
        assert_eq!(held[0].entry.planned_exit, "2028-11-01");
        assert_eq!(held[0].ended, None);
    }

    // Then revoked (撤销): every copy ends, every receiver confirms revision 2.
    gy.change(&id, ChangeKind::Revoke, None, "异议成立", now_ms())
        .await
        .unwrap();
    let status = status_until(&gy, "revocation confirmed", |s| {
        s[0].regions
            .iter()
            .all(|r| r.stage == Stage::ChangeConfirmed && r.change.as_ref().unwrap().revision == 2)
    })
    .await;
    assert_eq!(
        (status[0].revision, status[0].ended),
        (2, Some(ChangeKind::Revoke))
    );
    for r in &receivers {
        let held = fed.lists(&r.to_string()).received().await.unwrap();
        assert_eq!(
            (held[0].entry.revision, held[0].ended),
            (2, Some(ChangeKind::Revoke))
        );
        // A revoked entry takes no feedback.
        assert!(matches!(
            fed.lists(&r.to_string())
                .feedback(&id, &["restrict_honours".into()], "", now_ms())
                .await,
            Err(ListsError::Ended(_, ChangeKind::Revoke))
        ));
        delivered(fed.node(&r.to_string()), &[]).await;
    }
    fed.audit_passes().await;
    fed.shutdown().await;
}

/// The egress gate on lists: each member receives only the details its
/// agreement names, the origin logs what it withheld, and a push that
/// goes around the gate is refused and caught by the auditor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_member_gets_only_the_details_its_agreement_names() {
    let fed = Nodes::start(&[
        ("520000", "gy-1", "Guizhou 贵州"),
        ("500000", "cq-1", "Chongqing 重庆"),
        ("440000", "gz-1", "Guangdong 广东"),
    ])
    .await;
    let (gy, cq, gz) = (fed.node("520000"), fed.node("500000"), fed.node("440000"));
    let details: BTreeMap<String, String> = [
        ("document_number", "黔信用认〔2026〕7号"),
        ("facts", "拒不履行行政处罚决定"),
        ("responsible_person", "王某"),
        ("review_notes", "内部复核意见：不得外传"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut entry = draft(
        ListKind::SeriousDishonesty,
        company("520000", 4),
        &["restrict_honours"],
    );
    entry.details = details.clone();
    let added = fed.lists("520000").add(&entry, now_ms()).await.unwrap();
    delivered(gy, &[]).await;
    let held_details = |node: &RunningNode| {
        let lists = Lists::new(node.federation().clone(), ListsPolicy::builtin());
        async move {
            lists
                .received()
                .await
                .unwrap()
                .into_iter()
                .find(|h| h.entry.id == added.id)
                .map(|h| h.entry.details.into_keys().collect::<Vec<_>>())
                .unwrap()
        }
    };
    assert_eq!(
        held_details(cq).await,
        ["document_number", "facts", "responsible_person"]
    );
    assert_eq!(held_details(gz).await, ["document_number", "facts"]);
    let initiated: credex_journal::ListingInitiated = journal(gy)
        .await
        .into_iter()
        .find(|r| r.kind == credex_journal::kind::LISTING_INITIATED)
        .map(|r| credex_protocol::decode(&r.body).unwrap())
        .unwrap();
    let withheld: BTreeMap<String, Vec<String>> = initiated
        .withheld
        .iter()
        .map(|(r, c)| (r.to_string(), c[0].fields.clone()))
        .collect();
    assert_eq!(withheld["500000"], ["review_notes"]);
    assert_eq!(withheld["440000"], ["responsible_person", "review_notes"]);
    fed.audit_passes().await;

    // A Guizhou node whose code sends the full entry to Guangdong with the
    // gate's record (which withheld two details).
    let full = ListEntry {
        id: EntryId {
            origin: region("520000"),
            id: [4; 16],
        },
        revision: 0,
        list_type: ListKind::SeriousDishonesty,
        subject: SubjectRef::LegalPerson(company("520000", 5)),
        basis: entry.basis.clone(),
        authority: entry.authority.clone(),
        entry_date: entry.entry_date.clone(),
        planned_exit: entry.planned_exit.clone(),
        measures: entry.measures.clone(),
        notice: entry.notice.clone(),
        details,
    };
    let (_, gated) = credex_policies::egress::release_listing(
        &credex_policies::AgreementSet::builtin(),
        &credex_policies::Catalogue::base(),
        region("520000"),
        region("440000"),
        &full,
    )
    .unwrap();
    let (_, record) = gated.into_parts();
    let body = credex_policies::egress::danger::release_unchecked(
        Flow::Lists,
        msg::LISTING,
        region("440000"),
        credex_protocol::encode(&full).unwrap(),
        record,
    );
    let (_, write) = gy.federation().prepare(body, now_ms()).unwrap();
    gy.storage().write_state(vec![write]).await.unwrap();
    gy.federation().wake();
    delivered(gy, &[]).await;
    refused(
        &last_sent(gy).await,
        "serious_dishonesty.responsible_person",
    );
    let gz_lists = Lists::new(gz.federation().clone(), ListsPolicy::builtin());
    assert!(
        gz_lists
            .received()
            .await
            .unwrap()
            .iter()
            .all(|h| h.entry.id != full.id)
    );
    // The auditor flags it in Guangdong's log, once.
    let out = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    credex_tests::witness_all(&[gy, cq, gz]).await;
    for node in [gy, cq, gz] {
        let dir = out.path().join(node.config().region.to_string());
        export(node, &dir).await;
        dirs.push(dir);
    }
    let report = audit::verify(&dirs, &gy.transport().trust().current());
    let found = credex_tests::findings(&report);
    assert_eq!(
        found,
        [("credex/440000/gz-1", "egress_beyond_release")],
        "{:#?}",
        report.violations
    );
    assert!(report.violations[0].detail.contains("review_notes"));
    fed.shutdown().await;
}

/// A natural person (失信被执行人 individual) is listed under the keyed
/// pseudonym of the origin's current epoch, never by citizen ID; listings
/// and changes keep flowing across an epoch change, each carrying the
/// epoch it was made under.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_natural_person_is_listed_by_pseudonym_across_an_epoch_change() {
    use credex_pki::{PseudonymKey, PseudonymKeyRing};
    const PERSON: &str = "11010519491231002X";
    let fed = Nodes::start(&[
        ("520000", "gy-1", "Guizhou 贵州"),
        ("500000", "cq-1", "Chongqing 重庆"),
    ])
    .await;
    let (gy, cq) = (fed.node("520000"), fed.node("500000"));
    let rng = ring::rand::SystemRandom::new();
    let epoch1 =
        PseudonymKeyRing::new([
            PseudonymKey::generate_in(credex_tests::test_suite(), 1, &rng).unwrap(),
        ])
        .unwrap();
    let epoch2 = epoch1
        .with(PseudonymKey::generate_in(credex_tests::test_suite(), 2, &rng).unwrap())
        .unwrap();
    let lists_with = |ring: &PseudonymKeyRing| {
        let mut policy = ListsPolicy::builtin();
        policy.pseudonyms = Some(ring.clone());
        Lists::new(gy.federation().clone(), policy)
    };
    let held = || async {
        Lists::new(cq.federation().clone(), ListsPolicy::builtin())
            .received()
            .await
            .unwrap()
    };

    // Without the key ring a natural person cannot be listed at all.
    let person = draft(
        ListKind::SeriousDishonesty,
        PERSON.into(),
        &["restrict_honours"],
    );
    let err = fed
        .lists("520000")
        .add(&person, now_ms())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("pseudonym key ring"), "{err}");

    let first = lists_with(&epoch1).add(&person, now_ms()).await.unwrap();
    delivered(gy, &[]).await;
    let p1 = epoch1.current_pseudonym(PERSON).unwrap();
    let h = held().await;
    assert_eq!(h.len(), 1);
    assert_eq!(h[0].entry.subject, p1.to_string());

    // Epoch 2 is added: a new listing carries the new pseudonym, and a
    // change to the first entry still reaches Chongqing and is confirmed.
    let second = lists_with(&epoch2).add(&person, now_ms()).await.unwrap();
    lists_with(&epoch2)
        .change(&first.id, ChangeKind::Repair, None, "信用修复", now_ms())
        .await
        .unwrap();
    delivered(gy, &[]).await;
    let p2 = epoch2.current_pseudonym(PERSON).unwrap();
    assert_eq!(p2.epoch, 2);
    let h = held().await;
    let subject_of = |id| {
        h.iter()
            .find(|e| e.entry.id == id)
            .map(|e| e.entry.subject.clone())
            .unwrap()
    };
    assert_eq!(subject_of(first.id), p1.to_string());
    assert_eq!(subject_of(second.id), p2.to_string());
    let confirmed = status_until(&lists_with(&epoch2), "the repair confirmed", |s| {
        s.iter().any(|e| {
            e.id == first.id
                && e.regions.iter().all(|r| {
                    r.change
                        .as_ref()
                        .is_some_and(|c| c.confirmed_at_ms.is_some())
                })
        })
    })
    .await;
    assert!(!confirmed.is_empty());

    // The citizen ID is in neither node's database nor log export.
    let out = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for node in [gy, cq] {
        let dir = out.path().join(node.config().region.to_string());
        export(node, &dir).await;
        let data = node.config().data_dir.clone();
        for root in [dir, data] {
            for e in walk(&root) {
                files.push(e);
            }
        }
    }
    assert!(files.len() > 4, "{files:?}");
    for f in &files {
        // The nodes still run: a file written by rename (the head file's
        // temporary) may be gone since the walk; what it held is in the
        // file it became, which the walk listed too.
        let bytes = match std::fs::read(f) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("{}: {e}", f.display()),
        };
        assert!(
            !bytes.windows(PERSON.len()).any(|w| w == PERSON.as_bytes()),
            "clear citizen ID in {}",
            f.display()
        );
    }
    fed.audit_passes().await;
    fed.shutdown().await;
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The Chongqing–Guizhou agreement with Beijing in Chongqing's place.
fn beijing_guizhou_agreement() -> String {
    credex_policies::agreement::BUILTIN_CHONGQING_GUIZHOU_TOML
        .replace("chongqing-guizhou", "beijing-guizhou")
        .replace("500000", "110000")
}

/// A federation with an agreement of its own: the auditor re-runs the
/// egress decisions of the messages sent under it only when given the
/// federation's agreements (`credex audit verify --agreements`); with the
/// shipped ones alone it checks their bodies and counts them as not re-run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_auditor_reruns_egress_under_the_federations_own_agreements() {
    let guizhou_and_beijing = [
        PAN_PEARL_RIVER_AND_BEIJING[0],
        PAN_PEARL_RIVER_AND_BEIJING[9],
    ];
    let agreement = beijing_guizhou_agreement();
    let fed = Nodes::start_with_agreements(
        &guizhou_and_beijing,
        &[("beijing-guizhou.toml", agreement.clone())],
    )
    .await;
    let gy_config = &fed.configs[fed.index("520000")];
    let gy = Lists::new(
        fed.node("520000").federation().clone(),
        ListsPolicy::for_node(gy_config).unwrap(),
    );
    let added = gy
        .add(
            &draft(
                ListKind::SeriousDishonesty,
                company("520000", 7),
                &["restrict_government_procurement"],
            ),
            now_ms(),
        )
        .await
        .unwrap();
    assert_eq!(added.sent_to, vec![region("110000")]);
    delivered(fed.node("520000"), &[]).await;
    status_until(&gy, "Beijing's response", |s| {
        s.iter()
            .all(|e| e.regions.iter().all(|r| r.stage == Stage::Responded))
    })
    .await;

    let out = tempfile::tempdir().unwrap();
    let running: Vec<&RunningNode> = fed.nodes.iter().flatten().collect();
    credex_tests::witness_all(&running).await;
    let mut dirs = Vec::new();
    for node in &running {
        let dir = out.path().join(node.config().region.to_string());
        export(node, &dir).await;
        dirs.push(dir);
    }
    let trust = fed.node("520000").transport().trust().current();
    let count = |r: &audit::AuditReport, f: fn(&audit::LogSummary) -> usize| -> usize {
        r.logs.iter().map(f).sum()
    };

    // The shipped documents alone: every body checked, no decision re-run.
    let shipped = audit::verify(&dirs, &trust);
    assert!(shipped.passed(), "{:#?}", shipped.violations);
    let not_rerun = count(&shipped, |l| l.egress_not_rerun);
    assert!(
        not_rerun >= 2,
        "the listing, sent and received: {not_rerun}"
    );
    assert_eq!(count(&shipped, |l| l.egress_rerun), 0);

    // The federation's own agreements: every decision re-run, the same.
    let agreements = out.path().join("agreements");
    std::fs::create_dir_all(&agreements).unwrap();
    std::fs::write(agreements.join("beijing-guizhou.toml"), &agreement).unwrap();
    let options = audit::AuditOptions {
        egress_rules: audit::egress::EgressRules {
            agreements: credex_node::eval::load_agreements_in(&agreements).unwrap(),
            ..audit::egress::EgressRules::builtin()
        },
        ..Default::default()
    };
    let own = audit::verify_with(&dirs, &trust, &options, &|_| {});
    assert!(own.passed(), "{:#?}", own.violations);
    assert_eq!(count(&own, |l| l.egress_not_rerun), 0);
    assert_eq!(count(&own, |l| l.egress_rerun), not_rerun);

    // A node's own documents, as its console audits uploaded exports with.
    let options = audit::AuditOptions {
        egress_rules: credex_node::boot::egress_rules(gy_config).unwrap(),
        ..Default::default()
    };
    let console = audit::verify_with(&dirs, &trust, &options, &|_| {});
    assert!(console.passed(), "{:#?}", console.violations);
    assert_eq!(count(&console, |l| l.egress_not_rerun), 0);
    fed.shutdown().await;
}

/// A node decides with the agreements beside its configuration, not
/// only the shipped ones: an extra Guizhou–Beijing agreement makes
/// Beijing bound by Guizhou's serious-dishonesty listings; a broken file
/// stops the node with its name.
#[test]
fn a_node_uses_the_agreements_beside_its_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let nodes = credex_kit::dev::init(dir.path(), 7401).unwrap();
    let gy = NodeConfig::load(&nodes[0].config).unwrap();
    let guizhou: RegionCode = "520000".parse().unwrap();
    let beijing: RegionCode = "110000".parse().unwrap();
    let bound = |p: &ListsPolicy| {
        p.agreements
            .joint_peers(guizhou, credex_policies::ListType::SeriousDishonesty)
            .contains(&beijing)
    };
    assert!(!bound(&ListsPolicy::for_node(&gy).unwrap()));
    let extra = gy.path.parent().unwrap().join("agreements");
    std::fs::create_dir_all(&extra).unwrap();
    std::fs::write(
        extra.join("beijing-guizhou.toml"),
        beijing_guizhou_agreement(),
    )
    .unwrap();
    assert!(bound(&ListsPolicy::for_node(&gy).unwrap()));
    std::fs::write(extra.join("broken.toml"), "code = ").unwrap();
    let err = ListsPolicy::for_node(&gy).expect_err("a broken file is refused");
    assert!(err.to_string().contains("broken.toml"), "{err}");
}
