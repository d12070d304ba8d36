//! What the query endpoints read and answer, as JSON.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Categories and fields asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Fields {
    /// Catalogue category code, e.g. `admin_penalty`.
    pub category: String,
    /// Field codes within the category.
    pub fields: Vec<String>,
}

/// A cross-region query to draft.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "target_region": "500000",
    "subject": "91500000100050013H",
    "purpose": "administrative_licensing",
    "requested": [{"category": "admin_penalty", "fields": ["decision_no", "penalty_type"]}],
    "legal_basis": "《重庆市社会信用条例》第二十条",
    "case_reference": "黔审批〔2026〕1187号"
}))]
pub struct NewQuery {
    /// The region asked (GB/T 2260 code).
    pub target_region: String,
    /// A unified social credit code, or a citizen ID (sent only as its
    /// pseudonym; the approver must give it again).
    pub subject: String,
    /// Purpose code.
    pub purpose: String,
    /// What is asked.
    pub requested: Vec<Fields>,
    /// A legal basis cited instead of the subject's authorization.
    #[serde(default)]
    pub legal_basis: Option<String>,
    /// The subject's electronic authorization, as the file `credex query
    /// authorize` writes, base64.
    #[serde(default)]
    pub subject_authorization: Option<String>,
    /// The case or file the query serves (案件或业务编号), shown to the approver.
    pub case_reference: String,
}

/// An officer's signature over the bytes the query's `to_sign` gave.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "chain": ["MIIBxjCCAXig…", "MIIBpTCCAVeg…"],
    "algorithm": "ed25519",
    "signature": "3q2+7w…"
}))]
pub struct OfficerSignature {
    /// The officer's certificate chain, DER, base64: their operator
    /// certificate first, then the region CA.
    pub chain: Vec<String>,
    /// `ed25519` or `ecdsa-p256-sha256`; `sm2-sm3` (64 bytes `r ‖ s`, the
    /// GM/T 0009 default signer identity) in an `sm2-sm3` federation.
    pub algorithm: String,
    /// The signature over the bytes of `to_sign`, base64 (Ed25519: 64
    /// bytes; ECDSA: ASN.1 DER).
    pub signature: String,
    /// For the approver of a query about a natural person: the citizen ID
    /// in the case file, to check the draft is about that person (never
    /// stored).
    #[serde(default)]
    pub subject_id: Option<String>,
}

/// Where a query stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryState {
    /// Drafted; the requester (经办人) must sign `to_sign`.
    AwaitingRequester,
    /// Signed; a different officer with the approver role (审核人) must sign `to_sign`.
    AwaitingApprover,
    /// Approved and on its way to the target region.
    Sending,
    /// The target region answered (granted, trimmed or denied).
    Answered,
    /// No verified answer came; `failure` says why.
    Failed,
}

/// A query as the gateway holds it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QueryView {
    /// The request id, hex.
    pub id: String,
    /// Where it stands.
    pub state: QueryState,
    /// The region asked.
    pub target_region: String,
    /// The subject as the request names it: a USCC, or a natural person's
    /// masked ID and pseudonym epoch.
    pub subject: String,
    /// Purpose code.
    pub purpose: String,
    /// What is asked.
    pub requested: Vec<Fields>,
    /// The legal basis cited, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub legal_basis: Option<String>,
    /// The case reference.
    pub case_reference: String,
    /// The bytes the next officer signs, base64 (absent once both signed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_sign: Option<String>,
    /// The requester's identity, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requester: Option<String>,
    /// The approver's identity, once signed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    /// The answer, once it came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Answer>,
    /// Why no answer came.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

/// The target region's verified answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Answer {
    /// `granted`, `trimmed` or `denied`.
    pub outcome: String,
    /// Why it was decided so (stable reason code).
    pub reason: String,
    /// Fields released.
    pub released: Vec<Fields>,
    /// Fields asked for but withheld.
    pub withheld: Vec<Fields>,
    /// The records, projected to the released fields.
    #[schema(value_type = Vec<Object>)]
    pub records: Vec<serde_json::Value>,
    /// The responder's log receipt: its log, the entry and the tree size.
    pub receipt: Option<Receipt>,
}

/// Where the responder logged the access.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Receipt {
    /// The responder's log origin.
    pub log: String,
    /// The entry's index.
    pub leaf_index: u64,
    /// The checkpoint's tree size.
    pub tree_size: u64,
}
