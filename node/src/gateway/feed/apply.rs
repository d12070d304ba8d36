//! From valid changes to a [`FeedBatch`]: per-source sequence checks,
//! subject keys (citizen IDs become the node's subject keys and the
//! federation's pseudonyms, as `credex records import` stores them), the
//! answer, and the [`RecordsFed`] entries that record the batch.

use std::collections::{BTreeSet, HashMap, HashSet};

use credex_journal::gateway::MAX_FED_PER_ENTRY;
use credex_journal::{
    ENTRY_VERSION, GatewayClient, RecordsChanged, RecordsFed, record_key, sha256, subject_digest,
};
use credex_policies::SubjectId;
use credex_protocol::query::SubjectRef;
use ring::rand::SystemRandom;

use super::api::{FeedAnswer, SourceProgress};
use super::parse::{Action, BadLine, Change, Sequenced};
use crate::gateway::problem::{Problem, ProblemType};
use crate::pseudonyms::NaturalPersons;
use crate::records::{StoredSubjectError, stored_subject};
use crate::storage::{FeedBatch, MAX_FEED_SOURCES, RecordKey, SourceAdvance};

/// The sources of `changes` in order of first appearance.
pub(super) fn sources<'a>(changes: impl IntoIterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    changes.into_iter().filter(|s| seen.insert(*s)).collect()
}

/// Every line whose sequence number does not continue its source's:
/// `last` holds each source's last applied number (absent: 0). After a
/// break the source is followed from the number found, so each break is
/// named once. A source beyond [`MAX_FEED_SOURCES`] is refused too.
pub(super) fn sequence_problems(
    changes: &[Sequenced],
    last: &HashMap<String, u64>,
) -> Vec<BadLine> {
    let mut expected: HashMap<&str, u64> = HashMap::new();
    let mut bad = Vec::new();
    for c in changes {
        let known = expected.len();
        let next = *expected
            .entry(c.source.as_str())
            .or_insert_with(|| last.get(&c.source).copied().unwrap_or(0).saturating_add(1));
        if expected.len() > known && expected.len() > MAX_FEED_SOURCES {
            bad.push(BadLine::new(
                c.line,
                ProblemType::FieldInvalid,
                Some("/source".into()),
                format!("a batch may name at most {MAX_FEED_SOURCES} sources"),
            ));
        }
        if c.seq != next {
            let what = if c.seq < next { "rewind" } else { "gap" };
            bad.push(BadLine::new(
                c.line,
                ProblemType::SequenceGap,
                Some("/seq".into()),
                format!(
                    "source {:?}: expected seq {next}, got {} ({what}; the last applied is {})",
                    c.source,
                    c.seq,
                    next - 1
                ),
            ));
        }
        expected.insert(c.source.as_str(), c.seq.saturating_add(1));
    }
    bad
}

/// The batch's changes, resolved to stored keys, with their subjects'
/// journal digests.
pub(super) struct Resolved {
    pub(super) upserts: Vec<crate::storage::RecordRow>,
    pub(super) deletes: Vec<RecordKey>,
    pub(super) subjects: Vec<crate::storage::SubjectRow>,
    /// Per change, in order: its subject's digest.
    pub(super) digests: Vec<[u8; 32]>,
}

/// Derive every change's subject key (and for natural persons the rows
/// that store them). A natural person without a configured key ring, or
/// one that cannot be pseudonymized, is a bad line; the ID is never in
/// the detail.
pub(super) fn resolve(
    changes: &[Change],
    persons: Option<&NaturalPersons>,
) -> Result<Resolved, Vec<BadLine>> {
    let rng = SystemRandom::new();
    let mut seen = HashSet::new();
    let mut out = Resolved {
        upserts: Vec::new(),
        deletes: Vec::new(),
        subjects: Vec::new(),
        digests: Vec::with_capacity(changes.len()),
    };
    let mut bad = Vec::new();
    for c in changes {
        let fail = |detail: String| {
            BadLine::new(
                c.line,
                ProblemType::FieldInvalid,
                Some("/record/subject".into()),
                detail,
            )
        };
        let resolved = stored_subject(&c.subject, persons, &mut seen, &rng)
            .map_err(|e| match e {
                StoredSubjectError::NoKeyRing => fail(e.to_string()),
                StoredSubjectError::Pseudonym(_) => {
                    fail("the natural person could not be pseudonymized".into())
                }
            })
            .and_then(|(key, row)| Ok((key, row, digest_of(&c.subject, persons).map_err(fail)?)));
        let (subject_key, row, digest) = match resolved {
            Ok(r) => r,
            Err(b) => {
                bad.push(b);
                continue;
            }
        };
        out.subjects.extend(row);
        out.digests.push(digest);
        match &c.action {
            Action::Upsert(record) => out.upserts.push(crate::storage::RecordRow {
                subject_key,
                ..record.clone()
            }),
            Action::Delete {
                category,
                record_id,
            } => out.deletes.push(RecordKey {
                category: category.clone(),
                record_id: record_id.clone(),
                subject_key,
            }),
        }
    }
    if bad.is_empty() { Ok(out) } else { Err(bad) }
}

/// The subject as journal entries name it: the USCC, or the person's
/// pseudonym under the ring's current epoch.
fn digest_of(subject: &SubjectId, persons: Option<&NaturalPersons>) -> Result<[u8; 32], String> {
    let subject = match subject {
        SubjectId::LegalPerson(u) => SubjectRef::LegalPerson(u.as_str().to_owned()),
        SubjectId::NaturalPerson(c) => {
            let persons = persons.ok_or_else(|| StoredSubjectError::NoKeyRing.to_string())?;
            let p = persons
                .ring
                .current_pseudonym(c.expose())
                .map_err(|_| "the natural person could not be pseudonymized".to_owned())?;
            SubjectRef::NaturalPerson(p)
        }
    };
    Ok(subject_digest(&subject))
}

/// Who fed the batch, what was received and when.
pub(super) struct BatchMeta<'a> {
    pub(super) client: GatewayClient,
    pub(super) idempotency_key: &'a str,
    pub(super) request_digest: [u8; 32],
    pub(super) now_ms: i64,
}

/// The batch to store: answer, sequences and one [`RecordsFed`] entry per
/// source and run of at most [`MAX_FED_PER_ENTRY`] changes.
pub(super) fn build(
    changes: &[Change],
    resolved: Resolved,
    meta: BatchMeta<'_>,
) -> Result<(FeedBatch, FeedAnswer), Problem> {
    let mut sequences = Vec::new();
    let mut entries = Vec::new();
    let key_digest = sha256(meta.idempotency_key.as_bytes());
    for source in sources(changes.iter().map(|c| c.source.as_str())) {
        let of_source: Vec<(&Change, [u8; 32])> = changes
            .iter()
            .zip(resolved.digests.iter().copied())
            .filter(|(c, _)| c.source == source)
            .collect();
        let (Some(first), Some(last)) = (of_source.first(), of_source.last()) else {
            continue;
        };
        sequences.push(SourceAdvance {
            source: source.to_owned(),
            first: first.0.seq,
            last: last.0.seq,
        });
        for part in of_source.chunks(MAX_FED_PER_ENTRY) {
            let entry = fed_entry(part, source, &meta, key_digest)?;
            let encoded = credex_journal::encode(&entry)
                .map_err(|e| Problem::new(ProblemType::Internal, format!("journal entry: {e}")))?;
            entries.push((encoded.kind, encoded.body));
        }
    }
    entries.extend(changed_entries(&resolved, meta.now_ms)?);
    let upserted = resolved.upserts.len() as u64;
    let deleted = resolved.deletes.len() as u64;
    let answer = FeedAnswer {
        applied: upserted + deleted,
        upserted,
        deleted,
        sources: sequences
            .iter()
            .map(|s| SourceProgress {
                source: s.source.clone(),
                last_seq: s.last,
            })
            .collect(),
    };
    let answer_bytes = serde_json::to_vec(&answer)
        .map_err(|e| Problem::new(ProblemType::Internal, format!("answer: {e}")))?;
    let batch = FeedBatch {
        client: meta.client.identity.clone(),
        idempotency_key: meta.idempotency_key.to_owned(),
        request_digest: meta.request_digest,
        answer: answer_bytes,
        upserts: resolved.upserts,
        deletes: resolved.deletes,
        subjects: resolved.subjects,
        sequences,
        entries,
    };
    Ok((batch, answer))
}

/// The batch's changes by record key, for the correction sweep
/// ([`crate::corrections`]): `records_changed` entries of at most
/// `credex_journal::rights::MAX_CHANGED_PER_ENTRY` records each.
fn changed_entries(resolved: &Resolved, now_ms: i64) -> Result<Vec<(u16, Vec<u8>)>, Problem> {
    let replaced: Vec<[u8; 32]> = resolved
        .upserts
        .iter()
        .map(|r| record_key(&r.category, &r.record_id))
        .collect();
    let deleted: Vec<[u8; 32]> = resolved
        .deletes
        .iter()
        .map(|d| record_key(&d.category, &d.record_id))
        .collect();
    RecordsChanged::entries(now_ms, &replaced, &deleted)
        .iter()
        .map(|entry| {
            credex_journal::encode(entry)
                .map(|e| (e.kind, e.body))
                .map_err(|e| Problem::new(ProblemType::Internal, format!("journal entry: {e}")))
        })
        .collect()
}

fn fed_entry(
    part: &[(&Change, [u8; 32])],
    source: &str,
    meta: &BatchMeta<'_>,
    key_digest: [u8; 32],
) -> Result<RecordsFed, Problem> {
    let count = |upsert: bool| {
        let n = part
            .iter()
            .filter(|(c, _)| matches!(c.action, Action::Upsert(_)) == upsert)
            .count();
        u32::try_from(n).map_err(|_| Problem::new(ProblemType::Internal, "part too large"))
    };
    let subjects: BTreeSet<[u8; 32]> = part.iter().map(|(_, d)| *d).collect();
    Ok(RecordsFed {
        version: ENTRY_VERSION,
        at_ms: meta.now_ms,
        client: meta.client.clone(),
        source: source.to_owned(),
        sequences: (
            part.first().map_or(0, |(c, _)| c.seq),
            part.last().map_or(0, |(c, _)| c.seq),
        ),
        idempotency_key_digest: key_digest,
        batch_digest: meta.request_digest,
        upserted: count(true)?,
        deleted: count(false)?,
        subjects: subjects.into_iter().collect(),
    })
}
