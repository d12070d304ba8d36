//! The checkpoints of receipts already verified, so that each is verified
//! once.
//!
//! A responder answers the queries of one group commit under one signed
//! checkpoint, so a requester receives the same note with many receipts.
//! Opening a note costs a signature verification (tens of microseconds
//! for Ed25519, more for SM2) and a certificate parse; comparing it with
//! one already opened costs a few hundred bytes of `memcmp`.
//!
//! The cache is one per process: whichever path sent the query (a
//! federation flow, the gateway, the console, a benchmark), the same note
//! under the same certificate verifies the same way. An entry is found
//! only by the exact certificate, region, node name and note bytes it was
//! verified with, so a hit is exactly the result a verification would
//! give.

use std::collections::VecDeque;
use std::sync::Mutex;

use credex_protocol::tlog::SignedCheckpoint;
use credex_protocol::{NodeName, RegionCode};

use super::ReceiptError;

/// Notes kept. The receipts in flight at once name a few checkpoints per
/// responder; this covers several responders answering together.
const KEPT: usize = 32;

/// One opened note and what it was opened with.
struct Opened {
    note: String,
    signer_cert: Vec<u8>,
    region: RegionCode,
    name: NodeName,
    checkpoint: SignedCheckpoint,
}

/// The last [`KEPT`] receipt checkpoints this process verified, newest
/// last.
static OPENED: Mutex<VecDeque<Opened>> = Mutex::new(VecDeque::new());

/// [`super::open_receipt_checkpoint`], verified at most once per note:
/// the same note, certificate, region and name as one opened before give
/// the checkpoint opened then.
pub(super) fn open(
    note: &str,
    signer_cert: &[u8],
    region: RegionCode,
    name: &NodeName,
) -> Result<SignedCheckpoint, ReceiptError> {
    if let Some(hit) = lock().iter().rev().find(|o| {
        o.note == note && o.signer_cert == signer_cert && o.region == region && &o.name == name
    }) {
        return Ok(hit.checkpoint.clone());
    }
    let checkpoint = super::open_receipt_checkpoint(note, signer_cert, region, name)?;
    let mut opened = lock();
    if opened.len() >= KEPT {
        opened.pop_front();
    }
    opened.push_back(Opened {
        note: note.to_owned(),
        signer_cert: signer_cert.to_vec(),
        region,
        name: name.clone(),
        checkpoint: checkpoint.clone(),
    });
    Ok(checkpoint)
}

/// A poisoned lock only means a panic elsewhere; entries are pushed whole,
/// so the queue is still consistent.
fn lock() -> std::sync::MutexGuard<'static, VecDeque<Opened>> {
    OPENED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use credex_protocol::tlog::Hash;

    use super::super::tests::{log_key, sm2_node};
    use super::super::{LogKey, ReceiptError};
    use super::open;

    /// A note opened once opens again from the cache, but only with the
    /// same certificate, region and name: any other still goes through the
    /// verification and fails where it would have.
    #[test]
    fn a_note_opens_from_the_cache_only_as_it_was_verified() {
        let n = sm2_node();
        let (region, name) = ("520000".parse().unwrap(), "gy-1".parse().unwrap());
        let other_name = "gy-2".parse().unwrap();
        let key = log_key(&n);
        let note = key.sign(9, Hash([7; 32]), Some(&Hash([8; 32]))).unwrap();
        let first = open(&note, &n.tls.cert_der, region, &name).unwrap();
        assert_eq!(open(&note, &n.tls.cert_der, region, &name).unwrap(), first);
        // Another origin than the note's: refused though the note is cached.
        assert!(matches!(
            open(&note, &n.tls.cert_der, region, &other_name),
            Err(ReceiptError::Checkpoint(_))
        ));
        // A note without the SM2 line is refused under the SM2 certificate,
        // also once it has been opened under the TLS one.
        let plain = LogKey::from_pkcs8_pem(&n.tls.key_pem, region, &name).unwrap();
        let plain_note = plain.sign(9, Hash([7; 32]), None).unwrap();
        assert!(open(&plain_note, &n.tls.cert_der, region, &name).is_ok());
        assert!(matches!(
            open(&plain_note, &n.signing.cert_der, region, &name),
            Err(ReceiptError::Checkpoint(_))
        ));
        // A note altered after one like it was cached is checked again.
        let forged = note.replacen('9', "8", 1);
        assert!(open(&forged, &n.tls.cert_der, region, &name).is_err());
    }
}
