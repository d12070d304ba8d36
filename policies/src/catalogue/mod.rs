//! The credit information catalogue (信用信息目录): categories of credit
//! information, their fields, each field's type and sensitivity class.
//!
//! A catalogue is loaded from TOML. The base catalogue ships with the crate
//! ([`Catalogue::base`]); a province layers a supplementary catalogue
//! (补充目录) on top with [`Catalogue::with_supplement`], which may add
//! categories and add fields to existing categories but never redefine one.
//!
//! ```toml
//! [[category]]
//! code = "admin_penalty"                 # stable code, [a-z][a-z0-9_]*
//! name_zh = "行政处罚信息"
//! name_en = "Administrative penalties"
//! subjects = ["legal_person", "natural_person"]
//!
//! [[category.field]]
//! code = "decision_number"
//! name_zh = "行政处罚决定书文号"
//! name_en = "Penalty decision number"
//! type = "text"        # text | date | amount | decimal | integer | code | boolean
//! class = "public"     # public | shared | restricted | internal
//!
//! # A supplement adds fields to an existing category:
//! [[extend]]
//! category = "admin_penalty"
//! [[extend.field]]
//! code = "local_case_code"
//! # …
//! ```
//!
//! Unknown keys are refused; errors name the file, the line and the reason.//!
//! `schema` holds what a catalogue describes (categories, fields, types,
//! classes, subject kinds), `load` how files become a [`Catalogue`] (base,
//! supplements, validation), `values` how record values are checked against
//! a field. This module holds the [`Catalogue`] itself: its categories, the
//! lookups and the content hash.

use std::collections::{BTreeMap, BTreeSet};

use crate::canonical::Canon;

mod load;
mod schema;
mod values;

pub use load::{CatalogueError, CatalogueErrorKind};
pub use schema::{Category, Field, FieldType, SensitivityClass, SubjectKind};
pub use values::{FieldValue, Record, ValueError};

/// The base catalogue shipped with the crate (`policies/catalogue/base.toml`).
pub const BASE_CATALOGUE_TOML: &str = include_str!("../../catalogue/base.toml");

/// The origin name under which the base catalogue is loaded.
pub const BASE_CATALOGUE_ORIGIN: &str = "catalogue/base.toml";

/// The credit information catalogue (信用信息目录): the base catalogue plus
/// any supplements, validated. Cheap to clone relative to its use; build once
/// at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    categories: BTreeMap<String, Category>,
    hash: [u8; 32],
}

impl Catalogue {
    fn from_categories(categories: BTreeMap<String, Category>) -> Catalogue {
        let hash = canonical_hash(&categories);
        Catalogue { categories, hash }
    }

    /// The category named `code`.
    pub fn category(&self, code: &str) -> Option<&Category> {
        self.categories.get(code)
    }

    /// The field `field` of category `category`.
    pub fn field(&self, category: &str, field: &str) -> Option<&Field> {
        self.category(category)?.field(field)
    }

    /// All categories, ordered by code.
    pub fn categories(&self) -> impl Iterator<Item = &Category> {
        self.categories.values()
    }

    /// SHA-256 over the canonical encoding of the parsed catalogue
    /// (categories and fields sorted by code), so formatting, comments and
    /// order in the files do not change it.
    pub fn content_hash(&self) -> [u8; 32] {
        self.hash
    }

    /// [`Catalogue::content_hash`] as lowercase hex.
    pub fn content_hash_hex(&self) -> String {
        hex::encode(self.hash)
    }
}

fn canonical_hash(categories: &BTreeMap<String, Category>) -> [u8; 32] {
    let mut c = Canon::new("credex/catalogue/v1");
    c.len(categories.len());
    for cat in categories.values() {
        c.str(&cat.code).str(&cat.name_zh).str(&cat.name_en);
        let subjects: BTreeSet<_> = cat.subjects.iter().collect();
        c.len(subjects.len());
        for s in subjects {
            c.u8(s.tag());
        }
        let mut fields: Vec<&Field> = cat.fields.iter().collect();
        fields.sort_by(|a, b| a.code.cmp(&b.code));
        c.len(fields.len());
        for f in fields {
            c.str(&f.code)
                .str(&f.name_zh)
                .str(&f.name_en)
                .u8(f.field_type.tag())
                .u8(f.class.tag());
            match &f.values {
                None => {
                    c.u8(0);
                }
                Some(values) => {
                    // The order of a code list is presentation; hash it sorted.
                    let sorted: BTreeSet<_> = values.iter().collect();
                    c.u8(1).len(sorted.len());
                    for v in sorted {
                        c.str(v);
                    }
                }
            }
        }
    }
    c.finish()
}
