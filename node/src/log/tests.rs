//! Tests of the log key's checkpoint lines (decision 1070).

#![allow(clippy::unwrap_used)]
use super::*;
use credex_pki::signing::SigningKey;
use credex_pki::{CertificateAuthority, Issued, KeyAlgorithm, Validity};

/// Node gy-1 of 520000 in an SM2 federation: the root, and the node's
/// TLS (Ed25519) and signing (SM2) pairs with their chains (PEM).
pub(crate) struct Sm2Node {
    pub(crate) root_pem: String,
    pub(crate) tls: Issued,
    pub(crate) signing: Issued,
    pub(crate) tls_chain: String,
    pub(crate) signing_chain: String,
}

pub(crate) fn sm2_node() -> Sm2Node {
    let valid = Validity::days_from(time::OffsetDateTime::now_utc(), 30);
    let root = credex_pki::create_root("root", KeyAlgorithm::Sm2, valid).unwrap();
    let root_ca = CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem).unwrap();
    let region = "520000".parse().unwrap();
    let ca = root_ca
        .issue_region_ca(region, KeyAlgorithm::Sm2, valid)
        .unwrap();
    let ca_pem = ca.cert_pem.clone();
    let ca = CertificateAuthority::from_pem(&ca.cert_pem, &ca.key_pem).unwrap();
    let node = |alg| {
        ca.issue_node(&"gy-1".parse().unwrap(), &[], &[], alg, valid)
            .unwrap()
    };
    let (tls, signing) = (node(KeyAlgorithm::Ed25519), node(KeyAlgorithm::Sm2));
    Sm2Node {
        root_pem: root.cert_pem,
        tls_chain: format!("{}{ca_pem}", tls.cert_pem),
        signing_chain: format!("{}{ca_pem}", signing.cert_pem),
        tls,
        signing,
    }
}

/// The node's log key: its TLS key, with its SM2 signing key for the
/// second line.
pub(crate) fn log_key(n: &Sm2Node) -> LogKey {
    let sm2 = Arc::new(SigningKey::from_pkcs8_pem(&n.signing.key_pem).unwrap());
    LogKey::from_pkcs8_pem(
        &n.tls.key_pem,
        "520000".parse().unwrap(),
        &"gy-1".parse().unwrap(),
    )
    .unwrap()
    .with_sm2(sm2)
    .unwrap()
}

#[test]
fn a_log_key_with_sm2_signs_checkpoints_both_certificates_open() {
    let n = sm2_node();
    let (tls, signing) = (&n.tls, &n.signing);
    let (region, name) = ("520000".parse().unwrap(), "gy-1".parse().unwrap());
    let key = log_key(&n);
    let sm3_root = Hash([6; 32]);
    let note = key.sign(5, Hash([4; 32]), Some(&sm3_root)).unwrap();
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
    let note = plain.sign(5, Hash([4; 32]), None).unwrap();
    assert!(matches!(
        open_receipt_checkpoint(&note, &signing.cert_der, region, &name),
        Err(ReceiptError::Checkpoint(_))
    ));
    assert!(open_receipt_checkpoint(&note, &tls.cert_der, region, &name).is_ok());
}

#[test]
fn the_sm3_root_goes_with_the_sm2_line() {
    let n = sm2_node();
    let (region, name) = ("520000".parse().unwrap(), "gy-1".parse().unwrap());
    let key = log_key(&n);
    let sm3_root = Hash([6; 32]);
    let note = key.sign(5, Hash([4; 32]), Some(&sm3_root)).unwrap();
    // Both lines sign the body with the SM3 line; receipts open on either.
    for cert in [&n.signing.cert_der, &n.tls.cert_der] {
        let cp = open_receipt_checkpoint(&note, cert, region, &name).unwrap();
        assert_eq!(cp.checkpoint().sm3_root(), Ok(Some(sm3_root)));
        assert_eq!(*cp.checkpoint().root(), Hash([4; 32]));
    }
    assert!(matches!(
        key.sign(5, Hash([4; 32]), None),
        Err(LogError::Sm3Root(_))
    ));
    let plain = LogKey::from_pkcs8_pem(&n.tls.key_pem, region, &name).unwrap();
    assert!(!plain.states_sm3_root());
    assert!(matches!(
        plain.sign(5, Hash([4; 32]), Some(&sm3_root)),
        Err(LogError::Sm3Root(_))
    ));
    let note = plain.sign(5, Hash([4; 32]), None).unwrap();
    let cp = open_receipt_checkpoint(&note, &n.tls.cert_der, region, &name).unwrap();
    assert_eq!(cp.checkpoint().sm3_root(), Ok(None));
    assert!(cp.checkpoint().extensions().is_empty());
}

#[test]
fn only_an_sm2_key_signs_the_second_line() {
    let tls = sm2_node().tls;
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
