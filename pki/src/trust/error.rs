//! Why a trust store could not be built, and why a certificate or chain
//! was refused: one variant per rule, each naming what was found.

use std::fmt;

use credex_protocol::{SignatureAlgorithm, Suite};

use super::Purpose;
use crate::identity::{CertKind, IdentityError, PemError};

/// Why a trust store could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustError {
    /// The root PEM holds no readable certificate.
    #[error("root certificate: {0}")]
    RootPem(PemError),
    /// The root PEM holds more than one certificate.
    #[error("root certificate PEM holds {0} certificates; expected exactly one")]
    MultipleRoots(usize),
    /// The root certificate's credex identity could not be read.
    #[error("root certificate: {0}")]
    RootIdentity(IdentityError),
    /// The certificate given as root does not name the federation root.
    #[error("the trust anchor must name the federation root (urn:credex:root), but it names {0}")]
    NotARoot(CertKind),
    /// webpki could not use the root certificate as a trust anchor.
    #[error("root certificate cannot be a trust anchor: {0}")]
    BadRoot(webpki::Error),
    /// The root's key is of no algorithm credex signs with, so the
    /// federation has no crypto suite.
    #[error("root certificate's key: {0}")]
    RootKey(String),
    /// A CRL PEM text is malformed or holds no `X509 CRL` section.
    #[error("CRL text #{index}: {reason}")]
    CrlPem {
        /// Position of the text in the list given.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A CRL could not be parsed.
    #[error("CRL #{index} is not a usable CRL: {reason}")]
    BadCrl {
        /// Position of the CRL in the list given.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// Two different CRLs of the same issuer carry the same CRL number.
    #[error(
        "CRLs #{first} and #{second} come from the same CA with the same CRL number but differ"
    )]
    ConflictingCrls {
        /// Position of the first.
        first: usize,
        /// Position of the second.
        second: usize,
    },
}

/// Why a certificate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The chain holds no certificate.
    #[error("the certificate chain is empty")]
    EmptyChain,
    /// The certificate's credex identity could not be read.
    #[error("certificate: {0}")]
    Identity(IdentityError),
    /// The issuing CA certificate's credex identity could not be read.
    #[error("issuing CA certificate: {0}")]
    IssuerIdentity(IdentityError),
    /// The certificate kind does not suit the purpose.
    #[error("{found} certificate cannot be used for {expected}")]
    WrongKind {
        /// What the certificate was presented for.
        expected: Purpose,
        /// What kind of certificate it is.
        found: CertKind,
    },
    /// No chain leads to the federation root: issued under another root, or
    /// the issuing region CA certificate was not supplied.
    #[error(
        "certificate does not chain to the federation root (issued under another root, or its region CA certificate is missing)"
    )]
    UnknownIssuer,
    /// A signature in the chain does not verify.
    #[error("a signature in the certificate chain does not verify")]
    BadSignature,
    /// A certificate in the chain has expired.
    #[error("a certificate in the chain expired at {not_after} (verification time {now})")]
    Expired {
        /// When it expired.
        not_after: String,
        /// The verification time.
        now: String,
    },
    /// A certificate in the chain is not yet valid.
    #[error(
        "a certificate in the chain is not valid before {not_before} (verification time {now})"
    )]
    NotYetValid {
        /// When it becomes valid.
        not_before: String,
        /// The verification time.
        now: String,
    },
    /// The certificate is listed in its region CA's CRL.
    #[error("certificate is revoked (listed in its region CA's CRL)")]
    Revoked,
    /// The issuing region CA is listed in the root's CRL.
    #[error("the region CA that issued this certificate is revoked (listed in the root's CRL)")]
    IssuerRevoked,
    /// A CRL that applies to the chain is invalid (bad signature, or its
    /// issuer may not sign CRLs).
    #[error("a CRL that applies to this chain is invalid: {0}")]
    BadCrl(webpki::Error),
    /// The certificate's extended key usage does not allow the purpose.
    #[error("certificate's extended key usage does not allow {purpose}: {error}")]
    UsageNotAllowed {
        /// The purpose asked for.
        purpose: Purpose,
        /// webpki's finding.
        error: webpki::Error,
    },
    /// A signing certificate carries an extended key usage extension (credex
    /// operator and authority certificates have none).
    #[error("an operator or authority certificate must not carry an extended key usage extension")]
    SigningCertWithExtendedKeyUsage,
    /// The chain is not root → region CA → certificate.
    #[error(
        "certificate chain has {0} intermediate CAs; it must be exactly root → region CA → certificate"
    )]
    WrongChainLength(usize),
    /// The issuing CA is not a region CA.
    #[error("the certificate's issuer is {0}, not a region CA")]
    IssuerNotRegionCa(CertKind),
    /// A region CA issued a certificate for another region.
    #[error(
        "certificate names region {leaf} but was issued by the region CA of {issuer}; a region CA may only issue for its own region"
    )]
    RegionMismatch {
        /// The region the certificate names.
        leaf: String,
        /// The issuing CA's region.
        issuer: String,
    },
    /// Any other reason webpki refused the chain.
    #[error("certificate chain does not verify: {0}")]
    BadChain(webpki::Error),
    /// A key in the chain is of another crypto suite than the federation's
    /// (its root's): a mixed federation is refused.
    #[error(
        "the {part}'s key signs with {found:?}, which is not of this federation's crypto suite {suite} \
         (set by its root); a federation never mixes suites"
    )]
    OutsideSuite {
        /// Which certificate of the chain.
        part: ChainPart,
        /// Its key's signature algorithm.
        found: SignatureAlgorithm,
        /// The federation's suite.
        suite: Suite,
    },
    /// A key in the chain is of no algorithm credex signs with.
    #[error("the {part}'s key is of no algorithm credex signs with: {reason}")]
    UnreadableKey {
        /// Which certificate of the chain.
        part: ChainPart,
        /// Why it could not be read.
        reason: String,
    },
}

/// A certificate of a chain, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainPart {
    /// The issuing region CA.
    RegionCa,
    /// The certificate verified (an operator's or authority's, for
    /// signing).
    Certificate,
}

impl fmt::Display for ChainPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChainPart::RegionCa => "region CA certificate",
            ChainPart::Certificate => "certificate",
        })
    }
}
