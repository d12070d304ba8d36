//! SM2 in X.509 for the `sm2-sm3` suite (issue 19, decision 1060): SM2
//! subject keys and SM2-with-SM3 signatures on certificates and CRLs, which
//! rcgen cannot write, and their verification inside webpki's path building.
//!
//! # Issuing: rcgen lays out, credex re-signs
//!
//! rcgen builds the whole certificate or CRL exactly as for Ed25519 — names,
//! SANs, extensions, key identifiers, validity, serial — with an SM2 key
//! posing as a P-256 key ([`crate::cert_key`]). [`finish_certificate`] and
//! [`finish_crl`] then change only what rcgen could not write, parsing and
//! re-encoding with the `der` crate:
//!
//! - an SM2 subject key's SubjectPublicKeyInfo gets the SM2 curve
//!   (`id-ecPublicKey`, parameters `1.2.156.10197.1.301`, GM/T 0006);
//! - under an SM2 issuer, the TBS `signature` field and the outer
//!   `signatureAlgorithm` become SM2-with-SM3 (`1.2.156.10197.1.501`, no
//!   parameters, GM/T 0015);
//!
//! and the TBS so changed is signed again with the issuer's key: for SM2, a
//! DER `ECDSA-Sig-Value` (r, s) over `SM3(Z_A ‖ TBS)` with the default
//! identity `1234567812345678` (GM/T 0009), as OpenSSL signs and verifies
//! certificates.
//!
//! # Verifying
//!
//! [`SM2_WITH_SM3`] is a webpki [`SignatureVerificationAlgorithm`] for that
//! key and signature; [`crate::trust`] lists it beside ring's algorithms.

use der::asn1::{Any, BitString, ObjectIdentifier};
use der::{Decode, Encode, Tag, TagNumber, Tagged};
use rustls_pki_types::{AlgorithmIdentifier, InvalidSignature, SignatureVerificationAlgorithm};
use spki::AlgorithmIdentifierWithOid;

use crate::cert_key::{CertKey, ID_SM2_CURVE};
use crate::issue_error::IssueError;

/// SM2 signature with SM3 (GM/T 0006, used by GM/T 0015 certificates).
const ID_SM2_WITH_SM3: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.156.10197.1.501");

/// The contents of the AlgorithmIdentifier of an SM2 public key (webpki
/// compares these bytes): `OID 1.2.840.10045.2.1, OID 1.2.156.10197.1.301`.
/// A unit test derives them from the OIDs.
const SM2_PUBLIC_KEY_ALG_ID: &[u8] = &[
    0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55,
    0x01, 0x82, 0x2d,
];

/// The contents of the SM2-with-SM3 AlgorithmIdentifier: the OID alone (no
/// parameters, as OpenSSL and GM/T 0015 write it).
const SM2_WITH_SM3_ALG_ID: &[u8] = &[0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x83, 0x75];

/// Chain and CRL signatures by SM2 keys: SM2 with SM3 under the default
/// identity of GM/T 0009, DER `r, s`.
pub(crate) static SM2_WITH_SM3: &dyn SignatureVerificationAlgorithm = &Sm2WithSm3;

/// See [`SM2_WITH_SM3`].
#[derive(Debug)]
struct Sm2WithSm3;

impl SignatureVerificationAlgorithm for Sm2WithSm3 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        credex_gm::sm2_verify_der(credex_gm::DEFAULT_ID, public_key, message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SM2_PUBLIC_KEY_ALG_ID)
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        AlgorithmIdentifier::from_slice(SM2_WITH_SM3_ALG_ID)
    }
}

/// The certificate rcgen drafted (`draft`, signed by `issuer` for a key
/// that is SM2 when `subject_sm2`) with the SM2 identifiers put in and
/// signed again, or the draft itself when neither key is SM2.
pub(crate) fn finish_certificate(
    draft: &[u8],
    subject_sm2: bool,
    issuer: &CertKey,
) -> Result<Vec<u8>, IssueError> {
    if !subject_sm2 && !issuer.is_sm2() {
        return Ok(draft.to_vec());
    }
    let [tbs, algorithm, _signature] = sequence::<3>(draft)?;
    // TBSCertificate: [0] version, serialNumber, signature, issuer,
    // validity, subject, subjectPublicKeyInfo, [3] extensions.
    let mut fields: Vec<Any> = tbs.decode_as().map_err(encoding)?;
    let version = Tag::ContextSpecific {
        constructed: true,
        number: TagNumber(0),
    };
    if fields.len() < 7 || fields[0].tag() != version {
        return Err(IssueError::Encoding(
            "rcgen's draft is not a v3 certificate".to_owned(),
        ));
    }
    if subject_sm2 {
        let mut spki: spki::SubjectPublicKeyInfoOwned = fields[6].decode_as().map_err(encoding)?;
        spki.algorithm.parameters = Some(Any::encode_from(&ID_SM2_CURVE).map_err(encoding)?);
        fields[6] = Any::encode_from(&spki).map_err(encoding)?;
    }
    let algorithm = if issuer.is_sm2() {
        sm2_with_sm3()?
    } else {
        algorithm
    };
    fields[2] = algorithm.clone();
    signed(fields, algorithm, issuer)
}

/// The CRL rcgen drafted (`draft`, signed by `issuer`) with SM2-with-SM3
/// put in and signed again, or the draft itself when the issuer is not SM2.
pub(crate) fn finish_crl(draft: &[u8], issuer: &CertKey) -> Result<Vec<u8>, IssueError> {
    if !issuer.is_sm2() {
        return Ok(draft.to_vec());
    }
    let [tbs, _algorithm, _signature] = sequence::<3>(draft)?;
    // TBSCertList (v2, as rcgen writes it): version, signature, issuer,
    // thisUpdate, nextUpdate, revokedCertificates?, [0] crlExtensions.
    let mut fields: Vec<Any> = tbs.decode_as().map_err(encoding)?;
    if fields.len() < 4 || fields[0].tag() != Tag::Integer {
        return Err(IssueError::Encoding(
            "rcgen's draft is not a v2 CRL".to_owned(),
        ));
    }
    let algorithm = sm2_with_sm3()?;
    fields[1] = algorithm.clone();
    signed(fields, algorithm, issuer)
}

/// `SEQUENCE { tbs, algorithm, BIT STRING signature }` with the TBS made
/// of `tbs_fields`, signed by `issuer`.
fn signed(tbs_fields: Vec<Any>, algorithm: Any, issuer: &CertKey) -> Result<Vec<u8>, IssueError> {
    let tbs = tbs_fields.to_der().map_err(encoding)?;
    let signature = rcgen::SigningKey::sign(issuer, &tbs).map_err(encoding)?;
    let signature = BitString::from_bytes(&signature).map_err(encoding)?;
    vec![
        Any::from_der(&tbs).map_err(encoding)?,
        algorithm,
        Any::encode_from(&signature).map_err(encoding)?,
    ]
    .to_der()
    .map_err(encoding)
}

/// The `N` elements of the DER SEQUENCE `der` (no trailing bytes).
fn sequence<const N: usize>(der: &[u8]) -> Result<[Any; N], IssueError> {
    let elements = Vec::<Any>::from_der(der).map_err(encoding)?;
    let found = elements.len();
    elements
        .try_into()
        .map_err(|_| IssueError::Encoding(format!("{found} elements where {N} were expected")))
}

/// The SM2-with-SM3 AlgorithmIdentifier.
fn sm2_with_sm3() -> Result<Any, IssueError> {
    let algorithm = AlgorithmIdentifierWithOid {
        oid: ID_SM2_WITH_SM3,
        parameters: None,
    };
    Any::encode_from(&algorithm).map_err(encoding)
}

fn encoding(e: impl std::fmt::Display) -> IssueError {
    IssueError::Encoding(e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert_key::ID_EC_PUBLIC_KEY;

    #[test]
    fn webpki_identifiers_are_the_der_of_the_sm2_oids() {
        let public_key = AlgorithmIdentifierWithOid {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(ID_SM2_CURVE),
        };
        let der = public_key.to_der().expect("encodes");
        assert_eq!(&der[2..], SM2_PUBLIC_KEY_ALG_ID, "SEQUENCE contents");
        let signature = sm2_with_sm3().expect("encodes");
        assert_eq!(signature.value(), SM2_WITH_SM3_ALG_ID);
    }

    #[test]
    fn sm2_with_sm3_verifies_der_signatures_under_the_default_identity() {
        let key = credex_gm::Sm2SigningKey::new(credex_gm::DEFAULT_ID, &[5u8; 32]).expect("key");
        let signature = key.sign_der(b"tbs");
        let alg = SM2_WITH_SM3;
        let public = key.public_key();
        assert!(alg.verify_signature(&public, b"tbs", &signature).is_ok());
        assert!(alg.verify_signature(&public, b"tbS", &signature).is_err());
        assert!(
            alg.verify_signature(&public[1..], b"tbs", &signature)
                .is_err()
        );
        assert!(
            alg.verify_signature(&public, b"tbs", &key.sign(b"tbs"))
                .is_err()
        );
    }
}
