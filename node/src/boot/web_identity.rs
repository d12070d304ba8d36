//! The certificate and key an HTTPS listener shows its clients: `[console]`
//! or `[gateway]` `certificate` and `key` when set (a web server
//! certificate the officers' browsers or the region's systems trust, e.g.
//! from the intranet's CA), else the node's own.
//!
//! Browsers accept ECDSA and RSA server keys but not Ed25519, so a
//! federation of Ed25519 nodes needs one for its console (decision 0900).
//! Under `sm2-sm3` the node's chain is signed SM2-with-SM3, which neither
//! browsers nor OpenSSL's TLS clients verify, so its console and gateway
//! need one (decision 1080's amendment).

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::boot::StartError;
use crate::boot::{read_text, tls_file_error};
use crate::config::WebIdentityFiles;
use crate::tls::{NodeCredentials, NodeKey};

/// A served certificate chain and its key.
pub struct WebIdentity {
    /// Leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's key (the node's may be in a module, decision 1090).
    pub key: NodeKey,
}

impl WebIdentity {
    /// Load `files`, or take the node's credentials when there are none.
    pub fn load(
        files: Option<&WebIdentityFiles>,
        node: &NodeCredentials,
    ) -> Result<WebIdentity, StartError> {
        let Some(files) = files else {
            return Ok(WebIdentity {
                chain: node.chain.clone(),
                key: node.key.clone_key(),
            });
        };
        crate::file_modes::check_private(&files.key)?;
        let chain = CertificateDer::pem_slice_iter(read_text(&files.certificate)?.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                tls_file_error(&files.certificate, format!("not PEM certificates: {e}"))
            })?;
        if chain.is_empty() {
            return Err(tls_file_error(&files.certificate, "holds no certificate"));
        }
        let key = PrivateKeyDer::from_pem_slice(read_text(&files.key)?.as_bytes())
            .map_err(|e| tls_file_error(&files.key, format!("not a PEM private key: {e}")))?;
        Ok(WebIdentity {
            chain,
            key: NodeKey::File(key),
        })
    }

    /// The served (leaf) certificate, DER.
    pub fn leaf(&self) -> &[u8] {
        self.chain.first().map(|c| c.as_ref()).unwrap_or_default()
    }
}
