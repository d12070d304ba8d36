use std::sync::Arc;
use gwprobe::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use rcgen::{BasicConstraints, CertificateParams, CertificateRevocationListParams, IsCa, Issuer, KeyIdMethod, KeyPair, RevokedCertParams, SerialNumber};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};

struct Pki { root: CertificateDer<'static>, issuer: Issuer<'static, KeyPair> }
fn pki() -> Pki {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![]).unwrap();
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign, rcgen::KeyUsagePurpose::CrlSign];
    let c = p.self_signed(&key).unwrap();
    Pki { root: c.der().clone(), issuer: Issuer::new(p, key) }
}
fn leaf(pki: &Pki, name: &str, serial: u64, client: bool) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
    let key = KeyPair::generate().unwrap();
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.serial_number = Some(SerialNumber::from(serial));
    p.extended_key_usages = vec![if client { rcgen::ExtendedKeyUsagePurpose::ClientAuth } else { rcgen::ExtendedKeyUsagePurpose::ServerAuth }];
    let c = p.signed_by(&key, &pki.issuer).unwrap();
    (vec![c.der().clone()], PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())))
}

async fn post(addr: std::net::SocketAddr, root: CertificateDer<'static>, who: (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), path: &str, body: &str) -> Result<(u16, String, String), String> {
    let mut roots = rustls::RootCertStore::empty(); roots.add(root).unwrap();
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13]).unwrap()
        .with_root_certificates(roots).with_client_auth_cert(who.0, who.1).unwrap();
    let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg)).connect(ServerName::try_from("gateway.test").unwrap(), tcp).await.map_err(|e| e.to_string())?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls)).await.map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post(path).header("host", "gateway.test").header("content-type", "application/json").body(Full::new(Bytes::from(body.to_owned()))).unwrap();
    let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let b = resp.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok((status, ct, String::from_utf8_lossy(&b).into_owned()))
}

#[tokio::test]
async fn mtls_identity_problem_json_crl_reload_and_openapi() {
    let pki = pki();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (schain, skey) = leaf(&pki, "gateway.test", 1, false);
    let alice = leaf(&pki, "alice.client", 2, true);
    let verifier = SwapVerifier::new(SwapVerifier::build(pki.root.clone(), vec![], provider.clone()));
    let cfg = server_config(verifier.clone(), schain, skey);
    let (router, api) = app();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, cfg, router));

    let ok = post(addr, pki.root.clone(), (alice.0.clone(), alice.1.clone_key()), "/v1/checks", r#"{"subject":"91350100M000100Y43"}"#).await.unwrap();
    assert_eq!(ok.0, 200, "{ok:?}"); assert!(ok.2.contains("client_cert_bytes"));
    let bad = post(addr, pki.root.clone(), (alice.0.clone(), alice.1.clone_key()), "/v1/checks", r#"{"subject":"x"}"#).await.unwrap();
    assert_eq!((bad.0, bad.1.as_str()), (422, "application/problem+json"), "{bad:?}");

    // Revoke alice, swap the verifier, no restart.
    let now = rcgen::date_time_ymd(2026, 1, 1);
    let crl = CertificateRevocationListParams { this_update: now, next_update: rcgen::date_time_ymd(2030, 1, 1), crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None, revoked_certs: vec![RevokedCertParams { serial_number: SerialNumber::from(2u64), revocation_time: now, reason_code: None, invalidity_date: None }],
        key_identifier_method: KeyIdMethod::Sha256 }.signed_by(&pki.issuer).unwrap();
    verifier.replace(SwapVerifier::build(pki.root.clone(), vec![crl.der().clone()], provider.clone()));
    let denied = post(addr, pki.root.clone(), (alice.0.clone(), alice.1.clone_key()), "/v1/checks", r#"{"subject":"91350100M000100Y43"}"#).await;
    assert!(denied.is_err(), "{denied:?}");

    let json = api.to_pretty_json().unwrap();
    std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"), &json).unwrap();
    let out = std::process::Command::new("python3").arg("-c")
        .arg("import json,sys; from openapi_spec_validator import validate, OpenAPIV31SpecValidator; validate(json.load(open(sys.argv[1])), cls=OpenAPIV31SpecValidator); print('valid 3.1')")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
