//! RFC 6962 reference vectors (data/tlog/rfc6962_vectors.json, transcribed
//! from transparency-dev/merkle): roots, subtree hashes, inclusion and
//! consistency proofs — generated and verified — plus the corruption probes
//! of transparency-dev/merkle's verify_test.go applied to every known proof.

use credex_protocol::tlog::{
    EMPTY_ROOT, Hash, MemoryHashStore, VerifyError, leaf_hash, prove_consistency, prove_inclusion,
    root_from_leaf_hashes, tree_hash, verify_consistency, verify_inclusion,
};
use serde_json::Value;

struct Vectors {
    leaves: Vec<Vec<u8>>,
    node_hashes: Vec<Vec<Hash>>,
    roots: Vec<Hash>,
    inclusion: Vec<(u64, u64, Vec<Hash>)>,
    consistency: Vec<(u64, u64, Vec<Hash>)>,
}

fn bytes_from_hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hash(v: &Value) -> Hash {
    Hash::from_hex(v.as_str().expect("string")).expect("hash")
}

fn hashes(v: &Value) -> Vec<Hash> {
    v.as_array().expect("array").iter().map(hash).collect()
}

fn load() -> Vectors {
    let v: Value = serde_json::from_str(include_str!("data/tlog/rfc6962_vectors.json"))
        .expect("vector file is JSON");
    let proofs = |key: &str, a: &str, b: &str| {
        v[key]
            .as_array()
            .expect("array")
            .iter()
            .map(|p| {
                (
                    p[a].as_u64().expect("u64"),
                    p[b].as_u64().expect("u64"),
                    hashes(&p["proof"]),
                )
            })
            .collect()
    };
    Vectors {
        leaves: v["leaves"]
            .as_array()
            .expect("leaves")
            .iter()
            .map(|l| bytes_from_hex(l.as_str().expect("hex")))
            .collect(),
        node_hashes: v["node_hashes"]
            .as_array()
            .expect("levels")
            .iter()
            .map(hashes)
            .collect(),
        roots: hashes(&v["roots"]),
        inclusion: proofs("inclusion", "index", "size"),
        consistency: proofs("consistency", "old", "new"),
    }
}

fn store(v: &Vectors) -> MemoryHashStore {
    let mut s = MemoryHashStore::new();
    for leaf in &v.leaves {
        s.append(leaf).expect("append");
    }
    s
}

#[test]
fn leaf_hashes_and_every_perfect_subtree_match() {
    let v = load();
    let s = store(&v);
    for (i, leaf) in v.leaves.iter().enumerate() {
        assert_eq!(leaf_hash(leaf), v.node_hashes[0][i], "leaf {i}");
    }
    for (level, row) in v.node_hashes.iter().enumerate() {
        for (n, expected) in row.iter().enumerate() {
            let got = credex_protocol::tlog::HashReader::read_node(&s, level as u8, n as u64)
                .expect("stored node");
            assert_eq!(got, *expected, "node ({level}, {n})");
        }
    }
}

#[test]
fn roots_for_every_size_match() {
    let v = load();
    let s = store(&v);
    assert_eq!(v.roots[0], EMPTY_ROOT);
    let leaf_hashes: Vec<Hash> = v.leaves.iter().map(|l| leaf_hash(l)).collect();
    for (size, expected) in v.roots.iter().enumerate() {
        assert_eq!(
            tree_hash(size as u64, &s).expect("root"),
            *expected,
            "size {size}"
        );
        assert_eq!(
            root_from_leaf_hashes(&leaf_hashes[..size]),
            *expected,
            "size {size}"
        );
    }
    assert_eq!(s.root().expect("root"), v.roots[8]);
}

#[test]
fn inclusion_proofs_are_generated_and_verified() {
    let v = load();
    let s = store(&v);
    for (index, size, proof) in &v.inclusion {
        let generated = prove_inclusion(*index, *size, &s).expect("prove");
        assert_eq!(&generated, proof, "inclusion {index} in {size}");
        let leaf = leaf_hash(&v.leaves[*index as usize]);
        verify_inclusion(&leaf, *index, *size, proof, &v.roots[*size as usize])
            .expect("known proof verifies");
    }
}

#[test]
fn consistency_proofs_are_generated_and_verified() {
    let v = load();
    let s = store(&v);
    for (old, new, proof) in &v.consistency {
        let generated = prove_consistency(*old, *new, &s).expect("prove");
        assert_eq!(&generated, proof, "consistency {old} -> {new}");
        verify_consistency(
            *old,
            *new,
            &v.roots[*old as usize],
            &v.roots[*new as usize],
            proof,
        )
        .expect("known proof verifies");
    }
}

const SOME_HASH: &str = "abacaba000000000000000000000000000000000000000000060061e00123456";

fn flip(proof: &[Hash], i: usize, bit: u8) -> Vec<Hash> {
    let mut p = proof.to_vec();
    p[i].0[0] ^= bit;
    p
}

#[test]
fn corrupted_inclusion_proofs_fail() {
    let v = load();
    let some = Hash::from_hex(SOME_HASH).expect("hash");
    for (index, size, proof) in v.inclusion.iter().filter(|(_, size, _)| *size > 1) {
        let (index, size) = (*index, *size);
        let root = v.roots[size as usize];
        let leaf = leaf_hash(&v.leaves[index as usize]);
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            (
                "index-1".into(),
                index.wrapping_sub(1),
                size,
                root,
                leaf,
                proof.clone(),
            ),
            ("index+1".into(), index + 1, size, root, leaf, proof.clone()),
            ("index^2".into(), index ^ 2, size, root, leaf, proof.clone()),
            ("size*2".into(), index, size * 2, root, leaf, proof.clone()),
            ("size/2".into(), index, size / 2, root, leaf, proof.clone()),
            (
                "wrong leaf".into(),
                index,
                size,
                root,
                leaf_hash(b"WrongLeaf"),
                proof.clone(),
            ),
            (
                "empty root".into(),
                index,
                size,
                EMPTY_ROOT,
                leaf,
                proof.clone(),
            ),
            ("random root".into(), index, size, some, leaf, proof.clone()),
            (
                "trailing root".into(),
                index,
                size,
                root,
                leaf,
                [proof.clone(), vec![root]].concat(),
            ),
            (
                "preceding root".into(),
                index,
                size,
                root,
                leaf,
                [vec![root], proof.clone()].concat(),
            ),
            (
                "removed component".into(),
                index,
                size,
                root,
                leaf,
                proof[..proof.len() - 1].to_vec(),
            ),
        ];
        if proof.len() > 1 {
            let mut inserted = vec![proof[0], some];
            inserted.extend_from_slice(&proof[1..]);
            probes.push((
                "inserted component".into(),
                index,
                size,
                root,
                leaf,
                inserted,
            ));
        }
        for i in 0..proof.len() {
            probes.push((
                format!("flipped [{i}]"),
                index,
                size,
                root,
                leaf,
                flip(proof, i, 8),
            ));
        }
        for (what, index, size, root, leaf, proof) in probes {
            assert!(
                verify_inclusion(&leaf, index, size, &proof, &root).is_err(),
                "{what} verified (index {index}, size {size})"
            );
        }
    }
}

#[test]
fn corrupted_consistency_proofs_fail() {
    let v = load();
    for (old, new, proof) in v.consistency.iter().filter(|(_, _, p)| !p.is_empty()) {
        let (old, new) = (*old, *new);
        let r1 = v.roots[old as usize];
        let r2 = v.roots[new as usize];
        let wrong = leaf_hash(b"WrongRoot");
        let mut probes: Vec<(String, u64, u64, Hash, Hash, Vec<Hash>)> = vec![
            ("old-1".into(), old - 1, new, r1, r2, proof.clone()),
            ("old+1".into(), old + 1, new, r1, r2, proof.clone()),
            ("old^2".into(), old ^ 2, new, r1, r2, proof.clone()),
            ("new*2".into(), old, new * 2, r1, r2, proof.clone()),
            ("new/2".into(), old, new / 2, r1, r2, proof.clone()),
            ("wrong old root".into(), old, new, wrong, r2, proof.clone()),
            ("wrong new root".into(), old, new, r1, wrong, proof.clone()),
            ("swapped roots".into(), old, new, r2, r1, proof.clone()),
            ("empty proof".into(), old, new, r1, r2, vec![]),
            (
                "trailing old root".into(),
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r1]].concat(),
            ),
            (
                "trailing new root".into(),
                old,
                new,
                r1,
                r2,
                [proof.clone(), vec![r2]].concat(),
            ),
            (
                "preceding old root".into(),
                old,
                new,
                r1,
                r2,
                [vec![r1], proof.clone()].concat(),
            ),
            (
                "preceding new root".into(),
                old,
                new,
                r1,
                r2,
                [vec![r2], proof.clone()].concat(),
            ),
            (
                "preceding proof[0]".into(),
                old,
                new,
                r1,
                r2,
                [vec![proof[0]], proof.clone()].concat(),
            ),
            (
                "truncated".into(),
                old,
                new,
                r1,
                r2,
                proof[..proof.len() - 1].to_vec(),
            ),
        ];
        for i in 0..proof.len() {
            probes.push((
                format!("flipped [{i}]"),
                old,
                new,
                r1,
                r2,
                flip(proof, i, 16),
            ));
        }
        for (what, old, new, r1, r2, proof) in probes {
            assert!(
                verify_consistency(old, new, &r1, &r2, &proof).is_err(),
                "{what} verified ({old} -> {new})"
            );
        }
    }
}

#[test]
fn trivial_consistency_cases() {
    let v = load();
    let r1 = v.roots[1];
    let r2 = v.roots[2];
    // Equal sizes: equal roots and no proof, else a fork or a bad proof.
    assert_eq!(
        verify_consistency(0, 0, &EMPTY_ROOT, &EMPTY_ROOT, &[]),
        Ok(())
    );
    assert_eq!(verify_consistency(1, 1, &r1, &r1, &[]), Ok(()));
    assert_eq!(
        verify_consistency(1, 1, &r1, &r2, &[]),
        Err(VerifyError::SameSizeDifferentRoots { size: 1 })
    );
    assert_eq!(
        verify_consistency(1, 1, &r1, &r1, &[EMPTY_ROOT]),
        Err(VerifyError::ProofTooLong)
    );
    // From the empty tree: no proof, and the old root must be the empty root.
    assert_eq!(verify_consistency(0, 1, &EMPTY_ROOT, &r1, &[]), Ok(()));
    assert_eq!(
        verify_consistency(0, 1, &r2, &r1, &[]),
        Err(VerifyError::BadEmptyRoot)
    );
    assert_eq!(
        verify_consistency(0, 1, &EMPTY_ROOT, &r1, &[EMPTY_ROOT]),
        Err(VerifyError::ProofTooLong)
    );
    // Time travel.
    assert_eq!(
        verify_consistency(2, 1, &r2, &r1, &[]),
        Err(VerifyError::OldSizeExceedsNew { old: 2, new: 1 })
    );
    // Growth needs a proof.
    assert_eq!(
        verify_consistency(1, 2, &r1, &r2, &[]),
        Err(VerifyError::ProofTooShort)
    );
}
