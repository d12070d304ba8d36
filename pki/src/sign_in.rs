//! An officer signing in to a node's web console (控制台登录) with the
//! operator certificate and key that sign their requests: the console
//! hands out a one-use challenge, the officer's browser signs it with the
//! key it never sends, and [`verify_sign_in`] decides who signed.
//!
//! The signed message binds the challenge to the console's origin
//! ([`sign_in_message`]), so a signature collected by a look-alike site
//! cannot open a session at the real console. What is checked, in order:
//!
//! 1. the chain is readable and within bounds ([`SignInError::UnreadableChain`]);
//! 2. it verifies to the federation root as of `now`, with the CRLs and the
//!    region rule, as a signing certificate ([`SignInError::Untrusted`]);
//! 3. it names an operator ([`SignInError::NotAnOfficer`]) of the node's own
//!    region ([`SignInError::OtherRegion`]);
//! 4. the signature over [`DOMAIN_CONSOLE_SIGN_IN`] ‖ message verifies
//!    ([`SignInError::BadSignature`]).
//!
//! Pure: the challenge's freshness and single use are the caller's (the
//! node keeps the challenges), and so is the session that follows.

use credex_protocol::RegionCode;
use credex_protocol::query::SignerProof;
use rustls_pki_types::UnixTime;

use crate::identity::{CertIdentity, CertKind, Subject};
use crate::signing::{SignatureError, verify_signature};
use crate::trust::{Purpose, TrustStore, VerifyError};

/// Domain separation tag of a console sign-in signature.
pub const DOMAIN_CONSOLE_SIGN_IN: &[u8] = b"credex/console-sign-in/v1";

/// Length of a sign-in challenge, bytes.
pub const CHALLENGE_LEN: usize = 32;

/// Longest origin a sign-in message binds, bytes.
pub const MAX_ORIGIN_LEN: usize = 255;

/// Why a sign-in was refused. The messages name regions and certificate
/// kinds, never the officer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// Rule 1: the chain is empty, too long, or a certificate is empty or
    /// too large.
    #[error("the certificate chain is unreadable: {0}")]
    UnreadableChain(String),
    /// Rule 2: the chain does not verify (another federation, expired,
    /// revoked, not a signing certificate …).
    #[error("the certificate is not trusted: {0}")]
    Untrusted(VerifyError),
    /// Rule 3: the certificate is not an operator's.
    #[error("the certificate is {0}, not an operator's: only officers sign in")]
    NotAnOfficer(CertKind),
    /// Rule 3: the operator belongs to another region.
    #[error("the officer belongs to region {officer}, but this console serves region {console}")]
    OtherRegion {
        /// The officer's region.
        officer: RegionCode,
        /// The console's region.
        console: RegionCode,
    },
    /// Rule 4: the signature does not verify with the certificate's key.
    #[error("the signature over the challenge does not verify: {0}")]
    BadSignature(SignatureError),
}

/// The message an officer signs to sign in: the challenge, then the
/// console's origin (`https://host:port`) as the browser reports it.
/// `None` if the origin is longer than [`MAX_ORIGIN_LEN`].
pub fn sign_in_message(challenge: &[u8; CHALLENGE_LEN], origin: &str) -> Option<Vec<u8>> {
    let origin_len = u8::try_from(origin.len()).ok()?;
    let mut message = Vec::with_capacity(CHALLENGE_LEN + 1 + origin.len());
    message.extend_from_slice(challenge);
    message.push(origin_len);
    message.extend_from_slice(origin.as_bytes());
    Some(message)
}

/// Verify that `proof` is an officer of `region` signing `message` (see
/// the module doc for the rules). Returns the officer's verified identity.
pub fn verify_sign_in(
    proof: &SignerProof,
    message: &[u8],
    region: RegionCode,
    trust: &TrustStore,
    now: UnixTime,
) -> Result<CertIdentity, SignInError> {
    proof
        .validate()
        .map_err(|e| SignInError::UnreadableChain(e.to_string()))?;
    let verified = trust
        .verify_chain(&proof.chain, now, Purpose::Signing)
        .map_err(SignInError::Untrusted)?;
    match verified.identity().subject {
        Subject::Operator {
            region: officer, ..
        } if officer != region => {
            return Err(SignInError::OtherRegion {
                officer,
                console: region,
            });
        }
        Subject::Operator { .. } => {}
        _ => return Err(SignInError::NotAnOfficer(verified.identity().kind())),
    }
    let leaf = proof.chain.first().map(Vec::as_slice).unwrap_or_default();
    verify_signature(leaf, DOMAIN_CONSOLE_SIGN_IN, message, &proof.signature)
        .map_err(SignInError::BadSignature)?;
    Ok(verified.into_identity())
}
