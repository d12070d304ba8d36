//! A node's log verifier keys from its certificates (decision 1070): the
//! SM2 signing certificate gives the checkpoint's SM2 line, the Ed25519
//! TLS certificate the Ed25519 line and the cosigning key; other keys are
//! refused with what was expected.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use credex_pki::KeyAlgorithm;
use credex_pki::log_key::{
    LogKeyError, node_checkpoint_verifier, node_log_verifier, node_witness_verifier,
};
use credex_pki::signing::SigningKey;
use credex_protocol::tlog::{
    Checkpoint, Hash, KeyName, Note, NoteSignature, SM2_SM3_IDENTIFIER, SignatureType,
    open_checkpoint,
};

/// A node of region 520000 with an SM2 signing certificate and an Ed25519
/// TLS certificate, under an SM2 federation.
fn sm2_node() -> (credex_pki::Issued, credex_pki::Issued) {
    let fed = Federation::new(KeyAlgorithm::Sm2);
    let (_, gz) = fed.region_ca("520000");
    let signing = node(&gz, "gy-1", KeyAlgorithm::Sm2);
    let tls = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
    (signing, tls)
}

#[test]
fn an_sm2_certificate_gives_the_sm2_line_that_its_key_signs() {
    let (signing, _) = sm2_node();
    let key = node_checkpoint_verifier(&signing.cert_der, region("520000"), &name("gy-1")).unwrap();
    assert_eq!(key.sig_type(), SignatureType::Sm2Sm3);
    assert_eq!(key.name().as_str(), "credex/520000/gy-1");
    assert_eq!(key.public_key().len(), 65);
    // Callers asking for "the log's signature" get the same key.
    for asked in [SignatureType::Ed25519, SignatureType::Sm2Sm3] {
        assert_eq!(
            node_log_verifier(&signing.cert_der, region("520000"), &name("gy-1"), asked).unwrap(),
            key
        );
    }

    // The node's SM2 key, signing as credex signs everything (domain =
    // the type identifier), makes the line this verifier accepts.
    let sm2 = SigningKey::from_pkcs8_pem(&signing.key_pem).unwrap();
    let origin = KeyName::new("credex/520000/gy-1").unwrap();
    let text = Checkpoint::new(origin.as_str(), 3, Hash([9; 32]))
        .unwrap()
        .to_text();
    let signature = sm2
        .sign(SM2_SM3_IDENTIFIER.as_bytes(), text.as_bytes())
        .unwrap();
    let mut note = Note::new(&text).unwrap();
    note.add_signature(NoteSignature::new(origin, key.id(), signature.bytes))
        .unwrap();
    let opened = open_checkpoint(&note.to_bytes(), &key, &[]).unwrap();
    assert_eq!(opened.checkpoint().size(), 3);

    // Under another domain, the same key's signature is not a note line.
    let elsewhere = sm2
        .sign(b"credex/query-response/v1", text.as_bytes())
        .unwrap();
    let mut forged = Note::new(&text).unwrap();
    forged
        .add_signature(NoteSignature::new(
            key.name().clone(),
            key.id(),
            elsewhere.bytes,
        ))
        .unwrap();
    assert!(open_checkpoint(&forged.to_bytes(), &key, &[]).is_err());
}

#[test]
fn an_sm2_certificate_does_not_cosign() {
    let (signing, _) = sm2_node();
    let err =
        node_witness_verifier(&signing.cert_der, region("520000"), &name("gy-1")).unwrap_err();
    assert_eq!(
        err,
        LogKeyError::WrongKeyType {
            expected: "cosignatures (cosignature/v1) are made by the Ed25519 TLS key",
            found: "an SM2".into(),
        }
    );
    assert!(
        node_log_verifier(
            &signing.cert_der,
            region("520000"),
            &name("gy-1"),
            SignatureType::CosignatureV1
        )
        .is_err()
    );
}

#[test]
fn the_ed25519_tls_certificate_gives_the_ed25519_line_and_the_cosigning_key() {
    let (_, tls) = sm2_node();
    let (r, n) = (region("520000"), name("gy-1"));
    let line = node_checkpoint_verifier(&tls.cert_der, r, &n).unwrap();
    assert_eq!(line.sig_type(), SignatureType::Ed25519);
    assert_eq!(line.public_key().len(), 32);
    let witness = node_witness_verifier(&tls.cert_der, r, &n).unwrap();
    assert_eq!(witness.sig_type(), SignatureType::CosignatureV1);
    assert_eq!(witness.public_key(), line.public_key());
    assert_ne!(witness.id(), line.id());
}

#[test]
fn other_keys_are_refused_saying_what_was_expected() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let p256 = node(&gz, "gy-1", KeyAlgorithm::EcdsaP256);
    let err =
        node_checkpoint_verifier(&p256.cert_der, region("520000"), &name("gy-1")).unwrap_err();
    assert!(matches!(&err, LogKeyError::WrongKeyType { found, .. } if found == "an ECDSA P-256"));
    assert!(
        err.to_string()
            .contains("Ed25519 key or, under the sm2-sm3 suite, an SM2 key"),
        "{err}"
    );
    assert!(matches!(
        node_checkpoint_verifier(b"not a certificate", region("520000"), &name("gy-1")),
        Err(LogKeyError::Certificate(_))
    ));
}
