//! SM2 note signatures (type `0xff` ‖ `credex/signed-note/sm2-sm3/v1`,
//! decision 1070) against a vector made with OpenSSL 3 and Python's hashlib
//! (data/tlog/sm2_note_vectors.json), and beside the Ed25519 line in a
//! checkpoint: either key opens it, the other line is ignored, a doctored
//! SM2 line is refused.

use base64::Engine as _;
use ring::signature::Ed25519KeyPair;
use serde_json::Value;

use credex_protocol::tlog::{
    Checkpoint, Hash, KeyId, KeyName, Note, NoteSignature, NoteVerifyError, OpenCheckpointError,
    SM2_SM3_IDENTIFIER, SignatureType, VerifierKey, VerifierKeyError, key_id, open_checkpoint,
    sm2_note_message,
};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/tlog/sm2_note_vectors.json")).expect("JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().expect(key)
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

fn name(n: &str) -> KeyName {
    KeyName::new(n).expect("key name")
}

fn sm2_key(v: &Value) -> credex_gm::Sm2SigningKey {
    credex_gm::Sm2SigningKey::new(credex_gm::DEFAULT_ID, &unhex(s(v, "private_key")))
        .expect("SM2 key")
}

fn sm2_vkey(v: &Value) -> VerifierKey {
    s(v, "vkey").parse().expect("SM2 vkey")
}

/// The log's two keys, Ed25519 and SM2, and a checkpoint signed by both.
struct TwoLines {
    ed_key: Ed25519KeyPair,
    ed_vkey: VerifierKey,
    sm2_vkey: VerifierKey,
    note: Note,
}

fn two_lines() -> TwoLines {
    let v = vectors();
    let origin = name(s(&v, "name"));
    let ed_key = Ed25519KeyPair::from_seed_unchecked(&[7; 32]).expect("seed");
    let ed_vkey =
        VerifierKey::for_key_pair(origin.clone(), SignatureType::Ed25519, &ed_key).expect("vkey");
    let checkpoint = Checkpoint::new(origin.as_str(), 7, Hash([3; 32])).expect("checkpoint");
    let mut note = checkpoint.sign(&origin, &ed_key).expect("sign");
    note.sign_sm2(&origin, &sm2_key(&v)).expect("sign SM2");
    TwoLines {
        ed_key,
        ed_vkey,
        sm2_vkey: sm2_vkey(&v),
        note,
    }
}

#[test]
fn the_key_id_and_verifier_key_are_those_computed_outside_credex() {
    let v = vectors();
    assert_eq!(s(&v, "identifier"), SM2_SM3_IDENTIFIER);
    let public = unhex(s(&v, "public_key"));
    assert_eq!(sm2_key(&v).public_key(), public, "OpenSSL's public key");
    let key = VerifierKey::new(name(s(&v, "name")), SignatureType::Sm2Sm3, &public).expect("key");
    let want = u32::from_str_radix(s(&v, "key_id"), 16).expect("hex");
    assert_eq!(key.id(), KeyId(want));
    assert_eq!(
        key_id(&name(s(&v, "name")), SignatureType::Sm2Sm3, &public),
        KeyId(want)
    );
    assert_eq!(key.to_string(), s(&v, "vkey"));
    assert_eq!(sm2_vkey(&v), key, "the vkey string parses to the same key");
    assert_eq!(key.sig_type().byte(), 0xff);
    assert_eq!(
        SignatureType::Sm2Sm3.type_bytes(),
        [&[0xff][..], SM2_SM3_IDENTIFIER.as_bytes()].concat()
    );
}

#[test]
fn an_sm2_line_made_by_openssl_opens_the_checkpoint() {
    let v = vectors();
    let msg = format!("{}\n{}", s(&v, "text"), s(&v, "sig_line"));
    let opened = open_checkpoint(msg.as_bytes(), &sm2_vkey(&v), &[]).expect("opens");
    assert_eq!(opened.checkpoint().size(), 7);
    let verified = Note::parse(msg.as_bytes())
        .expect("parse")
        .verify(&[sm2_vkey(&v)])
        .expect("verifies");
    assert_eq!(verified.signatures()[0].sig_type(), SignatureType::Sm2Sm3);
}

#[test]
fn credex_signs_the_framed_text_with_the_default_identity() {
    let v = vectors();
    let mut note = Note::new(s(&v, "text")).expect("note");
    note.sign_sm2(&name(s(&v, "name")), &sm2_key(&v))
        .expect("sign");
    let sig = &note.signatures()[0];
    assert_eq!(sig.signature().len(), 64);
    let public = unhex(s(&v, "public_key"));
    credex_gm::sm2_verify(
        credex_gm::DEFAULT_ID,
        &public,
        &sm2_note_message(s(&v, "text")),
        sig.signature(),
    )
    .expect("over len(identifier) ‖ identifier ‖ text");
    assert!(
        credex_gm::sm2_verify(
            credex_gm::DEFAULT_ID,
            &public,
            s(&v, "text").as_bytes(),
            sig.signature()
        )
        .is_err(),
        "not over the bare text"
    );
    // A signature under another identity is refused.
    let other =
        credex_gm::Sm2SigningKey::new("alice@example", &unhex(s(&v, "private_key"))).expect("key");
    let mut wrong = Note::new(s(&v, "text")).expect("note");
    wrong.sign_sm2(&name(s(&v, "name")), &other).expect("sign");
    assert!(matches!(
        wrong.verify(&[sm2_vkey(&v)]),
        Err(NoteVerifyError::BadSignature { .. })
    ));
}

#[test]
fn a_checkpoint_with_both_lines_opens_with_either_key() {
    let t = two_lines();
    let bytes = t.note.to_bytes();
    assert_eq!(t.note.signatures().len(), 2);
    assert_eq!(t.note.signatures()[0].id(), t.ed_vkey.id(), "Ed25519 first");
    let by_ed = open_checkpoint(&bytes, &t.ed_vkey, &[]).expect("Ed25519 opens");
    let by_sm2 = open_checkpoint(&bytes, &t.sm2_vkey, &[]).expect("SM2 opens");
    assert_eq!(by_ed.checkpoint(), by_sm2.checkpoint());
    let both = t
        .note
        .verify(&[t.ed_vkey.clone(), t.sm2_vkey.clone()])
        .expect("both verify");
    assert_eq!(both.signatures().len(), 2);
    assert!(both.is_signed_by(&t.ed_vkey) && both.is_signed_by(&t.sm2_vkey));
}

#[test]
fn an_ed25519_verifier_ignores_the_sm2_line() {
    let t = two_lines();
    let verified = t
        .note
        .verify(std::slice::from_ref(&t.ed_vkey))
        .expect("verifies");
    assert_eq!(verified.signatures().len(), 1);
    assert_eq!(verified.signatures()[0].sig_type(), SignatureType::Ed25519);
    // Even a garbled SM2 line is unknown to it, as signed-note requires.
    let mut doctored = Note::new(t.note.text()).expect("note");
    doctored
        .add_signature(t.note.signatures()[0].clone())
        .expect("ed");
    doctored
        .add_signature(NoteSignature::new(
            t.sm2_vkey.name().clone(),
            t.sm2_vkey.id(),
            vec![0; 64],
        ))
        .expect("sm2");
    assert!(open_checkpoint(&doctored.to_bytes(), &t.ed_vkey, &[]).is_ok());
    // And an Ed25519-only checkpoint lacks the SM2 line.
    let plain = Checkpoint::parse(t.note.text())
        .expect("checkpoint")
        .sign(t.ed_vkey.name(), &t.ed_key)
        .expect("sign");
    assert!(matches!(
        open_checkpoint(&plain.to_bytes(), &t.sm2_vkey, &[]),
        Err(OpenCheckpointError::Signature(
            NoteVerifyError::NoKnownSignature
        ))
    ));
}

#[test]
fn a_tampered_sm2_line_is_refused() {
    let t = two_lines();
    let sm2_line = &t.note.signatures()[1];
    for flip in [0, 31, 32, 63] {
        let mut bytes = sm2_line.signature().to_vec();
        bytes[flip] ^= 1;
        let mut doctored = Note::new(t.note.text()).expect("note");
        doctored
            .add_signature(t.note.signatures()[0].clone())
            .expect("ed");
        doctored
            .add_signature(NoteSignature::new(
                sm2_line.name().clone(),
                sm2_line.id(),
                bytes,
            ))
            .expect("sm2");
        assert_eq!(
            open_checkpoint(&doctored.to_bytes(), &t.sm2_vkey, &[]),
            Err(OpenCheckpointError::Signature(
                NoteVerifyError::BadSignature {
                    name: sm2_line.name().clone(),
                    id: sm2_line.id(),
                }
            )),
            "byte {flip}"
        );
    }
    // A truncated signature, and one over another checkpoint's text.
    let mut short = Note::new(t.note.text()).expect("note");
    short
        .add_signature(NoteSignature::new(
            sm2_line.name().clone(),
            sm2_line.id(),
            sm2_line.signature()[..63].to_vec(),
        ))
        .expect("sm2");
    assert!(short.verify(std::slice::from_ref(&t.sm2_vkey)).is_err());
    let other = t.note.text().replace("\n7\n", "\n8\n");
    let mut moved = Note::new(&other).expect("note");
    moved.add_signature(sm2_line.clone()).expect("sm2");
    assert!(moved.verify(std::slice::from_ref(&t.sm2_vkey)).is_err());
}

#[test]
fn sm2_verifier_keys_are_checked() {
    let v = vectors();
    let public = unhex(s(&v, "public_key"));
    let origin = name(s(&v, "name"));
    assert_eq!(
        VerifierKey::new(origin.clone(), SignatureType::Sm2Sm3, &public[..33]),
        Err(VerifierKeyError::BadKeyLength { len: 33, want: 65 })
    );
    let mut compressed_tag = public.clone();
    compressed_tag[0] = 0x02;
    assert_eq!(
        VerifierKey::new(origin.clone(), SignatureType::Sm2Sm3, &compressed_tag),
        Err(VerifierKeyError::NotUncompressedPoint)
    );
    assert_eq!(
        VerifierKey::new(origin.clone(), SignatureType::Ed25519, &public),
        Err(VerifierKeyError::BadKeyLength { len: 65, want: 32 })
    );
    // 0xff with another identifier is not credex's type.
    let mut key = b"\xffcredex/signed-note/sm2-sm3/v2".to_vec();
    key.extend_from_slice(&public);
    let other = format!(
        "{}+{}+{}",
        s(&v, "name"),
        s(&v, "key_id"),
        base64::engine::general_purpose::STANDARD.encode(&key)
    );
    assert!(matches!(
        other.parse::<VerifierKey>(),
        Err(VerifierKeyError::UnsupportedType(0xff))
    ));
    // An SM2 key as a cosigner is refused by open_checkpoint.
    let t = two_lines();
    assert!(matches!(
        open_checkpoint(
            &t.note.to_bytes(),
            &t.ed_vkey,
            std::slice::from_ref(&t.sm2_vkey)
        ),
        Err(OpenCheckpointError::CosignerKeyNotCosignature(_))
    ));
}
