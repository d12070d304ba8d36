//! Gateway fixtures: client certificates issued by a region CA, a node
//! started with its gateway, and a connection presenting a certificate.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use credex_kit::gateway_client::{ClientFiles, GatewayClient, GatewayResponse};
use credex_node::config::GatewayConfig;
use credex_node::pki_files::IssuedFiles;
use credex_node::service::RunningNode;
use credex_pki::{GatewayRoles, KeyAlgorithm};

use crate::Federation;

/// The region whose node serves the gateway in these tests.
pub const GUIZHOU: &str = "520000";

/// Issue a gateway client certificate from `region`'s CA into the federation.
pub fn client(fed: &Federation, region: &str, name: &str, roles: &str) -> IssuedFiles {
    let out = fed.path().join("clients").join(region);
    std::fs::create_dir_all(&out).unwrap();
    fed.ca(region)
        .issue_client(
            &name.parse().unwrap(),
            GatewayRoles::parse_list(roles).unwrap(),
            KeyAlgorithm::Ed25519,
            30,
            &out,
        )
        .unwrap()
}

/// Start gy-1 (Guizhou) with a gateway on an ephemeral loopback port.
pub async fn start_with_gateway(fed: &Federation) -> RunningNode {
    let mut config = fed.config("gy-1");
    config.gateway = Some(GatewayConfig::on("127.0.0.1:0".parse().unwrap()));
    fed.start_with(config).await
}

/// The gateway's bound address.
pub fn gateway_addr(node: &RunningNode) -> SocketAddr {
    node.gateway().expect("gateway configured").local_addr()
}

/// The federation root certificate file.
pub fn root(fed: &Federation) -> PathBuf {
    fed.root().cert_path()
}

/// Connect to `node`'s gateway with the client certificate `cert`/`key`.
pub async fn connect(
    fed: &Federation,
    node: &RunningNode,
    cert: &Path,
    key: &Path,
) -> Result<GatewayClient, String> {
    let root = root(fed);
    let files = ClientFiles {
        cert,
        key,
        root: &root,
    };
    GatewayClient::connect(gateway_addr(node), &files, node.config().region)
        .await
        .map_err(|e| e.to_string())
}

/// Connect and make one call: a refused client certificate shows on the
/// first response at the latest (TLS 1.3 sends the client's certificate
/// after the server's handshake is done).
pub async fn whoami(
    fed: &Federation,
    node: &RunningNode,
    cert: &Path,
    key: &Path,
) -> Result<GatewayResponse, String> {
    let mut c = connect(fed, node, cert, key).await?;
    c.get("/v1/whoami").await.map_err(|e| e.to_string())
}

/// Connect with an issued client's files.
pub async fn connect_as(fed: &Federation, node: &RunningNode, who: &IssuedFiles) -> GatewayClient {
    connect(fed, node, &who.cert, &who.key)
        .await
        .unwrap_or_else(|e| panic!("{} cannot connect: {e}", who.identity.subject))
}
