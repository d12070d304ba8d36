//! The credex federation PKI: the CA hierarchy, issuance, CRLs, reading the
//! identity a certificate names, verifying chains, and message signatures.
//!
//! # What it does
//!
//! - Issues certificates with rcgen: the federation root ([`create_root`]),
//!   region CAs, and leaves (node, operator, authorization authority)
//!   through a [`CertificateAuthority`] that enforces the hierarchy: only
//!   the root issues region CAs; a region CA issues leaves for its own
//!   region only. Also issues CRLs ([`CertificateAuthority::crl`]).
//! - Reads the credex identity of a certificate ([`identity_from_der`]).
//! - Verifies a certificate with rustls-webpki against the root and the
//!   CRLs, and enforces the federation's rules on top ([`TrustStore::verify`]):
//!   the path is root → region CA → leaf, the leaf's region is its region
//!   CA's, and the leaf kind suits the purpose.
//! - Signs and verifies domain-separated message signatures ([`signing`]).
//! - Verifies the dual authorization (双授权) of a query — requester,
//!   approver, subject authorization — and signs and verifies its parts and
//!   the response ([`authorization`]); a verified query yields the proof
//!   token [`AuthorizationVerified`].
//! - Computes the keyed pseudonyms that name natural persons, and holds the
//!   federation's pseudonymization key ring ([`pseudonym`]).
//! - With the `pkcs11` feature, opens, generates and signs with keys inside
//!   a hardware security module (`module_key`, decision 1090); issues node
//!   and region CA certificates for such keys' public halves
//!   ([`CertificateAuthority::issue_node_for_key`]), and signs as a CA
//!   whose key is in one ([`CertificateAuthority::in_device`]).
//!
//! # What it does not do
//!
//! No file or network I/O, no async, no clock: PEM text comes in as strings,
//! the current time as a parameter. Key generation and serial numbers use
//! the operating system's random generator through ring. It does not fetch
//! or store CRLs, decide which peers are federation members, or check that a
//! TLS peer's certificate names the region that was dialled — the node does
//! that with the [`CertIdentity`] returned here. The one exception is the
//! `pkcs11` feature's `module_key`, which loads the vendor's PKCS#11
//! library and talks to its token (the PIN still comes in as a value).
//!
//! # Identity encoding (wire and file format contract)
//!
//! Every credex certificate carries exactly one subject-alternative-name URI
//! naming its credex identity; `RRRRRR` is a six-digit GB/T 2260 region code
//! (`000000` = national platform), `NAME` a node name (1–63 of `a-z0-9-`):
//!
//! | certificate | URI | CA | key usage | extended key usage |
//! |---|---|---|---|---|
//! | federation root CA | `urn:credex:root` | yes, path length 1 | keyCertSign, cRLSign | — |
//! | region CA | `urn:credex:region-ca:RRRRRR` | yes, path length 0 | keyCertSign, cRLSign | — |
//! | node | `urn:credex:node:RRRRRR:NAME` (+ DNS/IP names) | no | digitalSignature | serverAuth, clientAuth |
//! | operator | `urn:credex:operator:RRRRRR:ROLE:NAME`, ROLE ∈ requester, approver, auditor, admin | no | digitalSignature, contentCommitment | none |
//! | authorization authority | `urn:credex:authority:RRRRRR:NAME` | no | digitalSignature, contentCommitment | none |
//! | gateway client | `urn:credex:client:RRRRRR:ROLES:NAME`, ROLES a sorted `+`-joined set of audit, check, events, feed, query, sar | no | digitalSignature | clientAuth |
//!
//! The URI grammar is exact (lowercase, no extra components). A certificate
//! with no `urn:credex:` URI, more than one (compared case-insensitively), a
//! malformed one, or a CA identity on a non-CA certificate (or the reverse)
//! is refused.
//!
//! Subject DN: `C=CN, O=credex federation`, `OU=region RRRRRR` for
//! region-scoped certificates, a human-readable `CN`; CA certificates also
//! carry the DN attribute serialNumber = the first 8 bytes of their key
//! identifier in hex, so a re-keyed region CA has a distinct name and CRLs
//! of its predecessor never apply to it. No custom extensions are used.
//! Serial numbers are 16 random bytes, positive. Keys are Ed25519 (default),
//! ECDSA P-256 or SM2 for every certificate type; private keys are PKCS#8
//! PEM. A certificate or CRL signed by an SM2 CA carries SM2-with-SM3
//! (GM/T 0015, signer identity `1234567812345678`), the same profile
//! otherwise: rcgen lays it out and credex puts in the SM2 identifiers and
//! signs it (decision 1060).

#![forbid(unsafe_code)]

pub mod authorization;
mod cert_key;
pub mod crl_validity;
mod gateway_roles;
pub mod identity;
pub mod issue;
mod issue_error;
pub mod key_file;
pub mod log_key;
#[cfg(feature = "pkcs11")]
pub mod module_key;
pub mod pseudonym;
pub mod sign_in;
pub mod signing;
mod sm2_x509;
pub mod trust;

pub use authorization::{
    AuthorizationError, AuthorizationVerified, QueryContext, ResponseError, SignProofError,
    VerifiedSubjectAuthorization, verify_authorized_query,
};
pub use identity::{
    CertIdentity, CertKind, GatewayRole, GatewayRoles, GatewayRolesError, IdentityError, PemError,
    Subject, certs_from_pem, identity_from_der,
};
pub use issue::{
    CaLoadError, CertificateAuthority, HeldPublicKey, IssueError, Issued, IssuedCertificate,
    KeyAlgorithm, RevokedCert, UnknownKeyAlgorithm, Validity, create_root, create_root_in_device,
};
pub use pseudonym::{PseudonymError, PseudonymKey, PseudonymKeyError, PseudonymKeyRing};
pub use trust::{ChainPart, Purpose, TrustError, TrustStore, VerifiedCert, VerifyError};

/// Operations that break the federation's issuance rules, for tests only
/// (forging certificates to check that verifiers refuse them). Nothing in a
/// running node calls these.
pub mod danger {
    use std::net::IpAddr;

    use credex_protocol::{NodeName, RegionCode};

    use crate::{CertificateAuthority, IssueError, Issued, KeyAlgorithm, Validity};

    /// Issue a node certificate naming `region` from any CA — the root, or
    /// a region CA of another region. [`TrustStore::verify`](crate::TrustStore::verify)
    /// must refuse the result (wrong chain shape, or
    /// [`VerifyError::RegionMismatch`](crate::VerifyError::RegionMismatch)).
    pub fn issue_node_for(
        ca: &CertificateAuthority,
        region: RegionCode,
        name: &NodeName,
        dns_names: &[String],
        ip_addrs: &[IpAddr],
        alg: KeyAlgorithm,
        validity: Validity,
    ) -> Result<Issued, IssueError> {
        ca.issue_node_unchecked(region, name, dns_names, ip_addrs, alg, validity)
    }
}
