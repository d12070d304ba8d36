//! The sender's side of federation messaging: which queued message goes
//! out next, and when a failed one is tried again.
//!
//! Every message a node sends waits in its outbox until the receiver's
//! signed acknowledgement arrives. The rules, which make delivery
//! exactly-once and in order per destination together with the receiver's
//! [`crate::inbox`]:
//!
//! - per destination region, messages go out in the order they were queued,
//!   **one at a time**: only the oldest is ever in flight, and the next one
//!   leaves only after it is acknowledged — so a receiver applies a
//!   region's messages in their order, however the network reorders;
//! - a failed attempt (no answer, an error answer, an acknowledgement that
//!   does not verify) is retried after [`retry_delay_ms`]: 200 ms, doubling
//!   per attempt, at most 5 s;
//! - an acknowledgement ends the message only if it acknowledges the one
//!   in flight; a late acknowledgement of an earlier attempt, or of a
//!   message already ended, changes nothing.
//!
//! [`Outbox`] holds these rules as a state machine with no clock: the
//! caller passes `now` (Unix ms) and asks what to transmit
//! ([`Outbox::poll_transmit`]) and when to ask again
//! ([`Outbox::poll_timeout`]). The node keeps its outbox durable in its
//! store and rebuilds this view from it ([`Outbox::from_queued`]); the
//! test harness keeps it in memory and drives it over lossy links.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use credex_protocol::RegionCode;

/// A federation message id.
pub type MessageId = [u8; 16];

/// First retry delay after a failed attempt, in ms; doubles per attempt.
pub const RETRY_INITIAL_MS: i64 = 200;
/// Longest retry delay, in ms.
pub const RETRY_MAX_MS: i64 = 5_000;

/// How long to wait before attempt `attempts + 1`, after `attempts` failed.
pub fn retry_delay_ms(attempts: u32) -> i64 {
    RETRY_INITIAL_MS
        .saturating_mul(1i64 << attempts.min(16))
        .min(RETRY_MAX_MS)
}

/// Where a queued message stands: how often it was tried and when it is due.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Attempts made so far (all failed, or one in flight).
    pub attempts: u32,
    /// Not before this time (Unix ms); 0 for a message never tried.
    pub next_attempt_ms: i64,
    /// Why the last attempt failed (empty if none did).
    pub last_error: String,
}

impl Attempts {
    /// Whether the message may be tried at `now_ms`.
    pub fn is_due(&self, now_ms: i64) -> bool {
        self.next_attempt_ms <= now_ms
    }

    /// The state after an attempt failed at `now_ms` with `error`.
    pub fn failed(&self, now_ms: i64, error: String) -> Attempts {
        let attempts = self.attempts.saturating_add(1);
        Attempts {
            attempts,
            next_attempt_ms: now_ms.saturating_add(retry_delay_ms(attempts)),
            last_error: error,
        }
    }
}

/// One message in the outbox, with what the caller keeps beside it
/// (`M`: the signed envelope, or a store key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queued<M> {
    /// The destination region.
    pub to: RegionCode,
    /// The message id.
    pub id: MessageId,
    /// Its attempts.
    pub attempts: Attempts,
    /// The caller's payload.
    pub message: M,
}

/// A message to send now: the oldest of its destination, due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit<M> {
    /// The destination region.
    pub to: RegionCode,
    /// The message id.
    pub id: MessageId,
    /// This attempt's number, from 1.
    pub attempt: u32,
    /// The caller's payload.
    pub message: M,
}

/// What an acknowledgement did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acknowledged<M> {
    /// It ended the message in flight: log it as sent, with this many
    /// attempts, and drop it from the store.
    Ended {
        /// The message.
        queued: Queued<M>,
    },
    /// It acknowledges no message in flight (late, or repeated): ignore it.
    Stale,
}

/// A node's outbox, per destination region in queue order.
#[derive(Debug, Clone)]
pub struct Outbox<M> {
    queues: BTreeMap<RegionCode, VecDeque<Queued<M>>>,
    in_flight: BTreeSet<RegionCode>,
}

impl<M> Default for Outbox<M> {
    fn default() -> Self {
        Outbox {
            queues: BTreeMap::new(),
            in_flight: BTreeSet::new(),
        }
    }
}

impl<M: Clone> Outbox<M> {
    /// An empty outbox.
    pub fn new() -> Outbox<M> {
        Outbox::default()
    }

    /// The outbox as a store lists it: `queued` in queue order per
    /// destination (the store's key order), with the destinations that
    /// already have an attempt in flight.
    pub fn from_queued(
        queued: impl IntoIterator<Item = Queued<M>>,
        in_flight: impl IntoIterator<Item = RegionCode>,
    ) -> Outbox<M> {
        let mut outbox = Outbox::new();
        for q in queued {
            outbox.queues.entry(q.to).or_default().push_back(q);
        }
        outbox.in_flight = in_flight.into_iter().collect();
        outbox
    }

    /// Queue a message (once the event that caused it is durable).
    pub fn queue(&mut self, to: RegionCode, id: MessageId, message: M) {
        self.queues.entry(to).or_default().push_back(Queued {
            to,
            id,
            attempts: Attempts::default(),
            message,
        });
    }

    /// The next message to send at `now_ms`, marking its destination in
    /// flight: the oldest of a destination with none in flight, if due.
    /// Call until `None`.
    pub fn poll_transmit(&mut self, now_ms: i64) -> Option<Transmit<M>> {
        let (to, head) = self.queues.iter().find_map(|(to, q)| {
            let head = q.front()?;
            (!self.in_flight.contains(to) && head.attempts.is_due(now_ms)).then_some((*to, head))
        })?;
        let transmit = Transmit {
            to,
            id: head.id,
            attempt: head.attempts.attempts.saturating_add(1),
            message: head.message.clone(),
        };
        self.in_flight.insert(to);
        Some(transmit)
    }

    /// The acknowledgement of `id` from `to` arrived and verified.
    pub fn acknowledged(&mut self, to: RegionCode, id: MessageId) -> Acknowledged<M> {
        let in_flight = self.in_flight.contains(&to);
        let Some(queue) = self.queues.get_mut(&to) else {
            return Acknowledged::Stale;
        };
        if !in_flight || queue.front().map(|q| q.id) != Some(id) {
            return Acknowledged::Stale;
        }
        self.in_flight.remove(&to);
        let Some(mut queued) = queue.pop_front() else {
            return Acknowledged::Stale;
        };
        if queue.is_empty() {
            self.queues.remove(&to);
        }
        queued.attempts.attempts = queued.attempts.attempts.saturating_add(1);
        Acknowledged::Ended { queued }
    }

    /// The attempt of `id` to `to` failed at `now_ms` with `error`: it is
    /// retried after [`retry_delay_ms`]. Ignored unless `id` is in flight.
    pub fn failed(&mut self, to: RegionCode, id: MessageId, now_ms: i64, error: String) {
        if !self.in_flight.contains(&to) {
            return;
        }
        let Some(head) = self.queues.get_mut(&to).and_then(|q| q.front_mut()) else {
            return;
        };
        if head.id != id {
            return;
        }
        head.attempts = head.attempts.failed(now_ms, error);
        self.in_flight.remove(&to);
    }

    /// When a message next falls due (Unix ms), if one waits that is not
    /// in flight; a time not after `now` means "now".
    pub fn poll_timeout(&self) -> Option<i64> {
        self.queues
            .iter()
            .filter(|(to, _)| !self.in_flight.contains(*to))
            .filter_map(|(_, q)| q.front().map(|h| h.attempts.next_attempt_ms))
            .min()
    }

    /// Messages waiting (in flight included).
    pub fn len(&self) -> usize {
        self.queues.values().map(VecDeque::len).sum()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.queues.is_empty()
    }

    /// The head of `to`'s queue, if any.
    pub fn head(&self, to: RegionCode) -> Option<&Queued<M>> {
        self.queues.get(&to).and_then(VecDeque::front)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn region(code: &str) -> RegionCode {
        code.parse().expect("region code")
    }

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(retry_delay_ms(1), 400);
        assert_eq!(retry_delay_ms(2), 800);
        assert_eq!(retry_delay_ms(5), RETRY_MAX_MS);
        assert_eq!(retry_delay_ms(u32::MAX), RETRY_MAX_MS);
        let a = Attempts::default().failed(1_000, "lost".into());
        assert_eq!((a.attempts, a.next_attempt_ms), (1, 1_400));
        assert!(!a.is_due(1_399) && a.is_due(1_400));
    }

    #[test]
    fn one_message_in_flight_per_destination_in_queue_order() {
        let (gz, cq) = (region("440000"), region("500000"));
        let mut o = Outbox::new();
        o.queue(gz, [1; 16], "a");
        o.queue(gz, [2; 16], "b");
        o.queue(cq, [3; 16], "c");
        let first = o.poll_transmit(0).expect("a due");
        let second = o.poll_transmit(0).expect("c due");
        assert_eq!((first.id, second.id), ([1; 16], [3; 16]));
        assert_eq!(o.poll_transmit(0), None, "b waits behind a");
        // A late or repeated acknowledgement of another id changes nothing.
        assert_eq!(o.acknowledged(gz, [2; 16]), Acknowledged::Stale);
        o.failed(gz, [1; 16], 10, "timeout".into());
        assert_eq!(o.poll_timeout(), Some(10 + retry_delay_ms(1)));
        assert_eq!(o.poll_transmit(11), None, "a is not due again yet");
        let retry = o.poll_transmit(10 + retry_delay_ms(1)).expect("a again");
        assert_eq!((retry.id, retry.attempt), ([1; 16], 2));
        let Acknowledged::Ended { queued } = o.acknowledged(gz, [1; 16]) else {
            panic!("the acknowledgement ends a");
        };
        assert_eq!(queued.attempts.attempts, 2);
        assert_eq!(o.acknowledged(gz, [1; 16]), Acknowledged::Stale);
        assert_eq!(o.poll_transmit(0).map(|t| t.id), Some([2; 16]));
        assert_eq!(o.len(), 2);
    }
}
