//! Console fixtures: a node started with its web console, a browser-like
//! HTTPS connection to it (verifies the node, presents no certificate),
//! and the console's origin.

#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use credex_kit::gateway_client::GatewayClient;
use credex_node::config::{ConsoleConfig, WebIdentityFiles};
use credex_node::service::RunningNode;
use credex_pki::KeyAlgorithm;

use crate::Federation;

/// Start gy-1 (Guizhou) with its console on an ephemeral loopback port,
/// serving a P-256 web certificate (browsers refuse Ed25519 servers).
pub async fn start_with_console(fed: &Federation) -> RunningNode {
    let mut config = fed.config("gy-1");
    config.console = Some(console_config(fed));
    fed.start_with(config).await
}

/// A console on an ephemeral loopback port with a P-256 web certificate
/// for `localhost` and 127.0.0.1, issued by Guizhou's CA.
pub fn console_config(fed: &Federation) -> ConsoleConfig {
    console_config_of(fed, "520000", "gy-1-console")
}

/// [`console_config`] for `region`'s node, the web certificate named
/// `name` and issued by that region's CA.
pub fn console_config_of(fed: &Federation, region: &str, name: &str) -> ConsoleConfig {
    let dir = fed.path().join(format!("console/{region}"));
    let issued = fed
        .ca(region)
        .issue_node(
            &name.parse().unwrap(),
            &["localhost".to_owned()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            KeyAlgorithm::EcdsaP256,
            30,
            &dir,
        )
        .unwrap();
    let mut config = ConsoleConfig::on("127.0.0.1:0".parse().unwrap());
    config.web_identity = Some(WebIdentityFiles {
        certificate: issued.cert,
        key: issued.key,
    });
    config
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

/// Guangdong with its sample records, and Guizhou with its console,
/// knowing where Guangdong listens.
pub async fn guizhou_with_console_and_guangdong(fed: &Federation) -> (RunningNode, RunningNode) {
    guizhou_with_console_and_guangdong_as(fed, |_| {}).await
}

/// [`guizhou_with_console_and_guangdong`], with Guizhou's configuration
/// changed by `adjust` before it starts.
pub async fn guizhou_with_console_and_guangdong_as(
    fed: &Federation,
    adjust: impl FnOnce(&mut credex_node::config::NodeConfig),
) -> (RunningNode, RunningNode) {
    let gz = fed.start("gz-1").await;
    crate::import_samples(fed, &gz, "440000").await;
    let mut config = fed.config("gy-1");
    config.console = Some(console_config(fed));
    adjust(&mut config);
    for peer in &mut config.peers {
        if peer.name.as_str() == "gz-1" {
            peer.addr = gz.local_addr();
        }
    }
    let gy = fed.start_with(config).await;
    (gy, gz)
}
