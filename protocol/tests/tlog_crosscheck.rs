//! Cross-check against `ct-merkle` 0.3 (an independent RFC 6962
//! implementation on RustCrypto's SHA-256): for random trees of up to a few
//! thousand leaves, roots, inclusion proofs and consistency proofs agree byte
//! for byte, and each side's proofs verify on the other side.

use ct_merkle::mem_backed_tree::MemoryBackedTree;
use ct_merkle::{ConsistencyProof, InclusionProof};
use proptest::prelude::*;
use sha2::Sha256;

use credex_protocol::tlog::{
    CompactTree, Hash, MemoryHashStore, leaf_hash, proof_from_bytes, proof_to_bytes,
    prove_consistency, prove_inclusion, tree_hash, verify_consistency, verify_inclusion,
};

const MAX_SIZE: usize = 3000;

fn entry(seed: u64, i: usize) -> Vec<u8> {
    // Varied lengths, including empty entries.
    let len = (seed as usize ^ i.wrapping_mul(31)) % 41;
    (0..len)
        .map(|j| (seed as u8).wrapping_add((i + j) as u8))
        .collect()
}

struct Trees {
    ours: MemoryHashStore,
    theirs: MemoryBackedTree<Sha256, Vec<u8>>,
    entries: Vec<Vec<u8>>,
}

fn build(size: usize, seed: u64) -> Trees {
    let mut ours = MemoryHashStore::new();
    let mut theirs = MemoryBackedTree::<Sha256, Vec<u8>>::new();
    let mut entries = Vec::with_capacity(size);
    for i in 0..size {
        let e = entry(seed, i);
        ours.append(&e).expect("append");
        theirs.push(e.clone());
        entries.push(e);
    }
    Trees {
        ours,
        theirs,
        entries,
    }
}

/// ct-merkle's tree of the first `size` entries (it proves only from its full size).
fn prefix(entries: &[Vec<u8>], size: usize) -> MemoryBackedTree<Sha256, Vec<u8>> {
    let mut t = MemoryBackedTree::new();
    for e in &entries[..size] {
        t.push(e.clone());
    }
    t
}

fn their_root(t: &MemoryBackedTree<Sha256, Vec<u8>>) -> Hash {
    Hash::from_slice(t.root().as_bytes().as_slice()).expect("32 bytes")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn roots_and_proofs_agree(
        size in 1usize..=MAX_SIZE,
        seed in any::<u64>(),
        index_pick in any::<u64>(),
        old_pick in any::<u64>(),
    ) {
        let t = build(size, seed);
        let n = size as u64;

        // Roots: stored hashes, streaming, and ct-merkle.
        let root = tree_hash(n, &t.ours).expect("root");
        prop_assert_eq!(root, their_root(&t.theirs));
        let mut compact = CompactTree::new();
        for e in &t.entries {
            compact.push(leaf_hash(e));
        }
        prop_assert_eq!(compact.root(), root);

        // Inclusion of a random leaf.
        let index = index_pick % n;
        let ours = prove_inclusion(index, n, &t.ours).expect("prove");
        let theirs = t.theirs.prove_inclusion(index as usize);
        prop_assert_eq!(proof_to_bytes(&ours), theirs.as_bytes().to_vec());
        let leaf = leaf_hash(&t.entries[index as usize]);
        prop_assert_eq!(verify_inclusion(&leaf, index, n, &ours, &root), Ok(()));
        let parsed = proof_from_bytes(theirs.as_bytes()).expect("proof bytes");
        prop_assert_eq!(verify_inclusion(&leaf, index, n, &parsed, &root), Ok(()));
        let their_root_hash = t.theirs.root();
        let ours_for_them = InclusionProof::<Sha256>::from_bytes(proof_to_bytes(&ours));
        prop_assert!(their_root_hash
            .verify_inclusion(&t.entries[index as usize], index, &ours_for_them)
            .is_ok());

        // Consistency from a random older size (ct-merkle needs old ≥ 1).
        let old = 1 + old_pick % n;
        let old_tree = prefix(&t.entries, old as usize);
        let old_root = tree_hash(old, &t.ours).expect("old root");
        prop_assert_eq!(old_root, their_root(&old_tree));
        let ours = prove_consistency(old, n, &t.ours).expect("prove");
        let theirs = t.theirs.prove_consistency((n - old) as usize);
        prop_assert_eq!(proof_to_bytes(&ours), theirs.as_bytes().to_vec());
        prop_assert_eq!(verify_consistency(old, n, &old_root, &root, &ours), Ok(()));
        let ours_for_them =
            ConsistencyProof::<Sha256>::try_from_bytes(proof_to_bytes(&ours)).expect("whole hashes");
        prop_assert!(their_root_hash
            .verify_consistency(&old_tree.root(), &ours_for_them)
            .is_ok());
    }
}

#[test]
fn every_proof_in_a_tree_of_300_agrees() {
    // Exhaustive over one mid-sized tree: all leaves, all older sizes.
    let t = build(300, 7);
    let n = 300u64;
    for index in 0..n {
        let ours = prove_inclusion(index, n, &t.ours).expect("prove");
        let theirs = t.theirs.prove_inclusion(index as usize);
        assert_eq!(
            proof_to_bytes(&ours),
            theirs.as_bytes(),
            "inclusion {index}"
        );
    }
    for old in 1..n {
        let ours = prove_consistency(old, n, &t.ours).expect("prove");
        let theirs = t.theirs.prove_consistency((n - old) as usize);
        assert_eq!(
            proof_to_bytes(&ours),
            theirs.as_bytes(),
            "consistency {old}"
        );
    }
}
