//! The `sm2-sm3` suite's SM3 tree (decision 1100) against vectors computed
//! outside credex (data/tlog/gen_sm3_tree_vectors.py: Python's hashlib over
//! OpenSSL's SM3, OpenSSL's Ed25519): every root of the first 0..=70
//! entries, and a checkpoint carrying the SM3 line, signed and cosigned,
//! that credex reproduces byte for byte and opens on the C2SP path (the
//! Ed25519 line and a `cosignature/v1` over the whole body, extension line
//! included).

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::Ed25519KeyPair;

use credex_protocol::tlog::{
    Checkpoint, CompactTree, Hash, KeyName, Note, OpenCheckpointError, Sm3CompactTree, VerifierKey,
    leaf_hash, open_checkpoint, sm3_leaf_hash, sm3_root_from_leaf_hashes, sm3_tree_line,
};

const VECTORS: &str = include_str!("data/tlog/sm3-tree-vectors.txt");

struct Vectors {
    sm3_roots: Vec<Hash>,
    sha256_roots: Vec<Hash>,
    fields: HashMap<String, String>,
}

fn vectors() -> Vectors {
    let mut v = Vectors {
        sm3_roots: Vec::new(),
        sha256_roots: Vec::new(),
        fields: HashMap::new(),
    };
    for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
        let (key, value) = line.split_once(' ').expect("key value");
        match key {
            "root" | "sha256" => {
                let (size, hex) = value.split_once(' ').expect("size hash");
                let roots = if key == "root" {
                    &mut v.sm3_roots
                } else {
                    &mut v.sha256_roots
                };
                assert_eq!(size.parse::<usize>().expect("size"), roots.len());
                roots.push(Hash::from_hex(hex).expect("hex"));
            }
            _ => {
                v.fields.insert(key.to_owned(), value.to_owned());
            }
        }
    }
    assert_eq!(v.sm3_roots.len(), 71, "roots of sizes 0..=70");
    v
}

impl Vectors {
    fn field(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).expect(key)
    }

    fn text(&self, key: &str) -> String {
        String::from_utf8(STANDARD.decode(self.field(key)).expect("base64")).expect("UTF-8")
    }

    fn key(&self, seed_key: &str) -> Ed25519KeyPair {
        let hex = self.field(seed_key);
        let seed: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed")
    }
}

/// Entry `i` of the generator.
fn entry(i: usize) -> Vec<u8> {
    (0..3 * i).map(|j| ((i * 7 + j) % 256) as u8).collect()
}

#[test]
fn sm3_roots_match_the_independent_generator() {
    let v = vectors();
    let mut tree = Sm3CompactTree::new();
    let mut sha = CompactTree::new();
    let mut leaves = Vec::new();
    assert_eq!(tree.root(), v.sm3_roots[0], "the empty tree");
    for i in 0..70 {
        let leaf = sm3_leaf_hash(&entry(i));
        tree.push(leaf);
        sha.push(leaf_hash(&entry(i)));
        leaves.push(leaf);
        assert_eq!(
            tree.root(),
            v.sm3_roots[i + 1],
            "SM3 root of {} entries",
            i + 1
        );
        assert_eq!(
            sha.root(),
            v.sha256_roots[i + 1],
            "SHA-256 root of {}",
            i + 1
        );
        assert_ne!(tree.root(), sha.root());
    }
    assert_eq!(sm3_root_from_leaf_hashes(&leaves), v.sm3_roots[70]);
    // A compact tree rebuilt from its stored right edge goes on alike.
    let mut again = Sm3CompactTree::from_frontier(tree.size(), tree.frontier().to_vec())
        .expect("a frontier of the right length");
    again.push(sm3_leaf_hash(b"next"));
    tree.push(sm3_leaf_hash(b"next"));
    assert_eq!(again, tree);
    assert!(Sm3CompactTree::from_frontier(5, vec![Hash([0; 32])]).is_none());
}

#[test]
fn a_checkpoint_with_the_sm3_line_is_signed_byte_for_byte_and_opens_on_the_c2sp_path() {
    let v = vectors();
    let size: u64 = v.field("size").parse().expect("size");
    let origin = KeyName::new(v.field("origin")).expect("name");
    let witness = KeyName::new(v.field("witness")).expect("name");
    let ts: u64 = v.field("timestamp").parse().expect("ts");
    let log_vkey: VerifierKey = v.field("log_vkey").parse().expect("vkey");
    let witness_vkey: VerifierKey = v.field("witness_vkey").parse().expect("vkey");
    let index = usize::try_from(size).expect("size");

    let checkpoint = Checkpoint::with_sm3_root(
        origin.as_str(),
        size,
        v.sha256_roots[index],
        &v.sm3_roots[index],
    )
    .expect("checkpoint");
    assert_eq!(checkpoint.to_text(), v.text("body"));
    let mut note = checkpoint.sign(&origin, &v.key("log_seed")).expect("sign");
    note.cosign(&witness, &v.key("witness_seed"), ts)
        .expect("cosign");
    let signed = v.text("signed_note");
    assert_eq!(note.to_string(), signed);

    // The log's Ed25519 line and the witness's cosignature verify over
    // the body with its extension line, as any C2SP verifier reads it.
    let opened = open_checkpoint(
        signed.as_bytes(),
        &log_vkey,
        std::slice::from_ref(&witness_vkey),
    )
    .expect("opens");
    assert_eq!(opened.checkpoint(), &checkpoint);
    assert_eq!(opened.cosignatures().len(), 1);
    assert_eq!(opened.checkpoint().sm3_root(), Ok(Some(v.sm3_roots[index])));

    // The line is signed: a changed SM3 root breaks the log's signature.
    let tampered = signed.replacen(
        &sm3_tree_line(&v.sm3_roots[index]),
        &sm3_tree_line(&v.sm3_roots[index - 1]),
        1,
    );
    assert_ne!(tampered, signed);
    assert!(matches!(
        open_checkpoint(tampered.as_bytes(), &log_vkey, &[]),
        Err(OpenCheckpointError::Signature(_))
    ));
    let parsed = Note::parse(signed.as_bytes()).expect("note");
    assert_eq!(parsed.text(), v.text("body"));
}

/// SM3 against SHA-256 per leaf hash (decision 1100): `cargo test -p
/// credex-protocol --release --test tlog_sm3 -- --ignored --nocapture`.
#[test]
#[ignore = "a measurement"]
fn cost_of_a_leaf_hash() {
    for len in [64usize, 256, 1024] {
        let entry = vec![0x5a; len];
        let rounds = 200_000u32;
        let time = |hash: &dyn Fn(&[u8]) -> Hash| {
            let started = std::time::Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(hash(std::hint::black_box(&entry)));
            }
            started.elapsed() / rounds
        };
        let sha = time(&|e| leaf_hash(e));
        let sm3 = time(&|e| sm3_leaf_hash(e));
        let node = {
            let (l, r) = (Hash([1; 32]), Hash([2; 32]));
            let started = std::time::Instant::now();
            for _ in 0..rounds {
                std::hint::black_box(credex_protocol::tlog::sm3_node_hash(
                    std::hint::black_box(&l),
                    &r,
                ));
            }
            started.elapsed() / rounds
        };
        println!(
            "entry of {len} bytes: SHA-256 leaf {sha:?}, SM3 leaf {sm3:?} (SM3 node {node:?})"
        );
    }
}

/// Both trees over 10^6 entries of 266 bytes (a 256-byte body and the
/// journal's header), as the checkpointer follows them after a start:
/// `cargo test -p credex-protocol --release --test tlog_sm3 -- --ignored
/// --nocapture`.
#[test]
#[ignore = "a measurement"]
fn cost_of_both_trees_over_a_million_entries() {
    let entry = vec![0x5a; 266];
    let started = std::time::Instant::now();
    let mut sha = CompactTree::new();
    for _ in 0..1_000_000 {
        sha.push(leaf_hash(std::hint::black_box(&entry)));
    }
    std::hint::black_box(sha.root());
    let sha_time = started.elapsed();
    let started = std::time::Instant::now();
    let mut sm3 = Sm3CompactTree::new();
    for _ in 0..1_000_000 {
        sm3.push(sm3_leaf_hash(std::hint::black_box(&entry)));
    }
    std::hint::black_box(sm3.root());
    println!(
        "10^6 entries of 266 bytes: SHA-256 tree {sha_time:?}, SM3 tree {:?}",
        started.elapsed()
    );
}
