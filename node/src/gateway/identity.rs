//! Who is calling: the gateway client a connection's certificate names.
//!
//! The listener reads the verified leaf once per connection and puts a
//! [`ClientIdentity`] into every request of it; handlers take it as an
//! extractor and ask it for the role their operation needs
//! ([`ClientIdentity::require`]).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use credex_pki::{CertIdentity, GatewayRole, GatewayRoles, Subject};
use credex_protocol::RegionCode;
use serde::Serialize;
use utoipa::ToSchema;

use super::problem::{Problem, ProblemType};

/// A region system the gateway has authenticated by its client certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    inner: Arc<Inner>,
}

#[derive(Debug, PartialEq, Eq)]
struct Inner {
    uri: String,
    region: RegionCode,
    name: String,
    roles: GatewayRoles,
    fingerprint: [u8; 32],
    serial: String,
    not_after: time::OffsetDateTime,
}

impl ClientIdentity {
    /// The identity of a verified client certificate; `None` if the
    /// certificate is not a gateway client's.
    pub fn from_certificate(cert: &CertIdentity) -> Option<Self> {
        let Subject::Client {
            region,
            roles,
            name,
        } = &cert.subject
        else {
            return None;
        };
        Some(ClientIdentity {
            inner: Arc::new(Inner {
                uri: cert.subject.to_uri(),
                region: *region,
                name: name.to_string(),
                roles: roles.clone(),
                fingerprint: cert.fingerprint,
                serial: cert.serial_hex(),
                not_after: cert.not_after,
            }),
        })
    }

    /// The certificate's identity, `urn:credex:client:RRRRRR:ROLES:NAME`.
    pub fn identity_uri(&self) -> String {
        self.inner.uri.clone()
    }

    /// The client's region (always the gateway's own).
    pub fn region(&self) -> RegionCode {
        self.inner.region
    }

    /// The system's name in its certificate, e.g. `approval-system`.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The roles the certificate grants.
    pub fn roles(&self) -> &GatewayRoles {
        &self.inner.roles
    }

    /// SHA-256 of the client certificate; rate limits and the journal key
    /// on it.
    pub fn fingerprint(&self) -> [u8; 32] {
        self.inner.fingerprint
    }

    /// The operation needs `role`: a `role-missing` problem (403) unless
    /// the certificate grants it.
    pub fn require(&self, role: GatewayRole, operation: &str) -> Result<(), Problem> {
        if self.inner.roles.grants(role) {
            return Ok(());
        }
        tracing::warn!(client = %self.name(), %role, operation, "gateway refused: role missing");
        Err(Problem::new(
            ProblemType::RoleMissing,
            format!(
                "{operation} needs role `{role}`; the certificate of {} grants {}",
                self.name(),
                self.inner.roles
            ),
        ))
    }

    /// What `GET /v1/whoami` answers.
    pub fn describe(&self) -> WhoAmI {
        WhoAmI {
            region: self.inner.region.to_string(),
            name: self.inner.name.clone(),
            roles: self
                .inner
                .roles
                .iter()
                .map(|r| r.name().to_owned())
                .collect(),
            certificate_sha256: hex::encode(self.inner.fingerprint),
            certificate_serial: self.inner.serial.clone(),
            certificate_not_after: self
                .inner
                .not_after
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ClientIdentity {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        // The listener inserts the identity into every request; a request
        // without one did not come through it.
        parts
            .extensions
            .get::<ClientIdentity>()
            .cloned()
            .ok_or_else(|| {
                Problem::new(
                    ProblemType::Internal,
                    "the request carries no client identity",
                )
            })
    }
}

/// The calling system as the gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(example = json!({
    "region": "520000",
    "name": "approval-system",
    "roles": ["check", "events"],
    "certificate_sha256": "5b0d…",
    "certificate_serial": "01a4…",
    "certificate_not_after": "2027-12-04T00:00:00Z"
}))]
pub struct WhoAmI {
    /// The region (GB/T 2260 code) of the client, always the node's own.
    pub region: String,
    /// The system's name in its certificate.
    pub name: String,
    /// The roles its certificate grants.
    pub roles: Vec<String>,
    /// SHA-256 of the client certificate, hex.
    pub certificate_sha256: String,
    /// The certificate's serial number, hex.
    pub certificate_serial: String,
    /// When the certificate expires (RFC 3339).
    pub certificate_not_after: String,
}
