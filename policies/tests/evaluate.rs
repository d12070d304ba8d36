//! Policy evaluation: granted, trimmed, each reason code, authorization and
//! quota edges, projection.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{cst, policy, region, strings};
use credex_policies::{
    AccessRequest, AuthorizationScope, FieldValue, Outcome, PolicySet, Purpose, QuotaUsage,
    ReasonCode, Record, ReleaseDecision, SubjectKind, evaluate,
};
use time::{Duration, OffsetDateTime};

const POLICY: &str = r#"
owner = "520000"

[[legal_basis]]
code = "joint-punishment-memorandum"
title = "关于对失信被执行人实施联合惩戒的合作备忘录"

[[legal_basis]]
code = "gov-info-disclosure-regulation"
title = "中华人民共和国政府信息公开条例"

[[rule]]
id = "penalties-legal-basis"
peers = { regions = ["440000", "500000"] }
purposes = ["public_procurement"]
valid_from = "2025-01-01"
valid_until = "2026-12-31"
subject_authorization = "required"
legal_bases = ["joint-punishment-memorandum"]
quota = { per_day = 100 }
[[rule.release]]
category = "admin_penalty"
fields = ["decision_number", "decision_date", "amount", "deciding_authority", "offender_id_number"]
[[rule.release]]
category = "serious_dishonesty"
fields = ["list_type", "entry_date"]

[[rule]]
id = "financing-authorized"
peers = { regions = ["500000"] }
purposes = ["financing"]
valid_from = "2025-01-01"
subject_authorization = "required"
[[rule.release]]
category = "tax_credit_rating"
fields = ["grade", "score"]
[[rule.release]]
category = "public_credit_evaluation"
fields = ["grade"]

[[rule]]
id = "approval-open"
peers = { regions = ["500000"] }
purposes = ["administrative_approval"]
valid_from = "2025-01-01"
subject_authorization = "not_required"
[[rule.release]]
category = "registration"
fields = ["name", "status", "contact_phone"]
[[rule.release]]
category = "admin_license"
fields = ["decision_number"]

[[rule]]
id = "supervision-from-2030"
peers = { regions = ["440000"] }
purposes = ["supervision"]
valid_from = "2030-01-01"
subject_authorization = "not_required"
[[rule.release]]
category = "admin_penalty"
fields = ["decision_number"]
"#;

fn now() -> OffsetDateTime {
    cst(2026, 5, 20, 10, 0, 0)
}

fn request(from: u32, purpose: Purpose, requested: &[(&str, &[&str])]) -> AccessRequest {
    AccessRequest {
        requester_region: region(from),
        purpose,
        subject_kind: SubjectKind::LegalPerson,
        requested: requested
            .iter()
            .map(|(c, fs)| ((*c).to_owned(), strings(fs)))
            .collect(),
        subject_authorization: None,
        legal_basis: None,
    }
}

fn authorization(grantee: u32, purposes: &[Purpose], categories: &[&str]) -> AuthorizationScope {
    AuthorizationScope {
        grantee_region: region(grantee),
        purposes: purposes.to_vec(),
        categories: strings(categories),
        not_before: now() - Duration::days(30),
        not_after: now() + Duration::days(30),
        authority: common::authority("000000/portal"),
    }
}

fn decide(p: &PolicySet, r: &AccessRequest) -> ReleaseDecision {
    evaluate(r, p, now(), &QuotaUsage::default())
}

fn pairs(items: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    items
        .iter()
        .map(|(c, fs)| ((*c).to_owned(), strings(fs)))
        .collect()
}

#[test]
fn granted_exactly_what_was_asked() {
    let p = policy(POLICY);
    let r = request(
        500000,
        Purpose::AdministrativeApproval,
        &[("registration", &["status", "name"])],
    );
    let d = decide(&p, &r);
    assert_eq!(d.outcome(), Outcome::Granted);
    assert_eq!(d.reason(), ReasonCode::Granted);
    assert_eq!(
        d.permitted(),
        pairs(&[("registration", &["name", "status"])])
    );
    assert!(d.withheld().is_empty() && d.withheld_detail().is_empty());
    assert_eq!(d.rule_ids(), ["approval-open"]);
    assert_eq!(d.policy_hash(), p.policy_hash());
}

#[test]
fn trimmed_lists_what_is_withheld() {
    let p = policy(POLICY);
    let r = request(
        500000,
        Purpose::AdministrativeApproval,
        &[
            (
                "registration",
                &["name", "registrar_notes", "contact_phone"],
            ),
            ("admin_license", &["decision_number", "licence_name"]),
        ],
    );
    let d = decide(&p, &r);
    assert_eq!(d.outcome(), Outcome::Trimmed);
    assert_eq!(d.reason(), ReasonCode::Trimmed);
    assert_eq!(
        d.permitted(),
        pairs(&[
            ("admin_license", &["decision_number"]),
            ("registration", &["contact_phone", "name"]),
        ])
    );
    assert_eq!(
        d.withheld(),
        pairs(&[
            ("admin_license", &["licence_name"]),
            ("registration", &["registrar_notes"]),
        ])
    );
    // The internal field is withheld as policy-denied, like an unshared one.
    assert!(
        d.withheld_detail()
            .iter()
            .all(|w| w.reason == ReasonCode::PolicyDenied)
    );
}

#[test]
fn policy_denied_for_an_unknown_peer_or_purpose() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            350000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name"])],
        ),
    );
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::PolicyDenied)
    );
    assert!(d.permitted().is_empty());
    let d = decide(
        &p,
        &request(
            500000,
            Purpose::JointPunishment,
            &[("registration", &["name"])],
        ),
    );
    assert_eq!(d.reason(), ReasonCode::PolicyDenied);
}

#[test]
fn no_authorization_no_legal_basis() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            440000,
            Purpose::PublicProcurement,
            &[("admin_penalty", &["decision_number"])],
        ),
    );
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::NoAuthorizationNoLegalBasis)
    );
}

#[test]
fn accepted_legal_basis_releases_all_but_restricted_fields() {
    let p = policy(POLICY);
    let mut r = request(
        440000,
        Purpose::PublicProcurement,
        &[(
            "admin_penalty",
            &["decision_number", "amount", "offender_id_number"],
        )],
    );
    r.legal_basis = Some("joint-punishment-memorandum".into());
    let d = decide(&p, &r);
    assert_eq!(d.outcome(), Outcome::Trimmed);
    assert_eq!(
        d.permitted(),
        pairs(&[("admin_penalty", &["amount", "decision_number"])])
    );
    assert_eq!(d.withheld_detail().len(), 1);
    assert_eq!(d.withheld_detail()[0].field, "offender_id_number");
    assert_eq!(
        d.withheld_detail()[0].reason,
        ReasonCode::LegalBasisNotAccepted
    );
    // With the subject's authorization the restricted field is released too.
    r.subject_authorization = Some(authorization(
        440000,
        &[Purpose::PublicProcurement],
        &["admin_penalty"],
    ));
    let d = decide(&p, &r);
    assert_eq!(d.outcome(), Outcome::Granted);
}

#[test]
fn legal_basis_not_accepted() {
    let p = policy(POLICY);
    let mut r = request(
        440000,
        Purpose::PublicProcurement,
        &[("admin_penalty", &["decision_number"])],
    );
    // Defined in the policy, but not accepted by this rule.
    r.legal_basis = Some("gov-info-disclosure-regulation".into());
    let d = decide(&p, &r);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::LegalBasisNotAccepted)
    );
}

#[test]
fn authorization_out_of_scope_denies_or_trims() {
    let p = policy(POLICY);
    let asked: &[(&str, &[&str])] = &[
        ("tax_credit_rating", &["grade", "score"]),
        ("public_credit_evaluation", &["grade"]),
    ];
    // Granted to another region: nothing is covered.
    let mut r = request(500000, Purpose::Financing, asked);
    r.subject_authorization = Some(authorization(
        440000,
        &[Purpose::Financing],
        &["tax_credit_rating", "public_credit_evaluation"],
    ));
    let d = decide(&p, &r);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::AuthorizationOutOfScope)
    );
    // For another purpose: nothing is covered.
    r.subject_authorization = Some(authorization(
        500000,
        &[Purpose::AdministrativeApproval],
        &["tax_credit_rating", "public_credit_evaluation"],
    ));
    assert_eq!(decide(&p, &r).reason(), ReasonCode::AuthorizationOutOfScope);
    // Covering one category of two: that one is released, the other is
    // withheld as out of scope, and the request is trimmed, not denied.
    r.subject_authorization = Some(authorization(
        500000,
        &[Purpose::Financing],
        &["tax_credit_rating"],
    ));
    let d = decide(&p, &r);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Trimmed, ReasonCode::Trimmed)
    );
    assert_eq!(
        d.permitted(),
        pairs(&[("tax_credit_rating", &["grade", "score"])])
    );
    assert_eq!(
        d.withheld(),
        pairs(&[("public_credit_evaluation", &["grade"])])
    );
    assert_eq!(
        d.withheld_detail()[0].reason,
        ReasonCode::AuthorizationOutOfScope
    );
    assert_eq!(d.rule_ids(), ["financing-authorized"]);
}

#[test]
fn authorization_expired_at_now() {
    let p = policy(POLICY);
    let mut r = request(
        500000,
        Purpose::Financing,
        &[("tax_credit_rating", &["grade"])],
    );
    let mut a = authorization(500000, &[Purpose::Financing], &["tax_credit_rating"]);
    a.not_after = now() - Duration::seconds(1);
    r.subject_authorization = Some(a.clone());
    let d = decide(&p, &r);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::AuthorizationExpired)
    );
    // The window is inclusive at both ends.
    a.not_after = now();
    r.subject_authorization = Some(a.clone());
    assert_eq!(decide(&p, &r).outcome(), Outcome::Granted);
    a.not_before = now();
    r.subject_authorization = Some(a.clone());
    assert_eq!(decide(&p, &r).outcome(), Outcome::Granted);
    // Not yet valid counts as outside the window.
    a.not_before = now() + Duration::seconds(1);
    a.not_after = now() + Duration::days(1);
    r.subject_authorization = Some(a);
    assert_eq!(decide(&p, &r).reason(), ReasonCode::AuthorizationExpired);
}

#[test]
fn quota_exceeded() {
    let p = policy(POLICY);
    let mut r = request(
        440000,
        Purpose::PublicProcurement,
        &[("admin_penalty", &["decision_number"])],
    );
    r.legal_basis = Some("joint-punishment-memorandum".into());
    let used = |n| {
        evaluate(
            &r,
            &p,
            now(),
            &QuotaUsage {
                requests_in_window: n,
            },
        )
    };
    assert_eq!(used(99).outcome(), Outcome::Granted);
    let d = used(100);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::QuotaExceeded)
    );
    // A rule without quota is unaffected.
    let r2 = request(
        500000,
        Purpose::AdministrativeApproval,
        &[("registration", &["name"])],
    );
    let d = evaluate(
        &r2,
        &p,
        now(),
        &QuotaUsage {
            requests_in_window: u64::MAX,
        },
    );
    assert_eq!(d.outcome(), Outcome::Granted);
}

#[test]
fn quota_window_is_the_china_standard_time_day() {
    // 2026-05-20 23:30 CST and 2026-05-21 00:30 CST are different windows,
    // although both fall on 2026-05-20 in UTC.
    let a = QuotaUsage::window(cst(2026, 5, 20, 23, 30, 0)).unwrap();
    let b = QuotaUsage::window(cst(2026, 5, 21, 0, 30, 0)).unwrap();
    assert_ne!(a, b);
    assert_eq!(b.day(), 21);
}

#[test]
fn unknown_category_or_field() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            500000,
            Purpose::AdministrativeApproval,
            &[("no_such_category", &["x"])],
        ),
    );
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::UnknownCategoryOrField)
    );
    let d = decide(
        &p,
        &request(
            500000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name", "shoe_size"])],
        ),
    );
    assert_eq!(d.outcome(), Outcome::Trimmed);
    assert_eq!(
        d.withheld_detail()[0].reason,
        ReasonCode::UnknownCategoryOrField
    );
}

#[test]
fn subject_kind_mismatch() {
    let p = policy(POLICY);
    let mut r = request(
        500000,
        Purpose::Financing,
        &[("tax_credit_rating", &["grade"])],
    );
    r.subject_kind = SubjectKind::NaturalPerson;
    r.subject_authorization = Some(authorization(
        500000,
        &[Purpose::Financing],
        &["tax_credit_rating"],
    ));
    let d = decide(&p, &r);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::SubjectKindMismatch)
    );
}

#[test]
fn rule_not_in_force() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            440000,
            Purpose::Supervision,
            &[("admin_penalty", &["decision_number"])],
        ),
    );
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::RuleNotInForce)
    );
    // valid_until is inclusive through 23:59:59 China Standard Time.
    let mut r = request(
        440000,
        Purpose::PublicProcurement,
        &[("admin_penalty", &["decision_number"])],
    );
    r.legal_basis = Some("joint-punishment-memorandum".into());
    let last = evaluate(
        &r,
        &p,
        cst(2026, 12, 31, 23, 59, 59),
        &QuotaUsage::default(),
    );
    assert_eq!(last.outcome(), Outcome::Granted);
    let after = evaluate(&r, &p, cst(2027, 1, 1, 0, 0, 0), &QuotaUsage::default());
    assert_eq!(after.reason(), ReasonCode::RuleNotInForce);
}

#[test]
fn empty_request() {
    let p = policy(POLICY);
    for asked in [&[][..], &[("registration", &[][..])][..]] {
        let d = decide(&p, &request(500000, Purpose::AdministrativeApproval, asked));
        assert_eq!(
            (d.outcome(), d.reason()),
            (Outcome::Denied, ReasonCode::EmptyRequest)
        );
    }
}

#[test]
fn duplicates_in_a_request_are_merged() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            500000,
            Purpose::AdministrativeApproval,
            &[
                ("registration", &["name", "name"]),
                ("registration", &["status"]),
            ],
        ),
    );
    assert_eq!(d.outcome(), Outcome::Granted);
    assert_eq!(
        d.permitted(),
        pairs(&[("registration", &["name", "status"])])
    );
}

#[test]
fn denied_reports_the_furthest_reason() {
    let p = policy(POLICY);
    // One field no rule releases, one that needs an authorization: the
    // requester learns what is missing for the closer one.
    let d = decide(
        &p,
        &request(
            440000,
            Purpose::PublicProcurement,
            &[("admin_penalty", &["decision_number", "facts"])],
        ),
    );
    assert_eq!(d.reason(), ReasonCode::NoAuthorizationNoLegalBasis);
    assert_eq!(d.withheld_detail().len(), 2);
}

#[test]
fn every_reason_code_is_reachable() {
    let p = policy(POLICY);
    let mut seen = BTreeSet::new();
    let mut run = |r: AccessRequest, usage: u64| {
        seen.insert(
            evaluate(
                &r,
                &p,
                now(),
                &QuotaUsage {
                    requests_in_window: usage,
                },
            )
            .reason(),
        );
    };
    run(
        request(
            500000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name"])],
        ),
        0,
    );
    run(
        request(
            500000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name", "address"])],
        ),
        0,
    );
    run(
        request(
            350000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name"])],
        ),
        0,
    );
    run(
        request(
            440000,
            Purpose::PublicProcurement,
            &[("admin_penalty", &["amount"])],
        ),
        0,
    );
    let mut r = request(
        500000,
        Purpose::Financing,
        &[("tax_credit_rating", &["grade"])],
    );
    r.subject_authorization = Some(authorization(
        440000,
        &[Purpose::Financing],
        &["tax_credit_rating"],
    ));
    run(r.clone(), 0);
    let mut a = authorization(500000, &[Purpose::Financing], &["tax_credit_rating"]);
    a.authority = common::authority("440000/portal");
    r.subject_authorization = Some(a);
    run(r.clone(), 0);
    let mut a = authorization(500000, &[Purpose::Financing], &["tax_credit_rating"]);
    a.not_after = now() - Duration::days(1);
    r.subject_authorization = Some(a);
    run(r, 0);
    let mut r = request(
        440000,
        Purpose::PublicProcurement,
        &[("admin_penalty", &["amount"])],
    );
    r.legal_basis = Some("not-a-basis".into());
    run(r.clone(), 0);
    r.legal_basis = Some("joint-punishment-memorandum".into());
    run(r, 100);
    run(
        request(500000, Purpose::AdministrativeApproval, &[("nope", &["x"])]),
        0,
    );
    let mut r = request(
        500000,
        Purpose::Financing,
        &[("tax_credit_rating", &["grade"])],
    );
    r.subject_kind = SubjectKind::NaturalPerson;
    run(r, 0);
    run(
        request(
            440000,
            Purpose::Supervision,
            &[("admin_penalty", &["decision_number"])],
        ),
        0,
    );
    run(request(500000, Purpose::AdministrativeApproval, &[]), 0);
    assert_eq!(seen, ReasonCode::ALL.into_iter().collect::<BTreeSet<_>>());
}

#[test]
fn project_keeps_only_permitted_fields() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            500000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name", "registrar_notes"])],
        ),
    );
    let record = Record {
        category: "registration".into(),
        fields: BTreeMap::from([
            (
                "name".into(),
                FieldValue::Text("贵州某某科技有限公司".into()),
            ),
            ("status".into(), FieldValue::Code("存续".into())),
            (
                "registrar_notes".into(),
                FieldValue::Text("内部备注".into()),
            ),
            (
                "contact_phone".into(),
                FieldValue::Text("0851-00000000".into()),
            ),
        ]),
    };
    let out = d.project(&record);
    // `status` and `contact_phone` are permitted by the policy but were not
    // requested, so they are not released either.
    assert_eq!(out.fields.keys().collect::<Vec<_>>(), ["name"]);
    assert!(d.is_permitted("registration", "name"));
    assert!(!d.is_permitted("registration", "registrar_notes"));
    // A record of another category loses every field.
    let other = Record {
        category: "admin_license".into(),
        fields: BTreeMap::from([("decision_number".into(), FieldValue::Text("x".into()))]),
    };
    assert!(d.project(&other).fields.is_empty());
}

#[test]
fn decisions_serialize_reason_codes_as_numbers() {
    let p = policy(POLICY);
    let d = decide(
        &p,
        &request(
            350000,
            Purpose::AdministrativeApproval,
            &[("registration", &["name"])],
        ),
    );
    // Any serde format will do; TOML cannot hold the top-level tuple lists,
    // so check through the reason's own impl.
    let v = toml::Value::try_from(std::collections::BTreeMap::from([("r", d.reason())])).unwrap();
    assert_eq!(v["r"].as_integer(), Some(18));
}

/// Consent counts only from the authorities a rule's `consent_from` names:
/// by default the data owner's own and the national platform's; a named
/// third-region authority only where the policy names it (issue 13 §1).
#[test]
fn consent_counts_only_from_the_authorities_the_rule_accepts() {
    let financing = |authority: &str| {
        let mut r = request(
            500000,
            Purpose::Financing,
            &[("tax_credit_rating", &["grade", "score"])],
        );
        let mut a = authorization(500000, &[Purpose::Financing], &["tax_credit_rating"]);
        a.authority = common::authority(authority);
        r.subject_authorization = Some(a);
        r
    };
    let default = policy(POLICY);
    for accepted in ["520000/portal", "000000/portal"] {
        let d = decide(&default, &financing(accepted));
        assert_eq!(d.outcome(), Outcome::Granted, "{accepted}: {d:?}");
    }
    // A third region's portal, and the requesting region's own (which pki
    // refuses first anyway): not by default.
    for refused in ["440000/gd-portal", "500000/portal"] {
        let d = decide(&default, &financing(refused));
        assert_eq!(d.outcome(), Outcome::Denied, "{refused}");
        assert_eq!(d.reason(), ReasonCode::ConsentAuthorityNotAccepted);
    }

    // Named: only Guangdong's portal, not the owner's any more.
    let named = policy(&POLICY.replace(
        "purposes = [\"financing\"]\nvalid_from = \"2025-01-01\"\nsubject_authorization = \"required\"",
        "purposes = [\"financing\"]\nvalid_from = \"2025-01-01\"\nsubject_authorization = \"required\"\nconsent_from = [\"440000/gd-portal\"]",
    ));
    assert_ne!(named.policy_hash(), default.policy_hash());
    assert_eq!(
        decide(&named, &financing("440000/gd-portal")).outcome(),
        Outcome::Granted
    );
    for refused in ["440000/other", "520000/portal", "000000/portal"] {
        let d = decide(&named, &financing(refused));
        assert_eq!(
            d.reason(),
            ReasonCode::ConsentAuthorityNotAccepted,
            "{refused}"
        );
    }
}

/// What the loader refuses in `consent_from`, each with its line.
#[test]
fn consent_from_mistakes_are_refused_with_their_line() {
    let with = |line: &str| {
        POLICY.replace(
            "purposes = [\"financing\"]\nvalid_from = \"2025-01-01\"\nsubject_authorization = \"required\"",
            &format!("purposes = [\"financing\"]\nvalid_from = \"2025-01-01\"\nsubject_authorization = \"required\"\n{line}"),
        )
    };
    let load = |text: &str| {
        PolicySet::parse(
            text,
            "policy.toml",
            &credex_policies::Catalogue::base(),
            &credex_policies::AgreementGroups::builtin(),
        )
        .unwrap_err()
        .to_string()
    };
    for (line, expected) in [
        ("consent_from = []", "must name at least one source"),
        ("consent_from = [\"portal\"]", "is not a consent source"),
        ("consent_from = [\"owner\", \"owner\"]", "listed twice"),
        ("consent_from = [\"500000/portal\"]", "a peer of this rule"),
    ] {
        let message = load(&with(line));
        assert!(message.contains(expected), "{line}: {message}");
        assert!(message.starts_with("policy.toml:34:"), "{line}: {message}");
    }
    let on_open_rule = POLICY.replace(
        "purposes = [\"administrative_approval\"]\nvalid_from = \"2025-01-01\"\nsubject_authorization = \"not_required\"",
        "purposes = [\"administrative_approval\"]\nvalid_from = \"2025-01-01\"\nsubject_authorization = \"not_required\"\nconsent_from = [\"owner\"]",
    );
    assert!(load(&on_open_rule).contains("only meaningful with subject_authorization"));
}
