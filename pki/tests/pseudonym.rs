//! Keyed subject pseudonyms against reference vectors computed outside
//! credex (`tests/data/pseudonym-vectors.txt`, Python's hmac module).

#![allow(clippy::unwrap_used)]

use credex_pki::{PseudonymKey, PseudonymKeyRing};

const VECTORS: &str = include_str!("data/pseudonym-vectors.txt");

/// (key, epoch, citizen ID, expected MAC) of every vector.
fn vectors() -> Vec<([u8; 32], u32, &'static str, [u8; 32])> {
    VECTORS
        .lines()
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
