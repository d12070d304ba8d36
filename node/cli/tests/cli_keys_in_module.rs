//! `credex pki key new`, `credex pki node --in-module` and a `credex node
//! run` whose `[tls] key` is a PKCS#11 URI, against SoftHSM2 (decision
//! 1090): the key is made in the token, certified without a key file, and
//! a peer's `credex node hello` completes a handshake the token signed; a
//! wrong PIN, a missing PIN and a missing key each stop with what to fix.
//! A root and a region CA whose keys are in the token issue and revoke.
//! Skipped with a note without SoftHSM2, unless `CREDEX_REQUIRE_KEY_TOOLS=1`.

#![cfg(unix)]
#![allow(clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, dev_federation, p, terminate};

const SOFTHSM: &str = "/usr/lib/softhsm/libsofthsm2.so";

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

/// `credex ARGS` with SoftHSM2 reading `conf`, and `env` set.
fn credex(conf: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_credex"))
        .args(args)
        .env("RUST_LOG", "warn")
        .env("SOFTHSM2_CONF", conf)
        .env_remove("CREDEX_PKCS11_PIN")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_node_key_made_in_a_token_serves_a_handshake() {
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
    let init = Command::new("softhsm2-util")
        .args(["--init-token", "--free", "--label", "credex-gz"])
        .args(["--pin", "1234", "--so-pin", "5678"])
        .env("SOFTHSM2_CONF", &conf)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", text(&init));
    let fed = dev_federation(dir.path(), 47000);
    let pin = dir.path().join("gz-1.pin");
    credex_node::pki_files::write_private(&pin, "1234\n").unwrap();
    let base = format!("pkcs11:token=credex-gz;object=gz-1?module-path={SOFTHSM}");
    let uri = format!("{base}&pin-source=file:{}", p(&pin));

    // Without a PIN source, or with a wrong PIN, nothing is made.
    let out = credex(&conf, &[], &["pki", "key", "new", &base]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("CREDEX_PKCS11_PIN is not set"),
        "{}",
        text(&out)
    );
    let out = credex(
        &conf,
        &[("CREDEX_PKCS11_PIN", "0000")],
        &["pki", "key", "new", &base],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("token \"credex-gz\" refused the PIN"),
        "{}",
        text(&out)
    );

    let out = credex(&conf, &[], &["pki", "key", "new", &uri]);
    assert!(out.status.success(), "{}", text(&out));
    let made = text(&out);
    let public = made
        .lines()
        .find_map(|l| l.trim().strip_prefix("public key: "))
        .unwrap()
        .to_owned();
    let out = credex(
        &conf,
        &[("CREDEX_PKCS11_PIN", "1234")],
        &["pki", "key", "show", &base],
    );
    assert!(text(&out).contains(&public), "{}", text(&out));

    // gz-1's certificate, for the token's key; its key file goes.
    let node_dir = fed.join("nodes/gz-1");
    std::fs::remove_file(node_dir.join("gz-1.key")).unwrap();
    std::fs::remove_file(node_dir.join("gz-1.pem")).unwrap();
    let ca = fed.join("pki/440000");
    let out = credex(
        &conf,
        &[],
        &[
            "pki",
            "node",
            "--ca",
            p(&ca),
            "--name",
            "gz-1",
            "--dns",
            "localhost",
        ],
    );
    assert!(!out.status.success(), "--out is required");
    let out = credex(
        &conf,
        &[],
        &[
            "pki",
            "node",
            "--ca",
            p(&ca),
            "--name",
            "gz-1",
            "--dns",
            "localhost",
            "--ip",
            "127.0.0.1",
            "--out",
            p(&node_dir),
            "--in-module",
            &uri,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(node_dir.join("gz-1.pem").is_file());
    assert!(
        !node_dir.join("gz-1.key").exists(),
        "no key file is written"
    );

    // A configuration naming a key the token does not hold stops the node
    // with the file, the key and the label.
    let config = node_dir.join("node.toml");
    let toml = std::fs::read_to_string(&config).unwrap();
    let named = |uri: &str| toml.replace("key = \"gz-1.key\"", &format!("key = {uri:?}"));
    std::fs::write(&config, named(&uri.replace("object=gz-1", "object=nope"))).unwrap();
    let out = credex(&conf, &[], &["node", "run", "--config", p(&config)]);
    assert!(!out.status.success());
    let said = text(&out);
    assert!(
        said.contains(p(&config)) && said.contains("[tls] key"),
        "{said}"
    );
    assert!(
        said.contains("holds no private key labelled \"nope\""),
        "{said}"
    );

    // With the right label the node runs, and a peer's handshake with it
    // completes: its CertificateVerify came from the token.
    std::fs::write(&config, named(&uri)).unwrap();
    let mut gz = Daemon(
        Command::new(env!("CARGO_BIN_EXE_credex"))
            .args(["node", "run", "--config", p(&config)])
            .env("RUST_LOG", "warn")
            .env("SOFTHSM2_CONF", &conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let gy = fed.join("nodes/gy-1/node.toml");
    let deadline = Instant::now() + Duration::from_secs(30);
    let said = loop {
        let out = credex(
            &conf,
            &[],
            &["node", "hello", "--config", p(&gy), "--peer", "440000/gz-1"],
        );
        if out.status.success() {
            break text(&out);
        }
        assert!(
            Instant::now() < deadline,
            "gz-1 never answered: {}",
            text(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(said.starts_with("440000/gz-1 at 127.0.0.1:"), "{said}");
    assert!(
        terminate(&mut gz).success(),
        "gz-1 should exit 0 on SIGTERM"
    );

    // CA keys in the token: a root and a region CA issue, and revoke, with
    // keys that never leave it.
    let root_uri = uri.replace("object=gz-1", "object=root");
    let ca_uri = uri.replace("object=gz-1", "object=ca-440000");
    let run = |args: &[&str]| {
        let out = credex(&conf, &[], args);
        assert!(out.status.success(), "credex {args:?}: {}", text(&out));
        text(&out)
    };
    run(&["pki", "key", "new", &root_uri]);
    run(&["pki", "key", "new", &ca_uri, "--alg", "p256"]);
    let pki = dir.path().join("hsm-pki");
    let (root, ca) = (pki.join("root"), pki.join("440000"));
    run(&[
        "pki",
        "init-root",
        "--dir",
        p(&root),
        "--in-module",
        &root_uri,
    ]);
    run(&[
        "pki",
        "region-ca",
        "--root",
        p(&root),
        "--region",
        "440000",
        "--dir",
        p(&ca),
        "--in-module",
        &ca_uri,
    ]);
    for d in [&root, &ca] {
        assert!(!d.join("ca.key").exists() && d.join("ca.pkcs11").is_file());
    }
    let out = pki.join("out");
    run(&[
        "pki",
        "node",
        "--ca",
        p(&ca),
        "--name",
        "gz-2",
        "--out",
        p(&out),
    ]);
    let leaf = out.join("gz-2.pem");
    let crls = [
        p(&root.join("crl.pem")).to_owned(),
        p(&ca.join("crl.pem")).to_owned(),
    ];
    let verify = |leaf: &Path| {
        credex(
            &conf,
            &[],
            &[
                "pki",
                "verify",
                "--root",
                p(&root.join("ca.pem")),
                "--crl",
                &crls[0],
                "--crl",
                &crls[1],
                p(leaf),
            ],
        )
    };
    let ok = verify(&leaf);
    assert!(ok.status.success(), "{}", text(&ok));
    run(&["pki", "revoke", "--ca", p(&ca), p(&leaf)]);
    let refused = verify(&leaf);
    assert!(
        !refused.status.success(),
        "the CRL re-signed in the token revokes gz-2"
    );
}
