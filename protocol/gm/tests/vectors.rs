//! credex-gm against the standards' published known answers, committed as
//! data in `tests/vectors/` (not recomputed by the code under test).

#![allow(clippy::unwrap_used)]

use credex_gm::{GmError, Sm2SigningKey, sm2_verify, sm3, sm4_decrypt_block, sm4_encrypt_block};

/// The cases of a vector file: blank-line separated `key = value` blocks,
/// `#` comments skipped.
fn cases(file: &str) -> Vec<std::collections::BTreeMap<String, String>> {
    let path = format!("{}/tests/vectors/{file}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut out = vec![std::collections::BTreeMap::new()];
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.is_empty() {
            if !out.last().unwrap().is_empty() {
                out.push(Default::default());
            }
            continue;
        }
        let (k, v) = line.split_once(" = ").unwrap();
        out.last_mut().unwrap().insert(k.to_owned(), v.to_owned());
    }
    out.retain(|c| !c.is_empty());
    assert!(!out.is_empty(), "{path} has no cases");
    out
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn sm3_matches_gb_t_32905() {
    for c in cases("sm3.txt") {
        assert_eq!(
            sm3(c["message"].as_bytes()).to_vec(),
            hex(&c["digest"]),
            "{c:?}"
        );
    }
}

#[test]
fn sm4_matches_gb_t_32907() {
    for c in cases("sm4.txt") {
        let key: [u8; 16] = hex(&c["key"]).try_into().unwrap();
        let plain: [u8; 16] = hex(&c["plaintext"]).try_into().unwrap();
        let mut block = plain;
        let n: u32 = c["iterations"].parse().unwrap();
        for _ in 0..n {
            sm4_encrypt_block(&key, &mut block);
        }
        assert_eq!(block.to_vec(), hex(&c["ciphertext"]), "{c:?}");
        for _ in 0..n {
            sm4_decrypt_block(&key, &mut block);
        }
        assert_eq!(block, plain);
    }
}

#[test]
fn sm2_verifies_the_published_signature_and_nothing_else() {
    for c in cases("sm2.txt") {
        let public = hex(&c["public"]);
        let signature = hex(&c["signature"]);
        let (id, message) = (c["identity"].as_str(), c["message"].as_bytes());
        let key = Sm2SigningKey::new(id, &hex(&c["private"])).unwrap();
        assert_eq!(
            key.public_key(),
            public,
            "the private key gives the public key"
        );
        assert_eq!(sm2_verify(id, &public, message, &signature), Ok(()));
        // A changed message, identity or signature byte is refused.
        assert_eq!(
            sm2_verify(id, &public, b"hi chappY", &signature),
            Err(GmError::Mismatch)
        );
        assert_eq!(
            sm2_verify("someone@example.com", &public, message, &signature),
            Err(GmError::Mismatch)
        );
        let mut bad = signature.clone();
        bad[40] ^= 1;
        assert_eq!(
            sm2_verify(id, &public, message, &bad),
            Err(GmError::Mismatch)
        );
        // Our own signature of the same message verifies too.
        assert_eq!(sm2_verify(id, &public, message, &key.sign(message)), Ok(()));
    }
}

#[test]
fn sm4_gcm_matches_rfc_8998_and_refuses_any_change() {
    use credex_gm::{sm4_gcm_open, sm4_gcm_seal};
    for c in cases("sm4_gcm.txt") {
        let key: [u8; 16] = hex(&c["key"]).try_into().unwrap();
        let nonce: [u8; 12] = hex(&c["nonce"]).try_into().unwrap();
        let (aad, plain) = (hex(&c["aad"]), hex(&c["plaintext"]));
        let sealed = sm4_gcm_seal(&key, &nonce, &aad, &plain);
        let mut want = hex(&c["ciphertext"]);
        want.extend(hex(&c["tag"]));
        assert_eq!(sealed, want);
        assert_eq!(sm4_gcm_open(&key, &nonce, &aad, &sealed), Ok(plain));
        let mut changed = sealed.clone();
        changed[3] ^= 1;
        assert_eq!(
            sm4_gcm_open(&key, &nonce, &aad, &changed),
            Err(GmError::Unauthentic)
        );
        assert_eq!(
            sm4_gcm_open(&key, &nonce, b"other aad", &sealed),
            Err(GmError::Unauthentic)
        );
    }
}

#[test]
fn hmac_sm3_matches_an_independent_implementation() {
    for c in cases("hmac_sm3.txt") {
        assert_eq!(
            credex_gm::hmac_sm3(c["key"].as_bytes(), c["data"].as_bytes()).to_vec(),
            hex(&c["mac"]),
            "{c:?}"
        );
    }
}
