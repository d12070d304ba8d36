//! Signed notes and verifier keys against Go's `sumdb/note` vectors
//! (data/tlog/note_vectors.json): byte-identical signing, verification,
//! unknown signatures kept, and strict rejection of malformed notes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::Ed25519KeyPair;
use serde_json::Value;

use credex_protocol::tlog::{
    KeyId, KeyName, MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES, Note, NoteError, NoteSignature,
    NoteVerifyError, SignatureType, VerifierKey, VerifierKeyError,
};

fn vectors() -> Value {
    serde_json::from_str(include_str!("data/tlog/note_vectors.json")).expect("JSON")
}

fn s<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().expect(key)
}

/// The Ed25519 seed inside a Go `PRIVATE+KEY+name+id+base64(0x01 ‖ seed)` string.
fn seed_from_go_skey(skey: &str) -> Vec<u8> {
    let parts: Vec<&str> = skey.splitn(5, '+').collect();
    assert_eq!(&parts[..2], ["PRIVATE", "KEY"]);
    let key = STANDARD.decode(parts[4]).expect("base64");
    assert_eq!(key[0], 0x01);
    key[1..].to_vec()
}

fn peter_key_pair(v: &Value) -> Ed25519KeyPair {
    let seed = seed_from_go_skey(s(&v["peter"], "skey"));
    Ed25519KeyPair::from_seed_unchecked(&seed).expect("seed")
}

fn name(n: &str) -> KeyName {
    KeyName::new(n).expect("key name")
}

#[test]
fn signing_reproduces_go_byte_for_byte() {
    let v = vectors();
    let key = peter_key_pair(&v);
    let verifier = VerifierKey::for_key_pair(name("PeterNeumann"), SignatureType::Ed25519, &key)
        .expect("vkey");
    assert_eq!(verifier.to_string(), s(&v["peter"], "vkey"));
    assert_eq!(verifier.id(), KeyId(0xc74f_20a3));

    let text = s(&v, "text");
    let mut note = Note::new(text).expect("note");
    note.sign(&name("PeterNeumann"), &key).expect("sign");
    let want = format!("{text}\n{}", s(&v["peter"], "sig_line"));
    assert_eq!(note.to_string(), want);

    // Signing again by the same key replaces, not duplicates.
    note.sign(&name("PeterNeumann"), &key).expect("sign");
    assert_eq!(note.to_bytes(), want.as_bytes());
}

#[test]
fn verification_counts_known_keys_and_keeps_unknown_signatures() {
    let v = vectors();
    let text = s(&v, "text");
    let peter: VerifierKey = s(&v["peter"], "vkey").parse().expect("vkey");
    let enoch: VerifierKey = s(&v["enoch"], "vkey").parse().expect("vkey");
    let msg = format!(
        "{text}\n{}{}",
        s(&v["peter"], "sig_line"),
        s(&v["enoch"], "sig_line")
    );
    let note = Note::parse(msg.as_bytes()).expect("parse");
    assert_eq!(note.text(), text);
    assert_eq!(note.signatures().len(), 2);
    assert_eq!(
        note.to_bytes(),
        msg.as_bytes(),
        "round trip keeps unknown signatures"
    );

    let only_peter = note
        .verify(std::slice::from_ref(&peter))
        .expect("peter verifies");
    assert_eq!(only_peter.signatures().len(), 1);
    assert!(only_peter.is_signed_by(&peter));
    assert!(!only_peter.is_signed_by(&enoch));
    assert_eq!(only_peter.text(), text);

    let both = note
        .verify(&[peter.clone(), enoch.clone()])
        .expect("both verify");
    assert_eq!(both.signatures().len(), 2);

    assert_eq!(note.verify(&[]), Err(NoteVerifyError::NoKnownSignature));
    assert!(matches!(
        note.verify(&[enoch.clone(), peter.clone(), enoch.clone()]),
        Err(NoteVerifyError::AmbiguousKey { .. })
    ));
}

#[test]
fn a_corrupted_signature_by_a_known_key_rejects_the_note() {
    let v = vectors();
    let text = s(&v, "text");
    let peter: VerifierKey = s(&v["peter"], "vkey").parse().expect("vkey");
    let sig = s(&v["peter"], "sig_line");
    let bad = format!("{}ABCD{}", &sig[..60], &sig[60..]);
    let note = Note::parse(format!("{text}\n{bad}").as_bytes()).expect("still well-formed");
    assert_eq!(
        note.verify(&[peter]),
        Err(NoteVerifyError::BadSignature {
            name: name("PeterNeumann"),
            id: KeyId(0xc74f_20a3)
        })
    );
}

#[test]
fn a_signature_with_another_key_hash_is_ignored() {
    // Same name, different key ID: an unknown key, never verified against Peter's.
    let v = vectors();
    let text = s(&v, "text");
    let peter: VerifierKey = s(&v["peter"], "vkey").parse().expect("vkey");
    let sig = s(&v["peter"], "sig_line").replace("x08g", "xxxx");
    let note = Note::parse(format!("{text}\n{sig}").as_bytes()).expect("well-formed");
    assert_ne!(note.signatures()[0].id(), peter.id());
    assert_eq!(
        note.verify(&[peter]),
        Err(NoteVerifyError::NoKnownSignature)
    );
}

#[test]
fn malformed_notes_are_refused() {
    let v = vectors();
    let text = s(&v, "text");
    let sig = s(&v["peter"], "sig_line");
    let cases: Vec<(Vec<u8>, NoteError)> = vec![
        (text.as_bytes().to_vec(), NoteError::MissingBlankLine),
        (
            format!("\n{text}").into_bytes(),
            NoteError::MissingBlankLine,
        ),
        (
            format!("{text}{sig}").into_bytes(),
            NoteError::MissingBlankLine,
        ),
        (format!("{text}\n").into_bytes(), NoteError::NoSignatures),
        (
            format!("{text}\n{}", &sig[..sig.len() - 1]).into_bytes(),
            NoteError::UnterminatedSignature,
        ),
        (
            format!("\x01{text}\n{sig}").into_bytes(),
            NoteError::ControlCharacter,
        ),
        (
            format!("{text}\n{}", sig.replace('\n', "\r\n")).into_bytes(),
            NoteError::ControlCharacter,
        ),
        (
            [&[0xff][..], format!("{text}\n{sig}").as_bytes()].concat(),
            NoteError::NotUtf8,
        ),
        (
            format!("{text}\n{sig}garbage\n").into_bytes(),
            NoteError::BadSignatureLine,
        ),
        (
            format!("{text}\n{sig}garbage").into_bytes(),
            NoteError::UnterminatedSignature,
        ),
        (
            format!("{text}\n{sig}\n").into_bytes(),
            NoteError::NoSignatures,
        ),
        (
            format!("{text}\n{}", sig.replacen('\u{2014}', "-", 1)).into_bytes(),
            NoteError::BadSignatureLine,
        ),
        (
            format!("{text}\n\u{2014} PeterNeumann\n").into_bytes(),
            NoteError::BadSignatureLine,
        ),
        (
            format!("{text}\n{}", sig.replace("PeterNeumann", "Peter+Neumann")).into_bytes(),
            NoteError::BadKeyName(credex_protocol::tlog::KeyNameError::BadCharacter(
                "Peter+Neumann".into(),
            )),
        ),
        (
            format!("{text}\n{}", sig.replace("x08go/", "x08go!")).into_bytes(),
            NoteError::BadBase64,
        ),
        (
            format!("{text}\n{}", sig.replace("AM=\n", "AM\n")).into_bytes(),
            NoteError::BadBase64,
        ),
        (
            format!("{text}\n\u{2014} PeterNeumann x08g\n").into_bytes(),
            NoteError::SignatureTooShort,
        ),
        (
            format!("{text}\n\u{2014} PeterNeumann x08gow==\n").into_bytes(),
            NoteError::SignatureTooShort,
        ),
        (
            format!("{text}\n{}", sig.repeat(MAX_NOTE_SIGNATURES + 1)).into_bytes(),
            NoteError::TooManySignatures,
        ),
        (
            vec![b'a'; MAX_NOTE_BYTES + 1],
            NoteError::TooLarge(MAX_NOTE_BYTES + 1),
        ),
    ];
    for (msg, want) in cases {
        assert_eq!(
            Note::parse(&msg),
            Err(want.clone()),
            "{:?}",
            String::from_utf8_lossy(&msg)
        );
    }
    // The limit itself is accepted.
    let at_limit = format!("{text}\n{}", sig.repeat(MAX_NOTE_SIGNATURES));
    assert_eq!(
        Note::parse(at_limit.as_bytes())
            .expect("100 signatures")
            .signatures()
            .len(),
        MAX_NOTE_SIGNATURES
    );
}

#[test]
fn note_text_may_contain_blank_lines() {
    let v = vectors();
    let key = peter_key_pair(&v);
    for text in ["a\n\nb\n", "a\n\n", "\n", "line one\n\n\nline four\n"] {
        let mut note = Note::new(text).expect("text");
        note.sign(&name("PeterNeumann"), &key).expect("sign");
        let parsed = Note::parse(&note.to_bytes()).expect("parse");
        assert_eq!(parsed.text(), text);
        assert_eq!(parsed, note);
    }
    assert_eq!(Note::new("no newline"), Err(NoteError::BadText));
    assert_eq!(Note::new(""), Err(NoteError::BadText));
    assert_eq!(Note::new("tab\there\n"), Err(NoteError::ControlCharacter));
}

#[test]
fn signature_lines_round_trip() {
    let sig = NoteSignature::new(name("w"), KeyId(0x0102_0304), vec![9; 64]);
    let note = Note::parse(format!("t\n\n{}", sig.to_line()).as_bytes()).expect("parse");
    assert_eq!(note.signatures(), &[sig]);
}

#[test]
fn verifier_keys_from_go_and_transparency_dev() {
    let v = vectors();
    for k in v["valid_vkeys"].as_array().expect("array") {
        let text = s(k, "vkey");
        let key: VerifierKey = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        let want = match k["type"].as_u64() {
            Some(1) => SignatureType::Ed25519,
            Some(4) => SignatureType::CosignatureV1,
            other => panic!("type {other:?}"),
        };
        assert_eq!(key.sig_type(), want, "{text}");
        assert_eq!(key.to_string(), text, "display round trip");
    }
    for k in v["invalid_vkeys"].as_array().expect("array") {
        let text = s(k, "vkey");
        assert!(
            text.parse::<VerifierKey>().is_err(),
            "{text} accepted ({})",
            s(k, "why")
        );
    }
    assert!(matches!(
        "rekor.sigstore.dev+12345678+AwEB".parse::<VerifierKey>(),
        Err(VerifierKeyError::UnsupportedType(3))
    ));
    assert!(matches!(
        s(&v["peter"], "vkey")
            .replace("c74f20a3", "00000000")
            .parse::<VerifierKey>(),
        Err(VerifierKeyError::KeyIdMismatch { .. })
    ));
}

#[test]
fn key_names_are_validated() {
    assert!(KeyName::new("credex/520000/gy-1").is_ok());
    for bad in ["", "a b", "a+b", "a\u{3000}b", "a\nb", "a\u{7f}b"] {
        assert!(KeyName::new(bad).is_err(), "{bad:?}");
    }
}
