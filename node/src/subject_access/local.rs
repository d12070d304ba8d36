//! The part of a subject's access report this node's own log and ledger
//! hold.

use credex_journal::{AccessEntry, CreditChecked, Direction, ReportIssued, kind};
use credex_protocol::query::SubjectRef;

use super::{RecordDisclosure, SubjectAccess};
use crate::storage::{MAX_RANGE_LIMIT, Storage, StorageError};

/// The recipients of every record of `subject` held here in `categories`,
/// by record. Cancel-safe (read only).
pub async fn disclosures(
    storage: &Storage,
    subject: &SubjectRef,
    categories: &[String],
) -> Result<Vec<RecordDisclosure>, StorageError> {
    let Some(key) = crate::pseudonyms::stored_subject_key(storage, subject).await? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for chunk in categories.chunks(crate::storage::MAX_QUERY_CATEGORIES) {
        for record in storage.records_for(&key, chunk).await? {
            let record_key = credex_journal::record_key(&record.category, &record.record_id);
            let to = crate::disclosures::recipients(storage, &record_key)
                .await
                .map_err(|e| StorageError::InvalidState {
                    reason: e.to_string(),
                })?;
            out.extend(to.into_iter().map(|d| RecordDisclosure {
                category: record.category.clone(),
                record_id: record.record_id.clone(),
                recipient: d.recipient.to_string(),
                channel: d.channel.name().to_owned(),
                last_at_ms: d.at_ms,
            }));
        }
    }
    Ok(out)
}

/// Every access to any of `digests` this node's log records, oldest
/// first, and the log's size: the whole log is read (index it when logs
/// grow past ~10^6 entries). Cancel-safe (read only).
pub async fn accesses(
    storage: &Storage,
    digests: &[[u8; 32]],
) -> Result<(u64, Vec<SubjectAccess>), StorageError> {
    let mut out = Vec::new();
    let mut next = 0u64;
    loop {
        let page = storage.journal_range(next, MAX_RANGE_LIMIT).await?;
        let Some(last) = page.last() else { break };
        next = last.seq + 1;
        for r in &page {
            match r.kind {
                kind::QUERY_RECEIVED => {
                    if let Ok(a) = credex_journal::decode::<AccessEntry>(r.kind, &r.body)
                        && a.direction == Direction::Received
                        && digests.contains(&a.subject_digest)
                    {
                        out.push(query_access(r.seq, &a));
                    }
                }
                kind::CREDIT_CHECKED => {
                    if let Ok(c) = credex_journal::decode::<CreditChecked>(r.kind, &r.body)
                        && c.subjects.iter().any(|s| digests.contains(s))
                    {
                        out.push(SubjectAccess {
                            log_index: r.seq,
                            at_ms: c.at_ms,
                            kind: "credit_check".into(),
                            by: c.client.identity,
                            officers: vec![c.officer],
                            purpose: c.purpose,
                            outcome: None,
                            released: Vec::new(),
                        });
                    }
                }
                kind::REPORT_ISSUED => {
                    if let Ok(i) = credex_journal::decode::<ReportIssued>(r.kind, &r.body)
                        && digests.contains(&i.subject_digest)
                    {
                        out.push(SubjectAccess {
                            log_index: r.seq,
                            at_ms: i.at_ms,
                            kind: "credit_report".into(),
                            by: i.requested_by,
                            officers: vec![i.officer],
                            purpose: i.purpose,
                            outcome: Some(i.kind.code().to_owned()),
                            released: Vec::new(),
                        });
                    }
                }
                _ => {}
            }
        }
    }
    Ok((next, out))
}

fn query_access(seq: u64, a: &AccessEntry) -> SubjectAccess {
    SubjectAccess {
        log_index: seq,
        at_ms: a.at_ms,
        kind: "query".into(),
        by: format!("{}/{}", a.requester_region, a.requester_node),
        officers: [&a.requester_officer, &a.approver_officer]
            .into_iter()
            .flatten()
            .map(|o| o.identity.clone())
            .collect(),
        purpose: a.purpose.clone(),
        outcome: Some(format!("{:?}", a.outcome).to_lowercase()),
        released: a
            .released
            .iter()
            .flat_map(|c| c.fields.iter().map(move |f| format!("{}.{f}", c.category)))
            .collect(),
    }
}
