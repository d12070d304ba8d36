use std::collections::BTreeMap;

use credex_protocol::lists::{EntryId, NoticeMeans, SubjectNotice};
use proptest::prelude::*;

use super::*;
use crate::catalogue::FieldValue;

const GZ: &str = "520000";
const CQ: &str = "500000";
const GD: &str = "440000";
const BJ: &str = "110000";

fn region(s: &str) -> RegionCode {
    s.parse().expect("region")
}

fn penalty() -> Record {
    let text = |s: &str| FieldValue::Text(s.into());
    Record {
        category: "admin_penalty".into(),
        fields: BTreeMap::from([
            ("decision_number".into(), text("粤市监罚〔2026〕1号")),
            ("facts".into(), text("虚假宣传")),
            ("case_notes".into(), text("内部备注：不得外传")),
            ("officer_phone".into(), text("13800000000")),
            ("offender_id_number".into(), text("restricted value")),
        ]),
    }
}

fn entry(details: &[(&str, &str)]) -> ListEntry {
    ListEntry {
        id: EntryId {
            origin: region(GZ),
            id: [7; 16],
        },
        revision: 0,
        list_type: ListKind::SeriousDishonesty,
        subject: credex_protocol::query::SubjectRef::LegalPerson("91520100MA6DK0X21X".into()),
        basis: "《失信行为纪律处分办法》第三条".into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2029-11-01".into(),
        measures: vec!["restrict_government_procurement".into()],
        notice: SubjectNotice {
            date: "2026-10-20".into(),
            means: NoticeMeans::Written,
        },
        details: details
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    }
}

fn fields(list: &[CategoryFields], category: &str) -> Vec<String> {
    list.iter()
        .find(|c| c.category == category)
        .map(|c| c.fields.clone())
        .unwrap_or_default()
}

#[test]
fn an_upward_batch_carries_only_what_the_reporting_catalogue_collects() {
    let list = ReportingList::builtin();
    let catalogue = Catalogue::base();
    let held = vec![UpwardCandidate {
        record_id: "AP-1".into(),
        subject_key: "91440101MA5CXXXX0X".into(),
        record: penalty(),
        imported_at_ms: 1,
    }];
    let (batch, body) = release_upward_batch(&list, &catalogue, 0, held).expect("release");
    assert_eq!(body.recipient(), RegionCode::NATIONAL);
    assert_eq!(body.egress().basis, EgressBasis::ReportingCatalogue);
    assert_eq!(body.egress().basis_hash, list.content_hash());
    assert_eq!(
        fields(&body.egress().withheld, "admin_penalty"),
        ["case_notes", "offender_id_number", "officer_phone"]
    );
    let sent: Record = credex_protocol::decode(&batch.records[0].body).expect("record");
    assert_eq!(
        sent.fields.keys().collect::<Vec<_>>(),
        ["decision_number", "facts"]
    );
    let carried = carried_fields(Flow::Upward, KIND_BATCH, body.payload()).expect("carried");
    assert_eq!(carried, body.egress().released);
}

#[test]
fn an_unlisted_category_is_not_reported() {
    let mut r = penalty();
    r.category = "registration".into();
    r.fields.clear();
    let err = release_upward_batch(
        &ReportingList::builtin(),
        &Catalogue::base(),
        0,
        vec![UpwardCandidate {
            record_id: "R-1".into(),
            subject_key: "k".into(),
            record: r,
            imported_at_ms: 1,
        }],
    )
    .unwrap_err();
    assert_eq!(err, EgressError::NotCollected("registration".into()));
}

#[test]
fn a_listing_carries_the_details_its_agreement_names_for_that_member() {
    let agreements = AgreementSet::builtin();
    let catalogue = Catalogue::base();
    let full = entry(&[
        ("document_number", "黔发改〔2026〕9号"),
        ("facts", "拒不履行"),
        ("responsible_person", "张三"),
        ("review_notes", "内部复核意见"),
    ]);
    // Chongqing–Guizhou names the responsible person; Pan-Pearl River does not.
    let (to_cq, body) =
        release_listing(&agreements, &catalogue, region(GZ), region(CQ), &full).expect("cq");
    assert_eq!(
        to_cq.details.keys().collect::<Vec<_>>(),
        ["document_number", "facts", "responsible_person"]
    );
    assert_eq!(
        body.egress().basis,
        EgressBasis::Agreement("chongqing-guizhou".into())
    );
    assert_eq!(
        fields(&body.egress().withheld, "serious_dishonesty"),
        ["review_notes"]
    );
    let (to_gd, body) =
        release_listing(&agreements, &catalogue, region(GZ), region(GD), &full).expect("gd");
    assert_eq!(
        to_gd.details.keys().collect::<Vec<_>>(),
        ["document_number", "facts"]
    );
    assert_eq!(
        fields(&body.egress().withheld, "serious_dishonesty"),
        ["responsible_person", "review_notes"]
    );
    let err = release_listing(&agreements, &catalogue, region(GZ), region(BJ), &full).unwrap_err();
    assert!(matches!(err, EgressError::NotBound { .. }), "{err}");
}

#[test]
fn the_auditor_re_runs_each_decision_and_gets_the_same() {
    let agreements = AgreementSet::builtin();
    let list = ReportingList::builtin();
    let catalogue = Catalogue::base();
    let full = entry(&[("facts", "x"), ("review_notes", "y")]);
    let (_, listing) =
        release_listing(&agreements, &catalogue, region(GZ), region(GD), &full).expect("gd");
    let (_, batch) = release_upward_batch(
        &list,
        &catalogue,
        3,
        vec![UpwardCandidate {
            record_id: "AP-1".into(),
            subject_key: "k".into(),
            record: penalty(),
            imported_at_ms: 1,
        }],
    )
    .expect("batch");
    let rules = EgressRules {
        agreements: agreements.clone(),
        list: list.clone(),
        catalogue: catalogue.clone(),
    };
    let route = |to, flow, kind| Route {
        from: region(GZ),
        to,
        flow,
        kind,
    };
    for (to, body) in [(region(GD), &listing), (RegionCode::NATIONAL, &batch)] {
        let again = redecide(&rules, route(to, body.flow(), body.kind()), body.egress())
            .expect("known rule")
            .expect("bound");
        assert_eq!(&again, body.egress());
    }
    // A record claiming an internal field was released does not survive
    // the re-run.
    let mut doctored = batch.egress().clone();
    doctored.released = doctored
        .released
        .iter()
        .cloned()
        .chain(doctored.withheld.drain(..))
        .collect();
    let again = redecide(
        &rules,
        route(RegionCode::NATIONAL, Flow::Upward, KIND_BATCH),
        &doctored,
    )
    .expect("known rule")
    .expect("bound");
    assert_ne!(again, doctored);
    // Another rule document: the auditor cannot re-run it, and says so.
    doctored.basis_hash = [9; 32];
    assert!(
        redecide(
            &rules,
            route(RegionCode::NATIONAL, Flow::Upward, KIND_BATCH),
            &doctored,
        )
        .is_none()
    );
}

#[test]
fn a_result_goes_only_to_members_recognising_its_scheme() {
    use credex_protocol::evaluation::{AttestationStatus, EvaluationAttestation};
    use credex_protocol::query::SignerProof;
    use credex_protocol::recognition::IssuedAttestation;
    use credex_protocol::{Signature, SignatureAlgorithm};
    let push = |scheme| ResultPush {
        result: IssuedAttestation {
            attestation: EvaluationAttestation {
                attestation_id: [1; 16],
                issuer_region: region(GZ),
                issuer_node: "gy-1".parse().expect("node"),
                scheme,
                scheme_version: "2024".into(),
                subject: "91520100MA6DK0X21X".into(),
                grade: "优".into(),
                period_start: "2025-01-01".into(),
                period_end: "2025-12-31".into(),
                issued_at_ms: 1,
                valid_until_ms: 2,
                status: AttestationStatus::Active,
                supersedes: None,
            },
            issuer: SignerProof {
                chain: vec![vec![0; 4]],
                signature: Signature {
                    algorithm: SignatureAlgorithm::Ed25519,
                    bytes: vec![0; 64],
                },
            },
        },
    };
    let agreements = AgreementSet::builtin();
    let catalogue = Catalogue::base();
    let ok = release_result_push(
        &agreements,
        &catalogue,
        region(GZ),
        region(CQ),
        &push(Scheme::PublicCredit),
    )
    .expect("member");
    assert_eq!(
        fields(&ok.egress().released, "public_credit_evaluation"),
        ["attestation", "evaluation_date", "grade"]
    );
    for (to, scheme) in [
        (BJ, Scheme::PublicCredit),
        (CQ, Scheme::EnvironmentalCredit),
    ] {
        let err = release_result_push(
            &agreements,
            &catalogue,
            region(GZ),
            region(to),
            &push(scheme),
        )
        .unwrap_err();
        assert!(
            matches!(err, EgressError::NotBound { .. }),
            "{to} {scheme:?}"
        );
    }
}

#[test]
fn every_outbound_kind_has_a_carried_fields_reading() {
    for (flow, kind, _) in OUTBOUND_KINDS {
        // An undecodable body is an error, not "carries nothing", for
        // kinds with a body to read; no kind is unknown.
        let r = carried_fields(flow, kind, &[0xff; 3]);
        if let Err(EgressError::Malformed(m)) = &r {
            assert!(!m.starts_with("no gate releases"), "{flow} {kind}: {m}");
        }
    }
    assert!(matches!(
        carried_fields(Flow::Lists, 99, &[]),
        Err(EgressError::Malformed(_))
    ));
}

// ---- Property: nothing leaves that the gate did not release, and no
// internal field ever leaves, for random catalogues, reporting
// catalogues, agreements and records.

const CLASSES: [&str; 4] = ["public", "shared", "restricted", "internal"];

/// A supplementary category `px` with six fields of the given classes.
fn random_catalogue(classes: &[usize]) -> Catalogue {
    let mut text = String::from(
        "[[category]]\ncode = \"px\"\nname_zh = \"测试\"\nname_en = \"Test\"\nsubjects = [\"legal_person\"]\n",
    );
    for (i, c) in classes.iter().enumerate() {
        text.push_str(&format!(
            "[[category.field]]\ncode = \"f{i}\"\nname_zh = \"字段\"\nname_en = \"Field\"\ntype = \"text\"\nclass = \"{}\"\n",
            CLASSES[*c]
        ));
    }
    Catalogue::base()
        .with_supplement(&text, "test")
        .expect("supplement")
}

fn random_reporting(catalogue: &Catalogue, pick: &[bool], penalty_pick: &[bool]) -> ReportingList {
    let named = |cat: &str, pick: &[bool]| -> Vec<String> {
        let c = catalogue.category(cat).expect("category");
        c.fields
            .iter()
            .zip(pick)
            .filter(|(f, p)| **p && f.class != SensitivityClass::Internal)
            .map(|(f, _)| format!("{:?}", f.code))
            .collect()
    };
    let mut text = String::new();
    for (cat, extra, p) in [
        (
            "admin_penalty",
            "double_publicity = true\nwithin_working_days = 7\n",
            penalty_pick,
        ),
        ("px", "within_working_days = 5\n", pick),
    ] {
        let fs = named(cat, p);
        if fs.is_empty() {
            continue;
        }
        text.push_str(&format!(
            "[[report]]\ncategory = \"{cat}\"\n{extra}fields = [{}]\n",
            fs.join(", ")
        ));
    }
    ReportingList::parse(&text, "test", catalogue).expect("reporting list")
}

fn random_agreements(pick: &[bool]) -> AgreementSet {
    let sd = Catalogue::base();
    let fields: Vec<String> = sd
        .category("serious_dishonesty")
        .expect("category")
        .fields
        .iter()
        .zip(pick)
        .filter(|(f, p)| **p && f.class != SensitivityClass::Internal)
        .map(|(f, _)| format!("{:?}", f.code))
        .collect();
    let text = format!(
        "code = \"t\"\nname_zh = \"测试\"\nname_en = \"Test\"\nmembers = [\"520000\", \"440000\"]\n\
         [joint]\nlist_types = [\"serious_dishonesty\"]\nrespond_within_days = 1\nfeedback_within_days = 1\nchange_confirm_within_days = 1\n\
         [joint.release]\nserious_dishonesty = [{}]\n",
        fields.join(", ")
    );
    AgreementSet::empty()
        .with_text(&text, "test")
        .expect("agreement")
}

fn assert_within(body: &ReleasedBody, catalogue: &Catalogue) {
    let carried = carried_fields(body.flow(), body.kind(), body.payload()).expect("carried");
    for c in &carried {
        for f in &c.fields {
            assert!(
                body.egress().releases(&c.category, f),
                "{}.{f} carried but not released",
                c.category
            );
            let class = catalogue.field(&c.category, f).map(|x| x.class);
            assert_ne!(
                class,
                Some(SensitivityClass::Internal),
                "{}.{f}",
                c.category
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn every_body_carries_a_subset_of_what_was_released(
        classes in proptest::collection::vec(0usize..4, 6),
        report_pick in proptest::collection::vec(any::<bool>(), 6),
        penalty_pick in proptest::collection::vec(any::<bool>(), 20),
        held_pick in proptest::collection::vec(any::<bool>(), 20),
        px_held in proptest::collection::vec(any::<bool>(), 6),
        agreement_pick in proptest::collection::vec(any::<bool>(), 12),
        details_pick in proptest::collection::vec(any::<bool>(), 12),
    ) {
        let catalogue = random_catalogue(&classes);
        let list = random_reporting(&catalogue, &report_pick, &penalty_pick);
        let mut held = Vec::new();
        for (cat, pick) in [("admin_penalty", &held_pick), ("px", &px_held)] {
            if list.item(cat).is_none() {
                continue;
            }
            let c = catalogue.category(cat).expect("category");
            let fields: BTreeMap<String, FieldValue> = c
                .fields
                .iter()
                .zip(pick.iter())
                .filter(|(_, p)| **p)
                .map(|(f, _)| (f.code.clone(), FieldValue::Text("v".into())))
                .collect();
            held.push(UpwardCandidate {
                record_id: format!("{cat}-1"),
                subject_key: "k".into(),
                record: Record { category: cat.into(), fields },
                imported_at_ms: 1,
            });
        }
        if !held.is_empty() {
            let (_, body) = release_upward_batch(&list, &catalogue, 0, held).expect("release");
            assert_within(&body, &catalogue);
        }

        let agreements = random_agreements(&agreement_pick);
        let sd = catalogue.category("serious_dishonesty").expect("category");
        let details: Vec<(&str, &str)> = sd
            .fields
            .iter()
            .zip(details_pick.iter())
            .filter(|(_, p)| **p)
            .map(|(f, _)| (f.code.as_str(), "v"))
            .collect();
        let (_, body) = release_listing(&agreements, &catalogue, region(GZ), region(GD), &entry(&details))
            .expect("listing");
        assert_within(&body, &catalogue);
    }
}

#[test]
fn a_repair_application_goes_to_the_entrys_origin_only() {
    use credex_protocol::lists::{Evidence, EvidenceKind, RepairApplication};
    let application = RepairApplication {
        entry: "520000-000102030405060708090a0b0c0d0e0f".parse().unwrap(),
        statement: "罚款已缴清".into(),
        evidence: vec![Evidence {
            kind: EvidenceKind::CommitmentLetter,
            title: "信用承诺书.pdf".into(),
            digest: [0; 32],
            content: vec![1],
        }],
    };
    let to_origin = release_repair_application("520000".parse().unwrap(), &application).unwrap();
    assert_eq!(to_origin.kind(), list_kind::REPAIR_APPLICATION);
    assert_eq!(to_origin.egress().withheld_count(), 0);
    let e = release_repair_application("440000".parse().unwrap(), &application).unwrap_err();
    assert!(
        matches!(e, EgressError::NotOrigin { .. }),
        "an application is for its entry's origin only: {e}"
    );
}
