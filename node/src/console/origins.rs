//! The console's own origins: the only `Origin` a state-changing call, a
//! challenge or a sign-in is accepted from.
//!
//! By default they are `https://NAME:PORT` for each DNS name and IP
//! address in the served certificate and the port the console listens on
//! (the names a browser can reach it by without a certificate warning);
//! `[console] origins` replaces them, e.g. behind a reverse proxy.

use std::net::IpAddr;

/// The origins a console accepts requests from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origins(Vec<String>);

impl Origins {
    /// `https://NAME:PORT` for every DNS name and IP address a certificate
    /// names, `PORT` omitted when it is 443 (browsers omit it too).
    pub fn from_names(dns_names: &[String], ip_addrs: &[IpAddr], port: u16) -> Self {
        let port = if port == 443 {
            String::new()
        } else {
            format!(":{port}")
        };
        let hosts = dns_names
            .iter()
            .filter(|d| !d.starts_with('*'))
            .map(|d| d.to_ascii_lowercase())
            .chain(ip_addrs.iter().map(|ip| match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            }));
        Origins(hosts.map(|h| format!("https://{h}{port}")).collect())
    }

    /// Exactly `origins` (as configured).
    pub fn configured(origins: Vec<String>) -> Self {
        Origins(origins)
    }

    /// Whether `origin` is one of them.
    pub fn allows(&self, origin: &str) -> bool {
        self.0.iter().any(|o| o == origin)
    }

    /// All of them.
    pub fn all(&self) -> &[String] {
        &self.0
    }
}
