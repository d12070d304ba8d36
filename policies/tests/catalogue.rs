//! The catalogue (信用信息目录): base, supplements, and load errors with
//! file, line and reason.

#![allow(clippy::unwrap_used)]

mod common;

use credex_policies::{Catalogue, CatalogueErrorKind, FieldType, SensitivityClass, SubjectKind};

#[test]
fn base_catalogue_covers_the_required_categories() {
    let c = Catalogue::base();
    let penalty = c.category("admin_penalty").unwrap();
    assert_eq!(penalty.name_zh, "行政处罚信息");
    assert!(penalty.applies_to(SubjectKind::NaturalPerson));
    for f in [
        "decision_number",
        "decision_date",
        "basis",
        "content",
        "penalty_type",
        "amount",
        "confiscated_amount",
        "deciding_authority",
    ] {
        assert!(penalty.field(f).is_some(), "admin_penalty.{f}");
    }
    assert_eq!(
        penalty.field("amount").unwrap().field_type,
        FieldType::Amount
    );
    assert_eq!(
        penalty.field("case_notes").unwrap().class,
        SensitivityClass::Internal
    );
    assert_eq!(
        penalty.field("offender_id_number").unwrap().class,
        SensitivityClass::Restricted
    );
    let list = c.category("serious_dishonesty").unwrap();
    for f in [
        "list_type",
        "basis",
        "deciding_authority",
        "entry_date",
        "expiry_date",
        "measures",
    ] {
        assert!(list.field(f).is_some(), "serious_dishonesty.{f}");
    }
    let tax = c.category("tax_credit_rating").unwrap();
    assert_eq!(
        tax.field("grade").unwrap().values.as_deref(),
        Some(&["A", "B", "M", "C", "D"].map(String::from)[..])
    );
    assert!(!tax.applies_to(SubjectKind::NaturalPerson));
    assert!(c.categories().count() >= 10);
}

#[test]
fn supplement_adds_a_category_and_a_field() {
    let base = Catalogue::base();
    let gz = base
        .with_supplement(common::GUIZHOU_SUPPLEMENT, "catalogue-520000.toml")
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(base.category("gz_construction_credit").is_none());
    let added = gz.category("gz_construction_credit").unwrap();
    assert_eq!(added.fields.len(), 4);
    let field = gz.field("admin_penalty", "gz_discretion_standard").unwrap();
    assert_eq!(field.class, SensitivityClass::Public);
    // Base fields stay, in order, ahead of the supplement's.
    let penalty = gz.category("admin_penalty").unwrap();
    assert_eq!(penalty.fields[0].code, "decision_number");
    assert_eq!(
        penalty.fields.last().unwrap().code,
        "gz_discretion_standard"
    );
    assert_ne!(base.content_hash(), gz.content_hash());
}

#[test]
fn supplement_redefining_a_field_fails() {
    let text = "\
[[extend]]
category = \"admin_penalty\"

[[extend.field]]
code = \"amount\"
name_zh = \"罚款金额\"
name_en = \"Fine\"
type = \"amount\"
class = \"shared\"
";
    let e = Catalogue::base()
        .with_supplement(text, "gz.toml")
        .unwrap_err();
    assert_eq!(
        e.kind,
        CatalogueErrorKind::FieldRedefined {
            category: "admin_penalty".into(),
            field: "amount".into()
        }
    );
    assert_eq!(e.location.line, Some(5));
    assert!(
        e.to_string().starts_with(
            "gz.toml:5:8: field \"amount\" already exists in category \"admin_penalty\""
        ),
        "{e}"
    );
}

#[test]
fn supplement_redefining_a_category_fails() {
    let text = "\
[[category]]
code = \"red_list\"
name_zh = \"红名单\"
name_en = \"Red list\"
subjects = [\"legal_person\"]
[[category.field]]
code = \"x\"
name_zh = \"x\"
name_en = \"x\"
type = \"text\"
class = \"public\"
";
    let e = Catalogue::base()
        .with_supplement(text, "gz.toml")
        .unwrap_err();
    assert_eq!(
        e.kind,
        CatalogueErrorKind::CategoryRedefined("red_list".into())
    );
    assert_eq!(e.location.line, Some(2));
}

#[test]
fn unknown_key_fails_with_file_and_line() {
    let text = "\
[[category]]
code = \"c\"
name_zh = \"类\"
name_en = \"C\"
subjects = [\"legal_person\"]

[[category.field]]
code = \"f\"
name_zh = \"项\"
name_en = \"F\"
type = \"text\"
class = \"public\"
sensitivity = \"high\"
";
    let e = Catalogue::parse(text, "custom.toml").unwrap_err();
    assert!(matches!(e.kind, CatalogueErrorKind::Toml(_)));
    assert_eq!(e.location.origin, "custom.toml");
    assert_eq!(e.location.line, Some(13), "{e}");
    assert!(e.to_string().contains("unknown field `sensitivity`"), "{e}");
}

#[test]
fn other_catalogue_errors_name_line_and_reason() {
    let field = "[[category.field]]\ncode = \"f\"\nname_zh = \"项\"\nname_en = \"F\"\ntype = \"text\"\nclass = \"public\"\n";
    let cat = |code: &str, subjects: &str| {
        format!(
            "[[category]]\ncode = \"{code}\"\nname_zh = \"类\"\nname_en = \"C\"\nsubjects = {subjects}\n"
        )
    };
    let cases: Vec<(String, usize, &str)> = vec![
        (
            format!("{}{field}", cat("Bad-Code", "[\"legal_person\"]")),
            2,
            "category code \"Bad-Code\" must be",
        ),
        (
            cat("c", "[\"legal_person\"]"),
            2,
            "category \"c\" has no fields",
        ),
        (
            format!("{}{field}", cat("c", "[]")),
            5,
            "must list each subject kind",
        ),
        (
            format!("{}{field}", cat("c", "[\"legal_person\", \"alien\"]")),
            5,
            "unknown variant `alien`",
        ),
        (
            format!("{}{field}{field}", cat("c", "[\"legal_person\"]")),
            13,
            "field \"f\" appears twice",
        ),
        (
            format!(
                "{}{field}{}{field}",
                cat("c", "[\"legal_person\"]"),
                cat("c", "[\"legal_person\"]")
            ),
            13,
            "category \"c\" is defined twice",
        ),
        (
            format!(
                "{}{}values = [\"a\"]\n",
                cat("c", "[\"legal_person\"]"),
                field
            ),
            12,
            "`values` is only allowed for type = \"code\"",
        ),
        (
            format!(
                "{}{}values = [\"a\", \"a\"]\n",
                cat("c", "[\"legal_person\"]"),
                field.replace("\"text\"", "\"code\"")
            ),
            12,
            "`values` must be non-empty",
        ),
        (
            format!(
                "{}{}",
                cat("c", "[\"legal_person\"]"),
                field.replace("\"public\"", "\"secret\"")
            ),
            11,
            "unknown variant `secret`",
        ),
        (
            "[[extend]]\ncategory = \"nope\"\n".to_owned() + &field.replace("category", "extend"),
            2,
            "[[extend]] names unknown category \"nope\"",
        ),
        (
            format!(
                "{}{}",
                cat("c", "[\"legal_person\"]"),
                field.replace("name_en = \"F\"", "name_en = \" \"")
            ),
            9,
            "field \"f\" has an empty name_en",
        ),
    ];
    for (text, line, reason) in cases {
        let e = Catalogue::parse(&text, "cat.toml").expect_err(reason);
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("cat.toml:{line}:")),
            "expected line {line} for {reason:?}, got {msg}"
        );
        assert!(msg.contains(reason), "{msg} lacks {reason:?}");
    }
}

#[test]
fn catalogue_hash_ignores_format_and_order() {
    let a = "\
[[category]]
code = \"a\"
name_zh = \"甲\"
name_en = \"A\"
subjects = [\"legal_person\", \"natural_person\"]
[[category.field]]
code = \"x\"
name_zh = \"x\"
name_en = \"X\"
type = \"code\"
class = \"public\"
values = [\"1\", \"2\"]
[[category.field]]
code = \"y\"
name_zh = \"y\"
name_en = \"Y\"
type = \"date\"
class = \"shared\"
";
    let b = "\
# same catalogue, other order and layout
[[category]]
subjects = [ \"natural_person\", \"legal_person\" ]
name_en = \"A\"
name_zh = \"甲\"
code = \"a\"

  [[category.field]]
  class = \"shared\"
  type = \"date\"
  name_en = \"Y\"
  name_zh = \"y\"
  code = \"y\"

  [[category.field]]
  code = \"x\"
  name_zh = \"x\"
  name_en = \"X\"
  type = \"code\"
  class = \"public\"
  values = [\"2\", \"1\"]
";
    let ha = Catalogue::parse(a, "a").unwrap().content_hash();
    let hb = Catalogue::parse(b, "b").unwrap().content_hash();
    assert_eq!(ha, hb);
    let c = a.replace("class = \"shared\"", "class = \"restricted\"");
    assert_ne!(ha, Catalogue::parse(&c, "c").unwrap().content_hash());
}

#[test]
fn load_file_names_the_path() {
    let e = Catalogue::load_file("/nonexistent/catalogue.toml").unwrap_err();
    assert!(matches!(e.kind, CatalogueErrorKind::Read(_)));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/catalogue.toml: cannot read catalogue")
    );
    let base =
        Catalogue::load_file(concat!(env!("CARGO_MANIFEST_DIR"), "/catalogue/base.toml")).unwrap();
    assert_eq!(base, Catalogue::base());
}
