//! TLS for the federation: rustls configurations (ring provider, TLS 1.3
//! only, ALPN `credex/1`, mandatory client certificates, no resumption, no
//! 0-RTT) and the two certificate verifiers that enforce credex identities.
//!
//! Both verifiers read the federation trust (root + CRLs) through a
//! [`FederationTrust`] handle whose contents can be swapped while the node
//! runs, so a CRL reload takes effect for the next handshake; closing the
//! live connections of a revoked peer is the transport's job.

use std::fmt;
use std::sync::{Arc, RwLock};

use credex_pki::{CertIdentity, Purpose, Subject, TrustStore, VerifiedCert, VerifyError};
use credex_protocol::{ALPN, NodeName, RegionCode};
use rustls::DistinguishedName;
use rustls::client::danger::{ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::server::NoServerSessionStorage;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

pub mod device_key;

/// The handshake-signature methods every credex verifier shares: TLS 1.2
/// refused, TLS 1.3 signatures checked with ring's algorithms in
/// `self.algorithms`.
macro_rules! tls13_handshake_signatures {
    () => {
        fn verify_tls12_signature(
            &self,
            _message: &[u8],
            _cert: &rustls_pki_types::CertificateDer<'_>,
            _dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::PeerIncompatible(
                rustls::PeerIncompatible::Tls12NotOffered,
            ))
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &rustls_pki_types::CertificateDer<'_>,
            dss: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.algorithms.supported_schemes()
        }
    };
}
pub(crate) use tls13_handshake_signatures;

/// The crypto provider every credex TLS configuration is built with: ring.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The federation's trust anchor and current CRLs, swappable at run time.
#[derive(Clone)]
pub struct FederationTrust {
    inner: Arc<RwLock<Arc<TrustStore>>>,
}

impl fmt::Debug for FederationTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("FederationTrust")
    }
}

impl FederationTrust {
    /// Wrap a trust store.
    pub fn new(store: TrustStore) -> Self {
        FederationTrust {
            inner: Arc::new(RwLock::new(Arc::new(store))),
        }
    }

    /// The store in force now.
    pub fn current(&self) -> Arc<TrustStore> {
        // A poisoned lock only means a writer panicked mid-swap; the Arc it
        // holds is still a complete store.
        match self.inner.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Replace the store; handshakes from now on use the new one.
    pub fn replace(&self, store: TrustStore) {
        let store = Arc::new(store);
        match self.inner.write() {
            Ok(mut g) => *g = store,
            Err(p) => *p.into_inner() = store,
        }
    }

    /// Verify a peer node's chain for `purpose` with the store in force now.
    pub fn verify_node(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
        purpose: Purpose,
    ) -> Result<VerifiedCert, VerifyError> {
        self.current()
            .verify(end_entity, intermediates, now, purpose)
    }
}

fn tls_error(e: VerifyError) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(
        Arc::new(e),
    )))
}

/// Server-side verifier of client certificates: the chain must reach the
/// federation root through a region CA of the leaf's own region, must not be
/// revoked, and the leaf must be a node certificate.
#[derive(Debug)]
pub struct NodeClientVerifier {
    trust: FederationTrust,
    algorithms: WebPkiSupportedAlgorithms,
}

impl NodeClientVerifier {
    /// A verifier reading `trust`.
    pub fn new(trust: FederationTrust) -> Self {
        NodeClientVerifier {
            trust,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ClientCertVerifier for NodeClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        let verified = self
            .trust
            .verify_node(end_entity, intermediates, now, Purpose::TlsClient)
            .map_err(|e| {
                tracing::warn!(error = %e, "refused client certificate");
                tls_error(e)
            })?;
        tracing::debug!(peer = %verified.identity().subject.to_string(), "client certificate verified");
        Ok(ClientCertVerified::assertion())
    }

    tls13_handshake_signatures!();
}

/// Client-side verifier of a server certificate: the federation chain rules
/// of [`NodeClientVerifier`], plus the server must be the node that was
/// dialled — its certificate must name the expected region (and node name).
#[derive(Debug)]
pub struct DialedNodeVerifier {
    trust: FederationTrust,
    region: RegionCode,
    name: Option<NodeName>,
    algorithms: WebPkiSupportedAlgorithms,
}

/// The server's certificate names another node than the one dialled.
#[derive(Debug, thiserror::Error)]
#[error("dialled {expected}, but the server's certificate is for {found}")]
pub struct WrongServer {
    /// What the client dialled, e.g. `node cq-1 of region 500000`.
    pub expected: String,
    /// What the certificate names.
    pub found: String,
}

impl DialedNodeVerifier {
    /// A verifier that accepts only a node of `region` (named `name`, if given).
    pub fn new(trust: FederationTrust, region: RegionCode, name: Option<NodeName>) -> Self {
        DialedNodeVerifier {
            trust,
            region,
            name,
            algorithms: provider().signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for DialedNodeVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // The server name is only the SNI label; identity is checked on the
        // credex URI in the certificate, which binds region and node name.
        let verified = self
            .trust
            .verify_node(end_entity, intermediates, now, Purpose::TlsServer)
            .map_err(tls_error)?;
        let ok = match &verified.identity().subject {
            Subject::Node { region, name } => {
                *region == self.region && self.name.as_ref().is_none_or(|n| n == name)
            }
            _ => false,
        };
        if !ok {
            let expected = match &self.name {
                Some(n) => format!("node {n} of region {}", self.region),
                None => format!("a node of region {}", self.region),
            };
            let found = verified.identity().subject.to_string();
            tracing::warn!(%expected, %found, "server certificate names another node");
            return Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::Other(rustls::OtherError(Arc::new(WrongServer {
                    expected,
                    found,
                }))),
            ));
        }
        Ok(ServerCertVerified::assertion())
    }

    tls13_handshake_signatures!();
}

/// This node's certificate chain and key, as rustls wants them.
pub struct NodeCredentials {
    /// Leaf first, then the region CA.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: NodeKey,
    /// The identity the leaf binds.
    pub identity: CertIdentity,
}

impl fmt::Debug for NodeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeCredentials")
            .field("identity", &self.identity.subject.to_string())
            .field("chain_len", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl Clone for NodeCredentials {
    fn clone(&self) -> Self {
        NodeCredentials {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            identity: self.identity.clone(),
        }
    }
}

/// A node's TLS private key: a PKCS#8 file's, or a key that stays in a
/// hardware security module (decision 1090).
pub enum NodeKey {
    /// Read from the key file.
    File(PrivateKeyDer<'static>),
    /// Inside a device (a PKCS#11 token), which signs every handshake.
    Device(Arc<dyn credex_pki::signing::DeviceKey>),
}

impl NodeKey {
    /// Another handle on the same key.
    pub fn clone_key(&self) -> NodeKey {
        match self {
            NodeKey::File(der) => NodeKey::File(der.clone_key()),
            NodeKey::Device(key) => NodeKey::Device(Arc::clone(key)),
        }
    }
}

impl From<PrivateKeyDer<'static>> for NodeKey {
    fn from(der: PrivateKeyDer<'static>) -> Self {
        NodeKey::File(der)
    }
}

/// `builder` finished with `chain` and `key`: a file key as rustls loads
/// it, a device key through a resolver that signs in the device.
pub(crate) fn server_with_key(
    builder: rustls::ConfigBuilder<rustls::ServerConfig, rustls::server::WantsServerCert>,
    chain: Vec<CertificateDer<'static>>,
    key: &NodeKey,
) -> Result<rustls::ServerConfig, rustls::Error> {
    match key {
        NodeKey::File(der) => builder.with_single_cert(chain, der.clone_key()),
        NodeKey::Device(key) => Ok(builder.with_cert_resolver(device_key::resolver(chain, key)?)),
    }
}

/// Build the server TLS configuration: TLS 1.3 only, client certificates
/// required and checked by [`NodeClientVerifier`], no session tickets and no
/// server-side session cache (a resumed session would restore the client
/// certificate without calling the verifier), no 0-RTT.
pub fn server_config(
    creds: &NodeCredentials,
    trust: FederationTrust,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let config = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(Arc::new(NodeClientVerifier::new(trust)));
    let mut config = server_with_key(config, creds.chain.clone(), &creds.key)?;
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.max_early_data_size = 0;
    config.ignore_client_order = true;
    Ok(config)
}

/// Build the client TLS configuration used to dial a node of `region`
/// (named `name`, if given): TLS 1.3 only, this node's certificate as the
/// client certificate, no resumption, no early data.
pub fn client_config(
    creds: &NodeCredentials,
    trust: FederationTrust,
    region: RegionCode,
    name: Option<NodeName>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DialedNodeVerifier::new(trust, region, name)));
    let mut config = match &creds.key {
        NodeKey::File(der) => {
            builder.with_client_auth_cert(creds.chain.clone(), der.clone_key())?
        }
        NodeKey::Device(key) => {
            builder.with_client_cert_resolver(device_key::resolver(creds.chain.clone(), key)?)
        }
    };
    config.alpn_protocols = vec![ALPN.to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    config.enable_early_data = false;
    Ok(config)
}
