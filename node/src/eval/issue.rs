//! Issuing this region's evaluation results: signing each
//! ([`sign_attestation`]), keeping the current one per subject and scheme
//! ([`ISSUED_NS`]), storing it as a credit record ([`credit_record`]),
//! journalling it and queuing its pushes ([`push_writes`]) to the members
//! it goes to ([`recipients`]); [`issue`] for an import, [`revoke`] to
//! withdraw a result.
//!
//! It does not read import files (`import`), decide on other regions'
//! results (`credex_flows::recognition` for pushes, `found` for query
//! responses) or answer the effective grade (`effective`).

use std::collections::{BTreeMap, BTreeSet};

use credex_flows::calendar;
use credex_journal::{ENTRY_VERSION, EvaluationIssued, subject_digest};
use credex_pki::authorization::sign_node_statement;
use credex_policies::egress::{
    EgressError, ReleasedBody, release_result_push, release_result_to_holder,
};
use credex_policies::{AgreementSet, Catalogue, FieldValue, Record, Uscc};
use credex_protocol::RegionCode;
use credex_protocol::evaluation::{
    AttestationStatus, DOMAIN_EVAL_ATTESTATION, EvaluationAttestation, Scheme,
};
use credex_protocol::query::SubjectRef;
use credex_protocol::recognition::{IssuedAttestation, ResultPush};

use super::{EvalError, HOLDERS_NS, ISSUED_NS, IssuedRecord, ResultRow};
use crate::federation::Federation;
use crate::ids::random_id;
use crate::storage::{RecordRow, StateWrite, Storage, StorageError};

/// The catalogue category that holds a scheme's results as credit records.
pub fn category_of(scheme: Scheme) -> &'static str {
    credex_policies::egress::scheme_category(scheme)
}

/// What [`issue`] did with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueOutcome {
    /// A new result (no earlier one), pushed to these members.
    Issued {
        /// The attestation's id.
        attestation_id: [u8; 16],
        /// The members it was queued for.
        pushed_to: Vec<RegionCode>,
    },
    /// A re-evaluation (another grade, period, version or validity)
    /// superseding `supersedes`.
    Superseded {
        /// The new attestation's id.
        attestation_id: [u8; 16],
        /// The one it supersedes.
        supersedes: [u8; 16],
        /// The members it was queued for.
        pushed_to: Vec<RegionCode>,
    },
    /// The same result is already current: nothing signed or pushed (its
    /// credit record is written again).
    Unchanged,
}

/// Summary of an import.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssueReport {
    /// Per row, in file order.
    pub outcomes: Vec<IssueOutcome>,
}

impl IssueReport {
    /// Counts of (new, superseding, unchanged) results.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut c = (0, 0, 0);
        for o in &self.outcomes {
            match o {
                IssueOutcome::Issued { .. } => c.0 += 1,
                IssueOutcome::Superseded { .. } => c.1 += 1,
                IssueOutcome::Unchanged => c.2 += 1,
            }
        }
        c
    }
}

/// The members a result of `region` under `scheme` is pushed to by default
/// (they are subscribed): every other member of every agreement that has
/// `region` as a member and recognises `scheme`.
pub fn subscribers(set: &AgreementSet, region: RegionCode, scheme: Scheme) -> BTreeSet<RegionCode> {
    set.iter()
        .filter(|a| a.has_member(region) && a.schemes.contains_key(&scheme))
        .flat_map(|a| a.members.iter().copied())
        .filter(|&r| r != region)
        .collect()
}

/// The members a new, updated or revoked result of this node's region about
/// `subject` under `scheme` goes to: the [`subscribers`] and every member
/// that recognised an earlier result of the same subject and scheme.
pub async fn recipients(
    storage: &Storage,
    set: &AgreementSet,
    region: RegionCode,
    scheme: Scheme,
    subject: &str,
) -> Result<BTreeSet<RegionCode>, StorageError> {
    let mut out = subscribers(set, region, scheme);
    out.extend(holders(storage, scheme, subject).await?);
    out.remove(&region);
    Ok(out)
}

/// The members that recognised an earlier result of this node's region
/// about `subject` under `scheme` (learnt from their acknowledgements).
pub async fn holders(
    storage: &Storage,
    scheme: Scheme,
    subject: &str,
) -> Result<BTreeSet<RegionCode>, StorageError> {
    let prefix = format!("{scheme}/{subject}/");
    Ok(storage
        .state_scan(HOLDERS_NS, &prefix, None, crate::storage::MAX_STATE_SCAN)
        .await?
        .into_iter()
        .filter_map(|(key, _)| {
            key.strip_prefix(&prefix)
                .and_then(|r| r.parse::<RegionCode>().ok())
        })
        .collect())
}

/// Sign `attestation` with the node key of `federation`.
pub fn sign_attestation(
    federation: &Federation,
    attestation: EvaluationAttestation,
) -> Result<IssuedAttestation, EvalError> {
    let ctx = federation.context();
    let bytes =
        credex_protocol::encode(&attestation).map_err(|e| EvalError::Sign(e.to_string()))?;
    let issuer = sign_node_statement(
        DOMAIN_EVAL_ATTESTATION,
        &bytes,
        &ctx.node_key,
        ctx.chain.clone(),
    )
    .map_err(|e| EvalError::Sign(e.to_string()))?;
    Ok(IssuedAttestation {
        attestation,
        issuer,
    })
}

/// The outbox writes that push `result` to each of `to` (regions without
/// a configured peer are skipped and left out of the returned list).
///
/// Each push is released by the egress gate under the agreement that binds
/// this region and the member for the result's scheme; a member no such
/// agreement binds gets the change only if it is one of `holders` (it
/// recognised an earlier result: `release_result_to_holder`), and
/// otherwise nothing (and is left out of the list).
pub fn push_writes(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    result: &IssuedAttestation,
    to: &BTreeSet<RegionCode>,
    holders: &BTreeSet<RegionCode>,
    now_ms: i64,
) -> Result<(Vec<StateWrite>, Vec<RegionCode>), EvalError> {
    let push = ResultPush {
        result: result.clone(),
    };
    let from = federation.context().region;
    let mut writes = Vec::new();
    let mut pushed = Vec::new();
    for &region in to {
        if !federation.context().peers.knows(region) {
            tracing::debug!(%region, "no peer configured for a subscribed member; result not pushed there");
            continue;
        }
        let body = match release_push(agreements, catalogue, from, region, &push, holders) {
            Ok(body) => body,
            Err(e) => {
                tracing::warn!(%region, error = %e, "result not pushed: the egress gate released nothing");
                continue;
            }
        };
        let (_, write) = federation
            .prepare(body, now_ms)
            .map_err(|e| EvalError::Sign(e.to_string()))?;
        writes.push(write);
        pushed.push(region);
    }
    Ok((writes, pushed))
}

/// The egress gate's release of `push` to `region`: under the agreement
/// that binds `from` and `region` for the result's scheme, or else, if
/// `region` is one of `holders`, as a change to a result it holds.
fn release_push(
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    from: RegionCode,
    region: RegionCode,
    push: &ResultPush,
    holders: &BTreeSet<RegionCode>,
) -> Result<ReleasedBody, EgressError> {
    release_result_push(agreements, catalogue, from, region, push).or_else(|e| {
        match holders.contains(&region) {
            true => release_result_to_holder(catalogue, region, push),
            false => Err(e),
        }
    })
}

/// Sign, store, journal and push every row (see the module doc). A row
/// equal to the current result is left alone, so re-running an import
/// after a failure is safe. Wakes the delivery task at the end.
pub async fn issue(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    rows: &[ResultRow],
    now_ms: i64,
) -> Result<IssueReport, EvalError> {
    let ctx = federation.context();
    let mut report = IssueReport::default();
    for row in rows {
        let current = current_issued(&ctx.storage, row.scheme, &row.subject).await?;
        if let Some(cur) = &current
            && is_current(cur, row)
        {
            // Rewrite the credit record: repairs one lost to a crash
            // between the two writes of an earlier import.
            ctx.storage
                .import_records(vec![credit_record(catalogue, &cur.result)?])
                .await?;
            report.outcomes.push(IssueOutcome::Unchanged);
            continue;
        }
        let supersedes = current
            .as_ref()
            .map(|c| c.result.attestation.attestation_id);
        let attestation = new_attestation(federation, row, supersedes);
        let id = attestation.attestation_id;
        let pushed_to =
            commit_issued(federation, agreements, catalogue, attestation, now_ms).await?;
        report.outcomes.push(match supersedes {
            Some(supersedes) => IssueOutcome::Superseded {
                attestation_id: id,
                supersedes,
                pushed_to,
            },
            None => IssueOutcome::Issued {
                attestation_id: id,
                pushed_to,
            },
        });
    }
    federation.wake();
    Ok(report)
}

/// Whether `row` is `current` again: the current result is active with the
/// same grade, scheme version, period and validity.
fn is_current(current: &IssuedRecord, row: &ResultRow) -> bool {
    let a = &current.result.attestation;
    a.status == AttestationStatus::Active
        && a.grade == row.grade
        && a.scheme_version == row.scheme_version
        && a.period_start == row.period_start
        && a.period_end == row.period_end
        && a.valid_until_ms == row.valid_until_ms
}

/// The (unsigned) attestation of `row` by this node, with a new id,
/// superseding `supersedes` if there is a current result.
fn new_attestation(
    federation: &Federation,
    row: &ResultRow,
    supersedes: Option<[u8; 16]>,
) -> EvaluationAttestation {
    let ctx = federation.context();
    EvaluationAttestation {
        attestation_id: random_id(),
        issuer_region: ctx.region,
        issuer_node: ctx.node.clone(),
        scheme: row.scheme,
        scheme_version: row.scheme_version.clone(),
        subject: row.subject.clone(),
        grade: row.grade.clone(),
        period_start: row.period_start.clone(),
        period_end: row.period_end.clone(),
        issued_at_ms: row.issued_at_ms,
        valid_until_ms: row.valid_until_ms,
        status: AttestationStatus::Active,
        supersedes,
    }
}

/// Revoke this region's current result for `subject` under `scheme`: a
/// revocation attestation superseding it, stored, journalled and pushed
/// like a new result. Returns the revocation's id and where it was pushed.
pub async fn revoke(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    subject: &str,
    scheme: Scheme,
    reason: &str,
    now_ms: i64,
) -> Result<([u8; 16], Vec<RegionCode>), EvalError> {
    let uscc = Uscc::parse(subject).map_err(|e| EvalError::Invalid(format!("subject: {e}")))?;
    let ctx = federation.context();
    let current = current_issued(&ctx.storage, scheme, uscc.as_str())
        .await?
        .ok_or(EvalError::NothingToRevoke(scheme))?;
    let old = &current.result.attestation;
    if old.status != AttestationStatus::Active {
        return Err(EvalError::AlreadyRevoked(scheme));
    }
    let attestation = EvaluationAttestation {
        attestation_id: random_id(),
        issuer_node: ctx.node.clone(),
        issued_at_ms: now_ms.max(old.issued_at_ms),
        valid_until_ms: old.valid_until_ms.max(now_ms),
        status: AttestationStatus::Revoked {
            reason: reason.to_owned(),
        },
        supersedes: Some(old.attestation_id),
        ..old.clone()
    };
    attestation
        .validate()
        .map_err(|e| EvalError::Invalid(e.to_string()))?;
    let id = attestation.attestation_id;
    let pushed = commit_issued(federation, agreements, catalogue, attestation, now_ms).await?;
    federation.wake();
    Ok((id, pushed))
}

pub(super) async fn current_issued(
    storage: &Storage,
    scheme: Scheme,
    subject: &str,
) -> Result<Option<IssuedRecord>, EvalError> {
    let key = format!("{scheme}/{subject}");
    match storage.state(ISSUED_NS, &key).await? {
        None => Ok(None),
        Some(bytes) => credex_protocol::decode(&bytes)
            .map(Some)
            .map_err(|e| EvalError::Invalid(format!("stored result {key} is unreadable: {e}"))),
    }
}

/// Sign, then in one transaction: journal, store as current, queue the
/// pushes. Then store as a credit record (a separate write; a crash in
/// between leaves the previous record until the next import).
async fn commit_issued(
    federation: &Federation,
    agreements: &AgreementSet,
    catalogue: &Catalogue,
    attestation: EvaluationAttestation,
    now_ms: i64,
) -> Result<Vec<RegionCode>, EvalError> {
    let ctx = federation.context();
    let scheme = attestation.scheme;
    let subject = attestation.subject.clone();
    let to = recipients(&ctx.storage, agreements, ctx.region, scheme, &subject).await?;
    let holders = holders(&ctx.storage, scheme, &subject).await?;
    let result = sign_attestation(federation, attestation)?;
    let (mut writes, pushed_to) = push_writes(
        federation, agreements, catalogue, &result, &to, &holders, now_ms,
    )?;
    let a = &result.attestation;
    let entry = EvaluationIssued {
        version: ENTRY_VERSION,
        at_ms: now_ms,
        attestation_id: a.attestation_id,
        attestation_digest: signed_digest(&result)?,
        scheme,
        subject_digest: subject_digest(&SubjectRef::LegalPerson(subject.clone())),
        grade: a.grade.clone(),
        revoked: matches!(a.status, AttestationStatus::Revoked { .. }),
        supersedes: a.supersedes,
        pushed_to: pushed_to.clone(),
    };
    let record = IssuedRecord {
        result: result.clone(),
        pushed_to: pushed_to.clone(),
    };
    writes.push(StateWrite::put(
        ISSUED_NS,
        format!("{scheme}/{subject}"),
        credex_protocol::encode(&record).map_err(|e| EvalError::Sign(e.to_string()))?,
    ));
    ctx.storage.append_entry_with_state(&entry, writes).await?;
    let row = credit_record(catalogue, &result)?;
    ctx.storage.import_records(vec![row]).await?;
    Ok(pushed_to)
}

/// SHA-256 of encode(result).
pub fn attestation_digest(
    result: &IssuedAttestation,
) -> Result<[u8; 32], credex_protocol::FrameError> {
    credex_protocol::encoding_sha256(result)
}

/// [`attestation_digest`], failing as an evaluation command does (the
/// digest of the journal entries that name a result).
pub(super) fn signed_digest(result: &IssuedAttestation) -> Result<[u8; 32], EvalError> {
    attestation_digest(result).map_err(|e| EvalError::Sign(e.to_string()))
}

/// The credit record that makes `result` fetchable by an ordinary query:
/// category [`category_of`] its scheme, record id
/// `credex_policies::egress::evaluation_record_id` (one current result per
/// subject and scheme, decision 0980), field `attestation` the
/// hex of encode(result), plus the category's descriptive fields where the
/// values fit the catalogue.
pub fn credit_record(
    catalogue: &Catalogue,
    result: &IssuedAttestation,
) -> Result<RecordRow, EvalError> {
    let a = &result.attestation;
    let category = category_of(a.scheme);
    let cat = catalogue.category(category).ok_or_else(|| {
        EvalError::Invalid(format!(
            "the catalogue has no category {category} for scheme {}",
            a.scheme
        ))
    })?;
    let encoded = credex_protocol::encode(result).map_err(|e| EvalError::Sign(e.to_string()))?;
    let mut fields = BTreeMap::new();
    fields.insert(
        "attestation".to_owned(),
        FieldValue::Text(hex::encode(encoded)),
    );
    let date = calendar::china_date_text(a.issued_at_ms);
    let period = format!("{}/{}", a.period_start, a.period_end);
    for (field, text) in [
        ("grade", a.grade.as_str()),
        ("period", period.as_str()),
        ("evaluation_date", date.as_str()),
        ("model_version", a.scheme_version.as_str()),
    ] {
        if let Some(f) = cat.field(field)
            && let Ok(v) = f.parse_value(text)
        {
            fields.insert(field.to_owned(), v);
        }
    }
    if cat.field("attestation").is_none() {
        return Err(EvalError::Invalid(format!(
            "catalogue category {category} has no field \"attestation\""
        )));
    }
    let record = Record {
        category: category.to_owned(),
        fields,
    };
    Ok(RecordRow {
        category: category.to_owned(),
        record_id: credex_policies::egress::evaluation_record_id(a.scheme, &a.subject),
        subject_key: crate::query::subject_key(&SubjectRef::LegalPerson(a.subject.clone())),
        body: credex_protocol::encode(&record).map_err(|e| EvalError::Sign(e.to_string()))?,
        copy_of: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscribers_follow_the_agreements() {
        let set = AgreementSet::builtin();
        let gy: RegionCode = "520000".parse().unwrap();
        let cq: RegionCode = "500000".parse().unwrap();
        let gd: RegionCode = "440000".parse().unwrap();
        let pc = subscribers(&set, gy, Scheme::PublicCredit);
        assert!(pc.contains(&cq) && pc.contains(&gd) && !pc.contains(&gy));
        assert_eq!(pc.len(), 9, "eight Pan-Pearl River members and Chongqing");
        // Chongqing–Guizhou does not list environmental credit.
        assert!(!subscribers(&set, gy, Scheme::EnvironmentalCredit).contains(&cq));
        assert!(subscribers(&set, cq, Scheme::EnvironmentalCredit).is_empty());
    }
}
