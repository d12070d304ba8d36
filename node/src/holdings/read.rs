//! What the node holds about a set of subjects, read with one statement per
//! [`SUBJECTS_PER_READ`](crate::storage::SUBJECTS_PER_READ) subjects for
//! records and evaluations, and one scan of each lists namespace per
//! check (entries are keyed by entry id, not by subject) — then projected
//! through the gate's [`CheckRelease`] into one [`SubjectAnswer`] each.

use std::collections::HashMap;
use std::sync::OnceLock;

use credex_flows::lists::{
    CASES_NS, FEEDBACK_NS, FILED_NS, FeedbackGiven, FiledCase, HeldEntry, MARKS_NS, MarkHeld,
    OwnEntry, ProcedureCase, RECEIVED_NS,
};
use credex_flows::recognition::{RECEIVED_NS as EVAL_RECEIVED_NS, ReceivedRecord};
use credex_flows::rights::{
    CASES_NS as RECORD_CASES_NS, CaseMarkHeld, FILED_NS as RECORD_FILED_NS, FiledRecordCase,
    MARKS_NS as RECORD_MARKS_NS, RecordCase,
};
use credex_policies::check_release::CheckRelease;
use credex_policies::egress::{evaluation_record_id, list_type, scheme_category};
use credex_policies::{FieldValue, MeasuresCatalogue, Record};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::AttestationStatus;
use credex_protocol::lists::{ListEntry, Procedure, ProcedureStage};
use credex_protocol::query::SubjectRef;

use super::CheckedSubject;
use super::answer::{
    CaseAnswer, EvaluationAnswer, ListAnswer, MeasureAnswer, RecordAnswer, SubjectAnswer,
};
use crate::storage::{MAX_STATE_SCAN, Storage, StorageError, StoredRecord};

/// Most received evaluations read per statement (500 subjects × 3 schemes
/// × every other region, with room).
const EVALUATIONS_PER_READ: u32 = 65_536;

/// Why the holdings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum HoldingsError {
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// A stored value does not decode.
    #[error("{what} does not decode: {reason}")]
    Corrupt {
        /// What was read.
        what: String,
        /// The decoder's message.
        reason: String,
    },
}

/// The measures catalogue entries carry codes of (the shipped one, as the
/// lists flow checks them against).
fn measures() -> &'static MeasuresCatalogue {
    static MEASURES: OnceLock<MeasuresCatalogue> = OnceLock::new();
    MEASURES.get_or_init(MeasuresCatalogue::builtin)
}

/// One answer per subject of `subjects`, in order, under `release`, as
/// the node of region `here` holds them.
pub async fn answers(
    storage: &Storage,
    here: RegionCode,
    subjects: &[CheckedSubject],
    release: &CheckRelease,
    now_ms: i64,
) -> Result<Vec<SubjectAnswer>, HoldingsError> {
    let mut records = read_records(storage, subjects).await?;
    let mut evaluations = read_evaluations(storage, subjects).await?;
    let mut lists = read_lists(storage, here, subjects).await?;
    let mut out = Vec::with_capacity(subjects.len());
    for s in subjects {
        let mut answer = SubjectAnswer {
            subject: s.shown.clone(),
            subject_kind: s.kind.as_str(),
            pseudonym: s.pseudonym.map(|p| p.to_string()),
            records: Vec::new(),
            evaluations: Vec::new(),
            lists: Vec::new(),
            objections: Vec::new(),
            repairs: Vec::new(),
        };
        for row in records.remove(&s.record_key).unwrap_or_default() {
            let cases = record_cases(storage, &row.category, &row.record_id).await?;
            if let Some(mut r) = record_answer(row, release)? {
                for case in cases {
                    match case.procedure {
                        Procedure::Objection => {
                            r.under_objection = true;
                            answer.objections.push(case);
                        }
                        Procedure::Repair => {
                            r.under_repair_review = true;
                            answer.repairs.push(case);
                        }
                    }
                }
                answer.records.push(r);
            }
        }
        if let SubjectRef::LegalPerson(code) = &s.digest_ref {
            for r in evaluations.remove(code).unwrap_or_default() {
                let a = &r.result.attestation;
                if release.releases(scheme_category(a.scheme), "grade") {
                    let mut e = evaluation_answer(&r, now_ms);
                    let cases = told_cases(
                        storage,
                        here,
                        a.issuer_region,
                        scheme_category(a.scheme),
                        &evaluation_record_id(a.scheme, &a.subject),
                    )
                    .await?;
                    e.under_objection = !cases.is_empty();
                    answer.objections.extend(cases);
                    answer.evaluations.push(e);
                }
            }
        }
        for key in &s.list_keys {
            for held in lists.remove(key).unwrap_or_default() {
                if let Some(l) = list_answer(&held, release) {
                    answer.lists.push(l);
                    for case in held.cases {
                        match case.procedure {
                            Procedure::Objection => answer.objections.push(case),
                            Procedure::Repair => answer.repairs.push(case),
                        }
                    }
                }
            }
        }
        out.push(answer);
    }
    Ok(out)
}

async fn read_records(
    storage: &Storage,
    subjects: &[CheckedSubject],
) -> Result<HashMap<String, Vec<StoredRecord>>, HoldingsError> {
    let keys: Vec<String> = subjects.iter().map(|s| s.record_key.clone()).collect();
    let mut by_subject: HashMap<String, Vec<StoredRecord>> = HashMap::new();
    for row in storage.records_of_subjects(&keys).await? {
        by_subject
            .entry(row.subject_key)
            .or_default()
            .push(row.record);
    }
    Ok(by_subject)
}

fn record_answer(
    row: StoredRecord,
    release: &CheckRelease,
) -> Result<Option<RecordAnswer>, HoldingsError> {
    let record: Record =
        credex_protocol::decode(&row.body).map_err(|e| HoldingsError::Corrupt {
            what: format!("record {}/{}", row.category, row.record_id),
            reason: e.to_string(),
        })?;
    let projected = release.project(&record);
    if projected.fields.is_empty() {
        return Ok(None);
    }
    Ok(Some(RecordAnswer {
        category: projected.category,
        record_id: row.record_id,
        fields: projected
            .fields
            .into_iter()
            .map(|(k, v)| (k, json_value(v)))
            .collect(),
        under_objection: false,
        under_repair_review: false,
    }))
}

fn json_value(v: FieldValue) -> serde_json::Value {
    match v {
        FieldValue::Text(s)
        | FieldValue::Code(s)
        | FieldValue::Date(s)
        | FieldValue::Decimal(s) => serde_json::Value::String(s),
        FieldValue::Integer(n) => serde_json::Value::from(n),
        FieldValue::Boolean(b) => serde_json::Value::Bool(b),
    }
}

async fn read_evaluations(
    storage: &Storage,
    subjects: &[CheckedSubject],
) -> Result<HashMap<String, Vec<ReceivedRecord>>, HoldingsError> {
    let prefixes: Vec<String> = subjects
        .iter()
        .filter_map(|s| match &s.digest_ref {
            SubjectRef::LegalPerson(code) => Some(format!("{code}/")),
            SubjectRef::NaturalPerson(_) => None,
        })
        .collect();
    let mut by_subject: HashMap<String, Vec<ReceivedRecord>> = HashMap::new();
    for (key, value) in storage
        .state_with_prefixes(EVAL_RECEIVED_NS, &prefixes, EVALUATIONS_PER_READ)
        .await?
    {
        let r: ReceivedRecord = decode(EVAL_RECEIVED_NS, &key, &value)?;
        if r.decision.recognised {
            by_subject
                .entry(r.result.attestation.subject.clone())
                .or_default()
                .push(r);
        }
    }
    Ok(by_subject)
}

fn evaluation_answer(r: &ReceivedRecord, now_ms: i64) -> EvaluationAnswer {
    let a = &r.result.attestation;
    let d = &r.decision;
    EvaluationAnswer {
        scheme: a.scheme.code().to_owned(),
        issuer_region: a.issuer_region.to_string(),
        scheme_version: a.scheme_version.clone(),
        original_grade: a.grade.clone(),
        common_grade: d.common_grade.clone(),
        local_grade: d.local_grade.clone(),
        agreement: d.agreement.clone(),
        supervision_tier: d.supervision_tier.clone(),
        green_channel: d.green_channel,
        issued_at_ms: a.issued_at_ms,
        counts_until_ms: d.counts_until_ms,
        counts_now: matches!(a.status, AttestationStatus::Active)
            && a.valid_until_ms >= now_ms
            && d.counts_until_ms.is_some_and(|until| until >= now_ms),
        under_objection: false,
    }
}

/// A list entry in force here, with what this region knows about it.
struct Held {
    entry: ListEntry,
    applied_here: Option<Vec<String>>,
    cases: Vec<CaseAnswer>,
}

/// Every list entry in force here (made here, or pushed here) about one of
/// `subjects`, by subject key.
async fn read_lists(
    storage: &Storage,
    here: RegionCode,
    subjects: &[CheckedSubject],
) -> Result<HashMap<String, Vec<Held>>, HoldingsError> {
    let wanted: std::collections::HashSet<&str> = subjects
        .iter()
        .flat_map(|s| s.list_keys.iter().map(String::as_str))
        .collect();
    let mut out: HashMap<String, Vec<Held>> = HashMap::new();
    for (key, value) in scan(storage, RECEIVED_NS).await? {
        let held: HeldEntry = decode(RECEIVED_NS, &key, &value)?;
        let subject = crate::query::subject_key(&held.entry.subject);
        if held.ended.is_some() || !wanted.contains(subject.as_str()) {
            continue;
        }
        let applied_here = match storage.state(FEEDBACK_NS, &key).await? {
            Some(v) => Some(decode::<FeedbackGiven>(FEEDBACK_NS, &key, &v)?.applied),
            None => None,
        };
        let cases = marked_cases(storage, here, &key).await?;
        out.entry(subject).or_default().push(Held {
            entry: held.entry,
            applied_here,
            cases,
        });
    }
    for (key, value) in scan(storage, credex_flows::lists::ENTRIES_NS).await? {
        let own: OwnEntry = decode(credex_flows::lists::ENTRIES_NS, &key, &value)?;
        let subject = crate::query::subject_key(&own.entry.subject);
        if own.ended.is_some() || !wanted.contains(subject.as_str()) {
            continue;
        }
        let cases = cases(storage, &key).await?;
        out.entry(subject).or_default().push(Held {
            entry: own.entry,
            applied_here: None,
            cases,
        });
    }
    Ok(out)
}

/// The cases being handled (异议处理中, 信用修复审核中) about own entry
/// `entry_key` (the entry is in force), each as it stands here.
async fn cases(storage: &Storage, entry_key: &str) -> Result<Vec<CaseAnswer>, HoldingsError> {
    let prefix = format!("{entry_key}/");
    let mut out = Vec::new();
    for (key, value) in storage
        .state_scan(CASES_NS, &prefix, None, MAX_STATE_SCAN)
        .await?
    {
        let case: ProcedureCase = decode(CASES_NS, &key, &value)?;
        let m = case.mark;
        out.extend(
            Standing {
                procedure: m.procedure,
                stage: m.stage,
                filed_in: m.filed_in,
                at_ms: case.filed_at_ms,
                accept_by: m.accept_by,
                decide_by: m.decide_by,
            }
            .answer(Some(entry_key.to_owned()), None),
        );
    }
    Ok(out)
}

/// The cases being handled (异议处理中, 信用修复审核中) about this region's
/// record `record_id` of `category`.
async fn record_cases(
    storage: &Storage,
    category: &str,
    record_id: &str,
) -> Result<Vec<CaseAnswer>, HoldingsError> {
    let prefix = format!(
        "{}/",
        hex::encode(credex_journal::record_key(category, record_id))
    );
    let mut out = Vec::new();
    for (key, value) in storage
        .state_scan(RECORD_CASES_NS, &prefix, None, MAX_STATE_SCAN)
        .await?
    {
        let case: RecordCase = decode(RECORD_CASES_NS, &key, &value)?;
        let m = case.mark;
        out.extend(
            Standing {
                procedure: m.procedure,
                stage: m.stage,
                filed_in: m.filed_in,
                at_ms: case.filed_at_ms,
                accept_by: m.accept_by,
                decide_by: m.decide_by,
            }
            .answer(None, Some(format!("{category}/{record_id}"))),
        );
    }
    Ok(out)
}

/// The cases being handled about `owner`'s record `record_id` of
/// `category`, as its owner last marked them here, and those filed here
/// that it has not marked yet (pending from filing).
async fn told_cases(
    storage: &Storage,
    here: RegionCode,
    owner: RegionCode,
    category: &str,
    record_id: &str,
) -> Result<Vec<CaseAnswer>, HoldingsError> {
    let key = credex_journal::record_key(category, record_id);
    let prefix = format!("{owner}/{}/", hex::encode(key));
    let mut cases = std::collections::BTreeMap::new();
    for (k, value) in storage
        .state_scan(RECORD_FILED_NS, &prefix, None, MAX_STATE_SCAN)
        .await?
    {
        let filed: FiledRecordCase = decode(RECORD_FILED_NS, &k, &value)?;
        if filed.refused.is_none() {
            cases.insert(
                k,
                Standing {
                    procedure: filed.procedure,
                    stage: ProcedureStage::Filed,
                    filed_in: here,
                    at_ms: filed.at_ms,
                    accept_by: filed.accept_by,
                    decide_by: None,
                },
            );
        }
    }
    for (k, value) in storage
        .state_scan(RECORD_MARKS_NS, &prefix, None, MAX_STATE_SCAN)
        .await?
    {
        let held: CaseMarkHeld = decode(RECORD_MARKS_NS, &k, &value)?;
        let m = held.mark;
        cases.insert(
            k,
            Standing {
                procedure: m.procedure,
                stage: m.stage,
                filed_in: m.filed_in,
                at_ms: held.at_ms,
                accept_by: m.accept_by,
                decide_by: m.decide_by,
            },
        );
    }
    Ok(cases
        .into_values()
        .filter_map(|c| c.answer(None, Some(format!("{category}/{record_id}"))))
        .collect())
}

/// The cases being handled about held entry `entry_key`, as its origin
/// last marked them.
async fn marked_cases(
    storage: &Storage,
    here: RegionCode,
    entry_key: &str,
) -> Result<Vec<CaseAnswer>, HoldingsError> {
    let prefix = format!("{entry_key}/");
    let mut out = Vec::new();
    let mut marked = std::collections::HashSet::new();
    for (key, value) in storage
        .state_scan(MARKS_NS, &prefix, None, MAX_STATE_SCAN)
        .await?
    {
        let held: MarkHeld = decode(MARKS_NS, &key, &value)?;
        marked.insert(key);
        let m = held.mark;
        out.extend(
            Standing {
                procedure: m.procedure,
                stage: m.stage,
                filed_in: m.filed_in,
                at_ms: held.at_ms,
                accept_by: m.accept_by,
                decide_by: m.decide_by,
            }
            .answer(Some(entry_key.to_owned()), None),
        );
    }
    // Filed here and not marked by the origin yet: pending from filing.
    // "Marked" is what the scan above read: a mark that arrived since is
    // not listed there, so its filing is listed here instead.
    for (key, value) in storage
        .state_scan(FILED_NS, &prefix, None, MAX_STATE_SCAN)
        .await?
    {
        if marked.contains(&key) {
            continue;
        }
        let filed: FiledCase = decode(FILED_NS, &key, &value)?;
        out.extend(
            Standing {
                procedure: filed.procedure,
                stage: ProcedureStage::Filed,
                filed_in: here,
                at_ms: filed.at_ms,
                accept_by: filed.accept_by,
                decide_by: None,
            }
            .answer(Some(entry_key.to_owned()), None),
        );
    }
    Ok(out)
}

/// Where a case stands, whatever it is about and wherever it was read
/// from (the decider's case, a mark received, a filing not yet marked).
struct Standing {
    procedure: Procedure,
    stage: ProcedureStage,
    filed_in: RegionCode,
    at_ms: i64,
    accept_by: String,
    decide_by: Option<String>,
}

impl Standing {
    /// The case as a check lists it — about `entry_id` or `record` —
    /// while it is being handled.
    fn answer(self, entry_id: Option<String>, record: Option<String>) -> Option<CaseAnswer> {
        self.stage.pending().then(|| CaseAnswer {
            procedure: self.procedure,
            entry_id,
            record,
            from_region: self.filed_in.to_string(),
            received_at_ms: self.at_ms,
            stage: self.stage.code().to_owned(),
            accept_by: Some(self.accept_by),
            decide_by: self.decide_by,
        })
    }
}

fn list_answer(held: &Held, release: &CheckRelease) -> Option<ListAnswer> {
    let e = &held.entry;
    let lt = list_type(e.list_type);
    let category = lt.catalogue_category();
    if !release.releases(category, "list_type") {
        return None;
    }
    // The entry's own parts stand for catalogue fields whose names differ
    // by list (`entry_core_fields`): the exit date and the measures.
    let core = credex_policies::egress::entry_core_fields(lt);
    let released = |field: &str| release.releases(category, field);
    let exit_field = core
        .iter()
        .find(|f| matches!(**f, "expiry_date" | "valid_until"))
        .copied()
        .unwrap_or("expiry_date");
    let measures_field = core
        .iter()
        .find(|f| matches!(**f, "measures" | "incentives" | "supervision_measures"))
        .copied()
        .unwrap_or("measures");
    let show = |field: &str, value: &String| released(field).then(|| value.clone());
    Some(ListAnswer {
        entry_id: e.id.to_string(),
        origin_region: e.id.origin.to_string(),
        revision: e.revision,
        list_type: e.list_type.code().to_owned(),
        basis: show("basis", &e.basis),
        deciding_authority: show("deciding_authority", &e.authority),
        entry_date: show("entry_date", &e.entry_date),
        planned_exit: show(exit_field, &e.planned_exit),
        measures: if released(measures_field) {
            e.measures
                .iter()
                .filter_map(|code| measures().measure(code))
                .filter(|m| m.applies_to.contains(&lt))
                .map(|m| MeasureAnswer {
                    code: m.code.clone(),
                    name_zh: m.name_zh.clone(),
                    kind: m.kind.code(),
                })
                .collect()
        } else {
            Vec::new()
        },
        applied_here: held.applied_here.clone(),
        details: e
            .details
            .iter()
            .filter(|(f, _)| released(f))
            .map(|(f, v)| (f.clone(), v.clone()))
            .collect(),
        under_objection: held
            .cases
            .iter()
            .any(|c| c.procedure == Procedure::Objection),
        under_repair_review: held.cases.iter().any(|c| c.procedure == Procedure::Repair),
    })
}

async fn scan(storage: &Storage, ns: &str) -> Result<Vec<(String, Vec<u8>)>, HoldingsError> {
    Ok(storage.state_scan_all(ns, "").await?)
}

fn decode<T: serde::de::DeserializeOwned>(
    ns: &str,
    key: &str,
    value: &[u8],
) -> Result<T, HoldingsError> {
    credex_protocol::decode(value).map_err(|e| HoldingsError::Corrupt {
        what: format!("{ns}/{key}"),
        reason: e.to_string(),
    })
}
