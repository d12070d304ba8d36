//! The disclosures ledger (经手必有责) over real QUIC, signatures and
//! databases: a Guizhou record answered to Chongqing and to Guangdong and
//! reported upward is entered with all three recipients before it leaves;
//! the ledger survives a restart and equals its recomputation from the log;
//! a query's disclosure follows its access entry, and a replay discloses
//! nothing; a doctored ledger row is found (and rebuilt); the auditor checks every
//! disclosure against the release it belongs to, and flags one entered for
//! a query the log never granted.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;

use credex_flows::disclosures::{Difference, NS, row_key};
use credex_journal::{Channel, DisclosedBy, ENTRY_VERSION, RecordsDisclosed, kind, record_key};
use credex_node::config::NodeConfig;
use credex_node::disclosures::{check, rebuild, recipients};
use credex_node::service::RunningNode;
use credex_node::storage::StateWrite;
use credex_protocol::RegionCode;
use credex_protocol::query::Outcome;
use credex_tests::{
    Federation, ask, audit_all, authorized_query, entries_of_kind, findings, import_samples,
    until_stored, witness_all,
};

fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

/// gy-1 releasing penalties to Chongqing and Guangdong for procurement on
/// a legal basis, and reporting upward to `national`.
fn guizhou(fed: &Federation, national: &RunningNode) -> NodeConfig {
    let mut c = fed.config("gy-1");
    credex_tests::release_penalties_to_chongqing_and_guangdong(fed, &mut c);
    for p in &mut c.peers {
        if p.region.is_national() {
            p.addr = national.local_addr();
        }
    }
    c
}

fn penalty_query(subject: &str) -> credex_node::requester::QuerySpec {
    credex_tests::gy_penalty_query(subject)
}

async fn who_received(node: &RunningNode, record: &[u8; 32]) -> BTreeSet<(String, Channel)> {
    recipients(node.storage(), record)
        .await
        .unwrap()
        .into_iter()
        .map(|d| (d.recipient.to_string(), d.channel))
        .collect()
}

#[tokio::test]
async fn every_recipient_of_a_record_is_entered_before_it_leaves() {
    let fed = Federation::new();
    let national = fed.start("national-1").await;
    let gy = fed.start_with(guizhou(&fed, &national)).await;
    import_samples(&fed, &gy, "520000").await;
    let (cq, gz) = (fed.start("cq-1").await, fed.start("gz-1").await);
    let subject = credex_tests::subjects("520000")[0].clone();

    // Two regions ask about the same company's penalties.
    let mut answered = Vec::new();
    for asker in [&cq, &gz] {
        let q = authorized_query(&fed, asker, penalty_query(&subject));
        let response = ask(asker, &gy, &q).await;
        assert_eq!(response.body.outcome, Outcome::Granted);
        assert!(
            !response.body.records.is_empty(),
            "the subject has penalties"
        );
        answered.push(response);
    }
    let record = &answered[0].body.records[0];
    let key = record_key(&record.category, &record.record_id);

    // The reporter sends it upward.
    until_stored(gy.storage(), "the record is reported upward", || async {
        who_received(&gy, &key)
            .await
            .contains(&("000000".to_owned(), Channel::Upward))
    })
    .await;
    let expected: BTreeSet<(String, Channel)> = [
        ("000000".to_owned(), Channel::Upward),
        ("440000".to_owned(), Channel::Query),
        ("500000".to_owned(), Channel::Query),
    ]
    .into();
    assert_eq!(who_received(&gy, &key).await, expected);
    // Every record of each answer was entered for its asker, and nothing
    // identifies a record in clear in the entries.
    for (asker, response) in [("500000", &answered[0]), ("440000", &answered[1])] {
        for r in &response.body.records {
            let to = who_received(&gy, &record_key(&r.category, &r.record_id)).await;
            assert!(to.contains(&(asker.to_owned(), Channel::Query)), "{to:?}");
        }
    }
    let entries = entries_of_kind(&gy, kind::RECORDS_DISCLOSED).await;
    assert!(entries.len() >= 3, "two answers and a batch at least");
    for body in &entries {
        assert!(
            !body
                .windows(record.record_id.len())
                .any(|w| w == record.record_id.as_bytes()),
            "a record id in clear"
        );
    }

    // The stored ledger is the log's, and survives a restart.
    let (_, found) = check(gy.storage()).await.unwrap();
    assert_eq!(found.differences, Vec::new());
    assert_eq!(found.entries, entries.len() as u64);
    let config = gy.config().clone();
    gy.shutdown().await;
    let gy = fed.start_with(config).await;
    assert_eq!(who_received(&gy, &key).await, expected);

    // The auditor checks every disclosure against its release.
    witness_all(&[&gy, &cq, &gz, &national]).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&[&gy, &cq, &gz, &national], dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    let gy_log = report
        .logs
        .iter()
        .find(|l| l.origin.contains("520000"))
        .unwrap();
    assert_eq!(gy_log.disclosures, entries.len());
    assert!(gy_log.ledger_rows >= 3);

    for node in [gy, cq, gz, national] {
        node.shutdown().await;
    }
}

/// A query's disclosure is written in its access entry's transaction, at
/// the entry right after it, and only when its claim holds (decision 1200):
/// the same signed query sent again is denied as a replay, releases
/// nothing and enters nothing more in the ledger, though the responder
/// read the records before the claim decided.
#[tokio::test]
async fn a_replayed_query_releases_and_discloses_nothing() {
    let fed = Federation::new();
    let national = fed.start("national-1").await;
    let gy = fed.start_with(guizhou(&fed, &national)).await;
    import_samples(&fed, &gy, "520000").await;
    let cq = fed.start("cq-1").await;
    let subject = credex_tests::subjects("520000")[0].clone();
    let q = authorized_query(&fed, &cq, penalty_query(&subject));

    let first = ask(&cq, &gy, &q).await;
    assert_eq!(first.body.outcome, Outcome::Granted);
    assert!(!first.body.records.is_empty(), "the subject has penalties");
    let digest = first.body.query_digest;
    let disclosures_of_query = || async {
        let journal = gy.storage().journal_range(0, 100_000).await.unwrap();
        journal
            .iter()
            .filter(|r| r.kind == kind::RECORDS_DISCLOSED)
            .filter_map(|r| {
                let entry: RecordsDisclosed = credex_journal::decode(r.kind, &r.body).unwrap();
                (entry.by
                    == DisclosedBy::Query {
                        query_digest: digest,
                    })
                .then_some((r.seq, entry))
            })
            .collect::<Vec<_>>()
    };
    let granted = disclosures_of_query().await;
    let [(seq, entry)] = granted.as_slice() else {
        panic!("one disclosure for the answer: {granted:?}");
    };
    let released: Vec<[u8; 32]> = first
        .body
        .records
        .iter()
        .map(|r| record_key(&r.category, &r.record_id))
        .collect();
    assert_eq!(entry.records, released, "the disclosure names what left");
    assert_eq!(entry.recipients, vec![region("500000")]);
    let access = first.receipt.as_ref().expect("a receipt").leaf_index;
    assert_eq!(*seq, access + 1, "the disclosure follows its access entry");

    let replayed = ask(&cq, &gy, &q).await;
    assert_eq!(
        (replayed.body.outcome, replayed.body.reason),
        (Outcome::Denied, credex_protocol::query::QueryReason::Replay)
    );
    assert!(
        replayed.body.records.is_empty(),
        "a replay releases nothing"
    );
    assert_eq!(
        disclosures_of_query().await.len(),
        1,
        "a replay enters nothing in the ledger"
    );
    let (_, found) = check(gy.storage()).await.unwrap();
    assert_eq!(found.differences, Vec::new());

    for node in [gy, cq, national] {
        node.shutdown().await;
    }
}

#[tokio::test]
async fn a_doctored_ledger_is_found_and_rebuilt_from_the_log() {
    let fed = Federation::new();
    let national = fed.start("national-1").await;
    let mut config = guizhou(&fed, &national);
    config.upward.enabled = false;
    let gy = fed.start_with(config).await;
    import_samples(&fed, &gy, "520000").await;
    let gz = fed.start("gz-1").await;
    let subject = credex_tests::subjects("520000")[0].clone();
    let q = authorized_query(&fed, &gz, penalty_query(&subject));
    let response = ask(&gz, &gy, &q).await;
    let r = &response.body.records[0];
    let key = record_key(&r.category, &r.record_id);

    // An operator with database access hides Guangdong and invents Hainan.
    let hidden = row_key(&key, region("440000"), Channel::Query);
    let invented = row_key(&key, region("460000"), Channel::Query);
    gy.storage()
        .write_state(vec![
            StateWrite::delete(NS, hidden.clone()),
            StateWrite::put(NS, invented.clone(), 1i64.to_be_bytes().to_vec()),
        ])
        .await
        .unwrap();
    assert_eq!(
        who_received(&gy, &key).await,
        [("460000".to_owned(), Channel::Query)].into()
    );

    let (_, found) = check(gy.storage()).await.unwrap();
    let mut expected = vec![
        Difference::Missing { key: hidden },
        Difference::Extra { key: invented },
    ];
    expected.sort_by(|a, b| a.key().cmp(b.key()));
    assert_eq!(found.differences, expected);
    let repaired = rebuild(gy.storage()).await.unwrap();
    assert_eq!(repaired.differences.len(), 2);
    assert_eq!(check(gy.storage()).await.unwrap().1.differences, Vec::new());
    assert_eq!(
        who_received(&gy, &key).await,
        [("440000".to_owned(), Channel::Query)].into()
    );
    gy.shutdown().await;
    gz.shutdown().await;
    national.shutdown().await;
}

#[tokio::test]
async fn the_auditor_flags_a_disclosure_the_log_never_granted() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let at_ms = credex_node::query::unix_ms(std::time::SystemTime::now());
    let forged = |by, to: &str| RecordsDisclosed {
        version: ENTRY_VERSION,
        at_ms,
        by,
        recipients: vec![region(to)],
        records: vec![record_key("admin_penalty", "AP-1")],
    };
    // Records entered as answered to a query nobody asked, and a batch
    // entered as reported to a province.
    for entry in [
        forged(
            DisclosedBy::Query {
                query_digest: [9; 32],
            },
            "440000",
        ),
        forged(DisclosedBy::Upward { seq: 0 }, "500000"),
    ] {
        gy.storage().append_entry(&entry).await.unwrap();
    }
    witness_all(&[&gy]).await;
    let dir = tempfile::tempdir().unwrap();
    let report = audit_all(&[&gy], dir.path()).await;
    let rules: Vec<&str> = findings(&report).into_iter().map(|(_, r)| r).collect();
    assert!(rules.contains(&"disclosure_without_release"), "{rules:?}");
    assert!(rules.contains(&"disclosure_recipient"), "{rules:?}");
    gy.shutdown().await;
}
