//! A gateway client for the demo, the benchmarks and the tests: HTTP/1.1
//! over TLS 1.3 with a client certificate, on one keep-alive connection,
//! checking that the server is a node of the expected region — what a
//! region's own system does when it calls its node's gateway.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use credex_node::remote_audit::FetchLogError;
use credex_node::tls::{DialedNodeVerifier, FederationTrust, provider};
use credex_pki::TrustStore;
use credex_protocol::RegionCode;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};

/// Why a call to the gateway did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum GatewayClientError {
    /// A certificate, key or root file could not be read.
    #[error("{path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What was wrong.
        reason: String,
    },
    /// TCP connect, TLS handshake or HTTP failed.
    #[error("{0}")]
    Connection(String),
    /// Copying the log file by file failed.
    #[error(transparent)]
    FetchLog(#[from] credex_node::remote_audit::FetchLogError),
}

/// The client's certificate chain and key, and the federation root.
#[derive(Debug)]
pub struct ClientFiles<'a> {
    /// The client's chain (leaf, then region CA), PEM.
    pub cert: &'a Path,
    /// The client's private key, PKCS#8 PEM.
    pub key: &'a Path,
    /// The federation root, PEM.
    pub root: &'a Path,
}

/// An answer from the gateway.
#[derive(Debug, Clone)]
pub struct GatewayResponse {
    /// The HTTP status.
    pub status: u16,
    /// Every header, names lower-case.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl GatewayResponse {
    /// The first value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One keep-alive connection to a node's gateway.
pub struct GatewayClient {
    send: SendRequest<Full<Bytes>>,
    host: String,
}

fn file_error(path: &Path, reason: impl std::fmt::Display) -> GatewayClientError {
    GatewayClientError::File {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

fn connection(e: impl std::fmt::Display) -> GatewayClientError {
    GatewayClientError::Connection(e.to_string())
}

/// The TLS configuration of a client presenting `files`, accepting only a
/// node of `region` as the server.
pub fn client_tls(
    files: &ClientFiles<'_>,
    region: RegionCode,
) -> Result<rustls::ClientConfig, GatewayClientError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(files.cert)
        .map_err(|e| file_error(files.cert, e))?
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(files.cert, e))?;
    let key = PrivateKeyDer::from_pem_file(files.key).map_err(|e| file_error(files.key, e))?;
    let root = std::fs::read_to_string(files.root).map_err(|e| file_error(files.root, e))?;
    let trust = TrustStore::from_pem(&root, &[]).map_err(|e| file_error(files.root, e))?;
    let verifier = DialedNodeVerifier::new(FederationTrust::new(trust), region, None);
    let mut config = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(connection)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(chain, key)
        .map_err(|e| file_error(files.cert, e))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config.resumption = rustls::client::Resumption::disabled();
    Ok(config)
}

impl GatewayClient {
    /// Connect to the gateway at `addr` of a node of `region`.
    pub async fn connect(
        addr: SocketAddr,
        files: &ClientFiles<'_>,
        region: RegionCode,
    ) -> Result<GatewayClient, GatewayClientError> {
        Self::connect_with(addr, client_tls(files, region)?).await
    }

    /// Connect with a TLS configuration of the caller's.
    pub async fn connect_with(
        addr: SocketAddr,
        tls: rustls::ClientConfig,
    ) -> Result<GatewayClient, GatewayClientError> {
        let tcp = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(connection)?;
        tcp.set_nodelay(true).map_err(connection)?;
        let host = "gateway.credex".to_owned();
        let name = ServerName::try_from(host.clone()).map_err(connection)?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(name, tcp)
            .await
            .map_err(connection)?;
        let (send, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
            .await
            .map_err(connection)?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "gateway client connection ended");
            }
        });
        Ok(GatewayClient { send, host })
    }

    /// `GET path`.
    pub async fn get(&mut self, path: &str) -> Result<GatewayResponse, GatewayClientError> {
        self.call("GET", path, None, Vec::new()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &mut self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<GatewayResponse, GatewayClientError> {
        let bytes = serde_json::to_vec(body).map_err(connection)?;
        self.call("POST", path, Some("application/json"), bytes)
            .await
    }

    /// Any call: `method path` with `body` of `content_type`.
    pub async fn call(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Result<GatewayResponse, GatewayClientError> {
        self.call_with_headers(method, path, content_type, &[], body)
            .await
    }

    /// [`GatewayClient::call`] with extra request `headers` (name, value),
    /// e.g. `Idempotency-Key`.
    pub async fn call_with_headers(
        &mut self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<GatewayResponse, GatewayClientError> {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(connection)?;
        self.send.ready().await.map_err(connection)?;
        let response = self.send.send_request(request).await.map_err(connection)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(connection)?
            .to_bytes()
            .to_vec();
        Ok(GatewayResponse {
            status,
            headers,
            body,
        })
    }

    /// Whether the connection is closed (by the gateway, e.g. on revocation).
    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

/// An officer's signature as a region system makes it for the gateway's
/// two-person queries: the raw bytes of `to_sign` (base64, as the gateway
/// gave them) signed with the officer's key file, outside the node — what
/// the officer's browser or signing device does. Returns the body of
/// `POST /v1/queries/{id}/signatures`.
pub fn officer_signature(
    cert: &Path,
    key: &Path,
    to_sign: &str,
) -> Result<serde_json::Value, GatewayClientError> {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
    let chain: Vec<String> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| file_error(cert, e))?
        .map(|c| c.map(|c| STANDARD.encode(c.as_ref())))
        .collect::<Result<_, _>>()
        .map_err(|e| file_error(cert, e))?;
    let key_der = match PrivateKeyDer::from_pem_file(key).map_err(|e| file_error(key, e))? {
        PrivateKeyDer::Pkcs8(k) => k.secret_pkcs8_der().to_vec(),
        _ => return Err(file_error(key, "expected a PKCS#8 key")),
    };
    let message = STANDARD
        .decode(to_sign)
        .map_err(|e| connection(format!("to_sign is not base64: {e}")))?;
    let (algorithm, signature) = if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&key_der)
    {
        ("ed25519", k.sign(&message).as_ref().to_vec())
    } else if let Ok(k) = credex_gm::Sm2SigningKey::from_pkcs8_der(credex_gm::DEFAULT_ID, &key_der)
    {
        ("sm2-sm3", k.sign(&message).to_vec())
    } else {
        let rng = ring::rand::SystemRandom::new();
        let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &key_der, &rng)
            .map_err(|e| file_error(key, format!("neither Ed25519, SM2 nor P-256: {e}")))?;
        let sig = k
            .sign(&rng, &message)
            .map_err(|e| file_error(key, format!("signing failed: {e}")))?;
        ("ecdsa-p256-sha256", sig.as_ref().to_vec())
    };
    Ok(serde_json::json!({
        "chain": chain,
        "algorithm": algorithm,
        "signature": STANDARD.encode(signature),
    }))
}

/// Copy a node's whole log from its gateway (`GET /v1/log/files`, role
/// `audit`) into `out`, in the layout `credex audit verify` reads. Returns
/// the tree size.
pub async fn fetch_log(
    addr: SocketAddr,
    files: &ClientFiles<'_>,
    region: RegionCode,
    out: &Path,
) -> Result<u64, GatewayClientError> {
    let client = Arc::new(tokio::sync::Mutex::new(
        GatewayClient::connect(addr, files, region).await?,
    ));
    std::fs::create_dir_all(out).map_err(|e| file_error(out, e))?;
    let get = |path: String| {
        let client = Arc::clone(&client);
        async move {
            let answer = client
                .lock()
                .await
                .get(&format!(
                    "/v1/log/files?path={}",
                    // An entry's attachment names its entry as a parameter
                    // of its own (`&entry=INDEX`).
                    path.replacen(credex_node::remote_audit::ENTRY_HINT, "&entry=", 1)
                ))
                .await;
            let not_served = |reason: String| FetchLogError::NotServed {
                path: path.clone(),
                reason,
            };
            let r = answer.map_err(|e| not_served(e.to_string()))?;
            if r.status == 200 {
                Ok(r.body)
            } else {
                Err(not_served(format!(
                    "{} {}",
                    r.status,
                    r.json()["detail"].as_str().unwrap_or_default()
                )))
            }
        }
    };
    Ok(credex_node::remote_audit::fetch_log_with(get, out).await?)
}
