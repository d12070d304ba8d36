//! Gateway fixtures: client certificates issued by a region CA, a node
//! started with its gateway, and a connection presenting a certificate.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use credex_kit::gateway_client::{ClientFiles, GatewayClient, GatewayResponse};
use credex_node::config::GatewayConfig;
use credex_node::lists::{EntryDraft, Lists, ListsPolicy};
use credex_node::pki_files::IssuedFiles;
use credex_node::service::{RunningNode, now_ms};
use credex_pki::{GatewayRoles, KeyAlgorithm};
use credex_protocol::RegionCode;
use credex_protocol::lists::{ListKind, NoticeMeans, SubjectNotice};

use crate::{Federation, until_stored};

/// The region whose node serves the gateway in these tests.
pub const GUIZHOU: &str = "520000";

/// The region that pushes list entries and answers queries in these tests.
pub const GUANGDONG: &str = "440000";

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

/// gy-1 (Guizhou, with its gateway) and gz-1 (Guangdong) on loopback
/// ports reserved up front, each naming the other as its QUIC peer.
pub async fn guizhou_and_guangdong(fed: &Federation) -> (RunningNode, RunningNode) {
    guizhou_and_guangdong_with(fed, |gy| {
        let mut gw = GatewayConfig::on("127.0.0.1:0".parse().unwrap());
        gw.requests_per_second = 1000;
        gw.burst = 1000;
        gy.gateway = Some(gw);
    })
    .await
}

/// [`guizhou_and_guangdong`] with gy-1's configuration changed by `edit`
/// (its gateway, its console) instead.
pub async fn guizhou_and_guangdong_with(
    fed: &Federation,
    edit: impl FnOnce(&mut credex_node::config::NodeConfig),
) -> (RunningNode, RunningNode) {
    let sockets: Vec<std::net::UdpSocket> = (0..2)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: BTreeMap<RegionCode, u16> = [GUIZHOU, GUANGDONG]
        .iter()
        .zip(&sockets)
        .map(|(r, s)| (r.parse().unwrap(), s.local_addr().unwrap().port()))
        .collect();
    drop(sockets);
    let config = |name: &str, region: &str| {
        let mut c = fed.config(name);
        c.listen.set_port(ports[&region.parse().unwrap()]);
        for peer in &mut c.peers {
            if let Some(port) = ports.get(&peer.region) {
                peer.addr.set_port(*port);
            }
        }
        c
    };
    let mut gy = config("gy-1", GUIZHOU);
    edit(&mut gy);
    let gy = fed.start_with(gy).await;
    let gz = fed.start_with(config("gz-1", GUANGDONG)).await;
    (gy, gz)
}

/// Guangdong lists `subject` as seriously dishonest and pushes the entry to
/// Guizhou (Pan-Pearl River agreement); returns once Guizhou holds it.
pub async fn listed_by_guangdong(gy: &RunningNode, gz: &RunningNode, subject: &str) -> String {
    listed_by_guangdong_on(gy, gz, subject, "2026-11-02").await
}

/// [`listed_by_guangdong`], listed on `entry_date` (`YYYY-MM-DD`) for three
/// years.
pub async fn listed_by_guangdong_on(
    gy: &RunningNode,
    gz: &RunningNode,
    subject: &str,
    entry_date: &str,
) -> String {
    let listed = credex_flows::calendar::parse_date(entry_date).expect("a calendar date");
    let exit = credex_policies::repair::add_months(listed, 36) - time::Duration::days(1);
    let draft = EntryDraft {
        subject: subject.to_owned(),
        list_type: ListKind::SeriousDishonesty,
        basis: "《广东省社会信用条例》第三十一条; 粤市监处〔2026〕41号".into(),
        authority: "广东省市场监督管理局".into(),
        entry_date: entry_date.into(),
        planned_exit: credex_flows::calendar::date_text(exit),
        measures: vec!["restrict_government_procurement".into()],
        notice: SubjectNotice {
            date: entry_date.into(),
            means: NoticeMeans::Written,
        },
        details: [("review_notes".to_owned(), "内部评审：不得外传".to_owned())]
            .into_iter()
            .collect(),
    };
    let lists = Lists::new(
        gz.federation().clone(),
        ListsPolicy::for_node(gz.config()).unwrap(),
    );
    let id = lists.add(&draft, now_ms()).await.unwrap().id;
    let held = Lists::new(gy.federation().clone(), ListsPolicy::builtin());
    until_stored(gy.storage(), "the listing reached Guizhou", || async {
        held.received()
            .await
            .unwrap()
            .iter()
            .any(|h| h.entry.id == id)
    })
    .await;
    id.to_string()
}

/// `POST /v1/checks` with `body`: the status and the JSON answer.
pub async fn check(conn: &mut GatewayClient, body: serde_json::Value) -> (u16, serde_json::Value) {
    let r = conn
        .post_json("/v1/checks", &body)
        .await
        .expect("the gateway answers");
    (r.status, r.json())
}

/// Guangdong issues a public credit evaluation (grade A, 2024 scheme) of
/// `subject`; returns once Guizhou recognised it (Pan-Pearl River).
pub async fn evaluated_by_guangdong(gy: &RunningNode, gz: &RunningNode, subject: &str) {
    use credex_node::eval;
    let file = gz.config().data_dir.join("gateway-checks-results.jsonl");
    std::fs::write(
        &file,
        format!(
            r#"{{"subject":"{subject}","scheme":"public_credit","scheme_version":"2024","grade":"A","period_start":"2025-01-01","period_end":"2025-12-31","valid_until":"2027-06-30"}}"#
        ),
    )
    .expect("the evaluation is issued");
    let agreements = eval::load_agreements(gz.config()).unwrap();
    let rows = eval::parse_results(
        &file,
        gz.config().region,
        &agreements,
        credex_node::service::now_ms(),
    )
    .unwrap();
    eval::issue(
        gz.federation(),
        &agreements,
        gz.queries().policy().catalogue(),
        &rows,
        credex_node::service::now_ms(),
    )
    .await
    .expect("the evaluation is issued");
    until_stored(gy.storage(), "Guizhou recognised the result", || async {
        eval::list(gy.storage())
            .await
            .unwrap()
            .iter()
            .any(|l| l.kind == "received" && l.subject == subject)
    })
    .await;
}
