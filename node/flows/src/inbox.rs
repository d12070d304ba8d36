//! The receiver's side of federation messaging: a message is applied once,
//! however often it arrives, and every delivery gets the same answer.
//!
//! The receiver decides what a message changes and commits it together
//! with a journal entry that claims `(sending region, message id)` as a
//! nonce (in the node: one transaction of its store). The claim's outcome
//! decides:
//!
//! - claimed: the message is applied now; its answer (status and the
//!   flow's reply) is stored under the same key and sent back;
//! - already claimed: a duplicate — the sender did not get the first
//!   acknowledgement. Nothing changes; the delivery is logged as a
//!   duplicate and answered with the **first** answer
//!   ([`duplicate_answer`]): `AlreadyApplied` with the first reply, or the
//!   first refusal again.
//!
//! [`Inbox`] holds the same rule as an in-memory state machine for the
//! test harness; the node keeps claims and answers in its store and calls
//! [`duplicate_answer`] itself.

use std::collections::BTreeMap;

use credex_protocol::RegionCode;
use credex_protocol::federation::DeliveryStatus;
use serde::{Deserialize, Serialize};

use crate::outbox::MessageId;

/// The answer stored for a received message, replayed to duplicates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboxAnswer {
    /// What the receiver did with it.
    pub status: DeliveryStatus,
    /// The flow's reply (postcard-encoded flow message, may be empty).
    pub reply: Vec<u8>,
}

/// The answer to a duplicate delivery, from the first delivery's stored
/// answer (`None` if it is unreadable or gone: the message was applied,
/// the reply is lost).
pub fn duplicate_answer(first: Option<InboxAnswer>) -> InboxAnswer {
    match first {
        Some(InboxAnswer {
            status: DeliveryStatus::Refused { reason },
            reply,
        }) => InboxAnswer {
            status: DeliveryStatus::Refused { reason },
            reply,
        },
        Some(first) => InboxAnswer {
            status: DeliveryStatus::AlreadyApplied,
            reply: first.reply,
        },
        None => InboxAnswer {
            status: DeliveryStatus::AlreadyApplied,
            reply: Vec::new(),
        },
    }
}

/// What a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// First delivery: applied (or refused for good), answered with this.
    Applied(InboxAnswer),
    /// A repeat: nothing changed, answered with the first answer.
    Duplicate(InboxAnswer),
}

impl Delivery {
    /// The answer to send back.
    pub fn answer(&self) -> &InboxAnswer {
        match self {
            Delivery::Applied(a) | Delivery::Duplicate(a) => a,
        }
    }
}

/// A receiver's claims and answers, in memory.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    answers: BTreeMap<(RegionCode, MessageId), InboxAnswer>,
}

impl Inbox {
    /// An inbox that has seen nothing.
    pub fn new() -> Inbox {
        Inbox::default()
    }

    /// Receive message `id` from `from`: `decide` runs only on the first
    /// delivery and says what the flow does with it.
    pub fn receive(
        &mut self,
        from: RegionCode,
        id: MessageId,
        decide: impl FnOnce() -> InboxAnswer,
    ) -> Delivery {
        match self.answers.get(&(from, id)) {
            Some(first) => Delivery::Duplicate(duplicate_answer(Some(first.clone()))),
            None => {
                let answer = decide();
                self.answers.insert((from, id), answer.clone());
                Delivery::Applied(answer)
            }
        }
    }

    /// Messages received (each once).
    pub fn len(&self) -> usize {
        self.answers.len()
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.answers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_gets_the_first_answer_and_changes_nothing() {
        let gy: RegionCode = "520000".parse().expect("region");
        let mut inbox = Inbox::new();
        let applied = InboxAnswer {
            status: DeliveryStatus::Applied,
            reply: vec![7],
        };
        let first = inbox.receive(gy, [1; 16], || applied.clone());
        assert_eq!(first, Delivery::Applied(applied));
        let again = inbox.receive(gy, [1; 16], || panic!("not decided twice"));
        assert_eq!(again.answer().status, DeliveryStatus::AlreadyApplied);
        assert_eq!(again.answer().reply, vec![7]);
        let refused = InboxAnswer {
            status: DeliveryStatus::Refused {
                reason: "no agreement".into(),
            },
            reply: Vec::new(),
        };
        inbox.receive(gy, [2; 16], || refused.clone());
        assert_eq!(
            inbox.receive(gy, [2; 16], || panic!("not decided twice")),
            Delivery::Duplicate(refused)
        );
        assert_eq!(
            duplicate_answer(None).status,
            DeliveryStatus::AlreadyApplied
        );
        assert_eq!(inbox.len(), 2);
    }
}
