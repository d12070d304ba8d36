//! The auditor's checks of federation messages (recognition, joint lists,
//! upward reports; see the node's federation module).
//!
//! Per entry: a received message's signed envelope is the attachment the
//! entry names, hashes to the entry's digest, is signed by a node of the
//! region the entry says it came from (a valid node certificate as of the
//! time it was received) and carries the entry's id, flow and kind. A
//! message refused for good is logged by digest and size only (decision
//! 0650): it changed nothing, and there is no envelope to check; a
//! duplicate is checked against its envelope when an earlier delivery kept
//! it. A sent
//! message's signed acknowledgement is its attachment, is signed by a node
//! of the destination region and acknowledges the entry's message.
//!
//! Across logs: every sent message whose receiver's export is present must
//! be, at the leaf index its receipt names, a received-message entry of
//! the same message in the receiver's log, and the receiver's log must
//! still hash, at the receipt's size, to the receipt's root. (A message
//! received but not logged as sent is legitimate: the acknowledgement may
//! have been lost, and the sender retries.)

use std::collections::HashMap;
use std::path::Path;

use credex_pki::TrustStore;
use credex_pki::authorization::verify_node_statement;
use credex_protocol::federation::{
    DOMAIN_FEDERATION_ACK, DOMAIN_FEDERATION_MESSAGE, SignedDeliveryAck, SignedEnvelope,
};

use credex_protocol::RegionCode;

use crate::egress::{EgressCheck, EgressRules};
use crate::tiles::{DirTiles, read_bounded};
use credex_flows::calendar::unix_time;
use credex_journal::sha256;
use credex_journal::{MessageReceived, MessageSent, ReceivedOutcome, kind};

/// A federation message entry that passed its own checks.
#[derive(Debug, Clone)]
pub enum MessageEntry {
    /// A message this log's node received.
    Received(MessageReceived),
    /// A message this log's node sent, acknowledged.
    Sent(MessageSent),
}

type Finding = (&'static str, String);

fn attachment(dir: &Path, digest: &[u8; 32]) -> Result<Vec<u8>, Finding> {
    let bytes =
        read_bounded(&dir.join(format!("attachments/{}", hex::encode(digest)))).map_err(|e| {
            (
                "message_attachment_missing",
                format!("attachment {}: {e}", hex::encode(digest)),
            )
        })?;
    if sha256(&bytes) != *digest {
        return Err((
            "message_attachment_mismatch",
            "the stored attachment does not hash to the digest in the entry".into(),
        ));
    }
    Ok(bytes)
}

/// Check one entry of kind [`kind::MESSAGE_RECEIVED`] or
/// [`kind::MESSAGE_SENT`] against its attachment, and its egress
/// ([`crate::egress`]) in the log of `log_region`.
pub fn check_entry(
    dir: &Path,
    entry_kind: u16,
    body: &[u8],
    trust: &TrustStore,
    log_region: RegionCode,
    rules: &EgressRules,
) -> Result<(MessageEntry, EgressCheck), Finding> {
    if entry_kind == kind::MESSAGE_RECEIVED {
        let e: MessageReceived =
            credex_protocol::decode(body).map_err(|err| ("entry_format", err.to_string()))?;
        let kept = dir
            .join(format!("attachments/{}", hex::encode(e.message_digest)))
            .exists();
        if !e.outcome.keeps_envelope() && !kept {
            let no_body = refused_without_body(&e);
            return Ok((MessageEntry::Received(e), no_body));
        }
        let signed = received_envelope(dir, &e, trust)?;
        let egress = crate::egress::check_received(rules, &signed.envelope);
        Ok((MessageEntry::Received(e), egress))
    } else {
        let e: MessageSent =
            credex_protocol::decode(body).map_err(|err| ("entry_format", err.to_string()))?;
        check_acknowledgement(dir, &e, trust)?;
        let egress = crate::egress::check_sent(
            rules,
            log_region,
            e.to_region,
            e.flow,
            e.message_kind,
            &e.egress,
        );
        Ok((MessageEntry::Sent(e), egress))
    }
}

/// A message refused for good, logged by digest and size only: nothing to
/// re-run, but what the sender sent beyond its egress record's release is
/// a finding.
fn refused_without_body(e: &MessageReceived) -> EgressCheck {
    let mut no_body = EgressCheck {
        body_not_kept: true,
        ..EgressCheck::default()
    };
    if let ReceivedOutcome::RefusedDigestOnly { beyond_release, .. } = &e.outcome
        && !beyond_release.is_empty()
    {
        no_body.findings.push((
            "egress_beyond_release",
            format!(
                "{} sent {} that its egress record does not release (refused; the receiver kept the message's digest, not its body)",
                e.from_region,
                beyond_release.join(", ")
            ),
        ));
    }
    no_body
}

/// A received message's stored envelope: signed by a node of the region
/// the entry says it came from, as of the time it was received, and the
/// message the entry describes.
fn received_envelope(
    dir: &Path,
    e: &MessageReceived,
    trust: &TrustStore,
) -> Result<SignedEnvelope, Finding> {
    let bytes = attachment(dir, &e.message_digest)?;
    let signed: SignedEnvelope = credex_protocol::decode(&bytes)
        .map_err(|err| ("message_format", format!("the stored message: {err}")))?;
    let env = &signed.envelope;
    let env_bytes =
        credex_protocol::encode(env).map_err(|err| ("message_format", err.to_string()))?;
    let (_, region, node) = verify_node_statement(
        DOMAIN_FEDERATION_MESSAGE,
        &env_bytes,
        &signed.sender,
        trust,
        unix_time(e.at_ms),
        Some(e.from_region),
    )
    .map_err(|err| ("message_signature", err.to_string()))?;
    if region != env.from_region
        || node != env.from_node
        || env.from_node != e.from_node
        || env.message_id != e.message_id
        || env.flow != e.flow
        || env.kind != e.message_kind
    {
        return Err((
            "message_mismatch",
            "the entry does not describe the stored, signed message (sender, id, flow or kind differ)"
                .into(),
        ));
    }
    Ok(signed)
}

/// A sent message's stored acknowledgement: signed by a node of the
/// destination region, as of the time it was logged, and acknowledging the
/// message the entry describes.
fn check_acknowledgement(dir: &Path, e: &MessageSent, trust: &TrustStore) -> Result<(), Finding> {
    let bytes = attachment(dir, &e.ack_digest)?;
    let signed: SignedDeliveryAck = credex_protocol::decode(&bytes).map_err(|err| {
        (
            "message_format",
            format!("the stored acknowledgement: {err}"),
        )
    })?;
    let ack_bytes =
        credex_protocol::encode(&signed.ack).map_err(|err| ("message_format", err.to_string()))?;
    let (_, region, node) = verify_node_statement(
        DOMAIN_FEDERATION_ACK,
        &ack_bytes,
        &signed.receiver,
        trust,
        unix_time(e.at_ms),
        Some(e.to_region),
    )
    .map_err(|err| ("ack_signature", err.to_string()))?;
    if region != e.to_region
        || node != e.to_node
        || signed.ack.message_digest != e.message_digest
        || signed.ack.message_id != e.message_id
        || signed.ack.status != e.status
    {
        return Err((
            "ack_mismatch",
            "the entry does not describe the stored, signed acknowledgement".into(),
        ));
    }
    Ok(())
}

/// One exported log as the cross-match sees it: its origin, export
/// directory, size and checked message entries (leaf index, entry).
pub type LogMessages<'a> = (&'a str, &'a Path, u64, &'a [(u64, MessageEntry)]);

/// Cross-match sent messages with the receivers' logs. Returns (log, entry
/// index, rule, detail) per finding.
pub fn cross_match(logs: &[LogMessages<'_>]) -> Vec<(String, u64, &'static str, String)> {
    let mut received: HashMap<&str, HashMap<u64, &MessageReceived>> = HashMap::new();
    for (origin, _, _, messages) in logs {
        for (index, m) in messages.iter() {
            if let MessageEntry::Received(r) = m {
                received.entry(origin).or_default().insert(*index, r);
            }
        }
    }
    let mut found = Vec::new();
    for (origin, _, _, messages) in logs {
        for (index, m) in messages.iter() {
            let MessageEntry::Sent(sent) = m else {
                continue;
            };
            let cp = &sent.counterpart;
            let Some((_, dir, size, _)) = logs.iter().find(|(o, ..)| *o == cp.origin) else {
                continue;
            };
            if cp.checkpoint_size > *size {
                found.push((
                    cp.origin.clone(),
                    cp.leaf_index,
                    "log_truncated",
                    format!(
                        "{origin} holds a receipt for a tree of {} entries, but this log has only {size}",
                        cp.checkpoint_size
                    ),
                ));
                continue;
            }
            match DirTiles(dir).prefix_root(*size, cp.checkpoint_size) {
                Ok(h) if *h.as_bytes() == cp.checkpoint_root => {}
                _ => found.push((
                    cp.origin.clone(),
                    cp.leaf_index,
                    "fork",
                    format!(
                        "the first {} entries of this log do not hash to the root it signed in a message receipt held by {origin}",
                        cp.checkpoint_size
                    ),
                )),
            }
            match received
                .get(cp.origin.as_str())
                .and_then(|m| m.get(&cp.leaf_index))
            {
                Some(r) if r.message_digest == sent.message_digest => {}
                Some(_) => found.push((
                    origin.to_string(),
                    *index,
                    "message_cross_match",
                    format!(
                        "the receiver {}'s entry {} is another message, though its receipt named it",
                        cp.origin, cp.leaf_index
                    ),
                )),
                None => found.push((
                    origin.to_string(),
                    *index,
                    "message_missing_at_receiver",
                    format!(
                        "message {} is logged as delivered with a receipt from {}, whose log has no received-message entry at {}",
                        hex::encode(&sent.message_id[..8]),
                        cp.origin,
                        cp.leaf_index
                    ),
                )),
            }
        }
    }
    found
}
