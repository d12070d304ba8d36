//! The shipped example files load, and three regions' policies differ so
//! the same request is granted by one peer and denied by another.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;

use common::{CHONGQING, GROUPS, GUANGDONG, GUIZHOU, authority, cst, policy, region, strings};
use credex_policies::{
    AccessRequest, AgreementGroups, AuthorizationScope, Catalogue, Outcome, PolicySet, Purpose,
    QuotaUsage, ReasonCode, SubjectKind, evaluate,
};
use time::Duration;

fn examples_dir() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/examples"))
}

#[test]
fn every_example_file_loads() {
    let groups = AgreementGroups::load_file(examples_dir().join("groups.toml")).unwrap();
    assert_eq!(groups, AgreementGroups::builtin());
    assert_eq!(
        AgreementGroups::parse(GROUPS, "groups.toml").unwrap(),
        AgreementGroups::builtin()
    );
    let catalogue = Catalogue::base()
        .load_supplement_file(examples_dir().join("catalogue-520000.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    let mut loaded = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("policy-") && name.ends_with(".toml") {
            for cat in [&Catalogue::base(), &catalogue] {
                let p = PolicySet::load_file(&path, cat, &groups).unwrap_or_else(|e| panic!("{e}"));
                let expected_owner = name.trim_start_matches("policy-").trim_end_matches(".toml");
                assert_eq!(p.owner().to_string(), expected_owner);
                assert!(p.origin().ends_with(&name));
                assert!(!p.rules().is_empty());
            }
            loaded += 1;
        }
    }
    assert_eq!(loaded, 3);
}

fn penalties_for_procurement() -> AccessRequest {
    AccessRequest {
        requester_region: region(520000),
        purpose: Purpose::PublicProcurement,
        subject_kind: SubjectKind::LegalPerson,
        requested: vec![(
            "admin_penalty".into(),
            strings(&[
                "decision_number",
                "decision_date",
                "amount",
                "deciding_authority",
            ]),
        )],
        subject_authorization: None,
        legal_basis: Some("joint-punishment-memorandum".into()),
    }
}

#[test]
fn same_request_granted_by_guangdong_denied_by_chongqing() {
    let now = cst(2026, 3, 2, 9, 30, 0);
    let usage = QuotaUsage::default();
    let guangdong = policy(GUANGDONG);
    let chongqing = policy(CHONGQING);
    let r = penalties_for_procurement();

    // Guangdong shares penalties with its Pan-Pearl River partner Guizhou
    // for procurement on the joint-punishment memorandum.
    let d = evaluate(&r, &guangdong, now, &usage);
    assert_eq!(d.outcome(), Outcome::Granted, "{d:?}");
    assert_eq!(d.rule_ids(), ["ppr-penalties"]);

    // Chongqing shares them with Guizhou for procurement only with the
    // subject's authorization; the memorandum is not enough.
    let d = evaluate(&r, &chongqing, now, &usage);
    assert_eq!(d.outcome(), Outcome::Denied);
    assert_eq!(d.reason(), ReasonCode::LegalBasisNotAccepted);

    // With an authorization from the subject, Chongqing grants it too.
    let mut with_auth = r.clone();
    with_auth.subject_authorization = Some(AuthorizationScope {
        grantee_region: region(520000),
        purposes: vec![Purpose::PublicProcurement],
        categories: strings(&["admin_penalty"]),
        not_before: now - Duration::hours(1),
        not_after: now + Duration::days(7),
        authority: authority("500000/portal"),
    });
    assert_eq!(
        evaluate(&with_auth, &chongqing, now, &usage).outcome(),
        Outcome::Granted
    );
    // The decisions name different policies.
    assert_ne!(guangdong.policy_hash(), chongqing.policy_hash());
}

#[test]
fn financing_request_from_chongqing_granted_by_guizhou_denied_by_guangdong() {
    let now = cst(2026, 3, 2, 9, 30, 0);
    let usage = QuotaUsage::default();
    let r = AccessRequest {
        requester_region: region(500000),
        purpose: Purpose::Financing,
        subject_kind: SubjectKind::LegalPerson,
        requested: vec![
            (
                "tax_credit_rating".into(),
                strings(&["year", "grade", "score"]),
            ),
            (
                "public_credit_evaluation".into(),
                strings(&["grade", "score"]),
            ),
        ],
        subject_authorization: Some(AuthorizationScope {
            grantee_region: region(500000),
            purposes: vec![Purpose::Financing],
            categories: strings(&["tax_credit_rating", "public_credit_evaluation"]),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(89),
            authority: authority("000000/portal"),
        }),
        legal_basis: None,
    };
    let d = evaluate(&r, &policy(GUIZHOU), now, &usage);
    assert_eq!(d.outcome(), Outcome::Granted, "{d:?}");
    assert_eq!(d.rule_ids(), ["cg-financing"]);
    // Chongqing is not a Pan-Pearl River member.
    let d = evaluate(&r, &policy(GUANGDONG), now, &usage);
    assert_eq!(
        (d.outcome(), d.reason()),
        (Outcome::Denied, ReasonCode::PolicyDenied)
    );
    // Guizhou withholds the scores without the subject's authorization.
    let mut no_auth = r.clone();
    no_auth.subject_authorization = None;
    let d = evaluate(&no_auth, &policy(GUIZHOU), now, &usage);
    assert_eq!(d.reason(), ReasonCode::NoAuthorizationNoLegalBasis);
}

#[test]
fn guizhou_reports_upward_without_restricted_or_internal_fields() {
    let p = policy(GUIZHOU);
    let upward = p.rule("national-upward").unwrap();
    assert!(upward.peers().national());
    let catalogue = p.catalogue();
    for (category, fields) in upward.releases() {
        for field in fields {
            let class = catalogue.field(category, field).unwrap().class;
            assert!(
                class < credex_policies::SensitivityClass::Restricted,
                "{category}.{field} is {class}"
            );
        }
    }
    let r = AccessRequest {
        requester_region: credex_protocol::RegionCode::NATIONAL,
        purpose: Purpose::UpwardReporting,
        subject_kind: SubjectKind::NaturalPerson,
        requested: vec![(
            "admin_penalty".into(),
            strings(&["decision_number", "offender_id_number", "case_notes"]),
        )],
        subject_authorization: None,
        legal_basis: None,
    };
    let d = evaluate(&r, &p, cst(2026, 1, 5, 12, 0, 0), &QuotaUsage::default());
    assert_eq!(d.outcome(), Outcome::Trimmed);
    assert_eq!(
        d.permitted(),
        [("admin_penalty".to_owned(), strings(&["decision_number"]))]
    );
}
