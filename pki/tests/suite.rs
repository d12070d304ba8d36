//! A federation's crypto suite is its root's (issue 19): an SM2 root makes
//! an `sm2-sm3` federation, anything else `ed25519-sha256`. A region CA or a
//! signing certificate of the other suite is refused with a reason that
//! names both suites, and so is a signature of the other suite by any
//! certificate; a node's TLS certificate keeps a TLS key (Ed25519 or P-256)
//! under both suites, signed by its region CA.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use credex_pki::signing::{SignatureError, SigningKey};
use credex_pki::{CertificateAuthority, ChainPart, KeyAlgorithm, Purpose, Validity, VerifyError};
use credex_protocol::{Role, SignatureAlgorithm, Suite};
use rustls_pki_types::CertificateDer;

const DOMAIN: &[u8] = b"credex/test/suite/v1";

fn operator(ca: &CertificateAuthority, alg: KeyAlgorithm) -> credex_pki::Issued {
    ca.issue_operator(
        &name("alice"),
        Role::Requester,
        alg,
        Validity::days_from(at(Y2026), 365),
    )
    .unwrap()
}

/// A region CA of `ca_alg` under a root of `fed`'s algorithm.
fn region_ca(fed: &Federation, ca_alg: KeyAlgorithm) -> (credex_pki::Issued, CertificateAuthority) {
    let issued = fed
        .root_ca
        .issue_region_ca(
            region("520000"),
            ca_alg,
            Validity::new(at(Y2021), at(Y2039)).unwrap(),
        )
        .unwrap();
    let ca = CertificateAuthority::from_pem(&issued.cert_pem, &issued.key_pem).unwrap();
    (issued, ca)
}

fn verify(
    fed: &Federation,
    leaf: &credex_pki::Issued,
    ca: &credex_pki::Issued,
    purpose: Purpose,
) -> Result<credex_pki::VerifiedCert, VerifyError> {
    fed.store(&[]).verify(
        &der(leaf),
        &[CertificateDer::from(ca.cert_der.clone())],
        now_plus_days(0),
        purpose,
    )
}

#[test]
fn the_root_sets_the_suite() {
    for (alg, suite) in [
        (KeyAlgorithm::Ed25519, Suite::Ed25519Sha256),
        (KeyAlgorithm::EcdsaP256, Suite::Ed25519Sha256),
        (KeyAlgorithm::Sm2, Suite::Sm2Sm3),
    ] {
        assert_eq!(Federation::new(alg).store(&[]).suite(), suite, "{alg:?}");
    }
}

#[test]
fn an_sm2_federation_refuses_a_region_ca_of_the_other_suite() {
    let fed = Federation::new(KeyAlgorithm::Sm2);
    let (ca_issued, ca) = region_ca(&fed, KeyAlgorithm::Ed25519);
    let officer = operator(&ca, KeyAlgorithm::Sm2);
    let e = verify(&fed, &officer, &ca_issued, Purpose::Signing).unwrap_err();
    assert_eq!(
        e,
        VerifyError::OutsideSuite {
            part: ChainPart::RegionCa,
            found: SignatureAlgorithm::Ed25519,
            suite: Suite::Sm2Sm3,
        }
    );
    let text = e.to_string();
    assert!(
        text.contains("sm2-sm3") && text.contains("region CA"),
        "{text}"
    );
    // Its nodes too, whatever their TLS key.
    let gy = node(&ca, "gy-1", KeyAlgorithm::EcdsaP256);
    assert!(matches!(
        verify(&fed, &gy, &ca_issued, Purpose::TlsClient),
        Err(VerifyError::OutsideSuite { .. })
    ));
}

#[test]
fn an_officer_of_the_other_suite_is_refused_in_either_federation() {
    for (root, other, suite) in [
        (KeyAlgorithm::Sm2, KeyAlgorithm::Ed25519, Suite::Sm2Sm3),
        (KeyAlgorithm::Sm2, KeyAlgorithm::EcdsaP256, Suite::Sm2Sm3),
        (
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Sm2,
            Suite::Ed25519Sha256,
        ),
    ] {
        let fed = Federation::new(root);
        let (ca_issued, ca) = region_ca(&fed, root);
        let e = verify(&fed, &operator(&ca, other), &ca_issued, Purpose::Signing).unwrap_err();
        assert_eq!(
            e,
            VerifyError::OutsideSuite {
                part: ChainPart::Certificate,
                found: other.signature_algorithm(),
                suite,
            },
            "{root:?} root, {other:?} officer"
        );
        // One of the suite verifies, and signs.
        let ok = operator(&ca, root);
        let verified = verify(&fed, &ok, &ca_issued, Purpose::Signing).unwrap();
        let key = SigningKey::from_pkcs8_pem(&ok.key_pem).unwrap();
        let signature = key.sign(DOMAIN, b"query").unwrap();
        verified
            .verify_signature(DOMAIN, b"query", &signature)
            .unwrap();
    }
}

#[test]
fn a_node_keeps_a_tls_key_under_sm2_but_its_signatures_must_be_sm2() {
    let fed = Federation::new(KeyAlgorithm::Sm2);
    let (ca_issued, ca) = region_ca(&fed, KeyAlgorithm::Sm2);
    let gy = node(&ca, "gy-1", KeyAlgorithm::EcdsaP256);
    let verified = verify(&fed, &gy, &ca_issued, Purpose::TlsServer).unwrap();
    // The TLS key cannot sign the federation's objects.
    let key = SigningKey::from_pkcs8_pem(&gy.key_pem).unwrap();
    let signature = key.sign(DOMAIN, b"receipt").unwrap();
    assert_eq!(
        verified.verify_signature(DOMAIN, b"receipt", &signature),
        Err(SignatureError::OutsideSuite {
            algorithm: SignatureAlgorithm::EcdsaP256Sha256,
            suite: Suite::Sm2Sm3,
        })
    );
}

#[test]
fn an_sm2_signature_is_refused_in_an_ed25519_federation() {
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (ca_issued, ca) = region_ca(&fed, KeyAlgorithm::Ed25519);
    let officer = operator(&ca, KeyAlgorithm::Ed25519);
    let verified = verify(&fed, &officer, &ca_issued, Purpose::Signing).unwrap();
    let sm2 = SigningKey::sm2_from_scalar(&[3; 32]).unwrap();
    let signature = sm2.sign(DOMAIN, b"query").unwrap();
    assert!(matches!(
        verified.verify_signature(DOMAIN, b"query", &signature),
        Err(SignatureError::OutsideSuite {
            algorithm: SignatureAlgorithm::Sm2Sm3,
            suite: Suite::Ed25519Sha256
        })
    ));
}
