//! The upward channel (数据报送): each provincial node reports its credit
//! records to the national platform's node (region `000000`), according
//! to the reporting list (数据报送清单). Decision 0503 explains the design.
//!
//! What this module owns — the flow's decisions, both sides:
//! - the national node's decision on a province's batch
//!   ([`Flow::receive`], see `national`): a batch is applied only if its
//!   sequence number is the next expected from that province; its records
//!   are returned for the node to store under region-qualified ids
//!   (`520000:AP-0001`, [`Effect::records`](crate::flow::Effect::records)),
//!   the province's position ([`ProvinceReceived`]) advances in the same
//!   effect, and the reply is a
//!   [`SignedBatchReceipt`](credex_protocol::upward::SignedBatchReceipt). A batch ahead of
//!   the expected number is refused for now (the sender retries); one
//!   behind it is refused for good (`stale`);
//! - the province's taking in of an acknowledgement ([`Flow::acknowledged`],
//!   see `province`): the receipt verified against the batch sent, its
//!   records counted as reported on the receipt's date, `admin_license` /
//!   `admin_penalty` records classified as on time or late against 7
//!   working days from their `decision_date` ([`classify`]);
//! - the state both sides keep ([`ProvinceReceived`], [`ReportedTotals`]).
//!
//! What it does not: the province's reporter (following the records table,
//! packing batches through the egress gate, queueing them) and the status
//! views are the node's (`credex_node::upward`); storing records and
//! committing state are the node's too.
//!
//! Signing: the national node's receipt is signed here, with the node key
//! handed in at construction ([`Upward::new`]). Signing with ring is pure
//! computation (no I/O, no clock): the one exception to "nothing but
//! decisions" this crate makes, so that the receipt is part of the effect
//! the flow decides.

mod national;
mod province;
mod state;

use std::sync::Arc;

use credex_pki::signing::SigningKey;
use credex_policies::{Catalogue, HolidayCalendar, ReportingList};
use credex_protocol::federation::{DeliveryAck, Envelope, Flow as FlowName};
use credex_protocol::upward::KIND_PROCEDURE_OVERDUE;
use credex_protocol::{NodeName, RegionCode};

pub use national::qualified_id;
pub use province::{
    DOUBLE_PUBLICITY_DAYS, Overdue, classify, decision_date, overdue, verify_receipt,
};
pub use state::{
    COPIES_NS, CategoryReported, IN_NS, LateRecord, MAX_LATE_LISTED, OUT_NS, OVERDUE_NS,
    OverdueReported, ProvinceReceived, REPORTED_KEY, ReportedTotals, UpwardCopy, copy_key,
    overdue_key,
};

use crate::flow::{
    AckError, Context, Effect, Flow, Peer, Read, Refusal, StateKey, StateWrite, View,
};

/// Most records the national node holds on one subject: what one query
/// returns (the node's `storage::MAX_RECORDS_PER_QUERY`, which the node
/// checks is the same). A batch that would take a subject past it is
/// refused (`exceeds`).
pub const MAX_SUBJECT_RECORDS: usize = 1024;

/// Most bytes of records ([`record_weight`]) in one batch, so a batch of
/// large records stays under the envelope's payload limit
/// ([`credex_protocol::federation::MAX_PAYLOAD`]) with room for framing.
pub const MAX_BATCH_BYTES: usize = 448 * 1024;
// Room for the batch's own framing within the payload limit.
const _: () = assert!(MAX_BATCH_BYTES + 16 * 1024 < credex_protocol::federation::MAX_PAYLOAD);

/// An upper bound of a record's share of an encoded batch: its bytes plus
/// the length prefixes and the import time.
pub fn record_weight(category: &str, record_id: &str, subject_key: &str, body: &[u8]) -> usize {
    category.len() + record_id.len() + subject_key.len() + body.len() + 32
}

/// The upward flow of one node (both sides): see the module documentation.
pub struct Upward {
    region: RegionCode,
    node: NodeName,
    node_key: Arc<SigningKey>,
    chain: Vec<Vec<u8>>,
    list: ReportingList,
    calendar: HolidayCalendar,
    /// The catalogue whose field types a received record must fit.
    catalogue: Catalogue,
}

impl Upward {
    /// The flow of node `node` of `region`, signing receipts with
    /// `node_key` and its certificate `chain` (DER, leaf first), deciding
    /// with the reporting `list`, the working-day `calendar` and the
    /// policy's `catalogue`.
    pub fn new(
        region: RegionCode,
        node: NodeName,
        node_key: Arc<SigningKey>,
        chain: Vec<Vec<u8>>,
        list: ReportingList,
        calendar: HolidayCalendar,
        catalogue: Catalogue,
    ) -> Upward {
        Upward {
            region,
            node,
            node_key,
            chain,
            list,
            calendar,
            catalogue,
        }
    }

    /// The reporting list decided with.
    pub fn list(&self) -> &ReportingList {
        &self.list
    }

    /// The working-day calendar decided with.
    pub fn calendar(&self) -> &HolidayCalendar {
        &self.calendar
    }

    /// The reporting list's categories.
    fn categories(&self) -> Vec<String> {
        self.list.iter().map(|i| i.category.clone()).collect()
    }
}

impl Flow for Upward {
    fn name(&self) -> FlowName {
        FlowName::Upward
    }

    /// One province's batches are taken in one at a time and in sequence;
    /// different provinces' at once (decision 1050). A batch changes only
    /// its province's position, copies and region-qualified records. The
    /// per-subject bound is the one thing provinces share: two provinces'
    /// batches about one company, taken in at once, may together pass it,
    /// and then queries on that company are refused (`TooManyRecords`),
    /// never answered in part. One province alone cannot pass it.
    fn serial(&self) -> crate::flow::Serial {
        crate::flow::Serial::PerSender
    }

    fn reads(&self, from: &Peer, envelope: &Envelope) -> Result<Vec<Read>, Refusal> {
        if envelope.kind == KIND_PROCEDURE_OVERDUE {
            self.overdue_notice(from, envelope)?;
            return Ok(Vec::new());
        }
        let batch = self.batch(from, envelope)?;
        Ok(self.batch_reads(from, &batch))
    }

    fn receive(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<Effect, Refusal> {
        if envelope.kind == KIND_PROCEDURE_OVERDUE {
            let notice = self.overdue_notice(from, envelope)?;
            return self.receive_overdue(cx, notice);
        }
        let batch = self.batch(from, envelope)?;
        self.receive_batch(cx, view, from, &batch)
    }

    fn acknowledged_reads(&self, _envelope: &Envelope, _ack: &DeliveryAck) -> Vec<Read> {
        vec![Read::State(StateKey::new(OUT_NS, REPORTED_KEY))]
    }

    fn acknowledged(
        &self,
        cx: &Context<'_>,
        view: &View,
        envelope: &Envelope,
        ack: &DeliveryAck,
    ) -> Result<Vec<StateWrite>, AckError> {
        if envelope.kind == KIND_PROCEDURE_OVERDUE {
            // The federation layer logs the acknowledgement; nothing to count.
            return Ok(Vec::new());
        }
        self.batch_acknowledged(cx, view, envelope, ack)
    }
}
