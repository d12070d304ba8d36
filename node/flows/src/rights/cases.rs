//! Cases about records (异议, 信用修复 of a record), the pure sides: at the
//! record's owner, a filing opens a case, marked `filed` on every region
//! the disclosures ledger says received the record and on the filer, in
//! the same transaction ([`Rights::open_case`], also used when the subject
//! files at the owner itself); at those regions, the owner's mark of a
//! case is kept unless it goes back ([`Rights::case_mark`]).
//!
//! A repair filing is checked before a case opens: every evidence file
//! against its digest, and the record's publication period against the
//! rights rules — a filing made within the minimum period is refused with
//! the first day one may be made. Moving a case (accept, refuse, decide)
//! is the owner's officer's, in the node (`credex_node::rights`).

use std::collections::BTreeSet;

use credex_journal::sha256;
use credex_policies::egress::{evaluation_of_record, release_case_mark};
use credex_policies::repair::{Eligibility, penalty_class};
use credex_policies::{FieldValue, Record};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::Scheme;
use credex_protocol::lists::{Procedure, ProcedureStage};
use credex_protocol::query::SubjectRef;
use credex_protocol::rights::{CaseFiling, CaseMark};
use serde::{Deserialize, Serialize};

use super::Rights;
use crate::calendar::{china_date, date_text, deadline_date, parse_date};
use crate::disclosures::{self, parse_row};
use crate::flow::{Effect, HeldRecord, Read, Refusal, Refused, StateKey, StateWrite, View};
use crate::lists::EvidenceHeld;
use crate::recognition;

/// At the owner: each case about one of its records, [`case_key`] →
/// [`RecordCase`].
pub const CASES_NS: &str = "rights.cases";
/// At the owner: each evidence file of a case, [`evidence_key`] → the file.
pub const EVIDENCE_NS: &str = "rights.evidence";
/// At a region that received the record or filed the case: the owner's
/// latest mark of each case, [`mark_key`] → [`CaseMarkHeld`].
pub const MARKS_NS: &str = "rights.marks";
/// At the region the subject filed in: each case filed here, [`mark_key`]
/// → [`FiledRecordCase`] (this region's own count of the acceptance
/// deadline).
pub const FILED_NS: &str = "rights.filed";

/// A case about one of this region's records, as the owner handles it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordCase {
    /// Where it stands, as every region was last told.
    pub mark: CaseMark,
    /// The record's category.
    pub category: String,
    /// The record's id (kept here, at its owner, only).
    pub record_id: String,
    /// The stored subject key of the record.
    pub subject_key: String,
    /// The subject as messages name it.
    pub subject: SubjectRef,
    /// The subject's grounds or statement.
    pub statement: String,
    /// The evidence filed.
    pub evidence: Vec<EvidenceHeld>,
    /// When it was filed here, Unix ms.
    pub filed_at_ms: i64,
    /// When it last moved, Unix ms.
    pub updated_at_ms: i64,
}

/// The owner's latest mark of a case, as a recipient or the filer keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseMarkHeld {
    /// The mark.
    pub mark: CaseMark,
    /// When it arrived, Unix ms.
    pub at_ms: i64,
}

/// A case the subject filed in this region for another region's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiledRecordCase {
    /// Objection or repair.
    pub procedure: Procedure,
    /// When it was sent, Unix ms.
    pub at_ms: i64,
    /// The last day the owner may accept or refuse it, as this region
    /// counts it.
    pub accept_by: String,
    /// The owner's node refused the filing itself (a record it does not
    /// hold for the subject, a repair too early): its reason.
    pub refused: Option<String>,
}

/// The [`CASES_NS`] key of case `case` about `record`.
pub fn case_key(record: &[u8; 32], case: &[u8; 16]) -> String {
    format!("{}/{}", hex::encode(record), hex::encode(case))
}

/// The [`MARKS_NS`] and [`FILED_NS`] key of case `case` about `owner`'s
/// `record`.
pub fn mark_key(owner: RegionCode, record: &[u8; 32], case: &[u8; 16]) -> String {
    format!("{owner}/{}/{}", hex::encode(record), hex::encode(case))
}

/// The [`EVIDENCE_NS`] key of evidence file `index` of case `case`.
pub fn evidence_key(case: &[u8; 16], index: usize) -> String {
    format!("{}/{index:02}", hex::encode(case))
}

/// What opening a case about `record` reads: the record, the disclosures
/// ledger's rows about it, and — for a legal person, whose record may be an
/// evaluation result — the regions that recognised each scheme's result.
pub fn case_reads(subject: &SubjectRef, record: &[u8; 32]) -> Vec<Read> {
    let mut reads = vec![
        Read::Record {
            subject: subject.clone(),
            record: *record,
        },
        Read::Prefix {
            ns: disclosures::NS.to_owned(),
            prefix: disclosures::record_prefix(record),
        },
    ];
    if let SubjectRef::LegalPerson(code) = subject {
        reads.extend(Scheme::ALL.into_iter().map(|scheme| Read::Prefix {
            ns: recognition::HOLDERS_NS.to_owned(),
            prefix: format!("{scheme}/{code}/"),
        }));
    }
    reads
}

/// The regions a case's marks go to: every region the ledger (read into
/// `view`) says received `record` (of `category`, id `record_id`), every
/// region that recognised it when it is an evaluation result, and the
/// region the subject filed in — never `owner` itself.
pub fn case_recipients(
    view: &View,
    record: &[u8; 32],
    (category, record_id): (&str, &str),
    filed_in: RegionCode,
    owner: RegionCode,
) -> Result<BTreeSet<RegionCode>, Refusal> {
    let mut to = BTreeSet::from([filed_in]);
    for (key, value) in view.prefixed(disclosures::NS, &disclosures::record_prefix(record)) {
        let row = parse_row(key, value).map_err(|e| Refusal::Transient(e.to_string()))?;
        to.insert(row.recipient);
    }
    if let Some((scheme, subject)) = evaluation_of_record(category, record_id) {
        let prefix = format!("{scheme}/{subject}/");
        to.extend(
            view.prefixed(recognition::HOLDERS_NS, &prefix)
                .filter_map(|(key, _)| key.strip_prefix(&prefix)?.parse::<RegionCode>().ok()),
        );
    }
    to.remove(&owner);
    Ok(to)
}

impl Rights {
    /// Open the case `filing` makes about one of this region's records,
    /// filed in `filed_in` under id `case`, against `view` (read with
    /// [`case_reads`]): refused when it is malformed, names another owner,
    /// a record not held here, or (a repair) comes too early or too late;
    /// otherwise the case with its evidence, marked `filed` on every
    /// recipient of the record and on the filer.
    pub fn open_case(
        &self,
        now_ms: i64,
        view: &View,
        filing: CaseFiling,
        case: [u8; 16],
        filed_in: RegionCode,
    ) -> Result<Effect, Refusal> {
        filing
            .validate(sha256)
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let short = &hex::encode(filing.record)[..16];
        if filing.owner != self.region {
            return Err(Refused::NotEntitled(format!(
                "the case about record {short} is for region {}, not {}",
                filing.owner, self.region
            ))
            .into());
        }
        let held = view.record(&filing.record).ok_or_else(|| {
            Refused::NotHeld(format!(
                "this region holds no record {short} of the subject named"
            ))
        })?;
        if filing.procedure == Procedure::Repair {
            self.repairable(held, short, now_ms)?;
        }
        let mark = CaseMark {
            procedure: filing.procedure,
            record: filing.record,
            case,
            filed_in,
            stage: ProcedureStage::Filed,
            accept_by: deadline_date(
                &self.calendar,
                now_ms,
                self.rules.deadlines(filing.procedure).accept_working_days,
            ),
            decide_by: None,
            note: String::new(),
        };
        let mut state = Vec::new();
        let mut evidence = Vec::new();
        for (index, file) in filing.evidence.into_iter().enumerate() {
            evidence.push(EvidenceHeld {
                kind: file.kind,
                title: file.title,
                digest: file.digest,
                len: file.content.len() as u64,
            });
            state.push(StateWrite::put(
                EVIDENCE_NS,
                evidence_key(&case, index),
                file.content,
            ));
        }
        let recipients = case_recipients(
            view,
            &filing.record,
            (&held.category, &held.record_id),
            filed_in,
            self.region,
        )?;
        let send = recipients
            .iter()
            .map(|to| release_case_mark(*to, &mark).map_err(transient))
            .collect::<Result<Vec<_>, _>>()?;
        let summary = format!(
            "{} about record {short} ({}) opened; accept or refuse by {}; marked on {} region(s)",
            mark.procedure.code(),
            held.category,
            mark.accept_by,
            send.len()
        );
        let record_case = RecordCase {
            category: held.category.clone(),
            record_id: held.record_id.clone(),
            subject_key: held.subject_key.clone(),
            subject: filing.subject,
            statement: filing.statement,
            evidence,
            filed_at_ms: now_ms,
            updated_at_ms: now_ms,
            mark,
        };
        state.push(
            StateWrite::encoded(CASES_NS, case_key(&filing.record, &case), &record_case)
                .map_err(transient)?,
        );
        Ok(Effect {
            state,
            send,
            summary,
            ..Effect::default()
        })
    }

    /// Refused unless a repair of `held` may be applied for on the China
    /// day of `now_ms` under this region's rights rules: counted from the
    /// record's decision date, by its category and (a penalty) its class.
    fn repairable(&self, held: &HeldRecord, short: &str, now_ms: i64) -> Result<(), Refusal> {
        let record: Record = credex_protocol::decode(&held.body)
            .map_err(|e| Refusal::Transient(format!("record {short} is unreadable: {e}")))?;
        let field = |code: &str| match record.fields.get(code) {
            Some(FieldValue::Date(s) | FieldValue::Code(s) | FieldValue::Text(s)) => {
                Some(s.as_str())
            }
            _ => None,
        };
        let category = held.category.as_str();
        let decided = field("decision_date").and_then(parse_date).ok_or_else(|| {
            Refused::Invalid(format!(
                "record {short} ({category}) has no decision date to count its publication from"
            ))
        })?;
        let today = china_date(now_ms)
            .ok_or_else(|| Refusal::Transient(format!("time {now_ms} has no China date")))?;
        let class = penalty_class(field("sector"), field("penalty_type"));
        match self.rules.eligibility(category, class, decided, today) {
            Eligibility::Repairable { .. } => Ok(()),
            Eligibility::TooEarly { from } => Err(Refused::Invalid(format!(
                "record {short} ({category}, decided {}) may be repaired from {} (信用修复 before the minimum period)",
                date_text(decided),
                date_text(from)
            ))
            .into()),
            Eligibility::Ended { on } => Err(Refused::Invalid(format!(
                "record {short}'s publication ended on {}: there is nothing to repair",
                date_text(on)
            ))
            .into()),
            Eligibility::NotPublished => Err(Refused::Invalid(format!(
                "record {short} is in a category ({category}) with no repair procedure"
            ))
            .into()),
        }
    }

    /// The owner's mark of a case about one of its records, from `owner`:
    /// kept unless it goes back (a stage never returns to an earlier one).
    pub(super) fn case_mark(
        &self,
        now_ms: i64,
        view: &View,
        owner: RegionCode,
        mark: CaseMark,
    ) -> Result<Effect, Refusal> {
        mark.validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        let key = mark_key(owner, &mark.record, &mark.case);
        if let Some(before) = view.decoded::<CaseMarkHeld>(MARKS_NS, &key)? {
            crate::lists::forward_only(
                &key,
                (before.mark.procedure, before.mark.stage),
                (mark.procedure, mark.stage),
            )?;
        }
        let summary = format!(
            "{} {key} about a record of {owner}: {}",
            mark.procedure.code(),
            mark.stage.code()
        );
        let held = CaseMarkHeld {
            mark,
            at_ms: now_ms,
        };
        Ok(Effect {
            state: vec![StateWrite::encoded(MARKS_NS, key, &held).map_err(transient)?],
            summary,
            ..Effect::default()
        })
    }

    /// The filer's side of the owner's acknowledgement of a filing: a
    /// refusal is kept on the filed case (an accepted filing is marked by
    /// the owner in its own message).
    pub(super) fn filing_acknowledged(
        view: &View,
        key: &str,
        reason: &str,
    ) -> Result<Vec<StateWrite>, String> {
        let Some(mut filed) = view
            .decoded::<FiledRecordCase>(FILED_NS, key)
            .map_err(|e| format!("{FILED_NS}/{key}: {e:?}"))?
        else {
            return Ok(Vec::new());
        };
        filed.refused = Some(reason.to_owned());
        Ok(vec![
            StateWrite::encoded(FILED_NS, key, &filed).map_err(|e| e.to_string())?,
        ])
    }

    /// What receiving `mark` from `owner` reads.
    pub(super) fn mark_reads(owner: RegionCode, mark: &CaseMark) -> Vec<Read> {
        vec![Read::State(StateKey::new(
            MARKS_NS,
            mark_key(owner, &mark.record, &mark.case),
        ))]
    }
}

fn transient(e: impl std::fmt::Display) -> Refusal {
    Refusal::Transient(e.to_string())
}
