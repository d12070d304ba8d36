//! Signatures inside messages: requests, approvals, authorizations,
//! receipts, checkpoints.
//!
//! Every signature is made over a domain-separation tag and the message:
//!
//! ```text
//! signed bytes = len(domain) as one byte || domain || message
//! ```
//!
//! The domain names what is being signed (e.g. `credex/request/v1`), 1–255
//! bytes, so a signature over one kind of object can never be replayed as a
//! signature over another kind with the same bytes. The length prefix makes
//! the split between domain and message unambiguous.
//!
//! A [`Signature`] carries its [`SignatureAlgorithm`]; verification checks
//! that it matches the signer's key type before anything else.

use std::fmt;
use std::sync::OnceLock;

use credex_protocol::SignatureAlgorithm;
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, ED25519, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _, UnparsedPublicKey,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use rustls_pki_types::pem::PemObject;
use x509_parser::asn1_rs::Oid;
use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};

/// Longest domain-separation tag (its length is encoded in one byte).
pub const MAX_DOMAIN_LEN: usize = 255;

/// The named curve of SM2 keys (GM/T 0006: `sm2p256v1`).
const OID_SM2_CURVE: &str = "1.2.156.10197.1.301";

pub use credex_protocol::Signature;

/// Why a private key could not be loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The PEM text is malformed.
    #[error("malformed key PEM: {0}")]
    Pem(String),
    /// The PEM text has no `PRIVATE KEY` (PKCS#8) section.
    #[error("no PKCS#8 \"PRIVATE KEY\" section in the key PEM")]
    NotPkcs8,
    /// The key is not an Ed25519, ECDSA P-256 or SM2 key, or is corrupt.
    #[error("key is not a valid PKCS#8 Ed25519, ECDSA P-256 or SM2 private key")]
    Unsupported,
    /// The key does not belong to the given certificate.
    #[error("private key does not belong to the certificate")]
    CertificateMismatch,
    /// The certificate's public key could not be read.
    #[error("certificate: {0}")]
    Certificate(String),
}

/// Why a signature could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The domain tag is empty or longer than [`MAX_DOMAIN_LEN`].
    #[error("domain tag is {0} bytes; it must be 1-{MAX_DOMAIN_LEN}")]
    BadDomainLength(usize),
    /// ECDSA needs fresh randomness and the system generator failed.
    #[error("the system random number generator failed while signing")]
    Random,
    /// The device holding the key (a hardware security module) failed to
    /// sign (decision 1090).
    #[error("the key's device failed to sign: {0}")]
    Device(String),
}

/// A private key held by a device that signs the bytes it is given and
/// never hands the key out: a PKCS#11 token (`module_key::ModuleKey`,
/// with the `pkcs11` feature) or, one day, a GM/T 0018 cipher machine
/// (decision 1090). [`SigningKey::in_device`] frames message signatures
/// over it; the node also signs TLS handshakes and checkpoints with it.
pub trait DeviceKey: fmt::Debug + Send + Sync {
    /// The algorithm its signatures carry.
    fn algorithm(&self) -> SignatureAlgorithm;
    /// The raw public key, as a certificate's subjectPublicKey holds it:
    /// 32 bytes (Ed25519), an uncompressed SEC1 point (P-256, SM2).
    fn public_key(&self) -> &[u8];
    /// A signature over exactly `message`, encoded as credex carries it
    /// for [`DeviceKey::algorithm`]: 64 bytes for Ed25519, DER for ECDSA
    /// P-256, `r || s` for SM2 (GM/T 0009 default identity).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, DeviceError>;
    /// Where the key is, for messages (e.g. `key "gz-1" in token "credex-gz" of …`).
    fn location(&self) -> String;
}

/// Why a device failed to sign (its own words).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(pub String);

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signer's certificate could not be read.
    #[error("signer certificate is unreadable: {0}")]
    Certificate(String),
    /// The signer's key is not Ed25519, ECDSA P-256 or SM2.
    #[error("signer certificate's key is not Ed25519, ECDSA P-256 or SM2")]
    UnsupportedKey,
    /// The signature's algorithm is not of the federation's crypto suite
    /// (a signature of the other suite: a mixed federation is refused).
    #[error("a {algorithm:?} signature is not of this federation's crypto suite {suite}")]
    OutsideSuite {
        /// The signature's algorithm.
        algorithm: credex_protocol::SignatureAlgorithm,
        /// The federation's suite.
        suite: credex_protocol::Suite,
    },
    /// The signature's algorithm is not one this build verifies.
    #[error("signature algorithm {0:?} is not supported")]
    UnsupportedAlgorithm(SignatureAlgorithm),
    /// The signature's algorithm does not match the signer's key type.
    #[error("signature says {signature:?} but the signer's key is {key:?}")]
    AlgorithmMismatch {
        /// What the signature claims.
        signature: SignatureAlgorithm,
        /// What the key is.
        key: SignatureAlgorithm,
    },
    /// The domain tag is empty or longer than [`MAX_DOMAIN_LEN`].
    #[error("domain tag is {0} bytes; it must be 1-{MAX_DOMAIN_LEN}")]
    BadDomainLength(usize),
    /// The signature does not verify over this domain and message with the
    /// signer's key.
    #[error("signature does not verify for this message, domain and signer")]
    Invalid,
}

enum KeyInner {
    Ed25519(Ed25519KeyPair),
    EcdsaP256(EcdsaKeyPair),
    Sm2 {
        key: credex_gm::Sm2SigningKey,
        public: Vec<u8>,
    },
    /// A key inside a device (a PKCS#11 token; decision 1090).
    Device(std::sync::Arc<dyn DeviceKey>),
}

/// A private key that signs messages (an operator's, an authority's or a
/// node's). `Debug` does not print the key.
pub struct SigningKey {
    inner: KeyInner,
    rng: SystemRandom,
    /// The first certificate [`SigningKey::check_matches_certificate`]
    /// found to hold this key: the node checks its one certificate before
    /// every signature, and reads it once.
    matched: OnceLock<Vec<u8>>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("algorithm", &self.algorithm())
            .field("public_key", &hex::encode(self.public_key()))
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Load a PKCS#8 PEM (`PRIVATE KEY`) Ed25519, ECDSA P-256 or SM2 key;
    /// the type is detected.
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self, KeyError> {
        let der = PrivatePkcs8KeyDer::pem_slice_iter(pem.as_bytes())
            .next()
            .ok_or(KeyError::NotPkcs8)?
            .map_err(|e| KeyError::Pem(e.to_string()))?;
        Self::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// A key that stays inside its device (a PKCS#11 token): every
    /// signature is made there, over the framed bytes (decision 1090). The
    /// same key may also sign the node's TLS handshakes and checkpoints.
    pub fn in_device(key: std::sync::Arc<dyn DeviceKey>) -> Self {
        SigningKey {
            inner: KeyInner::Device(key),
            rng: SystemRandom::new(),
            matched: OnceLock::new(),
        }
    }

    /// An SM2 key (`sm2-sm3` suite) from its 32-byte private scalar,
    /// signing with the default identity of GM/T 0009.
    pub fn sm2_from_scalar(private: &[u8]) -> Result<Self, KeyError> {
        let key = credex_gm::Sm2SigningKey::new(credex_gm::DEFAULT_ID, private)
            .map_err(|_| KeyError::Unsupported)?;
        let public = key.public_key();
        Ok(SigningKey {
            inner: KeyInner::Sm2 { key, public },
            rng: SystemRandom::new(),
            matched: OnceLock::new(),
        })
    }

    /// Load a PKCS#8 DER Ed25519, ECDSA P-256 or SM2 key (`id-ecPublicKey`
    /// on the SM2 curve, as OpenSSL 3 and credex write it; it signs with the
    /// default identity of GM/T 0009); the type is detected.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let inner = if let Ok(key) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            KeyInner::Ed25519(key)
        } else if let Ok(key) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng)
        {
            KeyInner::EcdsaP256(key)
        } else if let Ok(key) = credex_gm::Sm2SigningKey::from_pkcs8_der(credex_gm::DEFAULT_ID, der)
        {
            let public = key.public_key();
            KeyInner::Sm2 { key, public }
        } else {
            return Err(KeyError::Unsupported);
        };
        Ok(SigningKey {
            inner,
            rng,
            matched: OnceLock::new(),
        })
    }

    /// The algorithm identifier this key's signatures carry.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        match &self.inner {
            KeyInner::Ed25519(_) => SignatureAlgorithm::Ed25519,
            KeyInner::EcdsaP256(_) => SignatureAlgorithm::EcdsaP256Sha256,
            KeyInner::Sm2 { .. } => SignatureAlgorithm::Sm2Sm3,
            KeyInner::Device(key) => key.algorithm(),
        }
    }

    /// The raw public key (32 bytes for Ed25519, an uncompressed point for
    /// P-256 and SM2), as a certificate's subjectPublicKey holds it.
    pub fn public_key(&self) -> &[u8] {
        match &self.inner {
            KeyInner::Ed25519(key) => key.public_key().as_ref(),
            KeyInner::EcdsaP256(key) => key.public_key().as_ref(),
            KeyInner::Sm2 { public, .. } => public,
            KeyInner::Device(key) => key.public_key(),
        }
    }

    /// Check that this key belongs to the certificate `cert_der` (e.g. when
    /// a node loads its key and certificate files).
    pub fn check_matches_certificate(&self, cert_der: &[u8]) -> Result<(), KeyError> {
        if self.matched.get().is_some_and(|m| m.as_slice() == cert_der) {
            return Ok(());
        }
        let key = VerifyingKey::from_certificate_der(cert_der)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        if key.algorithm == self.algorithm() && key.public_key == self.public_key() {
            let _ = self.matched.set(cert_der.to_vec());
            Ok(())
        } else {
            Err(KeyError::CertificateMismatch)
        }
    }

    /// Sign `message` under the domain-separation tag `domain` (1–255
    /// bytes; see the module docs for the exact bytes signed).
    pub fn sign(&self, domain: &[u8], message: &[u8]) -> Result<Signature, SignError> {
        let signed =
            signed_bytes(domain, message).ok_or(SignError::BadDomainLength(domain.len()))?;
        let bytes = match &self.inner {
            KeyInner::Ed25519(key) => key.sign(&signed).as_ref().to_vec(),
            KeyInner::EcdsaP256(key) => key
                .sign(&self.rng, &signed)
                .map_err(|_| SignError::Random)?
                .as_ref()
                .to_vec(),
            KeyInner::Sm2 { key, .. } => key.sign(&signed).to_vec(),
            KeyInner::Device(key) => key
                .sign(&signed)
                .map_err(|e| SignError::Device(e.to_string()))?,
        };
        Ok(Signature {
            algorithm: self.algorithm(),
            bytes,
        })
    }
}

/// A signer's public key, taken from its certificate. Build once and keep
/// it to verify many signatures by the same signer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyingKey {
    algorithm: SignatureAlgorithm,
    public_key: Vec<u8>,
}

impl VerifyingKey {
    /// The public key of the certificate `cert_der`, which must be Ed25519,
    /// ECDSA P-256 or SM2. This reads the key; it does not verify the
    /// certificate (use [`TrustStore::verify`](crate::TrustStore::verify)).
    pub fn from_certificate_der(cert_der: &[u8]) -> Result<Self, SignatureError> {
        if cert_der.len() > crate::identity::MAX_CERT_LEN {
            return Err(SignatureError::Certificate(format!(
                "{} bytes is too large",
                cert_der.len()
            )));
        }
        let (rest, cert) = x509_parser::parse_x509_certificate(cert_der)
            .map_err(|e| SignatureError::Certificate(e.to_string()))?;
        if !rest.is_empty() {
            return Err(SignatureError::Certificate(format!(
                "{} trailing bytes",
                rest.len()
            )));
        }
        let spki = cert.public_key();
        // An elliptic-curve key names its curve in the parameters.
        let curve = (spki.algorithm.algorithm == OID_KEY_TYPE_EC_PUBLIC_KEY)
            .then(|| {
                spki.algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| Oid::try_from(p).ok())
            })
            .flatten();
        let algorithm = match curve {
            _ if spki.algorithm.algorithm == OID_SIG_ED25519 => SignatureAlgorithm::Ed25519,
            Some(c) if c == OID_EC_P256 => SignatureAlgorithm::EcdsaP256Sha256,
            Some(c) if c.to_id_string() == OID_SM2_CURVE => SignatureAlgorithm::Sm2Sm3,
            _ => return Err(SignatureError::UnsupportedKey),
        };
        Ok(VerifyingKey {
            algorithm,
            public_key: spki.subject_public_key.data.to_vec(),
        })
    }

    /// The algorithm signatures by this key must carry.
    pub fn algorithm(&self) -> SignatureAlgorithm {
        self.algorithm
    }

    /// An SM2 public key (SEC1 point on the recommended curve).
    pub fn sm2(public_key: &[u8]) -> VerifyingKey {
        VerifyingKey {
            algorithm: SignatureAlgorithm::Sm2Sm3,
            public_key: public_key.to_vec(),
        }
    }

    /// Verify `signature` over `domain` and `message`.
    pub fn verify(
        &self,
        domain: &[u8],
        message: &[u8],
        signature: &Signature,
    ) -> Result<(), SignatureError> {
        if signature.algorithm != self.algorithm {
            return Err(SignatureError::AlgorithmMismatch {
                signature: signature.algorithm,
                key: self.algorithm,
            });
        }
        let signed =
            signed_bytes(domain, message).ok_or(SignatureError::BadDomainLength(domain.len()))?;
        let ring_alg: &'static dyn ring::signature::VerificationAlgorithm =
            match signature.algorithm {
                SignatureAlgorithm::Ed25519 => &ED25519,
                SignatureAlgorithm::EcdsaP256Sha256 => &ECDSA_P256_SHA256_ASN1,
                SignatureAlgorithm::Sm2Sm3 => {
                    return credex_gm::sm2_verify(
                        credex_gm::DEFAULT_ID,
                        &self.public_key,
                        &signed,
                        &signature.bytes,
                    )
                    .map_err(|_| SignatureError::Invalid);
                }
                other => return Err(SignatureError::UnsupportedAlgorithm(other)),
            };
        UnparsedPublicKey::new(ring_alg, &self.public_key)
            .verify(&signed, &signature.bytes)
            .map_err(|_| SignatureError::Invalid)
    }

    /// The raw public key: 32 bytes for Ed25519, the uncompressed SEC1
    /// point for P-256.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }
}

/// Verify that `signature` over `domain` and `message` was made by the key
/// of the certificate `cert_der`.
///
/// This checks the signature only; verify the certificate itself with
/// [`TrustStore::verify`](crate::TrustStore::verify) and [`Purpose::Signing`](crate::Purpose::Signing).
pub fn verify_signature(
    cert_der: &[u8],
    domain: &[u8],
    message: &[u8],
    signature: &Signature,
) -> Result<(), SignatureError> {
    VerifyingKey::from_certificate_der(cert_der)?.verify(domain, message, signature)
}

/// The exact bytes a signature under `domain` covers:
/// `len(domain) || domain || message`, or `None` if the domain length is
/// outside 1–255. What a client that signs outside credex (an officer's
/// browser, a region system's HSM) must sign.
pub fn signed_bytes(domain: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    let len = u8::try_from(domain.len()).ok().filter(|&n| n > 0)?;
    let mut bytes = Vec::with_capacity(1 + domain.len() + message.len());
    bytes.push(len);
    bytes.extend_from_slice(domain);
    bytes.extend_from_slice(message);
    Some(bytes)
}
