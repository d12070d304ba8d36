//! Fixtures for credex's workspace integration tests: a development
//! federation in a temporary directory, nodes started on loopback ports, and
//! helpers to play a misbehaving peer.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};
use std::time::Duration;

use credex_node::config::{NodeConfig, logical_server_name};
use credex_node::dev::{self, DevNode};
use credex_node::pki_files::CaDir;
use credex_node::service::RunningNode;
use credex_protocol::{NodeName, RegionCode};

/// Install a tracing subscriber once (respects `RUST_LOG`, quiet by default).
pub fn init_tracing() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
        let _ = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .try_init();
    });
}

/// A development federation (root, region CAs 520000/500000/440000/000000,
/// one node each) in a temporary directory.
pub struct Federation {
    dir: tempfile::TempDir,
    nodes: Vec<DevNode>,
}

impl Federation {
    /// Create it.
    pub fn new() -> Federation {
        init_tracing();
        let dir = tempfile::tempdir().expect("temporary directory");
        let nodes = dev::init(dir.path(), dev::DEV_BASE_PORT).expect("dev federation");
        Federation { dir, nodes }
    }

    /// The federation's directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The node named `name` (gy-1, cq-1, gz-1, national-1).
    pub fn node(&self, name: &str) -> &DevNode {
        self.nodes
            .iter()
            .find(|n| n.name.as_str() == name)
            .unwrap_or_else(|| panic!("no node {name} in the dev federation"))
    }

    /// The node's configuration, listening on an ephemeral loopback port.
    pub fn config(&self, name: &str) -> NodeConfig {
        let mut c = NodeConfig::load(&self.node(name).config).expect("dev config loads");
        c.listen.set_port(0);
        c
    }

    /// Start the node.
    pub async fn start(&self, name: &str) -> RunningNode {
        self.start_with(self.config(name)).await
    }

    /// Start a node with a modified configuration.
    pub async fn start_with(&self, config: NodeConfig) -> RunningNode {
        RunningNode::start(config).await.expect("node starts")
    }

    /// The root CA.
    pub fn root(&self) -> CaDir {
        CaDir::at(self.path().join("pki/root"))
    }

    /// The CA of a region.
    pub fn ca(&self, region: &str) -> CaDir {
        CaDir::at(self.path().join(format!("pki/{region}")))
    }

    /// The certificate chain file of a node.
    pub fn node_cert(&self, name: &str) -> PathBuf {
        let n = self.node(name);
        n.config.with_file_name(format!("{}.pem", n.name))
    }
}

impl Default for Federation {
    fn default() -> Self {
        Self::new()
    }
}

/// Dial `target` (a running node) from `from`, expecting it to be node
/// `name` of `region`.
pub async fn dial(
    from: &RunningNode,
    target: &RunningNode,
    region: &str,
    name: &str,
) -> Result<credex_node::transport::PeerConnection, credex_node::transport::ClientError> {
    let region: RegionCode = region.parse().expect("region");
    let name: NodeName = name.parse().expect("name");
    from.transport()
        .connect(
            target.local_addr(),
            &logical_server_name(region, &name),
            region,
            Some(name),
        )
        .await
}

/// Wait for a future with a generous bound, so a hang fails the test instead of stalling CI.
pub async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(20), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: no result within 20 s"))
}

/// Shared handle type for tests that keep several nodes.
pub type Shared<T> = Arc<T>;
