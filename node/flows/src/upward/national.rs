//! The national node's side of the upward channel: what it decides on a
//! province's batch — whether it is addressed right, made under the
//! reporting catalogue this node holds, next in sequence and within the
//! per-subject bound — and, when it applies, the records to store under
//! region-qualified ids, the province's advanced position and the signed
//! receipt.
//!
//! Storing the records and committing the position are the node's: one
//! transaction with the log entry (decisions 0503 and 1050).

use std::collections::{BTreeMap, BTreeSet};

use credex_pki::authorization::sign_node_statement;
use credex_policies::{Record, Uscc};
use credex_protocol::RegionCode;
use credex_protocol::egress::{EgressBasis, EgressRecord};
use credex_protocol::federation::{Envelope, Flow as FlowName};
use credex_protocol::query::SubjectPseudonym;
use credex_protocol::upward::{
    BatchReceipt, DOMAIN_UPWARD_RECEIPT, KIND_BATCH, ProcedureOverdueNotice, SignedBatchReceipt,
    UpwardBatch, records_digest,
};

use super::state::{IN_NS, OVERDUE_NS, OverdueReported, ProvinceReceived, overdue_key};
use super::{MAX_SUBJECT_RECORDS, Upward};
use crate::flow::{
    Context, CopyOf, Effect, Peer, Read, RecordRow, Refusal, Refused, StateKey, StateWrite,
    SubjectRecords, View, decode_body,
};

impl Upward {
    /// The batch `envelope` carries, refused for what the message alone
    /// shows to be wrong: sent to a node that is not the national one, by
    /// the national node, of another kind, unreadable, out of bounds or
    /// carrying what the reporting catalogue does not collect.
    pub(super) fn batch(&self, from: &Peer, envelope: &Envelope) -> Result<UpwardBatch, Refused> {
        self.check_sender_is_a_province(from)?;
        if envelope.kind != KIND_BATCH {
            return Err(Refused::UnknownKind {
                flow: FlowName::Upward,
                kind: envelope.kind,
            });
        }
        let batch: UpwardBatch = decode_body(envelope, "batch")?;
        batch
            .validate()
            .map_err(|e| Refused::Invalid(format!("batch {}: {e}", batch.seq)))?;
        self.check_collected(&batch, &envelope.egress)
            .map_err(|e| Refused::Invalid(format!("batch {}: {e}", batch.seq)))?;
        Ok(batch)
    }

    /// The notice of a missed objection or repair deadline `envelope`
    /// carries: from the region the case was filed in, about another
    /// region's entry.
    pub(super) fn overdue_notice(
        &self,
        from: &Peer,
        envelope: &Envelope,
    ) -> Result<ProcedureOverdueNotice, Refused> {
        self.check_sender_is_a_province(from)?;
        let notice: ProcedureOverdueNotice = decode_body(envelope, "procedure overdue notice")?;
        notice
            .validate()
            .map_err(|e| Refused::Invalid(e.to_string()))?;
        if notice.filed_in != from.region {
            return Err(Refused::NotEntitled(format!(
                "region {} reports cases filed in it, not in {}",
                from.region, notice.filed_in
            )));
        }
        Ok(notice)
    }

    /// A missed objection or repair deadline, recorded once per case and
    /// deadline ([`OVERDUE_NS`]).
    pub(super) fn receive_overdue(
        &self,
        cx: &Context<'_>,
        notice: ProcedureOverdueNotice,
    ) -> Result<Effect, Refusal> {
        let key = overdue_key(&notice);
        let summary = format!(
            "{} {} about {} filed in {}: {} deadline {} missed by {}",
            notice.procedure.code(),
            hex::encode(notice.case),
            notice.about,
            notice.filed_in,
            notice.missed.code(),
            notice.deadline,
            notice.about.decider()
        );
        let held = OverdueReported {
            notice,
            at_ms: cx.now_ms,
        };
        let state = StateWrite::encoded(OVERDUE_NS, key, &held)
            .map_err(|e| Refusal::Transient(format!("cannot encode state: {e}")))?;
        Ok(Effect {
            state: vec![state],
            summary,
            ..Effect::default()
        })
    }

    /// Only the national node receives upward messages, and only from a
    /// province.
    fn check_sender_is_a_province(&self, from: &Peer) -> Result<(), Refused> {
        if !self.region.is_national() {
            return Err(Refused::NotEntitled(format!(
                "region {} is not the national platform; upward reports go to 000000",
                self.region
            )));
        }
        if from.region.is_national() {
            return Err(Refused::NotEntitled(
                "the national platform does not report upward".into(),
            ));
        }
        Ok(())
    }

    /// What deciding on `batch` from `from` reads: the province's position
    /// and what each subject of the batch already holds in the reporting
    /// catalogue's categories.
    pub(super) fn batch_reads(&self, from: &Peer, batch: &UpwardBatch) -> Vec<Read> {
        let mut reads = vec![Read::State(StateKey::new(IN_NS, from.region.to_string()))];
        let categories = self.categories();
        let subjects: BTreeSet<&str> = batch
            .records
            .iter()
            .map(|r| r.subject_key.as_str())
            .collect();
        reads.extend(subjects.into_iter().map(|subject| Read::SubjectRecords {
            subject: subject.to_owned(),
            categories: categories.clone(),
        }));
        reads
    }

    /// Apply `batch` from `from` if it is the next expected: see the module
    /// documentation.
    pub(super) fn receive_batch(
        &self,
        cx: &Context<'_>,
        view: &View,
        from: &Peer,
        batch: &UpwardBatch,
    ) -> Result<Effect, Refusal> {
        let key = from.region.to_string();
        let mut province: ProvinceReceived = view.decoded(IN_NS, &key)?.unwrap_or_default();
        if batch.seq > province.next_seq {
            return Err(Refusal::Transient(format!(
                "batch {} arrived before batch {}; send that first",
                batch.seq, province.next_seq
            )));
        }
        if batch.seq < province.next_seq {
            return Err(Refused::Stale(format!(
                "batch {} of {} was already applied; the next expected is {}",
                batch.seq, from.region, province.next_seq
            ))
            .into());
        }
        check_subject_caps(view, batch, from.region)?;
        let digest = records_digest(&batch.records)
            .map_err(|e| Refusal::Transient(format!("cannot digest the batch: {e}")))?;
        // Stored by the node as an upsert keyed by the region-qualified id,
        // in the log entry's transaction: the records and the advanced
        // sequence number commit together or not at all (decision 1050).
        // Each copy carries the key its owner names it by in corrections,
        // so a deletion or a repair at the owner withdraws it here too.
        let records: Vec<RecordRow> = batch
            .records
            .iter()
            .map(|r| RecordRow {
                category: r.category.clone(),
                record_id: qualified_id(from.region, &r.record_id),
                subject_key: r.subject_key.clone(),
                body: r.body.clone(),
                copy_of: Some(CopyOf {
                    owner: from.region,
                    record: credex_journal::record_key(&r.category, &r.record_id),
                }),
            })
            .collect();
        let mut state = Vec::with_capacity(1);
        let count = u32::try_from(batch.records.len()).unwrap_or(u32::MAX);
        for r in &batch.records {
            *province.categories.entry(r.category.clone()).or_default() += 1;
        }
        province.records += u64::from(count);
        province.next_seq += 1;
        province.last_at_ms = cx.now_ms;
        let receipt = BatchReceipt {
            reporting_region: from.region,
            seq: batch.seq,
            record_count: count,
            records_digest: digest,
            national_node: self.node.clone(),
            received_at_ms: cx.now_ms,
        };
        let reply = self.sign_receipt(receipt)?;
        state.push(
            StateWrite::encoded(IN_NS, key, &province)
                .map_err(|e| Refusal::Transient(format!("cannot encode state: {e}")))?,
        );
        Ok(Effect {
            state,
            records,
            reply,
            summary: format!(
                "upward batch {}#{}: {count} records stored, digest {}",
                from.region,
                batch.seq,
                hex::encode(&digest[..8])
            ),
            ..Effect::default()
        })
    }

    /// `receipt` signed with this node's key, encoded as the reply.
    fn sign_receipt(&self, receipt: BatchReceipt) -> Result<Vec<u8>, Refusal> {
        let bytes = credex_protocol::encode(&receipt)
            .map_err(|e| Refusal::Transient(format!("cannot encode the receipt: {e}")))?;
        let signer = sign_node_statement(
            DOMAIN_UPWARD_RECEIPT,
            &bytes,
            &self.node_key,
            self.chain.clone(),
        )
        .map_err(|e| Refusal::Transient(format!("cannot sign the receipt: {e}")))?;
        credex_protocol::encode(&SignedBatchReceipt { receipt, signer })
            .map_err(|e| Refusal::Transient(format!("cannot encode the receipt: {e}")))
    }

    /// A batch must be made under the reporting catalogue this node holds,
    /// and each record may carry only fields that catalogue collects for
    /// its category.
    fn check_collected(&self, batch: &UpwardBatch, egress: &EgressRecord) -> Result<(), String> {
        let ours = self.list.content_hash();
        if egress.basis != EgressBasis::ReportingCatalogue || egress.basis_hash != ours {
            return Err(format!(
                "made under {:?} {}, but this node collects under reporting catalogue {}; \
                 both sides must hold the same reporting catalogue file",
                egress.basis,
                hex::encode(&egress.basis_hash[..8]),
                hex::encode(&ours[..8]),
            ));
        }
        for (index, r) in batch.records.iter().enumerate() {
            if Uscc::parse(&r.subject_key).is_err()
                && r.subject_key.parse::<SubjectPseudonym>().is_err()
            {
                return Err(format!(
                    "record {index}: the subject key is neither a unified social credit code nor a pseudonym (EPOCH:HEX)"
                ));
            }
            let Some(item) = self.list.item(&r.category) else {
                return Err(format!(
                    "record {index}: category {} is not in the reporting catalogue",
                    r.category
                ));
            };
            let record: Record = credex_protocol::decode(&r.body)
                .map_err(|e| format!("record {index}: unreadable body: {e}"))?;
            if record.category != r.category {
                return Err(format!(
                    "record {index}: body of category {} filed under {}",
                    record.category, r.category
                ));
            }
            if let Some(f) = record.fields.keys().find(|f| !item.fields.contains(*f)) {
                return Err(format!(
                    "record {index}: {}.{f} is not collected by the reporting catalogue",
                    r.category
                ));
            }
            // Every value fits its field in the catalogue: a body the
            // national node cannot serve is refused now, not at query time.
            for (f, value) in &record.fields {
                let field = self.catalogue.field(&r.category, f).ok_or_else(|| {
                    format!("record {index}: {}.{f} is not in the catalogue", r.category)
                })?;
                field
                    .check_value(value)
                    .map_err(|e| format!("record {index}: {}.{f}: {e}", r.category))?;
            }
        }
        Ok(())
    }
}

/// The id the national node stores a province's record under:
/// `REGION:record_id` (`520000:AP-0001`).
pub fn qualified_id(region: RegionCode, record_id: &str) -> String {
    format!("{region}:{record_id}")
}

/// No subject may end up with more records at this node than a query
/// returns ([`MAX_SUBJECT_RECORDS`]): otherwise one province's batches
/// could make every query on a company fail. Counts what `view` holds plus
/// what `batch` would add (re-reported records replace their earlier
/// copies and add nothing).
fn check_subject_caps(view: &View, batch: &UpwardBatch, from: RegionCode) -> Result<(), Refusal> {
    let max = MAX_SUBJECT_RECORDS;
    let mut adding: BTreeMap<&str, BTreeSet<(String, String)>> = BTreeMap::new();
    for r in &batch.records {
        adding
            .entry(r.subject_key.as_str())
            .or_default()
            .insert((r.category.clone(), qualified_id(from, &r.record_id)));
    }
    for (subject, new) in adding {
        let held = match view.subject_records(subject) {
            Some(SubjectRecords::Held(held)) => held,
            Some(SubjectRecords::TooMany) => {
                return Err(Refused::Exceeds(format!(
                    "batch {}: subject {subject} already holds more than {max} records here",
                    batch.seq
                ))
                .into());
            }
            None => {
                return Err(Refusal::Transient(format!(
                    "batch {}: the records held on a subject were not read",
                    batch.seq
                )));
            }
        };
        let mut all: BTreeSet<(String, String)> = held.iter().cloned().collect();
        all.extend(new);
        if all.len() > max {
            return Err(Refused::Exceeds(format!(
                "batch {}: subject {subject} would hold {} records here, more than the {max} a query returns",
                batch.seq,
                all.len()
            ))
            .into());
        }
    }
    Ok(())
}
