//! The responder's query pipeline (docs/design.md §5–6):
//!
//! authenticated peer → verify both authorizations (signatures, chains,
//! CRLs, roles, distinct officers) → subject and purpose → policy → read
//! the records the decision releases and project them to the permitted
//! fields → durably record the decision, consuming the nonce, one
//! authorization use and one unit of quota, and enter the records in the
//! disclosures ledger, all in one transaction → only then sign the
//! response.
//!
//! Records are read only with an [`AuthorizationVerified`] and a
//! [`ReleaseDecision`] in hand, tokens that only `credex-pki` and
//! `credex-policies` construct. Nothing read leaves before the access
//! entry and its disclosures are durable; a claim that does not hold (a
//! replay, no use or quota left) writes no disclosure and releases nothing
//! (decision 1200).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use credex_pki::authorization::{
    AuthorizationVerified, QueryContext, sign_response, verify_authorized_query,
};
use credex_pki::signing::SigningKey;
use credex_policies::{AgreementGroups, Catalogue, PolicySet, ReleaseDecision};
use credex_protocol::query::{
    AuthorizedQuery, Outcome, QueryReason, QueryResponse, QueryResponseBody, Receipt, Record,
    SubjectRef, Value,
};
use credex_protocol::{NodeName, RegionCode};

use crate::config::{NodeConfig, PolicyFiles};
use crate::log::Checkpoints;
use crate::storage::{AccessClaim, Attachment, ClaimOutcome, QuotaClaim, Storage, StorageError};
use crate::tls::FederationTrust;
use crate::transport::PeerIdentity;
use credex_flows::calendar::{ms_time, quota_window_start_ms};
pub use credex_flows::query::PolicyLoadError;
use credex_flows::query::QueryDecision;
use credex_journal::{AccessEntry, Direction, DisclosedBy, Officer};

/// An accountable officer as the journal names them: the certificate's
/// identity and fingerprint.
pub(crate) fn officer_of(id: &credex_pki::CertIdentity) -> Officer {
    Officer {
        identity: id.subject.to_uri(),
        fingerprint: id.fingerprint,
    }
}

/// Load the catalogue (base + supplement), agreement groups and the policy
/// named in `files`. Without a policy file, the node denies everything.
pub fn load_policy(region: RegionCode, files: &PolicyFiles) -> Result<PolicySet, PolicyLoadError> {
    let base = Catalogue::base();
    let catalogue = match &files.catalogue_supplement {
        Some(path) => base.load_supplement_file(path)?,
        None => base,
    };
    let groups = match &files.groups {
        Some(path) => AgreementGroups::load_file(path)?,
        None => AgreementGroups::builtin(),
    };
    let policy = match &files.file {
        Some(path) => PolicySet::load_file(path, &catalogue, &groups)?,
        None => PolicySet::parse(
            &format!("owner = \"{region}\"\n"),
            "(no policy file: deny by default)",
            &catalogue,
            &groups,
        )?,
    };
    if policy.owner() != region {
        return Err(PolicyLoadError::WrongOwner {
            origin: policy.origin().to_owned(),
            owner: policy.owner(),
            node: region,
        });
    }
    Ok(policy)
}

/// Why a query could not be answered at all (the peer gets `Internal`).
#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    /// Storage failed; nothing was released.
    #[error("storage: {0}")]
    Storage(#[from] StorageError),
    /// The query could not be re-encoded to hash it (a decoded value always can).
    #[error("encoding the query: {0}")]
    Encode(String),
    /// The response could not be signed.
    #[error("signing the response: {0}")]
    Sign(String),
    /// The log could not produce a receipt.
    #[error("log: {0}")]
    Log(String),
    /// A stored record could not be decoded.
    #[error("stored record {category}/{record_id} is unreadable: {reason}")]
    CorruptRecord {
        /// Category.
        category: String,
        /// Record id.
        record_id: String,
        /// Why.
        reason: String,
    },
}

/// The key under which a legal person's records are stored: its USCC. A
/// natural person's records are stored under a node-local key found
/// through the person's pseudonym
/// ([`crate::pseudonyms::stored_subject_key`]); for one this gives the
/// pseudonym's text, under which no record is stored.
pub fn subject_key(subject: &SubjectRef) -> String {
    match subject {
        SubjectRef::LegalPerson(code) => code.clone(),
        SubjectRef::NaturalPerson(p) => p.to_string(),
    }
}

fn into_value(v: credex_policies::FieldValue) -> Value {
    use credex_policies::FieldValue as F;
    match v {
        F::Text(s) => Value::Text(s),
        F::Code(s) => Value::Code(s),
        F::Date(s) => Value::Date(s),
        F::Decimal(s) => Value::Decimal(s),
        F::Integer(n) => Value::Integer(n),
        F::Boolean(b) => Value::Boolean(b),
    }
}

/// Unix milliseconds of `t`.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Answers queries under this node's policy.
pub struct QueryService {
    region: RegionCode,
    node: NodeName,
    policy: Arc<PolicySet>,
    trust: FederationTrust,
    storage: Storage,
    key: Arc<SigningKey>,
    chain: Vec<Vec<u8>>,
    max_skew_ms: i64,
    checkpoints: Checkpoints,
    counters: Arc<crate::metrics::QueryCounters>,
}

impl std::fmt::Debug for QueryService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryService")
            .field("region", &self.region)
            .field("policy_hash", &self.policy.policy_hash_hex())
            .finish()
    }
}

impl QueryService {
    /// A service for `config`'s node, with its policy, trust, storage and key.
    pub fn new(
        config: &NodeConfig,
        policy: PolicySet,
        trust: FederationTrust,
        storage: Storage,
        key: Arc<SigningKey>,
        chain: Vec<Vec<u8>>,
        checkpoints: Checkpoints,
    ) -> QueryService {
        QueryService {
            region: config.region,
            node: config.name.clone(),
            policy: Arc::new(policy),
            trust,
            storage,
            key,
            chain,
            max_skew_ms: config.policy.max_clock_skew.as_millis() as i64,
            checkpoints,
            counters: Arc::default(),
        }
    }

    /// Queries answered, by decision and reason (for the metrics endpoint).
    pub fn counters(&self) -> Arc<crate::metrics::QueryCounters> {
        Arc::clone(&self.counters)
    }

    /// The policy in force.
    pub fn policy(&self) -> &PolicySet {
        &self.policy
    }

    /// Decide and answer one query from `peer`.
    ///
    /// Cancel-safety: once the access entry has been queued it is written
    /// whether or not the caller still waits; no record leaves before it
    /// is durable.
    pub async fn answer(
        &self,
        peer: &PeerIdentity,
        q: &AuthorizedQuery,
    ) -> Result<QueryResponse, AnswerError> {
        let now_ms = self.storage.clock().now_ms();
        let ctx = QueryContext {
            responder_region: self.region,
            peer_region: peer.region,
            peer_node: peer.name.clone(),
            now: credex_flows::calendar::unix_time(now_ms),
            max_clock_skew_ms: self.max_skew_ms,
        };
        let policy_hash = self.policy.policy_hash();

        // 1. Both authorizations. A request whose signatures do not verify is
        //    recorded (without consuming its nonce: nothing in it is authenticated).
        let trust = self.trust.current();
        let verified = match verify_authorized_query(q, &trust, &ctx) {
            Ok(v) => v,
            Err(e) => {
                tracing::info!(reason = %e.reason(), error = %e, "query refused: authorization");
                let digest = credex_pki::authorization::query_digest(q)
                    .map_err(|e| AnswerError::Encode(e.to_string()))?;
                let mut entry = self.received_entry(q, digest, now_ms);
                let mut decided = QueryDecision::denied(e.reason(), q, policy_hash);
                apply(&mut entry, &mut decided);
                let seq = self.storage.append_entry(&entry).await?;
                hand_back(entry, &mut decided);
                let receipt = self.receipt(seq).await?;
                return self.respond(q, digest, decided, Vec::new(), now_ms, receipt);
            }
        };
        // The query as kept with its entry (the bundle an auditor re-checks)
        // and its digest, both as the verifier encoded it.
        let digest = verified.query_digest();
        let bundle = verified.bundle().to_vec();
        let mut entry = self.received_entry(q, digest, now_ms);
        entry.requester_officer = Some(officer_of(verified.requester()));
        entry.approver_officer = Some(officer_of(verified.approver()));

        // 2. Subject, purpose, policy.
        let (mut decided, claim) = self.decide(q, &verified, peer, now_ms).await?;
        apply(&mut entry, &mut decided);
        let release = match decided.release.take() {
            Some(d) if decided.outcome != Outcome::Denied => Some(d),
            _ => None,
        };

        // 3. Read what the decision releases, projected to the permitted
        //    fields, and the disclosures that enter it in the ledger.
        //    Nothing read leaves before they are durable (decision 1200).
        let records = match &release {
            Some(decision) => self.read_projected(q, decision).await?,
            None => Vec::new(),
        };
        let disclosed: Vec<[u8; 32]> = records
            .iter()
            .map(|r| credex_journal::record_key(&r.category, &r.record_id))
            .collect();
        let disclosures = crate::disclosures::on_claim(
            DisclosedBy::Query {
                query_digest: digest,
            },
            vec![q.request.requester_region],
            &disclosed,
            now_ms,
        )?;

        // 4. Durable record, with the nonce, authorization use and quota
        //    claimed in the same transaction, and the disclosures written
        //    only if the claim holds; a replay turns into a denial.
        let bodies = ClaimBodies::encode(&mut entry)?;
        hand_back(entry, &mut decided);
        let (seq, claimed) = self
            .storage
            .append_claimed_then(
                credex_journal::kind::QUERY_RECEIVED,
                claim,
                Some(bundle_attachment(q, digest, bundle)),
                disclosures,
                move |outcome| bodies.take(outcome),
            )
            .await?;
        let receipt = self.receipt(seq).await?;
        if let Some(reason) = claim_denial(claimed) {
            tracing::info!(%reason, "query refused after claim");
            return self.respond(
                q,
                digest,
                QueryDecision::denied(reason, q, policy_hash),
                Vec::new(),
                now_ms,
                receipt,
            );
        }
        if release.is_none() {
            tracing::info!(reason = %decided.reason, "query denied");
        } else {
            tracing::info!(outcome = ?decided.outcome, records = records.len(), "query answered");
        }
        self.respond(q, digest, decided, records, now_ms, receipt)
    }

    /// The journal entry of `q` as received, before anything is decided:
    /// denied for a bad signature. The steps of [`QueryService::answer`] fill
    /// in what they decide, the lists released and withheld included
    /// ([`apply`]).
    fn received_entry(&self, q: &AuthorizedQuery, digest: [u8; 32], now_ms: i64) -> AccessEntry {
        AccessEntry {
            version: credex_journal::ENTRY_VERSION,
            direction: Direction::Received,
            at_ms: now_ms,
            query_digest: digest,
            request_id: q.request.request_id,
            requester_region: q.request.requester_region,
            requester_node: q.request.requester_node.clone(),
            requester_officer: None,
            approver_officer: None,
            responder_region: self.region,
            subject_digest: credex_journal::subject_digest(&q.request.subject),
            purpose: q.request.purpose.clone(),
            legal_basis: q.request.legal_basis.clone(),
            subject_authorization_id: q
                .subject_authorization
                .as_ref()
                .map(|a| a.authorization.authorization_id),
            requested: q.request.requested.clone(),
            released: Vec::new(),
            withheld: Vec::new(),
            outcome: Outcome::Denied,
            reason: QueryReason::BadSignature,
            policy_hash: self.policy.policy_hash(),
            response_digest: None,
            counterpart: None,
        }
    }

    async fn receipt(&self, seq: u64) -> Result<Option<Receipt>, AnswerError> {
        crate::log::receipt(&self.storage, &self.checkpoints, seq)
            .await
            .map(Some)
            .map_err(|e| AnswerError::Log(e.to_string()))
    }

    /// What the policy decides for `q` from `peer` at `now_ms`, and the
    /// claim that records it: the nonce, and what a release consumes.
    async fn decide(
        &self,
        q: &AuthorizedQuery,
        verified: &AuthorizationVerified,
        peer: &PeerIdentity,
        now_ms: i64,
    ) -> Result<(QueryDecision, AccessClaim), AnswerError> {
        let peer_key = peer.region.to_string();
        let window_start = quota_window_start_ms(ms_time(now_ms));
        // A lower bound; the claim in the journal's batch decides.
        let used = self
            .storage
            .quota_used_at_least(&peer_key, window_start)
            .await?;
        let decided = credex_flows::query::decide(
            q,
            verified,
            peer.region,
            &self.policy,
            u64::from(used),
            now_ms,
        );
        let claim = AccessClaim {
            requester_region: q.request.requester_region.to_string(),
            nonce: q.request.nonce,
            // A nonce older than twice the skew window is refused as stale anyway.
            nonce_expires_at_unix_ms: now_ms.saturating_add(self.max_skew_ms.saturating_mul(2)),
            authorization_use: decided.authorization_use,
            quota: decided.quota.map(|c| QuotaClaim {
                peer: peer_key,
                window_start_unix_ms: c.window_start_ms,
                limit: u32::try_from(c.per_day).unwrap_or(u32::MAX),
            }),
        };
        Ok((decided, claim))
    }

    async fn read_projected(
        &self,
        q: &AuthorizedQuery,
        decision: &ReleaseDecision,
    ) -> Result<Vec<Record>, AnswerError> {
        let categories: Vec<String> = decision
            .permitted()
            .iter()
            .map(|(c, _)| c.clone())
            .collect();
        // A natural person this node holds under no alias of the named
        // epoch (unknown person, or an epoch not in the ring) has no records.
        let Some(key) =
            crate::pseudonyms::stored_subject_key(&self.storage, &q.request.subject).await?
        else {
            return Ok(Vec::new());
        };
        let stored = self.storage.records_for(&key, &categories).await?;
        let mut out = Vec::with_capacity(stored.len());
        for row in stored {
            let record: credex_policies::Record =
                credex_protocol::decode(&row.body).map_err(|e| AnswerError::CorruptRecord {
                    category: row.category.clone(),
                    record_id: row.record_id.clone(),
                    reason: e.to_string(),
                })?;
            let projected = decision.project_owned(record);
            if projected.fields.is_empty() {
                continue;
            }
            out.push(Record {
                category: projected.category,
                record_id: row.record_id,
                fields: projected
                    .fields
                    .into_iter()
                    .map(|(k, v)| (k, into_value(v)))
                    .collect(),
            });
        }
        Ok(out)
    }

    fn respond(
        &self,
        q: &AuthorizedQuery,
        digest: [u8; 32],
        decided: QueryDecision,
        records: Vec<Record>,
        now_ms: i64,
        receipt: Option<Receipt>,
    ) -> Result<QueryResponse, AnswerError> {
        self.counters.record(decided.outcome, decided.reason);
        let body = QueryResponseBody {
            request_id: q.request.request_id,
            query_digest: digest,
            responder_region: self.region,
            responder_node: self.node.clone(),
            outcome: decided.outcome,
            reason: decided.reason,
            released: decided.released,
            withheld: decided.withheld,
            records,
            policy_hash: decided.policy_hash,
            responded_at_ms: now_ms,
        };
        let responder = sign_response(&body, &self.key, self.chain.clone())
            .map_err(|e| AnswerError::Sign(e.to_string()))?;
        Ok(QueryResponse {
            body,
            responder,
            receipt,
        })
    }
}

/// Writes `decided` into `entry`. Its field lists move into the entry (a
/// query's lists are copied nowhere else); [`hand_back`] returns them once
/// the entry is encoded.
fn apply(entry: &mut AccessEntry, decided: &mut QueryDecision) {
    entry.outcome = decided.outcome;
    entry.reason = decided.reason;
    entry.released = std::mem::take(&mut decided.released);
    entry.withheld = std::mem::take(&mut decided.withheld);
    entry.policy_hash = decided.policy_hash;
}

/// The inverse of [`apply`] for the field lists, once `entry` is encoded:
/// the response names what the entry names.
fn hand_back(entry: AccessEntry, decided: &mut QueryDecision) {
    decided.released = entry.released;
    decided.withheld = entry.withheld;
}

/// A received query's journal body for each outcome of its claim, encoded
/// before the claim: the writer picks one, and never writes an empty body.
struct ClaimBodies {
    claimed: Vec<u8>,
    replay: Vec<u8>,
    authorization_used_up: Vec<u8>,
    quota_exceeded: Vec<u8>,
}

impl ClaimBodies {
    /// The four bodies of `entry`. The denials differ from the claim only in
    /// outcome, reason and lists, so `entry` is turned into each in place
    /// and comes back as it was.
    fn encode(entry: &mut AccessEntry) -> Result<ClaimBodies, StorageError> {
        let claimed = credex_journal::encode(&*entry)?.body;
        let (outcome, reason) = (entry.outcome, entry.reason);
        let released = std::mem::take(&mut entry.released);
        let withheld = std::mem::replace(&mut entry.withheld, entry.requested.clone());
        entry.outcome = Outcome::Denied;
        let mut denied = |reason: QueryReason| {
            entry.reason = reason;
            credex_journal::encode(&*entry).map(|e| e.body)
        };
        let replay = denied(QueryReason::Replay);
        let authorization_used_up = denied(QueryReason::AuthorizationUsedUp);
        let quota_exceeded = denied(QueryReason::QuotaExceeded);
        entry.outcome = outcome;
        entry.reason = reason;
        entry.released = released;
        entry.withheld = withheld;
        Ok(ClaimBodies {
            claimed,
            replay: replay?,
            authorization_used_up: authorization_used_up?,
            quota_exceeded: quota_exceeded?,
        })
    }

    fn take(self, outcome: ClaimOutcome) -> Vec<u8> {
        match outcome {
            ClaimOutcome::Claimed => self.claimed,
            ClaimOutcome::Replay => self.replay,
            ClaimOutcome::AuthorizationUsedUp => self.authorization_used_up,
            ClaimOutcome::QuotaExceeded => self.quota_exceeded,
        }
    }
}

fn claim_denial(outcome: ClaimOutcome) -> Option<QueryReason> {
    match outcome {
        ClaimOutcome::Claimed => None,
        ClaimOutcome::Replay => Some(QueryReason::Replay),
        ClaimOutcome::AuthorizationUsedUp => Some(QueryReason::AuthorizationUsedUp),
        ClaimOutcome::QuotaExceeded => Some(QueryReason::QuotaExceeded),
    }
}

/// The bundle of `q` as stored with its entry: the certificate chains in
/// it (the officers', the subject authorization's signer's) are stored once
/// for all the queries that carry them (decision 1180).
fn bundle_attachment(q: &AuthorizedQuery, digest: [u8; 32], bundle: Vec<u8>) -> Attachment {
    let chains = [
        Some(&q.requester),
        Some(&q.approver),
        q.subject_authorization.as_ref().map(|a| &a.signer),
    ];
    Attachment::new(digest, bundle).sharing(
        chains
            .into_iter()
            .flatten()
            .flat_map(|proof| proof.chain.iter().map(Vec::as_slice)),
    )
}
