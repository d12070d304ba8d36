//! The egress gate for credit checks (信用核查) by the region's own
//! systems through the node's gateway: for a purpose, which fields of the
//! catalogue a check answer may carry ([`release_for_check`]).
//!
//! A check names a subject, a purpose and an accountable officer; it
//! carries no subject authorization (电子授权) and no legal basis. The
//! decision, per field, by sensitivity class (decision 0820):
//!
//! - `internal` (内部): never;
//! - `restricted` (需主体授权): never — the catalogue releases it only with
//!   the subject's authorization, and a legal basis never stands in for it
//!   ([`crate::evaluate()`] applies the same rule to federation queries);
//! - `shared` (政务共享): only where a rule of the node's own sharing policy
//!   that is in force on the day of the check serves the purpose and
//!   releases that field — a region's own business system gets no more
//!   government-shared data for a purpose than the region's policy shares
//!   for it;
//! - `public` (公开): released for every check purpose.
//!
//! `upward_reporting` and `mutual_recognition` are not purposes of a check
//! ([`CheckPurposeError`]). The decision is a pure function of the policy
//! set (its catalogue and rules), the purpose and the day; it records the
//! policy hash and what it withheld with the reason.

use std::collections::{BTreeMap, BTreeSet};

use time::Date;

use crate::catalogue::{Record, SensitivityClass};
use crate::policy::{PolicySet, Purpose};

/// A purpose that is not one a credit check may state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0} is not a purpose of a credit check (administrative_approval, public_procurement, joint_punishment, financing or supervision)"
)]
pub struct CheckPurposeError(pub Purpose);

/// Why a field is withheld from a check answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckWithheld {
    /// The field is `internal`: it never leaves the node.
    Internal,
    /// The field is `restricted`: it needs the subject's authorization,
    /// which a check does not carry.
    Restricted,
    /// The field is `shared` and no rule in force releases it for the
    /// purpose.
    NotSharedForPurpose,
}

impl CheckWithheld {
    /// A stable code, for answers and logs.
    pub fn code(self) -> &'static str {
        match self {
            CheckWithheld::Internal => "internal",
            CheckWithheld::Restricted => "restricted_needs_subject_authorization",
            CheckWithheld::NotSharedForPurpose => "not_shared_for_purpose",
        }
    }
}

/// The gate's decision for one purpose on one day: the fields a check
/// answer may carry, per category, and those it may not. Built only by
/// [`release_for_check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRelease {
    purpose: Purpose,
    policy_hash: [u8; 32],
    released: BTreeMap<String, BTreeSet<String>>,
    withheld: BTreeMap<String, BTreeMap<String, CheckWithheld>>,
}

impl CheckRelease {
    /// The purpose decided for.
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The hash of the policy set decided under.
    pub fn policy_hash(&self) -> [u8; 32] {
        self.policy_hash
    }

    /// Whether `field` of `category` may be in the answer.
    pub fn releases(&self, category: &str, field: &str) -> bool {
        self.released
            .get(category)
            .is_some_and(|fs| fs.contains(field))
    }

    /// Category → fields released.
    pub fn released(&self) -> &BTreeMap<String, BTreeSet<String>> {
        &self.released
    }

    /// Category → field → why withheld.
    pub fn withheld(&self) -> &BTreeMap<String, BTreeMap<String, CheckWithheld>> {
        &self.withheld
    }

    /// `record` with only the fields released (possibly none).
    pub fn project(&self, record: &Record) -> Record {
        Record {
            category: record.category.clone(),
            fields: record
                .fields
                .iter()
                .filter(|(f, _)| self.releases(&record.category, f))
                .map(|(f, v)| (f.clone(), v.clone()))
                .collect(),
        }
    }
}

/// Whether `purpose` may be stated by a credit check.
pub fn is_check_purpose(purpose: Purpose) -> bool {
    !matches!(
        purpose,
        Purpose::UpwardReporting | Purpose::MutualRecognition
    )
}

/// Decide, for a check made for `purpose` on `today` (China Standard
/// Time), which fields of every category of `policy`'s catalogue the
/// answer may carry (rules in the module documentation).
pub fn release_for_check(
    policy: &PolicySet,
    purpose: Purpose,
    today: Date,
) -> Result<CheckRelease, CheckPurposeError> {
    if !is_check_purpose(purpose) {
        return Err(CheckPurposeError(purpose));
    }
    let rules: Vec<_> = policy
        .rules()
        .iter()
        .filter(|r| r.purposes().contains(&purpose) && r.in_force_on(today))
        .collect();
    let mut released: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut withheld: BTreeMap<String, BTreeMap<String, CheckWithheld>> = BTreeMap::new();
    for category in policy.catalogue().categories() {
        for field in &category.fields {
            let why = match field.class {
                SensitivityClass::Public => None,
                SensitivityClass::Shared => {
                    let shared = rules
                        .iter()
                        .any(|r| r.releases_field(&category.code, &field.code));
                    (!shared).then_some(CheckWithheld::NotSharedForPurpose)
                }
                SensitivityClass::Restricted => Some(CheckWithheld::Restricted),
                SensitivityClass::Internal => Some(CheckWithheld::Internal),
            };
            match why {
                None => {
                    released
                        .entry(category.code.clone())
                        .or_default()
                        .insert(field.code.clone());
                }
                Some(why) => {
                    withheld
                        .entry(category.code.clone())
                        .or_default()
                        .insert(field.code.clone(), why);
                }
            }
        }
    }
    Ok(CheckRelease {
        purpose,
        policy_hash: policy.policy_hash(),
        released,
        withheld,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalogue::{Catalogue, FieldValue};

    const POLICY_520000: &str = include_str!("../examples/policy-520000.toml");

    fn policy() -> PolicySet {
        PolicySet::parse(
            POLICY_520000,
            "policy-520000.toml",
            &Catalogue::base(),
            &crate::AgreementGroups::builtin(),
        )
        .unwrap()
    }

    fn day(y: i32, m: u8, d: u8) -> Date {
        Date::from_calendar_date(y, time::Month::try_from(m).unwrap(), d).unwrap()
    }

    #[test]
    fn internal_and_restricted_fields_are_never_released_for_any_purpose() {
        let policy = policy();
        for purpose in Purpose::ALL.into_iter().filter(|p| is_check_purpose(*p)) {
            let r = release_for_check(&policy, purpose, day(2026, 12, 4)).unwrap();
            assert!(!r.releases("admin_penalty", "case_notes"), "{purpose}");
            assert!(
                !r.releases("admin_penalty", "offender_id_number"),
                "{purpose}"
            );
            assert!(
                !r.releases("public_credit_evaluation", "score"),
                "{purpose}"
            );
            assert_eq!(
                r.withheld()["serious_dishonesty"]["review_notes"],
                CheckWithheld::Internal
            );
            assert_eq!(
                r.withheld()["registration"]["legal_representative_id_number"],
                CheckWithheld::Restricted
            );
            // Public fields go for every check purpose.
            assert!(r.releases("admin_penalty", "decision_number"), "{purpose}");
            assert!(r.releases("serious_dishonesty", "measures"), "{purpose}");
        }
    }

    #[test]
    fn shared_fields_follow_the_rules_in_force_for_the_purpose() {
        let policy = policy();
        let today = day(2026, 12, 4);
        // cg-approval-supervision releases the evaluation grade for approval.
        let approval = release_for_check(&policy, Purpose::AdministrativeApproval, today).unwrap();
        assert!(approval.releases("public_credit_evaluation", "grade"));
        assert!(!approval.releases("tax_credit_rating", "grade"));
        assert_eq!(
            approval.withheld()["tax_credit_rating"]["grade"],
            CheckWithheld::NotSharedForPurpose
        );
        // Only cg-financing releases the tax rating, for financing.
        let financing = release_for_check(&policy, Purpose::Financing, today).unwrap();
        assert!(financing.releases("tax_credit_rating", "grade"));
        // The data source of a penalty is shared by national-upward for
        // joint punishment, not by any rule for approval.
        let joint = release_for_check(&policy, Purpose::JointPunishment, today).unwrap();
        assert!(joint.releases("admin_penalty", "data_source"));
        assert!(!approval.releases("admin_penalty", "data_source"));
        // Before the Chongqing–Guizhou rules are in force, approval gets no
        // shared evaluation grade.
        let early =
            release_for_check(&policy, Purpose::AdministrativeApproval, day(2025, 2, 1)).unwrap();
        assert!(!early.releases("public_credit_evaluation", "grade"));
        assert_eq!(approval.policy_hash(), policy.policy_hash());
    }

    #[test]
    fn federation_only_purposes_are_not_check_purposes() {
        let policy = policy();
        for p in [Purpose::UpwardReporting, Purpose::MutualRecognition] {
            assert_eq!(
                release_for_check(&policy, p, day(2026, 12, 4)),
                Err(CheckPurposeError(p))
            );
        }
    }

    #[test]
    fn a_record_is_projected_onto_the_released_fields() {
        let policy = policy();
        let r =
            release_for_check(&policy, Purpose::AdministrativeApproval, day(2026, 12, 4)).unwrap();
        let record = Record {
            category: "admin_penalty".into(),
            fields: [
                ("decision_number", "黔市监罚〔2026〕7号"),
                ("case_notes", "internal"),
                ("offender_id_number", "11010519491231002X"),
                ("data_source", "市场监管"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), FieldValue::Text(v.to_owned())))
            .collect(),
        };
        let projected = r.project(&record);
        let kept: Vec<&str> = projected.fields.keys().map(String::as_str).collect();
        assert_eq!(kept, ["decision_number"]);
    }
}
