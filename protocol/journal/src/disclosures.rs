//! Entries of the disclosures ledger (经手必有责): which records this node
//! disclosed to which region, and how — so a correction, a repair or an
//! objection mark can reach every recipient, and the auditor can say who
//! received a record from the log alone.
//!
//! A record is named by its [`record_key`], never by its id in clear. One
//! [`RecordsDisclosed`] entry is written before the records leave (a query
//! answer, an upward batch, a list push naming the record it rests on),
//! in the same transaction as the ledger rows it implies; the ledger is
//! exactly the fold of these entries, so it can be rebuilt and checked.

use credex_protocol::RegionCode;
use credex_protocol::lists::EntryId;
use serde::{Deserialize, Serialize};

/// Most record keys one [`RecordsDisclosed`] entry carries; a larger
/// disclosure is written as several entries (32 bytes each: 64 KiB).
pub const MAX_RECORDS_PER_ENTRY: usize = 2048;

/// How records left this node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// In the answer to another region's query.
    Query,
    /// In a batch reported upward (数据报送) to the national platform.
    Upward,
    /// With a joint reward/punishment list entry pushed to a member (联合奖惩).
    ListPush,
}

impl Channel {
    /// Every channel, in code order.
    pub const ALL: [Channel; 3] = [Channel::Query, Channel::Upward, Channel::ListPush];

    /// Stable short name (ledger keys, reports, the CLI).
    pub fn name(self) -> &'static str {
        match self {
            Channel::Query => "query",
            Channel::Upward => "upward",
            Channel::ListPush => "list-push",
        }
    }

    /// The channel of a [`Channel::name`].
    pub fn from_name(name: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// What carried the records: the event the disclosure belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DisclosedBy {
    /// The answer to the query of this digest (its received
    /// [`crate::AccessEntry::query_digest`]).
    Query {
        /// The query's digest.
        query_digest: [u8; 32],
    },
    /// The upward batch of this sequence number ([`crate::BatchPrepared`]).
    Upward {
        /// The batch's sequence number.
        seq: u64,
    },
    /// The push of this list entry ([`crate::ListingInitiated`]).
    ListPush {
        /// The entry.
        entry: EntryId,
    },
}

impl DisclosedBy {
    /// The channel this event belongs to.
    pub fn channel(&self) -> Channel {
        match self {
            DisclosedBy::Query { .. } => Channel::Query,
            DisclosedBy::Upward { .. } => Channel::Upward,
            DisclosedBy::ListPush { .. } => Channel::ListPush,
        }
    }
}

/// Journal body of [`crate::kind::RECORDS_DISCLOSED`]: records of this node that
/// are about to leave for `recipients`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordsDisclosed {
    /// [`crate::ENTRY_VERSION`].
    pub version: u8,
    /// When, Unix ms.
    pub at_ms: i64,
    /// What carried them.
    pub by: DisclosedBy,
    /// The regions that receive them (the national platform is `000000`).
    pub recipients: Vec<RegionCode>,
    /// The records, as [`record_key`]s, in the order they were sent (at
    /// most [`MAX_RECORDS_PER_ENTRY`]).
    pub records: Vec<[u8; 32]>,
}

pub use credex_protocol::rights::record_key;

crate::frame::fixed_kind! {
    RecordsDisclosed => RECORDS_DISCLOSED,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_round_trip_their_names() {
        for c in Channel::ALL {
            assert_eq!(Channel::from_name(c.name()), Some(c));
        }
        assert_eq!(Channel::from_name("gossip"), None);
    }
}
