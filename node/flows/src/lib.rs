//! credex-flows: what each federation flow decides, as pure functions of
//! its inputs and the time it is handed.
//!
//! The node (`credex-node`) drives the flows: it reads the network, the
//! store and the wall clock, and commits what they decide. The auditor
//! (`credex-audit`) calls the same functions to re-run a decision years
//! later from the log alone, which is why they live here and not in the
//! node: a decision that the node and the auditor computed differently
//! would be a finding against an honest node.
//!
//! What is here today:
//! - [`flow`]: how the node drives a flow — the [`flow::Flow`] trait
//!   (reads named from the message, a decision against the [`flow::View`]
//!   read, effects as data), typed refusals with stable codes;
//! - [`recognition`]: a member's decision on another region's evaluation
//!   result;
//! - [`lists`]: joint reward/punishment lists (联合奖惩), the receiving
//!   side — listings held, changes applied and confirmed, feedback,
//!   confirmations and objections recorded at the origin — and the
//!   entry rules both sides check;
//! - [`upward`]: the upward channel (数据报送) — the national node's
//!   decision on a province's batch (records to store, the signed receipt)
//!   and the province's counting of what was reported, on time or late;
//! - [`outbox`] and [`inbox`]: federation messaging's two sides as state
//!   machines — in-order, one-at-a-time delivery per destination with
//!   retry backoff, and apply-once with the first answer replayed to
//!   duplicates. `tests/exactly_once.rs` drives four nodes of them over
//!   links that drop, delay, duplicate and reorder, on a virtual clock;
//! - [`disclosures`]: the disclosures ledger (经手必有责) — every region
//!   that received a record, folded from the log's `RecordsDisclosed`
//!   entries, and the differences of a stored ledger from that fold;
//! - [`rights`]: subjects' rights — a recipient marking its copy of a
//!   record its owner corrected, the owner recording each confirmation;
//! - [`query`]: the responder's view of a query as its sharing policy
//!   decides on it, and the policy set rebuilt from a logged archive;
//! - [`calendar`]: Unix milliseconds as certificate-validity time,
//!   calendar time and China Standard Time days (quota windows, deadlines,
//!   reporting dates) — the one place the project converts times.
//!
//! What is not: no tokio, sqlx, quinn or wall clock (`now` is always a
//! parameter; a test in `tests/` checks the dependency tree), no storage,
//! no signatures made unless a key is handed in (the pure crates sign and
//! verify; [`upward`] is handed the national node's key to sign receipts). The flows' state machines
//! move here next (docs/status.md, issue 14).

#![forbid(unsafe_code)]

pub mod calendar;
pub mod disclosures;
pub mod flow;
pub mod inbox;
pub mod lists;
pub mod outbox;
pub mod query;
pub mod recognition;
pub mod rights;
pub mod upward;
