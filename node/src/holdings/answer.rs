//! What the node holds about one subject, as released for a purpose: the
//! local records, recognised evaluations of other regions, the joint
//! reward/punishment list entries in force here and the cases (objections,
//! repair applications) pending against them. A credit check answers one
//! per subject; a credit report is built from one.

use std::collections::BTreeMap;

use credex_protocol::lists::Procedure;
use serde::Serialize;
use utoipa::ToSchema;

/// What the node holds about one subject, as released for the purpose.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SubjectAnswer {
    /// The subject: the USCC of a legal person, the masked citizen ID of a
    /// natural person (never the clear ID).
    pub subject: String,
    /// `legal_person` or `natural_person`.
    pub subject_kind: &'static str,
    /// A natural person's federation pseudonym under the current epoch
    /// (`EPOCH:HEX`), as other regions name the person.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pseudonym: Option<String>,
    /// Local credit records, each with the fields released for the purpose.
    pub records: Vec<RecordAnswer>,
    /// Other regions' evaluation results this node recognised (互认).
    pub evaluations: Vec<EvaluationAnswer>,
    /// Joint reward/punishment list entries in force in this region: made
    /// here or pushed here by another region under an agreement.
    pub lists: Vec<ListAnswer>,
    /// Objections being handled (异议处理中) against entries of `lists`:
    /// made here (as this region handles them) or pushed here (as their
    /// origin last marked them).
    pub objections: Vec<CaseAnswer>,
    /// Credit repair applications under review (信用修复审核中) for entries
    /// of `lists`, likewise.
    pub repairs: Vec<CaseAnswer>,
}

/// One local credit record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RecordAnswer {
    /// The catalogue category.
    pub category: String,
    /// The record's id within its category.
    pub record_id: String,
    /// Field code → value (text, number or boolean), released fields only.
    #[schema(value_type = Object)]
    pub fields: BTreeMap<String, serde_json::Value>,
    /// An objection to it is being handled (异议处理中).
    pub under_objection: bool,
    /// A credit repair application for it is under review (信用修复审核中).
    pub under_repair_review: bool,
}

/// A recognised evaluation result of another region.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EvaluationAnswer {
    /// The scheme (`public_credit`, `tax_credit`, `environmental_credit`).
    pub scheme: String,
    /// The issuing region.
    pub issuer_region: String,
    /// The scheme version.
    pub scheme_version: String,
    /// The grade on the issuer's scale.
    pub original_grade: String,
    /// The grade on the agreement's common scale.
    pub common_grade: Option<String>,
    /// The grade on this region's scale.
    pub local_grade: Option<String>,
    /// The agreement it was recognised under.
    pub agreement: Option<String>,
    /// The supervision tier the agreement grants here.
    pub supervision_tier: Option<String>,
    /// Whether the green channel is granted here.
    pub green_channel: bool,
    /// When it was issued, Unix ms.
    pub issued_at_ms: i64,
    /// Until when it counts here, Unix ms.
    pub counts_until_ms: Option<i64>,
    /// Whether it counts now (not revoked, within its validity and age).
    pub counts_now: bool,
    /// An objection to it is being handled by its issuer (异议处理中).
    pub under_objection: bool,
}

/// A list entry in force in this region.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ListAnswer {
    /// The entry's id (`ORIGIN-HEX`).
    pub entry_id: String,
    /// The region that made it.
    pub origin_region: String,
    /// Its revision.
    pub revision: u32,
    /// `red`, `serious_dishonesty` or `key_attention`.
    pub list_type: String,
    /// The basis of the decision (认定依据), when released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub basis: Option<String>,
    /// The deciding authority (认定单位), when released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deciding_authority: Option<String>,
    /// When listed, when released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_date: Option<String>,
    /// When it ends unless repaired earlier, when released.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned_exit: Option<String>,
    /// The measures the entry carries that apply to its list, when released.
    pub measures: Vec<MeasureAnswer>,
    /// For an entry pushed here: the measures this region reported it
    /// applied (反馈); `null` before feedback.
    pub applied_here: Option<Vec<String>>,
    /// Further fields of the list's category, released ones only.
    pub details: BTreeMap<String, String>,
    /// Whether an objection against it is being handled (异议处理中):
    /// the entry stands, contested, until the objection is decided.
    pub under_objection: bool,
    /// Whether a credit repair application for it is under review
    /// (信用修复审核中): the entry stands until the repair is granted.
    pub under_repair_review: bool,
}

/// A joint reward or punishment measure (联合奖惩措施).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct MeasureAnswer {
    /// Its code in the measures catalogue.
    pub code: String,
    /// Its Chinese name.
    pub name_zh: String,
    /// `reward` or `punishment`.
    pub kind: &'static str,
}

/// An objection (异议) or a repair application (信用修复) being handled
/// against a list entry or a record.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CaseAnswer {
    /// `objection` or `repair`.
    #[schema(value_type = String)]
    pub procedure: Procedure,
    /// The list entry the case is about, if it is about one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entry_id: Option<String>,
    /// The record the case is about (`category/record_id`), if it is about
    /// one of this region's records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The region the subject filed it in.
    pub from_region: String,
    /// When it arrived here (made here) or its latest mark did (pushed
    /// here), Unix ms.
    pub received_at_ms: i64,
    /// `filed` (to be accepted or refused) or `accepted` (to be decided).
    pub stage: String,
    /// The last day to accept or refuse it (China time).
    pub accept_by: Option<String>,
    /// The last day to decide it, once accepted.
    pub decide_by: Option<String>,
}
