//! `[gateway]`: the integration gateway the region's own systems call over
//! HTTPS (issue 15) — where it listens and how long it waits; and
//! `[console] listen`, where the web console for people listens (issue 16).
//!
//! Owns: [`GatewayConfig`] and its defaults. Absent section (or no
//! `listen`) means no gateway. Does not own the gateway itself
//! (`crate::gateway`) nor the certificates it serves with (the node's,
//! [`super::tls`]).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;
use super::values::Values;

/// The integration gateway (`[gateway]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// The TCP address the gateway binds.
    pub listen: SocketAddr,
    /// Give up a TLS handshake after this long.
    pub handshake_timeout: Duration,
    /// Give up reading a request head after this long; also how long a
    /// keep-alive connection may stay idle between requests.
    pub header_timeout: Duration,
    /// Most concurrent client connections; more wait to be accepted.
    pub max_connections: u32,
    /// Most concurrent connections of one client certificate; more are
    /// closed after the handshake.
    pub max_connections_per_client: u32,
    /// Requests per second each client certificate may make, on average.
    pub requests_per_second: u32,
    /// Requests a client may make at once after a quiet spell.
    pub burst: u32,
    /// The server certificate and key the region's systems see
    /// (`certificate`, `key`: PEM chain and PKCS#8 key, e.g. from the
    /// intranet's CA); `None`: the node's own. Under `sm2-sm3` the node's
    /// chain is signed SM2-with-SM3, which OpenSSL's TLS clients do not
    /// verify, so a gateway their systems call needs one.
    pub web_identity: Option<WebIdentityFiles>,
}

impl GatewayConfig {
    /// A gateway on `listen` with the default timeouts and caps.
    pub fn on(listen: SocketAddr) -> Self {
        GatewayConfig {
            listen,
            handshake_timeout: Duration::from_secs(10),
            header_timeout: Duration::from_secs(10),
            max_connections: 256,
            max_connections_per_client: 16,
            requests_per_second: 1000,
            burst: 2000,
            web_identity: None,
        }
    }
}

/// The raw `[gateway]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGateway {
    listen: Option<String>,
    handshake_timeout_ms: Option<u64>,
    header_timeout_ms: Option<u64>,
    max_connections: Option<u32>,
    max_connections_per_client: Option<u32>,
    requests_per_second: Option<u32>,
    burst: Option<u32>,
    certificate: Option<String>,
    key: Option<String>,
}

/// `[gateway]`: `None` when no address is given.
pub(super) fn parse(
    raw: &RawGateway,
    values: &Values<'_>,
) -> Result<Option<GatewayConfig>, ConfigError> {
    let Some(addr) = &raw.listen else {
        if raw.handshake_timeout_ms.is_some()
            || raw.header_timeout_ms.is_some()
            || raw.max_connections.is_some()
            || raw.max_connections_per_client.is_some()
            || raw.requests_per_second.is_some()
            || raw.burst.is_some()
            || raw.certificate.is_some()
            || raw.key.is_some()
        {
            return Err(values.invalid(
                "gateway.listen",
                "missing: the other [gateway] keys need an address to listen on".into(),
            ));
        }
        return Ok(None);
    };
    let listen: SocketAddr = addr.parse().map_err(|_| {
        values.invalid(
            "gateway.listen",
            format!("{addr:?} is not an IP address with a port, e.g. \"127.0.0.1:8443\""),
        )
    })?;
    let d = GatewayConfig::on(listen);
    Ok(Some(GatewayConfig {
        listen,
        handshake_timeout: values.millis(
            "gateway.handshake_timeout_ms",
            raw.handshake_timeout_ms,
            d.handshake_timeout,
            100,
            120_000,
        )?,
        header_timeout: values.millis(
            "gateway.header_timeout_ms",
            raw.header_timeout_ms,
            d.header_timeout,
            100,
            120_000,
        )?,
        max_connections: values.count(
            "gateway.max_connections",
            raw.max_connections,
            d.max_connections,
            65_536,
        )?,
        max_connections_per_client: values.count(
            "gateway.max_connections_per_client",
            raw.max_connections_per_client,
            d.max_connections_per_client,
            65_536,
        )?,
        requests_per_second: values.count(
            "gateway.requests_per_second",
            raw.requests_per_second,
            d.requests_per_second,
            1_000_000,
        )?,
        burst: values.count("gateway.burst", raw.burst, d.burst, 1_000_000)?,
        web_identity: web_identity("gateway", &raw.certificate, &raw.key, values)?,
    }))
}

/// `[SECTION] certificate` and `key`: both or neither.
fn web_identity(
    section: &str,
    certificate: &Option<String>,
    key: &Option<String>,
    values: &Values<'_>,
) -> Result<Option<WebIdentityFiles>, ConfigError> {
    match (certificate, key) {
        (Some(certificate), Some(key)) => Ok(Some(WebIdentityFiles {
            certificate: values.resolve(std::path::Path::new(certificate)),
            key: values.resolve(std::path::Path::new(key)),
        })),
        (None, None) => Ok(None),
        (Some(_), None) => Err(values.invalid(
            &format!("{section}.key"),
            format!("{section}.certificate is set, so its key is needed too"),
        )),
        (None, Some(_)) => Err(values.invalid(
            &format!("{section}.certificate"),
            format!("{section}.key is set, so its certificate is needed too"),
        )),
    }
}

/// The web console (`[console]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleConfig {
    /// The TCP address the console binds.
    pub listen: SocketAddr,
    /// The origins browsers reach it by (`https://host:port`); `None`: the
    /// names in the served certificate with the bound port.
    pub origins: Option<Vec<String>>,
    /// The web server certificate and key browsers see (`certificate`,
    /// `key`: PEM chain and PKCS#8 key, e.g. from the intranet's CA);
    /// `None`: the node's own. Browsers do not accept Ed25519 server keys,
    /// so a federation of Ed25519 nodes needs one (decision 0900).
    pub web_identity: Option<WebIdentityFiles>,
}

/// `[console]` or `[gateway]` `certificate` and `key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebIdentityFiles {
    /// PEM: the server certificate, then its issuers.
    pub certificate: std::path::PathBuf,
    /// PEM: its PKCS#8 private key (readable by the node's user only).
    pub key: std::path::PathBuf,
}

impl ConsoleConfig {
    /// A console on `listen`, reached by the names in the node's certificate.
    pub fn on(listen: SocketAddr) -> Self {
        ConsoleConfig {
            listen,
            origins: None,
            web_identity: None,
        }
    }
}

/// The raw `[console]` table.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConsole {
    listen: Option<String>,
    origins: Option<Vec<String>>,
    certificate: Option<String>,
    key: Option<String>,
}

/// `[console]`: the web console, if `listen` is set.
pub(super) fn parse_console(
    raw: &RawConsole,
    values: &Values<'_>,
) -> Result<Option<ConsoleConfig>, ConfigError> {
    let Some(addr) = raw.listen.as_deref() else {
        return Ok(None);
    };
    let listen = addr.parse().map_err(|_| {
        values.invalid(
            "console.listen",
            format!("{addr:?} is not an IP address with a port, e.g. \"127.0.0.1:8444\""),
        )
    })?;
    if let Some(origins) = &raw.origins {
        if origins.is_empty() {
            return Err(values.invalid(
                "console.origins",
                "an empty list would refuse every sign-in; leave it out to use the certificate's names".to_owned(),
            ));
        }
        for o in origins {
            let ok = o.strip_prefix("https://").is_some_and(|host| {
                !host.is_empty() && !host.contains(['/', '?', '#', ' ']) && o.len() <= 255
            });
            if !ok {
                return Err(values.invalid(
                    "console.origins",
                    format!("{o:?} is not an origin such as \"https://credit.example.gov.cn:8444\" (https, no path)"),
                ));
            }
        }
    }
    let web_identity = web_identity("console", &raw.certificate, &raw.key, values)?;
    Ok(Some(ConsoleConfig {
        listen,
        origins: raw.origins.clone(),
        web_identity,
    }))
}
