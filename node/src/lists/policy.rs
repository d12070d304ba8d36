//! What the lists flow decides against ([`ListsPolicy`]): the agreements
//! that bind regions for a list type and set its deadlines, the measures
//! catalogue, the working-day calendar, the catalogue the egress gate
//! decides with, and the pseudonym key ring that names natural persons.
//!
//! Owns: turning an operator's subject text into a [`SubjectRef`],
//! working-day deadlines, and the receiving flow built from the policy
//! ([`ListsPolicy::flow`]). Does not own the checks on an entry and on the
//! measures it carries (`credex_flows::lists`, applied here with this
//! policy's catalogues) nor sending or receiving ([`super::service`],
//! [`super::receive`]).

use credex_flows::calendar::working_days_after;
use credex_pki::pseudonym::PseudonymKeyRing;
use credex_policies::repair::{Deadlines, RightsRules};
use credex_policies::reporting::HolidayCalendar;
use credex_policies::subject_id::SubjectId;
use credex_policies::{AgreementSet, Catalogue, ListType, MeasuresCatalogue};
use credex_protocol::RegionCode;
use credex_protocol::lists::Procedure;
use credex_protocol::lists::{ListEntry, ListKind};
use credex_protocol::query::{SubjectPseudonym, SubjectRef};

use crate::boot::StartError;
use crate::config::NodeConfig;

use super::ListsError;

/// What joint reward/punishment is decided against: the agreements (who
/// is bound for which list, and the deadlines), the measures catalogue and
/// the working-day calendar deadlines are counted in.
#[derive(Debug, Clone)]
pub struct ListsPolicy {
    /// The agreements.
    pub agreements: AgreementSet,
    /// The measures catalogue (联合奖惩措施清单).
    pub measures: MeasuresCatalogue,
    /// The working-day calendar (工作日历).
    pub calendar: HolidayCalendar,
    /// The catalogue entry details are checked against and the egress
    /// gate decides with.
    pub catalogue: Catalogue,
    /// The federation's pseudonym key ring, to name natural persons
    /// (none: only legal persons can be listed here).
    pub pseudonyms: Option<PseudonymKeyRing>,
    /// Publication periods and the deadlines of objections (异议) and
    /// repair reviews (信用修复): the national rules, tightened by
    /// `[policy] rights` (decision 0920).
    pub rights: RightsRules,
}

impl ListsPolicy {
    /// The shipped agreements, measures catalogue and 2026 calendar.
    pub fn builtin() -> ListsPolicy {
        ListsPolicy {
            agreements: AgreementSet::builtin(),
            measures: MeasuresCatalogue::builtin(),
            calendar: HolidayCalendar::builtin_2026(),
            catalogue: Catalogue::base(),
            pseudonyms: None,
            rights: RightsRules::national(),
        }
    }

    /// What a node decides with: the shipped agreements plus the
    /// `agreements/*.toml` beside its configuration (as recognition uses,
    /// `eval::load_agreements`), the shipped measures catalogue, and the
    /// working-day calendar of `[upward] holidays` (the shipped 2026
    /// calendar when absent).
    pub fn for_node(config: &NodeConfig) -> Result<ListsPolicy, StartError> {
        let policy = crate::query::load_policy(config.region, &config.policy)?;
        ListsPolicy::with_catalogue(config, policy.catalogue())
    }

    /// [`ListsPolicy::for_node`] with the catalogue the node already loaded.
    pub fn with_catalogue(
        config: &NodeConfig,
        catalogue: &Catalogue,
    ) -> Result<ListsPolicy, StartError> {
        let agreements = crate::eval::load_agreements(config).map_err(|e| StartError::Flow {
            flow: "lists",
            reason: format!("agreements: {e}"),
        })?;
        let calendar = crate::upward::load_calendar(config)?;
        let catalogue = catalogue.clone();
        let pseudonyms = match &config.pseudonyms.keys {
            Some(path) => {
                Some(
                    crate::pseudonyms::load_ring(path).map_err(|e| StartError::Flow {
                        flow: "lists",
                        reason: format!("pseudonyms.keys: {e}"),
                    })?,
                )
            }
            None => None,
        };
        Ok(ListsPolicy {
            agreements,
            measures: MeasuresCatalogue::builtin(),
            calendar,
            catalogue,
            pseudonyms,
            rights: crate::rights::load_rules(config)?,
        })
    }

    /// The subject a draft names, as entries carry it: a citizen ID
    /// becomes its current-epoch pseudonym (the ID is not kept).
    pub fn subject(&self, text: &str) -> Result<SubjectRef, ListsError> {
        let text = text.trim();
        if let Ok(p) = text.parse::<SubjectPseudonym>() {
            return Ok(SubjectRef::NaturalPerson(p));
        }
        match SubjectId::parse(text).map_err(|e| ListsError::Invalid(format!("subject: {e}")))? {
            SubjectId::LegalPerson(u) => Ok(SubjectRef::LegalPerson(u.as_str().to_owned())),
            SubjectId::NaturalPerson(c) => {
                let ring = self.pseudonyms.as_ref().ok_or_else(|| {
                    ListsError::Invalid(
                        "subject: a natural person needs the federation's pseudonym key ring ([pseudonyms] keys)"
                            .into(),
                    )
                })?;
                ring.current_pseudonym(c.expose())
                    .map(SubjectRef::NaturalPerson)
                    .map_err(|e| ListsError::Invalid(format!("subject: {e}")))
            }
        }
    }

    /// The deadline `days` working days after `at_ms` (see
    /// [`working_days_after`]).
    pub fn deadline(&self, at_ms: i64, days: u32) -> i64 {
        working_days_after(&self.calendar, at_ms, days)
    }

    /// The deadlines for entries of `list_type` from `origin` to `member`:
    /// the joint terms of the first agreement (in precedence order) that
    /// has both and binds the list.
    pub(super) fn terms(
        &self,
        origin: RegionCode,
        member: RegionCode,
        list_type: ListType,
    ) -> Option<&credex_policies::JointTerms> {
        self.agreements
            .agreements_between(origin, member)
            .into_iter()
            .find(|a| a.binds(list_type))
            .and_then(|a| a.joint.as_ref())
    }

    /// [`credex_flows::lists::check_measures`] with this catalogue.
    pub(super) fn check_measures(
        &self,
        list_type: ListType,
        codes: &[String],
    ) -> Result<(), credex_policies::MeasureError> {
        credex_flows::lists::check_measures(&self.measures, list_type, codes)
    }

    /// Every rule an entry must meet, at the origin and at a receiver
    /// ([`credex_flows::lists::check_entry`]).
    pub(super) fn check_entry(
        &self,
        entry: &ListEntry,
    ) -> Result<(), credex_flows::lists::EntryRuleError> {
        credex_flows::lists::check_entry(&self.measures, &self.catalogue, entry)
    }

    /// The working-day deadlines of `procedure`.
    pub fn deadlines(&self, procedure: Procedure) -> Deadlines {
        self.rights.deadlines(procedure)
    }

    /// The receiving side of the lists flow of a node of `region`, deciding
    /// against this policy.
    pub fn flow(&self, region: RegionCode) -> credex_flows::lists::Lists {
        credex_flows::lists::Lists::new(
            region,
            self.agreements.clone(),
            self.measures.clone(),
            self.catalogue.clone(),
        )
        .with_rights(self.calendar.clone(), self.rights.clone())
    }
}

/// The policy list type of a wire list kind.
pub fn list_type(kind: ListKind) -> ListType {
    credex_policies::egress::list_type(kind)
}
