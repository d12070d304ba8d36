//! SM2 with SM3 signatures in credex's own format (`Sm2Sm3`, over the
//! domain-separated bytes) against an independent implementation, OpenSSL
//! 3 (issue 19, decision 0990): the key of an SM2 certificate OpenSSL made
//! is read by credex and verifies OpenSSL's signature; a signature credex
//! makes verifies in OpenSSL. Skipped without `openssl`, except in CI
//! (`CREDEX_REQUIRE_KEY_TOOLS=1`).

#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use credex_pki::signing::{Signature, SigningKey, VerifyingKey, signed_bytes};
use credex_protocol::SignatureAlgorithm;

const DOMAIN: &[u8] = b"credex/test/sm2/v1";

fn openssl(dir: &Path, args: &[&str]) -> std::process::Output {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `r ‖ s` of a DER `SEQUENCE { INTEGER r, INTEGER s }`.
fn raw_of_der(der: &[u8]) -> Vec<u8> {
    assert_eq!(der[0], 0x30);
    let mut at = 2;
    let mut out = Vec::new();
    for _ in 0..2 {
        assert_eq!(der[at], 0x02);
        let len = der[at + 1] as usize;
        let int = &der[at + 2..at + 2 + len];
        let int = if int.len() == 33 { &int[1..] } else { int };
        out.extend(std::iter::repeat_n(0u8, 32 - int.len()));
        out.extend_from_slice(int);
        at += 2 + len;
    }
    out
}

/// The DER `SEQUENCE { INTEGER r, INTEGER s }` of `r ‖ s`.
fn der_of_raw(raw: &[u8]) -> Vec<u8> {
    let int = |half: &[u8]| {
        let trimmed: Vec<u8> = half.iter().copied().skip_while(|b| *b == 0).collect();
        let mut v = if trimmed.first().is_some_and(|b| b & 0x80 != 0) {
            vec![0]
        } else {
            Vec::new()
        };
        v.extend(trimmed);
        let mut out = vec![0x02, v.len() as u8];
        out.extend(v);
        out
    };
    let body = [int(&raw[..32]), int(&raw[32..])].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

#[test]
fn sm2_signatures_verify_both_ways_with_openssl() {
    if !common::openssl_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let message = "授权编号 7 credex".as_bytes();
    std::fs::write(d.join("signed.bin"), signed_bytes(DOMAIN, message).unwrap()).unwrap();

    // OpenSSL makes an SM2 key, a certificate for it and a signature.
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:SM2",
            "-out",
            "key.pem",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "key.pem",
            "-sm3",
            "-sigopt",
            "distid:1234567812345678",
            "-subj",
            "/CN=credex sm2 interop",
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
            "cert.der",
        ],
    );
    openssl(
        d,
        &[
            "pkeyutl",
            "-sign",
            "-rawin",
            "-in",
            "signed.bin",
            "-inkey",
            "key.pem",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-out",
            "sig.der",
        ],
    );
    let cert = std::fs::read(d.join("cert.der")).unwrap();
    let key = VerifyingKey::from_certificate_der(&cert).unwrap();
    assert_eq!(key.algorithm(), SignatureAlgorithm::Sm2Sm3);
    let theirs = Signature {
        algorithm: SignatureAlgorithm::Sm2Sm3,
        bytes: raw_of_der(&std::fs::read(d.join("sig.der")).unwrap()),
    };
    assert_eq!(key.verify(DOMAIN, message, &theirs), Ok(()));
    assert!(key.verify(DOMAIN, b"another message", &theirs).is_err());
    assert!(key.verify(b"credex/other/v1", message, &theirs).is_err());

    // credex signs; OpenSSL verifies with the public key alone.
    let ours = SigningKey::sm2_from_scalar(&[0x3Cu8; 32]).unwrap();
    let signature = ours.sign(DOMAIN, message).unwrap();
    assert_eq!(signature.algorithm, SignatureAlgorithm::Sm2Sm3);
    assert_eq!(
        VerifyingKey::sm2(ours.public_key()).verify(DOMAIN, message, &signature),
        Ok(())
    );
    // SubjectPublicKeyInfo: id-ecPublicKey, sm2p256v1, the point.
    let mut spki = hex_bytes("3059301306072a8648ce3d020106082a811ccf5501822d034200");
    spki.extend_from_slice(ours.public_key());
    std::fs::write(d.join("pub.der"), &spki).unwrap();
    std::fs::write(d.join("ours.der"), der_of_raw(&signature.bytes)).unwrap();
    let out = openssl(
        d,
        &[
            "pkeyutl",
            "-verify",
            "-rawin",
            "-in",
            "signed.bin",
            "-pubin",
            "-keyform",
            "DER",
            "-inkey",
            "pub.der",
            "-digest",
            "sm3",
            "-pkeyopt",
            "distid:1234567812345678",
            "-sigfile",
            "ours.der",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("Signature Verified Successfully"),
        "{out:?}"
    );
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}
