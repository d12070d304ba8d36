//! Subjects' cases about records (异议, 信用修复 of a record), as the node
//! runs them (decision 0980): filing one in any region, the owner opening,
//! accepting, refusing and deciding it, every region that received the
//! record and the filer marked each time, and a decision for the subject
//! carried out — the record withdrawn from release, so the correction
//! sweep reaches every recipient.
//!
//! The pure sides (opening a case against the record and the disclosures
//! ledger, keeping a mark) are `credex_flows::rights`'; this module reads,
//! commits and sends. Every message goes through the egress gate
//! (`release_case_filing`, `release_case_mark`), in one transaction with
//! its journal entry (`case_routed`, `case_marked`).
//!
//! The parts: [`filing`](RecordCases::file) (`filing`), the owner's
//! answers and what a region sees (`cases`), and withdrawal from release
//! (`withdraw`, shared with list repairs).

use credex_policies::egress::EgressError;
use credex_policies::repair::RightsRules;
use credex_policies::{AgreementSet, Catalogue, HolidayCalendar};
use credex_protocol::RegionCode;

use crate::boot::StartError;
use crate::config::NodeConfig;
use crate::federation::{Federation, FederationContext, PrepareError};
use crate::storage::StorageError;

mod cases;
mod copies;
mod filing;
pub mod procedure;
mod watch;
mod withdraw;

pub use cases::{RecordCaseFile, RecordCaseView};
pub use filing::CaseToFile;
pub use procedure::{CaseAnswer, EvidenceFile};
pub use watch::OVERDUE_NS;
pub use withdraw::{CORRECTIONS_SOURCE, OBJECTIONS_SOURCE, REPAIRS_SOURCE, Withdrawal, withdraw};

/// Why a case operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RightsError {
    /// The request breaks a rule; says which and why.
    #[error("{0}")]
    Invalid(String),
    /// No such case here.
    #[error("no case {0} about a record of this region")]
    UnknownCase(String),
    /// A message could not be prepared.
    #[error("{0}")]
    Prepare(#[from] PrepareError),
    /// The egress gate released nothing for a recipient.
    #[error("{0}")]
    Egress(#[from] EgressError),
    /// Storage failed.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// Stored state could not be read back.
    #[error("unreadable stored state: {0}")]
    Corrupt(String),
}

/// The cases about records of one node, and those it filed or was told of.
#[derive(Clone)]
pub struct RecordCases {
    federation: Federation,
    calendar: HolidayCalendar,
    rules: RightsRules,
    /// The agreements and catalogue an evaluation's revocation is pushed
    /// under (an objection upheld against an evaluation result).
    agreements: AgreementSet,
    catalogue: Catalogue,
    /// Serialises this process's moves of its own cases.
    local: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl RecordCases {
    /// These cases with their writes fenced by the region's duties lease
    /// (the sweep and the watch, decision 1020).
    pub fn fenced(&self, fence: crate::storage::Fence) -> RecordCases {
        RecordCases {
            federation: self.federation.fenced(fence),
            ..self.clone()
        }
    }

    /// The cases of the node of `config`: its calendar (`[upward]
    /// holidays`), rights rules (`[policy] rights`), agreements and
    /// catalogue.
    pub fn for_node(federation: Federation, config: &NodeConfig) -> Result<Self, StartError> {
        let agreements = crate::eval::load_agreements(config).map_err(|e| StartError::Flow {
            flow: "rights",
            reason: format!("agreements: {e}"),
        })?;
        let policy = crate::query::load_policy(config.region, &config.policy)?;
        Ok(RecordCases {
            federation,
            calendar: crate::upward::load_calendar(config)?,
            rules: load_rules(config)?,
            agreements,
            catalogue: policy.catalogue().clone(),
            local: Default::default(),
        })
    }

    /// The receiving side of the rights flow, deciding under the same
    /// calendar and rules.
    pub fn flow(&self) -> credex_flows::rights::Rights {
        credex_flows::rights::Rights::new(self.region(), self.calendar.clone(), self.rules.clone())
    }

    fn ctx(&self) -> &FederationContext {
        self.federation.context()
    }

    fn region(&self) -> RegionCode {
        self.ctx().region
    }
}

/// Register the rights flow (corrections and cases about records) with
/// `federation`, for the node of `config`.
pub fn register(federation: &Federation, config: &NodeConfig) -> Result<(), StartError> {
    let cases = RecordCases::for_node(federation.clone(), config)?;
    federation.register(std::sync::Arc::new(cases.flow()));
    Ok(())
}

/// The rights rules in force: the national defaults tightened by
/// `[policy] rights`, if set (a table that loosens any figure is refused,
/// naming the key).
pub fn load_rules(config: &NodeConfig) -> Result<RightsRules, StartError> {
    let Some(path) = &config.policy.rights else {
        return Ok(RightsRules::national());
    };
    let fail = |reason: String| StartError::Flow {
        flow: "rights",
        reason: format!("policy.rights: {reason}"),
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    RightsRules::tightened(&text, &path.display().to_string()).map_err(|e| fail(e.to_string()))
}
