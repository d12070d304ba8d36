//! Keys in a hardware security module (issue 19 item 4, decision 1090),
//! end to end against SoftHSM2: Guangdong's node key is generated inside
//! a token by the code `credex pki key new` runs, its certificate issued
//! for the token's public key (`credex pki node --in-module`), and the
//! node started from a configuration whose `[tls] key` is a PKCS#11 URI.
//! Guizhou queries it over real QUIC — the handshake signed in the token
//! — and gets a response signed in the token with a receipt whose
//! checkpoint the token signed; the node cosigns Guizhou's log in the
//! token; the auditor passes both exported logs. No file anywhere in the
//! federation's directory holds the node's private key.
//!
//! SoftHSM2 reads its token directory from `SOFTHSM2_CONF` once per
//! process, so the test runs itself again in a child process with its own
//! configuration. Without SoftHSM2 the test is skipped with a note, unless
//! `CREDEX_REQUIRE_KEY_TOOLS=1` (CI), where it fails.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

use credex_node::config::logical_server_name;
use credex_node::pki_files::{CaDir, lifetime, module_key};
use credex_pki::signing::SigningKey;
use credex_pki::{HeldPublicKey, KeyAlgorithm};
use credex_protocol::query::DOMAIN_RESPONSE;
use credex_protocol::{NodeName, SignatureAlgorithm, Suite};
use credex_tests::{
    Federation, ask, audit_all, authorized_query, findings, gz_penalty_query, import_samples,
    subjects,
};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN: &str = "credex-gz";
const PIN: &str = "1234";
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

#[test]
fn a_node_runs_signs_and_logs_with_its_key_in_a_token() {
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
    let out = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", TOKEN])
        .args(["--pin", PIN, "--so-pin", "5678"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inner = "node_in_token_inner";
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by a_node_runs_signs_and_logs_with_its_key_in_a_token in its own SoftHSM2"]
async fn node_in_token_inner() {
    let Some(tokens) = std::env::var_os(TOKENS_ENV).map(PathBuf::from) else {
        eprintln!("skipped: run through its outer test, which sets up SoftHSM2");
        return;
    };
    // The TLS key signs messages and checkpoints only in the Ed25519
    // suite (under sm2-sm3 an SM2 signing key file does, decision 1070).
    let fed = Federation::with_suite(Suite::Ed25519Sha256);
    let gz = fed.node("gz-1");
    let node_dir = gz.config.parent().unwrap().to_owned();

    // The PIN in a file of its own, mode 0600, outside the node's files.
    let pin_file = tokens.join("gz-1.pin");
    credex_node::pki_files::write_private(&pin_file, &format!("{PIN}\n")).unwrap();
    let uri = format!(
        "pkcs11:token={TOKEN};object=gz-1?module-path={SOFTHSM}&pin-source=file:{}",
        pin_file.display()
    );

    // `credex pki key new`, then `credex pki node --in-module`: the dev
    // federation's key file and certificate for gz-1 are replaced.
    let key = module_key(&uri, Some(KeyAlgorithm::Ed25519)).unwrap();
    std::fs::remove_file(node_dir.join("gz-1.key")).unwrap();
    std::fs::remove_file(node_dir.join("gz-1.pem")).unwrap();
    let name: NodeName = "gz-1".parse().unwrap();
    let held = HeldPublicKey::new(key.key_algorithm(), key.public_key()).unwrap();
    let (cert, _) = CaDir::at(fed.path().join("pki/440000"))
        .issue_node_for_key(
            &name,
            &[logical_server_name(gz.region, &name), "localhost".into()],
            &["127.0.0.1".parse().unwrap()],
            &held,
            lifetime::LEAF_DAYS,
            &node_dir,
        )
        .unwrap();
    let public_key = key.public_key().to_vec();
    drop(key);

    // The configuration names the token and the label instead of a file.
    let toml = std::fs::read_to_string(&gz.config).unwrap();
    assert!(toml.contains("key = \"gz-1.key\""), "{toml}");
    std::fs::write(
        &gz.config,
        toml.replace("key = \"gz-1.key\"", &format!("key = {uri:?}")),
    )
    .unwrap();
    let config = fed.config("gz-1");
    assert!(config.tls.key_in_module.is_some());

    let gy = fed.start("gy-1").await;
    let gz = fed.start_with(config).await;
    assert_eq!(
        gz.log_key().verifier().public_key(),
        public_key,
        "the log signs with the token's key"
    );
    import_samples(&fed, &gz, "440000").await;

    // Over real QUIC: the handshake's CertificateVerify can only come from
    // the token, the one place the certificate's key exists.
    let subject = &subjects("440000")[0];
    let query = authorized_query(
        &fed,
        &gy,
        gz_penalty_query(subject, &["decision_number", "amount"]),
    );
    let answer = ask(&gy, &gz, &query).await;
    let leaf = &answer.responder.chain[0];
    let issued = credex_pki::certs_from_pem(&std::fs::read_to_string(&cert).unwrap()).unwrap();
    assert_eq!(
        leaf.as_slice(),
        issued[0].as_ref(),
        "signed with the token key's certificate"
    );
    assert_eq!(
        answer.responder.signature.algorithm,
        SignatureAlgorithm::Ed25519
    );
    credex_pki::signing::verify_signature(
        leaf,
        DOMAIN_RESPONSE,
        &credex_protocol::encode(&answer.body).unwrap(),
        &answer.responder.signature,
    )
    .unwrap();
    let receipt = answer.receipt.as_ref().expect("a receipt");
    assert!(
        receipt.checkpoint.contains("— credex/440000/gz-1 "),
        "{}",
        receipt.checkpoint
    );

    // Each cosigns the other's log (gz-1 in its token); the auditor checks
    // both logs, their checkpoints and cosignatures against the certificates.
    let audit_dir = tempfile::tempdir().unwrap();
    let report = audit_all(&[&gy, &gz], audit_dir.path()).await;
    assert!(report.passed(), "{:?}", findings(&report));
    assert!(report.entries > 0);

    gz.shutdown().await;
    gy.shutdown().await;

    // No file in the federation's directory holds gz-1's private key.
    let mut keys_seen = 0;
    for file in files_under(fed.path()) {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        if let Ok(found) = SigningKey::from_pkcs8_pem(&text) {
            keys_seen += 1;
            assert_ne!(
                found.public_key(),
                public_key.as_slice(),
                "{} holds the node's private key",
                file.display()
            );
        }
    }
    assert!(
        keys_seen > 5,
        "the scan found the other key files ({keys_seen})"
    );
    assert!(!node_dir.join("gz-1.key").exists());
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_owned()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}
