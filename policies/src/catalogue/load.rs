//! Loading a catalogue from TOML: the shipped base catalogue, a whole
//! catalogue file, and supplements (补充目录) layered on top, with every
//! rule a file must follow ([`CatalogueErrorKind`]).
//!
//! It does not hold the catalogue's contents or answer questions about it
//! (the parent module) nor check record values (`values`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::LazyLock;

use serde::Deserialize;
use toml::Spanned;

use super::{
    BASE_CATALOGUE_ORIGIN, BASE_CATALOGUE_TOML, Catalogue, Category, Field, FieldType,
    SensitivityClass, SubjectKind,
};
use crate::source::{self, LoadError};

/// Why a catalogue or supplement failed to load.
pub type CatalogueError = LoadError<CatalogueErrorKind>;

/// The reason a catalogue or supplement failed to load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogueErrorKind {
    /// The file could not be read.
    #[error("cannot read catalogue: {0}")]
    Read(String),
    /// The text is not valid TOML, has an unknown key, lacks a required key
    /// or has a value of the wrong type; the message is the parser's.
    #[error("{0}")]
    Toml(String),
    /// A category or field code is not `[a-z][a-z0-9_]*` of at most 64 bytes.
    #[error(
        "{what} code {code:?} must be a-z, 0-9 and '_', starting with a letter, at most 64 bytes"
    )]
    BadCode {
        /// `category` or `field`.
        what: &'static str,
        /// The code as written.
        code: String,
    },
    /// A Chinese or English name is empty.
    #[error("{what} {code:?} has an empty {key}")]
    EmptyName {
        /// `category` or `field`.
        what: &'static str,
        /// The code of the thing named.
        code: String,
        /// `name_zh` or `name_en`.
        key: &'static str,
    },
    /// The same category code is defined twice in one file.
    #[error("category {0:?} is defined twice in this file")]
    DuplicateCategory(String),
    /// A supplement defines a category the catalogue already has.
    #[error(
        "category {0:?} already exists in the catalogue; a supplement may add categories and fields but not redefine them (use [[extend]] to add fields)"
    )]
    CategoryRedefined(String),
    /// An `[[extend]]` names a category the catalogue does not have.
    #[error("[[extend]] names unknown category {0:?}")]
    UnknownCategory(String),
    /// The same field code appears twice in one category in one file.
    #[error("field {field:?} appears twice in category {category:?}")]
    DuplicateField {
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A supplement defines a field the category already has.
    #[error(
        "field {field:?} already exists in category {category:?}; a supplement may not redefine a field"
    )]
    FieldRedefined {
        /// The category code.
        category: String,
        /// The field code.
        field: String,
    },
    /// A category defines no field.
    #[error("category {0:?} has no fields")]
    NoFields(String),
    /// A category lists no subject kinds, or one twice.
    #[error(
        "category {0:?} must list each subject kind (legal_person, natural_person) at most once, and at least one"
    )]
    BadSubjects(String),
    /// `values` was given for a field whose type is not `code`.
    #[error("field {0:?}: `values` is only allowed for type = \"code\"")]
    ValuesNotAllowed(String),
    /// A `values` list is empty, has an empty entry or has a duplicate.
    #[error("field {0:?}: `values` must be non-empty, with distinct non-empty entries")]
    BadValues(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    #[serde(default)]
    category: Vec<RawCategory>,
    #[serde(default)]
    extend: Vec<RawExtension>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    code: Spanned<String>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
    subjects: Spanned<Vec<SubjectKind>>,
    #[serde(default)]
    field: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExtension {
    category: Spanned<String>,
    #[serde(default)]
    field: Vec<RawField>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawField {
    code: Spanned<String>,
    name_zh: Spanned<String>,
    name_en: Spanned<String>,
    #[serde(rename = "type")]
    field_type: FieldType,
    class: SensitivityClass,
    values: Option<Spanned<Vec<String>>>,
}

impl Catalogue {
    /// The base catalogue shipped with the crate, covering registration,
    /// licensing, penalties, the red and serious-dishonesty lists,
    /// judgment-debtors, tax credit ratings, comprehensive evaluations,
    /// commitments, credit repair and the key-attention list.
    pub fn base() -> Catalogue {
        static BASE: LazyLock<Catalogue> = LazyLock::new(|| {
            // Invariant: the embedded base catalogue is valid; the unit test
            // `base_catalogue_loads` fails otherwise.
            #[allow(clippy::expect_used)]
            Catalogue::parse(BASE_CATALOGUE_TOML, BASE_CATALOGUE_ORIGIN)
                .expect("embedded base catalogue is valid")
        });
        BASE.clone()
    }

    /// Parse a whole catalogue from TOML `text`; `origin` (usually the file
    /// name) is used in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::empty().with_supplement(text, origin)
    }

    /// Read and parse a catalogue file.
    pub fn load_file(path: impl AsRef<Path>) -> Result<Catalogue, CatalogueError> {
        let (text, origin) = source::read_text(path.as_ref(), CatalogueErrorKind::Read)?;
        Catalogue::parse(&text, &origin)
    }

    /// Layer a supplementary catalogue (补充目录) on top of this one: its
    /// `[[category]]` entries add new categories and its `[[extend]]` entries
    /// add fields to existing categories. Redefining an existing category or
    /// field is an error.
    pub fn with_supplement(&self, text: &str, origin: &str) -> Result<Catalogue, CatalogueError> {
        let raw: RawCatalogue = toml::from_str(text)
            .map_err(|e| LoadError::from_toml(origin, text, &e, CatalogueErrorKind::Toml))?;
        let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
        let mut categories = self.categories.clone();
        let mut new_codes = BTreeSet::new();

        for rc in raw.category {
            let category = new_category(rc, &categories, &mut new_codes, origin, text)?;
            categories.insert(category.code.clone(), category);
        }

        for ext in raw.extend {
            let code = ext.category.get_ref();
            let Some(category) = categories.get_mut(code) else {
                return Err(err(
                    &ext.category.span(),
                    CatalogueErrorKind::UnknownCategory(code.clone()),
                ));
            };
            if ext.field.is_empty() {
                return Err(err(
                    &ext.category.span(),
                    CatalogueErrorKind::NoFields(code.clone()),
                ));
            }
            add_fields(category, ext.field, origin, text)?;
        }

        Ok(Catalogue::from_categories(categories))
    }

    /// Read a supplement file and layer it on top of this catalogue.
    pub fn load_supplement_file(
        &self,
        path: impl AsRef<Path>,
    ) -> Result<Catalogue, CatalogueError> {
        let (text, origin) = source::read_text(path.as_ref(), CatalogueErrorKind::Read)?;
        self.with_supplement(&text, &origin)
    }

    fn empty() -> Catalogue {
        Catalogue::from_categories(BTreeMap::new())
    }
}

/// One `[[category]]` of a supplement: a new category with a valid, unused
/// code, names, distinct subjects and at least one field.
fn new_category(
    rc: RawCategory,
    categories: &BTreeMap<String, Category>,
    new_codes: &mut BTreeSet<String>,
    origin: &str,
    text: &str,
) -> Result<Category, CatalogueError> {
    let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
    let code = rc.code.get_ref().clone();
    if !source::is_code(&code) {
        return Err(err(
            &rc.code.span(),
            CatalogueErrorKind::BadCode {
                what: "category",
                code,
            },
        ));
    }
    if !new_codes.insert(code.clone()) {
        return Err(err(
            &rc.code.span(),
            CatalogueErrorKind::DuplicateCategory(code),
        ));
    }
    if categories.contains_key(&code) {
        return Err(err(
            &rc.code.span(),
            CatalogueErrorKind::CategoryRedefined(code),
        ));
    }
    for (key, name) in [("name_zh", &rc.name_zh), ("name_en", &rc.name_en)] {
        if name.get_ref().trim().is_empty() {
            return Err(err(
                &name.span(),
                CatalogueErrorKind::EmptyName {
                    what: "category",
                    code: code.clone(),
                    key,
                },
            ));
        }
    }
    let subjects = rc.subjects.get_ref();
    let distinct: BTreeSet<_> = subjects.iter().collect();
    if subjects.is_empty() || distinct.len() != subjects.len() {
        return Err(err(
            &rc.subjects.span(),
            CatalogueErrorKind::BadSubjects(code),
        ));
    }
    if rc.field.is_empty() {
        return Err(err(&rc.code.span(), CatalogueErrorKind::NoFields(code)));
    }
    let mut category = Category {
        code,
        name_zh: rc.name_zh.into_inner(),
        name_en: rc.name_en.into_inner(),
        subjects: rc.subjects.into_inner(),
        fields: Vec::new(),
    };
    add_fields(&mut category, rc.field, origin, text)?;
    Ok(category)
}

fn add_fields(
    category: &mut Category,
    raw: Vec<RawField>,
    origin: &str,
    text: &str,
) -> Result<(), CatalogueError> {
    let err = |span: &std::ops::Range<usize>, kind| LoadError::at(origin, text, span, kind);
    let mut seen = BTreeSet::new();
    for rf in raw {
        let code = rf.code.get_ref().clone();
        if !source::is_code(&code) {
            return Err(err(
                &rf.code.span(),
                CatalogueErrorKind::BadCode {
                    what: "field",
                    code,
                },
            ));
        }
        if !seen.insert(code.clone()) {
            return Err(err(
                &rf.code.span(),
                CatalogueErrorKind::DuplicateField {
                    category: category.code.clone(),
                    field: code,
                },
            ));
        }
        if category.field(&code).is_some() {
            return Err(err(
                &rf.code.span(),
                CatalogueErrorKind::FieldRedefined {
                    category: category.code.clone(),
                    field: code,
                },
            ));
        }
        for (key, name) in [("name_zh", &rf.name_zh), ("name_en", &rf.name_en)] {
            if name.get_ref().trim().is_empty() {
                return Err(err(
                    &name.span(),
                    CatalogueErrorKind::EmptyName {
                        what: "field",
                        code: code.clone(),
                        key,
                    },
                ));
            }
        }
        let values = match rf.values {
            None => None,
            Some(v) if rf.field_type != FieldType::Code => {
                return Err(err(&v.span(), CatalogueErrorKind::ValuesNotAllowed(code)));
            }
            Some(v) => {
                let list = v.get_ref();
                let distinct: BTreeSet<_> = list.iter().collect();
                if list.is_empty()
                    || distinct.len() != list.len()
                    || list.iter().any(|s| s.trim().is_empty())
                {
                    return Err(err(&v.span(), CatalogueErrorKind::BadValues(code)));
                }
                Some(v.into_inner())
            }
        };
        category.fields.push(Field {
            code,
            name_zh: rf.name_zh.into_inner(),
            name_en: rf.name_en.into_inner(),
            field_type: rf.field_type,
            class: rf.class,
            values,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_catalogue_loads() {
        let c = Catalogue::parse(BASE_CATALOGUE_TOML, BASE_CATALOGUE_ORIGIN)
            .unwrap_or_else(|e| panic!("{e}"));
        for code in [
            "registration",
            "admin_license",
            "admin_penalty",
            "red_list",
            "serious_dishonesty",
            "judgment_debtor",
            "tax_credit_rating",
            "public_credit_evaluation",
            "credit_commitment",
            "credit_repair",
        ] {
            assert!(c.category(code).is_some(), "missing {code}");
        }
        let classes: BTreeSet<_> = c
            .categories()
            .flat_map(|cat| cat.fields.iter().map(|f| f.class))
            .collect();
        assert_eq!(classes.len(), 4, "base catalogue uses every class");
        assert_eq!(Catalogue::base(), c);
    }
}
