//! The malicious peer (DESIGN §12): a node of the federation, with its own
//! valid credentials, that attacks the others while its fault window is
//! open, and whose operator tampers with its own log after the run.
//!
//! While the window is open it sends, round robin, to random provinces:
//!
//! | attack | what | refused by |
//! |---|---|---|
//! | `over-ask` | internal fields and a category the purpose does not cover, properly signed | the policy: trimmed, nothing internal released |
//! | `forged` | the request changed after the officers signed it | signature check: denied |
//! | `replay` | a granted query sent again | nonce store: denied |
//! | `foreign-consent` | tax ratings for `financing` with a "consent" the requesting region's own portal signed | `ConsentAuthorityNotAccepted` (decision 0640) |
//! | `late-consent` | the data owner's genuine consent attached after both officers signed | `AuthorizationNotBound` (decision 0640) |
//!
//! From a third of the way into the window it floods one peer with copies
//! of one query, far beyond the per-region quota every node enforces
//! ([`crate::report::PeerQuota`]): the copies over quota must be refused
//! with `RateLimited` before anything is logged, while the target keeps
//! serving other regions (decision 0650). The flood is [`flood`]'s.
//!
//! After the run, before the export, its operator edits its own database
//! (decision 0660): it rewrites its log without one release entry
//! (truncate, append every later entry again, rebuild the tree under its own
//! key) and appends a verbatim copy of another release entry. The final
//! audit must catch both; [`classify`] tells those expected findings from
//! any other violation, which still fails the run.
//!
//! The tampering calls `credex_node::storage::danger`, compiled only with
//! credex-node's `danger` cargo feature, which this crate and the tests
//! enable and the `credex` binary never does (decision 0700): it is the
//! operator-with-database-access the integration tests play, and the node
//! never calls it. The simulator plays that operator, so it uses it
//! directly rather than editing the exported tiles: an operator holding the database and the log key re-signs a
//! rewritten log that verifies on its own, the case the auditor must catch
//! with what others hold (cosignatures, witnessed checkpoints, receipts).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use credex_audit::Violation;
use credex_journal::{AccessEntry, kind};
use credex_node::requester::{self, QuerySpec};
use credex_node::storage::{JournalRecord, Storage, danger};
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, Outcome, QueryReason, QueryResponse,
    SignedSubjectAuthorization, SubjectRef,
};

use crate::federation::{INTERNAL_PENALTY_FIELDS, TAX_FIELDS, TAX_RATING_EVERY};
use crate::report::{FloodReport, TamperReport};
use crate::sim::context::{Ctx, Failure, Live};
use crate::sim::workload::{Kind, Rng, financing_consent};

mod flood;
use flood::{FLOOD_RETRY_AFTER, flood};

/// The attacks sent round robin, by the names the report uses.
pub const ATTACKS: [&str; 5] = [
    "over-ask",
    "forged",
    "replay",
    "foreign-consent",
    "late-consent",
];

/// What the malicious peer's queries met, as the run counts it.
#[derive(Default)]
pub(crate) struct MaliciousCounts {
    pub(crate) attempts: BTreeMap<&'static str, u64>,
    pub(crate) refused: BTreeMap<&'static str, u64>,
    pub(crate) accepted: BTreeMap<&'static str, u64>,
    pub(crate) reasons: BTreeMap<&'static str, BTreeMap<String, u64>>,
    pub(crate) unreachable: u64,
    pub(crate) floods: Vec<FloodReport>,
    pub(crate) flood_not_started: BTreeMap<String, u64>,
}

impl MaliciousCounts {
    /// A flood that ran, or why it could not start.
    fn flood_tried(&mut self, started: Result<FloodReport, String>) {
        match started {
            Ok(report) => self.floods.push(report),
            Err(why) => *self.flood_not_started.entry(why).or_default() += 1,
        }
    }

    /// Counts one attack's result; returns whether it counts as sent (it
    /// reached the target and was answered or refused).
    fn record(&mut self, what: &'static str, result: Result<Answer, Failure>) -> bool {
        match result {
            Ok(a) => {
                *self.attempts.entry(what).or_default() += 1;
                let bucket = if a.refused {
                    &mut self.refused
                } else {
                    &mut self.accepted
                };
                *bucket.entry(what).or_default() += 1;
                *self
                    .reasons
                    .entry(what)
                    .or_default()
                    .entry(a.how)
                    .or_default() += 1;
                true
            }
            Err(Failure::Failed(e)) if e.contains("refused") => {
                *self.attempts.entry(what).or_default() += 1;
                *self.refused.entry(what).or_default() += 1;
                let how = if e.contains("rate_limited") {
                    "refused at the transport: rate_limited"
                } else {
                    "refused at the transport"
                };
                *self
                    .reasons
                    .entry(what)
                    .or_default()
                    .entry(how.to_owned())
                    .or_default() += 1;
                true
            }
            Err(_) => {
                self.unreachable += 1;
                false
            }
        }
    }
}

/// How one attack was answered.
struct Answer {
    /// Refused as it should be.
    refused: bool,
    /// `outcome/reason`.
    how: String,
}

impl Answer {
    fn of(r: &QueryResponse, refused: bool) -> Answer {
        Answer {
            refused,
            how: format!("{:?}/{:?}", r.body.outcome, r.body.reason).to_lowercase(),
        }
    }

    /// Refused: denied for `reason` with nothing released.
    fn denied_for(r: &QueryResponse, reason: Option<QueryReason>) -> Answer {
        let refused = r.body.outcome == Outcome::Denied
            && r.body.released.is_empty()
            && reason.is_none_or(|want| r.body.reason == want);
        Answer::of(r, refused)
    }
}

/// The malicious peer: while its window is open (until `until`), `node`
/// sends the [`ATTACKS`] round robin and, from a third of the way in, floods
/// one peer. An attack that could not be built or did not reach its target
/// is tried again before the next kind, and the window stays open (to the run's deadline) until every
/// kind has been sent once: on a loaded machine a short window may hold
/// fewer attacks than there are kinds. A flood that cannot start (its target down, cut off, or its
/// pair backing off after a throttled query) is tried again after
/// [`FLOOD_RETRY_AFTER`] for as long as the window lasts; each failed start
/// is counted by its reason in the report.
pub(crate) async fn run(ctx: Arc<Ctx>, node: usize, until: Instant, mut rng: Rng) {
    let flood_at = Instant::now() + until.saturating_duration_since(Instant::now()) / 3;
    let mut flooded = false;
    let mut step = 0usize;
    while Instant::now() < ctx.deadline && (Instant::now() < until || step < ATTACKS.len()) {
        let to = loop {
            let t = ctx.provinces[rng.below(ctx.provinces.len())];
            if t != node {
                break t;
            }
        };
        if !flooded && Instant::now() >= flood_at && Instant::now() < until {
            // A node the schedule has killed cannot be flooded: pick again
            // rather than spend a try on it.
            if ctx.slots[to].live().is_none() {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
            let started = flood(&ctx, node, to, &mut rng).await;
            flooded = started.is_ok();
            ctx.malicious
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .flood_tried(started);
            if !flooded {
                tokio::time::sleep(FLOOD_RETRY_AFTER).await;
            }
            continue;
        }
        let what = ATTACKS[step % ATTACKS.len()];
        let Some(result) = attack(&ctx, node, to, what, &mut rng).await else {
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let sent = ctx
            .malicious
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record(what, result);
        // A kind that did not reach its target is tried again first.
        if sent {
            step += 1;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// One attack of kind `what` from `node` on `to`; `None` if the query could
/// not even be built.
async fn attack(
    ctx: &Ctx,
    node: usize,
    to: usize,
    what: &'static str,
    rng: &mut Rng,
) -> Option<Result<Answer, Failure>> {
    let target = &ctx.slots[to].node;
    let subject = target.subject(rng.below(target.subjects.max(1) as usize) as u32);
    match what {
        "over-ask" => over_ask(ctx, node, to, subject).await,
        "forged" => forged(ctx, node, to, subject).await,
        "replay" => replay(ctx, node, to, subject).await,
        "foreign-consent" => foreign_consent(ctx, node, to, rng).await,
        "late-consent" => late_consent(ctx, node, to, rng).await,
        _ => None,
    }
}

/// A properly authorized query asking for internal fields and a category
/// no rule releases for its purpose: the answer must release neither, and
/// not be a full grant.
async fn over_ask(
    ctx: &Ctx,
    node: usize,
    to: usize,
    subject: String,
) -> Option<Result<Answer, Failure>> {
    let mut q = ctx
        .build(node, to, Kind::Overask, subject, "public_procurement")
        .ok()?;
    // Internal fields and a category no rule releases for this
    // purpose; re-signed: the over-asking query itself is properly
    // authorized.
    q.request.requested.push(CategoryFields {
        category: "tax_credit_rating".into(),
        fields: vec!["grade".into(), "reviewer_notes".into()],
    });
    let q = ctx.sign(node, spec_of(&q)).ok()?;
    Some(ctx.send(node, to, &q).await.map(|r| {
        let internal = r.body.released.iter().any(|c| {
            c.category != "admin_penalty"
                || c.fields
                    .iter()
                    .any(|f| INTERNAL_PENALTY_FIELDS.contains(&f.as_str()))
        });
        Answer::of(&r, !internal && r.body.outcome != Outcome::Granted)
    }))
}

/// A query changed after the officers signed it: must be denied.
async fn forged(
    ctx: &Ctx,
    node: usize,
    to: usize,
    subject: String,
) -> Option<Result<Answer, Failure>> {
    let mut q = ctx
        .build(node, to, Kind::Overask, subject, "public_procurement")
        .ok()?;
    // Change what was asked after the officers signed it.
    q.request.purpose = "joint_punishment".into();
    q.request.requested[0].fields = vec!["case_notes".into()];
    Some(send_expecting_denial(ctx, node, to, &q, None).await)
}

/// The same query sent twice: the second must be denied as a replay.
async fn replay(
    ctx: &Ctx,
    node: usize,
    to: usize,
    subject: String,
) -> Option<Result<Answer, Failure>> {
    let q = ctx
        .build(node, to, Kind::Basis, subject, "public_procurement")
        .ok()?;
    Some(match ctx.send(node, to, &q).await {
        Ok(_) => send_expecting_denial(ctx, node, to, &q, Some(QueryReason::Replay)).await,
        Err(e) => Err(e),
    })
}

/// Send `q` from `node` to `to`: the answer passes if it denies, for
/// `reason` if one is given.
async fn send_expecting_denial(
    ctx: &Ctx,
    node: usize,
    to: usize,
    q: &AuthorizedQuery,
    reason: Option<QueryReason>,
) -> Result<Answer, Failure> {
    ctx.send(node, to, q)
        .await
        .map(|r| Answer::denied_for(&r, reason))
}

/// A consent the requesting region's own portal signed: must be denied.
async fn foreign_consent(
    ctx: &Ctx,
    node: usize,
    to: usize,
    rng: &mut Rng,
) -> Option<Result<Answer, Failure>> {
    // The requesting region's own authority vouches for the
    // subject's consent: signed with the library call, since
    // `requester::issue_authorization` refuses to.
    let subject = rated_subject(ctx, to, rng)?;
    let portal = &ctx.signers[node].portal;
    let forged = credex_pki::authorization::sign_subject_authorization(
        financing_consent(&subject, ctx.slots[node].node.region),
        &portal.key,
        portal.chain.clone(),
    )
    .ok()?;
    let q = ctx
        .sign(node, financing(ctx, to, subject, Some(forged)))
        .ok()?;
    Some(
        send_expecting_denial(
            ctx,
            node,
            to,
            &q,
            Some(QueryReason::ConsentAuthorityNotAccepted),
        )
        .await,
    )
}

/// The data owner's genuine consent attached after the officers signed:
/// must be denied as not bound.
async fn late_consent(
    ctx: &Ctx,
    node: usize,
    to: usize,
    rng: &mut Rng,
) -> Option<Result<Answer, Failure>> {
    // The data owner's genuine consent, attached after both
    // officers signed a request that named none.
    let subject = rated_subject(ctx, to, rng)?;
    let genuine = requester::issue_authorization(
        &ctx.signers[to].portal,
        financing_consent(&subject, ctx.slots[node].node.region),
    )
    .ok()?;
    let mut q = ctx.sign(node, financing(ctx, to, subject, None)).ok()?;
    q.subject_authorization = Some(genuine);
    Some(send_expecting_denial(ctx, node, to, &q, Some(QueryReason::AuthorizationNotBound)).await)
}

/// The spec `q` was drafted from (without a subject authorization).
fn spec_of(q: &AuthorizedQuery) -> QuerySpec {
    QuerySpec {
        target_region: q.request.target_region,
        subject: q.request.subject.clone(),
        purpose: q.request.purpose.clone(),
        requested: q.request.requested.clone(),
        legal_basis: q.request.legal_basis.clone(),
        subject_authorization: None,
    }
}

/// Tax ratings of `subject` from node `to`, for financing, under `consent`.
fn financing(
    ctx: &Ctx,
    to: usize,
    subject: String,
    consent: Option<SignedSubjectAuthorization>,
) -> QuerySpec {
    QuerySpec {
        target_region: ctx.slots[to].node.region,
        subject: SubjectRef::LegalPerson(subject),
        purpose: "financing".into(),
        requested: vec![CategoryFields {
            category: "tax_credit_rating".into(),
            fields: TAX_FIELDS.iter().map(|f| (*f).to_owned()).collect(),
        }],
        legal_basis: None,
        subject_authorization: consent,
    }
}

/// A subject of node `to` that has a tax rating (every
/// [`TAX_RATING_EVERY`]-th), if it has any.
fn rated_subject(ctx: &Ctx, to: usize, rng: &mut Rng) -> Option<String> {
    let target = &ctx.slots[to].node;
    let rated = target.subjects / TAX_RATING_EVERY;
    (rated > 0)
        .then(|| target.subject((rng.below(rated as usize) as u32 + 1) * TAX_RATING_EVERY - 1))
}

/// The journal records `from..to` of `storage`.
async fn journal(
    storage: &Storage,
    from: u64,
    to: u64,
) -> Result<Vec<JournalRecord>, credex_node::storage::StorageError> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let page = storage.journal_range(at, 4096).await?;
        let Some(last) = page.last() else { break };
        at = last.seq + 1;
        out.extend(page.into_iter().filter(|r| r.seq < to));
    }
    Ok(out)
}

/// The malicious node's operator, after the run and before the export,
/// edits its own database: it has a peer or two cosign its log as it
/// stands (so witnesses hold its honest history), rewrites the log without
/// one release entry (about nine tenths of the way through its releases),
/// appends a verbatim copy of an earlier release entry, and asks a peer to
/// cosign the result.
pub(crate) async fn tamper_with_log(ctx: &Ctx, node: usize) -> TamperReport {
    let slot = &ctx.slots[node];
    let origin = slot
        .running
        .lock()
        .await
        .as_ref()
        .map(|n| n.log_key().origin().to_owned());
    let mut report = TamperReport {
        node: slot.node.name.to_string(),
        origin: origin.clone().unwrap_or_default(),
        ..TamperReport::default()
    };
    let (Some(live), Some(_)) = (slot.live(), origin) else {
        report
            .notes
            .push("the node is not running: nothing done".into());
        return report;
    };
    let witnessed = ask_witnesses(ctx, node, &live, 2).await;
    report.notes.push(format!("before: {witnessed}"));
    let storage = &live.storage;
    let releases = match releases(storage).await {
        Ok(r) if r.len() >= 2 => r,
        Ok(r) => {
            report.notes.push(format!(
                "only {} release entries in the log: nothing to tamper with",
                r.len()
            ));
            return report;
        }
        Err(e) => {
            report.notes.push(format!("reading the journal: {e}"));
            return report;
        }
    };
    let n = releases.len();
    let deleted = releases[(n * 9 / 10).max(1)].seq;
    let copy = releases[((n - 1) / 2).min((n * 9 / 10).max(1) - 1)].clone();

    // The rewrite: what follows the deleted entry is appended again.
    match rewrite_without(storage, deleted).await {
        Ok(reappended) => {
            report.deleted_index = Some(deleted);
            report.reappended = reappended;
        }
        Err(e) => report.notes.push(format!("rewriting the log: {e}")),
    }
    // The replayed entry: a verbatim copy of an earlier release.
    match storage.append(copy.kind, copy.body.clone()).await {
        Ok(index) => {
            report.replayed_index = Some(index);
            report.copy_of = Some(copy.seq);
        }
        Err(e) => report.notes.push(format!("appending the copy: {e}")),
    }
    let witnessed = ask_witnesses(ctx, node, &live, 1).await;
    report.notes.push(format!("after: {witnessed}"));
    report
}

/// The release entries (granted or trimmed queries received) of `storage`.
async fn releases(
    storage: &Storage,
) -> Result<Vec<JournalRecord>, credex_node::storage::StorageError> {
    let len = storage.journal_len().await?;
    Ok(journal(storage, 0, len)
        .await?
        .into_iter()
        .filter(|r| r.kind == kind::QUERY_RECEIVED)
        .filter(|r| {
            credex_protocol::decode::<AccessEntry>(&r.body)
                .is_ok_and(|e| e.outcome != Outcome::Denied)
        })
        .collect())
}

/// Rewinds `storage`'s log to `deleted` and appends every later entry
/// again, with its attachment (as in `tests/tests/log_rewrite.rs`); returns
/// how many.
async fn rewrite_without(
    storage: &Storage,
    deleted: u64,
) -> Result<u64, credex_node::storage::StorageError> {
    let kept = danger::rewrite_log(storage, deleted, |r| r.seq != deleted).await?;
    Ok(kept.len() as u64)
}

/// Have up to `want` peers cosign `node`'s newest checkpoint; says who did
/// and who refused, and why.
async fn ask_witnesses(ctx: &Ctx, node: usize, live: &Live, want: usize) -> String {
    let mut said = Vec::new();
    let mut cosigned = 0;
    for &peer in ctx.provinces.iter().filter(|&&p| p != node) {
        if cosigned >= want || said.len() >= want + 2 {
            break;
        }
        if ctx.slots[peer].live().is_none() || ctx.slots[peer].revoked.load(Ordering::Relaxed) {
            continue;
        }
        let name = &ctx.slots[peer].node.name;
        let conn = match ctx.connection(node, peer, live).await {
            Ok(c) => c,
            Err(_) => {
                said.push(format!("{name} could not be reached"));
                continue;
            }
        };
        let guard = ctx.slots[node].running.lock().await;
        let Some(running) = guard.as_ref() else { break };
        match tokio::time::timeout(
            Duration::from_secs(5),
            running.request_cosignature(&conn, 0),
        )
        .await
        {
            Ok(Ok(size)) => {
                cosigned += 1;
                said.push(format!("{name} cosigned size {size}"));
            }
            Ok(Err(e)) => said.push(format!("{name} refused to cosign: {e}")),
            Err(_) => said.push(format!("{name} did not answer")),
        }
    }
    if said.is_empty() {
        "no peer to ask".into()
    } else {
        said.join("; ")
    }
}

/// Rules that convict a rewritten history on their own.
const REWRITE_CONVICTS: [&str; 5] = [
    "fork",
    "log_not_anchored",
    "pinned_checkpoint_mismatch",
    "log_truncated",
    // The entries appended again are committed long after the times they
    // record when the operator edits a log that had stopped growing (the
    // 10-million-subject run's rewrite came 14 minutes after them).
    "entry_time_mismatch",
];

/// Further rules a rewrite sets off where it names the rewritten log:
/// receipts of other logs naming entries that moved or vanished, and a
/// witness keeping the two contradicting checkpoints as evidence.
const REWRITE_FALLOUT: [&str; 3] = [
    "cross_match",
    "access_missing_at_responder",
    "fork_evidence",
];

/// Rules a rewrite sets off on the rewritten log itself where a later
/// entry points at the deleted one: a disclosure entered for a release
/// that is no longer there.
const REWRITE_ORPHANS: [&str; 1] = ["disclosure_without_release"];

/// Rules of the sequence checks a verbatim copy of a release sets off at
/// the copy's index.
const REPLAY_RULES: [&str; 4] = [
    "repeated_release",
    "nonce_reused",
    "authorization_overused",
    "quota_exceeded",
];

/// Sort the audit's violations into those that catch a tampering in
/// `tamper` (also counted into each report's `caught`) and the others:
/// returns (caught, others).
pub(crate) fn classify(
    violations: &[Violation],
    tamper: &mut [TamperReport],
) -> (Vec<Violation>, Vec<Violation>) {
    let (mut caught, mut unexplained) = (Vec::new(), Vec::new());
    'each: for v in violations {
        for t in tamper.iter_mut() {
            let on_log = v.log == t.origin;
            let attack = if on_log
                && t.replayed_index.is_some()
                && v.index == t.replayed_index
                && REPLAY_RULES.contains(&v.rule)
            {
                Some("replayed entry")
            } else if t.deleted_index.is_some()
                && ((on_log
                    && (REWRITE_CONVICTS.contains(&v.rule) || REWRITE_ORPHANS.contains(&v.rule)))
                    || (REWRITE_FALLOUT.contains(&v.rule) && v.detail.contains(&t.origin)))
            {
                Some("log rewrite")
            } else {
                None
            };
            if let Some(attack) = attack {
                *t.caught
                    .entry(attack)
                    .or_default()
                    .entry(v.rule)
                    .or_default() += 1;
                caught.push(v.clone());
                continue 'each;
            }
        }
        unexplained.push(v.clone());
    }
    for t in tamper.iter_mut() {
        t.replay_caught = t
            .caught
            .get("replayed entry")
            .is_some_and(|r| r.contains_key("repeated_release"));
        t.rewrite_caught = t
            .caught
            .get("log rewrite")
            .is_some_and(|r| REWRITE_CONVICTS.iter().any(|rule| r.contains_key(rule)));
    }
    (caught, unexplained)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(log: &str, index: Option<u64>, rule: &'static str, detail: &str) -> Violation {
        Violation {
            log: log.into(),
            index,
            rule,
            detail: detail.into(),
            access: None,
        }
    }

    #[test]
    fn tampering_findings_are_told_from_other_violations() {
        let bj = "credex/110000/bj-1";
        let mut t = [TamperReport {
            origin: bj.into(),
            deleted_index: Some(10),
            replayed_index: Some(40),
            ..TamperReport::default()
        }];
        let found = [
            v(bj, Some(40), "repeated_release", ""),
            v(bj, None, "fork", ""),
            v(
                "credex/520000/gy-1",
                Some(3),
                "cross_match",
                &format!("the responder {bj}'s entry 12"),
            ),
            // Not the tampering: another log, another index, another rule.
            v(
                "credex/520000/gy-1",
                Some(3),
                "cross_match",
                "the responder credex/500000/cq-1's entry 12",
            ),
            v(bj, Some(41), "repeated_release", ""),
            v(bj, Some(40), "entry_format", ""),
        ];
        let (caught, left) = classify(&found, &mut t);
        assert_eq!(left.len(), 3, "{left:#?}");
        assert_eq!(caught.len(), 3);
        assert!(t[0].replay_caught && t[0].rewrite_caught && t[0].caught_all());
        assert_eq!(t[0].caught["log rewrite"]["cross_match"], 1);

        // Fallout alone does not convict a rewrite.
        let mut t = [TamperReport {
            origin: bj.into(),
            deleted_index: Some(10),
            ..TamperReport::default()
        }];
        let (_, left) = classify(&found[2..3], &mut t);
        assert!(left.is_empty());
        assert!(!t[0].rewrite_caught && !t[0].caught_all());
    }
}
