//! The egress record (放行记录): what the sending node's egress gate
//! released in one outbound message, carried inside the signed
//! [`Envelope`](crate::federation::Envelope) and logged by both sides, so an
//! auditor can check the body against it and re-run the gate.
//!
//! The gate itself lives in `credex-policies` (`egress`); this module only
//! defines what travels and what is logged. Decision 0600 explains the
//! design.

use serde::{Deserialize, Serialize};

use crate::query::CategoryFields;

/// Most categories named in one egress record.
pub const MAX_EGRESS_CATEGORIES: usize = 64;
/// Most fields named per category.
pub const MAX_EGRESS_FIELDS: usize = 128;
/// Longest category, field or agreement code, in bytes.
pub const MAX_EGRESS_CODE: usize = 64;

/// Which released-data rule the gate decided under. **Variant order is
/// wire format.**
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EgressBasis {
    /// Index 0. The message carries no record field (an acknowledgement
    /// of measures applied, a confirmation, an objection's reference):
    /// nothing is released.
    NoRecordData,
    /// Index 1. A cooperation agreement (合作协议) binding both regions,
    /// named by its code; `basis_hash` is the content hash of the sender's
    /// agreement set.
    Agreement(String),
    /// Index 2. The reporting catalogue (数据报送目录) shared by the
    /// provinces and the national platform; `basis_hash` is its content
    /// hash.
    ReportingCatalogue,
    /// Index 3. A change (update, downgrade, revocation) to a result the
    /// recipient already holds — it acknowledged recognising an earlier
    /// one of the same subject and scheme — sent although no agreement
    /// binds the two regions any more, so a holder never keeps a stale
    /// result: only the fields it received before.
    PriorRelease,
}

/// The gate's decision for one outbound message, as carried and logged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EgressRecord {
    /// The rule decided under.
    pub basis: EgressBasis,
    /// The content hash of that rule's document (all zero for
    /// [`EgressBasis::NoRecordData`]).
    pub basis_hash: [u8; 32],
    /// Fields the gate released, by category; categories and fields sorted.
    pub released: Vec<CategoryFields>,
    /// Fields the sender held and the gate withheld, by category; sorted.
    pub withheld: Vec<CategoryFields>,
}

/// A bound a decoded egress record breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressBoundError {
    /// Too many categories.
    #[error("egress record names {0} categories, at most {MAX_EGRESS_CATEGORIES} allowed")]
    TooManyCategories(usize),
    /// Too many fields in one category.
    #[error("egress record names {0} fields of one category, at most {MAX_EGRESS_FIELDS} allowed")]
    TooManyFields(usize),
    /// A code empty or too long.
    #[error("egress record has an empty code or one over {MAX_EGRESS_CODE} bytes")]
    BadCode,
}

impl EgressRecord {
    /// The record of a message that carries no record field.
    pub fn no_record_data() -> EgressRecord {
        EgressRecord {
            basis: EgressBasis::NoRecordData,
            basis_hash: [0; 32],
            released: Vec::new(),
            withheld: Vec::new(),
        }
    }

    /// Whether `field` of `category` was released.
    pub fn releases(&self, category: &str, field: &str) -> bool {
        self.released
            .iter()
            .any(|c| c.category == category && c.fields.iter().any(|f| f == field))
    }

    /// How many fields were withheld.
    pub fn withheld_count(&self) -> usize {
        self.withheld.iter().map(|c| c.fields.len()).sum()
    }

    /// Check the bounds decoding alone does not.
    pub fn validate(&self) -> Result<(), EgressBoundError> {
        if let EgressBasis::Agreement(code) = &self.basis
            && (code.is_empty() || code.len() > MAX_EGRESS_CODE)
        {
            return Err(EgressBoundError::BadCode);
        }
        for list in [&self.released, &self.withheld] {
            if list.len() > MAX_EGRESS_CATEGORIES {
                return Err(EgressBoundError::TooManyCategories(list.len()));
            }
            for c in list {
                if c.fields.len() > MAX_EGRESS_FIELDS {
                    return Err(EgressBoundError::TooManyFields(c.fields.len()));
                }
                let bad = |s: &String| s.is_empty() || s.len() > MAX_EGRESS_CODE;
                if bad(&c.category) || c.fields.iter().any(bad) {
                    return Err(EgressBoundError::BadCode);
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, encode};

    #[test]
    fn round_trips_and_bounds() {
        let r = EgressRecord {
            basis: EgressBasis::Agreement("pan-pearl-river".into()),
            basis_hash: [3; 32],
            released: vec![CategoryFields {
                category: "serious_dishonesty".into(),
                fields: vec!["basis".into(), "facts".into()],
            }],
            withheld: vec![CategoryFields {
                category: "serious_dishonesty".into(),
                fields: vec!["review_notes".into()],
            }],
        };
        let back: EgressRecord = decode(&encode(&r).expect("encode")).expect("decode");
        assert_eq!(back, r);
        assert!(r.validate().is_ok());
        assert!(r.releases("serious_dishonesty", "facts"));
        assert!(!r.releases("serious_dishonesty", "review_notes"));
        assert_eq!(r.withheld_count(), 1);
        let mut bad = r.clone();
        bad.released[0].fields.push(String::new());
        assert_eq!(bad.validate(), Err(EgressBoundError::BadCode));
    }

    #[test]
    fn basis_order_is_wire_format() {
        assert_eq!(encode(&EgressBasis::NoRecordData).expect("encode"), vec![0]);
        assert_eq!(
            encode(&EgressBasis::ReportingCatalogue).expect("encode"),
            vec![2]
        );
    }
}
