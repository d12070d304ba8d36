//! Multi-node transport tests on loopback: the handshake, identities, and
//! the malicious or mistaken peers the transport must refuse.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use credex_node::config::logical_server_name;
use credex_node::pki_files;
use credex_node::tls::{self, DialedNodeVerifier, FederationTrust};
use credex_node::transport::{ClientError, close_code};
use credex_pki::{KeyAlgorithm, Validity};
use credex_protocol::codec::FRAME_HEADER_LEN;
use credex_protocol::{
    ALPN, ErrorCode, FrameLimit, Hello, Ping, Request, Response, decode, encode_frame,
};
use credex_tests::{Federation, dial, within};
use quinn::VarInt;

/// Send raw bytes as one request stream and read the whole response payload.
async fn raw_exchange(conn: &quinn::Connection, bytes: &[u8]) -> Response {
    let (mut send, mut recv) = conn.open_bi().await.expect("open stream");
    send.write_all(bytes).await.expect("write");
    let _ = send.finish();
    let all = recv.read_to_end(1 << 20).await.expect("read response");
    assert!(all.len() >= FRAME_HEADER_LEN, "short response: {all:?}");
    decode::<Response>(&all[FRAME_HEADER_LEN..]).expect("response decodes")
}

#[tokio::test]
async fn two_nodes_of_different_regions_exchange_hello() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;

    let conn = within("dial", dial(&gy, &cq, "500000", "cq-1"))
        .await
        .expect("gy-1 reaches cq-1");
    let hello = conn.peer_hello().expect("hello received");
    assert_eq!(hello.region.to_string(), "500000");
    assert_eq!(hello.node.as_str(), "cq-1");
    assert_eq!(conn.peer().region.to_string(), "500000");
    conn.ping(42).await.expect("ping");

    // The responder recorded who greeted it, with the certificate fingerprint.
    let peers = cq.storage().peers().await.expect("peers");
    assert_eq!(peers.len(), 1, "{peers:?}");
    assert_eq!(
        (peers[0].region.as_str(), peers[0].node.as_str()),
        ("520000", "gy-1")
    );
    assert_eq!(peers[0].fingerprint, gy.transport().identity().fingerprint);

    conn.close();
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn client_without_a_certificate_is_refused() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;

    let trust = gy.transport().trust().clone();
    let mut tls = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(DialedNodeVerifier::new(
            trust,
            "520000".parse().unwrap(),
            None,
        )))
        .with_no_client_auth();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap();
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let result = within("anonymous client", async {
        let conn = endpoint
            .connect_with(
                quinn::ClientConfig::new(Arc::new(quic)),
                gy.local_addr(),
                "gy-1.520000.credex",
            )
            .unwrap()
            .await?;
        // The handshake may appear to succeed; the refusal arrives on the first stream.
        let (mut send, mut recv) = conn.open_bi().await?;
        let frame = encode_frame(&Request::Ping(Ping { nonce: 1 }), FrameLimit::DEFAULT).unwrap();
        send.write_all(&frame).await?;
        let _ = send.finish();
        recv.read_to_end(1024).await?;
        Ok::<_, anyhow::Error>(())
    })
    .await;
    assert!(result.is_err(), "an anonymous client got an answer");
    assert_eq!(gy.storage().peers().await.unwrap().len(), 0);
    gy.shutdown().await;
}

#[tokio::test]
async fn client_chaining_to_another_root_is_refused() {
    let fed = Federation::new();
    let rogue = Federation::new(); // same names and regions, different root
    let cq = fed.start("cq-1").await;

    let impostor = credex_node::service::client_transport(&rogue.config("gy-1")).unwrap();
    let err = within("impostor", dial_transport(&impostor, &cq, "500000", "cq-1"))
        .await
        .unwrap_err();
    assert_refused(&err);
    assert!(cq.storage().peers().await.unwrap().is_empty());
    cq.shutdown().await;
}

async fn dial_transport(
    t: &credex_node::transport::Transport,
    target: &credex_node::service::RunningNode,
    region: &str,
    name: &str,
) -> Result<credex_node::transport::PeerConnection, ClientError> {
    let region = region.parse().unwrap();
    let name: credex_protocol::NodeName = name.parse().unwrap();
    t.connect(
        target.local_addr(),
        &logical_server_name(region, &name),
        region,
        Some(name),
    )
    .await
}

fn assert_refused(err: &ClientError) {
    assert!(
        matches!(err, ClientError::Connection { .. }),
        "expected the connection to be refused, got: {err}"
    );
}

#[tokio::test]
async fn node_certificate_from_another_regions_ca_is_refused() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;

    // Guizhou's CA forges a certificate for a Chongqing node.
    let guizhou_ca = fed.ca("520000").load().unwrap();
    let forged = credex_pki::danger::issue_node_for(
        &guizhou_ca,
        "500000".parse().unwrap(),
        &"cq-1".parse().unwrap(),
        &[],
        &[],
        KeyAlgorithm::Ed25519,
        Validity::days_from(time::OffsetDateTime::now_utc(), 30),
    )
    .unwrap();
    let dir = fed.path().join("forged");
    pki_files::write_private(&dir.join("cq-1.key"), &forged.key_pem).unwrap();
    pki_files::write_public(
        &dir.join("cq-1.pem"),
        &format!("{}{}", forged.cert_pem, guizhou_ca.cert_pem()),
    )
    .unwrap();
    let mut config = fed.config("cq-1");
    config.tls.cert = dir.join("cq-1.pem");
    config.tls.key = dir.join("cq-1.key");
    let forger = credex_node::service::client_transport(&config).unwrap();

    let err = within(
        "forged region",
        dial_transport(&forger, &gy, "520000", "gy-1"),
    )
    .await
    .unwrap_err();
    assert_refused(&err);
    assert!(gy.storage().peers().await.unwrap().is_empty());
    gy.shutdown().await;
}

#[tokio::test]
async fn revoked_node_is_refused_and_its_live_connection_closed() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;

    let conn = within("dial", dial(&cq, &gy, "520000", "gy-1"))
        .await
        .expect("cq-1 reaches gy-1 before revocation");
    fed.ca("500000").revoke(&fed.node_cert("cq-1")).unwrap();
    let closed = gy.reload_crls().await.unwrap();
    assert_eq!(closed, 1, "gy-1 should close exactly cq-1's connection");

    let reason = within("close", conn.closed()).await;
    match reason {
        quinn::ConnectionError::ApplicationClosed(c) => {
            assert_eq!(c.error_code, VarInt::from_u32(close_code::REVOKED));
        }
        other => panic!("expected an application close for revocation, got {other}"),
    }
    let err = within("redial", dial(&cq, &gy, "520000", "gy-1"))
        .await
        .unwrap_err();
    assert_refused(&err);

    // Other peers are unaffected.
    let gz = fed.start("gz-1").await;
    within("gz", dial(&gz, &gy, "520000", "gy-1"))
        .await
        .expect("gz-1 still welcome");
    for n in [gy, cq, gz] {
        n.shutdown().await;
    }
}

#[tokio::test]
async fn crl_files_are_reloaded_without_restart() {
    let fed = Federation::new();
    let mut config = fed.config("gy-1");
    config.tls.crl_reload = Duration::from_millis(100);
    let gy = fed.start_with(config).await;
    let cq = fed.start("cq-1").await;

    let conn = within("dial", dial(&cq, &gy, "520000", "gy-1"))
        .await
        .unwrap();
    fed.ca("500000").revoke(&fed.node_cert("cq-1")).unwrap();
    // No explicit reload: the node's watcher notices the new CRL file.
    within("watcher closes the revoked peer", conn.closed()).await;
    assert!(dial(&cq, &gy, "520000", "gy-1").await.is_err());
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn server_naming_another_region_than_dialled_is_refused() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let gz = fed.start("gz-1").await;

    // gy-1 believes it is dialling Chongqing, but Guangdong answers.
    let err = within("dial", dial(&gy, &gz, "500000", "cq-1"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ClientError::Connection { .. }), "{text}");
    assert!(
        text.contains("500000") && text.contains("440000"),
        "error should name both regions: {text}"
    );
    // Right region, wrong node name: refused too.
    let err = within("dial", dial(&gy, &gz, "440000", "gz-2"))
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::Connection { .. }), "{err}");
    gy.shutdown().await;
    gz.shutdown().await;
}

#[tokio::test]
async fn a_resuming_client_is_fully_verified_again() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq_config = fed.config("cq-1");
    let creds = credex_node::boot::load_credentials(&cq_config).unwrap();
    let trust = FederationTrust::new(credex_node::service::load_trust(&cq_config.tls).unwrap());

    // A client that tries hard to resume: session cache on, tickets wanted.
    let mut tls = tls::client_config(&creds, trust, "520000".parse().unwrap(), None).unwrap();
    tls.resumption = rustls::client::Resumption::in_memory_sessions(64);
    let quic = Arc::new(quinn::crypto::rustls::QuicClientConfig::try_from(tls).unwrap());
    let endpoint = quinn::Endpoint::client("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = gy.local_addr();
    let ask = |endpoint: quinn::Endpoint, quic: Arc<quinn::crypto::rustls::QuicClientConfig>| async move {
        let conn = endpoint
            .connect_with(quinn::ClientConfig::new(quic), addr, "gy-1.520000.credex")
            .unwrap()
            .await?;
        let (mut send, mut recv) = conn.open_bi().await?;
        let frame = encode_frame(&Request::Ping(Ping { nonce: 9 }), FrameLimit::DEFAULT).unwrap();
        send.write_all(&frame)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        let _ = send.finish();
        let bytes = recv
            .read_to_end(4096)
            .await
            .map_err(|e| anyhow::anyhow!(e))?;
        conn.close(VarInt::from_u32(0), b"");
        Ok::<_, anyhow::Error>(decode::<Response>(&bytes[FRAME_HEADER_LEN..])?)
    };
    let first = within("first", ask(endpoint.clone(), quic.clone()))
        .await
        .expect("first connection works");
    assert!(matches!(first, Response::Pong(_)));

    fed.ca("500000").revoke(&fed.node_cert("cq-1")).unwrap();
    gy.reload_crls().await.unwrap();
    let second = within("second", ask(endpoint.clone(), quic.clone())).await;
    assert!(
        second.is_err(),
        "second connection after revocation must be refused, got {second:?}"
    );
    gy.shutdown().await;
}

#[tokio::test]
async fn oversized_frame_is_refused_from_its_header() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;
    let conn = within("dial", dial(&cq, &gy, "520000", "gy-1"))
        .await
        .unwrap();

    // Announce a 2 GiB request but send only the header: the responder must
    // refuse from the header alone (it cannot have read or allocated 2 GiB).
    let (mut send, mut recv) = conn.quic().open_bi().await.unwrap();
    send.write_all(&(2u32 << 30).to_be_bytes()).await.unwrap();
    let bytes = within("refusal", recv.read_to_end(4096)).await.unwrap();
    match decode::<Response>(&bytes[FRAME_HEADER_LEN..]).unwrap() {
        Response::Error(e) => assert_eq!(e.code, ErrorCode::FrameTooLarge, "{e:?}"),
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    // Just over the configured maximum is refused too; the connection survives.
    let limit = FrameLimit::DEFAULT.bytes();
    let mut header = (limit + 1).to_be_bytes().to_vec();
    header.extend_from_slice(&[0u8; 16]);
    match raw_exchange(conn.quic(), &header).await {
        Response::Error(e) => assert_eq!(e.code, ErrorCode::FrameTooLarge),
        other => panic!("expected FrameTooLarge, got {other:?}"),
    }
    conn.ping(5).await.expect("connection still usable");
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn random_bytes_get_an_error_never_a_crash() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;
    let conn = within("dial", dial(&cq, &gy, "520000", "gy-1"))
        .await
        .unwrap();

    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..64 {
        let len = 1 + (round * 37) % 600;
        let mut payload = Vec::with_capacity(len);
        for _ in 0..len {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            payload.push(seed as u8);
        }
        let mut frame = (len as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&payload);
        match raw_exchange(conn.quic(), &frame).await {
            Response::Error(e) => assert!(
                matches!(
                    e.code,
                    ErrorCode::MalformedRequest
                        | ErrorCode::InvalidField
                        | ErrorCode::IdentityMismatch
                        | ErrorCode::UnsupportedVersion
                ),
                "round {round}: {e:?}"
            ),
            // A random payload may happen to be a valid Ping.
            Response::Pong(_) => {}
            other => panic!("round {round}: unexpected {other:?}"),
        }
    }
    // Unterminated garbage without a full header: the stream ends early.
    let (mut send, mut recv) = conn.quic().open_bi().await.unwrap();
    send.write_all(&[0, 0]).await.unwrap();
    send.finish().unwrap();
    let bytes = within("short", recv.read_to_end(4096)).await.unwrap();
    assert!(
        matches!(decode::<Response>(&bytes[FRAME_HEADER_LEN..]).unwrap(), Response::Error(e) if e.code == ErrorCode::MalformedRequest)
    );
    conn.ping(6).await.expect("node still serving");
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn hello_claiming_another_identity_is_refused() {
    let fed = Federation::new();
    let gy = fed.start("gy-1").await;
    let cq = fed.start("cq-1").await;
    let conn = within("dial", dial(&cq, &gy, "520000", "gy-1"))
        .await
        .unwrap();
    let lie = Request::Hello(Hello {
        protocol_version: 1,
        region: "440000".parse().unwrap(),
        node: "gz-1".parse().unwrap(),
        capabilities: vec![],
        software: "liar".into(),
    });
    match conn.request(&lie).await {
        Err(ClientError::Refused(e)) => assert_eq!(e.code, ErrorCode::IdentityMismatch),
        other => panic!("expected IdentityMismatch, got {other:?}"),
    }
    let peers = gy.storage().peers().await.unwrap();
    assert!(
        peers.iter().all(|p| p.node == "cq-1"),
        "the lie must not be recorded: {peers:?}"
    );
    gy.shutdown().await;
    cq.shutdown().await;
}

#[tokio::test]
async fn connections_per_peer_are_capped() {
    let fed = Federation::new();
    let mut config = fed.config("gy-1");
    config.transport.max_connections_per_peer = 2;
    let gy = fed.start_with(config).await;
    let cq = fed.start("cq-1").await;

    let a = dial(&cq, &gy, "520000", "gy-1").await.expect("first");
    let b = dial(&cq, &gy, "520000", "gy-1").await.expect("second");
    let third = within("third", dial(&cq, &gy, "520000", "gy-1")).await;
    match third {
        Err(ClientError::Connection {
            source: quinn::ConnectionError::ApplicationClosed(c),
            ..
        }) => {
            assert_eq!(
                c.error_code,
                VarInt::from_u32(close_code::TOO_MANY_CONNECTIONS)
            )
        }
        other => panic!("third connection should be closed for the cap, got {other:?}"),
    }
    // Another peer is not affected by cq-1's cap.
    let gz = fed.start("gz-1").await;
    dial(&gz, &gy, "520000", "gy-1")
        .await
        .expect("gz-1 has its own allowance");
    drop((a, b));
    for n in [gy, cq, gz] {
        n.shutdown().await;
    }
}
