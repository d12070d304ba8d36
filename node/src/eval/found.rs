//! Recognising results found in a query response
//! ([`recognise_from_response`], [`FoundResult`]): each record with an
//! `attestation` field is verified, decided under the node's agreements,
//! stored and journalled as a [`RecognitionDecided`] entry.
//!
//! The decision itself is [`credex_flows::recognition`]'s (shared with
//! results pushed to this node, which that flow receives); this file only
//! takes the results out of a response. Issuing results is `issue`'s.

use credex_journal::{ENTRY_VERSION, Origin, RecognitionDecided, StoredDecision, subject_digest};
use credex_policies::AgreementSet;
use credex_protocol::RegionCode;
use credex_protocol::evaluation::EvaluationAttestation;
use credex_protocol::query::{QueryResponse, SubjectRef, Value};
use credex_protocol::recognition::IssuedAttestation;

use super::issue::signed_digest;
use super::{EvalError, ReceivedRecord, verify_attestation};
use crate::storage::{Storage, StorageError};
use credex_flows::recognition::{decide, received_key};

/// What [`recognise_from_response`] decided on one result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundResult {
    /// The attestation.
    pub attestation: EvaluationAttestation,
    /// The decision (`superseded` if a newer one was held).
    pub decision: StoredDecision,
}

/// Recognise the results in a verified query response (records with an
/// `attestation` field): verify each, decide, store and journal a
/// [`RecognitionDecided`] entry per result. A result that does not verify
/// is an error: the response carried a forged result.
pub async fn recognise_from_response(
    storage: &Storage,
    trust: &credex_pki::TrustStore,
    agreements: &AgreementSet,
    region: RegionCode,
    response: &QueryResponse,
    now_ms: i64,
) -> Result<Vec<FoundResult>, EvalError> {
    let mut out = Vec::new();
    for record in &response.body.records {
        let Some(Value::Text(text)) = record
            .fields
            .iter()
            .find(|(k, _)| k == "attestation")
            .map(|(_, v)| v)
        else {
            continue;
        };
        let fail = |reason: String| {
            EvalError::Invalid(format!(
                "record {} of the response: {reason}",
                record.record_id
            ))
        };
        let bytes = hex::decode(text).map_err(|e| fail(format!("attestation is not hex: {e}")))?;
        let result: IssuedAttestation = credex_protocol::decode(&bytes)
            .map_err(|e| fail(format!("unreadable attestation: {e}")))?;
        verify_attestation(trust, &result, now_ms).map_err(|e| fail(e.to_string()))?;
        if result.attestation.issuer_region != response.body.responder_region {
            return Err(fail(format!(
                "the responder {} returned a result issued by {}",
                response.body.responder_region, result.attestation.issuer_region
            )));
        }
        let origin = Origin::Query {
            request_id: response.body.request_id,
        };
        let key = received_key(&result);
        let held: Option<ReceivedRecord> = storage
            .state(&key.ns, &key.key)
            .await?
            .and_then(|b| credex_protocol::decode(&b).ok());
        let decided = decide(
            agreements,
            region,
            held.as_ref(),
            &result,
            origin.clone(),
            now_ms,
        )
        .map_err(StorageError::from)?;
        let a = &result.attestation;
        let entry = RecognitionDecided {
            version: ENTRY_VERSION,
            at_ms: now_ms,
            attestation_id: a.attestation_id,
            attestation_digest: signed_digest(&result)?,
            issuer_region: a.issuer_region,
            scheme: a.scheme,
            subject_digest: subject_digest(&SubjectRef::LegalPerson(a.subject.clone())),
            decision: decided.decision.clone(),
            origin,
        };
        storage
            .append_entry_with_state(&entry, decided.writes)
            .await?;
        out.push(FoundResult {
            attestation: result.attestation,
            decision: decided.decision,
        });
    }
    Ok(out)
}
