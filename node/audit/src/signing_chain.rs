//! The second checkpoint line of an `sm2-sm3` log (decision 1070).
//!
//! Under the `sm2-sm3` suite a node signs its messages with an SM2 key
//! whose certificate is not its TLS certificate, and signs every checkpoint
//! twice: the Ed25519 line of the TLS key (`node.pem`, what C2SP tools
//! check) and an SM2 line of the signing key. Its export then carries the
//! signing chain as `node-signing.pem`. When that file is present, the
//! auditor verifies it as a certificate of the same node and requires the
//! SM2 line on every checkpoint it reads (in an `sm2-sm3` federation an
//! export without it is a `signing_certificate` violation): a checkpoint whose SM2 line is
//! missing or does not verify is refused (`checkpoint_sm2_signature`), as
//! one with a bad Ed25519 line is.

use std::path::Path;

use credex_pki::log_key::node_checkpoint_verifier;
use credex_pki::{Purpose, Subject};
use credex_protocol::tlog::{SignatureType, VerifierKey, open_checkpoint};
use credex_protocol::{NodeName, RegionCode};
use rustls_pki_types::CertificateDer;

use crate::verify::Auditor;

/// The file an export carries the node's message-signing chain in.
pub(crate) const SIGNING_CHAIN_FILE: &str = "node-signing.pem";

impl Auditor<'_> {
    /// The SM2 line's key of the export in `dir`, of node `node` of
    /// `region` (from `node.pem`): `None` when the export carries no
    /// signing chain, or when the chain is refused (a `signing_certificate`
    /// violation; the log is then read on its Ed25519 line alone).
    pub(crate) fn signing_key(
        &mut self,
        dir: &Path,
        region: RegionCode,
        node: &NodeName,
    ) -> Option<VerifierKey> {
        let path = dir.join(SIGNING_CHAIN_FILE);
        let log = dir.display().to_string();
        if !path.exists() {
            // Under `sm2-sm3` every node signs with an SM2 certificate of its
            // own, and its export must carry it: without it no SM2 line
            // could be checked.
            if self.trust.suite() == credex_protocol::Suite::Sm2Sm3 {
                self.violation(
                    &log,
                    None,
                    "signing_certificate",
                    format!(
                        "the federation's suite is sm2-sm3, but the export carries no \
                         {SIGNING_CHAIN_FILE}: its checkpoints' SM2 line cannot be checked"
                    ),
                );
            }
            return None;
        }
        match self.read_signing_key(&path, region, node) {
            Ok(key) => Some(key),
            Err(detail) => {
                self.violation(
                    &log,
                    None,
                    "signing_certificate",
                    format!("{SIGNING_CHAIN_FILE}: {detail}"),
                );
                None
            }
        }
    }

    fn read_signing_key(
        &self,
        path: &Path,
        region: RegionCode,
        node: &NodeName,
    ) -> Result<VerifierKey, String> {
        let pem = std::fs::read_to_string(path).map_err(|e| e.to_string())?;
        let certs = credex_pki::certs_from_pem(&pem).map_err(|e| e.to_string())?;
        let (leaf, rest) = certs.split_first().ok_or("no certificate")?;
        let rest: Vec<CertificateDer<'_>> = rest.to_vec();
        let verified = self
            .trust
            .verify(leaf, &rest, self.now, Purpose::TlsServer)
            .map_err(|e| format!("the signing certificate does not verify: {e}"))?;
        match &verified.identity().subject {
            Subject::Node { region: r, name } if *r == region && name == node => {}
            other => {
                return Err(format!(
                    "the signing certificate is {other}'s, not node {node} of {region}'s"
                ));
            }
        }
        let key = node_checkpoint_verifier(leaf, region, node).map_err(|e| e.to_string())?;
        if key.sig_type() != SignatureType::Sm2Sm3 {
            return Err(format!(
                "the signing certificate holds a {:?} key; the checkpoints' second line is SM2",
                key.sig_type()
            ));
        }
        Ok(key)
    }

    /// Whether the checkpoint `bytes` (read as `label`) carries a valid line
    /// by `sm2`, when there is one to check; a violation if not.
    pub(crate) fn check_sm2_line(
        &mut self,
        origin: &str,
        label: &str,
        bytes: &[u8],
        sm2: Option<&VerifierKey>,
    ) -> bool {
        let Some(key) = sm2 else {
            return true;
        };
        match open_checkpoint(bytes, key, &[]) {
            Ok(_) => true,
            Err(e) => {
                self.violation(
                    origin,
                    None,
                    "checkpoint_sm2_signature",
                    format!(
                        "{label}: the line of the signing certificate ({SIGNING_CHAIN_FILE}): {e}"
                    ),
                );
                false
            }
        }
    }
}
