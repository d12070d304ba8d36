//! The egress gate (出口闸): the one place where a federation message body
//! that carries subject data is made.
//!
//! A flow hands the gate what it holds (an upward batch's records, a list
//! entry with all its details, an evaluation result) and the recipient; the
//! gate decides under the rule that governs that recipient — the reporting
//! catalogue (数据报送目录) for the national platform, the cooperation
//! agreement (合作协议) binding both regions for a push — which fields may
//! go, projects the body onto them, and returns a [`ReleasedBody`]: the
//! encoded payload together with its [`EgressRecord`] (rule, rule hash,
//! fields released, fields withheld). Only this module builds a
//! `ReleasedBody`, and the node's federation layer sends nothing else, so a
//! flow cannot send what the gate did not release (the shape of rustls's
//! `ServerCertVerified`). `internal` fields never leave: no rule may name
//! one, and the gate checks the catalogue class again on every decision.
//!
//! The record travels inside the signed envelope and is logged on both
//! sides. The auditor re-runs the decision from the recorded inputs with
//! [`redecide`] and checks what the body carries ([`carried_fields`])
//! against it.
//!
//! Query responses do not pass through here: they are released by
//! [`evaluate`](crate::evaluate()) and [`ReleaseDecision::project`](crate::ReleaseDecision::project)
//! under the sharing policy, which is the same gate for the query path.
//! Decision 0600 explains the design.

use std::collections::{BTreeMap, BTreeSet};

use credex_protocol::RegionCode;
use credex_protocol::egress::{EgressBasis, EgressRecord};
use credex_protocol::evaluation::Scheme;
use credex_protocol::federation::Flow;
use credex_protocol::lists::{EntryChange, ListEntry, ListKind, kind as list_kind};
use credex_protocol::query::CategoryFields;
use credex_protocol::recognition::{ResultPush, kind as recognition_kind};
use credex_protocol::rights::kind as rights_kind;
use credex_protocol::upward::{KIND_BATCH, KIND_PROCEDURE_OVERDUE, ReportedRecord, UpwardBatch};
use serde::Serialize;

use crate::agreement::{Agreement, AgreementSet};
use crate::catalogue::{Catalogue, Record, SensitivityClass};
use crate::measures::ListType;
use crate::reporting::ReportingList;

/// Every federation message kind a node sends, with the gate function
/// that makes its body. A test in the node fails when a flow gains a kind
/// that is not listed here.
pub const OUTBOUND_KINDS: [(Flow, u16, &str); 15] = [
    (
        Flow::Recognition,
        recognition_kind::RESULT_PUSH,
        "release_result_push",
    ),
    (Flow::Lists, list_kind::LISTING, "release_listing"),
    (Flow::Lists, list_kind::FEEDBACK, "release_feedback"),
    (Flow::Lists, list_kind::CHANGE, "release_change"),
    (
        Flow::Lists,
        list_kind::CHANGE_CONFIRMED,
        "release_change_confirmed",
    ),
    (Flow::Lists, list_kind::OBJECTION, "release_objection"),
    (
        Flow::Lists,
        list_kind::REPAIR_APPLICATION,
        "release_repair_application",
    ),
    (
        Flow::Lists,
        list_kind::PROCEDURE_MARK,
        "release_procedure_mark",
    ),
    (Flow::Upward, KIND_BATCH, "release_upward_batch"),
    (
        Flow::Upward,
        KIND_PROCEDURE_OVERDUE,
        "release_procedure_overdue",
    ),
    (
        Flow::Rights,
        rights_kind::CORRECTION,
        "release_record_correction",
    ),
    (
        Flow::Rights,
        rights_kind::CASE_FILING,
        "release_case_filing",
    ),
    (Flow::Rights, rights_kind::CASE_MARK, "release_case_mark"),
    (
        Flow::Rights,
        rights_kind::ACCESS_REPORT_REQUEST,
        "release_access_report_request",
    ),
    (
        Flow::Rights,
        rights_kind::ACCESS_REPORT_PART,
        "release_access_report_part",
    ),
];

/// An outbound message body the gate released for one recipient: the only
/// thing the federation layer signs and sends. Built only by this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedBody {
    flow: Flow,
    kind: u16,
    recipient: RegionCode,
    payload: Vec<u8>,
    egress: EgressRecord,
}

impl ReleasedBody {
    /// The flow.
    pub fn flow(&self) -> Flow {
        self.flow
    }

    /// The message kind within the flow.
    pub fn kind(&self) -> u16 {
        self.kind
    }

    /// The region the body was released to; it may be sent there only.
    pub fn recipient(&self) -> RegionCode {
        self.recipient
    }

    /// The encoded message.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    /// The gate's decision.
    pub fn egress(&self) -> &EgressRecord {
        &self.egress
    }

    /// Payload and decision, for the envelope.
    pub fn into_parts(self) -> (Vec<u8>, EgressRecord) {
        (self.payload, self.egress)
    }
}

/// Why the gate released nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    /// No agreement binds the sender and the recipient for this message.
    #[error("no agreement binds {from} and {to} for {what}: nothing may be sent")]
    NotBound {
        /// The sender.
        from: RegionCode,
        /// The recipient.
        to: RegionCode,
        /// What was to be sent.
        what: String,
    },
    /// A record of a category the reporting catalogue does not collect.
    #[error("category {0:?} is not in the reporting catalogue: it is not reported upward")]
    NotCollected(String),
    /// A held record or body that cannot be read or encoded.
    #[error("{0}")]
    Malformed(String),
    /// The national platform receives upward batches only.
    #[error("upward batches go to the national platform (000000), not {0}")]
    NotNational(RegionCode),
    /// A subject's application goes to the entry's origin, which alone
    /// decides it.
    #[error("an application about entry {entry} goes to its origin, not to {to}")]
    NotOrigin {
        /// The entry.
        entry: String,
        /// The recipient asked for.
        to: RegionCode,
    },
    /// A subject's case about a record goes to the record's owner, which
    /// alone decides it.
    #[error("a case about record {record} goes to its owner {owner}, not to {to}")]
    NotOwner {
        /// The record's key (hex, shortened).
        record: String,
        /// The owner the filing names.
        owner: RegionCode,
        /// The recipient asked for.
        to: RegionCode,
    },
}

/// A record a province holds and would report upward, before the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpwardCandidate {
    /// The record's id within its category.
    pub record_id: String,
    /// The subject key (a USCC or a keyed pseudonym; never a clear ID).
    pub subject_key: String,
    /// The whole record as held.
    pub record: Record,
    /// When it was imported, Unix ms.
    pub imported_at_ms: i64,
}

/// Release an upward batch: each record projected onto the fields the
/// reporting catalogue collects for its category.
pub fn release_upward_batch(
    list: &ReportingList,
    catalogue: &Catalogue,
    seq: u64,
    held: Vec<UpwardCandidate>,
) -> Result<(UpwardBatch, ReleasedBody), EgressError> {
    let held_fields = fields_of(held.iter().map(|c| &c.record));
    let egress = decide(
        EgressBasis::ReportingCatalogue,
        list.content_hash(),
        catalogue,
        &held_fields,
        |c, f| list.item(c).is_some_and(|i| i.fields.contains(f)),
    );
    let mut records = Vec::with_capacity(held.len());
    for c in held {
        if list.item(&c.record.category).is_none() {
            return Err(EgressError::NotCollected(c.record.category));
        }
        let projected = project_record(&egress, &c.record);
        records.push(ReportedRecord {
            category: projected.category.clone(),
            record_id: c.record_id,
            subject_key: c.subject_key,
            body: encode(&projected)?,
            imported_at_ms: c.imported_at_ms,
        });
    }
    let batch = UpwardBatch { seq, records };
    let body = released(
        Flow::Upward,
        KIND_BATCH,
        RegionCode::NATIONAL,
        &batch,
        egress,
    )?;
    Ok((batch, body))
}

/// Release a new list entry (名单推送) to `to`: the entry's own basis,
/// authority, dates and measures, and of its details the fields the
/// binding agreement's `[joint.release]` names for the list type.
pub fn release_listing(
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    from: RegionCode,
    to: RegionCode,
    entry: &ListEntry,
) -> Result<(ListEntry, ReleasedBody), EgressError> {
    let (projected, egress) = project_entry(agreements, catalogue, from, to, entry)?;
    let body = released(Flow::Lists, list_kind::LISTING, to, &projected, egress)?;
    Ok((projected, body))
}

/// Release an entry change (exit, repair 信用修复, revocation, correction)
/// to `to`; a corrected entry is projected as [`release_listing`] does.
pub fn release_change(
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    from: RegionCode,
    to: RegionCode,
    change: &EntryChange,
) -> Result<ReleasedBody, EgressError> {
    let (change, egress) = match &change.corrected {
        Some(entry) => {
            let (projected, egress) = project_entry(agreements, catalogue, from, to, entry)?;
            let mut c = change.clone();
            c.corrected = Some(projected);
            (c, egress)
        }
        None => (change.clone(), EgressRecord::no_record_data()),
    };
    released(Flow::Lists, list_kind::CHANGE, to, &change, egress)
}

/// Release an evaluation result push (互认推送) to `to`: allowed only under
/// an agreement whose members include both regions and which recognises
/// the result's scheme.
pub fn release_result_push(
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    from: RegionCode,
    to: RegionCode,
    push: &ResultPush,
) -> Result<ReleasedBody, EgressError> {
    let scheme = push.result.attestation.scheme;
    let agreement = recognition_agreement(agreements, from, to, scheme).ok_or_else(|| {
        EgressError::NotBound {
            from,
            to,
            what: format!("{} results", scheme.code()),
        }
    })?;
    let egress = under_agreement(
        agreement,
        agreements,
        catalogue,
        &attestation_fields(scheme),
        |_, _| true,
    );
    released(
        Flow::Recognition,
        recognition_kind::RESULT_PUSH,
        to,
        push,
        egress,
    )
}

/// Release a change to a result `to` already holds (it acknowledged
/// recognising an earlier result of the same subject and scheme) when no
/// agreement binds the two regions any more: a holder must not keep a
/// stale or revoked result. Only the attestation's own fields, as it
/// received before. Prefer [`release_result_push`]; this is its fallback
/// for holders.
pub fn release_result_to_holder(
    catalogue: &Catalogue,
    to: RegionCode,
    push: &ResultPush,
) -> Result<ReleasedBody, EgressError> {
    let held = attestation_fields(push.result.attestation.scheme);
    let egress = decide(
        EgressBasis::PriorRelease,
        [0; 32],
        catalogue,
        &held,
        |_, _| true,
    );
    released(
        Flow::Recognition,
        recognition_kind::RESULT_PUSH,
        to,
        push,
        egress,
    )
}

/// The catalogue category an evaluation scheme's results belong to.
pub fn scheme_category(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::PublicCredit => "public_credit_evaluation",
        Scheme::TaxCredit => "tax_credit_rating",
        Scheme::EnvironmentalCredit => "environmental_credit_evaluation",
    }
}

/// The record id under which a region keeps its current result of
/// `scheme` about `subject` (a USCC) in [`scheme_category`]:
/// `eval-{scheme}-{subject}`, one record per subject and scheme.
pub fn evaluation_record_id(scheme: Scheme, subject: &str) -> String {
    format!("eval-{scheme}-{subject}")
}

/// The scheme and subject of an issued result's record, if
/// (`category`, `record_id`) is one ([`evaluation_record_id`]).
pub fn evaluation_of_record<'a>(category: &str, record_id: &'a str) -> Option<(Scheme, &'a str)> {
    Scheme::ALL.into_iter().find_map(|s| {
        let subject = record_id.strip_prefix(&format!("eval-{s}-"))?;
        (scheme_category(s) == category).then_some((s, subject))
    })
}

/// The list type of a wire list kind.
pub fn list_type(kind: ListKind) -> ListType {
    match kind {
        ListKind::Red => ListType::Red,
        ListKind::SeriousDishonesty => ListType::SeriousDishonesty,
        ListKind::KeyAttention => ListType::KeyAttention,
    }
}

/// The catalogue fields a list entry's own parts stand for (basis,
/// authority, entry date, planned exit, measures, list type): every entry
/// carries them.
pub fn entry_core_fields(list: ListType) -> [&'static str; 6] {
    match list {
        ListType::Red => [
            "basis",
            "deciding_authority",
            "entry_date",
            "incentives",
            "list_type",
            "valid_until",
        ],
        ListType::SeriousDishonesty => [
            "basis",
            "deciding_authority",
            "entry_date",
            "expiry_date",
            "list_type",
            "measures",
        ],
        ListType::KeyAttention => [
            "basis",
            "deciding_authority",
            "entry_date",
            "expiry_date",
            "list_type",
            "supervision_measures",
        ],
    }
}

/// The rule documents a decision is re-run under (the auditor's copies).
#[derive(Debug, Clone)]
pub struct EgressRules {
    /// The agreements.
    pub agreements: AgreementSet,
    /// The reporting catalogue.
    pub list: ReportingList,
    /// The catalogue (sensitivity classes).
    pub catalogue: Catalogue,
}

impl EgressRules {
    /// The shipped agreements, reporting catalogue and base catalogue.
    pub fn builtin() -> EgressRules {
        EgressRules {
            agreements: AgreementSet::builtin(),
            list: ReportingList::builtin(),
            catalogue: Catalogue::base(),
        }
    }
}

/// Who sent which message to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The sending region.
    pub from: RegionCode,
    /// The receiving region.
    pub to: RegionCode,
    /// The flow.
    pub flow: Flow,
    /// The message kind within the flow.
    pub kind: u16,
}

/// Re-run the gate's decision for a message from what its record says the
/// sender held (released ∪ withheld), under the auditor's own copy of the
/// rule: the decision the sender should have recorded. `None` when the
/// record's rule hash is not the hash of the auditor's copy (the auditor
/// cannot re-run it and says so).
pub fn redecide(
    rules: &EgressRules,
    route: Route,
    recorded: &EgressRecord,
) -> Option<Result<EgressRecord, EgressError>> {
    let EgressRules {
        agreements,
        list,
        catalogue,
    } = rules;
    let Route {
        from,
        to,
        flow,
        kind,
    } = route;
    let mut held = from_category_fields(&recorded.released);
    for (c, fs) in from_category_fields(&recorded.withheld) {
        held.entry(c).or_default().extend(fs);
    }
    match &recorded.basis {
        EgressBasis::NoRecordData => Some(Ok(EgressRecord::no_record_data())),
        // That the recipient held the result shows in the two logs (its
        // earlier recognition); the decision itself is re-run here.
        EgressBasis::PriorRelease => Some(Ok(decide(
            EgressBasis::PriorRelease,
            [0; 32],
            catalogue,
            &held,
            |c, f| {
                flow == Flow::Recognition
                    && Scheme::ALL
                        .into_iter()
                        .any(|s| scheme_category(s) == c && attestation_fields(s)[c].contains(f))
            },
        ))),
        EgressBasis::ReportingCatalogue => {
            if recorded.basis_hash != list.content_hash() {
                return None;
            }
            if to != RegionCode::NATIONAL {
                return Some(Err(EgressError::NotNational(to)));
            }
            Some(Ok(decide(
                EgressBasis::ReportingCatalogue,
                list.content_hash(),
                catalogue,
                &held,
                |c, f| list.item(c).is_some_and(|i| i.fields.contains(f)),
            )))
        }
        EgressBasis::Agreement(code) => {
            if recorded.basis_hash != agreements.content_hash() {
                return None;
            }
            let not_bound = || EgressError::NotBound {
                from,
                to,
                what: format!("{flow} message kind {kind} under agreement {code:?}"),
            };
            let Some(a) = agreements.agreement(code) else {
                return Some(Err(not_bound()));
            };
            if !(a.has_member(from) && a.has_member(to)) {
                return Some(Err(not_bound()));
            }
            let permitted = |c: &str, f: &str| match flow {
                Flow::Lists => ListType::ALL
                    .into_iter()
                    .any(|l| l.catalogue_category() == c && a.binds(l) && joint_permits(a, l, f)),
                Flow::Recognition => a.schemes.keys().any(|s| scheme_category(*s) == c),
                // Upward batches follow the reporting catalogue, corrections
                // carry no record field: no agreement releases anything.
                Flow::Upward | Flow::Rights => false,
            };
            Some(Ok(under_agreement(
                a, agreements, catalogue, &held, permitted,
            )))
        }
    }
}

/// The one decision function: of `held`, release what `permitted` allows
/// and the catalogue does not class `internal`; withhold the rest.
fn decide(
    basis: EgressBasis,
    basis_hash: [u8; 32],
    catalogue: &Catalogue,
    held: &BTreeMap<String, BTreeSet<String>>,
    permitted: impl Fn(&str, &str) -> bool,
) -> EgressRecord {
    let mut released: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut withheld: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (category, fields) in held {
        for field in fields {
            let internal = catalogue
                .field(category, field)
                .is_none_or(|f| f.class == SensitivityClass::Internal);
            let side = if !internal && permitted(category, field) {
                &mut released
            } else {
                &mut withheld
            };
            side.entry(category.clone())
                .or_default()
                .insert(field.clone());
        }
    }
    EgressRecord {
        basis,
        basis_hash,
        released: to_category_fields(&released),
        withheld: to_category_fields(&withheld),
    }
}

/// [`decide`] under `agreement`, one of `agreements`.
fn under_agreement(
    agreement: &Agreement,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    held: &BTreeMap<String, BTreeSet<String>>,
    permitted: impl Fn(&str, &str) -> bool,
) -> EgressRecord {
    decide(
        EgressBasis::Agreement(agreement.code.clone()),
        agreements.content_hash(),
        catalogue,
        held,
        permitted,
    )
}

fn project_entry(
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    from: RegionCode,
    to: RegionCode,
    entry: &ListEntry,
) -> Result<(ListEntry, EgressRecord), EgressError> {
    let lt = list_type(entry.list_type);
    // Of the agreements binding both regions for this list, the one that
    // releases the most details (then the first by code): any of them
    // permits what it names.
    let agreement = agreements
        .iter()
        .filter(|a| a.has_member(from) && a.has_member(to) && a.binds(lt))
        .max_by(|a, b| {
            release_len(a, lt)
                .cmp(&release_len(b, lt))
                .then(b.code.cmp(&a.code))
        })
        .ok_or_else(|| EgressError::NotBound {
            from,
            to,
            what: format!("{} list entries", lt.code()),
        })?;
    let egress = under_agreement(
        agreement,
        agreements,
        catalogue,
        &entry_fields(entry),
        |_, f| joint_permits(agreement, lt, f),
    );
    let category = lt.catalogue_category();
    let mut projected = entry.clone();
    projected
        .details
        .retain(|field, _| egress.releases(category, field));
    Ok((projected, egress))
}

fn release_len(a: &Agreement, lt: ListType) -> usize {
    a.joint
        .as_ref()
        .and_then(|j| j.release.get(&lt))
        .map_or(0, BTreeSet::len)
}

fn joint_permits(a: &Agreement, lt: ListType, field: &str) -> bool {
    entry_core_fields(lt).contains(&field)
        || a.joint
            .as_ref()
            .and_then(|j| j.release.get(&lt))
            .is_some_and(|fs| fs.contains(field))
}

fn recognition_agreement(
    agreements: &AgreementSet,
    from: RegionCode,
    to: RegionCode,
    scheme: Scheme,
) -> Option<&Agreement> {
    agreements
        .iter()
        .find(|a| a.has_member(from) && a.has_member(to) && a.schemes.contains_key(&scheme))
}

fn entry_fields(entry: &ListEntry) -> BTreeMap<String, BTreeSet<String>> {
    let lt = list_type(entry.list_type);
    let fields = entry_core_fields(lt)
        .into_iter()
        .map(str::to_owned)
        .chain(entry.details.keys().cloned())
        .collect();
    BTreeMap::from([(lt.catalogue_category().to_owned(), fields)])
}

fn attestation_fields(scheme: Scheme) -> BTreeMap<String, BTreeSet<String>> {
    let fields = ["attestation", "evaluation_date", "grade"]
        .into_iter()
        .map(str::to_owned)
        .collect();
    BTreeMap::from([(scheme_category(scheme).to_owned(), fields)])
}

fn fields_of<'a>(records: impl Iterator<Item = &'a Record>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in records {
        out.entry(r.category.clone())
            .or_default()
            .extend(r.fields.keys().cloned());
    }
    out
}

fn project_record(egress: &EgressRecord, record: &Record) -> Record {
    Record {
        category: record.category.clone(),
        fields: record
            .fields
            .iter()
            .filter(|(f, _)| egress.releases(&record.category, f))
            .map(|(f, v)| (f.clone(), v.clone()))
            .collect(),
    }
}

fn to_category_fields(map: &BTreeMap<String, BTreeSet<String>>) -> Vec<CategoryFields> {
    map.iter()
        .filter(|(_, fs)| !fs.is_empty())
        .map(|(c, fs)| CategoryFields {
            category: c.clone(),
            fields: fs.iter().cloned().collect(),
        })
        .collect()
}

fn from_category_fields(list: &[CategoryFields]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for c in list {
        out.entry(c.category.clone())
            .or_default()
            .extend(c.fields.iter().cloned());
    }
    out
}

fn released<T: Serialize>(
    flow: Flow,
    kind: u16,
    recipient: RegionCode,
    body: &T,
    egress: EgressRecord,
) -> Result<ReleasedBody, EgressError> {
    Ok(ReleasedBody {
        flow,
        kind,
        recipient,
        payload: encode(body)?,
        egress,
    })
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, EgressError> {
    credex_protocol::encode(value)
        .map_err(|e| EgressError::Malformed(format!("cannot encode: {e}")))
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, EgressError> {
    credex_protocol::decode(bytes)
        .map_err(|e| EgressError::Malformed(format!("cannot decode: {e}")))
}

/// Ways around the gate, for tests that play a doctored sender. Compiled
/// only with the `danger` feature, which no release build enables.
#[cfg(feature = "danger")]
pub mod danger {
    use super::*;

    /// A body released as given, with whatever record the caller claims:
    /// what a node whose code bypassed the gate would send.
    pub fn release_unchecked(
        flow: Flow,
        kind: u16,
        recipient: RegionCode,
        payload: Vec<u8>,
        egress: EgressRecord,
    ) -> ReleasedBody {
        ReleasedBody {
            flow,
            kind,
            recipient,
            payload,
            egress,
        }
    }
}

mod carried;
pub use carried::{beyond_record, carried_fields};
mod notices;
pub use notices::{
    release_access_report_part, release_access_report_request, release_case_filing,
    release_case_mark, release_change_confirmed, release_feedback, release_objection,
    release_procedure_mark, release_procedure_overdue, release_record_correction,
    release_repair_application,
};

#[cfg(test)]
mod tests;
