//! Credit checks (信用核查): `POST /v1/checks` and `POST /v1/checks/batch`.
//!
//! A business system of the region (administrative approval, public
//! resource trading, a 信易贷 platform) asks what the node knows about a
//! subject before it decides, for a purpose and on behalf of an accountable
//! officer. The check, in order:
//!
//! 1. role `check` ([`ClientIdentity::require`]; refused and journaled as
//!    `GatewayRefused` otherwise), then the body: every subject is a USCC
//!    (GB 32100) or a citizen ID (GB 11643), check digits verified; the
//!    purpose a check purpose of the closed list; the officer a bounded,
//!    non-empty name. One bad member refuses the whole check with
//!    `field-invalid` naming it (`/subjects/17`); nothing is read or logged.
//! 2. the gate decides what the purpose releases
//!    ([`release_for_check`], decision 0820);
//! 3. the holdings of all subjects are read at once and projected through
//!    that decision ([`crate::holdings`]);
//! 4. the access is journaled — `CreditChecked` entries of at most
//!    [`MAX_CHECKED_PER_ENTRY`] subjects each, subjects by digest, with the
//!    calling system, purpose, officer and a digest of the answers — and
//!    only once they are durable is the answer sent.
//!
//! A natural person is looked up under the node-local key of the vault and
//! named in entries by the current-epoch pseudonym; the clear citizen ID is
//! never logged, journaled or echoed (answers carry the masked ID).

pub mod answer;

use axum::{Extension, Json};
use credex_journal::gateway::MAX_CHECKED_PER_ENTRY;
use credex_journal::{CreditChecked, ENTRY_VERSION, GatewayClient};
use credex_pki::GatewayRole;
use credex_policies::check_release::{CheckRelease, release_for_check};
use credex_policies::subject_id::SubjectId;
use credex_policies::{Purpose, SubjectKind};
use credex_protocol::query::SubjectRef;
use serde::Deserialize;
use tracing::Instrument as _;
use utoipa::ToSchema;

use self::answer::{CheckAnswer, JournalPart, ReleaseSummary, SubjectAnswer, WithheldField};
use super::body::JsonBody;
use super::identity::ClientIdentity;
use super::problem::{Problem, ProblemDocument, ProblemType};
use super::state::GatewayState;
pub use crate::holdings::CheckedSubject;
use crate::pseudonyms::NaturalPersons;

/// Most subjects one batch may name.
pub const MAX_BATCH_SUBJECTS: usize = 10_000;

/// Longest officer name accepted, in bytes.
pub const MAX_OFFICER_LEN: usize = 128;

/// A check of one subject.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "subject": "91520100MA6DKXXXX1",
    "purpose": "administrative_approval",
    "officer": "王芳 (审批科)"
}))]
pub struct CheckRequest {
    /// A unified social credit code (统一社会信用代码) or a citizen ID
    /// (公民身份号码); check digits are verified.
    pub subject: String,
    /// A purpose code: `administrative_approval`, `public_procurement`,
    /// `joint_punishment`, `financing` or `supervision`.
    pub purpose: String,
    /// The officer accountable for the check, as the calling system names
    /// them (1 to 128 bytes, no control characters).
    pub officer: String,
}

/// A check of many subjects for one purpose.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "purpose": "public_procurement",
    "officer": "李强 (交易中心)",
    "subjects": ["91520100MA6DKXXXX1", "11010519491231002X"]
}))]
pub struct BatchCheckRequest {
    /// As [`CheckRequest::purpose`].
    pub purpose: String,
    /// As [`CheckRequest::officer`].
    pub officer: String,
    /// 1 to 10,000 subjects, as [`CheckRequest::subject`].
    pub subjects: Vec<String>,
}

/// Check one subject: what the node holds about it, as the purpose
/// releases it. The check is journaled before the answer is sent.
#[utoipa::path(
    post,
    path = "/v1/checks",
    tag = "checks",
    request_body = CheckRequest,
    responses(
        (status = 200, description = "what the node holds about the subject, released for the purpose", body = CheckAnswer),
        (status = 403, description = "the client certificate lacks role `check`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "a member of the body is invalid (`field` names it)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn check(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    body: Result<JsonBody<CheckRequest>, Problem>,
) -> Result<Json<CheckAnswer>, Problem> {
    client.require(GatewayRole::Check, "POST /v1/checks")?;
    let JsonBody(req) = body?;
    let asked = Asked {
        purpose: &req.purpose,
        officer: &req.officer,
        subjects: vec![("/subject".to_owned(), req.subject.as_str())],
    };
    run(&state, &Checker::from(&client), asked)
        .await
        .map(Json)
        .map_err(|p| p.at_instance("/v1/checks"))
}

/// Check up to 10,000 subjects for one purpose; one bad subject refuses
/// the batch (nothing is read or logged).
#[utoipa::path(
    post,
    path = "/v1/checks/batch",
    tag = "checks",
    request_body = BatchCheckRequest,
    responses(
        (status = 200, description = "one result per subject, in the order asked", body = CheckAnswer),
        (status = 403, description = "the client certificate lacks role `check`", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 422, description = "a member of the body is invalid (`field` names it, e.g. `/subjects/17`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 429, description = "too many requests", body = ProblemDocument, content_type = "application/problem+json"),
    )
)]
pub async fn check_batch(
    Extension(state): Extension<GatewayState>,
    client: ClientIdentity,
    body: Result<JsonBody<BatchCheckRequest>, Problem>,
) -> Result<Json<CheckAnswer>, Problem> {
    client.require(GatewayRole::Check, "POST /v1/checks/batch")?;
    let JsonBody(req) = body?;
    if req.subjects.is_empty() || req.subjects.len() > MAX_BATCH_SUBJECTS {
        return Err(Problem::new(
            ProblemType::FieldInvalid,
            format!(
                "a batch names 1 to {MAX_BATCH_SUBJECTS} subjects, not {}",
                req.subjects.len()
            ),
        )
        .at_field("/subjects")
        .at_instance("/v1/checks/batch"));
    }
    let asked = Asked {
        purpose: &req.purpose,
        officer: &req.officer,
        subjects: req
            .subjects
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("/subjects/{i}"), s.as_str()))
            .collect(),
    };
    run(&state, &Checker::from(&client), asked)
        .await
        .map(Json)
        .map_err(|p| p.at_instance("/v1/checks/batch"))
}

/// A check as the body states it: purpose, officer and each subject with
/// its JSON Pointer.
pub struct Asked<'a> {
    /// The purpose code.
    pub purpose: &'a str,
    /// The officer accountable for the check.
    pub officer: &'a str,
    /// Each subject, with the JSON Pointer that names it in the body.
    pub subjects: Vec<(String, &'a str)>,
}

/// Who runs a check, as its `CreditChecked` entries name them: a gateway
/// client (a region system) or an officer signed in to the console.
#[derive(Debug, Clone)]
pub struct Checker {
    /// The certificate's identity URI.
    pub identity: String,
    /// SHA-256 of the certificate.
    pub fingerprint: [u8; 32],
}

impl From<&ClientIdentity> for Checker {
    fn from(client: &ClientIdentity) -> Self {
        Checker {
            identity: client.identity_uri(),
            fingerprint: client.fingerprint(),
        }
    }
}

/// Run the check `asked` for `checker` (the steps of the module doc).
pub async fn run(
    state: &GatewayState,
    checker: &Checker,
    asked: Asked<'_>,
) -> Result<CheckAnswer, Problem> {
    let purpose = parse_purpose(asked.purpose)?;
    let officer = check_officer(asked.officer)?;
    let persons = state.parts().persons.as_deref();
    let subjects = asked
        .subjects
        .iter()
        .map(|(pointer, text)| parse_subject(text, persons).map_err(|p| p.at_field(pointer)))
        .collect::<Result<Vec<_>, _>>()?;
    let now_ms = state.storage().clock().now_ms();
    let release = decide(state, purpose, now_ms)?;
    let span = tracing::info_span!("credit_check", by = %checker.identity, %purpose, subjects = subjects.len());
    let (results, journal) = async {
        let results = crate::holdings::answers(
            state.storage(),
            state.parts().config.region,
            &subjects,
            &release,
            now_ms,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "credit check could not read the holdings");
            Problem::new(
                ProblemType::Internal,
                "the store did not answer; nothing was logged",
            )
        })?;
        let journal = journal(
            state, checker, &release, &officer, &subjects, &results, now_ms,
        )
        .await?;
        Ok::<_, Problem>((results, journal))
    }
    .instrument(span)
    .await?;
    Ok(CheckAnswer {
        purpose: purpose.as_str().to_owned(),
        officer,
        checked_at_ms: now_ms,
        release: summary(&release),
        journal,
        results,
    })
}

fn parse_purpose(text: &str) -> Result<Purpose, Problem> {
    text.parse::<Purpose>().map_err(|e| {
        Problem::new(
            ProblemType::FieldInvalid,
            format!("{e}: expected one of the purpose codes of the sharing policy"),
        )
        .at_field("/purpose")
    })
}

fn check_officer(text: &str) -> Result<String, Problem> {
    let officer = text.trim();
    let bad = |why: &str| {
        Err(Problem::new(ProblemType::FieldInvalid, format!("officer: {why}")).at_field("/officer"))
    };
    if officer.is_empty() {
        return bad("name the officer accountable for the check");
    }
    if officer.len() > MAX_OFFICER_LEN {
        return bad(&format!("longer than {MAX_OFFICER_LEN} bytes"));
    }
    if officer.chars().any(char::is_control) {
        return bad("control characters are not allowed");
    }
    Ok(officer.to_owned())
}

/// Parse a subject identifier; the problem's detail never repeats it.
fn parse_subject(text: &str, persons: Option<&NaturalPersons>) -> Result<CheckedSubject, Problem> {
    let invalid = |detail: String| Problem::new(ProblemType::FieldInvalid, detail);
    match SubjectId::parse(text).map_err(|e| invalid(e.to_string()))? {
        SubjectId::LegalPerson(u) => {
            let code = u.as_str().to_owned();
            Ok(CheckedSubject {
                shown: code.clone(),
                kind: SubjectKind::LegalPerson,
                pseudonym: None,
                record_key: code.clone(),
                digest_ref: SubjectRef::LegalPerson(code.clone()),
                list_keys: vec![code],
            })
        }
        SubjectId::NaturalPerson(id) => {
            let persons = persons.ok_or_else(|| {
                invalid("a natural person: this node holds no pseudonym key ring ([pseudonyms] keys), so it holds nothing about persons".into())
            })?;
            let id_text = id.expose();
            let current = persons
                .ring
                .current_pseudonym(id_text)
                .map_err(|e| invalid(format!("pseudonym: {e}")))?;
            let all = persons
                .ring
                .pseudonyms(id_text)
                .map_err(|e| invalid(format!("pseudonym: {e}")))?;
            Ok(CheckedSubject {
                shown: id.masked(),
                kind: SubjectKind::NaturalPerson,
                pseudonym: Some(current),
                record_key: persons.vault.subject_key(id_text),
                digest_ref: SubjectRef::NaturalPerson(current),
                list_keys: all.iter().map(ToString::to_string).collect(),
            })
        }
    }
}

fn decide(state: &GatewayState, purpose: Purpose, now_ms: i64) -> Result<CheckRelease, Problem> {
    let now = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
        .ok()
        .and_then(credex_policies::policy::china_date)
        .ok_or_else(|| Problem::new(ProblemType::Internal, "the node's clock is out of range"))?;
    release_for_check(state.parts().queries.policy(), purpose, now)
        .map_err(|e| Problem::new(ProblemType::FieldInvalid, e.to_string()).at_field("/purpose"))
}

fn summary(release: &CheckRelease) -> ReleaseSummary {
    ReleaseSummary {
        policy_hash: hex::encode(release.policy_hash()),
        withheld: release
            .withheld()
            .iter()
            .flat_map(|(category, fields)| {
                fields.iter().map(move |(field, why)| WithheldField {
                    category: category.clone(),
                    field: field.clone(),
                    reason: why.code(),
                })
            })
            .collect(),
    }
}

/// Append the check's `CreditChecked` entries and wait until they are
/// durable.
async fn journal(
    state: &GatewayState,
    checker: &Checker,
    release: &CheckRelease,
    officer: &str,
    subjects: &[CheckedSubject],
    results: &[SubjectAnswer],
    now_ms: i64,
) -> Result<Vec<JournalPart>, Problem> {
    let parts = subjects.len().div_ceil(MAX_CHECKED_PER_ENTRY);
    let parts_u32 = u32::try_from(parts).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(parts);
    for (i, (names, answers)) in subjects
        .chunks(MAX_CHECKED_PER_ENTRY)
        .zip(results.chunks(MAX_CHECKED_PER_ENTRY))
        .enumerate()
    {
        let part = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let entry = CreditChecked {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            client: GatewayClient {
                identity: checker.identity.clone(),
                fingerprint: checker.fingerprint,
            },
            purpose: release.purpose().as_str().to_owned(),
            officer: officer.to_owned(),
            subjects: names
                .iter()
                .map(|s| credex_journal::subject_digest(&s.digest_ref))
                .collect(),
            answers_digest: answers_digest(answers),
            part: (part, parts_u32),
        };
        let seq = state.storage().append_entry(&entry).await.map_err(|e| {
            tracing::error!(error = %e, "credit check could not be journaled");
            Problem::new(
                ProblemType::Unavailable,
                "the check could not be logged; no answer is given without it",
            )
        })?;
        out.push(JournalPart {
            seq,
            part,
            parts: parts_u32,
            subjects: u32::try_from(names.len()).unwrap_or(u32::MAX),
        });
    }
    Ok(out)
}

/// SHA-256 of the JSON array of `answers` as the answer carries them, in
/// canonical form (object members sorted by name, no whitespace): what a
/// client or auditor recomputes from the `results` it received.
pub fn answers_digest(answers: &[SubjectAnswer]) -> [u8; 32] {
    // Serializing strings, numbers and maps cannot fail; serde_json's
    // `Value` keeps object members sorted.
    let bytes = serde_json::to_value(answers)
        .and_then(|v| serde_json::to_vec(&v))
        .unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn officers_are_bounded_non_empty_and_printable() {
        assert_eq!(check_officer("  王芳 (审批科) ").unwrap(), "王芳 (审批科)");
        for bad in ["", "   ", "a\nb", &"x".repeat(MAX_OFFICER_LEN + 1)] {
            let p = check_officer(bad).unwrap_err();
            assert_eq!(p.kind(), ProblemType::FieldInvalid);
            assert_eq!(p.field(), Some("/officer"));
        }
    }

    #[test]
    fn purposes_are_codes_of_the_closed_list() {
        assert_eq!(parse_purpose("financing").unwrap(), Purpose::Financing);
        let p = parse_purpose("curiosity").unwrap_err();
        assert_eq!(p.field(), Some("/purpose"));
    }

    #[test]
    fn a_subject_with_a_wrong_check_digit_is_refused_without_echoing_it() {
        // The check digit of this citizen ID is wrong (…002X is right).
        let p = parse_subject("110105194912310021", None).unwrap_err();
        assert_eq!(p.kind(), ProblemType::FieldInvalid);
        assert!(!p.detail().contains("110105194912310021"), "{}", p.detail());
        // A valid person ID on a node without a key ring is refused too.
        let p = parse_subject("11010519491231002X", None).unwrap_err();
        assert!(!p.detail().contains("11010519491231002X"), "{}", p.detail());
        let s = parse_subject("9144030071526726XG", None).unwrap();
        assert_eq!(s.record_key, "9144030071526726XG");
    }
}
