//! Keyed subject pseudonyms against reference vectors computed outside
//! credex (`tests/data/pseudonym-vectors.txt`, Python's hmac module).

#![allow(clippy::unwrap_used)]

use credex_pki::{PseudonymKey, PseudonymKeyRing};
use credex_protocol::Suite;

const VECTORS: &str = include_str!("data/pseudonym-vectors.txt");
/// The same keys and IDs under HMAC-SM3 (the `sm2-sm3` suite).
const SM3_VECTORS: &str = include_str!("data/pseudonym-sm3-vectors.txt");

/// (key, epoch, citizen ID, expected MAC) of every vector.
fn vectors() -> Vec<([u8; 32], u32, &'static str, [u8; 32])> {
    parse(VECTORS)
}

fn parse(text: &'static str) -> Vec<([u8; 32], u32, &'static str, [u8; 32])> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|line| {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let mut key = [0u8; 32];
            hex::decode_to_slice(cols[0], &mut key).unwrap();
            let mut mac = [0u8; 32];
            hex::decode_to_slice(cols[3], &mut mac).unwrap();
            (key, cols[1].parse().unwrap(), cols[2], mac)
        })
        .collect()
}

#[test]
fn pseudonyms_match_reference_vectors() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 4);
    for (key, epoch, id, mac) in vectors {
        let p = PseudonymKey::from_bytes(epoch, key)
            .unwrap()
            .pseudonym(id)
            .unwrap();
        assert_eq!(p.epoch, epoch);
        assert_eq!(hex::encode(p.mac), hex::encode(mac), "{epoch} {id}");
    }
}

#[test]
fn sm2_sm3_pseudonyms_are_hmac_sm3_and_match_reference_vectors() {
    let sm3 = parse(SM3_VECTORS);
    assert_eq!(sm3.len(), 4);
    for ((key, epoch, id, mac), (_, _, _, sha256)) in sm3.into_iter().zip(vectors()) {
        let k = PseudonymKey::from_bytes_in(Suite::Sm2Sm3, epoch, key).unwrap();
        assert_eq!(k.suite(), Suite::Sm2Sm3);
        let p = k.pseudonym(id).unwrap();
        assert_eq!(hex::encode(p.mac), hex::encode(mac), "{epoch} {id}");
        assert_ne!(p.mac, sha256, "the suites' pseudonyms differ");
    }
}

#[test]
fn a_ring_keeps_its_suite_in_text_and_never_mixes_suites() {
    let (key, _, id, _) = vectors()[1];
    let sm3 = PseudonymKeyRing::new([PseudonymKey::from_bytes_in(Suite::Sm2Sm3, 1, key).unwrap()])
        .unwrap();
    let text = sm3.to_text();
    assert!(text.contains("suite sm2-sm3"), "{text}");
    let again = PseudonymKeyRing::from_text(&text).unwrap();
    assert_eq!(again.suite(), Suite::Sm2Sm3);
    assert_eq!(
        again.current_pseudonym(id).unwrap(),
        sm3.current_pseudonym(id).unwrap()
    );
    // A ring file of before the suites reads as ed25519-sha256.
    let old = PseudonymKeyRing::from_text(&format!("epoch 1 key {}\n", hex::encode(key))).unwrap();
    assert_eq!(old.suite(), Suite::Ed25519Sha256);
    let mixed = PseudonymKeyRing::new([
        PseudonymKey::from_bytes(1, key).unwrap(),
        PseudonymKey::from_bytes_in(Suite::Sm2Sm3, 2, key).unwrap(),
    ])
    .unwrap_err();
    assert!(mixed.to_string().contains("mixes"), "{mixed}");
    assert!(PseudonymKeyRing::from_text("epoch 1 key 00 suite sm9").is_err());
}

#[test]
fn a_ring_names_a_person_under_every_epoch_and_the_current_is_the_highest() {
    let (key, _, id, _) = vectors()[1];
    let ring = PseudonymKeyRing::new([
        PseudonymKey::from_bytes(2, key).unwrap(),
        PseudonymKey::from_bytes(1, key).unwrap(),
    ])
    .unwrap();
    let all = ring.pseudonyms(id).unwrap();
    assert_eq!(all.iter().map(|p| p.epoch).collect::<Vec<_>>(), vec![1, 2]);
    // Vectors 2 and 3: the same key and ID under epochs 1 and 2.
    assert_eq!(all[0].mac, vectors()[1].3);
    assert_eq!(all[1].mac, vectors()[2].3);
    assert_eq!(ring.current_pseudonym(id).unwrap(), all[1]);
    // Different keys give unrelated pseudonyms.
    assert_ne!(vectors()[0].3, vectors()[1].3);
}

#[test]
fn the_key_check_value_is_the_mac_of_the_check_label() {
    // python3: hmac.new(bytes(range(32)), b"credex/pseudonym-key-check/v1", hashlib.sha256).hexdigest()[:16]
    let key: [u8; 32] = std::array::from_fn(|i| i as u8);
    let k = PseudonymKey::from_bytes(1, key).unwrap();
    assert_eq!(hex::encode(k.check_value()), "ee521306ef3d5f81");
}
