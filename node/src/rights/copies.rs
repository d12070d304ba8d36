//! Copies of other regions' records that their owner deleted or repaired
//! (经手必有责, decision 0980): the national node stores what provinces
//! report upward, and a `deleted` or `repaired` correction of one of them
//! must end its publication there too, not only mark it.
//!
//! The national node stores each reported record with the key its owner
//! names it by (`RecordRow::copy_of`; before migration 9, in
//! `credex_flows::upward::COPIES_NS`); a correction that
//! finds a copy there queues it (`COPIES_PENDING_NS`, in the correction's
//! transaction). The node then withdraws each queued copy from release like
//! a record of its own (`withdraw`, source `credex.corrections`, one
//! idempotency key per correction), so its own recipients are told in turn,
//! and drops it from the queue.

use credex_flows::flow::CopyOf;
use credex_flows::rights::COPIES_PENDING_NS;
use credex_flows::upward::{COPIES_NS, UpwardCopy};

use super::withdraw::{Withdrawal, withdraw};
use super::{RecordCases, RightsError};
use crate::storage::{RecordKey, StateWrite};

impl RecordCases {
    /// Withdraw every queued copy of a record its owner deleted or
    /// repaired. Returns how many were withdrawn now. Idempotent: a crash
    /// before the queue entry is dropped replays the same withdrawal.
    pub async fn withdraw_stale_copies(&self, now_ms: i64) -> Result<usize, RightsError> {
        let storage = &self.ctx().storage;
        let mut done = 0;
        for (key, stamp) in storage.state_scan_all(COPIES_PENDING_NS, "").await? {
            let received: Option<credex_flows::rights::CorrectionReceived> = match storage
                .state(credex_flows::rights::RECEIVED_NS, &key)
                .await?
            {
                Some(v) => Some(super::cases::decode(&key, &v)?),
                None => None,
            };
            let why = match received.map(|c| c.change) {
                Some(credex_protocol::rights::RecordChange::Repaired) => {
                    Withdrawal::RepairedAtOwner
                }
                _ => Withdrawal::DeletedAtOwner,
            };
            if let Some(record) = self.copy_of(&key).await? {
                let changed_at = stamp.iter().fold(0u64, |n, b| n << 8 | u64::from(*b));
                let idempotency = format!("copy/{key}/{changed_at}");
                withdraw(self.ctx(), &record, why, &idempotency, now_ms).await?;
                done += 1;
            }
            storage
                .write_state(vec![StateWrite::delete(COPIES_PENDING_NS, key)])
                .await?;
        }
        Ok(done)
    }

    /// The stored copy named by `key` (`{owner}/{record key hex}`): on its
    /// row, or, taken in before migration 9, in [`COPIES_NS`].
    async fn copy_of(&self, key: &str) -> Result<Option<RecordKey>, RightsError> {
        let storage = &self.ctx().storage;
        if let Some(of) = parse_copy_key(key)
            && let Some(held) = storage.record_copy(&of).await?
        {
            return Ok(Some(RecordKey {
                category: held.category,
                record_id: held.record_id,
                subject_key: held.subject_key,
            }));
        }
        let Some(copy) = storage.state(COPIES_NS, key).await? else {
            return Ok(None);
        };
        let copy: UpwardCopy = super::cases::decode(key, &copy)?;
        Ok(Some(RecordKey {
            category: copy.category,
            record_id: copy.record_id,
            subject_key: copy.subject_key,
        }))
    }
}

/// The owner and record key of a correction's key (`{owner}/{hex}`).
fn parse_copy_key(key: &str) -> Option<CopyOf> {
    let (owner, record) = key.split_once('/')?;
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(record, &mut bytes).ok()?;
    Some(CopyOf {
        owner: owner.parse().ok()?,
        record: bytes,
    })
}
