//! Dual-authorized cross-region queries through real QUIC, real signatures
//! and real databases: what is released, what is withheld, and one test per
//! reason a request is refused.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use credex_journal::{AccessEntry, Direction, PseudonymKeysInUse, kind};
use credex_node::config::NodeConfig;
use credex_node::pseudonyms::NaturalPersons;
use credex_node::query::unix_ms;
use credex_node::requester::{self, QuerySpec};
use credex_node::service::RunningNode;
use credex_pki::authorization::{approve_request, sign_request};
use credex_pki::{PseudonymKey, PseudonymKeyRing};
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, Outcome, QueryReason, QueryResponse, SubjectAuthorization,
    SubjectPseudonym, SubjectRef, Value,
};
use credex_tests::{
    Federation, ask, authorized_query, export_log, import_samples, signer, subjects,
};

fn fields(category: &str, list: &[&str]) -> CategoryFields {
    CategoryFields {
        category: category.into(),
        fields: list.iter().map(|s| s.to_string()).collect(),
    }
}

fn spec(target: &str, subject: &str, purpose: &str, requested: Vec<CategoryFields>) -> QuerySpec {
    QuerySpec {
        target_region: target.parse().unwrap(),
        subject: SubjectRef::LegalPerson(subject.into()),
        purpose: purpose.into(),
        requested,
        legal_basis: None,
        subject_authorization: None,
    }
}

async fn journal(node: &RunningNode, k: u16) -> Vec<AccessEntry> {
    let all = node.storage().journal_range(0, 4096).await.unwrap();
    all.into_iter()
        .filter(|r| r.kind == k)
        .map(|r| credex_protocol::decode(&r.body).unwrap())
        .collect()
}

fn names(list: &[CategoryFields]) -> Vec<String> {
    let mut out: Vec<String> = list
        .iter()
        .flat_map(|c| c.fields.iter().map(move |f| format!("{}.{f}", c.category)))
        .collect();
    out.sort();
    out
}

/// Guizhou (requester) and Guangdong (responder, with its sample records).
async fn gy_and_gz(fed: &Federation) -> (RunningNode, RunningNode) {
    let gy = fed.start("gy-1").await;
    let gz = fed.start("gz-1").await;
    import_samples(fed, &gz, "440000").await;
    (gy, gz)
}

fn penalty_query(subject: &str, list: &[&str]) -> QuerySpec {
    let mut s = spec(
        "440000",
        subject,
        "public_procurement",
        vec![fields("admin_penalty", list)],
    );
    s.legal_basis = Some("joint-punishment-memorandum".into());
    s
}

#[tokio::test]
async fn granted_query_returns_exactly_the_permitted_fields() {
    let fed = Federation::new();
    let (gy, gz) = gy_and_gz(&fed).await;
    let subject = &subjects("440000")[0];
    let q = authorized_query(
        &fed,
        &gy,
        penalty_query(subject, &["decision_number", "amount", "decision_date"]),
    );
    let r = ask(&gy, &gz, &q).await;

    assert_eq!(r.body.outcome, Outcome::Granted, "{:?}", r.body.reason);
    assert_eq!(r.body.reason, QueryReason::Granted);
    assert_eq!(r.body.records.len(), 1);
    let rec = &r.body.records[0];
    let got: Vec<&str> = rec.fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(got, ["amount", "decision_date", "decision_number"]);
    assert!(
        rec.fields
            .contains(&("amount".into(), Value::Decimal("5000.00".into())))
    );

    // Both sides logged the access with the same query digest.
    let received = journal(&gz, kind::QUERY_RECEIVED).await;
    let sent = journal(&gy, kind::QUERY_SENT).await;
    assert_eq!(received.len(), 1);
    assert_eq!(sent.len(), 1);
    assert_eq!(received[0].query_digest, sent[0].query_digest);
    assert_eq!(received[0].direction, Direction::Received);
    assert_eq!(received[0].outcome, Outcome::Granted);
    assert!(sent[0].response_digest.is_some());
    // No clear identifier in the entry: the subject appears only as a digest.
    let raw = gz.storage().journal_range(0, 4096).await.unwrap();
    assert!(raw.iter().all(|r| {
        !r.body
            .windows(subject.len())
            .any(|w| w == subject.as_bytes())
    }));
    // The bundle is kept beside the entry, under the entry's index.
    let entry_seq = raw
        .iter()
        .find(|r| r.kind == kind::QUERY_RECEIVED)
        .map(|r| r.seq)
        .unwrap();
    let kept = gz
        .storage()
        .entry_attachment(entry_seq, &received[0].query_digest)
        .await
        .unwrap()
        .expect("the bundle is kept");
    assert_eq!(credex_journal::sha256(&kept), received[0].query_digest);
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn over_asking_is_trimmed_and_the_log_says_what_was_withheld() {
    let fed = Federation::new();
    let (gy, gz) = gy_and_gz(&fed).await;
    let subject = &subjects("440000")[1];
    let q = authorized_query(
        &fed,
        &gy,
        penalty_query(
            subject,
            &[
                "decision_number",
                "amount",
                "case_notes",
                "offender_id_number",
            ],
        ),
    );
    let r = ask(&gy, &gz, &q).await;
    assert_eq!(r.body.outcome, Outcome::Trimmed);
    assert_eq!(
        names(&r.body.released),
        ["admin_penalty.amount", "admin_penalty.decision_number"]
    );
    assert_eq!(
        names(&r.body.withheld),
        [
            "admin_penalty.case_notes",
            "admin_penalty.offender_id_number"
        ]
    );
    for rec in &r.body.records {
        for (k, _) in &rec.fields {
            assert!(k == "amount" || k == "decision_number", "field {k} leaked");
        }
    }
    let entry = &journal(&gz, kind::QUERY_RECEIVED).await[0];
    assert_eq!(entry.outcome, Outcome::Trimmed);
    assert_eq!(
        names(&entry.withheld),
        [
            "admin_penalty.case_notes",
            "admin_penalty.offender_id_number"
        ]
    );
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn the_same_request_is_granted_by_one_region_and_denied_by_another() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;
    let gz = fed.start("gz-1").await;
    import_samples(&fed, &cq, "500000").await;
    import_samples(&fed, &gz, "440000").await;

    let ask_for = |target: &str, subject: &str| {
        let mut s = spec(
            target,
            subject,
            "public_procurement",
            vec![fields("admin_penalty", &["decision_number", "amount"])],
        );
        s.legal_basis = Some("joint-punishment-memorandum".into());
        s
    };
    let to_gz = authorized_query(&fed, &gy, ask_for("440000", &subjects("440000")[0]));
    let to_cq = authorized_query(&fed, &gy, ask_for("500000", &subjects("500000")[0]));
    let from_gz = ask(&gy, &gz, &to_gz).await;
    let from_cq = ask(&gy, &cq, &to_cq).await;
    // Guangdong accepts the memorandum for procurement; Chongqing's
    // procurement rule takes no legal basis in place of the subject's consent.
    assert_eq!(from_gz.body.outcome, Outcome::Granted);
    assert_eq!(from_gz.body.records.len(), 1);
    assert_eq!(from_cq.body.outcome, Outcome::Denied);
    assert_eq!(from_cq.body.reason, QueryReason::LegalBasisNotAccepted);
    assert!(from_cq.body.records.is_empty());
    for n in [gy, cq, gz] {
        n.shutdown().await;
    }
}

/// Ask and return the decision; the response signature was verified by `ask`.
async fn decision(
    gy: &RunningNode,
    to: &RunningNode,
    q: &AuthorizedQuery,
) -> (Outcome, QueryReason, QueryResponse) {
    let r = ask(gy, to, q).await;
    (r.body.outcome, r.body.reason, r)
}

async fn expect_denied(
    gy: &RunningNode,
    to: &RunningNode,
    q: &AuthorizedQuery,
    reason: QueryReason,
) {
    let (outcome, got, r) = decision(gy, to, q).await;
    assert_eq!((outcome, got), (Outcome::Denied, reason));
    assert!(r.body.records.is_empty() && r.body.released.is_empty());
    // The responder recorded the denial with the same reason.
    let entries = journal(to, kind::QUERY_RECEIVED).await;
    assert!(
        entries.iter().any(|e| e.query_digest == r.body.query_digest
            && e.reason == reason
            && e.outcome == Outcome::Denied),
        "denial {reason} not recorded"
    );
}

#[tokio::test]
async fn unknown_peer_is_denied() {
    // Chongqing has agreements with Guizhou only; Guangdong is unknown to its policy.
    let fed = Federation::new();
    let gz = fed.start("gz-1").await;
    let cq = fed.start("cq-1").await;
    import_samples(&fed, &cq, "500000").await;
    let q = authorized_query(
        &fed,
        &gz,
        spec(
            "500000",
            &subjects("500000")[0],
            "public_procurement",
            vec![fields("admin_penalty", &["amount"])],
        ),
    );
    expect_denied(&gz, &cq, &q, QueryReason::UnknownPeer).await;
    gz.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn signature_and_officer_violations_are_denied() {
    let fed = Federation::new();
    let (gy, gz) = gy_and_gz(&fed).await;
    let subject = &subjects("440000")[0];
    let base = penalty_query(subject, &["amount"]);

    // Bad signature: the purpose is changed after both officers signed.
    let mut q = authorized_query(&fed, &gy, base.clone());
    q.request.purpose = "administrative_approval".into();
    expect_denied(&gy, &gz, &q, QueryReason::BadSignature).await;

    // The requester approves their own request (same certificate, same key).
    let req = signer(&fed, "520000", "req-1");
    let file = requester::draft_and_sign(
        gy.config().region,
        gy.config().name.clone(),
        base.clone(),
        &req,
        SystemTime::now(),
    )
    .unwrap();
    let own = approve_request(
        &file.request,
        file.requester.as_ref().unwrap(),
        &req.key,
        req.chain.clone(),
    )
    .unwrap();
    let q = AuthorizedQuery {
        request: file.request.clone(),
        requester: file.requester.clone().unwrap(),
        approver: own,
        subject_authorization: None,
    };
    expect_denied(&gy, &gz, &q, QueryReason::SameOfficer).await;

    // Wrong role: the auditor "approves".
    let aud = signer(&fed, "520000", "aud-1");
    let file = requester::draft_and_sign(
        gy.config().region,
        gy.config().name.clone(),
        base.clone(),
        &req,
        SystemTime::now(),
    )
    .unwrap();
    let by_auditor = approve_request(
        &file.request,
        file.requester.as_ref().unwrap(),
        &aud.key,
        aud.chain.clone(),
    )
    .unwrap();
    let q = AuthorizedQuery {
        request: file.request.clone(),
        requester: file.requester.clone().unwrap(),
        approver: by_auditor,
        subject_authorization: None,
    };
    expect_denied(&gy, &gz, &q, QueryReason::WrongRole).await;

    // A node claiming another region: Guizhou's node sends a request that
    // says it comes from Chongqing, signed by Chongqing's officers.
    let mut s = base.clone();
    s.target_region = "440000".parse().unwrap();
    let cq_req = signer(&fed, "500000", "req-1");
    let cq_apv = signer(&fed, "500000", "apv-1");
    let mut file = requester::draft_and_sign(
        "500000".parse().unwrap(),
        "cq-1".parse().unwrap(),
        s,
        &cq_req,
        SystemTime::now(),
    )
    .unwrap();
    requester::approve(&mut file, &cq_apv).unwrap();
    expect_denied(
        &gy,
        &gz,
        &file.authorized().unwrap(),
        QueryReason::WrongRegion,
    )
    .await;

    // Stale: signed an hour ago.
    let mut file = requester::draft_and_sign(
        gy.config().region,
        gy.config().name.clone(),
        base.clone(),
        &req,
        SystemTime::now() - Duration::from_secs(3600),
    )
    .unwrap();
    requester::approve(&mut file, &signer(&fed, "520000", "apv-1")).unwrap();
    expect_denied(&gy, &gz, &file.authorized().unwrap(), QueryReason::Stale).await;

    // Addressed to another region.
    let mut s = base.clone();
    s.target_region = "500000".parse().unwrap();
    let q = authorized_query(&fed, &gy, s);
    expect_denied(&gy, &gz, &q, QueryReason::WrongTarget).await;

    // A re-signed request with a bad purpose code or subject identifier.
    let mut s = base.clone();
    s.purpose = "curiosity".into();
    expect_denied(
        &gy,
        &gz,
        &authorized_query(&fed, &gy, s),
        QueryReason::UnknownPurpose,
    )
    .await;
    let mut s = base.clone();
    s.subject = SubjectRef::LegalPerson("91440000MA00000000".into());
    expect_denied(
        &gy,
        &gz,
        &authorized_query(&fed, &gy, s),
        QueryReason::InvalidSubject,
    )
    .await;
    let _ = sign_request;
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn replay_is_denied_and_recorded() {
    let fed = Federation::new();
    let (gy, gz) = gy_and_gz(&fed).await;
    let q = authorized_query(
        &fed,
        &gy,
        penalty_query(&subjects("440000")[0], &["amount"]),
    );
    let (first, _, _) = decision(&gy, &gz, &q).await;
    assert_eq!(first, Outcome::Granted);
    expect_denied(&gy, &gz, &q, QueryReason::Replay).await;
    // Replays are caught across a restart too.
    gz.shutdown().await;
    let gz = fed.start("gz-1").await;
    expect_denied(&gy, &gz, &q, QueryReason::Replay).await;
    gy.shutdown().await;
    gz.shutdown().await;
}

/// The journal keeps each outcome's own lists: a trimmed answer names what
/// it released and withheld, and its replay, denied at the claim, names
/// everything requested as withheld and nothing released — in the entry
/// and in the answer alike.
#[tokio::test]
async fn a_replayed_trimmed_query_is_journaled_with_everything_withheld() {
    let fed = Federation::new();
    let (gy, gz) = gy_and_gz(&fed).await;
    let q = authorized_query(
        &fed,
        &gy,
        penalty_query(&subjects("440000")[1], &["amount", "case_notes"]),
    );
    let first = ask(&gy, &gz, &q).await;
    assert_eq!(first.body.outcome, Outcome::Trimmed);
    assert_eq!(names(&first.body.released), ["admin_penalty.amount"]);
    assert_eq!(names(&first.body.withheld), ["admin_penalty.case_notes"]);
    let replay = ask(&gy, &gz, &q).await;
    assert_eq!(
        (replay.body.outcome, replay.body.reason),
        (Outcome::Denied, QueryReason::Replay)
    );
    assert!(replay.body.released.is_empty() && replay.body.records.is_empty());
    assert_eq!(
        names(&replay.body.withheld),
        ["admin_penalty.amount", "admin_penalty.case_notes"]
    );

    let entries = journal(&gz, kind::QUERY_RECEIVED).await;
    let [trimmed, denied] = entries.as_slice() else {
        panic!("two received entries expected, got {}", entries.len());
    };
    assert_eq!(
        (trimmed.outcome, trimmed.reason),
        (first.body.outcome, first.body.reason)
    );
    assert_eq!(trimmed.released, first.body.released);
    assert_eq!(trimmed.withheld, first.body.withheld);
    assert_eq!(trimmed.requested, q.request.requested);
    assert_eq!(
        (denied.outcome, denied.reason),
        (Outcome::Denied, QueryReason::Replay)
    );
    assert!(denied.released.is_empty());
    assert_eq!(denied.withheld, q.request.requested);
    assert_eq!(denied.requested, q.request.requested);
    gy.shutdown().await;
    gz.shutdown().await;
}

fn authorization(
    fed: &Federation,
    subject: &str,
    grantee: &str,
    categories: &[&str],
    from_ms: i64,
    to_ms: i64,
    uses: u32,
) -> credex_protocol::query::SignedSubjectAuthorization {
    requester::issue_authorization(
        // The data owner's portal: Guizhou's own may not vouch (decision 0640).
        &signer(fed, "500000", "portal"),
        SubjectAuthorization {
            authorization_id: requester::random_id(),
            subject: SubjectRef::LegalPerson(subject.into()),
            grantee_region: grantee.parse().unwrap(),
            purposes: vec!["financing".into()],
            categories: categories.iter().map(|s| s.to_string()).collect(),
            not_before_ms: from_ms,
            not_after_ms: to_ms,
            max_uses: uses,
        },
    )
    .unwrap()
}

/// Guizhou asks Chongqing about `subject` for financing: year, grade and
/// the restricted score of its tax credit rating.
fn financing_from_chongqing(
    subject: &str,
    consent: Option<credex_protocol::query::SignedSubjectAuthorization>,
) -> QuerySpec {
    let mut s = spec(
        "500000",
        subject,
        "financing",
        vec![fields("tax_credit_rating", &["grade", "year", "score"])],
    );
    s.subject_authorization = consent;
    s
}

/// gy-1 and cq-1 running, Chongqing's samples imported, and its first company.
async fn guizhou_and_chongqing_with_samples() -> (Federation, RunningNode, RunningNode, String) {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;
    import_samples(&fed, &cq, "500000").await;
    let subject = subjects("500000")[0].clone();
    (fed, gy, cq, subject)
}

#[tokio::test]
async fn subject_authorization_rules_are_enforced() {
    let (fed, gy, cq, subject) = guizhou_and_chongqing_with_samples().await;
    let subject = &subject;
    let now = unix_ms(SystemTime::now());
    let day = 86_400_000;
    let financing = |auth| financing_from_chongqing(subject, auth);

    // No authorization and no legal basis.
    expect_denied(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(None)),
        QueryReason::NoAuthorizationNoLegalBasis,
    )
    .await;

    // Expired authorization.
    let expired = authorization(
        &fed,
        subject,
        "520000",
        &["tax_credit_rating"],
        now - 10 * day,
        now - day,
        5,
    );
    expect_denied(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(expired))),
        QueryReason::AuthorizationExpired,
    )
    .await;

    // Out of scope: consent covers another category only.
    let other = authorization(
        &fed,
        subject,
        "520000",
        &["public_credit_evaluation"],
        now - day,
        now + day,
        5,
    );
    expect_denied(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(other))),
        QueryReason::AuthorizationOutOfScope,
    )
    .await;

    // Out of scope: consent granted to another region.
    let elsewhere = authorization(
        &fed,
        subject,
        "440000",
        &["tax_credit_rating"],
        now - day,
        now + day,
        5,
    );
    expect_denied(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(elsewhere))),
        QueryReason::AuthorizationOutOfScope,
    )
    .await;

    // A valid one-use authorization: granted once (restricted score included), then used up.
    let once = authorization(
        &fed,
        subject,
        "520000",
        &["tax_credit_rating"],
        now - day,
        now + day,
        1,
    );
    let (outcome, _, r) = decision(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(once.clone()))),
    )
    .await;
    assert_eq!(outcome, Outcome::Granted, "{:?}", r.body.reason);
    assert!(r.body.records[0].fields.iter().any(|(k, _)| k == "score"));
    expect_denied(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(once))),
        QueryReason::AuthorizationUsedUp,
    )
    .await;
    gy.shutdown().await;
    cq.shutdown().await;
}

/// Issue 13 §1, the review's reproduction over real QUIC: Guizhou signs a
/// "consent" for a Chongqing company with an authority of its own
/// (`rogue-portal`, minted by Guizhou's CA) and asks Chongqing for the
/// restricted tax score. Refused, as is the genuine consent attached after
/// both officers signed; the data owner's consent, bound, is granted. Every
/// refusal is logged, and no restricted field leaves.
#[tokio::test]
async fn consent_the_requesting_region_issues_or_attaches_late_is_refused() {
    let (fed, gy, cq, subject) = guizhou_and_chongqing_with_samples().await;
    let subject = &subject;
    let now = unix_ms(SystemTime::now());
    let scope = SubjectAuthorization {
        authorization_id: requester::random_id(),
        subject: SubjectRef::LegalPerson(subject.clone()),
        grantee_region: "520000".parse().unwrap(),
        purposes: vec!["financing".into()],
        categories: vec!["tax_credit_rating".into()],
        not_before_ms: now - 60_000,
        not_after_ms: now + 86_400_000,
        max_uses: 5,
    };
    let financing = |consent| financing_from_chongqing(subject, consent);

    // Guizhou's CA mints an authority; Guizhou signs its own "consent"
    // with the library call (a forger does not use credex's tool, which
    // refuses to).
    let ca = credex_node::pki_files::CaDir::at(fed.path().join("pki/520000"));
    let rogue_dir = fed.path().join("authorities/520000-rogue");
    ca.issue_authority(
        &"rogue-portal".parse().unwrap(),
        credex_tests::signing_algorithm(),
        30,
        &rogue_dir,
    )
    .unwrap();
    let rogue = requester::Signer::load(
        &rogue_dir.join("rogue-portal.pem"),
        &rogue_dir.join("rogue-portal.key"),
    )
    .unwrap();
    assert!(
        requester::issue_authorization(&rogue, scope.clone())
            .unwrap_err()
            .to_string()
            .contains("cannot vouch for consent to region 520000's own queries")
    );
    let forged = credex_pki::authorization::sign_subject_authorization(
        scope.clone(),
        &rogue.key,
        rogue.chain.clone(),
    )
    .unwrap();
    expect_denied(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(forged))),
        QueryReason::ConsentAuthorityNotAccepted,
    )
    .await;

    // The data owner's genuine consent, attached after approval: not bound.
    let genuine = requester::issue_authorization(&signer(&fed, "500000", "portal"), scope).unwrap();
    let mut late = authorized_query(&fed, &gy, financing(None));
    late.subject_authorization = Some(genuine.clone());
    expect_denied(&gy, &cq, &late, QueryReason::AuthorizationNotBound).await;

    // Bound under both signatures: granted, the restricted score included.
    let (outcome, _, r) = decision(
        &gy,
        &cq,
        &authorized_query(&fed, &gy, financing(Some(genuine))),
    )
    .await;
    assert_eq!(outcome, Outcome::Granted, "{:?}", r.body.reason);
    assert!(r.body.records[0].fields.iter().any(|(k, _)| k == "score"));

    // Chongqing logged all three; the two refusals released nothing.
    let received = journal(&cq, kind::QUERY_RECEIVED).await;
    let mut outcomes: Vec<Outcome> = received.iter().map(|e| e.outcome).collect();
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [Outcome::Denied, Outcome::Denied, Outcome::Granted]
    );
    assert!(
        received
            .iter()
            .filter(|e| e.outcome == Outcome::Denied)
            .all(|e| e.released.is_empty())
    );
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn policy_denial_and_quota() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    // Guangdong with a policy whose procurement quota is 2 a day.
    let mut config = fed.config("gz-1");
    let policy = std::fs::read_to_string(config.policy.file.as_ref().unwrap()).unwrap();
    let tight = fed.path().join("nodes/gz-1/policy-tight.toml");
    std::fs::write(
        &tight,
        policy.replace("quota = { per_day = 20000 }", "quota = { per_day = 2 }"),
    )
    .unwrap();
    config.policy.file = Some(tight);
    let gz = fed.start_with(config).await;
    import_samples(&fed, &gz, "440000").await;
    let subject = &subjects("440000")[0];

    // Policy denied: registration data is not released for procurement.
    let mut s = penalty_query(subject, &[]);
    s.requested = vec![fields("registration", &["name", "address"])];
    expect_denied(
        &gy,
        &gz,
        &authorized_query(&fed, &gy, s),
        QueryReason::PolicyDenied,
    )
    .await;

    for _ in 0..2 {
        let q = authorized_query(&fed, &gy, penalty_query(subject, &["amount"]));
        assert_eq!(decision(&gy, &gz, &q).await.0, Outcome::Granted);
    }
    let q = authorized_query(&fed, &gy, penalty_query(subject, &["amount"]));
    expect_denied(&gy, &gz, &q, QueryReason::QuotaExceeded).await;
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn a_response_never_reveals_whether_the_subject_exists() {
    let fed = Federation::new();
    let (gy, gz) = gy_and_gz(&fed).await;
    let known = &subjects("440000")[0];
    let unknown = &credex_kit::dev::synthetic_uscc("440000".parse().unwrap(), 999_999);
    // Denied (out of policy) for a known and an unknown subject: identical decisions.
    let ask_denied = |subject: &str| {
        let mut s = penalty_query(subject, &[]);
        s.requested = vec![fields("registration", &["name"])];
        s
    };
    let a = ask(&gy, &gz, &authorized_query(&fed, &gy, ask_denied(known)))
        .await
        .body;
    let b = ask(&gy, &gz, &authorized_query(&fed, &gy, ask_denied(unknown)))
        .await
        .body;
    assert_eq!(
        (a.outcome, a.reason, &a.released, &a.withheld, &a.records),
        (b.outcome, b.reason, &b.released, &b.withheld, &b.records)
    );
    // Granted for an unknown subject: granted with no records, like any subject without any.
    let c = ask(
        &gy,
        &gz,
        &authorized_query(&fed, &gy, penalty_query(unknown, &["amount"])),
    )
    .await
    .body;
    assert_eq!(c.outcome, Outcome::Granted);
    assert!(c.records.is_empty());
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn requester_tools_refuse_wrong_roles() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let base = penalty_query(&subjects("440000")[0], &["amount"]);
    // An approver cannot draft; a requester cannot approve.
    let apv = signer(&fed, "520000", "apv-1");
    let err = requester::draft_and_sign(
        gy.config().region,
        gy.config().name.clone(),
        base.clone(),
        &apv,
        SystemTime::now(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("requester role"), "{err}");
    let req = signer(&fed, "520000", "req-1");
    let mut file = requester::draft_and_sign(
        gy.config().region,
        gy.config().name.clone(),
        base,
        &req,
        SystemTime::now(),
    )
    .unwrap();
    let err = requester::approve(&mut file, &req).unwrap_err();
    assert!(err.to_string().contains("approver role"), "{err}");
    assert!(
        file.authorized().is_err(),
        "an unapproved query must not be sendable"
    );
    gy.shutdown().await;
}

// --- natural persons: keyed pseudonyms ----------------------------------------

const CITIZEN: &str = "11010519491231002X";

/// Write the federation's key ring with `epochs` (epoch e's key is [e; 32])
/// into the federation directory; returns its path.
fn write_ring(fed: &Federation, epochs: &[u32]) -> PathBuf {
    let ring = PseudonymKeyRing::new(epochs.iter().map(|e| {
        PseudonymKey::from_bytes_in(credex_tests::test_suite(), *e, [*e as u8; 32]).unwrap()
    }))
    .unwrap();
    let path = fed.path().join("pseudonym-keys.txt");
    credex_node::pseudonyms::save_ring(&path, &ring, false).unwrap();
    path
}

fn config_with_ring(fed: &Federation, name: &str, ring: &Path) -> NodeConfig {
    let mut c = fed.config(name);
    c.pseudonyms.keys = Some(ring.to_owned());
    c
}

/// Import two penalties of [`CITIZEN`] into `node` (as `credex records
/// import` does, with the node's key ring).
async fn import_person(fed: &Federation, node: &RunningNode) {
    let file = fed.path().join("person-penalties.jsonl");
    let row = |n: u32| {
        format!(
            r#"{{"record_id":"440000-NP-{n}","subject":"{CITIZEN}","decision_number":"粤罚〔2026〕{n}号","violation_type":"无证经营","facts":"无证经营","basis":"《无证无照经营查处办法》第十三条","penalty_type":"罚款","content":"罚款人民币{n}000元","amount":"{n}000.00","decision_date":"2026-03-0{n}","deciding_authority":"广州市市场监督管理局"}}"#
        )
    };
    std::fs::write(&file, format!("{}\n{}\n", row(1), row(2))).unwrap();
    let persons = NaturalPersons::load(node.config(), &ring::rand::SystemRandom::new())
        .unwrap()
        .expect("a key ring is configured");
    let n = credex_node::records::import_file_of_persons(
        node.storage(),
        &file,
        "admin_penalty",
        node.queries().policy().catalogue(),
        Some(&persons),
    )
    .await
    .unwrap();
    assert_eq!(n, 2);
}

/// Guizhou and Guangdong, both with a key ring of epoch 1 (its file is
/// returned), Guangdong holding two penalties of [`CITIZEN`].
async fn gy_and_gz_holding_a_person(fed: &Federation) -> (PathBuf, RunningNode, RunningNode) {
    let ring_file = write_ring(fed, &[1]);
    let gy = fed
        .start_with(config_with_ring(fed, "gy-1", &ring_file))
        .await;
    let gz = fed
        .start_with(config_with_ring(fed, "gz-1", &ring_file))
        .await;
    import_person(fed, &gz).await;
    (ring_file, gy, gz)
}

/// A query from `gy` for the penalties of the person named by `pseudonym`.
fn person_query(
    fed: &Federation,
    gy: &RunningNode,
    pseudonym: SubjectPseudonym,
) -> AuthorizedQuery {
    authorized_query(
        fed,
        gy,
        QuerySpec {
            subject: SubjectRef::NaturalPerson(pseudonym),
            ..penalty_query("unused", &["amount"])
        },
    )
}

/// Ask `gz` for the penalties of the person named by `pseudonym`; returns
/// the record ids released.
async fn ask_person(
    fed: &Federation,
    gy: &RunningNode,
    gz: &RunningNode,
    pseudonym: SubjectPseudonym,
) -> Vec<String> {
    let r = ask(gy, gz, &person_query(fed, gy, pseudonym)).await;
    assert_eq!(r.body.outcome, Outcome::Granted, "{:?}", r.body.reason);
    let mut ids: Vec<String> = r.body.records.iter().map(|r| r.record_id.clone()).collect();
    ids.sort();
    ids
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test]
async fn natural_person_ids_never_cross_the_wire_in_clear() {
    let fed = Federation::new();
    let (ring_file, gy, gz) = gy_and_gz_holding_a_person(&fed).await;
    let pseudonym = credex_node::pseudonyms::load_ring(&ring_file)
        .unwrap()
        .current_pseudonym(CITIZEN)
        .unwrap();
    let bytes = credex_protocol::encode(&person_query(&fed, &gy, pseudonym)).unwrap();
    assert!(
        !bytes
            .windows(CITIZEN.len())
            .any(|w| w == CITIZEN.as_bytes())
    );
    let found = ask_person(&fed, &gy, &gz, pseudonym).await;
    assert_eq!(found.len(), 2, "both penalties found by pseudonym");
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn no_clear_citizen_id_or_unkeyed_digest_in_databases_or_log_exports() {
    let fed = Federation::new();
    let (ring_file, gy, gz) = gy_and_gz_holding_a_person(&fed).await;
    let ring = credex_node::pseudonyms::load_ring(&ring_file).unwrap();
    let pseudonym = ring.current_pseudonym(CITIZEN).unwrap();
    let found = ask_person(&fed, &gy, &gz, pseudonym).await;
    assert_eq!(found, ["440000-NP-1", "440000-NP-2"]);
    let exports = tempfile::tempdir().unwrap();
    let mut dirs = Vec::new();
    for node in [&gy, &gz] {
        dirs.push(exports.path().join(node.config().name.as_str()));
        export_log(node, dirs.last().unwrap()).await;
    }
    let data_dirs = [gy.config().data_dir.clone(), gz.config().data_dir.clone()];
    let trust = gy.transport().trust().current();
    gy.shutdown().await;
    gz.shutdown().await;

    // An auditor, given the pseudonym (never the ID), finds the access.
    let (accesses, _) = credex_audit::subject_report(
        &dirs,
        &trust,
        &Default::default(),
        &[SubjectRef::NaturalPerson(pseudonym)],
    );
    assert_eq!(accesses.len(), 1);
    assert_eq!(accesses[0].requester, "520000/gy-1");
    assert_eq!(accesses[0].released, ["admin_penalty.amount"]);

    // The digest today's nodes no longer compute: SHA-256(len ‖ tag ‖ ID).
    let tag = b"credex/citizen-id/v1";
    let mut legacy = vec![tag.len() as u8];
    legacy.extend_from_slice(tag);
    legacy.extend_from_slice(CITIZEN.as_bytes());
    let legacy = ring::digest::digest(&ring::digest::SHA256, &legacy);
    let legacy_hex = hex::encode(legacy.as_ref());
    let needles: [(&str, &[u8]); 4] = [
        ("clear citizen ID", CITIZEN.as_bytes()),
        (
            "citizen ID without its check character",
            &CITIZEN.as_bytes()[..17],
        ),
        ("legacy digest", legacy.as_ref()),
        ("legacy digest in hex", legacy_hex.as_bytes()),
    ];
    let mut scanned = 0;
    for dir in data_dirs
        .iter()
        .map(PathBuf::as_path)
        .chain([exports.path()])
    {
        for file in files_under(dir) {
            let bytes = std::fs::read(&file).unwrap();
            scanned += bytes.len();
            for (what, needle) in needles {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "{what} found in {}",
                    file.display()
                );
            }
        }
    }
    assert!(
        scanned > 100_000,
        "databases and exports were scanned ({scanned} bytes)"
    );
}

#[tokio::test]
async fn a_new_epoch_finds_records_imported_under_the_old_until_it_is_dropped() {
    let fed = Federation::new();
    let (ring_file, gy, gz) = gy_and_gz_holding_a_person(&fed).await;
    gz.shutdown().await;

    // The root's operator adds epoch 2; gz restarts with the new ring and
    // adds the epoch-2 aliases from its vault.
    write_ring(&fed, &[1, 2]);
    let ring = credex_node::pseudonyms::load_ring(&ring_file).unwrap();
    let (old, new) = (
        ring.pseudonym_at(1, CITIZEN).unwrap(),
        ring.pseudonym_at(2, CITIZEN).unwrap(),
    );
    assert_ne!(old.mac, new.mac);
    let gz = fed
        .start_with(config_with_ring(&fed, "gz-1", &ring_file))
        .await;
    let both = ["440000-NP-1", "440000-NP-2"];
    // The start is in gz's log: both epochs, one alias added, no key bytes.
    let logged: Vec<PseudonymKeysInUse> = gz
        .storage()
        .journal_range(0, 4096)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.kind == kind::PSEUDONYM_KEYS_IN_USE)
        .map(|r| credex_protocol::decode(&r.body).unwrap())
        .collect();
    let last = logged.last().unwrap();
    let epochs: Vec<u32> = last.epochs.iter().map(|(e, _)| *e).collect();
    assert_eq!(
        (epochs, last.persons, last.aliases_added),
        (vec![1, 2], 1, 1)
    );
    assert_eq!(ask_person(&fed, &gy, &gz, new).await, both);
    assert_eq!(ask_person(&fed, &gy, &gz, old).await, both);
    gz.shutdown().await;

    // Epoch 1 dropped: its pseudonym finds nothing, epoch 2's still does.
    write_ring(&fed, &[2]);
    let gz = fed
        .start_with(config_with_ring(&fed, "gz-1", &ring_file))
        .await;
    assert_eq!(ask_person(&fed, &gy, &gz, new).await, both);
    assert!(ask_person(&fed, &gy, &gz, old).await.is_empty());
    gz.shutdown().await;

    // Without a key ring, a node holding natural persons refuses to start.
    let mut no_ring = fed.config("gz-1");
    no_ring.pseudonyms.keys = None;
    let Err(err) = RunningNode::start(no_ring).await else {
        panic!("a node holding natural persons started without a key ring");
    };
    assert!(err.to_string().contains("[pseudonyms] keys"), "{err}");
    gy.shutdown().await;
}
