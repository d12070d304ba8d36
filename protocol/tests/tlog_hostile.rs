//! Hostile proofs: verification answers every malformed or lying proof with
//! a typed error and never panics, whatever the sizes and lengths.

use proptest::prelude::*;

use credex_protocol::tlog::{
    EMPTY_ROOT, Hash, MAX_PROOF_HASHES, MemoryHashStore, ProofBytesError, VerifyError, leaf_hash,
    proof_from_bytes, prove_consistency, prove_inclusion, root_from_inclusion_proof, tree_hash,
    verify_consistency, verify_inclusion,
};

fn store(n: u64) -> MemoryHashStore {
    let mut s = MemoryHashStore::new();
    for i in 0..n {
        s.append(format!("entry {i}").as_bytes()).expect("append");
    }
    s
}

#[test]
fn inclusion_in_the_empty_tree_is_refused() {
    let leaf = leaf_hash(b"x");
    assert_eq!(
        verify_inclusion(&leaf, 0, 0, &[], &EMPTY_ROOT),
        Err(VerifyError::IndexOutOfRange { index: 0, size: 0 })
    );
}

#[test]
fn index_at_or_beyond_size_is_refused() {
    let s = store(10);
    let root = tree_hash(10, &s).expect("root");
    let proof = prove_inclusion(9, 10, &s).expect("proof");
    let leaf = leaf_hash(b"entry 9");
    verify_inclusion(&leaf, 9, 10, &proof, &root).expect("genuine proof verifies");
    for index in [10, 11, u64::MAX] {
        assert_eq!(
            verify_inclusion(&leaf, index, 10, &proof, &root),
            Err(VerifyError::IndexOutOfRange { index, size: 10 })
        );
    }
}

#[test]
fn truncated_and_extended_inclusion_proofs_name_the_problem() {
    let s = store(1000);
    let root = tree_hash(1000, &s).expect("root");
    let leaf = leaf_hash(b"entry 421");
    let proof = prove_inclusion(421, 1000, &s).expect("proof");
    assert_eq!(
        verify_inclusion(&leaf, 421, 1000, &proof[..proof.len() - 1], &root),
        Err(VerifyError::ProofTooShort)
    );
    assert_eq!(
        verify_inclusion(&leaf, 421, 1000, &[], &root),
        Err(VerifyError::ProofTooShort)
    );
    let mut longer = proof.clone();
    longer.push(root);
    assert_eq!(
        verify_inclusion(&leaf, 421, 1000, &longer, &root),
        Err(VerifyError::ProofTooLong)
    );
    // A single-leaf tree takes no proof at all.
    assert_eq!(
        verify_inclusion(&leaf, 0, 1, &[root], &leaf),
        Err(VerifyError::ProofTooLong)
    );
    // Far too long: refused before hashing.
    let huge = vec![root; 10_000];
    assert_eq!(
        verify_inclusion(&leaf, 421, 1000, &huge, &root),
        Err(VerifyError::ProofTooLong)
    );
}

#[test]
fn wrong_index_and_size_do_not_verify() {
    let s = store(1000);
    let root = tree_hash(1000, &s).expect("root");
    let leaf = leaf_hash(b"entry 421");
    let proof = prove_inclusion(421, 1000, &s).expect("proof");
    // Sizes that change the proof's shape. (A size that keeps the shape,
    // such as 999 here, still leads to the true root: RFC 6962 proofs do not
    // bind the size; the signed checkpoint binds size and root together.)
    for (index, size) in [
        (420, 1000),
        (422, 1000),
        (421, 500),
        (421, 1025),
        (421, 2000),
    ] {
        assert!(
            verify_inclusion(&leaf, index, size, &proof, &root).is_err(),
            "index {index} size {size}"
        );
    }
}

#[test]
fn consistency_size_mismatches_are_refused() {
    let s = store(1000);
    let old_root = tree_hash(300, &s).expect("old root");
    let root = tree_hash(1000, &s).expect("root");
    let proof = prove_consistency(300, 1000, &s).expect("proof");
    verify_consistency(300, 1000, &old_root, &root, &proof).expect("genuine");
    for (old, new) in [
        (299, 1000),
        (301, 1000),
        (300, 500),
        (300, 1025),
        (256, 1000),
    ] {
        assert!(
            verify_consistency(old, new, &old_root, &root, &proof).is_err(),
            "{old} -> {new}"
        );
    }
    assert_eq!(
        verify_consistency(1000, 300, &root, &old_root, &proof),
        Err(VerifyError::OldSizeExceedsNew {
            old: 1000,
            new: 300
        })
    );
    assert_eq!(
        verify_consistency(300, 1000, &old_root, &root, &proof[..proof.len() - 1]),
        Err(VerifyError::ProofTooShort)
    );
    let mut longer = proof.clone();
    longer.push(root);
    assert_eq!(
        verify_consistency(300, 1000, &old_root, &root, &longer),
        Err(VerifyError::ProofTooLong)
    );
    // A proof for a tree that does not extend the old one: old root differs.
    let other_root = leaf_hash(b"forked");
    assert_eq!(
        verify_consistency(300, 1000, &other_root, &root, &proof),
        Err(VerifyError::OldRootMismatch)
    );
}

#[test]
fn extreme_sizes_do_not_panic() {
    let h = leaf_hash(b"x");
    let proof = vec![h; 64];
    for (index, size) in [
        (0, u64::MAX),
        (u64::MAX - 1, u64::MAX),
        (1 << 63, u64::MAX),
        (0, 1 << 63),
    ] {
        let _ = verify_inclusion(&h, index, size, &proof, &h);
        let _ = root_from_inclusion_proof(&h, index, size, &proof[..3]);
    }
    for (old, new) in [(1, u64::MAX), (u64::MAX - 1, u64::MAX), (1 << 63, u64::MAX)] {
        let _ = verify_consistency(old, new, &h, &h, &proof);
        let _ = verify_consistency(old, new, &h, &h, &[h; 65]);
    }
}

#[test]
fn proof_bytes_are_bounded() {
    assert_eq!(proof_from_bytes(&[]), Ok(vec![]));
    assert_eq!(
        proof_from_bytes(&[0; 33]),
        Err(ProofBytesError::NotWholeHashes(33))
    );
    assert_eq!(
        proof_from_bytes(&vec![0; 32 * (MAX_PROOF_HASHES + 1)]),
        Err(ProofBytesError::TooManyHashes(MAX_PROOF_HASHES + 1))
    );
    assert_eq!(
        proof_from_bytes(&[7; 64]).map(|p| p.len()),
        Ok(2),
        "two whole hashes"
    );
}

fn any_hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn garbage_inclusion_proofs_never_panic(
        leaf in any_hash(),
        root in any_hash(),
        index in any::<u64>(),
        size in any::<u64>(),
        proof in prop::collection::vec(any_hash(), 0..80),
    ) {
        // Random hashes cannot verify (except by SHA-256 collision).
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
    }

    #[test]
    fn garbage_consistency_proofs_never_panic(
        old_root in any_hash(),
        new_root in any_hash(),
        old in any::<u64>(),
        new in any::<u64>(),
        proof in prop::collection::vec(any_hash(), 0..80),
    ) {
        prop_assume!(old != 0 || old_root != EMPTY_ROOT);
        prop_assert!(verify_consistency(old, new, &old_root, &new_root, &proof).is_err());
    }

    #[test]
    fn small_sizes_with_garbage_never_verify(
        index in 0u64..70,
        size in 0u64..70,
        proof in prop::collection::vec(any_hash(), 0..10),
    ) {
        // The one genuine case: a one-leaf tree needs no proof.
        prop_assume!(!(size == 1 && index == 0 && proof.is_empty()));
        let s = store(70);
        let root = tree_hash(size.min(70), &s).expect("root");
        let leaf = leaf_hash(format!("entry {index}").as_bytes());
        // Random proofs for real leaves and real roots still fail.
        prop_assert!(verify_inclusion(&leaf, index, size, &proof, &root).is_err());
    }
}
