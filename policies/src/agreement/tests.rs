//! Tests of agreement loading and recognition.

use super::recognise::DAY_MS;
use super::*;
use credex_protocol::NodeName;
use credex_protocol::evaluation::{AttestationStatus, EvaluationAttestation, EvaluationBoundError};

fn r(code: u32) -> RegionCode {
    RegionCode::from_u32(code).unwrap()
}

const CHONGQING: u32 = 500_000;
const GUIZHOU: u32 = 520_000;
const GUANGDONG: u32 = 440_000;
const GUANGXI: u32 = 450_000;
const BEIJING: u32 = 110_000;

/// 2026-01-01T00:00:00+08:00 in Unix ms.
const ISSUED: i64 = 1_767_196_800_000;

/// A small valid agreement that the error tests break one rule at a time.
const MINI: &str = r#"code = "mini"
name_zh = "测试协议"
name_en = "Test agreement"
members = ["500000", "520000"]

[[scheme]]
scheme = "public_credit"
versions = ["2024"]
max_age_days = 30
common_scale = ["A", "B"]

[[scheme.treatment]]
grade = "A"
supervision_tier = "A: reduced random inspections"
green_channel = true

[[scheme.treatment]]
grade = "B"
supervision_tier = "B: normal random inspections"
green_channel = false

[[scheme.member]]
region = "500000"
scale = ["甲", "乙"]
to_common = { "甲" = "A", "乙" = "B" }
to_local = { "A" = "甲", "B" = "乙" }

[[scheme.member]]
region = "520000"
scale = ["优", "良", "差"]
to_common = { "优" = "A", "良" = "B", "差" = "B" }
to_local = { "A" = "优", "B" = "良" }
"#;

fn mini_err(text: &str) -> AgreementError {
    Agreement::parse(text, "mini.toml").unwrap_err()
}

fn attestation(issuer: u32, scheme: Scheme, grade: &str) -> EvaluationAttestation {
    EvaluationAttestation {
        attestation_id: [9; 16],
        issuer_region: r(issuer),
        issuer_node: "n-1".parse::<NodeName>().unwrap(),
        scheme,
        scheme_version: match scheme {
            Scheme::PublicCredit => "2024",
            Scheme::TaxCredit => "2025",
            Scheme::EnvironmentalCredit => "2013",
        }
        .into(),
        // 华为技术有限公司: a valid unified social credit code.
        subject: "914403001922038216".into(),
        grade: grade.into(),
        period_start: "2025-01-01".into(),
        period_end: "2025-12-31".into(),
        issued_at_ms: ISSUED,
        valid_until_ms: ISSUED + 500 * DAY_MS,
        status: AttestationStatus::Active,
        supersedes: None,
    }
}

fn reason(d: RecognitionDecision) -> NotRecognisedReason {
    match d {
        RecognitionDecision::NotRecognised(r) => r,
        other => panic!("recognised: {other:?}"),
    }
}

#[test]
fn shipped_agreements_load() {
    let ppr = Agreement::parse(BUILTIN_PAN_PEARL_RIVER_TOML, "ppr").unwrap();
    assert!(ppr.example && ppr.note.is_some());
    let members: Vec<u32> = ppr.members.iter().map(|m| m.as_u32()).collect();
    assert_eq!(
        members,
        [
            350000, 360000, 430000, 440000, 450000, 460000, 510000, 520000, 530000
        ]
    );
    assert_eq!(ppr.schemes.len(), 3);
    for terms in ppr.schemes.values() {
        assert_eq!(terms.members.len(), 9, "{}", terms.scheme);
    }
    assert_eq!(
        ppr.joint.as_ref().unwrap().list_types,
        BTreeSet::from(ListType::ALL)
    );
    let cg = Agreement::parse(BUILTIN_CHONGQING_GUIZHOU_TOML, "cg").unwrap();
    assert!(cg.example);
    assert_eq!(cg.members, BTreeSet::from([r(CHONGQING), r(GUIZHOU)]));
    let set = AgreementSet::builtin();
    assert_eq!(set.iter().count(), 2);
    assert_eq!(set.agreement("pan-pearl-river"), Some(&ppr));
    // The shipped files must stay in step with the agreement groups that
    // sharing policies name.
    let groups = crate::AgreementGroups::builtin();
    for a in set.iter() {
        assert_eq!(
            groups.group(&a.code).unwrap().members,
            a.members,
            "{}",
            a.code
        );
    }
}

#[test]
fn a_mapping_table_that_is_not_total_fails_to_load() {
    // A member grade with no common grade.
    let e = mini_err(&MINI.replace(r#", "差" = "B" }"#, " }"));
    assert_eq!(
        e.kind,
        AgreementErrorKind::UnmappedMemberGrade {
            agreement: "mini".into(),
            scheme: Scheme::PublicCredit,
            member: r(GUIZHOU),
            grade: "差".into(),
        }
    );
    assert_eq!(
        e.to_string(),
        "mini.toml:31:13: agreement \"mini\", scheme public_credit, member 520000: grade \"差\" has no common grade in to_common (the mapping must be total)"
    );
    // A common grade with no local grade for a member.
    let e = mini_err(&MINI.replace(
        r#"to_local = { "A" = "甲", "B" = "乙" }"#,
        r#"to_local = { "A" = "甲" }"#,
    ));
    assert_eq!(
        e.kind,
        AgreementErrorKind::UnmappedCommonGrade {
            agreement: "mini".into(),
            scheme: Scheme::PublicCredit,
            member: r(CHONGQING),
            grade: "B".into(),
        }
    );
    assert!(e.to_string().starts_with("mini.toml:26:"), "{e}");
}

#[test]
fn every_structural_rule_is_enforced() {
    use AgreementErrorKind as K;
    let pc = Scheme::PublicCredit;
    let a = || "mini".to_owned();
    // A member without a scale.
    let text = MINI.replace(
        "members = [\"500000\", \"520000\"]",
        "members = [\"500000\", \"520000\", \"440000\"]",
    );
    assert_eq!(
        mini_err(&text).kind,
        K::MemberWithoutScale {
            agreement: a(),
            scheme: pc,
            member: r(GUANGDONG)
        }
    );
    // A scheme with no mapping.
    let head = MINI.split("[[scheme.member]]").next().unwrap();
    assert_eq!(
        mini_err(head).kind,
        K::NoMapping {
            agreement: a(),
            scheme: pc
        }
    );
    // A mapping to an unknown common grade.
    let e = mini_err(&MINI.replace(r#""乙" = "B" }"#, r#""乙" = "Z" }"#));
    assert_eq!(
        e.kind,
        K::UnknownCommonGrade {
            agreement: a(),
            scheme: pc,
            member: r(CHONGQING),
            grade: "Z".into()
        }
    );
    assert_eq!(e.location.line, Some(25));
    // A mapping from a grade that is not on the member's scale.
    let e = mini_err(&MINI.replace(r#"{ "甲" = "A", "#, r#"{ "丙" = "A", "甲" = "A", "#));
    assert!(
        matches!(e.kind, K::UnknownMemberGrade { ref grade, .. } if grade == "丙"),
        "{e}"
    );
    // Duplicate members, the national platform, fewer than two members.
    let e = mini_err(&MINI.replace(
        r#"["500000", "520000"]"#,
        r#"["500000", "520000", "500000"]"#,
    ));
    assert_eq!(
        e.kind,
        K::DuplicateMember {
            agreement: a(),
            region: r(CHONGQING)
        }
    );
    assert_eq!(e.location.line, Some(4));
    let e = mini_err(&MINI.replace(
        r#"["500000", "520000"]"#,
        r#"["500000", "520000", "000000"]"#,
    ));
    assert_eq!(e.kind, K::NationalMember(a()));
    let e = mini_err(&MINI.replace(r#"["500000", "520000"]"#, r#"["500000"]"#));
    assert_eq!(e.kind, K::TooFewMembers(a()));
    // A member table for a non-member.
    let e = mini_err(&MINI.replace("region = \"520000\"", "region = \"110000\""));
    assert_eq!(
        e.kind,
        K::NotAMember {
            agreement: a(),
            scheme: pc,
            region: r(BEIJING)
        }
    );
    // Two tables for one member.
    let e = mini_err(&MINI.replace("region = \"520000\"", "region = \"500000\""));
    assert!(matches!(e.kind, K::DuplicateMemberScale { .. }), "{e}");
    // A mapping that reverses the order.
    let e = mini_err(&MINI.replace(
        r#"{ "甲" = "A", "乙" = "B" }"#,
        r#"{ "甲" = "B", "乙" = "A" }"#,
    ));
    assert!(
        matches!(e.kind, K::NotMonotone(ref m) if m.mapping == "to_common" && m.better == "甲"),
        "{e}"
    );
    // A common grade without a treatment; a treatment for no grade.
    let e = mini_err(&MINI.replace("grade = \"B\"", "grade = \"C\""));
    assert!(
        matches!(e.kind, K::BadTreatment { ref grade, .. } if grade == "C"),
        "{e}"
    );
    let text = MINI.replacen(
        "[[scheme.treatment]]\ngrade = \"B\"",
        "[[x]]\ngrade = \"B\"",
        1,
    );
    assert!(mini_err(&text).to_string().contains("unknown field"));
    // Scheme listed twice, bad versions and ages, empty scales.
    let scheme_part = &MINI[MINI.find("[[scheme]]").unwrap()..];
    let e = mini_err(&format!("{MINI}\n{scheme_part}"));
    assert_eq!(
        e.kind,
        K::DuplicateScheme {
            agreement: a(),
            scheme: pc
        }
    );
    let e = mini_err(&MINI.replace("versions = [\"2024\"]", "versions = []"));
    assert!(matches!(e.kind, K::BadVersions { .. }));
    let e = mini_err(&MINI.replace("max_age_days = 30", "max_age_days = 0"));
    assert!(matches!(e.kind, K::BadMaxAge { days: 0, .. }));
    let e = mini_err(&MINI.replace("scale = [\"甲\", \"乙\"]", "scale = [\"甲\", \"甲\"]"));
    assert!(matches!(e.kind, K::BadMemberScale { .. }));
    // Example without a note; unknown key.
    let e = mini_err(&MINI.replace("members =", "example = true\nmembers ="));
    assert_eq!(e.kind, K::ExampleWithoutNote(a()));
    let e = mini_err(&format!("colour = \"red\"\n{MINI}"));
    assert!(e.to_string().contains("unknown field"), "{e}");
}

#[test]
fn joint_section_is_validated() {
    let joint =
        |body: &str| MINI.replacen("\n[[scheme]]", &format!("\n[joint]\n{body}\n[[scheme]]"), 1);
    let ok = "list_types = [\"red\"]\nrespond_within_days = 5\nfeedback_within_days = 10\nchange_confirm_within_days = 3\n";
    let a = Agreement::parse(&joint(ok), "mini.toml").unwrap();
    assert!(a.binds(ListType::Red) && !a.binds(ListType::KeyAttention));
    let e = mini_err(&joint(&ok.replace("[\"red\"]", "[\"red\", \"red\"]")));
    assert_eq!(e.kind, AgreementErrorKind::BadJointListTypes("mini".into()));
    let e = mini_err(&joint(&ok.replace("[\"red\"]", "[]")));
    assert_eq!(e.kind, AgreementErrorKind::BadJointListTypes("mini".into()));
    let e = mini_err(&joint(
        &ok.replace("feedback_within_days = 10", "feedback_within_days = 0"),
    ));
    assert_eq!(
        e.kind,
        AgreementErrorKind::BadJointDeadline {
            agreement: "mini".into(),
            key: "feedback_within_days"
        }
    );
}

#[test]
fn reports_section_is_validated() {
    let reports = |body: &str| {
        MINI.replacen(
            "\n[[scheme]]",
            &format!("\n[reports]\n{body}\n[[scheme]]"),
            1,
        )
    };
    let ok = "kinds = [\"general\"]\npurposes = [\"administrative_approval\"]\nmax_age_days = 30\n";
    let a = Agreement::parse(&reports(ok), "mini.toml").unwrap();
    let terms = a.reports.clone().unwrap();
    assert_eq!(terms.max_age_days, 30);
    assert!(
        terms
            .kinds
            .contains(&credex_protocol::report::ReportKind::General)
    );
    let set = AgreementSet::builtin()
        .with_text(&reports(ok), "mini.toml")
        .unwrap();
    assert_eq!(
        set.accepting_reports(
            r(500000),
            r(520000),
            credex_protocol::report::ReportKind::General,
            crate::Purpose::AdministrativeApproval
        )
        .iter()
        .map(|a| a.code.as_str())
        .collect::<Vec<_>>(),
        ["chongqing-guizhou", "mini"],
        "fewest members first, then by code"
    );
    for (bad, needle) in [
        (
            ok.replace("[\"general\"]", "[\"summary\"]"),
            "not general or no_violation",
        ),
        (
            ok.replace("[\"general\"]", "[\"general\", \"general\"]"),
            "named twice",
        ),
        (
            ok.replace("administrative_approval", "upward_reporting"),
            "not a check purpose",
        ),
        (
            ok.replace("[\"administrative_approval\"]", "[]"),
            "at least one",
        ),
        (
            ok.replace("max_age_days = 30", "max_age_days = 0"),
            "not 1 to 366",
        ),
    ] {
        let e = mini_err(&reports(&bad));
        assert!(
            matches!(&e.kind, AgreementErrorKind::BadReports { reason, .. } if reason.contains(needle)),
            "{e}"
        );
    }
    // The terms are part of the set's meaning.
    let other = reports(&ok.replace("max_age_days = 30", "max_age_days = 31"));
    assert_ne!(
        AgreementSet::builtin()
            .with_text(&reports(ok), "m.toml")
            .unwrap()
            .content_hash(),
        AgreementSet::builtin()
            .with_text(&other, "m.toml")
            .unwrap()
            .content_hash()
    );
}

#[test]
fn agreements_between_and_joint_peers() {
    let set = AgreementSet::builtin();
    let codes = |a: u32, b: u32| -> Vec<String> {
        set.agreements_between(r(a), r(b))
            .iter()
            .map(|ag| ag.code.clone())
            .collect()
    };
    assert_eq!(codes(GUIZHOU, CHONGQING), ["chongqing-guizhou"]);
    assert_eq!(codes(GUIZHOU, GUANGDONG), ["pan-pearl-river"]);
    assert!(codes(CHONGQING, GUANGDONG).is_empty());
    assert!(codes(GUIZHOU, GUIZHOU).is_empty());
    // Guizhou is in both: every other member of both for the red list…
    let red = set.joint_peers(r(GUIZHOU), ListType::Red);
    assert_eq!(red.len(), 9);
    assert!(red.contains(&r(CHONGQING)) && red.contains(&r(GUANGDONG)));
    assert!(!red.contains(&r(GUIZHOU)));
    // …but Chongqing–Guizhou does not bind the key-attention list.
    let key = set.joint_peers(r(GUIZHOU), ListType::KeyAttention);
    assert_eq!(key.len(), 8);
    assert!(!key.contains(&r(CHONGQING)));
    assert!(
        set.joint_peers(r(CHONGQING), ListType::KeyAttention)
            .is_empty()
    );
    assert!(set.joint_peers(r(BEIJING), ListType::Red).is_empty());
}

#[test]
fn real_tables_replace_an_example_but_not_a_real_agreement() {
    let set = AgreementSet::builtin();
    let real = BUILTIN_CHONGQING_GUIZHOU_TOML
        .replace("example = true", "example = false")
        .replace("max_age_days = 365", "max_age_days = 180");
    let replaced = set.with_text(&real, "cg-real.toml").unwrap();
    assert!(!replaced.agreement("chongqing-guizhou").unwrap().example);
    assert_ne!(replaced.content_hash(), set.content_hash());
    let e = replaced.with_text(&real, "again.toml").unwrap_err();
    assert_eq!(
        e.kind,
        AgreementErrorKind::DuplicateAgreement("chongqing-guizhou".into())
    );
    assert!(e.to_string().starts_with("again.toml:14:"), "{e}");
}

#[test]
fn content_hash_ignores_layout_but_not_meaning() {
    let a = AgreementSet::empty().with_text(MINI, "a").unwrap();
    let b = AgreementSet::empty()
        .with_text(&format!("# comment\n\n{MINI}"), "b")
        .unwrap();
    assert_eq!(a.content_hash(), b.content_hash());
    let c = AgreementSet::empty()
        .with_text(
            &MINI.replace("green_channel = true", "green_channel = false"),
            "c",
        )
        .unwrap();
    assert_ne!(a.content_hash(), c.content_hash());
    assert_eq!(a.content_hash_hex().len(), 64);
    assert_ne!(a.content_hash(), AgreementSet::empty().content_hash());
}

#[test]
fn guizhou_top_public_credit_grade_maps_to_chongqing_local_grade_and_treatment() {
    let set = AgreementSet::builtin();
    let att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    let now = ISSUED + 10 * DAY_MS;
    assert_eq!(
        recognise(&set, r(CHONGQING), &att, now),
        RecognitionDecision::Recognised {
            agreement: "chongqing-guizhou".into(),
            common_grade: "I".into(),
            local_grade: "A".into(),
            treatment: Treatment {
                supervision_tier: "A: reduced random inspections".into(),
                green_channel: true,
                notes: "容缺受理 for approvals in either city".into(),
            },
            // max age (365 days) ends before valid_until (500 days).
            counts_until_ms: ISSUED + 365 * DAY_MS,
        }
    );
    // Chongqing's own top grade A+ is recognised in Guizhou as 优, and A
    // (the same common grade) too; B becomes 良.
    for (grade, local) in [("A+", "优"), ("A", "优"), ("B", "良"), ("D", "差")] {
        let d = recognise(
            &set,
            r(GUIZHOU),
            &attestation(CHONGQING, Scheme::PublicCredit, grade),
            now,
        );
        assert!(
            matches!(&d, RecognitionDecision::Recognised { local_grade, .. } if local_grade == local),
            "{grade}: {d:?}"
        );
    }
    // Pan-Pearl River: Guangxi's five-level scale into Guangdong's and back.
    let d = recognise(
        &set,
        r(GUANGDONG),
        &attestation(GUANGXI, Scheme::PublicCredit, "AA"),
        now,
    );
    assert!(
        matches!(&d, RecognitionDecision::Recognised { agreement, common_grade, local_grade, .. }
        if agreement == "pan-pearl-river" && common_grade == "A" && local_grade == "A"),
        "{d:?}"
    );
    let d = recognise(
        &set,
        r(GUANGXI),
        &attestation(GUANGDONG, Scheme::PublicCredit, "A"),
        now,
    );
    assert!(
        matches!(&d, RecognitionDecision::Recognised { local_grade, .. } if local_grade == "AA"),
        "{d:?}"
    );
    // Environmental 黑 from Guizhou counts as 红 in four-level Guangdong.
    let d = recognise(
        &set,
        r(GUANGDONG),
        &attestation(GUIZHOU, Scheme::EnvironmentalCredit, "黑"),
        now,
    );
    assert!(
        matches!(&d, RecognitionDecision::Recognised { local_grade, treatment, .. }
        if local_grade == "红" && !treatment.green_channel),
        "{d:?}"
    );
}

#[test]
fn a_non_member_issuer_is_not_recognised() {
    let set = AgreementSet::builtin();
    let now = ISSUED + DAY_MS;
    let att = attestation(BEIJING, Scheme::PublicCredit, "A");
    assert_eq!(
        reason(recognise(&set, r(GUIZHOU), &att, now)),
        NotRecognisedReason::NoAgreement {
            issuer: r(BEIJING),
            receiver: r(GUIZHOU)
        }
    );
    // Members of different agreements share none.
    let att = attestation(CHONGQING, Scheme::PublicCredit, "A");
    assert!(matches!(
        reason(recognise(&set, r(GUANGDONG), &att, now)),
        NotRecognisedReason::NoAgreement { .. }
    ));
    let att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    assert_eq!(
        reason(recognise(&set, r(GUIZHOU), &att, now)),
        NotRecognisedReason::IssuerIsReceiver
    );
}

#[test]
fn expired_too_old_and_not_yet_valid_results_are_not_recognised() {
    let set = AgreementSet::builtin();
    let mut att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    // Max age 365 days from issued_at, inclusive.
    assert!(matches!(
        recognise(&set, r(CHONGQING), &att, ISSUED + 365 * DAY_MS),
        RecognitionDecision::Recognised { .. }
    ));
    assert_eq!(
        reason(recognise(
            &set,
            r(CHONGQING),
            &att,
            ISSUED + 365 * DAY_MS + 1
        )),
        NotRecognisedReason::TooOld { max_age_days: 365 }
    );
    // The issuer's validity ends first.
    att.valid_until_ms = ISSUED + 100 * DAY_MS;
    let d = recognise(&set, r(CHONGQING), &att, ISSUED + 100 * DAY_MS);
    assert!(
        matches!(d, RecognitionDecision::Recognised { counts_until_ms, .. } if counts_until_ms == ISSUED + 100 * DAY_MS)
    );
    assert_eq!(
        reason(recognise(
            &set,
            r(CHONGQING),
            &att,
            ISSUED + 100 * DAY_MS + 1
        )),
        NotRecognisedReason::Expired {
            valid_until_ms: ISSUED + 100 * DAY_MS
        }
    );
    assert_eq!(
        reason(recognise(&set, r(CHONGQING), &att, ISSUED - 1)),
        NotRecognisedReason::NotYetValid {
            issued_at_ms: ISSUED
        }
    );
}

#[test]
fn unlisted_scheme_version_unknown_grade_and_revoked_are_not_recognised() {
    let set = AgreementSet::builtin();
    let now = ISSUED + DAY_MS;
    // Chongqing–Guizhou does not recognise environmental credit.
    let att = attestation(GUIZHOU, Scheme::EnvironmentalCredit, "绿");
    assert_eq!(
        reason(recognise(&set, r(CHONGQING), &att, now)),
        NotRecognisedReason::SchemeNotRecognised(Scheme::EnvironmentalCredit)
    );
    let mut att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    att.scheme_version = "2019".into();
    assert_eq!(
        reason(recognise(&set, r(CHONGQING), &att, now)),
        NotRecognisedReason::SchemeVersionNotAccepted {
            scheme: Scheme::PublicCredit,
            version: "2019".into()
        }
    );
    // "A" is on Chongqing's scale, not on Guizhou's.
    let att = attestation(GUIZHOU, Scheme::PublicCredit, "A");
    assert_eq!(
        reason(recognise(&set, r(CHONGQING), &att, now)),
        NotRecognisedReason::UnknownGrade { grade: "A".into() }
    );
    let mut att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    att.status = AttestationStatus::Revoked {
        reason: "异议成立，评价撤销".into(),
    };
    att.supersedes = Some([8; 16]);
    let why = reason(recognise(&set, r(CHONGQING), &att, now));
    assert_eq!(why.code(), "revoked");
    assert_eq!(
        why,
        NotRecognisedReason::Revoked {
            reason: "异议成立，评价撤销".into()
        }
    );
}

#[test]
fn malformed_attestations_and_bad_subjects_are_not_recognised() {
    let set = AgreementSet::builtin();
    let mut att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    att.period_end = "2024-12-31".into();
    assert_eq!(
        reason(recognise(&set, r(CHONGQING), &att, ISSUED)),
        NotRecognisedReason::Malformed(EvaluationBoundError::PeriodReversed)
    );
    let mut att = attestation(GUIZHOU, Scheme::PublicCredit, "优");
    att.subject = "914403001922038217".into(); // wrong check digit
    assert_eq!(
        reason(recognise(&set, r(CHONGQING), &att, ISSUED)),
        NotRecognisedReason::InvalidSubject
    );
}

#[test]
fn with_several_agreements_the_most_specific_that_recognises_wins() {
    // A second, wider agreement between Chongqing and Guizhou (plus Guangdong)
    // that also recognises environmental credit.
    let wider = MINI
        .replace("code = \"mini\"", "code = \"aaa-wide\"")
        .replace(
            "[\"500000\", \"520000\"]",
            "[\"500000\", \"520000\", \"440000\"]",
        )
        .replace(
            "scheme = \"public_credit\"",
            "scheme = \"environmental_credit\"",
        )
        .replace("versions = [\"2024\"]", "versions = [\"2013\"]")
        .replace("\"优\", \"良\", \"差\"", "\"绿\", \"蓝\", \"黑\"")
        .replace(
            "{ \"优\" = \"A\", \"良\" = \"B\", \"差\" = \"B\" }",
            "{ \"绿\" = \"A\", \"蓝\" = \"B\", \"黑\" = \"B\" }",
        )
        .replace(
            "{ \"A\" = \"优\", \"B\" = \"良\" }",
            "{ \"A\" = \"绿\", \"B\" = \"蓝\" }",
        )
        + "\n[[scheme.member]]\nregion = \"440000\"\nscale = [\"绿\", \"红\"]\nto_common = { \"绿\" = \"A\", \"红\" = \"B\" }\nto_local = { \"A\" = \"绿\", \"B\" = \"红\" }\n";
    let set = AgreementSet::builtin()
        .with_text(&wider, "wide.toml")
        .unwrap();
    assert_eq!(
        set.agreements_between(r(GUIZHOU), r(CHONGQING))
            .iter()
            .map(|a| a.code.as_str())
            .collect::<Vec<_>>(),
        ["chongqing-guizhou", "aaa-wide"]
    );
    let now = ISSUED + DAY_MS;
    // Public credit: the bilateral agreement is tried first and recognises.
    let d = recognise(
        &set,
        r(CHONGQING),
        &attestation(GUIZHOU, Scheme::PublicCredit, "优"),
        now,
    );
    assert!(
        matches!(&d, RecognitionDecision::Recognised { agreement, .. } if agreement == "chongqing-guizhou"),
        "{d:?}"
    );
    // Environmental: only the wider one recognises it.
    let d = recognise(
        &set,
        r(CHONGQING),
        &attestation(GUIZHOU, Scheme::EnvironmentalCredit, "绿"),
        now,
    );
    assert!(
        matches!(&d, RecognitionDecision::Recognised { agreement, local_grade, .. }
        if agreement == "aaa-wide" && local_grade == "甲"),
        "{d:?}"
    );
    // Neither recognises it: the reason that got furthest (too old under
    // the wider one's 30 days) beats "scheme not recognised".
    let d = recognise(
        &set,
        r(CHONGQING),
        &attestation(GUIZHOU, Scheme::EnvironmentalCredit, "绿"),
        ISSUED + 31 * DAY_MS,
    );
    assert_eq!(reason(d), NotRecognisedReason::TooOld { max_age_days: 30 });
}
