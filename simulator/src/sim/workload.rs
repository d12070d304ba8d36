//! The query workload: the mix of query kinds, the deterministic choices,
//! building and signing each query, the per-pair in-flight cap, and the
//! worker loop that sends queries until the deadline and counts outcomes.
//!
//! Owns: [`QueryMix`], [`Rng`], [`Kind`] and the workers' statistics. Does
//! not own the connections or counters it updates ([`super::context`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use credex_node::requester::{self, QuerySpec};
use credex_protocol::RegionCode;
use credex_protocol::query::{
    AuthorizedQuery, CategoryFields, Outcome, QueryResponse, SubjectAuthorization, SubjectRef,
};
use serde::Serialize;

use super::context::{Ctx, Failure};
use crate::federation::{
    INTERNAL_PENALTY_FIELDS, LEGAL_BASIS, PENALTY_FIELDS, TAX_FIELDS, TAX_RATING_EVERY,
};

/// Weights of the query kinds in the workload.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct QueryMix {
    /// Penalties for procurement/approval/joint punishment, citing a legal basis.
    pub basis: u32,
    /// Tax ratings for financing, with the subject's electronic authorization.
    pub authorized: u32,
    /// Penalties asking for internal fields too (trimmed by policy).
    pub overask: u32,
    /// The national node's upward-reporting queries.
    pub upward: u32,
}

impl Default for QueryMix {
    fn default() -> Self {
        QueryMix {
            basis: 70,
            authorized: 15,
            overask: 10,
            upward: 5,
        }
    }
}

impl std::str::FromStr for QueryMix {
    type Err = String;

    /// `basis=70,authorized=15,overask=10,upward=5` (missing kinds weigh 0).
    fn from_str(s: &str) -> Result<QueryMix, String> {
        let mut mix = QueryMix {
            basis: 0,
            authorized: 0,
            overask: 0,
            upward: 0,
        };
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| format!("--mix: {part:?} is not KIND=WEIGHT"))?;
            let v: u32 = v
                .trim()
                .parse()
                .map_err(|_| format!("--mix: weight of {k:?} is not a whole number"))?;
            match k.trim() {
                "basis" => mix.basis = v,
                "authorized" => mix.authorized = v,
                "overask" => mix.overask = v,
                "upward" => mix.upward = v,
                other => {
                    return Err(format!(
                        "--mix: unknown kind {other:?} (basis, authorized, overask, upward)"
                    ));
                }
            }
        }
        if mix.total() == 0 {
            return Err("--mix: all weights are 0".into());
        }
        Ok(mix)
    }
}

impl QueryMix {
    pub(super) fn total(&self) -> u32 {
        self.basis + self.authorized + self.overask + self.upward
    }

    pub(super) fn pick(&self, r: u32) -> Kind {
        let r = r % self.total();
        if r < self.basis {
            Kind::Basis
        } else if r < self.basis + self.authorized {
            Kind::Authorized
        } else if r < self.basis + self.authorized + self.overask {
            Kind::Overask
        } else {
            Kind::Upward
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Basis,
    Authorized,
    Overask,
    Upward,
}

/// A small deterministic generator (SplitMix64) for the workload's choices.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n` > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
}

#[derive(Default)]
pub(super) struct WorkerStats {
    pub(super) latencies_us: Vec<u32>,
    pub(super) outcomes: BTreeMap<String, u64>,
    pub(super) unexpected: BTreeMap<String, u64>,
}

impl Ctx {
    /// A query of `kind` from `from` to `to` about `subject`, signed and
    /// approved by `from`'s officers (for `Authorized`, with consent signed
    /// by the data owner's portal).
    pub(crate) fn build(
        &self,
        from: usize,
        to: usize,
        kind: Kind,
        subject: String,
        purpose: &str,
    ) -> Result<AuthorizedQuery, String> {
        let src = &self.slots[from].node;
        let dst = &self.slots[to].node;
        let fields = |f: &[&str]| f.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
        let (category, wanted, basis, authorization) = match kind {
            Kind::Basis => (
                "admin_penalty",
                fields(&PENALTY_FIELDS),
                Some(LEGAL_BASIS),
                None,
            ),
            Kind::Overask => {
                let mut f = fields(&PENALTY_FIELDS);
                f.extend(fields(&INTERNAL_PENALTY_FIELDS));
                ("admin_penalty", f, Some(LEGAL_BASIS), None)
            }
            Kind::Upward => ("admin_penalty", fields(&PENALTY_FIELDS), None, None),
            Kind::Authorized => {
                // Signed by the data owner's portal (decision 0640).
                let a = requester::issue_authorization(
                    &self.signers[to].portal,
                    financing_consent(&subject, src.region),
                )
                .map_err(|e| e.to_string())?;
                ("tax_credit_rating", fields(&TAX_FIELDS), None, Some(a))
            }
        };
        let spec = QuerySpec {
            target_region: dst.region,
            subject: SubjectRef::LegalPerson(subject),
            purpose: purpose.to_owned(),
            requested: vec![CategoryFields {
                category: category.to_owned(),
                fields: wanted,
            }],
            legal_basis: basis.map(str::to_owned),
            subject_authorization: authorization,
        };
        self.sign(from, spec)
    }

    /// `spec` drafted and signed by node `from`'s requester, approved by its
    /// approver: a properly authorized query.
    pub(crate) fn sign(&self, from: usize, spec: QuerySpec) -> Result<AuthorizedQuery, String> {
        let src = &self.slots[from].node;
        let s = &self.signers[from];
        let mut file = requester::draft_and_sign(
            src.region,
            src.name.clone(),
            spec,
            &s.requester,
            SystemTime::now(),
        )
        .map_err(|e| e.to_string())?;
        requester::approve(&mut file, &s.approver).map_err(|e| e.to_string())?;
        file.authorized().map_err(|e| e.to_string())
    }

    /// Reserve one of a pair's in-flight places, if it has one free.
    fn reserve(self: &Arc<Self>, from: usize, to: usize) -> Option<PairSlot> {
        let mut m = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry((from, to)).or_default();
        if *n >= PAIR_IN_FLIGHT {
            return None;
        }
        *n += 1;
        Some(PairSlot {
            ctx: Arc::clone(self),
            pair: (from, to),
        })
    }

    /// A random query of the mix whose pair has a free in-flight place:
    /// (from, to, kind, query, reservation); None if the draws found none.
    #[allow(clippy::type_complexity)]
    fn random_query(
        self: &Arc<Self>,
        rng: &mut Rng,
    ) -> Result<Option<(usize, usize, Kind, AuthorizedQuery, PairSlot)>, String> {
        let mut kind = self.mix.pick(rng.next_u64() as u32);
        let to = self.provinces[rng.below(self.provinces.len())];
        let from = if kind == Kind::Upward {
            self.national
        } else {
            // Any other province.
            let mut f = self.provinces[rng.below(self.provinces.len())];
            if f == to {
                f = self.provinces[(self.provinces.iter().position(|&p| p == to).unwrap_or(0) + 1)
                    % self.provinces.len()];
            }
            f
        };
        let Some(reservation) = self.reserve(from, to) else {
            return Ok(None);
        };
        let target = &self.slots[to].node;
        let mut i = rng.below(target.subjects.max(1) as usize) as u32;
        if kind == Kind::Authorized {
            // Subjects with a tax rating: every TAX_RATING_EVERY-th.
            let rated = target.subjects / TAX_RATING_EVERY;
            if rated == 0 {
                kind = Kind::Basis;
            } else {
                i = (rng.below(rated as usize) as u32 + 1) * TAX_RATING_EVERY - 1;
            }
        }
        let purpose = match kind {
            Kind::Basis | Kind::Overask => [
                "public_procurement",
                "administrative_approval",
                "joint_punishment",
            ][rng.below(3)],
            Kind::Authorized => "financing",
            Kind::Upward => "upward_reporting",
        };
        let q = self.build(from, to, kind, target.subject(i), purpose)?;
        Ok(Some((from, to, kind, q, reservation)))
    }
}

/// A subject's consent to `grantee` reading its tax rating for
/// `financing`, valid for an hour, once: the scope the `authorized` kind
/// asks under (unsigned).
pub(crate) fn financing_consent(subject: &str, grantee: RegionCode) -> SubjectAuthorization {
    let now = credex_node::query::unix_ms(SystemTime::now());
    SubjectAuthorization {
        authorization_id: requester::random_id(),
        subject: SubjectRef::LegalPerson(subject.to_owned()),
        grantee_region: grantee,
        purposes: vec!["financing".to_owned()],
        categories: vec!["tax_credit_rating".to_owned()],
        not_before_ms: now - 60_000,
        not_after_ms: now + 3_600_000,
        max_uses: 1,
    }
}

/// Most queries in flight between one requester and one responder: a
/// bulkhead, so a hung pair (partitioned, or its peer down) holds at most
/// this many of the workload's places while the others go on.
const PAIR_IN_FLIGHT: usize = 4;

/// One reserved in-flight place of a pair, released on drop.
struct PairSlot {
    ctx: Arc<Ctx>,
    pair: (usize, usize),
}

impl Drop for PairSlot {
    fn drop(&mut self) {
        let mut m = self.ctx.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.pair) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Send queries of the mix until the deadline; what happened to each.
pub(super) async fn worker(ctx: Arc<Ctx>, mut rng: Rng) -> WorkerStats {
    let mut stats = WorkerStats::default();
    while Instant::now() < ctx.deadline {
        let (from, to, kind, query, _slot) = match ctx.random_query(&mut rng) {
            Ok(Some(x)) => x,
            Ok(None) => {
                *stats
                    .outcomes
                    .entry("deferred: pair at its in-flight cap".into())
                    .or_default() += 1;
                tokio::task::yield_now().await;
                continue;
            }
            Err(e) => {
                *stats
                    .outcomes
                    .entry(format!("build error: {e}"))
                    .or_default() += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let sent = Instant::now();
        let sent_s = ctx.elapsed_s();
        let result = ctx.send(from, to, &query).await;
        let bucket = ctx.bucket(sent);
        match result {
            Err(Failure::RequesterDown) => {
                // A stopped node sends nothing; let the others go on.
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(Failure::Unreachable(why)) => {
                ctx.failed_per_s[bucket].fetch_add(1, Ordering::Relaxed);
                ctx.note(from, to, sent_s, false);
                let class = if why.starts_with("backing off") {
                    "unreachable: backing off"
                } else {
                    "unreachable: dial failed"
                };
                *stats.outcomes.entry(class.into()).or_default() += 1;
                // Do not spin on a pair that is backing off.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            Err(Failure::Failed(e)) => {
                ctx.failed_per_s[bucket].fetch_add(1, Ordering::Relaxed);
                ctx.note(from, to, sent_s, false);
                *stats.outcomes.entry(failure_class(&e).into()).or_default() += 1;
            }
            Ok(r) => {
                let us = u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX);
                stats.latencies_us.push(us);
                ctx.ok_per_s[bucket].fetch_add(1, Ordering::Relaxed);
                ctx.answered.fetch_add(1, Ordering::Relaxed);
                ctx.note(from, to, sent_s, true);
                count_answer(&ctx, &mut stats, kind, &r);
            }
        }
    }
    stats
}

/// The outcome class of a query that was sent but got no verified answer.
fn failure_class(error: &str) -> &'static str {
    if error.contains("rate_limited") {
        // The malicious node's own queries while it floods.
        "failed: rate limited"
    } else if error.contains("timed out") {
        "failed: timeout"
    } else if error.contains("closed") || error.contains("lost") || error.contains("reset") {
        "failed: connection lost"
    } else {
        "failed: other"
    }
}

/// Count an answer: its outcome, whether it is the one `kind` expects, and
/// whether it leaked an internal field.
fn count_answer(ctx: &Ctx, stats: &mut WorkerStats, kind: Kind, r: &QueryResponse) {
    let outcome = match r.body.outcome {
        Outcome::Denied => format!("denied/{:?}", r.body.reason),
        o => format!("{o:?}").to_lowercase(),
    };
    let leaked = r.body.released.iter().any(|c| {
        c.fields
            .iter()
            .any(|f| INTERNAL_PENALTY_FIELDS.contains(&f.as_str()))
    });
    if leaked {
        ctx.leaks.fetch_add(1, Ordering::Relaxed);
    }
    let expected = match kind {
        Kind::Basis | Kind::Authorized | Kind::Upward => r.body.outcome == Outcome::Granted,
        Kind::Overask => r.body.outcome == Outcome::Trimmed,
    };
    if !expected {
        *stats
            .unexpected
            .entry(format!("{kind:?} → {outcome}"))
            .or_default() += 1;
    }
    *stats.outcomes.entry(outcome).or_default() += 1;
}
