//! The upward flow as a pure state machine: views built by hand, the
//! national node's decision on a batch (records to store, its position
//! advanced, the signed receipt) and its refusals with their codes, and
//! the province's counting of an acknowledgement by the working-day
//! calendar. A test federation (root, region CAs, the national node's
//! certificate) signs and verifies the receipts. No sockets, no sleeps.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::Arc;

use credex_flows::flow::{
    Context, Flow, Peer, Read, Refusal, Refused, StateKey, SubjectRecords, View,
};
use credex_flows::upward::{
    IN_NS, MAX_BATCH_BYTES, MAX_SUBJECT_RECORDS, OUT_NS, Overdue, ProvinceReceived, REPORTED_KEY,
    ReportedTotals, Upward, classify, decision_date, overdue, record_weight, verify_receipt,
};
use credex_pki::signing::SigningKey;
use credex_pki::{CertificateAuthority, Issued, KeyAlgorithm, TrustStore, Validity, create_root};
use credex_policies::{Catalogue, FieldValue, HolidayCalendar, Record, ReportingList, Timeliness};
use credex_protocol::egress::{EgressBasis, EgressRecord};
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow as FlowName};
use credex_protocol::lists::ProcedureDeadline;
use credex_protocol::upward::{
    KIND_BATCH, KIND_PROCEDURE_OVERDUE, ProcedureOverdueNotice, ReportedRecord, SignedBatchReceipt,
    UpwardBatch,
};
use credex_protocol::{NodeName, RegionCode};
use time::{Date, Month, OffsetDateTime, Time};

const PROVINCE: &str = "520000";
const SUBJECT: &str = "51100000500002862F";

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

fn name(n: &str) -> NodeName {
    n.parse().unwrap()
}

fn utc(y: i32, m: Month, d: u8, h: u8) -> OffsetDateTime {
    OffsetDateTime::new_utc(
        Date::from_calendar_date(y, m, d).unwrap(),
        Time::from_hms(h, 0, 0).unwrap(),
    )
}

fn ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap()
}

fn date(s: &str) -> Date {
    credex_flows::calendar::parse_date(s).unwrap()
}

/// 2026-10-13 10:00 China Standard Time.
fn oct_13() -> i64 {
    ms(utc(2026, Month::October, 13, 2))
}

/// A federation of one root, the national region's CA and its node
/// `nat-1`, certificates valid through 2026.
struct TestFederation {
    trust: TrustStore,
    national_key: Arc<SigningKey>,
    national_chain: Vec<Vec<u8>>,
}

impl TestFederation {
    fn new() -> TestFederation {
        let alg = KeyAlgorithm::Ed25519;
        let root = create_root(
            "credex test root",
            alg,
            Validity::new(
                utc(2020, Month::January, 1, 0),
                utc(2040, Month::January, 1, 0),
            )
            .unwrap(),
        )
        .unwrap();
        let root_ca = CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem).unwrap();
        let ca_issued = root_ca
            .issue_region_ca(
                RegionCode::NATIONAL,
                alg,
                Validity::new(
                    utc(2021, Month::January, 1, 0),
                    utc(2039, Month::January, 1, 0),
                )
                .unwrap(),
            )
            .unwrap();
        let ca = CertificateAuthority::from_pem(&ca_issued.cert_pem, &ca_issued.key_pem).unwrap();
        let node: Issued = ca
            .issue_node(
                &name("nat-1"),
                &["nat-1.credex.test".to_owned()],
                &[],
                alg,
                Validity::new(
                    utc(2026, Month::January, 1, 0),
                    utc(2027, Month::January, 1, 0),
                )
                .unwrap(),
            )
            .unwrap();
        TestFederation {
            trust: TrustStore::from_pem(&root.cert_pem, &[]).unwrap(),
            national_key: Arc::new(SigningKey::from_pkcs8_pem(&node.key_pem).unwrap()),
            national_chain: vec![node.cert_der.clone(), ca_issued.cert_der.clone()],
        }
    }

    /// The flow of a node of `region` (the national node's key and chain).
    fn flow(&self, region: RegionCode) -> Upward {
        Upward::new(
            region,
            name(if region.is_national() {
                "nat-1"
            } else {
                "gy-1"
            }),
            Arc::clone(&self.national_key),
            self.national_chain.clone(),
            ReportingList::builtin(),
            HolidayCalendar::builtin_2026(),
            Catalogue::base(),
        )
    }

    fn cx(&self, now_ms: i64) -> Context<'_> {
        Context {
            now_ms,
            trust: &self.trust,
        }
    }
}

fn province() -> Peer {
    Peer {
        region: region(PROVINCE),
        node: name("gy-1"),
    }
}

/// An `admin_penalty` record decided on `decided` with extra `fields`.
fn penalty(id: &str, decided: &str, extra: &[(&str, FieldValue)]) -> ReportedRecord {
    let mut fields = BTreeMap::new();
    fields.insert(
        "decision_number".to_owned(),
        FieldValue::Text(format!("黔罚〔2026〕{id}号")),
    );
    fields.insert(
        "decision_date".to_owned(),
        FieldValue::Date(decided.to_owned()),
    );
    for (f, v) in extra {
        fields.insert((*f).to_owned(), v.clone());
    }
    ReportedRecord {
        category: "admin_penalty".into(),
        record_id: id.into(),
        subject_key: SUBJECT.into(),
        body: credex_protocol::encode(&Record {
            category: "admin_penalty".into(),
            fields,
        })
        .unwrap(),
        imported_at_ms: ms(utc(2026, Month::September, 28, 1)),
    }
}

/// The envelope of `batch` from the province, made under the built-in
/// reporting catalogue.
fn envelope(batch: &UpwardBatch) -> Envelope {
    Envelope {
        message_id: [7; 16],
        flow: FlowName::Upward,
        kind: KIND_BATCH,
        from_region: region(PROVINCE),
        from_node: name("gy-1"),
        to_region: RegionCode::NATIONAL,
        created_at_ms: oct_13() - 1000,
        payload: credex_protocol::encode(batch).unwrap(),
        egress: EgressRecord {
            basis: EgressBasis::ReportingCatalogue,
            basis_hash: ReportingList::builtin().content_hash(),
            released: Vec::new(),
            withheld: Vec::new(),
        },
    }
}

/// The national node's view: the province at `next_seq` (absent when 0)
/// and `held` records on the subject.
fn national_view(next_seq: u64, held: SubjectRecords) -> View {
    let mut view = View::default();
    if next_seq > 0 {
        let p = ProvinceReceived {
            next_seq,
            ..ProvinceReceived::default()
        };
        view.insert(
            StateKey::new(IN_NS, PROVINCE),
            credex_protocol::encode(&p).unwrap(),
        );
    }
    view.insert_subject(SUBJECT.to_owned(), held);
    view
}

fn refused(result: Result<impl std::fmt::Debug, Refusal>) -> Refused {
    match result {
        Err(Refusal::Permanent(r)) => r,
        other => panic!("expected a refusal for good, got {other:?}"),
    }
}

fn batch(seq: u64, records: Vec<ReportedRecord>) -> UpwardBatch {
    UpwardBatch { seq, records }
}

#[test]
fn reads_name_the_province_position_and_each_subject() {
    let fed = TestFederation::new();
    let flow = fed.flow(RegionCode::NATIONAL);
    let b = batch(
        0,
        vec![
            penalty("AP-1", "2026-09-28", &[]),
            penalty("AP-2", "2026-09-28", &[]),
        ],
    );
    let reads = flow.reads(&province(), &envelope(&b)).unwrap();
    let categories: Vec<String> = ReportingList::builtin()
        .iter()
        .map(|i| i.category.clone())
        .collect();
    assert_eq!(
        reads,
        vec![
            Read::State(StateKey::new(IN_NS, PROVINCE)),
            Read::SubjectRecords {
                subject: SUBJECT.into(),
                categories,
            },
        ]
    );
}

#[test]
fn the_next_batch_is_applied_with_its_records_and_a_signed_receipt() {
    let fed = TestFederation::new();
    let flow = fed.flow(RegionCode::NATIONAL);
    let b = batch(
        0,
        vec![
            penalty("AP-1", "2026-09-28", &[]),
            penalty("AP-2", "2026-09-28", &[]),
        ],
    );
    let view = national_view(0, SubjectRecords::Held(Vec::new()));
    let now = oct_13();
    let effect = flow
        .receive(&fed.cx(now), &view, &province(), &envelope(&b))
        .unwrap();

    let ids: Vec<&str> = effect
        .records
        .iter()
        .map(|r| r.record_id.as_str())
        .collect();
    assert_eq!(ids, ["520000:AP-1", "520000:AP-2"]);
    assert!(effect.records.iter().all(|r| r.subject_key == SUBJECT));
    assert_eq!(effect.records[0].body, b.records[0].body);

    // Each copy carries the key its owner names it by in corrections, then
    // the province's counters advance.
    for (r, id) in effect.records.iter().zip(["AP-1", "AP-2"]) {
        assert_eq!(
            r.copy_of,
            Some(credex_flows::flow::CopyOf {
                owner: region(PROVINCE),
                record: credex_journal::record_key("admin_penalty", id),
            })
        );
    }
    assert_eq!(effect.state.len(), 1);
    let write = &effect.state[0];
    assert_eq!((write.ns.as_str(), write.key.as_str()), (IN_NS, PROVINCE));
    let advanced: ProvinceReceived =
        credex_protocol::decode(write.value.as_deref().unwrap()).unwrap();
    assert_eq!(advanced.next_seq, 1);
    assert_eq!(advanced.records, 2);
    assert_eq!(advanced.categories.get("admin_penalty"), Some(&2));
    assert_eq!(advanced.last_at_ms, now);
    assert!(
        effect
            .summary
            .contains("upward batch 520000#0: 2 records stored")
    );
    assert!(effect.send.is_empty());

    let signed: SignedBatchReceipt = credex_protocol::decode(&effect.reply).unwrap();
    assert_eq!(signed.receipt.seq, 0);
    assert_eq!(signed.receipt.record_count, 2);
    assert_eq!(signed.receipt.received_at_ms, now);
    verify_receipt(&fed.trust, region(PROVINCE), &b, &signed, now).unwrap();
    // Not a receipt for another province's batch.
    assert!(verify_receipt(&fed.trust, region("510000"), &b, &signed, now).is_err());
}

#[test]
fn a_batch_already_applied_is_stale_and_one_ahead_waits() {
    let fed = TestFederation::new();
    let flow = fed.flow(RegionCode::NATIONAL);
    let view = national_view(3, SubjectRecords::Held(Vec::new()));
    let cx = fed.cx(oct_13());

    let behind = batch(1, vec![penalty("AP-1", "2026-09-28", &[])]);
    let r = refused(flow.receive(&cx, &view, &province(), &envelope(&behind)));
    assert_eq!(r.code(), "stale");
    assert!(
        r.to_string()
            .contains("batch 1 of 520000 was already applied")
    );

    let ahead = batch(5, vec![penalty("AP-1", "2026-09-28", &[])]);
    match flow.receive(&cx, &view, &province(), &envelope(&ahead)) {
        Err(Refusal::Transient(reason)) => {
            assert!(reason.contains("arrived before batch 3"), "{reason}");
        }
        other => panic!("expected a refusal for now, got {other:?}"),
    }
}

#[test]
fn a_batch_taking_a_subject_past_the_cap_exceeds() {
    let fed = TestFederation::new();
    let flow = fed.flow(RegionCode::NATIONAL);
    let cx = fed.cx(oct_13());
    // One record held already is re-reported: it replaces, adds nothing.
    let mut held: Vec<(String, String)> = (0..MAX_SUBJECT_RECORDS - 1)
        .map(|i| ("admin_penalty".to_owned(), format!("520000:OLD-{i}")))
        .collect();
    held.push(("admin_penalty".to_owned(), "520000:AP-1".to_owned()));
    let fits = batch(0, vec![penalty("AP-1", "2026-09-28", &[])]);
    let view = national_view(0, SubjectRecords::Held(held.clone()));
    assert!(
        flow.receive(&cx, &view, &province(), &envelope(&fits))
            .is_ok()
    );

    let over = batch(
        0,
        vec![
            penalty("AP-1", "2026-09-28", &[]),
            penalty("AP-2", "2026-09-28", &[]),
        ],
    );
    let r = refused(flow.receive(&cx, &view, &province(), &envelope(&over)));
    assert_eq!(r.code(), "exceeds");
    assert!(
        r.to_string()
            .contains("would hold 1025 records here, more than the 1024 a query returns"),
        "{r}"
    );

    let view = national_view(0, SubjectRecords::TooMany);
    let r = refused(flow.receive(&cx, &view, &province(), &envelope(&fits)));
    assert_eq!(r.code(), "exceeds");
    assert!(
        r.to_string()
            .contains("already holds more than 1024 records")
    );
}

#[test]
fn a_field_the_reporting_catalogue_does_not_collect_is_invalid() {
    let fed = TestFederation::new();
    let flow = fed.flow(RegionCode::NATIONAL);
    let b = batch(
        0,
        vec![penalty(
            "AP-1",
            "2026-09-28",
            &[("case_notes", FieldValue::Text("内部备注".into()))],
        )],
    );
    let r = refused(flow.reads(&province(), &envelope(&b)));
    assert_eq!(r.code(), "invalid");
    assert!(
        r.to_string().contains(
            "record 0: admin_penalty.case_notes is not collected by the reporting catalogue"
        ),
        "{r}"
    );
    let view = national_view(0, SubjectRecords::Held(Vec::new()));
    let r = refused(flow.receive(&fed.cx(oct_13()), &view, &province(), &envelope(&b)));
    assert_eq!(r.code(), "invalid");

    // Made under another catalogue: invalid too.
    let mut other = envelope(&batch(0, vec![penalty("AP-1", "2026-09-28", &[])]));
    other.egress.basis_hash = [0; 32];
    let r = refused(flow.reads(&province(), &other));
    assert_eq!(r.code(), "invalid");
    assert!(
        r.to_string()
            .contains("both sides must hold the same reporting catalogue")
    );
}

#[test]
fn batches_go_from_provinces_to_the_national_node_only() {
    let fed = TestFederation::new();
    let b = batch(0, vec![penalty("AP-1", "2026-09-28", &[])]);

    let r = refused(fed.flow(region("510000")).reads(&province(), &envelope(&b)));
    assert_eq!(r.code(), "not-entitled");
    assert!(r.to_string().contains("is not the national platform"));

    let from_national = Peer {
        region: RegionCode::NATIONAL,
        node: name("nat-2"),
    };
    let r = refused(
        fed.flow(RegionCode::NATIONAL)
            .reads(&from_national, &envelope(&b)),
    );
    assert_eq!(r.code(), "not-entitled");

    let mut e = envelope(&b);
    e.kind = 9;
    let r = refused(fed.flow(RegionCode::NATIONAL).reads(&province(), &e));
    assert_eq!(r.code(), "unknown-kind");

    e.kind = KIND_BATCH;
    e.payload = b"junk".to_vec();
    let r = refused(fed.flow(RegionCode::NATIONAL).reads(&province(), &e));
    assert_eq!(r.code(), "unreadable");
}

fn overdue_notice(filed_in: &str) -> Envelope {
    use credex_protocol::lists::CaseAbout;
    let notice = ProcedureOverdueNotice {
        procedure: credex_protocol::lists::Procedure::Objection,
        about: CaseAbout::Entry("440000-000102030405060708090a0b0c0d0e0f".parse().unwrap()),
        case: [9; 16],
        filed_in: region(filed_in),
        missed: ProcedureDeadline::Acceptance,
        deadline: "2026-10-09".into(),
    };
    let mut e = envelope(&batch(0, Vec::new()));
    e.kind = KIND_PROCEDURE_OVERDUE;
    e.payload = credex_protocol::encode(&notice).unwrap();
    e.egress = EgressRecord::no_record_data();
    e
}

#[test]
fn a_region_reports_only_the_objections_filed_in_it() {
    use credex_protocol::lists::CaseAbout;
    let fed = TestFederation::new();
    let national = fed.flow(RegionCode::NATIONAL);
    let notice = overdue_notice(PROVINCE);
    assert_eq!(national.reads(&province(), &notice).unwrap(), Vec::new());
    let effect = national
        .receive(&fed.cx(oct_13()), &View::default(), &province(), &notice)
        .unwrap();
    assert_eq!(effect.state.len(), 1);
    assert!(
        effect.state[0]
            .key
            .starts_with("440000/440000-000102030405060708090a0b0c0d0e0f/"),
        "keyed by the late region first: {}",
        effect.state[0].key
    );
    assert!(
        effect
            .summary
            .contains("acceptance deadline 2026-10-09 missed by 440000")
    );

    // Guizhou cannot speak for an objection filed in Chongqing, nor report
    // an objection to its own entry, nor send a date that is not one.
    let r = refused(national.reads(&province(), &overdue_notice("500000")));
    assert_eq!(r.code(), "not-entitled");
    let mut own = overdue_notice(PROVINCE);
    let mut n: ProcedureOverdueNotice = credex_protocol::decode(&own.payload).unwrap();
    n.about = CaseAbout::Record {
        owner: region(PROVINCE),
        record: [1; 32],
    };
    own.payload = credex_protocol::encode(&n).unwrap();
    assert_eq!(refused(national.reads(&province(), &own)).code(), "invalid");
    // A record of another region is reported like an entry.
    n.about = CaseAbout::Record {
        owner: region("440000"),
        record: [1; 32],
    };
    own.payload = credex_protocol::encode(&n).unwrap();
    let effect = national
        .receive(&fed.cx(oct_13()), &View::default(), &province(), &own)
        .unwrap();
    assert!(
        effect.state[0]
            .key
            .starts_with(&format!("440000/record-{}/", hex::encode([1u8; 32]))),
        "{}",
        effect.state[0].key
    );
    n.deadline = "2026-13-01".into();
    own.payload = credex_protocol::encode(&n).unwrap();
    assert_eq!(refused(national.reads(&province(), &own)).code(), "invalid");
    // A province receives no notices.
    let r = refused(fed.flow(region("510000")).reads(&province(), &notice));
    assert_eq!(r.code(), "not-entitled");
}

/// The national node's acknowledgement of `e` as applied at `now_ms`.
fn applied(fed: &TestFederation, e: &Envelope, now_ms: i64) -> DeliveryAck {
    let view = national_view(0, SubjectRecords::Held(Vec::new()));
    let effect = fed
        .flow(RegionCode::NATIONAL)
        .receive(&fed.cx(now_ms), &view, &province(), e)
        .unwrap();
    DeliveryAck {
        message_digest: [0; 32],
        message_id: e.message_id,
        receiver_region: RegionCode::NATIONAL,
        receiver_node: name("nat-1"),
        status: DeliveryStatus::Applied,
        reply: effect.reply,
    }
}

fn totals_written(writes: &[credex_flows::flow::StateWrite]) -> ReportedTotals {
    assert_eq!(writes.len(), 1);
    assert_eq!(
        (writes[0].ns.as_str(), writes[0].key.as_str()),
        (OUT_NS, REPORTED_KEY)
    );
    credex_protocol::decode(writes[0].value.as_deref().unwrap()).unwrap()
}

#[test]
fn an_acknowledgement_counts_on_time_and_late_by_working_days() {
    let fed = TestFederation::new();
    let province_flow = fed.flow(region(PROVINCE));
    // Acknowledged 2026-10-13: decided 09-28, the 7th working day after
    // the 国庆 holidays is 10-13 (on time); decided 09-18, it is late.
    let b = batch(
        0,
        vec![
            penalty("AP-ON", "2026-09-28", &[]),
            penalty("AP-LATE", "2026-09-18", &[]),
        ],
    );
    let e = envelope(&b);
    let now = oct_13();
    let ack = applied(&fed, &e, now);
    let reads = province_flow.acknowledged_reads(&e, &ack);
    assert_eq!(
        reads,
        vec![Read::State(StateKey::new(OUT_NS, REPORTED_KEY))]
    );

    let writes = province_flow
        .acknowledged(&fed.cx(now + 500), &View::default(), &e, &ack)
        .unwrap();
    let totals = totals_written(&writes);
    assert_eq!(totals.batches_acked, 1);
    assert_eq!(totals.last_ack_ms, now + 500);
    let c = &totals.categories["admin_penalty"];
    assert_eq!((c.reported, c.on_time, c.late, c.undated), (2, 1, 1, 0));
    assert_eq!((c.within_deadline, c.past_deadline), (1, 1));
    assert_eq!(totals.late.len(), 1);
    let late = &totals.late[0];
    assert_eq!(late.record_id, "AP-LATE");
    assert_eq!(late.decision_date, "2026-09-18");
    assert_eq!(late.reported_date, "2026-10-13");
    let cal = HolidayCalendar::builtin_2026();
    assert_eq!(
        classify(&cal, date("2026-09-18"), date("2026-10-13")),
        Timeliness::Late {
            working_days: late.working_days_late
        }
    );

    // Counted on top of what the view holds.
    let mut view = View::default();
    view.insert(
        StateKey::new(OUT_NS, REPORTED_KEY),
        credex_protocol::encode(&totals).unwrap(),
    );
    let again = totals_written(
        &province_flow
            .acknowledged(&fed.cx(now + 900), &view, &e, &ack)
            .unwrap(),
    );
    assert_eq!(again.batches_acked, 2);
    assert_eq!(again.categories["admin_penalty"].on_time, 2);
}

#[test]
fn a_refused_batch_is_counted_and_a_foreign_receipt_is_not_taken() {
    let fed = TestFederation::new();
    let province_flow = fed.flow(region(PROVINCE));
    let b = batch(4, vec![penalty("AP-1", "2026-09-28", &[])]);
    let e = envelope(&b);
    let refused_ack = DeliveryAck {
        message_digest: [0; 32],
        message_id: e.message_id,
        receiver_region: RegionCode::NATIONAL,
        receiver_node: name("nat-1"),
        status: DeliveryStatus::Refused {
            reason: "invalid: ...".into(),
        },
        reply: Vec::new(),
    };
    let totals = totals_written(
        &province_flow
            .acknowledged(&fed.cx(oct_13()), &View::default(), &e, &refused_ack)
            .unwrap(),
    );
    assert_eq!((totals.batches_refused, totals.records_refused), (1, 1));
    assert_eq!(totals.batches_acked, 0);

    // A receipt for another batch (seq 0) does not acknowledge batch 4.
    let other = envelope(&batch(0, vec![penalty("AP-1", "2026-09-28", &[])]));
    let ack = applied(&fed, &other, oct_13());
    let err = province_flow
        .acknowledged(&fed.cx(oct_13()), &View::default(), &e, &ack)
        .unwrap_err();
    assert!(err.0.contains("does not match what was sent"), "{err}");
}

#[test]
fn timeliness_counts_working_days_with_weekends_and_holidays() {
    // Decision 2026-09-28 (Mon). 09-29 and 09-30 are working days 1
    // and 2; 国庆 10-01..10-07 (holidays, with a weekend inside) are not;
    // 10-08 (Thu) is 3, 10-09 4, 10-10 (make-up Saturday) 5, 10-12 6,
    // 10-13 7: the deadline.
    let cal = HolidayCalendar::builtin_2026();
    let decided = date("2026-09-28");
    assert_eq!(
        classify(&cal, decided, date("2026-10-13")),
        Timeliness::OnTime
    );
    assert_eq!(
        classify(&cal, decided, date("2026-10-14")),
        Timeliness::Late { working_days: 1 }
    );
    // Without the holidays the deadline is 10-07, so 10-13 is late.
    let plain = HolidayCalendar::parse("years = [2026]\nholidays = []\n", "plain.toml").unwrap();
    assert_eq!(
        classify(&plain, decided, date("2026-10-07")),
        Timeliness::OnTime
    );
    assert_eq!(
        classify(&plain, decided, date("2026-10-13")),
        Timeliness::Late { working_days: 4 }
    );
}

#[test]
fn a_batch_of_the_largest_records_fits_in_an_envelope() {
    use credex_protocol::upward::{MAX_BODY_LEN, MAX_KEY_LEN, MAX_RECORD_ID_LEN};
    let big = ReportedRecord {
        category: "c".repeat(MAX_KEY_LEN),
        record_id: "r".repeat(MAX_RECORD_ID_LEN),
        subject_key: "s".repeat(MAX_KEY_LEN),
        body: vec![0xff; MAX_BODY_LEN],
        imported_at_ms: i64::MIN,
    };
    let w = record_weight(&big.category, &big.record_id, &big.subject_key, &big.body);
    let n = MAX_BATCH_BYTES / w;
    assert!(n >= 1);
    let b = UpwardBatch {
        seq: u64::MAX,
        records: vec![big; n],
    };
    let encoded = credex_protocol::encode(&b).unwrap().len();
    assert!(encoded <= MAX_BATCH_BYTES, "{encoded}");
}

#[test]
fn decision_date_is_read_from_the_record_body() {
    let r = penalty("AP-1", "2026-03-15", &[]);
    assert_eq!(decision_date(&r.body), Some(date("2026-03-15")));
    assert_eq!(decision_date(b"junk"), None);
}

/// A correction from the owner of a record the national node holds a copy
/// of: `deleted` queues the copy for withdrawal, whether the copy carries
/// the owner's key on its row or (taken in before migration 9) in
/// `upward.copies`; a correction of a record held nowhere queues nothing.
#[test]
fn a_deletion_at_the_owner_queues_the_national_copy_for_withdrawal() {
    use credex_flows::flow::{CopyOf, Flow, HeldRecord, StateKey};
    use credex_flows::rights::{COPIES_PENDING_NS, Rights, received_key};
    use credex_protocol::rights::{RecordChange, RecordCorrection, kind};

    let fed = TestFederation::new();
    let rights = Rights::new(
        RegionCode::NATIONAL,
        HolidayCalendar::builtin_2026(),
        credex_policies::repair::RightsRules::national(),
    );
    let record = credex_journal::record_key("admin_penalty", "AP-1");
    let correction = Envelope {
        flow: FlowName::Rights,
        kind: kind::CORRECTION,
        payload: credex_protocol::encode(&RecordCorrection {
            record,
            change: RecordChange::Deleted,
            changed_at_ms: oct_13(),
        })
        .unwrap(),
        ..envelope(&batch(0, Vec::new()))
    };
    let of = CopyOf {
        owner: region(PROVINCE),
        record,
    };
    assert!(
        rights
            .reads(&province(), &correction)
            .unwrap()
            .contains(&credex_flows::flow::Read::Copy(of))
    );
    let queued = |view: &View| {
        let effect = rights
            .receive(&fed.cx(oct_13()), view, &province(), &correction)
            .unwrap();
        effect.state.iter().any(|w| w.ns == COPIES_PENDING_NS)
    };
    let mut on_its_row = View::default();
    on_its_row.insert_copy(
        of,
        HeldRecord {
            category: "admin_penalty".into(),
            record_id: format!("{PROVINCE}:AP-1"),
            subject_key: SUBJECT.into(),
            body: Vec::new(),
        },
    );
    assert!(queued(&on_its_row));
    let mut before_migration_9 = View::default();
    before_migration_9.insert(
        StateKey::new(
            credex_flows::upward::COPIES_NS,
            received_key(region(PROVINCE), &record),
        ),
        Vec::new(),
    );
    assert!(queued(&before_migration_9));
    assert!(!queued(&View::default()));
}

/// A record still waiting for the national node is judged as if
/// acknowledged now: a 双公示 penalty past its 7 working days is late, one
/// within them is not, an hours deadline runs from the import, an
/// undated record is past no working-day deadline, and a category the
/// list does not name is not judged.
#[test]
fn a_waiting_record_is_overdue_as_if_acknowledged_now() {
    let calendar = HolidayCalendar::builtin_2026();
    let list = ReportingList::builtin();
    let now = oct_13(); // Tuesday 13 October 2026, after the National Day week.
    let judge = |r: &ReportedRecord, imported_at_ms: i64| {
        overdue(&list, &calendar, &r.category, &r.body, imported_at_ms, now)
    };
    // Decided Tuesday 29 September, before the National Day holidays: on
    // the 13th still within 7 working days by the 2026 calendar.
    let recent = penalty("AP-1", "2026-09-29", &[]);
    assert_eq!(judge(&recent, now), Some(Overdue::default()));
    // Decided 15 September: well past 7 working days.
    let old = penalty("AP-2", "2026-09-15", &[]);
    assert_eq!(
        judge(&old, now),
        Some(Overdue {
            past_deadline: true,
            late: true
        })
    );
    // Not a category of the list.
    let mut unlisted = penalty("X-1", "2026-09-15", &[]);
    unlisted.category = "not_on_the_list".into();
    assert_eq!(judge(&unlisted, now), None);

    // An hours deadline counts from the import, not the decision; a
    // category without 双公示 is never late by the 7 working days.
    let hourly = ReportingList::parse(
        "[[report]]\ncategory = \"tax_credit_rating\"\nwithin_hours = 24\n\
         fields = \"all_shareable\"\n",
        "hourly.toml",
        &Catalogue::base(),
    )
    .unwrap();
    let by_hours = |imported_at_ms: i64| {
        overdue(
            &hourly,
            &calendar,
            "tax_credit_rating",
            &old.body,
            imported_at_ms,
            now,
        )
    };
    let hour = 3_600_000;
    assert_eq!(by_hours(now - 23 * hour), Some(Overdue::default()));
    assert_eq!(
        by_hours(now - 25 * hour),
        Some(Overdue {
            past_deadline: true,
            late: false
        })
    );

    // Undated: neither deadline can be judged.
    let mut undated = penalty("AP-3", "2026-09-15", &[]);
    undated.body = credex_protocol::encode(&Record {
        category: "admin_penalty".into(),
        fields: BTreeMap::new(),
    })
    .unwrap();
    assert_eq!(judge(&undated, now), Some(Overdue::default()));
}
