//! The upward channel (数据报送), the node's side: each provincial node
//! reports its credit records to the national platform's node (region
//! `000000`, the same binary), according to the reporting list (数据报送清单),
//! and measures the reporting rate and 双公示 timeliness. Decision 0503
//! explains the design.
//!
//! What the flow decides — the national node's decision on a batch, the
//! province's taking in of the signed receipt and the timeliness counts —
//! is [`credex_flows::upward`], a pure state machine; this node drives it
//! by the federation (registered by [`register`]) and re-exports its public
//! items here. What this module owns:
//! - here: the rules the flow and the reporter decide with
//!   ([`UpwardRules`], [`load_rules`], [`load_calendar`]) and the flow's
//!   registration;
//! - [`reporter`]: the province's reporter task, which follows the records
//!   table in import order and packs records into batches of consecutive
//!   sequence numbers, each committed with a
//!   [`kind::BATCH_PREPARED`](credex_journal::kind::BATCH_PREPARED) journal
//!   entry together with its outbox message;
//! - [`status`]: the province's status and what the national node
//!   received, for `credex upward status|received` and the metrics
//!   endpoint;
//! - [`overdue`]: the records still waiting for an acknowledgement that
//!   are already past their deadline, which the status counts as late.

pub mod at_risk;
pub mod overdue;
mod position;
pub mod reporter;
pub mod status;

use std::sync::Arc;

use credex_flows::upward::Upward;
use credex_policies::{Catalogue, HolidayCalendar, ReportingList};

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::Federation;
use crate::storage::{Storage, StorageError};

pub use credex_flows::upward::{
    CategoryReported, DOUBLE_PUBLICITY_DAYS, IN_NS, LateRecord, MAX_BATCH_BYTES, MAX_LATE_LISTED,
    OUT_NS, OVERDUE_NS, OverdueReported, ProvinceReceived, ReportedTotals, classify, decision_date,
    record_weight,
};
pub use position::ReporterState;
pub use reporter::{ReportError, Reporter, SETTLE, node_reporter, spawn_reporter};
pub use status::{
    CategoryStatus, ReceivedFrom, UpwardStatus, objections_overdue, received, status,
};

// The flow's per-subject bound is what one query of this node returns.
const _: () =
    assert!(credex_flows::upward::MAX_SUBJECT_RECORDS == crate::storage::MAX_RECORDS_PER_QUERY);

/// What the upward channel decides with: the reporting list and calendar
/// of a node's configuration (built-ins when not configured), and its
/// policy's catalogue.
pub struct UpwardRules {
    /// The reporting list (数据报送清单).
    pub list: ReportingList,
    /// The working-day calendar.
    pub calendar: HolidayCalendar,
    /// The catalogue the policy is written against.
    pub catalogue: Catalogue,
}

impl UpwardRules {
    /// The rules of a node that started with `config`, for its readers
    /// (the metrics, the console): the files load again, as they did at
    /// start; should they no longer, the built-in reporting list and 2026
    /// calendar judge the deadlines, and the failure is logged.
    pub fn of_started_node(config: &NodeConfig, catalogue: &Catalogue) -> UpwardRules {
        load_rules(config, catalogue).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "upward rules no longer load; the built-in ones judge deadlines");
            UpwardRules {
                list: ReportingList::builtin(),
                calendar: HolidayCalendar::builtin_2026(),
                catalogue: catalogue.clone(),
            }
        })
    }
}

/// The [`UpwardRules`] of `config`.
pub fn load_rules(config: &NodeConfig, catalogue: &Catalogue) -> Result<UpwardRules, StartError> {
    let list = match &config.upward.reporting_list {
        Some(path) => ReportingList::load_file(path, catalogue).map_err(|e| StartError::Flow {
            flow: "upward",
            reason: format!("upward.reporting_list: {e}"),
        })?,
        None => ReportingList::builtin(),
    };
    Ok(UpwardRules {
        list,
        calendar: load_calendar(config)?,
        catalogue: catalogue.clone(),
    })
}

/// The working-day calendar of `[upward] holidays` (the shipped 2026
/// calendar when absent).
pub fn load_calendar(config: &NodeConfig) -> Result<HolidayCalendar, StartError> {
    match &config.upward.holidays {
        Some(path) => HolidayCalendar::load_file(path).map_err(|e| StartError::Flow {
            flow: "upward",
            reason: format!("upward.holidays: {e}"),
        }),
        None => Ok(HolidayCalendar::builtin_2026()),
    }
}

/// Register the upward flow with `federation`; received records must fit
/// `catalogue` (the node's policy's).
pub fn register(
    federation: &Federation,
    config: &NodeConfig,
    catalogue: &Catalogue,
) -> Result<(), StartError> {
    let UpwardRules {
        list,
        calendar,
        catalogue,
    } = load_rules(config, catalogue)?;
    let ctx = federation.context();
    let flow = Upward::new(
        ctx.region,
        ctx.node.clone(),
        Arc::clone(&ctx.node_key),
        ctx.chain.clone(),
        list,
        calendar,
        catalogue,
    );
    federation.register(Arc::new(flow));
    Ok(())
}

/// The value under (`ns`, `key`) decoded, `None` when absent.
async fn read_state<T: serde::de::DeserializeOwned>(
    storage: &Storage,
    ns: &str,
    key: &str,
) -> Result<Option<T>, StorageError> {
    match storage.state(ns, key).await? {
        None => Ok(None),
        Some(bytes) => {
            credex_protocol::decode(&bytes)
                .map(Some)
                .map_err(|e| StorageError::InvalidState {
                    reason: format!("{ns}/{key} is unreadable: {e}"),
                })
        }
    }
}
