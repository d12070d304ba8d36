//! A deterministic multi-node harness for the flows (like quinn's `Pair`):
//! several nodes, each with its flows, its state as a map, its records and
//! a journal, joined by in-memory links that drop, delay, duplicate and so
//! reorder messages and acknowledgements, on a virtual clock.
//!
//! The harness plays the node's part exactly as `credex-node` does: it
//! reads what a flow's [`Flow::reads`] names into a [`View`], hands the
//! flow the time and the trust store, commits the [`Effect`] (state,
//! records, follow-up messages into the outbox), answers once through the
//! [`Inbox`] and retries through the [`Outbox`]. It does not sign
//! envelopes: the node's transport and envelope checks are tested over
//! real QUIC in `tests/`; here the link's sender is the envelope's.
//!
//! A run is a function of its seed: a failure names the seed, so it replays.

#![allow(dead_code)] // each test file uses part of the harness

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;

use credex_flows::flow::{Context, Effect, Flow, Peer, Read, Refusal, StateKey, View};
use credex_flows::inbox::{Delivery, Inbox, InboxAnswer};
use credex_flows::outbox::{Acknowledged, MessageId, Outbox};
use credex_pki::TrustStore;
use credex_policies::egress::ReleasedBody;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow as FlowName};
use credex_protocol::{NodeName, RegionCode};
use serde::de::DeserializeOwned;

/// How long a sender waits for an acknowledgement before it retries.
pub const ACK_TIMEOUT_MS: i64 = 1_000;
/// A run that has not gone quiet by then is a liveness failure.
pub const GIVE_UP_AFTER_MS: i64 = 3_600_000;

/// splitmix64: a small, seeded, dependency-free generator.
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// True `per_mille` times in a thousand.
    pub fn chance(&mut self, per_mille: u64) -> bool {
        self.below(1000) < per_mille
    }

    /// A fresh message id.
    pub fn id(&mut self) -> MessageId {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next().to_le_bytes());
        id[8..].copy_from_slice(&self.next().to_le_bytes());
        id
    }
}

/// How links misbehave until they heal.
#[derive(Clone, Copy, Debug)]
pub struct Faults {
    /// Packets dropped, per thousand.
    pub drop_per_mille: u64,
    /// Packets delivered twice, per thousand.
    pub duplicate_per_mille: u64,
    /// Largest delay of a packet (so packets overtake each other).
    pub max_delay_ms: i64,
    /// This long after the network starts, links heal: they deliver
    /// everything once, in 1 ms.
    pub heal_after_ms: i64,
}

impl Faults {
    /// Links that never misbehave.
    pub const NONE: Faults = Faults {
        drop_per_mille: 0,
        duplicate_per_mille: 0,
        max_delay_ms: 1,
        heal_after_ms: 0,
    };

    /// Drops, duplicates and reorders drawn from `rng`, healing after a minute.
    pub fn random(rng: &mut Rng) -> Faults {
        Faults {
            drop_per_mille: rng.below(400),
            duplicate_per_mille: rng.below(300),
            max_delay_ms: 1 + rng.below(3_000) as i64,
            heal_after_ms: 60_000,
        }
    }
}

/// What a node's journal records of federation messaging.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Line {
    /// A message this node received.
    Received {
        /// The sender.
        from: RegionCode,
        /// The message.
        id: MessageId,
        /// The flow and kind.
        flow: FlowName,
        /// A duplicate delivery (nothing changed).
        duplicate: bool,
        /// The answer given.
        status: DeliveryStatus,
        /// The flow's summary (or the refusal).
        summary: String,
    },
    /// A message of this node that its receiver acknowledged.
    Sent {
        /// The receiver.
        to: RegionCode,
        /// The message.
        id: MessageId,
        /// The receiver's answer.
        status: DeliveryStatus,
    },
}

/// One node: its flows, state, records, outbox, inbox and journal.
pub struct Node {
    /// The node's region.
    pub region: RegionCode,
    /// The node's name.
    pub name: NodeName,
    flows: Vec<Arc<dyn Flow>>,
    /// Flow state.
    pub state: BTreeMap<StateKey, Vec<u8>>,
    /// Records stored by flows, by (category, record id): (subject key, body).
    pub records: BTreeMap<(String, String), HeldRow>,
    outbox: Outbox<Envelope>,
    inbox: Inbox,
    /// The journal of messages.
    pub journal: Vec<Line>,
    awaiting: BTreeMap<RegionCode, (MessageId, i64)>,
}

impl Node {
    /// The value under (`ns`, `key`) decoded.
    pub fn state<T: DeserializeOwned>(&self, ns: &str, key: &str) -> Option<T> {
        self.state
            .get(&StateKey::new(ns, key))
            .map(|bytes| credex_protocol::decode(bytes).expect("stored state decodes"))
    }

    /// Messages still to deliver.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len()
    }

    fn view(&self, reads: &[Read]) -> View {
        NodeParts {
            state: &self.state,
            records: &self.records,
        }
        .view(reads)
    }

    fn flow(&self, name: FlowName) -> Arc<dyn Flow> {
        let flow = self.flows.iter().find(|f| f.name() == name);
        Arc::clone(flow.unwrap_or_else(|| panic!("{} has no {name} flow", self.region)))
    }
}

#[derive(Clone, Debug)]
enum Packet {
    Deliver(Envelope),
    Ack {
        from: RegionCode,
        from_node: NodeName,
        to: RegionCode,
        id: MessageId,
        answer: InboxAnswer,
    },
}

/// A packet arriving at `at`; ties broken by send order.
pub struct Arrival<P> {
    /// When it arrives (virtual ms).
    pub at: i64,
    /// Send order.
    pub seq: u64,
    /// What arrives.
    pub packet: P,
}

impl<P> PartialEq for Arrival<P> {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl<P> Eq for Arrival<P> {}
impl<P> PartialOrd for Arrival<P> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<P> Ord for Arrival<P> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // BinaryHeap is a max-heap: the earliest arrival first.
        (other.at, other.seq).cmp(&(self.at, self.seq))
    }
}

/// Several nodes on lossy links and a virtual clock.
pub struct Net {
    /// The seed's generator (faults and message ids).
    pub rng: Rng,
    /// How links misbehave.
    pub faults: Faults,
    /// Now, virtual Unix ms.
    pub now: i64,
    start: i64,
    seq: u64,
    arrivals: BinaryHeap<Arrival<Packet>>,
    /// The nodes by region.
    pub nodes: BTreeMap<RegionCode, Node>,
    trust: Arc<TrustStore>,
}

impl Net {
    /// An empty network starting at `now` (virtual Unix ms), trusting `trust`.
    pub fn new(seed: u64, faults: Faults, trust: Arc<TrustStore>, now: i64) -> Net {
        Net {
            rng: Rng(seed),
            faults,
            now,
            start: now,
            seq: 0,
            arrivals: BinaryHeap::new(),
            nodes: BTreeMap::new(),
            trust,
        }
    }

    /// Add a node of `region` named `name` running `flows`.
    pub fn add_node(&mut self, region: RegionCode, name: &str, flows: Vec<Arc<dyn Flow>>) {
        let node = Node {
            region,
            name: name.parse().expect("node name"),
            flows,
            state: BTreeMap::new(),
            records: BTreeMap::new(),
            outbox: Outbox::new(),
            inbox: Inbox::new(),
            journal: Vec::new(),
            awaiting: BTreeMap::new(),
        };
        self.nodes.insert(region, node);
    }

    /// The node of `region`.
    pub fn node(&self, region: RegionCode) -> &Node {
        &self.nodes[&region]
    }

    /// Queue `body` at `from` (an event of its own, e.g. a result issued)
    /// and return the message's id.
    pub fn queue(&mut self, from: RegionCode, body: ReleasedBody) -> MessageId {
        let id = self.rng.id();
        let now = self.now;
        let node = self.nodes.get_mut(&from).expect("sender");
        let envelope = envelope(node, id, now, body);
        node.outbox.queue(envelope.to_region, id, envelope);
        id
    }

    /// Commit `writes` at `region` (what its operator's side writes with
    /// an event, e.g. the entry and its tracks when it lists one).
    pub fn write(&mut self, region: RegionCode, writes: Vec<credex_flows::flow::StateWrite>) {
        let node = self.nodes.get_mut(&region).expect("node");
        let effect = Effect {
            state: writes,
            ..Effect::default()
        };
        apply(&mut node.state, &mut node.records, &mut Vec::new(), effect);
    }

    /// Let `ms` of virtual time pass, running everything due.
    pub fn advance(&mut self, ms: i64) {
        let until = self.now + ms;
        while let Some(t) = self.next_time().filter(|t| *t <= until) {
            self.now = t;
            self.step();
        }
        self.now = until;
    }

    /// Run until nothing is in flight and every outbox is empty; panics
    /// (naming the seed) if that takes more than [`GIVE_UP_AFTER_MS`].
    pub fn run_until_quiet(&mut self) {
        let start = self.now;
        while let Some(t) = self.next_time() {
            assert!(
                t - start < GIVE_UP_AFTER_MS,
                "seed {}: not quiet after {GIVE_UP_AFTER_MS} ms",
                self.rng.0
            );
            self.now = t;
            self.step();
        }
    }

    fn step(&mut self) {
        self.time_out();
        self.transmit_due();
        while self.arrivals.peek().is_some_and(|a| a.at <= self.now) {
            let arrival = self.arrivals.pop().expect("peeked");
            self.arrive(arrival.packet);
        }
        self.transmit_due();
    }

    fn send(&mut self, packet: Packet) {
        let faulty = self.now < self.start + self.faults.heal_after_ms;
        if faulty && self.rng.chance(self.faults.drop_per_mille) {
            return;
        }
        let copies = if faulty && self.rng.chance(self.faults.duplicate_per_mille) {
            2
        } else {
            1
        };
        for _ in 0..copies {
            let delay = if faulty {
                1 + self.rng.below(self.faults.max_delay_ms as u64) as i64
            } else {
                1
            };
            self.seq += 1;
            self.arrivals.push(Arrival {
                at: self.now + delay,
                seq: self.seq,
                packet: packet.clone(),
            });
        }
    }

    fn transmit_due(&mut self) {
        let now = self.now;
        let mut out = Vec::new();
        for node in self.nodes.values_mut() {
            while let Some(t) = node.outbox.poll_transmit(now) {
                node.awaiting.insert(t.to, (t.id, now + ACK_TIMEOUT_MS));
                out.push(Packet::Deliver(t.message));
            }
        }
        for p in out {
            self.send(p);
        }
    }

    fn time_out(&mut self) {
        let now = self.now;
        for node in self.nodes.values_mut() {
            let expired: Vec<(RegionCode, MessageId)> = node
                .awaiting
                .iter()
                .filter(|(_, (_, deadline))| *deadline <= now)
                .map(|(to, (id, _))| (*to, *id))
                .collect();
            for (to, id) in expired {
                node.awaiting.remove(&to);
                node.outbox.failed(to, id, now, "no acknowledgement".into());
            }
        }
    }

    fn arrive(&mut self, packet: Packet) {
        match packet {
            Packet::Deliver(envelope) => self.deliver(envelope),
            Packet::Ack {
                from,
                from_node,
                to,
                id,
                answer,
            } => self.acknowledge(from, from_node, to, id, answer),
        }
    }

    /// The receiver's side: apply once through the inbox, answer.
    fn deliver(&mut self, envelope: Envelope) {
        let (from, to, id) = (
            envelope.from_region,
            envelope.to_region,
            envelope.message_id,
        );
        let now = self.now;
        let mut follow_ups = Vec::new();
        let mut summary = String::new();
        let node = self.nodes.get_mut(&to).expect("receiver");
        let flow = node.flow(envelope.flow);
        let peer = Peer {
            region: from,
            node: envelope.from_node.clone(),
        };
        let cx = Context {
            now_ms: now,
            trust: &self.trust,
        };
        let Node {
            inbox,
            state,
            records,
            ..
        } = node;
        let delivery = inbox.receive(from, id, || {
            let decided = flow.reads(&peer, &envelope).and_then(|reads| {
                let view = NodeParts { state, records }.view(&reads);
                flow.receive(&cx, &view, &peer, &envelope)
            });
            match decided {
                Ok(effect) => {
                    summary = effect.summary.clone();
                    let reply = effect.reply.clone();
                    apply(state, records, &mut follow_ups, effect);
                    InboxAnswer {
                        status: DeliveryStatus::Applied,
                        reply,
                    }
                }
                Err(Refusal::Permanent(refused)) => {
                    summary = format!("refused: {}: {refused}", refused.code());
                    InboxAnswer {
                        status: DeliveryStatus::Refused {
                            reason: format!("{}: {refused}", refused.code()),
                        },
                        reply: Vec::new(),
                    }
                }
                Err(Refusal::Transient(reason)) => {
                    panic!("a transient refusal in the harness: {reason}")
                }
            }
        });
        node.journal.push(Line::Received {
            from,
            id,
            flow: envelope.flow,
            duplicate: matches!(delivery, Delivery::Duplicate(_)),
            status: delivery.answer().status.clone(),
            summary,
        });
        for body in follow_ups {
            let follow_id = self.rng.id();
            let node = self.nodes.get_mut(&to).expect("receiver");
            let e = self::envelope(node, follow_id, now, body);
            node.outbox.queue(e.to_region, follow_id, e);
        }
        let answer = delivery.answer().clone();
        let from_node = self.nodes[&to].name.clone();
        self.send(Packet::Ack {
            from: to,
            from_node,
            to: from,
            id,
            answer,
        });
    }

    /// The sender's side: end the message in flight, let its flow take
    /// the answer in, journal it as sent.
    fn acknowledge(
        &mut self,
        from: RegionCode,
        from_node: NodeName,
        to: RegionCode,
        id: MessageId,
        answer: InboxAnswer,
    ) {
        let now = self.now;
        let node = self.nodes.get_mut(&to).expect("sender");
        let Acknowledged::Ended { queued } = node.outbox.acknowledged(from, id) else {
            return;
        };
        node.awaiting.remove(&from);
        let envelope = queued.message;
        let ack = DeliveryAck {
            message_digest: [0; 32],
            message_id: id,
            receiver_region: from,
            receiver_node: from_node,
            status: answer.status.clone(),
            reply: answer.reply,
        };
        let flow = node.flow(envelope.flow);
        let view = node.view(&flow.acknowledged_reads(&envelope, &ack));
        let cx = Context {
            now_ms: now,
            trust: &self.trust,
        };
        let writes = flow
            .acknowledged(&cx, &view, &envelope, &ack)
            .unwrap_or_else(|e| panic!("seed {}: acknowledgement not taken: {e}", self.rng.0));
        let effect = Effect {
            state: writes,
            ..Effect::default()
        };
        apply(&mut node.state, &mut node.records, &mut Vec::new(), effect);
        node.journal.push(Line::Sent {
            to: from,
            id,
            status: answer.status,
        });
    }

    fn next_time(&self) -> Option<i64> {
        let arrivals = self.arrivals.peek().map(|a| a.at);
        let timers = self.nodes.values().flat_map(|n| {
            n.outbox
                .poll_timeout()
                .into_iter()
                .chain(n.awaiting.values().map(|(_, d)| *d))
        });
        arrivals
            .into_iter()
            .chain(timers)
            .min()
            .map(|t| t.max(self.now))
    }
}

/// A record a node holds, by (category, record id).
#[derive(Debug, Clone)]
pub struct HeldRow {
    /// The stored subject key.
    pub subject_key: String,
    /// The record as stored.
    pub body: Vec<u8>,
    /// The owner's key of a copy of another region's record.
    pub copy_of: Option<credex_flows::flow::CopyOf>,
}

impl HeldRow {
    fn held(&self, (category, record_id): &(String, String)) -> credex_flows::flow::HeldRecord {
        credex_flows::flow::HeldRecord {
            category: category.clone(),
            record_id: record_id.clone(),
            subject_key: self.subject_key.clone(),
            body: self.body.clone(),
        }
    }
}

struct NodeParts<'a> {
    state: &'a BTreeMap<StateKey, Vec<u8>>,
    records: &'a BTreeMap<(String, String), HeldRow>,
}

impl NodeParts<'_> {
    fn view(&self, reads: &[Read]) -> View {
        let mut view = View::default();
        for read in reads {
            match read {
                Read::State(key) => {
                    if let Some(value) = self.state.get(key) {
                        view.insert(key.clone(), value.clone());
                    }
                }
                Read::Prefix { ns, prefix } => {
                    for (key, value) in self
                        .state
                        .range(StateKey::new(ns.clone(), prefix.clone())..)
                    {
                        if key.ns != *ns || !key.key.starts_with(prefix.as_str()) {
                            break;
                        }
                        view.insert(key.clone(), value.clone());
                    }
                }
                Read::SubjectRecords {
                    subject,
                    categories,
                } => {
                    let held = self
                        .records
                        .iter()
                        .filter(|((c, _), row)| {
                            row.subject_key == *subject && categories.contains(c)
                        })
                        .map(|((c, id), _)| (c.clone(), id.clone()))
                        .collect();
                    view.insert_subject(
                        subject.clone(),
                        credex_flows::flow::SubjectRecords::Held(held),
                    );
                }
                Read::Record { subject, record } => {
                    let subject_key = match subject {
                        credex_protocol::query::SubjectRef::LegalPerson(code) => code.clone(),
                        credex_protocol::query::SubjectRef::NaturalPerson(p) => p.to_string(),
                    };
                    let found = self.records.iter().find(|((c, id), row)| {
                        row.subject_key == subject_key
                            && credex_journal::record_key(c, id) == *record
                    });
                    if let Some((key, row)) = found {
                        view.insert_record(*record, row.held(key));
                    }
                }
                Read::Copy(of) => {
                    let found = self
                        .records
                        .iter()
                        .find(|(_, row)| row.copy_of == Some(*of));
                    if let Some((key, row)) = found {
                        view.insert_copy(*of, row.held(key));
                    }
                }
            }
        }
        view
    }
}

fn apply(
    state: &mut BTreeMap<StateKey, Vec<u8>>,
    records: &mut BTreeMap<(String, String), HeldRow>,
    follow_ups: &mut Vec<ReleasedBody>,
    effect: Effect,
) {
    for r in effect.records {
        let row = HeldRow {
            subject_key: r.subject_key,
            body: r.body,
            copy_of: r.copy_of,
        };
        records.insert((r.category, r.record_id), row);
    }
    for w in effect.state {
        let key = StateKey::new(w.ns, w.key);
        match w.value {
            Some(v) => state.insert(key, v),
            None => state.remove(&key),
        };
    }
    follow_ups.extend(effect.send);
}

fn envelope(node: &Node, id: MessageId, now: i64, body: ReleasedBody) -> Envelope {
    let to_region = body.recipient();
    let (flow, kind) = (body.flow(), body.kind());
    let (payload, egress) = body.into_parts();
    Envelope {
        message_id: id,
        flow,
        kind,
        from_region: node.region,
        from_node: node.name.clone(),
        to_region,
        created_at_ms: now,
        payload,
        egress,
    }
}
