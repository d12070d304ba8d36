//! SM2 and SM3 against an independent implementation, Python's `gmssl`
//! (issue 19): a signature credex makes verifies there, and one gmssl makes
//! verifies here, both under a credex node's identity (`Z_A`). Skipped
//! where Python or gmssl is missing, except in CI
//! (`CREDEX_REQUIRE_KEY_TOOLS=1`, `.ci/run` installs gmssl).

#![allow(clippy::unwrap_used)]

use std::process::Command;

use credex_gm::{Sm2SigningKey, sm2_verify};

const IDENTITY: &str = "urn:credex:node:520000:gy-1";

/// Computes `Z_A` for the identity and public key given, then verifies a
/// signature (argv: verify) or makes one (argv: sign), with gmssl's SM2 and
/// SM3 on the recommended curve.
const SCRIPT: &str = r#"
import sys, secrets
from gmssl import sm2, sm3, func
mode, identity, pub, msg = sys.argv[1], sys.argv[2].encode(), sys.argv[3], bytes.fromhex(sys.argv[4])
a = 'FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC'
b = '28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93'
gx = '32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7'
gy = 'BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0'
za = bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(
    (len(identity) * 8).to_bytes(2, 'big') + identity + bytes.fromhex(a + b + gx + gy + pub))))
e = bytes.fromhex(sm3.sm3_hash(func.bytes_to_list(za + msg)))
if mode == 'verify':
    c = sm2.CryptSM2(public_key=pub, private_key=None)
    print('ok' if c.verify(sys.argv[5], e) else 'bad')
else:
    c = sm2.CryptSM2(public_key=pub, private_key=sys.argv[5])
    print(c.sign(e, secrets.token_hex(32)))
"#;

fn python(args: &[&str]) -> Option<String> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn gmssl_here() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import gmssl"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found || std::env::var("CREDEX_REQUIRE_KEY_TOOLS").as_deref() != Ok("1"),
        "Python gmssl is required here (CREDEX_REQUIRE_KEY_TOOLS=1)"
    );
    if !found {
        eprintln!("Python gmssl not found: SM2 interop skipped");
    }
    found
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn sm2_signatures_verify_both_ways_with_gmssl() {
    if !gmssl_here() {
        return;
    }
    let private = [0x5Au8; 32];
    let key = Sm2SigningKey::new(IDENTITY, &private).unwrap();
    let public = key.public_key();
    // gmssl wants the point without its 04 prefix.
    let pub_hex = hex(&public[1..]);
    let message = "信用报告 credex".as_bytes();

    let ours = key.sign(message);
    let said = python(&["verify", IDENTITY, &pub_hex, &hex(message), &hex(&ours)]).unwrap();
    assert_eq!(said, "ok", "gmssl refuses credex's signature");
    let mut changed = ours;
    changed[10] ^= 1;
    let said = python(&["verify", IDENTITY, &pub_hex, &hex(message), &hex(&changed)]).unwrap();
    assert_eq!(said, "bad", "gmssl accepts a changed signature");

    let theirs = python(&["sign", IDENTITY, &pub_hex, &hex(message), &hex(&private)]).unwrap();
    let theirs: Vec<u8> = (0..theirs.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&theirs[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(sm2_verify(IDENTITY, &public, message, &theirs), Ok(()));
    assert!(sm2_verify("urn:credex:node:500000:cq-1", &public, message, &theirs).is_err());
}
