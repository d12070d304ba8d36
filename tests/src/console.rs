//! Console fixtures: a node started with its web console, a browser-like
//! HTTPS connection to it (verifies the node, presents no certificate),
//! and the console's origin.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use credex_kit::gateway_client::GatewayClient;
use credex_node::config::ConsoleConfig;
use credex_node::service::RunningNode;

use crate::Federation;

/// Start gy-1 (Guizhou) with its console on an ephemeral loopback port.
pub async fn start_with_console(fed: &Federation) -> RunningNode {
    let mut config = fed.config("gy-1");
    config.console = Some(ConsoleConfig::on("127.0.0.1:0".parse().unwrap()));
    fed.start_with(config).await
}

/// The console's origin as a browser on this machine names it.
pub fn origin(node: &RunningNode) -> String {
    format!(
        "https://127.0.0.1:{}",
        node.console()
            .expect("console configured")
            .local_addr()
            .port()
    )
}

/// A browser's TLS to `node`'s console: verifies the node, presents no
/// certificate.
pub async fn browser(fed: &Federation, node: &RunningNode) -> GatewayClient {
    let root = std::fs::read_to_string(fed.root().cert_path()).unwrap();
    let trust = credex_pki::TrustStore::from_pem(&root, &[]).unwrap();
    let mut tls = rustls::ClientConfig::builder_with_provider(credex_node::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(credex_node::tls::DialedNodeVerifier::new(
            credex_node::tls::FederationTrust::new(trust),
            node.config().region,
            None,
        )))
        .with_no_client_auth();
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    GatewayClient::connect_with(node.console().unwrap().local_addr(), tls)
        .await
        .unwrap()
}
