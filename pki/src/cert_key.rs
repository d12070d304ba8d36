//! The key pair of a certificate being issued, or of the CA issuing it:
//! ring's Ed25519 or P-256 through rcgen's [`KeyPair`], or an SM2 key
//! through credex-gm ([`KeyAlgorithm::Sm2`], decision 1060).
//!
//! Both kinds are rcgen keys ([`rcgen::PublicKeyData`],
//! [`rcgen::SigningKey`]), so rcgen lays out every certificate and CRL the
//! same way. rcgen has no SM2: an SM2 key poses as a P-256 key (same
//! identifier lengths) and [`crate::sm2_x509`] puts the SM2 identifiers in
//! afterwards. Its key identifier (SKI, AKI) is derived from its true
//! SubjectPublicKeyInfo.

use rcgen::{KeyPair, PublicKeyData as _};
use ring::rand::{SecureRandom, SystemRandom};

use std::fmt;
use std::str::FromStr;

use credex_protocol::SignatureAlgorithm;
use der::Encode as _;
use der::asn1::{BitString, ObjectIdentifier};
use spki::{AlgorithmIdentifierWithOid, SubjectPublicKeyInfo};

use crate::issue_error::IssueError;

/// Key algorithm of a newly issued certificate's key pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyAlgorithm {
    /// Ed25519 (RFC 8032). The default.
    #[default]
    Ed25519,
    /// ECDSA over NIST P-256 with SHA-256.
    EcdsaP256,
    /// SM2 on the recommended curve (GB/T 32918, the `sm2-sm3` suite):
    /// certificates it issues are signed SM2-with-SM3 (GM/T 0015) with the
    /// default identity of GM/T 0009 (decision 1060). Not a TLS key:
    /// rustls has no SM2 signature scheme.
    Sm2,
}

impl KeyAlgorithm {
    /// The algorithm identifier that signatures made with such a key carry.
    pub fn signature_algorithm(self) -> SignatureAlgorithm {
        match self {
            KeyAlgorithm::Ed25519 => SignatureAlgorithm::Ed25519,
            KeyAlgorithm::EcdsaP256 => SignatureAlgorithm::EcdsaP256Sha256,
            KeyAlgorithm::Sm2 => SignatureAlgorithm::Sm2Sm3,
        }
    }
}

/// A key algorithm name other than `ed25519`, `p256` or `sm2`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown key algorithm {0:?} (expected \"ed25519\", \"p256\" or \"sm2\")")]
pub struct UnknownKeyAlgorithm(pub String);

impl FromStr for KeyAlgorithm {
    type Err = UnknownKeyAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ed25519" => Ok(KeyAlgorithm::Ed25519),
            "p256" => Ok(KeyAlgorithm::EcdsaP256),
            "sm2" => Ok(KeyAlgorithm::Sm2),
            other => Err(UnknownKeyAlgorithm(other.to_owned())),
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyAlgorithm::Ed25519 => "ed25519",
            KeyAlgorithm::EcdsaP256 => "p256",
            KeyAlgorithm::Sm2 => "sm2",
        })
    }
}

/// `id-ecPublicKey` (RFC 5480), the key type of SM2 public keys.
pub(crate) const ID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");

/// The SM2 curve `sm2p256v1` (GM/T 0006).
pub(crate) const ID_SM2_CURVE: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.156.10197.1.301");

/// The DER SubjectPublicKeyInfo of the SM2 public key `point` (SEC1).
pub(crate) fn subject_public_key_info(point: &[u8]) -> Result<Vec<u8>, der::Error> {
    SubjectPublicKeyInfo {
        algorithm: AlgorithmIdentifierWithOid {
            oid: ID_EC_PUBLIC_KEY,
            parameters: Some(ID_SM2_CURVE),
        },
        subject_public_key: BitString::from_bytes(point)?,
    }
    .to_der()
}

/// How many random 32-byte strings to try for an SM2 scalar; each lands
/// in `[1, n-1]` with probability above `1 - 2^-32`.
const SM2_KEYGEN_ATTEMPTS: usize = 8;

/// A certificate's key pair (secret).
pub(crate) enum CertKey {
    /// Ed25519 or ECDSA P-256 (ring, through rcgen).
    Ring(KeyPair),
    /// SM2, signing with the default identity of GM/T 0009.
    Sm2(Sm2Key),
    /// A CA key inside a device (a hardware security module, decision
    /// 1090): Ed25519 or P-256, every signature made there. Never a new
    /// key being issued: it has no PEM.
    Device(DeviceCertKey),
}

/// A device key with the rcgen algorithm its signatures are.
pub(crate) struct DeviceCertKey {
    key: std::sync::Arc<dyn crate::signing::DeviceKey>,
    alg: &'static rcgen::SignatureAlgorithm,
}

/// rcgen lays out its SubjectPublicKeyInfo from the algorithm and the raw
/// key, as for any Ed25519 or P-256 key.
impl rcgen::PublicKeyData for DeviceCertKey {
    fn der_bytes(&self) -> &[u8] {
        self.key.public_key()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.alg
    }
}

/// An SM2 key pair with its public key as certificates carry it.
pub(crate) struct Sm2Key {
    key: credex_gm::Sm2SigningKey,
    /// SEC1 uncompressed point.
    public: Vec<u8>,
    /// DER SubjectPublicKeyInfo: `id-ecPublicKey`, the SM2 curve, the point.
    spki: Vec<u8>,
}

impl Sm2Key {
    fn new(key: credex_gm::Sm2SigningKey) -> Result<Self, der::Error> {
        let public = key.public_key();
        let spki = subject_public_key_info(&public)?;
        Ok(Sm2Key { key, public, spki })
    }
}

impl CertKey {
    /// A new key pair of `alg`, from the system random generator.
    pub(crate) fn generate(alg: KeyAlgorithm) -> Result<Self, IssueError> {
        let ring_alg = match alg {
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::Sm2 => return generate_sm2(&SystemRandom::new()),
        };
        KeyPair::generate_for(ring_alg)
            .map(CertKey::Ring)
            .map_err(|e| IssueError::KeyGeneration(e.to_string()))
    }

    /// A CA key from PKCS#8 PEM (`PRIVATE KEY`): Ed25519 or P-256 as rcgen
    /// reads them, or SM2 (`id-ecPublicKey` on the SM2 curve, as
    /// `openssl genpkey -algorithm SM2` writes it). `None` for anything else.
    pub(crate) fn from_pem(key_pem: &str) -> Option<Self> {
        if let Ok(key) = KeyPair::from_pem(key_pem) {
            let supported = key.algorithm() == &rcgen::PKCS_ED25519
                || key.algorithm() == &rcgen::PKCS_ECDSA_P256_SHA256;
            return supported.then_some(CertKey::Ring(key));
        }
        let pem = pem::parse(key_pem).ok()?;
        if pem.tag() != "PRIVATE KEY" {
            return None;
        }
        let key =
            credex_gm::Sm2SigningKey::from_pkcs8_der(credex_gm::DEFAULT_ID, pem.contents()).ok()?;
        Sm2Key::new(key).ok().map(CertKey::Sm2)
    }

    /// A CA key held by `key`'s device; `None` unless it is Ed25519 or
    /// ECDSA P-256.
    pub(crate) fn in_device(key: std::sync::Arc<dyn crate::signing::DeviceKey>) -> Option<Self> {
        let alg = match key.algorithm() {
            SignatureAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
            SignatureAlgorithm::EcdsaP256Sha256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            _ => return None,
        };
        Some(CertKey::Device(DeviceCertKey { key, alg }))
    }

    /// Whether this is an SM2 key.
    pub(crate) fn is_sm2(&self) -> bool {
        matches!(self, CertKey::Sm2(_))
    }

    /// The raw public key, as a certificate's subjectPublicKey holds it.
    pub(crate) fn public_key_raw(&self) -> &[u8] {
        self.der_bytes()
    }

    /// The private key as PKCS#8 v1 PEM that OpenSSL 3 reads (decision 0610).
    pub(crate) fn private_key_pem(&self) -> String {
        match self {
            CertKey::Ring(key) => crate::key_file::private_key_pem(&key.serialize_der()),
            CertKey::Sm2(key) => crate::key_file::private_key_pem(&key.key.to_pkcs8_der()),
            // Only newly generated keys are written out (`issue::issued`);
            // a device key never is.
            CertKey::Device(_) => String::new(),
        }
    }
}

/// An SM2 key from 32 random bytes, drawn again in the rare case they are
/// not a valid scalar.
fn generate_sm2(rng: &SystemRandom) -> Result<CertKey, IssueError> {
    let mut scalar = [0u8; 32];
    for _ in 0..SM2_KEYGEN_ATTEMPTS {
        rng.fill(&mut scalar).map_err(|_| IssueError::Random)?;
        let key = credex_gm::Sm2SigningKey::new(credex_gm::DEFAULT_ID, &scalar);
        scalar.fill(0);
        if let Ok(key) = key {
            return Sm2Key::new(key)
                .map(CertKey::Sm2)
                .map_err(|e| IssueError::KeyGeneration(e.to_string()));
        }
    }
    Err(IssueError::KeyGeneration(
        "no valid SM2 scalar from the random generator".to_owned(),
    ))
}

impl rcgen::PublicKeyData for CertKey {
    fn der_bytes(&self) -> &[u8] {
        match self {
            CertKey::Ring(key) => key.der_bytes(),
            CertKey::Sm2(key) => &key.public,
            CertKey::Device(key) => key.key.public_key(),
        }
    }

    /// For SM2, P-256 as a stand-in: rcgen knows no SM2 identifiers, and
    /// [`crate::sm2_x509`] replaces them in what rcgen wrote.
    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            CertKey::Ring(key) => key.algorithm(),
            CertKey::Sm2(_) => &rcgen::PKCS_ECDSA_P256_SHA256,
            CertKey::Device(key) => key.alg,
        }
    }

    /// The true SubjectPublicKeyInfo (rcgen derives key identifiers from it).
    fn subject_public_key_info(&self) -> Vec<u8> {
        match self {
            CertKey::Ring(key) => key.subject_public_key_info(),
            CertKey::Sm2(key) => key.spki.clone(),
            CertKey::Device(key) => key.subject_public_key_info(),
        }
    }
}

impl rcgen::SigningKey for CertKey {
    /// Ed25519, ECDSA (DER) or SM2-with-SM3 (DER `r, s`, default identity).
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        match self {
            CertKey::Ring(key) => rcgen::SigningKey::sign(key, msg),
            CertKey::Sm2(key) => Ok(key.key.sign_der(msg)),
            CertKey::Device(key) => key.key.sign(msg).map_err(|_| rcgen::Error::RemoteKeyError),
        }
    }
}
