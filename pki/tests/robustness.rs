//! Damaged certificates never panic the reader or the verifier, and are
//! never accepted.

#![allow(clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;

use common::*;
use credex_pki::{KeyAlgorithm, Purpose, TrustStore, identity_from_der};
use proptest::prelude::*;
use rustls_pki_types::CertificateDer;

struct Fixture {
    store: TrustStore,
    region_ca: Vec<u8>,
    node: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let fed = Federation::new(KeyAlgorithm::Ed25519);
        let (gz_issued, gz) = fed.region_ca("520000");
        let node = node(&gz, "gy-1", KeyAlgorithm::Ed25519);
        Fixture {
            store: fed.store(&[]),
            region_ca: gz_issued.cert_der,
            node: node.cert_der,
        }
    })
}

proptest! {
    #[test]
    fn damaged_leaf_is_refused(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let f = fixture();
        let mut bytes = f.node.clone();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        let _ = identity_from_der(&bytes);
        let result = f.store.verify(
            &CertificateDer::from(bytes),
            &[CertificateDer::from(f.region_ca.clone())],
            now_plus_days(1),
            Purpose::TlsServer,
        );
        prop_assert!(result.is_err(), "byte {i} ^ {flip:#x} accepted");
    }

    #[test]
    fn damaged_intermediate_is_refused(pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let f = fixture();
        let mut bytes = f.region_ca.clone();
        let i = pos.index(bytes.len());
        bytes[i] ^= flip;
        let result = f.store.verify(
            &CertificateDer::from(f.node.clone()),
            &[CertificateDer::from(bytes)],
            now_plus_days(1),
            Purpose::TlsServer,
        );
        prop_assert!(result.is_err(), "byte {i} ^ {flip:#x} accepted");
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = identity_from_der(&bytes);
        let _ = credex_pki::signing::VerifyingKey::from_certificate_der(&bytes);
    }
}

#[test]
fn fixture_verifies_undamaged() {
    let f = fixture();
    f.store
        .verify(
            &CertificateDer::from(f.node.clone()),
            &[CertificateDer::from(f.region_ca.clone())],
            now_plus_days(1),
            Purpose::TlsServer,
        )
        .unwrap();
}
