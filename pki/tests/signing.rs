//! Domain-separated message signatures with operator and authority keys.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use credex_pki::signing::{
    KeyError, MAX_DOMAIN_LEN, SignError, Signature, SignatureError, SigningKey, VerifyingKey,
    verify_signature,
};
use credex_pki::{CertificateAuthority, Issued, KeyAlgorithm, Validity};
use credex_protocol::{Role, SignatureAlgorithm};

const DOMAIN: &[u8] = b"credex/test/v1";

fn operator(ca: &CertificateAuthority, n: &str, alg: KeyAlgorithm) -> Issued {
    ca.issue_operator(
        &name(n),
        Role::Requester,
        alg,
        Validity::days_from(at(Y2026), 30),
    )
    .unwrap()
}

fn round_trip(alg: KeyAlgorithm) {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let alice = operator(&gz, "alice", alg);
    let key = SigningKey::from_pkcs8_pem(&alice.key_pem).unwrap();
    assert_eq!(key.algorithm(), alg.signature_algorithm());
    key.check_matches_certificate(&alice.cert_der).unwrap();

    let sig = key.sign(DOMAIN, b"request 42").unwrap();
    assert_eq!(sig.algorithm, alg.signature_algorithm());
    verify_signature(&alice.cert_der, DOMAIN, b"request 42", &sig).unwrap();

    // Survives the wire.
    let wire: Signature = postcard::from_bytes(&postcard::to_allocvec(&sig).unwrap()).unwrap();
    verify_signature(&alice.cert_der, DOMAIN, b"request 42", &wire).unwrap();

    // Tampered message, wrong domain, tampered signature.
    assert_eq!(
        verify_signature(&alice.cert_der, DOMAIN, b"request 43", &sig),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        verify_signature(&alice.cert_der, b"credex/other/v1", b"request 42", &sig),
        Err(SignatureError::Invalid)
    );
    let mut bad = sig.clone();
    let last = bad.bytes.len() - 1;
    bad.bytes[last] ^= 1;
    assert_eq!(
        verify_signature(&alice.cert_der, DOMAIN, b"request 42", &bad),
        Err(SignatureError::Invalid)
    );

    // Someone else's certificate.
    let bob = operator(&gz, "bob", alg);
    assert_eq!(
        verify_signature(&bob.cert_der, DOMAIN, b"request 42", &sig),
        Err(SignatureError::Invalid)
    );
    assert_eq!(
        key.check_matches_certificate(&bob.cert_der),
        Err(KeyError::CertificateMismatch)
    );
    // The key remembers the certificate it matched, and only that one.
    key.check_matches_certificate(&alice.cert_der).unwrap();
    assert_eq!(
        key.check_matches_certificate(&bob.cert_der),
        Err(KeyError::CertificateMismatch)
    );
}

#[test]
fn ed25519_round_trip() {
    round_trip(KeyAlgorithm::Ed25519);
}

#[test]
fn p256_round_trip() {
    round_trip(KeyAlgorithm::EcdsaP256);
}

#[test]
fn domain_and_message_boundary_is_unambiguous() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let alice = operator(&gz, "alice", KeyAlgorithm::Ed25519);
    let key = SigningKey::from_pkcs8_pem(&alice.key_pem).unwrap();
    let sig = key.sign(b"ab", b"c").unwrap();
    assert_eq!(
        verify_signature(&alice.cert_der, b"a", b"bc", &sig),
        Err(SignatureError::Invalid)
    );
}

#[test]
fn algorithm_mismatch_is_refused() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let ed = operator(&gz, "alice", KeyAlgorithm::Ed25519);
    let p256 = operator(&gz, "bob", KeyAlgorithm::EcdsaP256);
    let ed_key = SigningKey::from_pkcs8_pem(&ed.key_pem).unwrap();
    let sig = ed_key.sign(DOMAIN, b"m").unwrap();

    // An Ed25519 signature checked against a P-256 certificate.
    assert_eq!(
        verify_signature(&p256.cert_der, DOMAIN, b"m", &sig),
        Err(SignatureError::AlgorithmMismatch {
            signature: SignatureAlgorithm::Ed25519,
            key: SignatureAlgorithm::EcdsaP256Sha256
        })
    );
    // A signature relabelled with the wrong algorithm for its key.
    let relabelled = Signature {
        algorithm: SignatureAlgorithm::EcdsaP256Sha256,
        bytes: sig.bytes.clone(),
    };
    assert_eq!(
        verify_signature(&ed.cert_der, DOMAIN, b"m", &relabelled),
        Err(SignatureError::AlgorithmMismatch {
            signature: SignatureAlgorithm::EcdsaP256Sha256,
            key: SignatureAlgorithm::Ed25519
        })
    );
}

#[test]
fn domain_length_is_bounded() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let alice = operator(&gz, "alice", KeyAlgorithm::Ed25519);
    let key = SigningKey::from_pkcs8_pem(&alice.key_pem).unwrap();
    assert_eq!(key.sign(b"", b"m"), Err(SignError::BadDomainLength(0)));
    let long = vec![b'x'; MAX_DOMAIN_LEN + 1];
    assert_eq!(
        key.sign(&long, b"m"),
        Err(SignError::BadDomainLength(MAX_DOMAIN_LEN + 1))
    );
    let longest = vec![b'x'; MAX_DOMAIN_LEN];
    let sig = key.sign(&longest, b"m").unwrap();
    verify_signature(&alice.cert_der, &longest, b"m", &sig).unwrap();
    assert_eq!(
        verify_signature(&alice.cert_der, &long, b"m", &sig),
        Err(SignatureError::BadDomainLength(MAX_DOMAIN_LEN + 1))
    );
}

#[test]
fn bad_keys_and_certificates() {
    assert_eq!(
        SigningKey::from_pkcs8_pem("nothing here").unwrap_err(),
        KeyError::NotPkcs8
    );
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    // A certificate is not a key.
    assert_eq!(
        SigningKey::from_pkcs8_pem(&fed.root.cert_pem).unwrap_err(),
        KeyError::NotPkcs8
    );
    assert_eq!(
        SigningKey::from_pkcs8_der(b"\x30\x03\x02\x01\x00").unwrap_err(),
        KeyError::Unsupported
    );
    assert!(matches!(
        VerifyingKey::from_certificate_der(b"garbage"),
        Err(SignatureError::Certificate(_))
    ));
    // Debug never prints the private key.
    let key = SigningKey::from_pkcs8_pem(&fed.root.key_pem).unwrap();
    let shown = format!("{key:?}");
    assert!(shown.contains("public_key"), "{shown}");
}

#[test]
fn verifying_key_is_reusable() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (_, gz) = fed.region_ca("520000");
    let auth = gz
        .issue_authority(
            &name("portal"),
            KeyAlgorithm::EcdsaP256,
            Validity::days_from(at(Y2026), 30),
        )
        .unwrap();
    let key = SigningKey::from_pkcs8_pem(&auth.key_pem).unwrap();
    let vk = VerifyingKey::from_certificate_der(&auth.cert_der).unwrap();
    assert_eq!(vk.algorithm(), SignatureAlgorithm::EcdsaP256Sha256);
    for i in 0..3u8 {
        let sig = key.sign(DOMAIN, &[i]).unwrap();
        vk.verify(DOMAIN, &[i], &sig).unwrap();
    }
}
