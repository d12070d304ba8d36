//! Sharing-policy load errors: each names the file, the line and the reason.
//! Also the canonical policy hash.

#![allow(clippy::unwrap_used)]

mod common;

use credex_policies::{
    AgreementGroups, AuthorizationRequirement, Catalogue, PolicyError, PolicyErrorKind, PolicySet,
    Purpose,
};

const ORIGIN: &str = "policy-test.toml";

/// A valid rule `id` of 16 lines with `{extra}` on its 8th. After [`HEAD`]
/// its `id` is on line 7, `peers` 8, `purposes` 9, `valid_from` 10,
/// `valid_until` 11, `{extra}` 13, `category` 15 and `fields` 16.
fn rule(id: &str, extra: &str) -> String {
    format!(
        "[[rule]]
id = \"{id}\"
peers = {{ group = \"pan-pearl-river\" }}
purposes = [\"public_procurement\"]
valid_from = \"2025-01-01\"
valid_until = \"2027-12-31\"
subject_authorization = \"required\"
{extra}
[[rule.release]]
category = \"admin_penalty\"
fields = [\"decision_number\", \"amount\"]
"
    )
}

/// Lines 1–5: owner and one legal basis.
const HEAD: &str = "owner = \"520000\"
[[legal_basis]]
code = \"joint-punishment-memorandum\"
title = \"联合惩戒合作备忘录\"

";

fn load(text: &str) -> Result<PolicySet, PolicyError> {
    PolicySet::parse(
        text,
        ORIGIN,
        &Catalogue::base(),
        &AgreementGroups::builtin(),
    )
}

/// Assert `text` fails at `line` with a message containing `reason`, and
/// return the error kind.
fn fails(text: &str, line: usize, reason: &str) -> PolicyErrorKind {
    let e = match load(text) {
        Ok(_) => panic!("loaded, expected {reason:?}:\n{text}"),
        Err(e) => e,
    };
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{ORIGIN}:{line}:")),
        "expected {ORIGIN}:{line}: for {reason:?}, got: {msg}"
    );
    assert!(msg.contains(reason), "{msg:?} lacks {reason:?}");
    e.kind
}

#[test]
fn a_valid_policy_loads() {
    let p = load(&format!("{HEAD}{}", rule("r1", ""))).unwrap_or_else(|e| panic!("{e}"));
    let r = p.rule("r1").unwrap();
    assert_eq!(r.line(), 7);
    assert_eq!(r.authorization(), AuthorizationRequirement::Required);
    assert!(r.purposes().contains(&Purpose::PublicProcurement));
    // The owner is not its own peer even though the group lists it.
    assert!(!r.peers().contains(common::region(520000)));
    assert!(r.peers().contains(common::region(440000)));
    assert_eq!(r.peers().members().len(), 8);
}

#[test]
fn unknown_key() {
    let text = format!("{HEAD}{}", rule("r1", "colour = \"red\""));
    let kind = fails(&text, 13, "unknown field `colour`");
    assert!(matches!(kind, PolicyErrorKind::Toml(_)));
}

#[test]
fn unknown_key_in_peers() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace(
        "{ group = \"pan-pearl-river\" }",
        "{ group = \"pan-pearl-river\", province = \"x\" }",
    );
    fails(&text, 8, "unknown field `province`");
}

#[test]
fn missing_required_key() {
    let text =
        format!("{HEAD}{}", rule("r1", "")).replace("subject_authorization = \"required\"\n", "");
    fails(&text, 6, "missing field `subject_authorization`");
}

#[test]
fn unknown_category() {
    let text =
        format!("{HEAD}{}", rule("r1", "")).replace("\"admin_penalty\"", "\"admin_penalties\"");
    let kind = fails(&text, 15, "unknown category \"admin_penalties\"");
    assert!(matches!(kind, PolicyErrorKind::UnknownCategory { .. }));
}

#[test]
fn unknown_field() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace("\"amount\"", "\"fine\"");
    let kind = fails(
        &text,
        16,
        "category \"admin_penalty\" has no field \"fine\"",
    );
    assert!(matches!(kind, PolicyErrorKind::UnknownField { .. }));
}

#[test]
fn unknown_purpose() {
    let text =
        format!("{HEAD}{}", rule("r1", "")).replace("\"public_procurement\"", "\"marketing\"");
    let kind = fails(&text, 9, "unknown variant `marketing`");
    assert!(matches!(kind, PolicyErrorKind::Toml(_)));
}

#[test]
fn unknown_group() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace("pan-pearl-river", "yangtze-delta");
    let kind = fails(&text, 8, "unknown agreement group \"yangtze-delta\"");
    assert!(matches!(kind, PolicyErrorKind::UnknownGroup { .. }));
}

#[test]
fn unknown_legal_basis() {
    let text = format!(
        "{HEAD}{}",
        rule("r1", "legal_bases = [\"credit-law-2030\"]")
    );
    let kind = fails(&text, 13, "unknown legal basis \"credit-law-2030\"");
    assert!(matches!(kind, PolicyErrorKind::UnknownLegalBasis { .. }));
}

#[test]
fn invalid_dates() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace("2027-12-31", "2027-02-30");
    let kind = fails(
        &text,
        11,
        "valid_until = \"2027-02-30\" is not a valid calendar date",
    );
    assert!(matches!(kind, PolicyErrorKind::InvalidDate { .. }));
    let text = format!("{HEAD}{}", rule("r1", "")).replace("\"2025-01-01\"", "\"01/01/2025\"");
    fails(
        &text,
        10,
        "valid_from = \"01/01/2025\" is not a valid calendar date",
    );
    // A TOML date-time is not a date.
    let text = format!("{HEAD}{}", rule("r1", "")).replace("\"2025-01-01\"", "2025-01-01T08:00:00");
    fails(&text, 10, "is not a valid calendar date");
    // A TOML local date is fine.
    let text = format!("{HEAD}{}", rule("r1", "")).replace("\"2025-01-01\"", "2025-01-01");
    assert!(load(&text).is_ok());
}

#[test]
fn validity_reversed() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace("2027-12-31", "2024-12-31");
    let kind = fails(
        &text,
        11,
        "valid_until 2024-12-31 is before valid_from 2025-01-01",
    );
    assert!(matches!(kind, PolicyErrorKind::ValidityReversed { .. }));
}

#[test]
fn duplicate_rule_id() {
    let text = format!("{HEAD}{}\n{}", rule("r1", ""), rule("r1", ""));
    let kind = fails(
        &text,
        19,
        "rule id \"r1\" is already used by the rule at line 7",
    );
    assert!(matches!(kind, PolicyErrorKind::DuplicateRuleId { .. }));
}

#[test]
fn contradicting_authorization() {
    // Same peers, purpose and category, overlapping in 2026; one needs the
    // subject's authorization and the other does not.
    let second = rule("r2", "")
        .replace("\"required\"", "\"not_required\"")
        .replace("2025-01-01", "2026-06-01")
        .replace("2027-12-31", "2028-12-31");
    let text = format!("{HEAD}{}\n{second}", rule("r1", ""));
    let kind = fails(
        &text,
        19,
        "rule \"r2\" contradicts rule \"r1\" (line 7): both apply to peer 350000, purpose public_procurement, category \"admin_penalty\" on 2026-06-01, but subject_authorization is \"required\" in one and \"not_required\" in the other",
    );
    assert!(matches!(kind, PolicyErrorKind::Contradiction { .. }));
}

#[test]
fn contradicting_legal_bases() {
    let text = format!(
        "{HEAD}{}\n{}",
        rule("r1", "legal_bases = [\"joint-punishment-memorandum\"]"),
        rule("r2", "")
    );
    let kind = fails(&text, 19, "legal_bases differ");
    assert!(matches!(kind, PolicyErrorKind::Contradiction { .. }));
}

#[test]
fn non_overlapping_rules_may_differ() {
    // Same peers and purpose, but consecutive periods: no contradiction.
    let second = rule("r2", "")
        .replace("\"required\"", "\"not_required\"")
        .replace("2025-01-01", "2028-01-01")
        .replace("2027-12-31", "2029-12-31");
    assert!(load(&format!("{HEAD}{}\n{second}", rule("r1", ""))).is_ok());
    // Different purposes: no contradiction either.
    let second = rule("r2", "")
        .replace("\"required\"", "\"not_required\"")
        .replace("public_procurement", "supervision");
    assert!(load(&format!("{HEAD}{}\n{second}", rule("r1", ""))).is_ok());
    // Same subject-side condition: overlapping rules are fine (quotas may differ).
    let second = rule("r2", "quota = { per_day = 5 }");
    assert!(load(&format!("{HEAD}{}\n{second}", rule("r1", ""))).is_ok());
}

#[test]
fn internal_field_can_never_be_listed() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace("\"amount\"", "\"case_notes\"");
    let kind = fails(
        &text,
        16,
        "field admin_penalty.case_notes is internal and can never be released",
    );
    assert!(matches!(kind, PolicyErrorKind::InternalField { .. }));
}

#[test]
fn restricted_field_needs_authorization() {
    let text = format!("{HEAD}{}", rule("r1", ""))
        .replace("\"amount\"", "\"offender_id_number\"")
        .replace("\"required\"", "\"not_required\"");
    let kind = fails(
        &text,
        16,
        "field admin_penalty.offender_id_number is restricted",
    );
    assert!(matches!(
        kind,
        PolicyErrorKind::RestrictedWithoutAuthorization { .. }
    ));
    // With authorization required, the same field loads.
    let ok = format!("{HEAD}{}", rule("r1", "")).replace("\"amount\"", "\"offender_id_number\"");
    assert!(load(&ok).is_ok());
}

#[test]
fn all_shareable_expands_by_class() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace(
        "fields = [\"decision_number\", \"amount\"]",
        "fields = \"all_shareable\"",
    );
    let p = load(&text).unwrap();
    let fields = &p.rule("r1").unwrap().releases()["admin_penalty"];
    assert!(
        fields.contains("offender_id_number"),
        "restricted, authorization required"
    );
    assert!(fields.contains("data_source"));
    assert!(!fields.contains("case_notes") && !fields.contains("officer_phone"));
    let no_auth = text.replace("\"required\"", "\"not_required\"");
    let p = load(&no_auth).unwrap();
    let fields = &p.rule("r1").unwrap().releases()["admin_penalty"];
    assert!(!fields.contains("offender_id_number"));
    assert!(fields.contains("decision_number"));
    // Any other keyword is refused.
    let bad = text.replace("\"all_shareable\"", "\"everything\"");
    fails(
        &bad,
        16,
        "expected a list of field codes or \"all_shareable\"",
    );
}

#[test]
fn legal_bases_need_required_authorization() {
    let text = format!(
        "{HEAD}{}",
        rule("r1", "legal_bases = [\"joint-punishment-memorandum\"]")
    )
    .replace("\"required\"", "\"not_required\"");
    let kind = fails(&text, 13, "legal_bases are only meaningful");
    assert!(matches!(
        kind,
        PolicyErrorKind::LegalBasesWithoutAuthorization(_)
    ));
}

#[test]
fn owner_and_empty_peers() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace(
        "{ group = \"pan-pearl-river\" }",
        "{ regions = [\"500000\", \"520000\"] }",
    );
    let kind = fails(&text, 8, "region 520000 is the policy owner");
    assert!(matches!(kind, PolicyErrorKind::OwnerAsPeer { .. }));
    let text = format!("{HEAD}{}", rule("r1", ""))
        .replace("{ group = \"pan-pearl-river\" }", "{ national = false }");
    let kind = fails(
        &text,
        8,
        "peers must name a group, regions, or national = true",
    );
    assert!(matches!(kind, PolicyErrorKind::NoPeers(_)));
    let text = format!("{HEAD}{}", rule("r1", "")).replace(
        "{ group = \"pan-pearl-river\" }",
        "{ regions = [\"500000\", \"500000\"] }",
    );
    fails(&text, 8, "region 500000 listed twice");
    let text = format!("{HEAD}{}", rule("r1", "")).replace(
        "{ group = \"pan-pearl-river\" }",
        "{ regions = [\"5000\"] }",
    );
    fails(&text, 8, "region code \"5000\" is not six digits");
}

#[test]
fn purposes_rules() {
    let text = format!("{HEAD}{}", rule("r1", "")).replace("[\"public_procurement\"]", "[]");
    fails(&text, 9, "purposes must not be empty");
    let text = format!("{HEAD}{}", rule("r1", "")).replace(
        "[\"public_procurement\"]",
        "[\"supervision\", \"supervision\"]",
    );
    fails(&text, 9, "purpose supervision listed twice");
    let text = format!("{HEAD}{}", rule("r1", ""))
        .replace("[\"public_procurement\"]", "[\"upward_reporting\"]");
    let kind = fails(
        &text,
        9,
        "upward_reporting is only for the national platform",
    );
    assert!(matches!(kind, PolicyErrorKind::UpwardReportingToRegion(_)));
    let national = text.replace("{ group = \"pan-pearl-river\" }", "{ national = true }");
    assert!(load(&national).is_ok());
}

#[test]
fn release_rules() {
    let text = format!("{HEAD}{}", rule("r1", "quota = { per_day = 0 }"));
    fails(&text, 13, "quota per_day must be at least 1");
    let no_release = format!("{HEAD}{}", rule("r1", "")).replace(
        "[[rule.release]]\ncategory = \"admin_penalty\"\nfields = [\"decision_number\", \"amount\"]\n",
        "",
    );
    fails(&no_release, 7, "needs at least one [[rule.release]]");
    let twice = format!(
        "{HEAD}{}[[rule.release]]\ncategory = \"admin_penalty\"\nfields = [\"basis\"]\n",
        rule("r1", "")
    );
    fails(&twice, 18, "category \"admin_penalty\" released twice");
    let dup_field =
        format!("{HEAD}{}", rule("r1", "")).replace("\"amount\"", "\"decision_number\"");
    fails(
        &dup_field,
        16,
        "field admin_penalty.decision_number listed twice",
    );
    let empty =
        format!("{HEAD}{}", rule("r1", "")).replace("[\"decision_number\", \"amount\"]", "[]");
    fails(&empty, 16, "release of \"admin_penalty\" has no fields");
}

#[test]
fn identifier_rules() {
    let text = format!("{HEAD}{}", rule("Rule One", ""));
    fails(&text, 7, "rule id \"Rule One\" must be");
    let text = format!(
        "{HEAD}[[legal_basis]]\ncode = \"joint-punishment-memorandum\"\ntitle = \"again\"\n{}",
        rule("r1", "")
    );
    fails(
        &text,
        7,
        "legal basis \"joint-punishment-memorandum\" is defined twice",
    );
    let text = format!("{HEAD}{}", rule("r1", ""))
        .replace("title = \"联合惩戒合作备忘录\"", "title = \"\"");
    fails(&text, 3, "title non-empty");
    let text = format!("{}{}", HEAD.replace("520000", "52000X"), rule("r1", ""));
    fails(&text, 1, "region code \"52000X\" is not six digits");
}

#[test]
fn unreadable_file() {
    let e = PolicySet::load_file(
        "/nonexistent/policy.toml",
        &Catalogue::base(),
        &AgreementGroups::builtin(),
    )
    .unwrap_err();
    assert!(matches!(e.kind, PolicyErrorKind::Read(_)));
    assert!(
        e.to_string()
            .starts_with("/nonexistent/policy.toml: cannot read policy")
    );
}

// Canonical hash.

#[test]
fn hash_ignores_order_format_and_comments() {
    let a = format!(
        "{HEAD}{}\n{}",
        rule("r1", "quota = { per_day = 100 }"),
        rule("r2", "").replace("public_procurement", "supervision")
    );
    let b = "\
# Same policy: rules, keys, lists and tables in another order, other layout.
owner   =   \"520000\"

[[rule]]
subject_authorization = \"required\"
id = \"r2\"
valid_until = 2027-12-31            # TOML date instead of a string
valid_from = 2025-01-01
purposes = [ \"supervision\" ]
peers = { group = \"pan-pearl-river\" }
  [[rule.release]]
  fields = [ \"amount\", \"decision_number\" ]
  category = \"admin_penalty\"

[[legal_basis]]
title = \"联合惩戒合作备忘录\"
code = \"joint-punishment-memorandum\"

[[rule]]
id = \"r1\"
quota = { per_day = 100 }
peers = { group = \"pan-pearl-river\" }
purposes = [\"public_procurement\"]
valid_from = \"2025-01-01\"
valid_until = \"2027-12-31\"
subject_authorization = \"required\"
  [[rule.release]]
  category = \"admin_penalty\"
  fields = [\"amount\", \"decision_number\"]
";
    let pa = load(&a).unwrap();
    let pb = load(b).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(pa.policy_hash(), pb.policy_hash());
    assert_eq!(pa.policy_hash_hex().len(), 64);

    // One field changed → different hash.
    let c = a.replacen("\"amount\"", "\"basis\"", 1);
    assert_ne!(pa.policy_hash(), load(&c).unwrap().policy_hash());
    // A quota changed → different hash.
    let d = a.replace("per_day = 100", "per_day = 101");
    assert_ne!(pa.policy_hash(), load(&d).unwrap().policy_hash());
    // `all_shareable` hashes as its expansion.
    let explicit = a.replace("\"amount\"]", "\"amount\", \"basis\"]");
    assert_ne!(pa.policy_hash(), load(&explicit).unwrap().policy_hash());
}

#[test]
fn hash_covers_catalogue_and_group_membership() {
    let text = format!("{HEAD}{}", rule("r1", ""));
    let base = load(&text).unwrap();
    let supplemented = Catalogue::base()
        .with_supplement(common::GUIZHOU_SUPPLEMENT, "gz.toml")
        .unwrap();
    let with_supplement =
        PolicySet::parse(&text, ORIGIN, &supplemented, &AgreementGroups::builtin()).unwrap();
    assert_ne!(base.policy_hash(), with_supplement.policy_hash());
    let groups = AgreementGroups::parse(
        &common::GROUPS.replace("\"530000\"]", "\"530000\", \"540000\"]"),
        "groups.toml",
    )
    .unwrap();
    let wider = PolicySet::parse(&text, ORIGIN, &Catalogue::base(), &groups).unwrap();
    assert_ne!(base.policy_hash(), wider.policy_hash());
}
