//! Joint punishment lists (联合奖惩) across nodes on the harness: an entry
//! Guizhou lists, corrects and ends reaches every member its agreements
//! bind exactly once and in order whatever the links do; each member ends
//! holding the corrected, ended entry; each change is confirmed back to the
//! origin by every member; both sides' journals agree.
//!
//! The origin's operator side (what `credex_node::lists::Lists::add` and
//! `change` write: the entry, its tracks, the messages) is played by the
//! test; everything a message does on arrival is `credex_flows::lists`.

mod support;

use std::sync::Arc;

use credex_flows::flow::{Flow, StateWrite};
use credex_flows::lists::{
    ChangeTrack, ConfirmTrack, HeldEntry, Lists, OwnEntry, RECEIVED_NS, SentTrack, TRACK_NS,
    rev_event, track_key,
};
use credex_pki::TrustStore;
use credex_pki::issue::{KeyAlgorithm, Validity, create_root};
use credex_policies::egress::{release_change, release_listing};
use credex_policies::{AgreementSet, Catalogue, MeasuresCatalogue};
use credex_protocol::RegionCode;
use credex_protocol::federation::DeliveryStatus;
use credex_protocol::lists::{
    ChangeKind, EntryChange, EntryId, ListEntry, ListKind, NoticeMeans, SubjectNotice,
};
use credex_protocol::query::SubjectRef;
use support::{Faults, Line, Net, Rng};

const GUIZHOU: &str = "520000";
/// Members bound with Guizhou for serious-dishonesty lists by the shipped
/// agreements (Pan-Pearl River, Chongqing–Guizhou).
const MEMBERS: [&str; 3] = ["440000", "430000", "500000"];
/// A valid USCC of a Guizhou company.
const SUBJECT: &str = "91520000100052019T";

fn region(code: &str) -> RegionCode {
    code.parse().expect("region code")
}

fn trust(now_ms: i64) -> Arc<TrustStore> {
    let now = time::OffsetDateTime::from_unix_timestamp(now_ms / 1000).expect("time");
    let root = create_root(
        "credex test root",
        KeyAlgorithm::Ed25519,
        Validity::days_from(now, 30),
    )
    .expect("root");
    Arc::new(TrustStore::from_pem(&root.cert_pem, &[]).expect("trust"))
}

fn flow(code: &str) -> Arc<dyn Flow> {
    Arc::new(Lists::new(
        region(code),
        AgreementSet::builtin(),
        MeasuresCatalogue::builtin(),
        Catalogue::base(),
    ))
}

fn entry(id: EntryId, revision: u32, basis: &str) -> ListEntry {
    ListEntry {
        id,
        revision,
        list_type: ListKind::SeriousDishonesty,
        subject: SubjectRef::LegalPerson(SUBJECT.into()),
        basis: basis.into(),
        authority: "贵州省市场监督管理局".into(),
        entry_date: "2026-11-02".into(),
        planned_exit: "2027-11-01".into(),
        measures: vec!["restrict_honours".into()],
        notice: SubjectNotice {
            date: "2026-11-01".into(),
            means: NoticeMeans::Electronic,
        },
        details: Default::default(),
    }
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    credex_protocol::encode(value).expect("encodes")
}

/// What the origin's operator does to list `entry`: one message per
/// member, the `sent` tracks and the entry, committed together.
fn list(net: &mut Net, entry: &ListEntry) {
    let agreements = AgreementSet::builtin();
    let mut writes = Vec::new();
    for member in MEMBERS {
        let (_, body) = release_listing(
            &agreements,
            &Catalogue::base(),
            region(GUIZHOU),
            region(member),
            entry,
        )
        .expect("an agreement binds Guizhou and the member");
        let message_id = net.queue(region(GUIZHOU), body);
        let track = SentTrack {
            at_ms: net.now,
            respond_by_ms: net.now + 86_400_000,
            feedback_by_ms: net.now + 30 * 86_400_000,
            message_id,
        };
        writes.push(StateWrite::put(
            TRACK_NS,
            track_key(&entry.id, region(member), "sent"),
            encode(&track),
        ));
    }
    let own = OwnEntry {
        entry: entry.clone(),
        created_at_ms: net.now,
        ended: None,
        no_peer: Vec::new(),
        rests_on: None,
    };
    writes.push(StateWrite::put(
        credex_flows::lists::ENTRIES_NS,
        entry.id.to_string(),
        encode(&own),
    ));
    net.write(region(GUIZHOU), writes);
}

/// What the origin's operator does to change its entry: one message per
/// member and the `change/{revision}` tracks.
fn change(net: &mut Net, message: &EntryChange) {
    let mut writes = Vec::new();
    for member in MEMBERS {
        let body = release_change(
            &AgreementSet::builtin(),
            &Catalogue::base(),
            region(GUIZHOU),
            region(member),
            message,
        )
        .expect("released");
        net.queue(region(GUIZHOU), body);
        let track = ChangeTrack {
            change: message.change,
            at_ms: net.now,
            confirm_by_ms: net.now + 86_400_000,
        };
        writes.push(StateWrite::put(
            TRACK_NS,
            track_key(
                &message.entry,
                region(member),
                &rev_event("change", message.revision),
            ),
            encode(&track),
        ));
    }
    net.write(region(GUIZHOU), writes);
}

fn network(seed: u64, faults: Faults, now: i64) -> Net {
    let mut net = Net::new(seed, faults, trust(now), now);
    for code in std::iter::once(GUIZHOU).chain(MEMBERS) {
        net.add_node(region(code), &format!("n-{code}"), vec![flow(code)]);
    }
    net
}

/// One seeded run: list, correct, end; returns the duplicate deliveries
/// members saw.
fn run(seed: u64) -> usize {
    let mut rng = Rng(seed ^ 0x11575);
    let start = 1_793_577_600_000; // 2026-11-02
    let mut net = network(seed, Faults::random(&mut rng), start);
    let id = EntryId {
        origin: region(GUIZHOU),
        id: net.rng.id(),
    };
    list(
        &mut net,
        &entry(id, 0, "行政处罚决定书 黔市监罚〔2026〕1号"),
    );
    net.advance(rng.below(3_000) as i64);
    let corrected = entry(id, 1, "行政处罚决定书 黔市监罚〔2026〕1号（更正）");
    change(
        &mut net,
        &EntryChange {
            entry: id,
            revision: 1,
            change: ChangeKind::Correct,
            corrected: Some(corrected.clone()),
            reason: "the decision's number was wrong".into(),
        },
    );
    net.advance(rng.below(3_000) as i64);
    change(
        &mut net,
        &EntryChange {
            entry: id,
            revision: 2,
            change: ChangeKind::Exit,
            corrected: None,
            reason: "the planned exit date was reached".into(),
        },
    );
    net.run_until_quiet();
    check(seed, &net, id, &corrected)
}

fn check(seed: u64, net: &Net, id: EntryId, corrected: &ListEntry) -> usize {
    let origin = net.node(region(GUIZHOU));
    let mut duplicates = 0;
    for member in MEMBERS {
        let node = net.node(region(member));
        let applied: Vec<_> = node
            .journal
            .iter()
            .filter_map(|l| match l {
                Line::Received {
                    duplicate,
                    status,
                    summary,
                    ..
                } => {
                    duplicates += usize::from(*duplicate);
                    (!duplicate).then_some((status, summary))
                }
                Line::Sent { .. } => None,
            })
            .collect();
        // The listing and both changes, once each, all applied in order.
        assert_eq!(applied.len(), 3, "seed {seed}: {member}: {applied:?}");
        assert!(
            applied.iter().all(|(s, _)| **s == DeliveryStatus::Applied),
            "seed {seed}: {member}: {applied:?}"
        );
        let held: HeldEntry = node
            .state(RECEIVED_NS, &id.to_string())
            .unwrap_or_else(|| panic!("seed {seed}: {member} holds nothing"));
        let mut expected = corrected.clone();
        expected.revision = 2;
        assert_eq!(held.entry, expected, "seed {seed}: {member}");
        let ended = held.ended.expect("ended");
        assert_eq!((ended.change, ended.revision), (ChangeKind::Exit, 2));
        // Every change confirmed back to the origin.
        for revision in [1, 2] {
            let key = track_key(&id, region(member), &rev_event("confirm", revision));
            let confirmed: Option<ConfirmTrack> = origin.state(TRACK_NS, &key);
            assert!(confirmed.is_some(), "seed {seed}: {member} rev {revision}");
        }
        assert_eq!(node.outbox_len(), 0, "seed {seed}: {member}'s outbox");
    }
    assert_eq!(origin.outbox_len(), 0, "seed {seed}: the origin's outbox");
    // Log agreement: the origin logged 3 messages sent to each member and
    // received 2 confirmations from each, once.
    let (sent, received) = origin.journal.iter().fold((0, 0), |(s, r), l| match l {
        Line::Sent { .. } => (s + 1, r),
        Line::Received {
            duplicate: false, ..
        } => (s, r + 1),
        Line::Received { .. } => (s, r),
    });
    assert_eq!((sent, received), (9, 6), "seed {seed}");
    duplicates
}

#[test]
fn an_entry_its_correction_and_its_exit_reach_every_member_once_under_faults() {
    let duplicates: usize = (0..300).map(run).sum();
    assert!(duplicates > 100, "only {duplicates} duplicate deliveries");
}
