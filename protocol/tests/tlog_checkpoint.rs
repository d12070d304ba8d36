//! Checkpoints and cosignatures: the tlog_tiles checkpoint vectors, the
//! c2sp.org/tlog-cosignature example, transparency-dev's timestamp vector,
//! and a credex checkpoint signed and cosigned by an independent generator
//! (data/tlog/gen_vectors.py, OpenSSL Ed25519) that credex must reproduce
//! byte for byte and open.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::Ed25519KeyPair;
use serde_json::Value;

use credex_protocol::ids::{NodeName, RegionCode};
use credex_protocol::tlog::{
    Checkpoint, CheckpointError, CosignError, Cosignature, CosignatureFormatError, Hash, KeyId,
    KeyName, MAX_COSIGNATURE_TIMESTAMP, Note, NoteSignature, NoteVerifyError, OpenCheckpointError,
    SignatureType, VerifierKey, cosign, cosigned_message, credex_origin, leaf_hash,
    open_checkpoint,
};

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().expect(key)
}

fn key_from_hex_seed(hex: &str) -> Ed25519KeyPair {
    let seed: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed")
}

fn name(n: &str) -> KeyName {
    KeyName::new(n).expect("name")
}

#[test]
fn checkpoint_vectors_parse_and_round_trip() {
    let v = json(include_str!("data/tlog/checkpoint_vectors.json"));
    let hello = Hash::from_base64(s(&v, "hello_world_leaf_hash_base64")).expect("hash");
    assert_eq!(leaf_hash(b"hello world"), hello);
    for good in v["good"].as_array().expect("good") {
        let text = s(good, "text");
        let c = Checkpoint::parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(c.origin(), s(good, "origin"));
        assert_eq!(c.size(), good["size"].as_u64().expect("size"));
        let ext: Vec<&str> = good["extensions"]
            .as_array()
            .expect("ext")
            .iter()
            .map(|e| e.as_str().expect("str"))
            .collect();
        assert_eq!(c.extensions(), ext.as_slice());
        assert_eq!(c.to_text(), text, "round trip");
    }
    for bad in v["bad"].as_array().expect("bad") {
        let text = s(bad, "text");
        assert!(
            Checkpoint::parse(text).is_err(),
            "accepted {text:?} ({})",
            s(bad, "why")
        );
    }
}

#[test]
fn checkpoint_rejections_are_specific() {
    let root = leaf_hash(b"hello world").to_base64();
    let cases = [
        (
            format!("o\n0123\n{root}\n"),
            CheckpointError::BadTreeSize("0123".into()),
        ),
        (
            format!("o\n12\n{root}"),
            CheckpointError::MissingFinalNewline,
        ),
        ("o\n12\n".to_string(), CheckpointError::MissingLines),
        (format!("\n12\n{root}\n"), CheckpointError::EmptyOrigin),
        (
            format!("o\n12\n{}\n", &root[..40]),
            CheckpointError::BadRootHash(root[..40].to_string()),
        ),
        (
            format!("o\n12\n{root}\n\n"),
            CheckpointError::EmptyExtensionLine,
        ),
        (
            format!("o\t\n12\n{root}\n"),
            CheckpointError::ControlCharacter,
        ),
    ];
    for (text, want) in cases {
        assert_eq!(Checkpoint::parse(&text), Err(want), "{text:?}");
    }
    assert_eq!(
        Checkpoint::new("", 1, leaf_hash(b"")),
        Err(CheckpointError::EmptyOrigin)
    );
}

#[test]
fn credex_origins_name_region_and_node() {
    let region: RegionCode = "520000".parse().expect("region");
    let node: NodeName = "gy-1".parse().expect("node");
    assert_eq!(credex_origin(region, &node), "credex/520000/gy-1");
}

#[test]
fn c2sp_example_cosignature_parses() {
    let v = json(include_str!("data/tlog/note_vectors.json"));
    let note = Note::parse(s(&v, "c2sp_cosigned_checkpoint").as_bytes()).expect("note");
    let checkpoint = Checkpoint::parse(note.text()).expect("checkpoint");
    assert_eq!(checkpoint.origin(), "example.com/behind-the-sofa");
    assert_eq!(checkpoint.size(), 20_852_163);
    let [log_sig, witness_sig] = note.signatures() else {
        panic!("two signatures");
    };
    assert_eq!(log_sig.signature().len(), 64);
    assert!(Cosignature::from_note_signature(log_sig).is_err());
    let cosig = Cosignature::from_note_signature(witness_sig).expect("cosignature layout");
    assert_eq!(cosig.name().as_str(), "witness.example.com/w1");
    assert_eq!(
        cosig.timestamp(),
        v["c2sp_cosignature_timestamp"].as_u64().expect("ts")
    );
    assert_eq!(cosig.to_note_signature(), *witness_sig);
}

#[test]
fn transparency_dev_cosignature_timestamp_vector() {
    let v = json(include_str!("data/tlog/note_vectors.json"));
    let t = &v["cosignature_timestamp"];
    let bytes = STANDARD.decode(s(t, "signature_base64")).expect("base64");
    let id = KeyId(u32::from_str_radix(s(t, "key_id"), 16).expect("hex"));
    assert_eq!(bytes[..4], id.0.to_be_bytes());
    let sig = NoteSignature::new(name("w"), id, bytes[4..].to_vec());
    let cosig = Cosignature::from_note_signature(&sig).expect("layout");
    assert_eq!(cosig.timestamp(), t["timestamp"].as_u64().expect("ts"));
    // A plain Ed25519 signature is not a cosignature.
    let plain = NoteSignature::new(name("w"), id, vec![0; 64]);
    assert_eq!(
        Cosignature::from_note_signature(&plain),
        Err(CosignatureFormatError::WrongLength(64))
    );
}

struct Generated {
    v: Value,
    log_key: Ed25519KeyPair,
    witness_key: Ed25519KeyPair,
    log_vkey: VerifierKey,
    witness_vkey: VerifierKey,
    checkpoint: Checkpoint,
}

fn generated() -> Generated {
    let all = json(include_str!("data/tlog/generated_vectors.json"));
    let v = all["checkpoint"].clone();
    let root = Hash::from_hex(s(&v, "root")).expect("root");
    let checkpoint = Checkpoint::new(s(&v, "origin"), v["size"].as_u64().expect("size"), root)
        .expect("checkpoint");
    Generated {
        log_key: key_from_hex_seed(s(&v, "log_seed")),
        witness_key: key_from_hex_seed(s(&v, "witness_seed")),
        log_vkey: s(&v, "log_vkey").parse().expect("log vkey"),
        witness_vkey: s(&v, "witness_vkey").parse().expect("witness vkey"),
        checkpoint,
        v,
    }
}

#[test]
fn credex_checkpoint_is_signed_and_cosigned_byte_for_byte() {
    let g = generated();
    let origin = name(s(&g.v, "origin"));
    let witness = name(s(&g.v, "witness_name"));
    let ts = g.v["timestamp"].as_u64().expect("ts");

    assert_eq!(g.checkpoint.to_text(), s(&g.v, "body"));
    assert_eq!(
        VerifierKey::for_key_pair(origin.clone(), SignatureType::Ed25519, &g.log_key)
            .expect("vkey"),
        g.log_vkey
    );
    assert_eq!(
        VerifierKey::for_key_pair(
            witness.clone(),
            SignatureType::CosignatureV1,
            &g.witness_key
        )
        .expect("vkey"),
        g.witness_vkey
    );
    assert_eq!(
        cosigned_message(&g.checkpoint.to_text(), ts).expect("message"),
        s(&g.v, "cosigned_message").as_bytes()
    );

    let mut note = g.checkpoint.sign(&origin, &g.log_key).expect("sign");
    note.cosign(&witness, &g.witness_key, ts).expect("cosign");
    assert_eq!(note.to_string(), s(&g.v, "signed_note"));

    // The free function gives the same signature line.
    let cosig = cosign(&g.checkpoint, &witness, &g.witness_key, ts).expect("cosign");
    assert_eq!(&cosig.to_note_signature(), &note.signatures()[1]);
}

#[test]
fn credex_checkpoint_opens_with_its_cosignature() {
    let g = generated();
    let bytes = s(&g.v, "signed_note").as_bytes();
    let opened =
        open_checkpoint(bytes, &g.log_vkey, std::slice::from_ref(&g.witness_vkey)).expect("opens");
    assert_eq!(opened.checkpoint(), &g.checkpoint);
    assert_eq!(opened.cosignatures().len(), 1);
    let c = &opened.cosignatures()[0];
    assert_eq!(c.name(), g.witness_vkey.name());
    assert_eq!(c.timestamp(), g.v["timestamp"].as_u64());
    assert_eq!(opened.note().to_bytes(), bytes);

    // Without configured cosigners the witness line is just an unknown signature.
    let alone = open_checkpoint(bytes, &g.log_vkey, &[]).expect("opens");
    assert!(alone.cosignatures().is_empty());
    assert_eq!(alone.note().signatures().len(), 2);
}

/// Replace the 8 timestamp bytes of the witness signature line.
fn with_timestamp(note: &str, witness: &str, ts: u64) -> String {
    let mut lines: Vec<String> = note.lines().map(str::to_owned).collect();
    let line = lines
        .iter_mut()
        .find(|l| l.starts_with(&format!("\u{2014} {witness} ")))
        .expect("witness line");
    let b64 = line.rsplit(' ').next().expect("base64");
    let mut bytes = STANDARD.decode(b64).expect("base64");
    bytes[4..12].copy_from_slice(&ts.to_be_bytes());
    *line = format!("\u{2014} {witness} {}", STANDARD.encode(&bytes));
    lines.join("\n") + "\n"
}

#[test]
fn a_changed_cosignature_timestamp_is_rejected() {
    let g = generated();
    let witness = s(&g.v, "witness_name");
    let ts = g.v["timestamp"].as_u64().expect("ts");
    let note = s(&g.v, "signed_note");
    for other in [ts + 1, ts - 1, 0, MAX_COSIGNATURE_TIMESTAMP, u64::MAX] {
        let tampered = with_timestamp(note, witness, other);
        assert_eq!(
            open_checkpoint(
                tampered.as_bytes(),
                &g.log_vkey,
                std::slice::from_ref(&g.witness_vkey)
            ),
            Err(OpenCheckpointError::Signature(
                NoteVerifyError::BadSignature {
                    name: name(witness),
                    id: g.witness_vkey.id()
                }
            )),
            "timestamp {other}"
        );
    }
    assert_eq!(
        cosign(&g.checkpoint, &name(witness), &g.witness_key, u64::MAX),
        Err(CosignError::TimestampTooLarge(u64::MAX))
    );
    assert!(
        cosign(
            &g.checkpoint,
            &name(witness),
            &g.witness_key,
            MAX_COSIGNATURE_TIMESTAMP
        )
        .is_ok()
    );
}

#[test]
fn cosignatures_cover_the_whole_checkpoint_and_not_another_one() {
    let g = generated();
    let witness = name(s(&g.v, "witness_name"));
    let ts = 1_767_225_601;
    // A cosignature for size 8 pasted under a size-9 checkpoint fails.
    let other = Checkpoint::new(g.checkpoint.origin(), 9, leaf_hash(b"other")).expect("checkpoint");
    let mut note = other
        .sign(&name(g.checkpoint.origin()), &g.log_key)
        .expect("sign");
    let cosig = cosign(&g.checkpoint, &witness, &g.witness_key, ts).expect("cosign");
    note.add_signature(cosig.to_note_signature()).expect("add");
    assert!(matches!(
        open_checkpoint(
            &note.to_bytes(),
            &g.log_vkey,
            std::slice::from_ref(&g.witness_vkey)
        ),
        Err(OpenCheckpointError::Signature(
            NoteVerifyError::BadSignature { .. }
        ))
    ));
    // Extension lines are covered too.
    let with_ext = Checkpoint::with_extensions(
        g.checkpoint.origin(),
        8,
        *g.checkpoint.root(),
        vec!["ext".into()],
    )
    .expect("checkpoint");
    let mut note = with_ext
        .sign(&name(g.checkpoint.origin()), &g.log_key)
        .expect("sign");
    note.cosign(&witness, &g.witness_key, ts).expect("cosign");
    let tampered = String::from_utf8(note.to_bytes())
        .expect("utf8")
        .replace("ext\n", "exu\n");
    assert!(
        open_checkpoint(
            tampered.as_bytes(),
            &g.log_vkey,
            std::slice::from_ref(&g.witness_vkey)
        )
        .is_err()
    );
}

#[test]
fn a_cosignature_is_not_a_note_signature() {
    // The same key under type 0x01 has another key ID, so a cosignature is
    // an unknown signature to an Ed25519 verifier, never a valid one.
    let g = generated();
    let witness = name(s(&g.v, "witness_name"));
    let as_note_key =
        VerifierKey::for_key_pair(witness.clone(), SignatureType::Ed25519, &g.witness_key)
            .expect("vkey");
    assert_ne!(as_note_key.id(), g.witness_vkey.id());
    let note = Note::parse(s(&g.v, "signed_note").as_bytes()).expect("note");
    assert_eq!(
        note.verify(&[as_note_key]),
        Err(NoteVerifyError::NoKnownSignature)
    );
}

#[test]
fn checkpoints_by_the_wrong_key_or_origin_are_refused() {
    let g = generated();
    let origin = name(s(&g.v, "origin"));
    let bytes = s(&g.v, "signed_note").as_bytes();

    // Another log key with the same name: the real signature is unknown to it.
    let impostor = key_from_hex_seed(&"11".repeat(32));
    let impostor_vkey =
        VerifierKey::for_key_pair(origin.clone(), SignatureType::Ed25519, &impostor).expect("vkey");
    assert_eq!(
        open_checkpoint(bytes, &impostor_vkey, &[]),
        Err(OpenCheckpointError::Signature(
            NoteVerifyError::NoKnownSignature
        ))
    );

    // Signed by the impostor, checked against the real key.
    let forged = g.checkpoint.sign(&origin, &impostor).expect("sign");
    assert_eq!(
        open_checkpoint(&forged.to_bytes(), &g.log_vkey, &[]),
        Err(OpenCheckpointError::Signature(
            NoteVerifyError::NoKnownSignature
        ))
    );

    // Only the witness signed: no log signature.
    let mut only_witness = Note::new(&g.checkpoint.to_text()).expect("note");
    only_witness
        .cosign(&name(s(&g.v, "witness_name")), &g.witness_key, 5)
        .expect("cosign");
    assert!(matches!(
        open_checkpoint(
            &only_witness.to_bytes(),
            &g.log_vkey,
            std::slice::from_ref(&g.witness_vkey)
        ),
        Err(OpenCheckpointError::MissingLogSignature(_))
    ));

    // A checkpoint for another origin, signed by this log's key.
    let other = Checkpoint::new("credex/520000/gy-2", 8, *g.checkpoint.root()).expect("checkpoint");
    let note = other.sign(&origin, &g.log_key).expect("sign");
    assert!(matches!(
        open_checkpoint(&note.to_bytes(), &g.log_vkey, &[]),
        Err(OpenCheckpointError::OriginMismatch { .. })
    ));

    // Key types must fit their role.
    assert!(matches!(
        open_checkpoint(bytes, &g.witness_vkey, &[]),
        Err(OpenCheckpointError::NotALogKey(_))
    ));
    assert!(matches!(
        open_checkpoint(bytes, &g.log_vkey, std::slice::from_ref(&g.log_vkey)),
        Err(OpenCheckpointError::CosignerKeyNotCosignature(_))
    ));

    // A signed note whose text is not a checkpoint.
    let mut not_checkpoint = Note::new("credex/520000/gy-1\nhello\n").expect("note");
    not_checkpoint.sign(&origin, &g.log_key).expect("sign");
    assert!(matches!(
        open_checkpoint(&not_checkpoint.to_bytes(), &g.log_vkey, &[]),
        Err(OpenCheckpointError::Checkpoint(_))
    ));
}
