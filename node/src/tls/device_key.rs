//! The node's TLS key in a device — a hardware security module (decision
//! 1090): a rustls [`SigningKey`] whose handshake signatures the device
//! makes.
//!
//! Ed25519 keys sign `ed25519`, P-256 keys `ecdsa_secp256r1_sha256` (DER,
//! as [`DeviceKey::sign`] returns it and TLS carries it). A signature
//! blocks the calling thread for the device's round trip (about 0.13 ms
//! with SoftHSM2): one per handshake.

use std::sync::Arc;

use credex_pki::signing::DeviceKey;
use credex_protocol::SignatureAlgorithm as CredexAlgorithm;
use rustls::sign::{CertifiedKey, Signer, SigningKey, SingleCertAndKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer, alg_id};

/// A TLS key inside a device.
#[derive(Debug)]
pub struct DeviceTlsKey {
    key: Arc<dyn DeviceKey>,
    scheme: SignatureScheme,
}

impl DeviceTlsKey {
    /// The TLS key `key`, or `None` when its algorithm is not one TLS 1.3
    /// signs with here (Ed25519, ECDSA P-256).
    pub fn new(key: Arc<dyn DeviceKey>) -> Option<DeviceTlsKey> {
        let scheme = match key.algorithm() {
            CredexAlgorithm::Ed25519 => SignatureScheme::ED25519,
            CredexAlgorithm::EcdsaP256Sha256 => SignatureScheme::ECDSA_NISTP256_SHA256,
            _ => return None,
        };
        Some(DeviceTlsKey { key, scheme })
    }
}

impl SigningKey for DeviceTlsKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        offered.contains(&self.scheme).then(|| {
            Box::new(DeviceSigner {
                key: Arc::clone(&self.key),
                scheme: self.scheme,
            }) as Box<dyn Signer>
        })
    }

    fn public_key(&self) -> Option<SubjectPublicKeyInfoDer<'_>> {
        let algorithm = match self.scheme {
            SignatureScheme::ED25519 => alg_id::ED25519,
            _ => alg_id::ECDSA_P256,
        };
        Some(rustls::sign::public_key_to_spki(
            &algorithm,
            self.key.public_key(),
        ))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        match self.scheme {
            SignatureScheme::ED25519 => SignatureAlgorithm::ED25519,
            _ => SignatureAlgorithm::ECDSA,
        }
    }
}

#[derive(Debug)]
struct DeviceSigner {
    key: Arc<dyn DeviceKey>,
    scheme: SignatureScheme,
}

impl Signer for DeviceSigner {
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.key.sign(message).map_err(|e| {
            tracing::error!(error = %e, "the key's device failed to sign a TLS handshake");
            rustls::Error::General(format!("the key's device failed to sign: {e}"))
        })
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}

/// A certificate resolver (server and client side) that always presents
/// `chain` with the device key `key`.
pub(crate) fn resolver(
    chain: Vec<CertificateDer<'static>>,
    key: &Arc<dyn DeviceKey>,
) -> Result<Arc<SingleCertAndKey>, rustls::Error> {
    let signing = DeviceTlsKey::new(Arc::clone(key)).ok_or_else(|| {
        rustls::Error::General(format!(
            "the {} is {:?}; a TLS key must be Ed25519 or ECDSA P-256",
            key.location(),
            key.algorithm()
        ))
    })?;
    let certified = CertifiedKey::new(chain, Arc::new(signing));
    certified.keys_match()?;
    Ok(Arc::new(SingleCertAndKey::from(certified)))
}
