//! Probe: axum over a tokio-rustls accept loop, ring-only, custom client verifier,
//! peer identity in request extensions, utoipa 3.1 doc with problem+json.
use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use axum::extract::{Extension, MatchedPath, Request};
use axum::http::{Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Json;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme};
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer, UnixTime};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tower::ServiceExt;
use utoipa::ToSchema;
use utoipa_axum::{router::OpenApiRouter, routes};

/// Swappable verifier: CRL reload = build a new inner verifier and swap it.
#[derive(Debug)]
pub struct SwapVerifier {
    inner: RwLock<Arc<dyn ClientCertVerifier>>,
}
impl SwapVerifier {
    pub fn build(root: CertificateDer<'static>, crls: Vec<CertificateRevocationListDer<'static>>, provider: Arc<CryptoProvider>) -> Arc<dyn ClientCertVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(root).expect("root");
        WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).with_crls(crls).build().expect("verifier")
    }
    pub fn new(v: Arc<dyn ClientCertVerifier>) -> Arc<Self> { Arc::new(Self { inner: RwLock::new(v) }) }
    pub fn replace(&self, v: Arc<dyn ClientCertVerifier>) { *self.inner.write().unwrap() = v; }
    fn cur(&self) -> Arc<dyn ClientCertVerifier> { self.inner.read().unwrap().clone() }
}
impl ClientCertVerifier for SwapVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] { &[] }
    fn verify_client_cert(&self, ee: &CertificateDer<'_>, im: &[CertificateDer<'_>], now: UnixTime) -> Result<ClientCertVerified, rustls::Error> {
        self.cur().verify_client_cert(ee, im, now)
    }
    fn verify_tls12_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.cur().verify_tls12_signature(m, c, d)
    }
    fn verify_tls13_signature(&self, m: &[u8], c: &CertificateDer<'_>, d: &DigitallySignedStruct) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.cur().verify_tls13_signature(m, c, d)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> { self.cur().supported_verify_schemes() }
}

pub fn server_config(verifier: Arc<dyn ClientCertVerifier>, chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> Arc<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13]).expect("tls13")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key).expect("cert");
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    cfg.send_tls13_tickets = 0;
    cfg.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    Arc::new(cfg)
}

/// Verified client identity, put into every request of the connection.
#[derive(Clone, Debug)]
pub struct ClientId { pub fingerprint_len: usize, pub der: Arc<Vec<u8>> }

#[derive(Serialize, ToSchema)]
#[schema(example = json!({"type":"urn:credex:problem:field-invalid","title":"invalid field","status":422,"detail":"subject: not a USCC","instance":"/v1/checks","field":"/subjects/3"}))]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}
impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let s = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (s, [(axum::http::header::CONTENT_TYPE, "application/problem+json")], serde_json::to_vec(&self).unwrap_or_default()).into_response()
    }
}

#[derive(Deserialize, ToSchema)]
pub struct CheckRequest { pub subject: String }
#[derive(Serialize, ToSchema)]
pub struct CheckResult { pub subject: String, pub listed: bool, pub client_cert_bytes: usize }

/// Credit check of one subject.
#[utoipa::path(post, path = "/v1/checks", request_body = CheckRequest,
    responses(
        (status = 200, description = "the answer", body = CheckResult),
        (status = 422, description = "a field is invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn check(Extension(id): Extension<ClientId>, Json(r): Json<CheckRequest>) -> Result<Json<CheckResult>, Problem> {
    if r.subject.len() != 18 {
        return Err(Problem { kind: "urn:credex:problem:field-invalid".into(), title: "invalid field".into(), status: 422, detail: Some("not 18 characters".into()), field: Some("/subject".into()) });
    }
    Ok(Json(CheckResult { subject: r.subject, listed: false, client_cert_bytes: id.der.len() }))
}

pub fn app() -> (axum::Router, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::new().routes(routes!(check)).split_for_parts();
    // Every served (method, path) must be in the document: enforced at run time.
    let mut documented = std::collections::HashSet::new();
    for (p, item) in &api.paths.paths {
        if item.post.is_some() { documented.insert((Method::POST, p.clone())); }
        if item.get.is_some() { documented.insert((Method::GET, p.clone())); }
    }
    let documented = Arc::new(documented);
    let doc_json = Arc::new(api.to_json().expect("json"));
    let d2 = doc_json.clone();
    let router = router
        .route_layer(middleware::from_fn(move |mp: MatchedPath, req: Request, next: Next| {
            let ok = documented.contains(&(req.method().clone(), mp.as_str().to_owned()));
            async move { if ok { next.run(req).await } else { StatusCode::INTERNAL_SERVER_ERROR.into_response() } }
        }))
        .route("/openapi.json", axum::routing::get(move || { let d = d2.clone(); async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], (*d).clone()) } }));
    (router, api)
}

/// Accept loop: TLS handshake, then identity into extensions, then hyper.
pub async fn serve(listener: TcpListener, cfg: Arc<ServerConfig>, router: axum::Router) {
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    loop {
        let Ok((tcp, _peer)): Result<(tokio::net::TcpStream, SocketAddr), _> = listener.accept().await else { continue };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let Ok(Ok(tls)) = tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await else { return };
            let Some(ee) = tls.get_ref().1.peer_certificates().and_then(|c| c.first()) else { return };
            let id = ClientId { fingerprint_len: 32, der: Arc::new(ee.as_ref().to_vec()) };
            let svc = router.map_request(move |mut req: Request<hyper::body::Incoming>| { req.extensions_mut().insert(id.clone()); req });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(std::time::Duration::from_secs(10))
                .serve_connection(TokioIo::new(tls), TowerToHyperService::new(svc));
            let _ = conn.await;
        });
    }
}
