//! The gateway's TLS: the node's own certificate as the server, TLS 1.3
//! only, ALPN `http/1.1`, no session tickets or cache (a resumed session
//! would skip the client-certificate check), and a client verifier that
//! admits only gateway clients of this node's own region.

use std::sync::Arc;

use credex_pki::{Purpose, Subject, VerifiedCert};
use credex_protocol::RegionCode;
use rustls::DistinguishedName;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::server::NoServerSessionStorage;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls_pki_types::{CertificateDer, UnixTime};

use crate::tls::{FederationTrust, provider, tls13_handshake_signatures};

/// The ALPN protocol the gateway speaks.
pub const ALPN_HTTP1: &[u8] = b"http/1.1";

/// A client certificate the gateway refuses although its chain is sound.
#[derive(Debug, thiserror::Error)]
#[error(
    "gateway of region {gateway_region} serves only its own region's clients; the certificate is for {found}"
)]
pub struct ForeignClient {
    /// This node's region.
    pub gateway_region: RegionCode,
    /// What the certificate names.
    pub found: String,
}

/// Server-side verifier of gateway client certificates: the chain must reach
/// the federation root through the leaf's own region CA, must not be revoked
/// (CRLs of the [`FederationTrust`] in force at the handshake), the leaf must
/// be a gateway client certificate (`urn:credex:client:…`, clientAuth), and
/// its region must be this node's. A node, operator or authority
/// certificate, or another region's client, fails the handshake.
#[derive(Debug)]
pub struct GatewayClientVerifier {
    trust: FederationTrust,
    region: RegionCode,
    algorithms: WebPkiSupportedAlgorithms,
}

impl GatewayClientVerifier {
    /// A verifier for the gateway of a node of `region`, reading `trust`.
    pub fn new(trust: FederationTrust, region: RegionCode) -> Self {
        GatewayClientVerifier {
            trust,
            region,
            algorithms: provider().signature_verification_algorithms,
        }
    }

    /// The checks of the handshake, for a chain already presented (the
    /// listener re-runs them on live connections after a CRL reload).
    pub fn verify(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<VerifiedCert, rustls::Error> {
        let verified = self
            .trust
            .verify_node(end_entity, intermediates, now, Purpose::GatewayClient)
            .map_err(|e| other(Arc::new(e)))?;
        match &verified.identity().subject {
            Subject::Client { region, .. } if *region == self.region => Ok(verified),
            found => Err(other(Arc::new(ForeignClient {
                gateway_region: self.region,
                found: found.to_string(),
            }))),
        }
    }
}

fn other(e: Arc<dyn std::error::Error + Send + Sync>) -> rustls::Error {
    rustls::Error::InvalidCertificate(rustls::CertificateError::Other(rustls::OtherError(e)))
}

impl ClientCertVerifier for GatewayClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        match self.verify(end_entity, intermediates, now) {
            Ok(_) => Ok(ClientCertVerified::assertion()),
            Err(e) => {
                tracing::warn!(error = %e, "gateway refused a client certificate");
                Err(e)
            }
        }
    }

    tls13_handshake_signatures!();
}

/// An HTTPS listener's server configuration: `chain` and `key` (the
/// node's, or the console's web certificate), TLS
/// 1.3, ALPN `http/1.1`, client certificates checked by `clients` (none
/// asked for when `None`: the console's browsers), no session tickets or
/// cache (a resumed session would skip the client check), no early data.
pub fn https_server_config(
    chain: Vec<CertificateDer<'static>>,
    key: &crate::tls::NodeKey,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> Result<rustls::ServerConfig, rustls::Error> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = crate::tls::server_with_key(builder, chain, key)?;
    config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
    config.send_tls13_tickets = 0;
    config.session_storage = Arc::new(NoServerSessionStorage {});
    config.max_early_data_size = 0;
    Ok(config)
}
