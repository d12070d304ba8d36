//! Checking an acknowledgement of a sent message (see [`super`],
//! "Sending"): the receiver's signature, the message it names, and the log
//! receipt proving the receiver journaled it.

use credex_pki::authorization::verify_node_statement;
use credex_protocol::federation::{DOMAIN_FEDERATION_ACK, SignedDeliveryAck, SignedEnvelope};
use credex_protocol::tlog::{Hash, leaf_hash, verify_inclusion};

use super::error::AckRejected;
use super::{CounterpartReceipt, MessageReceived, kind, sha256, unix_time};

/// Verify an acknowledgement of `sent`: signed by a node of the
/// destination region, for this message, with a receipt whose checkpoint is
/// signed by that node's log key (the line of the certificate that signed
/// the acknowledgement) and includes an entry recording this message.
pub fn verify_ack(
    sent: &SignedEnvelope,
    signed_ack: &SignedDeliveryAck,
    trust: &credex_pki::TrustStore,
    now_ms: i64,
) -> Result<CounterpartReceipt, AckRejected> {
    let e = &sent.envelope;
    let ack = &signed_ack.ack;
    let ack_bytes = credex_protocol::encode(ack).map_err(AckRejected::Encode)?;
    let (_, region, node) = verify_node_statement(
        DOMAIN_FEDERATION_ACK,
        &ack_bytes,
        &signed_ack.receiver,
        trust,
        unix_time(now_ms),
        Some(e.to_region),
    )
    .map_err(AckRejected::Signature)?;
    let envelope_bytes = credex_protocol::encode(sent).map_err(AckRejected::Encode)?;
    let digest = sha256(&envelope_bytes);
    if ack.message_digest != digest || ack.message_id != e.message_id {
        return Err(AckRejected::OtherMessage);
    }
    if ack.receiver_region != region || ack.receiver_node != node {
        return Err(AckRejected::SignerMismatch {
            named_region: ack.receiver_region,
            named_node: ack.receiver_node.clone(),
            region,
            node,
        });
    }
    let receipt = &signed_ack.receipt;
    let leaf = signed_ack
        .receiver
        .chain
        .first()
        .ok_or(AckRejected::NoCertificate)?;
    // The receiver's chain leaf: its SM2 signing certificate under
    // `sm2-sm3` (the checkpoint's SM2 line), else its Ed25519 node key.
    let key = credex_pki::log_key::node_checkpoint_verifier(leaf, region, &node)
        .map_err(AckRejected::LogKey)?;
    let opened = credex_protocol::tlog::open_checkpoint(receipt.checkpoint.as_bytes(), &key, &[])
        .map_err(AckRejected::Checkpoint)?;
    let cp = opened.checkpoint();
    let proof: Vec<Hash> = receipt.inclusion_proof.iter().map(|h| Hash(*h)).collect();
    verify_inclusion(
        &leaf_hash(&receipt.entry),
        receipt.leaf_index,
        cp.size(),
        &proof,
        cp.root(),
    )
    .map_err(AckRejected::Inclusion)?;
    let (entry_kind, _, body) =
        credex_journal::split(&receipt.entry).map_err(AckRejected::Entry)?;
    let logged: MessageReceived = (entry_kind == kind::MESSAGE_RECEIVED)
        .then(|| credex_protocol::decode(body).ok())
        .flatten()
        .ok_or(AckRejected::NotReceivedEntry)?;
    if logged.message_digest != digest {
        return Err(AckRejected::EntryForOtherMessage);
    }
    Ok(CounterpartReceipt {
        origin: cp.origin().to_owned(),
        leaf_index: receipt.leaf_index,
        checkpoint_size: cp.size(),
        checkpoint_root: *cp.root().as_bytes(),
    })
}
