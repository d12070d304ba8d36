//! Keys in a hardware security module (decision 1090), against SoftHSM2:
//! a key generated inside a token signs messages that verify with the
//! certificate issued for its public key; CAs whose keys are in the token
//! issue certificates and CRLs; and a wrong PIN, a missing token, key or
//! module each fail with an error that names it.
//!
//! SoftHSM2 reads its token directory from `SOFTHSM2_CONF` when the
//! library initialises, once per process; the test runs this binary again
//! with its own configuration and fresh tokens (`in_fresh_tokens`).
//! Without `softhsm2-util` the test is skipped with a note, unless
//! `CREDEX_REQUIRE_KEY_TOOLS=1` (CI), where it fails.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use common::*;
use credex_pki::module_key::{ModuleError, ModuleKey, ModuleKeyRef, Pin};
use credex_pki::signing::{DeviceKey, SigningKey, verify_signature};
use credex_pki::{
    CaLoadError, CertificateAuthority, HeldPublicKey, KeyAlgorithm, Purpose, RevokedCert,
    TrustStore, Validity, certs_from_pem, create_root_in_device,
};
use credex_protocol::SignatureAlgorithm;

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const PIN: &str = "1234";
const DOMAIN: &[u8] = b"credex/test/v1";
/// Where the outer test tells the inner one its token directory is.
const TOKENS_ENV: &str = "CREDEX_TEST_SOFTHSM_DIR";

/// Whether SoftHSM2 is installed; its absence fails the test under
/// `CREDEX_REQUIRE_KEY_TOOLS=1`.
fn softhsm_here() -> bool {
    let found = Path::new(SOFTHSM).is_file()
        && Command::new("softhsm2-util")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
    assert!(
        found || std::env::var("CREDEX_REQUIRE_KEY_TOOLS").as_deref() != Ok("1"),
        "SoftHSM2 (softhsm2-util, {SOFTHSM}) is required here (CREDEX_REQUIRE_KEY_TOOLS=1)"
    );
    found
}

/// Run the ignored test `inner` of this binary in a child process whose
/// SoftHSM2 keeps its tokens in a fresh directory with tokens `a` and `b`
/// (user PIN 1234).
fn in_fresh_tokens(inner: &str) {
    if !softhsm_here() {
        eprintln!("skipped: SoftHSM2 is not installed (apt-get install softhsm2)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::create_dir(dir.path().join("tokens")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            dir.path().join("tokens").display()
        ),
    )
    .unwrap();
    for label in ["a", "b"] {
        let out = Command::new("softhsm2-util")
            .args(["--init-token", "--free", "--label", label])
            .args(["--pin", PIN, "--so-pin", "5678"])
            .env("SOFTHSM2_CONF", &conf)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let status = Command::new(std::env::current_exe().unwrap())
        .args([
            inner,
            "--exact",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(TOKENS_ENV, dir.path())
        .status()
        .unwrap();
    assert!(status.success(), "{inner} failed in its own SoftHSM2");
}

/// The token directory of the outer test, or `None` when run directly.
fn fresh_tokens() -> Option<PathBuf> {
    let dir = std::env::var_os(TOKENS_ENV).map(PathBuf::from);
    if dir.is_none() {
        eprintln!("skipped: run through its outer test, which sets up SoftHSM2");
    }
    dir
}

fn at_token(token: &str, label: &str) -> ModuleKeyRef {
    ModuleKeyRef {
        module: SOFTHSM.into(),
        token: token.into(),
        label: label.into(),
    }
}

fn pin(p: &str) -> Pin {
    Pin::new(p.to_owned())
}

#[test]
fn module_keys_sign_and_fail_clearly() {
    in_fresh_tokens("module_keys_inner");
}

#[test]
#[ignore = "run by module_keys_sign_and_fail_clearly in its own SoftHSM2"]
fn module_keys_inner() {
    let Some(_tokens) = fresh_tokens() else {
        return;
    };
    // Errors first, on token b, before any login in this process: PKCS#11
    // login state is per process and token, so a later wrong PIN would
    // meet an already logged-in token.
    let missing_module = ModuleKeyRef {
        module: "/nonexistent/libpkcs11.so".into(),
        ..at_token("b", "k")
    };
    let e = ModuleKey::open(&missing_module, pin(PIN)).unwrap_err();
    assert!(matches!(e, ModuleError::Load { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/libpkcs11.so"), "{e}");

    let e = ModuleKey::open(&at_token("nope", "k"), pin(PIN)).unwrap_err();
    assert!(
        matches!(&e, ModuleError::NoToken { token, .. } if token == "nope"),
        "{e}"
    );
    assert!(
        e.to_string().contains("\"a\"") && e.to_string().contains("\"b\""),
        "{e}"
    );

    let e =
        ModuleKey::generate(&at_token("b", "k"), pin("4321"), KeyAlgorithm::Ed25519).unwrap_err();
    assert_eq!(e, ModuleError::WrongPin { token: "b".into() });

    let e = ModuleKey::open(&at_token("b", "gz-1"), pin(PIN)).unwrap_err();
    assert_eq!(
        e,
        ModuleError::NoKey {
            token: "b".into(),
            label: "gz-1".into()
        }
    );
    assert_eq!(
        e.to_string(),
        "token \"b\" holds no private key labelled \"gz-1\""
    );

    let e = ModuleKey::generate(&at_token("b", "k"), pin(PIN), KeyAlgorithm::Sm2).unwrap_err();
    assert_eq!(e, ModuleError::UnsupportedAlgorithm(KeyAlgorithm::Sm2));

    // Keys generated in token a sign; the signatures verify with the
    // certificates a region CA issued for their public keys.
    let fed = Federation::new(KeyAlgorithm::Ed25519);
    let (region_ca, ca) = fed.region_ca("440000");
    for (label, alg, sig_alg) in [
        ("gz-1", KeyAlgorithm::Ed25519, SignatureAlgorithm::Ed25519),
        (
            "gz-2",
            KeyAlgorithm::EcdsaP256,
            SignatureAlgorithm::EcdsaP256Sha256,
        ),
    ] {
        let key = ModuleKey::generate(&at_token("a", label), pin(PIN), alg).unwrap();
        assert_eq!(key.algorithm(), sig_alg);
        let held = HeldPublicKey::new(alg, key.public_key()).unwrap();
        let cert = ca
            .issue_node_for_key(
                &name(label),
                &[format!("{label}.440000.credex")],
                &[],
                &held,
                Validity::days_from(at(Y2026), 365),
            )
            .unwrap();
        // The certificate chains to the root as a node certificate.
        let ca_der = certs_from_pem(&region_ca.cert_pem).unwrap().remove(0);
        let leaf = certs_from_pem(&cert.cert_pem).unwrap().remove(0);
        fed.store(&[])
            .verify(&leaf, &[ca_der], now_plus_days(1), Purpose::TlsClient)
            .unwrap();

        let signing = SigningKey::in_device(Arc::new(key));
        signing.check_matches_certificate(&cert.cert_der).unwrap();
        let signature = signing.sign(DOMAIN, b"a response").unwrap();
        assert_eq!(signature.algorithm, sig_alg);
        verify_signature(&cert.cert_der, DOMAIN, b"a response", &signature).unwrap();
        assert!(verify_signature(&cert.cert_der, DOMAIN, b"another", &signature).is_err());

        // Opened again by label (as a node does at start), the same key.
        let again = ModuleKey::open(&at_token("a", label), pin(PIN)).unwrap();
        assert_eq!(again.public_key(), signing.public_key());
    }

    let e =
        ModuleKey::generate(&at_token("a", "gz-1"), pin(PIN), KeyAlgorithm::Ed25519).unwrap_err();
    assert_eq!(
        e,
        ModuleError::LabelTaken {
            token: "a".into(),
            label: "gz-1".into()
        }
    );

    // The private half cannot leave the token: an independent tool lists
    // it as sensitive and never extractable.
    let listed = Command::new("pkcs11-tool")
        .args([
            "--module",
            SOFTHSM,
            "--token-label",
            "a",
            "--login",
            "--pin",
            PIN,
        ])
        .arg("--list-objects")
        .output();
    match listed {
        Ok(out) => {
            let text = String::from_utf8_lossy(&out.stdout);
            let private = text
                .split("Private Key Object")
                .skip(1)
                .find(|block| block.contains("label:      gz-1\n"))
                .unwrap_or_else(|| panic!("no private key gz-1 listed:\n{text}"));
            assert!(
                private.contains("always sensitive") && private.contains("never extractable"),
                "{private}"
            );
        }
        Err(e) => eprintln!("pkcs11-tool (opensc) not run: {e}"),
    }

    ca_keys_in_the_token();
    cost_per_signature();
}

/// A root and a region CA whose keys stay in the token issue a node
/// certificate and a CRL that verify like any other; a CA certificate
/// with another key in the token is refused.
fn ca_keys_in_the_token() {
    let root_key: Arc<dyn DeviceKey> = Arc::new(
        ModuleKey::generate(&at_token("a", "root"), pin(PIN), KeyAlgorithm::Ed25519).unwrap(),
    );
    let root = create_root_in_device(
        "credex test root",
        Arc::clone(&root_key),
        Validity::new(at(Y2020), at(Y2040)).unwrap(),
    )
    .unwrap();
    let root_ca = CertificateAuthority::in_device(&root.cert_pem, root_key).unwrap();
    let ca_key = ModuleKey::generate(
        &at_token("a", "ca-440000"),
        pin(PIN),
        KeyAlgorithm::EcdsaP256,
    )
    .unwrap();
    let held = HeldPublicKey::new(ca_key.key_algorithm(), ca_key.public_key()).unwrap();
    let ca_cert = root_ca
        .issue_region_ca_for_key(
            region("440000"),
            &held,
            Validity::new(at(Y2021), at(Y2039)).unwrap(),
        )
        .unwrap();
    let ca = CertificateAuthority::in_device(&ca_cert.cert_pem, Arc::new(ca_key)).unwrap();
    let leaf = node(&ca, "gz-9", KeyAlgorithm::Ed25519);
    let ca_der = certs_from_pem(&ca_cert.cert_pem).unwrap().remove(0);
    let trust = |crls: &[String]| TrustStore::from_pem(&root.cert_pem, crls).unwrap();
    trust(&[])
        .verify(
            &der(&leaf),
            std::slice::from_ref(&ca_der),
            now_plus_days(1),
            Purpose::TlsClient,
        )
        .unwrap();
    let revoked = RevokedCert {
        serial: credex_pki::identity_from_der(&leaf.cert_der)
            .unwrap()
            .serial,
        revoked_at: at(Y2026),
    };
    let crl = ca.crl(&[revoked], 1, at(Y2026), at(Y2039)).unwrap();
    let refused =
        trust(&[crl]).verify(&der(&leaf), &[ca_der], now_plus_days(1), Purpose::TlsClient);
    assert!(
        refused.is_err(),
        "the CRL signed in the token revokes the leaf"
    );

    let other: Arc<dyn DeviceKey> =
        Arc::new(ModuleKey::open(&at_token("a", "gz-1"), pin(PIN)).unwrap());
    assert_eq!(
        CertificateAuthority::in_device(&root.cert_pem, other).unwrap_err(),
        CaLoadError::KeyMismatch
    );
}

/// What a signature costs in SoftHSM2 against ring in process (printed;
/// decision 1090 quotes it).
fn cost_per_signature() {
    const N: u32 = 500;
    let key = ModuleKey::open(&at_token("a", "gz-1"), pin(PIN)).unwrap();
    let message = [7u8; 200];
    let started = Instant::now();
    for _ in 0..N {
        key.sign(&message).unwrap();
    }
    let module = started.elapsed() / N;
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let ring_key = ring::signature::Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap();
    let started = Instant::now();
    for _ in 0..N {
        ring_key.sign(&message);
    }
    let in_process = started.elapsed() / N;
    println!(
        "Ed25519 signature of 200 bytes: SoftHSM2 {module:?}, ring {in_process:?} (mean of {N})"
    );
}
