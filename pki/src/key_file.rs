//! Private keys as files other tools read: PKCS#8 version 1
//! (`PrivateKeyInfo`, RFC 5208) PEM, `-----BEGIN PRIVATE KEY-----`.
//!
//! ring (behind rcgen) writes Ed25519 keys as PKCS#8 version 2
//! (`OneAsymmetricKey`, RFC 5958, with the public key attached), which
//! OpenSSL 3.0 (`openssl pkey`) refuses as "unsupported". An Ed25519
//! PKCS#8 v1 document is fixed-length (RFC 8410 §7): a 16-byte header and
//! the 32-byte seed, so the conversion keeps the seed and drops the public
//! key, which every reader derives again. ECDSA P-256 and SM2 keys are
//! already v1 and are written as they are. Decision 0610.
//!
//! Reading stays lenient: [`crate::signing::SigningKey`] and rcgen load
//! both versions, so keys written by earlier credex versions still work.

/// The DER header of an Ed25519 PKCS#8 v1 document (RFC 8410 §7):
/// `SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING {
/// OCTET STRING (32) } }`, followed by the 32-byte seed.
const ED25519_V1_HEADER: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 PKCS#8 v2 document after its outer `SEQUENCE` header: the
/// same as v1 but for version 1; then the seed, then the public key
/// (`[1] IMPLICIT BIT STRING`, 35 bytes, or ring's older explicit form,
/// 37 bytes).
const ED25519_V2_BODY_START: [u8; 14] = [
    0x02, 0x01, 0x01, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// `der` as PKCS#8 version 1: an Ed25519 v2 document becomes the v1 form of
/// the same key; anything else is returned unchanged.
pub fn pkcs8_v1(der: &[u8]) -> Vec<u8> {
    let is_ed25519_v2 = der.len() >= 48 + 35
        && der.len() < 128
        && der[0] == 0x30
        && usize::from(der[1]) + 2 == der.len()
        && der[2..16] == ED25519_V2_BODY_START;
    if is_ed25519_v2 {
        let mut out = Vec::with_capacity(48);
        out.extend_from_slice(&ED25519_V1_HEADER);
        out.extend_from_slice(&der[16..48]);
        out
    } else {
        der.to_vec()
    }
}

/// PEM (`PRIVATE KEY`, LF line endings) of `der` as PKCS#8 version 1.
pub fn private_key_pem(der: &[u8]) -> String {
    let p = pem::Pem::new("PRIVATE KEY", pkcs8_v1(der));
    pem::encode_config(
        &p,
        pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ring::signature::{Ed25519KeyPair, KeyPair};

    #[test]
    fn ed25519_v2_becomes_v1_of_the_same_key() {
        let rng = ring::rand::SystemRandom::new();
        let v2 = Ed25519KeyPair::generate_pkcs8(&rng).expect("generate");
        assert_eq!(v2.as_ref()[2..16], ED25519_V2_BODY_START);
        let v1 = pkcs8_v1(v2.as_ref());
        assert_eq!(v1.len(), 48);
        assert_eq!(v1[..16], ED25519_V1_HEADER);
        let a = Ed25519KeyPair::from_pkcs8(v2.as_ref()).expect("v2 loads");
        let b = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v1).expect("v1 loads");
        assert_eq!(a.public_key().as_ref(), b.public_key().as_ref());
        // Idempotent, and other documents pass through.
        assert_eq!(pkcs8_v1(&v1), v1);
        assert_eq!(pkcs8_v1(b"not a key"), b"not a key");
        // The implicit-tag form rcgen writes (83 bytes) converts too.
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).expect("rcgen");
        let der = kp.serialize_der();
        let v1 = pkcs8_v1(&der);
        assert_eq!(v1.len(), 48, "{}", hex::encode(&der));
        let b = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&v1).expect("v1 loads");
        assert_eq!(b.public_key().as_ref(), kp.public_key_raw());
    }

    #[test]
    fn rfc8410_example_key_is_recognised_as_v1() {
        // RFC 8410 §10.3's example private key (v1).
        let pem_text = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n-----END PRIVATE KEY-----\n";
        let der = pem::parse(pem_text).expect("pem").into_contents();
        assert_eq!(der[..16], ED25519_V1_HEADER);
        assert_eq!(private_key_pem(&der), pem_text);
    }
}
