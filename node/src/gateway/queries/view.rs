//! A held query as the API shows it, with the bytes the next officer signs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credex_protocol::query::{
    CategoryFields, DOMAIN_APPROVAL, DOMAIN_REQUEST, SubjectRef, approval_message,
};

use super::model::{Answer, Fields, QueryView, Receipt};
use super::store::{HeldQuery, HeldState, key};

/// The view of `held`.
pub fn view(held: &HeldQuery) -> QueryView {
    let r = &held.file.request;
    let case = held.file.case.as_ref();
    QueryView {
        id: key(&r.request_id),
        state: held.state.into(),
        target_region: r.target_region.to_string(),
        subject: match &r.subject {
            SubjectRef::LegalPerson(code) => code.clone(),
            SubjectRef::NaturalPerson(p) => format!(
                "natural person {} (pseudonym of epoch {})",
                case.and_then(|c| c.masked_subject.as_deref())
                    .unwrap_or("****"),
                p.epoch
            ),
        },
        purpose: r.purpose.clone(),
        requested: fields(&r.requested),
        legal_basis: r.legal_basis.clone(),
        case_reference: case.map(|c| c.reference.clone()).unwrap_or_default(),
        to_sign: to_sign(held).map(|b| STANDARD.encode(b)),
        requester: held.file.requester.as_ref().and_then(signer_name),
        approver: held.file.approver.as_ref().and_then(signer_name),
        answer: held.response.as_ref().map(answer),
        failure: held.failure.clone(),
    }
}

/// The exact bytes the next signature covers: the request under the
/// request domain, then the request and the requester's signature under
/// the approval domain.
pub fn to_sign(held: &HeldQuery) -> Option<Vec<u8>> {
    let request = credex_protocol::encode(&held.file.request).ok()?;
    match held.state {
        HeldState::AwaitingRequester => credex_pki::signing::signed_bytes(DOMAIN_REQUEST, &request),
        HeldState::AwaitingApprover => {
            let requester = held.file.requester.as_ref()?;
            let message = approval_message(&request, &requester.signature);
            credex_pki::signing::signed_bytes(DOMAIN_APPROVAL, &message)
        }
        _ => None,
    }
}

fn signer_name(proof: &credex_protocol::query::SignerProof) -> Option<String> {
    let leaf = proof.chain.first()?;
    credex_pki::identity_from_der(leaf)
        .ok()
        .map(|id| id.subject.to_uri())
}

fn fields(c: &[CategoryFields]) -> Vec<Fields> {
    c.iter()
        .map(|c| Fields {
            category: c.category.clone(),
            fields: c.fields.clone(),
        })
        .collect()
}

fn answer(response: &credex_protocol::query::QueryResponse) -> Answer {
    let b = &response.body;
    Answer {
        outcome: format!("{:?}", b.outcome).to_lowercase(),
        reason: b.reason.name().to_owned(),
        released: fields(&b.released),
        withheld: fields(&b.withheld),
        records: b
            .records
            .iter()
            .filter_map(|r| serde_json::to_value(r).ok())
            .collect(),
        receipt: response.receipt.as_ref().map(|r| {
            let mut lines = r.checkpoint.lines();
            Receipt {
                log: lines.next().unwrap_or_default().to_owned(),
                leaf_index: r.leaf_index,
                tree_size: lines.next().and_then(|l| l.parse().ok()).unwrap_or(0),
            }
        }),
    }
}
