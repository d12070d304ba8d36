//! A small test federation: one root, region CAs, and helpers for times.

#![allow(clippy::unwrap_used, dead_code)]

use credex_pki::{
    CertificateAuthority, Issued, KeyAlgorithm, TrustStore, Validity, certs_from_pem, create_root,
};
use credex_protocol::{NodeName, RegionCode};
use rustls_pki_types::{CertificateDer, UnixTime};
use time::OffsetDateTime;

/// 2020-01-01 00:00:00 UTC.
pub const Y2020: i64 = 1_577_836_800;
/// 2021-01-01 00:00:00 UTC.
pub const Y2021: i64 = 1_609_459_200;
/// 2026-01-01 00:00:00 UTC.
pub const Y2026: i64 = 1_767_225_600;
/// 2039-01-01 00:00:00 UTC.
pub const Y2039: i64 = 2_177_452_800;
/// 2040-01-01 00:00:00 UTC.
pub const Y2040: i64 = 2_208_988_800;

pub fn at(unix: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix).unwrap()
}

/// 2026-01-01 plus `days`, as webpki time.
pub fn now_plus_days(days: u64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(Y2026 as u64 + days * 86_400))
}

pub fn region(code: &str) -> RegionCode {
    code.parse().unwrap()
}

pub fn name(n: &str) -> NodeName {
    n.parse().unwrap()
}

pub fn der(issued: &Issued) -> CertificateDer<'static> {
    CertificateDer::from(issued.cert_der.clone())
}

pub struct Federation {
    pub root: Issued,
    pub root_ca: CertificateAuthority,
    pub alg: KeyAlgorithm,
}

impl Federation {
    pub fn new(alg: KeyAlgorithm) -> Self {
        Self::named("credex test root", alg)
    }

    pub fn named(cn: &str, alg: KeyAlgorithm) -> Self {
        let root = create_root(cn, alg, Validity::new(at(Y2020), at(Y2040)).unwrap()).unwrap();
        let root_ca = CertificateAuthority::from_pem(&root.cert_pem, &root.key_pem).unwrap();
        Federation { root, root_ca, alg }
    }

    pub fn region_ca(&self, code: &str) -> (Issued, CertificateAuthority) {
        let issued = self
            .root_ca
            .issue_region_ca(
                region(code),
                self.alg,
                Validity::new(at(Y2021), at(Y2039)).unwrap(),
            )
            .unwrap();
        let ca = CertificateAuthority::from_pem(&issued.cert_pem, &issued.key_pem).unwrap();
        (issued, ca)
    }

    pub fn store(&self, crls: &[String]) -> TrustStore {
        TrustStore::from_pem(&self.root.cert_pem, crls).unwrap()
    }

    pub fn root_der(&self) -> CertificateDer<'static> {
        certs_from_pem(&self.root.cert_pem).unwrap().remove(0)
    }
}

/// A node certificate valid for a year from 2026-01-01.
pub fn node(ca: &CertificateAuthority, n: &str, alg: KeyAlgorithm) -> Issued {
    ca.issue_node(
        &name(n),
        &[format!("{n}.credex.test")],
        &["127.0.0.1".parse().unwrap()],
        alg,
        Validity::days_from(at(Y2026), 365),
    )
    .unwrap()
}

/// Whether `openssl` runs here. Without it the OpenSSL interop tests are
/// skipped, except where `CREDEX_REQUIRE_KEY_TOOLS=1` (CI), where its
/// absence fails them.
pub fn openssl_here() -> bool {
    let found = std::process::Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("CREDEX_REQUIRE_KEY_TOOLS").as_deref() != Ok("1"),
        "openssl is required here (CREDEX_REQUIRE_KEY_TOOLS=1)"
    );
    found
}
