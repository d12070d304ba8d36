//! Exactly-once, in-order federation delivery under every interleaving a
//! lossy network produces, on a virtual clock.
//!
//! Four nodes (Guizhou, Chongqing, Guangdong, the national platform) send
//! each other messages through their [`Outbox`]es; links drop, delay,
//! duplicate and so reorder both deliveries and acknowledgements; every
//! receiver answers through its [`Inbox`]. After the network heals, every
//! run must end with:
//!
//! - every message applied exactly once by its receiver, and in the order
//!   its sender queued it for that receiver;
//! - every message logged as sent exactly once by its sender, with the
//!   status its receiver first gave (log agreement: the sender's "sent"
//!   entry and the receiver's "received" entry say the same thing);
//! - every outbox empty.
//!
//! Thousands of seeded runs; a failure names its seed, so it replays.

mod support;

use std::collections::{BTreeMap, BinaryHeap};

use credex_flows::inbox::{Delivery, Inbox, InboxAnswer};
use credex_flows::outbox::{Acknowledged, MessageId, Outbox};
use credex_protocol::RegionCode;
use credex_protocol::federation::DeliveryStatus;
use support::{Arrival, Rng};

/// How long a sender waits for an acknowledgement before it retries.
const ACK_TIMEOUT_MS: i64 = 1_000;
/// Faults stop after this (virtual) time, so every run can finish.
const HEAL_AT_MS: i64 = 60_000;
/// A run that has not finished by then is a liveness failure.
const GIVE_UP_AT_MS: i64 = 600_000;

/// How a run's links misbehave until [`HEAL_AT_MS`].
#[derive(Clone, Copy, Debug)]
struct Faults {
    drop_per_mille: u64,
    duplicate_per_mille: u64,
    max_delay_ms: i64,
}

#[derive(Clone, Debug)]
enum Packet {
    Deliver {
        from: RegionCode,
        to: RegionCode,
        id: MessageId,
    },
    Ack {
        /// The receiver that answers.
        from: RegionCode,
        /// The sender it answers.
        to: RegionCode,
        id: MessageId,
        answer: InboxAnswer,
    },
}

/// What a node's journal records about messages.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Entry {
    Sent {
        to: RegionCode,
        id: MessageId,
        status: DeliveryStatus,
    },
    Received {
        from: RegionCode,
        id: MessageId,
        duplicate: bool,
        status: DeliveryStatus,
    },
}

struct Node {
    outbox: Outbox<()>,
    inbox: Inbox,
    journal: Vec<Entry>,
    /// Per destination, the attempt in flight and when it times out.
    awaiting: BTreeMap<RegionCode, (MessageId, i64)>,
}

struct Network {
    rng: Rng,
    faults: Faults,
    now: i64,
    seq: u64,
    arrivals: BinaryHeap<Arrival<Packet>>,
    nodes: BTreeMap<RegionCode, Node>,
}

impl Network {
    /// Four nodes that have sent nothing, at time 0.
    fn new(rng: Rng, faults: Faults) -> Network {
        Network {
            rng,
            faults,
            now: 0,
            seq: 0,
            arrivals: BinaryHeap::new(),
            nodes: regions()
                .into_iter()
                .map(|r| {
                    let node = Node {
                        outbox: Outbox::new(),
                        inbox: Inbox::new(),
                        journal: Vec::new(),
                        awaiting: BTreeMap::new(),
                    };
                    (r, node)
                })
                .collect(),
        }
    }

    fn send(&mut self, packet: Packet) {
        let faulty = self.now < HEAL_AT_MS;
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
                self.rng.below(self.faults.max_delay_ms as u64 + 1) as i64
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

    /// Every node sends what its outbox has due now.
    fn transmit_due(&mut self) {
        let regions: Vec<RegionCode> = self.nodes.keys().copied().collect();
        for from in regions {
            let now = self.now;
            let node = self.nodes.get_mut(&from).expect("node");
            let mut out = Vec::new();
            while let Some(t) = node.outbox.poll_transmit(now) {
                node.awaiting.insert(t.to, (t.id, now + ACK_TIMEOUT_MS));
                out.push(Packet::Deliver {
                    from,
                    to: t.to,
                    id: t.id,
                });
            }
            for p in out {
                self.send(p);
            }
        }
    }

    /// Attempts whose acknowledgement did not come in time fail.
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
            Packet::Deliver { from, to, id } => {
                let node = self.nodes.get_mut(&to).expect("receiver");
                // The flow refuses some messages for good; the rest apply.
                let delivery = node.inbox.receive(from, id, || InboxAnswer {
                    status: if id[1] % 5 == 0 {
                        DeliveryStatus::Refused {
                            reason: "no agreement binds this".into(),
                        }
                    } else {
                        DeliveryStatus::Applied
                    },
                    reply: vec![id[0]],
                });
                node.journal.push(Entry::Received {
                    from,
                    id,
                    duplicate: matches!(delivery, Delivery::Duplicate(_)),
                    status: delivery.answer().status.clone(),
                });
                let answer = delivery.answer().clone();
                self.send(Packet::Ack {
                    from: to,
                    to: from,
                    id,
                    answer,
                });
            }
            Packet::Ack {
                from,
                to,
                id,
                answer,
            } => {
                let node = self.nodes.get_mut(&to).expect("sender");
                if let Acknowledged::Ended { .. } = node.outbox.acknowledged(from, id) {
                    node.awaiting.remove(&from);
                    node.journal.push(Entry::Sent {
                        to: from,
                        id,
                        status: answer.status,
                    });
                }
            }
        }
    }

    /// The next time anything happens, if anything will.
    fn next_time(&self, next_creation: Option<i64>) -> Option<i64> {
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
            .chain(next_creation)
            .min()
            .map(|t| t.max(self.now))
    }
}

fn regions() -> Vec<RegionCode> {
    ["520000", "500000", "440000", "000000"]
        .iter()
        .map(|c| c.parse().expect("region code"))
        .collect()
}

/// One seeded run; panics with the seed on a broken property.
fn run(seed: u64) {
    let mut rng = Rng(seed);
    let faults = Faults {
        drop_per_mille: rng.below(400),
        duplicate_per_mille: rng.below(300),
        max_delay_ms: 1 + rng.below(1_500) as i64,
    };
    let regions = regions();
    // The messages each node will queue: (at, from, to, id), in time order.
    let count = 5 + rng.below(40);
    let mut plan: Vec<(i64, RegionCode, RegionCode, MessageId)> = (0..count)
        .map(|n| {
            let from = regions[rng.below(4) as usize];
            let mut to = regions[rng.below(4) as usize];
            while to == from {
                to = regions[rng.below(4) as usize];
            }
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&seed.to_be_bytes());
            id[8..].copy_from_slice(&n.to_be_bytes());
            id[0] = n as u8;
            id[1] = (rng.next() & 0xff) as u8;
            (rng.below(30_000) as i64, from, to, id)
        })
        .collect();
    plan.sort_by_key(|p| p.0);
    let mut net = Network::new(rng, faults);
    let mut next = 0;
    loop {
        while next < plan.len() && plan[next].0 <= net.now {
            let (_, from, to, id) = plan[next];
            net.nodes
                .get_mut(&from)
                .expect("sender")
                .outbox
                .queue(to, id, ());
            next += 1;
        }
        net.time_out();
        net.transmit_due();
        while net.arrivals.peek().is_some_and(|a| a.at <= net.now) {
            let a = net.arrivals.pop().expect("peeked");
            net.arrive(a.packet);
        }
        net.transmit_due();
        let creation = plan.get(next).map(|p| p.0);
        let Some(t) = net.next_time(creation) else {
            break;
        };
        // Never stand still: a due timer is handled at the next millisecond.
        net.now = t.max(net.now + 1);
        assert!(
            net.now < GIVE_UP_AT_MS,
            "seed {seed}: not finished by {GIVE_UP_AT_MS} ms ({faults:?})"
        );
    }
    check(seed, &plan, &net);
}

fn check(seed: u64, plan: &[(i64, RegionCode, RegionCode, MessageId)], net: &Network) {
    for (region, node) in &net.nodes {
        assert!(
            node.outbox.is_empty(),
            "seed {seed}: {region}'s outbox is not empty"
        );
    }
    for (_, from, to, id) in plan {
        let sent: Vec<&DeliveryStatus> = net.nodes[from]
            .journal
            .iter()
            .filter_map(|e| match e {
                Entry::Sent {
                    to: t,
                    id: i,
                    status,
                } if t == to && i == id => Some(status),
                _ => None,
            })
            .collect();
        let first: Vec<&DeliveryStatus> = net.nodes[to]
            .journal
            .iter()
            .filter_map(|e| match e {
                Entry::Received {
                    from: f,
                    id: i,
                    duplicate: false,
                    status,
                } if f == from && i == id => Some(status),
                _ => None,
            })
            .collect();
        assert_eq!(
            sent.len(),
            1,
            "seed {seed}: {from}→{to} {id:02x?} logged sent {} times",
            sent.len()
        );
        assert_eq!(
            first.len(),
            1,
            "seed {seed}: {from}→{to} {id:02x?} applied {} times",
            first.len()
        );
        let agree = matches!(
            (sent[0], first[0]),
            (
                DeliveryStatus::Refused { .. },
                DeliveryStatus::Refused { .. }
            ) | (
                DeliveryStatus::Applied | DeliveryStatus::AlreadyApplied,
                DeliveryStatus::Applied
            )
        );
        assert!(
            agree,
            "seed {seed}: {from}→{to}: sent says {:?}, received says {:?}",
            sent[0], first[0]
        );
    }
    // In order per (sender, receiver): the receiver applied each sender's
    // messages in the order the sender queued them.
    for (to, node) in &net.nodes {
        for from in net.nodes.keys() {
            let applied: Vec<MessageId> = node
                .journal
                .iter()
                .filter_map(|e| match e {
                    Entry::Received {
                        from: f,
                        id,
                        duplicate: false,
                        ..
                    } if f == from => Some(*id),
                    _ => None,
                })
                .collect();
            let queued: Vec<MessageId> = plan
                .iter()
                .filter(|(_, f, t, _)| f == from && t == to)
                .map(|p| p.3)
                .collect();
            assert_eq!(
                applied, queued,
                "seed {seed}: {from}→{to} applied out of order"
            );
        }
        let expected = plan.iter().filter(|p| p.2 == *to).count();
        assert_eq!(
            node.inbox.len(),
            expected,
            "seed {seed}: {to} holds extra claims"
        );
    }
}

#[test]
fn delivery_is_exactly_once_and_in_order_under_drops_duplicates_and_reorders() {
    for seed in 0..3_000 {
        run(seed);
    }
}

#[test]
fn the_harness_does_produce_duplicates_and_retries() {
    // A run with heavy faults must show repeated deliveries and more than
    // one attempt, or the property above would hold for nothing.
    let mut duplicates = 0;
    for seed in 0..50 {
        let mut rng = Rng(seed);
        let _ = rng.next();
        let mut net_dups = 0;
        // Re-run a small, heavily faulty exchange and count duplicates seen.
        let regions = regions();
        let faults = Faults {
            drop_per_mille: 300,
            duplicate_per_mille: 300,
            max_delay_ms: 1_500,
        };
        let mut net = Network::new(rng, faults);
        for n in 0..20u8 {
            let mut id = [n; 16];
            id[1] = 1;
            net.nodes
                .get_mut(&regions[0])
                .expect("gy")
                .outbox
                .queue(regions[1], id, ());
        }
        while let Some(t) = net.next_time(None) {
            net.now = t.max(net.now + 1);
            net.time_out();
            net.transmit_due();
            while net.arrivals.peek().is_some_and(|a| a.at <= net.now) {
                let a = net.arrivals.pop().expect("peeked");
                net.arrive(a.packet);
            }
            if net.now > GIVE_UP_AT_MS {
                break;
            }
        }
        net_dups += net.nodes[&regions[1]]
            .journal
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Entry::Received {
                        duplicate: true,
                        ..
                    }
                )
            })
            .count();
        duplicates += net_dups;
        assert_eq!(net.nodes[&regions[1]].inbox.len(), 20, "seed {seed}");
    }
    assert!(
        duplicates > 100,
        "only {duplicates} duplicate deliveries in 50 faulty runs"
    );
}
