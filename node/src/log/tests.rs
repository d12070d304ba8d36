//! Tests of the log key's checkpoint lines (decision 1070).

#![allow(clippy::unwrap_used)]
use super::*;
use credex_pki::{CertificateAuthority, Issued, KeyAlgorithm, Validity};

/// Node gy-1 of 520000 in an SM2 federation: (TLS pair, Ed25519;
/// signing pair, SM2).
fn sm2_node() -> (Issued, Issued) {
    let valid = Validity::days_from(time::OffsetDateTime::now_utc(), 30);
    let root = credex_pki::create_root("root", KeyAlgorithm::Sm2, valid).unwrap();
    let root = CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem).unwrap();
    let region = "520000".parse().unwrap();
    let ca = root
        .issue_region_ca(region, KeyAlgorithm::Sm2, valid)
        .unwrap();
    let ca = CertificateAuthority::from_pem(&ca.cert_pem, &ca.key_pem).unwrap();
    let node = |alg| ca.issue_node(&"gy-1".parse().unwrap(), &[], &[], alg, valid);
    (
        node(KeyAlgorithm::Ed25519).unwrap(),
        node(KeyAlgorithm::Sm2).unwrap(),
    )
}

#[test]
fn a_log_key_with_sm2_signs_checkpoints_both_certificates_open() {
    let (tls, signing) = sm2_node();
    let (region, name) = ("520000".parse().unwrap(), "gy-1".parse().unwrap());
    let sm2 = Arc::new(SigningKey::from_pkcs8_pem(&signing.key_pem).unwrap());
    let key = LogKey::from_pkcs8_pem(&tls.key_pem, region, &name)
        .unwrap()
        .with_sm2(sm2)
        .unwrap();
    let note = key.sign(5, Hash([4; 32])).unwrap();
    assert_eq!(note.matches('\u{2014}').count(), 2, "{note}");
    // A receipt whose response carries the SM2 signing chain opens on
    // the SM2 line; the TLS certificate (witnesses, exports) on the
    // Ed25519 one.
    for cert in [&signing.cert_der, &tls.cert_der] {
        let cp = open_receipt_checkpoint(&note, cert, region, &name).unwrap();
        assert_eq!(cp.checkpoint().size(), 5);
    }
    assert_eq!(
        node_checkpoint_verifier(&signing.cert_der, region, &name).unwrap(),
        *key.sm2_verifier().unwrap()
    );
    // A checkpoint without the SM2 line fails against the SM2 certificate.
    let plain = LogKey::from_pkcs8_pem(&tls.key_pem, region, &name).unwrap();
    let note = plain.sign(5, Hash([4; 32])).unwrap();
    assert!(matches!(
        open_receipt_checkpoint(&note, &signing.cert_der, region, &name),
        Err(ReceiptError::Checkpoint(_))
    ));
    assert!(open_receipt_checkpoint(&note, &tls.cert_der, region, &name).is_ok());
}

#[test]
fn only_an_sm2_key_signs_the_second_line() {
    let (tls, _) = sm2_node();
    let (region, name) = ("520000".parse().unwrap(), "gy-1".parse().unwrap());
    let ed = Arc::new(SigningKey::from_pkcs8_pem(&tls.key_pem).unwrap());
    let key = LogKey::from_pkcs8_pem(&tls.key_pem, region, &name).unwrap();
    let err = key.with_sm2(ed).unwrap_err();
    assert!(matches!(
        err,
        LogError::KeyNotSm2(credex_protocol::SignatureAlgorithm::Ed25519)
    ));
    assert!(err.to_string().contains("SM2"), "{err}");
}
