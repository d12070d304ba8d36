//! The lists flow's receiving decisions, pure: a [`View`] built by hand,
//! [`Flow::receive`] called, the effect (state written, follow-up queued
//! to the origin, summary) or the refusal and its code asserted. No
//! store, no sockets, no clock.
//!
//! Guizhou (520000) makes the entries; Guangdong (440000) holds them; the
//! shipped Pan-Pearl River agreement binds both for every list.

use credex_flows::flow::{Context, Effect, Flow, Peer, Read, Refusal, StateKey, View};
use credex_flows::lists::{
    AckTrack, CASES_NS, ChangeTrack, ConfirmTrack, FeedbackTrack, HeldEntry, Lists, MARKS_NS,
    MarkHeld, OBJECTIONS_NS, OwnEntry, ProcedureCase, RECEIVED_NS, SentTrack, TRACK_NS, mark_key,
    rev_event, track_key,
};
use credex_flows::lists::{EntryRuleError, check_entry};
use credex_pki::TrustStore;
use credex_pki::issue::{KeyAlgorithm, Validity, create_root};
use credex_policies::{AgreementSet, Catalogue, ListType, MeasuresCatalogue};
use credex_protocol::egress::EgressRecord;
use credex_protocol::federation::{DeliveryAck, DeliveryStatus, Envelope, Flow as FlowName};
use credex_protocol::lists::{
    ChangeConfirmed, ChangeKind, EntryChange, EntryId, Feedback, ListEntry, ListKind, NoticeMeans,
    Objection, Procedure, ProcedureMark, ProcedureOutcome, ProcedureStage, SubjectNotice,
    kind as msg,
};
use credex_protocol::query::SubjectRef;
use credex_protocol::{NodeName, RegionCode};

/// 2026-11-02, Unix ms.
const NOW_MS: i64 = 1_793_577_600_000;

const GUIZHOU: &str = "520000";
const GUANGDONG: &str = "440000";
const BEIJING: &str = "110000";

fn region(code: &str) -> RegionCode {
    code.parse().expect("a region code")
}

fn node(name: &str) -> NodeName {
    name.parse().expect("a node name")
}

fn peer(code: &str) -> Peer {
    Peer {
        region: region(code),
        node: node(&format!("node-{code}")),
    }
}

/// The trust store the context carries (the lists decisions verify no
/// signature of their own: the node verified the envelope's).
fn trust() -> TrustStore {
    let now = time::OffsetDateTime::from_unix_timestamp(NOW_MS / 1000).expect("a time");
    let root = create_root(
        "credex test root",
        KeyAlgorithm::Ed25519,
        Validity::days_from(now, 1),
    )
    .expect("a root");
    TrustStore::from_pem(&root.cert_pem, &[]).expect("a trust store")
}

/// The lists flow of the node of `code`, under the shipped agreements and
/// catalogues.
fn flow(code: &str) -> Lists {
    Lists::new(
        region(code),
        AgreementSet::builtin(),
        MeasuresCatalogue::builtin(),
        Catalogue::base(),
    )
}

/// A synthetic unified social credit code with valid check characters.
fn uscc(region: &str, seq: u32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const W11714: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    const W32100: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let body = format!("{:08}", 10_000_000 + seq);
    let sum: u32 = body
        .bytes()
        .zip(W11714)
        .map(|(b, w)| u32::from(b - b'0') * w)
        .sum();
    let check = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        n => char::from(b'0' + u8::try_from(n).expect("a digit")),
    };
    let first17 = format!("91{region}{body}{check}");
    let sum: u32 = first17
        .bytes()
        .zip(W32100)
        .map(|(b, w)| {
            let at = ALPHABET
                .iter()
                .position(|&c| c == b)
                .expect("a USCC character");
            u32::try_from(at).expect("small") * w
        })
        .sum();
    let last = ALPHABET[usize::try_from((31 - sum % 31) % 31).expect("small")];
    format!("{first17}{}", char::from(last))
}

fn entry_id() -> EntryId {
    EntryId {
        origin: region(GUIZHOU),
        id: [9; 16],
    }
}

/// A serious-dishonesty entry Guizhou made.
fn entry() -> ListEntry {
    ListEntry {
        id: entry_id(),
        revision: 0,
        list_type: ListKind::SeriousDishonesty,
        subject: SubjectRef::LegalPerson(uscc(GUIZHOU, 4)),
        basis: "basis".into(),
        authority: "authority".into(),
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

/// The envelope of a lists message of `kind` from `from` to `to`.
fn envelope<T: serde::Serialize>(kind: u16, from: &str, to: &str, body: &T) -> Envelope {
    Envelope {
        message_id: [kind.to_le_bytes()[0]; 16],
        flow: FlowName::Lists,
        kind,
        from_region: region(from),
        from_node: node(&format!("node-{from}")),
        to_region: region(to),
        created_at_ms: NOW_MS - 1_000,
        payload: credex_protocol::encode(body).expect("encodes"),
        egress: EgressRecord::no_record_data(),
    }
}

fn put<T: serde::Serialize>(view: &mut View, ns: &str, key: String, value: &T) {
    view.insert(
        StateKey::new(ns, key),
        credex_protocol::encode(value).expect("encodes"),
    );
}

/// What Guangdong holds after Guizhou's listing.
fn held() -> HeldEntry {
    HeldEntry {
        entry: entry(),
        received_at_ms: NOW_MS - 10_000,
        from_node: node("node-520000"),
        ended: None,
    }
}

/// Guangdong's view holding Guizhou's entry.
fn holding() -> View {
    let mut view = View::default();
    put(&mut view, RECEIVED_NS, entry_id().to_string(), &held());
    view
}

/// Guizhou's view of its entry, sent to Guangdong.
fn sent_to_guangdong() -> View {
    let mut view = View::default();
    let own = OwnEntry {
        entry: entry(),
        created_at_ms: NOW_MS - 20_000,
        ended: None,
        no_peer: Vec::new(),
        rests_on: None,
    };
    put(&mut view, "lists.entries", entry_id().to_string(), &own);
    let sent = SentTrack {
        at_ms: NOW_MS - 20_000,
        respond_by_ms: NOW_MS + 1_000_000,
        feedback_by_ms: NOW_MS + 2_000_000,
        message_id: [1; 16],
    };
    let key = track_key(&entry_id(), region(GUANGDONG), "sent");
    put(&mut view, TRACK_NS, key, &sent);
    view
}

/// Run `flow` on `envelope` from `from` against `view`.
fn receive(flow: &Lists, view: &View, from: &str, envelope: &Envelope) -> Result<Effect, Refusal> {
    let trust = trust();
    let cx = Context {
        now_ms: NOW_MS,
        trust: &trust,
    };
    flow.receive(&cx, view, &peer(from), envelope)
}

/// The refusal's stable code and text, asserting it is for good.
fn refused(result: Result<Effect, Refusal>) -> (&'static str, String) {
    match result {
        Err(Refusal::Permanent(r)) => (r.code(), r.to_string()),
        Err(Refusal::Transient(reason)) => panic!("refused for now, not for good: {reason}"),
        Ok(effect) => panic!("applied: {}", effect.summary),
    }
}

fn decoded<T: serde::de::DeserializeOwned>(effect: &Effect, index: usize) -> T {
    let value = effect.state[index].value.as_ref().expect("a put");
    credex_protocol::decode(value).expect("decodes")
}

#[test]
fn the_agreement_binds_guizhou_and_guangdong() {
    let peers = AgreementSet::builtin().joint_peers(region(GUIZHOU), ListType::SeriousDishonesty);
    assert!(peers.contains(&region(GUANGDONG)), "{peers:?}");
    assert!(!peers.contains(&region(BEIJING)), "{peers:?}");
}

#[test]
fn a_listing_is_held_and_nothing_is_sent() {
    let gd = flow(GUANGDONG);
    let listing = envelope(msg::LISTING, GUIZHOU, GUANGDONG, &entry());
    let reads = gd.reads(&peer(GUIZHOU), &listing).expect("reads");
    assert_eq!(
        reads,
        vec![Read::State(StateKey::new(
            RECEIVED_NS,
            entry_id().to_string()
        ))]
    );
    let effect = receive(&gd, &View::default(), GUIZHOU, &listing).expect("held");
    assert_eq!(effect.state.len(), 1);
    assert_eq!(
        (effect.state[0].ns.as_str(), effect.state[0].key.clone()),
        (RECEIVED_NS, entry_id().to_string())
    );
    let held: HeldEntry = decoded(&effect, 0);
    assert_eq!(held.entry, entry());
    assert_eq!(held.received_at_ms, NOW_MS);
    assert_eq!(held.from_node, node("node-520000"));
    assert!(held.ended.is_none());
    // Feedback is the operator's to give: a listing queues nothing.
    assert!(effect.send.is_empty() && effect.records.is_empty() && effect.reply.is_empty());
    assert!(effect.summary.ends_with(": held"), "{}", effect.summary);
    assert!(
        !effect.summary.contains(&uscc(GUIZHOU, 4)),
        "the summary names the subject by digest only"
    );
}

#[test]
fn a_listing_refused_for_the_rule_it_breaks() {
    let gd = flow(GUANGDONG);
    let listing = envelope(msg::LISTING, GUIZHOU, GUANGDONG, &entry());
    let (code, text) = refused(receive(&gd, &holding(), GUIZHOU, &listing));
    assert_eq!(code, "stale");
    assert!(text.contains("was already received"), "{text}");

    // Guangdong forwards Guizhou's entry to Hunan.
    let hunan = flow("430000");
    let forwarded = envelope(msg::LISTING, GUANGDONG, "430000", &entry());
    let (code, text) = refused(receive(&hunan, &View::default(), GUANGDONG, &forwarded));
    assert_eq!(code, "not-entitled");
    assert!(
        text.contains("a region sends only its own entries"),
        "{text}"
    );

    // Beijing's own entry, but no agreement binds Beijing and Guizhou.
    let mut beijing = entry();
    beijing.id.origin = region(BEIJING);
    beijing.subject = SubjectRef::LegalPerson(uscc(BEIJING, 4));
    let listing = envelope(msg::LISTING, BEIJING, GUIZHOU, &beijing);
    let (code, text) = refused(receive(&flow(GUIZHOU), &View::default(), BEIJING, &listing));
    assert_eq!(code, "not-entitled");
    assert!(
        text.contains("no agreement binds regions 110000 and 520000"),
        "{text}"
    );

    let mut revised = entry();
    revised.revision = 2;
    let listing = envelope(msg::LISTING, GUIZHOU, GUANGDONG, &revised);
    let (code, _) = refused(receive(&gd, &View::default(), GUIZHOU, &listing));
    assert_eq!(code, "invalid");

    let mut other_list = entry();
    other_list.measures = vec!["green_channel".into()];
    let listing = envelope(msg::LISTING, GUIZHOU, GUANGDONG, &other_list);
    let (code, text) = refused(receive(&gd, &View::default(), GUIZHOU, &listing));
    assert_eq!(code, "invalid");
    assert!(text.contains("does not apply"), "{text}");
}

fn revocation(revision: u32) -> EntryChange {
    EntryChange {
        entry: entry_id(),
        revision,
        change: ChangeKind::Revoke,
        corrected: None,
        reason: String::new(),
    }
}

#[test]
fn a_change_is_applied_and_its_confirmation_queued_to_the_origin() {
    let gd = flow(GUANGDONG);
    let change = envelope(msg::CHANGE, GUIZHOU, GUANGDONG, &revocation(1));
    let effect = receive(&gd, &holding(), GUIZHOU, &change).expect("applied");
    let now: HeldEntry = decoded(&effect, 0);
    assert_eq!(now.entry.revision, 1);
    let ended = now.ended.expect("a revocation ends the entry");
    assert_eq!(
        (ended.change, ended.revision, ended.at_ms),
        (ChangeKind::Revoke, 1, NOW_MS)
    );
    assert_eq!(effect.send.len(), 1);
    let body = &effect.send[0];
    assert_eq!(
        (body.flow(), body.kind(), body.recipient()),
        (FlowName::Lists, msg::CHANGE_CONFIRMED, region(GUIZHOU))
    );
    let confirmed: ChangeConfirmed = credex_protocol::decode(body.payload()).expect("decodes");
    assert_eq!(
        confirmed,
        ChangeConfirmed {
            entry: entry_id(),
            revision: 1
        }
    );
    assert!(
        effect.summary.contains("applied, confirmation queued"),
        "{}",
        effect.summary
    );
}

#[test]
fn a_change_from_another_region_is_not_entitled() {
    let change = envelope(msg::CHANGE, GUANGDONG, "430000", &revocation(1));
    let (code, text) = refused(receive(&flow("430000"), &holding(), GUANGDONG, &change));
    assert_eq!(code, "not-entitled");
    assert!(text.contains("cannot change it"), "{text}");
}

#[test]
fn a_change_not_newer_than_the_held_revision_is_stale() {
    let gd = flow(GUANGDONG);
    let mut view = View::default();
    let mut at_two = held();
    at_two.entry.revision = 2;
    put(&mut view, RECEIVED_NS, entry_id().to_string(), &at_two);
    let change = envelope(msg::CHANGE, GUIZHOU, GUANGDONG, &revocation(2));
    let (code, text) = refused(receive(&gd, &view, GUIZHOU, &change));
    assert_eq!(code, "stale");
    assert!(
        text.contains("is not newer than the held revision 2"),
        "{text}"
    );

    // An ended entry takes no further change.
    let applied = receive(
        &gd,
        &holding(),
        GUIZHOU,
        &envelope(msg::CHANGE, GUIZHOU, GUANGDONG, &revocation(1)),
    )
    .expect("applied");
    let mut view = View::default();
    view.insert(
        StateKey::new(RECEIVED_NS, entry_id().to_string()),
        applied.state[0].value.clone().expect("a put"),
    );
    let again = envelope(msg::CHANGE, GUIZHOU, GUANGDONG, &revocation(2));
    let (code, text) = refused(receive(&gd, &view, GUIZHOU, &again));
    assert_eq!(code, "stale");
    assert!(text.contains("has already ended (revoke)"), "{text}");
}

#[test]
fn a_change_to_an_entry_not_held_is_not_held() {
    let change = envelope(msg::CHANGE, GUIZHOU, GUANGDONG, &revocation(1));
    let (code, text) = refused(receive(
        &flow(GUANGDONG),
        &View::default(),
        GUIZHOU,
        &change,
    ));
    assert_eq!(code, "not-held");
    assert!(text.contains("this region holds no entry"), "{text}");
}

fn feedback(measures: &[&str]) -> Feedback {
    Feedback {
        entry: entry_id(),
        applied: measures.iter().map(|m| (*m).to_owned()).collect(),
        note: "applied in full".into(),
    }
}

#[test]
fn feedback_is_recorded_at_the_origin() {
    let gz = flow(GUIZHOU);
    let message = envelope(
        msg::FEEDBACK,
        GUANGDONG,
        GUIZHOU,
        &feedback(&["restrict_honours"]),
    );
    let reads = gz.reads(&peer(GUANGDONG), &message).expect("reads");
    assert_eq!(reads.len(), 3, "the entry, its sent and responded events");
    let effect = receive(&gz, &sent_to_guangdong(), GUANGDONG, &message).expect("recorded");
    assert_eq!(
        effect.state[0].key,
        track_key(&entry_id(), region(GUANGDONG), "feedback")
    );
    let track: FeedbackTrack = decoded(&effect, 0);
    assert_eq!(
        (track.at_ms, track.applied, track.note.as_str()),
        (
            NOW_MS,
            vec!["restrict_honours".to_owned()],
            "applied in full"
        )
    );
    assert!(effect.send.is_empty());
}

#[test]
fn feedback_refused_for_the_rule_it_breaks() {
    let gz = flow(GUIZHOU);
    // Beijing never received the entry.
    let message = envelope(
        msg::FEEDBACK,
        BEIJING,
        GUIZHOU,
        &feedback(&["restrict_honours"]),
    );
    let (code, text) = refused(receive(&gz, &sent_to_guangdong(), BEIJING, &message));
    assert_eq!(code, "not-entitled");
    assert!(text.contains("was not sent to region 110000"), "{text}");

    // A measure of another list.
    let message = envelope(
        msg::FEEDBACK,
        GUANGDONG,
        GUIZHOU,
        &feedback(&["green_channel"]),
    );
    let (code, text) = refused(receive(&gz, &sent_to_guangdong(), GUANGDONG, &message));
    assert_eq!(code, "invalid");
    assert!(text.contains("does not apply"), "{text}");

    // Guangdong refused the listing: it holds no copy to answer for.
    let mut view = sent_to_guangdong();
    let responded = AckTrack {
        at_ms: NOW_MS - 5_000,
        node: node("node-440000"),
        refused: Some("no".into()),
    };
    let key = track_key(&entry_id(), region(GUANGDONG), "responded");
    put(&mut view, TRACK_NS, key, &responded);
    let message = envelope(
        msg::FEEDBACK,
        GUANGDONG,
        GUIZHOU,
        &feedback(&["restrict_honours"]),
    );
    let (code, _) = refused(receive(&gz, &view, GUANGDONG, &message));
    assert_eq!(code, "not-entitled");

    // Feedback sent to a region that did not make the entry.
    let (code, _) = refused(receive(&flow(GUANGDONG), &holding(), GUIZHOU, &message));
    assert_eq!(code, "not-held");
}

#[test]
fn a_confirmation_is_recorded_only_for_a_change_sent() {
    let gz = flow(GUIZHOU);
    let confirmed = ChangeConfirmed {
        entry: entry_id(),
        revision: 1,
    };
    let message = envelope(msg::CHANGE_CONFIRMED, GUANGDONG, GUIZHOU, &confirmed);
    let change_key = track_key(&entry_id(), region(GUANGDONG), &rev_event("change", 1));
    let reads = gz.reads(&peer(GUANGDONG), &message).expect("reads");
    assert!(reads.contains(&Read::State(StateKey::new(TRACK_NS, change_key.clone()))));

    let (code, text) = refused(receive(&gz, &sent_to_guangdong(), GUANGDONG, &message));
    assert_eq!(code, "not-held");
    assert!(text.contains("no change to revision 1"), "{text}");

    let mut view = sent_to_guangdong();
    let sent = ChangeTrack {
        change: ChangeKind::Revoke,
        at_ms: NOW_MS - 1_000,
        confirm_by_ms: NOW_MS + 1_000_000,
    };
    put(&mut view, TRACK_NS, change_key, &sent);
    let effect = receive(&gz, &view, GUANGDONG, &message).expect("recorded");
    assert_eq!(
        effect.state[0].key,
        track_key(&entry_id(), region(GUANGDONG), &rev_event("confirm", 1))
    );
    let track: ConfirmTrack = decoded(&effect, 0);
    assert_eq!(track.at_ms, NOW_MS);
}

#[test]
fn an_objection_is_recorded_per_message() {
    let objection = Objection {
        entry: entry_id(),
        reason: "the fine was paid".into(),
    };
    let message = envelope(msg::OBJECTION, GUANGDONG, GUIZHOU, &objection);
    let effect =
        receive(&flow(GUIZHOU), &sent_to_guangdong(), GUANGDONG, &message).expect("recorded");
    assert_eq!(effect.state[0].ns, OBJECTIONS_NS);
    assert_eq!(
        effect.state[0].key,
        format!(
            "{}/{GUANGDONG}/{}",
            entry_id(),
            hex::encode(message.message_id)
        )
    );
}

#[test]
fn an_objection_is_marked_filed_on_every_holder_with_its_deadline() {
    let objection = Objection {
        entry: entry_id(),
        reason: "the fine was paid".into(),
    };
    let message = envelope(msg::OBJECTION, GUANGDONG, GUIZHOU, &objection);
    let gy = flow(GUIZHOU);
    let reads = gy.reads(&peer(GUANGDONG), &message).expect("reads");
    assert!(
        reads.contains(&Read::Prefix {
            ns: TRACK_NS.into(),
            prefix: format!("{}/", entry_id())
        }),
        "the origin reads every holder of the entry: {reads:?}"
    );
    let effect = receive(&gy, &sent_to_guangdong(), GUANGDONG, &message).expect("recorded");
    assert_eq!(effect.state[1].ns, CASES_NS);
    let case: ProcedureCase = decoded(&effect, 1);
    assert_eq!(case.mark.stage, ProcedureStage::Filed);
    assert_eq!(case.mark.case, message.message_id);
    // Monday 2 November 2026 + 2 working days.
    assert_eq!(case.mark.accept_by, "2026-11-04");
    assert_eq!(effect.send.len(), 1, "one holder: Guangdong");
    assert_eq!(effect.send[0].recipient(), region(GUANGDONG));
    assert_eq!(effect.send[0].kind(), msg::PROCEDURE_MARK);
}

fn mark(stage: ProcedureStage) -> ProcedureMark {
    ProcedureMark {
        procedure: Procedure::Objection,
        entry: entry_id(),
        case: [7; 16],
        filed_in: region(GUANGDONG),
        stage,
        accept_by: "2026-11-04".into(),
        decide_by: None,
        note: String::new(),
    }
}

#[test]
fn a_holder_keeps_the_origins_latest_mark_and_refuses_any_other() {
    let gd = flow(GUANGDONG);
    let accepted = envelope(
        msg::PROCEDURE_MARK,
        GUIZHOU,
        GUANGDONG,
        &mark(ProcedureStage::Accepted),
    );
    let effect = receive(&gd, &holding(), GUIZHOU, &accepted).expect("kept");
    assert_eq!(effect.state[0].ns, MARKS_NS);
    assert_eq!(effect.state[0].key, mark_key(&entry_id(), &[7; 16]));
    let held: MarkHeld = decoded(&effect, 0);
    assert!(held.mark.stage.pending());

    // Only the origin marks its entry's objections.
    let (code, text) = refused(receive(&gd, &holding(), BEIJING, &accepted));
    assert_eq!(code, "not-entitled", "{text}");
    // Not an entry held here.
    let (code, _) = refused(receive(&gd, &View::default(), GUIZHOU, &accepted));
    assert_eq!(code, "not-held");
    // Never backwards: a decided objection is not filed again.
    let mut decided = holding();
    put(
        &mut decided,
        MARKS_NS,
        mark_key(&entry_id(), &[7; 16]),
        &MarkHeld {
            mark: mark(ProcedureStage::Decided(ProcedureOutcome::Dismissed)),
            at_ms: NOW_MS - 1,
        },
    );
    let filed = envelope(
        msg::PROCEDURE_MARK,
        GUIZHOU,
        GUANGDONG,
        &mark(ProcedureStage::Filed),
    );
    let (code, text) = refused(receive(&gd, &decided, GUIZHOU, &filed));
    assert_eq!(code, "stale", "{text}");
    // A date that is not one.
    let mut bad = mark(ProcedureStage::Filed);
    bad.accept_by = "2026-02-30".into();
    let bad = envelope(msg::PROCEDURE_MARK, GUIZHOU, GUANGDONG, &bad);
    let (code, text) = refused(receive(&gd, &holding(), GUIZHOU, &bad));
    assert_eq!(code, "invalid");
    assert!(text.contains("accept_by"), "{text}");
}

#[test]
fn unknown_kinds_and_unreadable_bodies_are_refused() {
    let gd = flow(GUANGDONG);
    let unknown = envelope(99, GUIZHOU, GUANGDONG, &1u8);
    let Err(Refusal::Permanent(r)) = gd.reads(&peer(GUIZHOU), &unknown) else {
        panic!("an unknown kind is refused for good");
    };
    assert_eq!(r.code(), "unknown-kind");
    assert!(
        r.to_string().contains("unknown lists message kind 99"),
        "{r}"
    );

    let mut garbage = envelope(msg::LISTING, GUIZHOU, GUANGDONG, &entry());
    garbage.payload = vec![0xff; 40];
    let (code, text) = refused(receive(&gd, &View::default(), GUIZHOU, &garbage));
    assert_eq!(code, "unreadable");
    assert!(text.contains("does not decode"), "{text}");
}

#[test]
fn an_acknowledgement_records_the_response() {
    let gz = flow(GUIZHOU);
    let trust = trust();
    let cx = Context {
        now_ms: NOW_MS,
        trust: &trust,
    };
    let listing = envelope(msg::LISTING, GUIZHOU, GUANGDONG, &entry());
    let ack = DeliveryAck {
        message_digest: [0; 32],
        message_id: listing.message_id,
        receiver_region: region(GUANGDONG),
        receiver_node: node("node-440000"),
        status: DeliveryStatus::Refused {
            reason: "not-entitled: no".into(),
        },
        reply: Vec::new(),
    };
    let writes = gz
        .acknowledged(&cx, &View::default(), &listing, &ack)
        .expect("tracked");
    assert_eq!(writes.len(), 1);
    assert_eq!(
        writes[0].key,
        track_key(&entry_id(), region(GUANGDONG), "responded")
    );
    let track: AckTrack =
        credex_protocol::decode(writes[0].value.as_ref().expect("a put")).expect("decodes");
    assert_eq!(track.at_ms, NOW_MS);
    assert_eq!(track.refused.as_deref(), Some("not-entitled: no"));

    let change = envelope(msg::CHANGE, GUIZHOU, GUANGDONG, &revocation(3));
    let ack = DeliveryAck {
        status: DeliveryStatus::Applied,
        ..ack
    };
    let writes = gz
        .acknowledged(&cx, &View::default(), &change, &ack)
        .expect("tracked");
    assert_eq!(
        writes[0].key,
        track_key(&entry_id(), region(GUANGDONG), &rev_event("changeack", 3))
    );
}

/// Each rule of `check_entry` a list entry can break is refused by its own
/// variant, whose message names the part at fault; a good entry passes.
#[test]
fn a_list_entry_breaking_a_rule_is_refused_by_that_rule() {
    let (measures, catalogue) = (MeasuresCatalogue::builtin(), Catalogue::base());
    let check = |entry: &ListEntry| check_entry(&measures, &catalogue, entry);
    check(&entry()).expect("a good entry");

    let mut bad_date = entry();
    bad_date.entry_date = "2026-13-40".into();
    let mut bad_digit = entry();
    let SubjectRef::LegalPerson(code) = &mut bad_digit.subject else {
        unreachable!()
    };
    let last = if code.ends_with('0') { '1' } else { '0' };
    code.replace_range(17.., &last.to_string());
    let mut unknown_measure = entry();
    unknown_measure.measures = vec!["no_such_measure".into()];
    let mut not_a_field = entry();
    not_a_field.details.insert("shoe_size".into(), "42".into());
    let mut bad_value = entry();
    bad_value
        .details
        .insert("entry_date".into(), "yesterday".into());

    let err = check(&bad_date).expect_err("a bad date");
    assert!(matches!(err, EntryRuleError::Bounds(_)), "{err}");
    let err = check(&bad_digit).expect_err("a bad check digit");
    assert!(matches!(err, EntryRuleError::Subject(_)), "{err}");
    assert!(err.to_string().starts_with("subject: "), "{err}");
    let err = check(&unknown_measure).expect_err("an unknown measure");
    assert!(matches!(err, EntryRuleError::Measures(_)), "{err}");
    assert!(err.to_string().contains("no_such_measure"), "{err}");
    let err = check(&not_a_field).expect_err("not a field");
    assert!(
        matches!(&err, EntryRuleError::NotAField { code, category }
            if code == "shoe_size" && category == "serious_dishonesty"),
        "{err}"
    );
    let err = check(&bad_value).expect_err("a value not of its type");
    assert!(
        matches!(&err, EntryRuleError::Detail { code, .. } if code == "entry_date"),
        "{err}"
    );
    assert!(err.to_string().starts_with("details.entry_date: "), "{err}");
}
