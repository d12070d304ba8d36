//! Officers' signatures as a region system submits them: made outside the
//! node (the gateway never holds an officer's key), checked here exactly as
//! the responder will check them (pki's rules 4–6), so a bad signature is
//! refused at once and never travels.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use credex_protocol::query::SignerProof;
use credex_protocol::{Signature, SignatureAlgorithm};

use super::model::OfficerSignature;
use crate::gateway::problem::{Problem, ProblemType};

/// Most certificates in a submitted chain.
pub const MAX_CHAIN: usize = 4;

/// The proof a submitted signature stands for, or the member at fault.
pub fn proof(sig: &OfficerSignature) -> Result<SignerProof, Problem> {
    if sig.chain.is_empty() || sig.chain.len() > MAX_CHAIN {
        return Err(invalid(
            "/chain",
            format!(
                "expected 1 to {MAX_CHAIN} certificates (operator first, then region CA), got {}",
                sig.chain.len()
            ),
        ));
    }
    let chain = sig
        .chain
        .iter()
        .enumerate()
        .map(|(i, c)| {
            STANDARD
                .decode(c.trim())
                .map_err(|e| invalid(&format!("/chain/{i}"), format!("not base64 DER: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let algorithm = match sig.algorithm.as_str() {
        "ed25519" => SignatureAlgorithm::Ed25519,
        "ecdsa-p256-sha256" => SignatureAlgorithm::EcdsaP256Sha256,
        "sm2-sm3" => SignatureAlgorithm::Sm2Sm3,
        other => {
            return Err(invalid(
                "/algorithm",
                format!("{other:?}: expected \"ed25519\", \"ecdsa-p256-sha256\" or \"sm2-sm3\""),
            ));
        }
    };
    let bytes = STANDARD
        .decode(sig.signature.trim())
        .map_err(|e| invalid("/signature", format!("not base64: {e}")))?;
    Ok(SignerProof {
        chain,
        signature: Signature { algorithm, bytes },
    })
}

fn invalid(field: &str, detail: String) -> Problem {
    Problem::new(ProblemType::FieldInvalid, detail).at_field(field)
}
