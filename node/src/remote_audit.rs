//! Remote audit (docs/design.md §7): an operator holding the `auditor` role — of
//! this node's region, or of the national platform — fetches checkpoints,
//! tiles, entry bundles and authorization bundles of this node's log over
//! the protocol, file by file in the layout of `credex log export`. Nobody
//! else may. Every fetch is itself logged.

use std::collections::HashMap;
use std::path::Path;

use credex_pki::signing::SigningKey;
use credex_pki::{Purpose, Subject, TrustStore};
use credex_protocol::tlog::{
    Hash, HashReadError, HashReader, TilePath, encode_entry_bundle, read_tile, tile_for_size,
};
use credex_protocol::{AuditFetch, AuditRequest, DOMAIN_AUDIT_FETCH, ErrorCode, RegionCode, Role};
use rustls_pki_types::UnixTime;

use crate::log::Checkpoints;
use crate::storage::Storage;

/// Why a fetch was refused: a wire code and a message.
pub type Refusal = (ErrorCode, String);

/// Check an audit fetch's signer: an `auditor` of `region` or of the
/// national platform, chain valid now, signature valid, fresh.
pub fn authorize(
    fetch: &AuditFetch,
    trust: &TrustStore,
    region: RegionCode,
    now_ms: i64,
    max_skew_ms: i64,
) -> Result<String, Refusal> {
    let denied = |m: String| (ErrorCode::NotAuthorized, m);
    if fetch.request.target_region != region {
        return Err(denied(format!(
            "the fetch is addressed to region {}",
            fetch.request.target_region
        )));
    }
    if (now_ms - fetch.request.issued_at_ms).abs() > max_skew_ms {
        return Err(denied(
            "the fetch is stale (outside the clock-skew window)".into(),
        ));
    }
    let leaf = fetch
        .auditor
        .chain
        .first()
        .ok_or_else(|| denied("no signer certificate".into()))?;
    let now = UnixTime::since_unix_epoch(std::time::Duration::from_millis(
        u64::try_from(now_ms).unwrap_or(0),
    ));
    let verified = trust
        .verify_chain(&fetch.auditor.chain, now, Purpose::Signing)
        .map_err(|e| denied(format!("the signer's certificate does not verify: {e}")))?;
    match &verified.identity().subject {
        Subject::Operator {
            role: Role::Auditor,
            region: r,
            ..
        } if *r == region || r.is_national() => {}
        other => {
            return Err(denied(format!(
                "{other} may not audit this node: an auditor of region {region} or of the national platform is needed"
            )));
        }
    }
    let bytes = credex_protocol::encode(&fetch.request).map_err(|e| denied(e.to_string()))?;
    credex_pki::signing::verify_signature(
        leaf,
        DOMAIN_AUDIT_FETCH,
        &bytes,
        &fetch.auditor.signature,
    )
    .map_err(|e| denied(format!("bad signature: {e}")))?;
    Ok(verified.identity().subject.to_uri())
}

/// Records which stored-hash indexes `read_tile` asks for.
struct Recorder(std::cell::RefCell<Vec<u64>>);

impl HashReader for Recorder {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError> {
        self.0.borrow_mut().extend_from_slice(indexes);
        Ok(vec![Hash([0; 32]); indexes.len()])
    }
}

/// What follows an attachment's path to name the entry that keeps it:
/// `attachments/<hex sha-256>?entry=<index>` (decision 1220).
pub const ENTRY_HINT: &str = "?entry=";

/// The path that asks for attachment `digest`, kept by entry `index`.
pub fn attachment_path(digest: &[u8; 32], index: u64) -> String {
    format!("attachments/{}{ENTRY_HINT}{index}", hex::encode(digest))
}

/// Serve one file of the log's export layout: `node.pem`, and under
/// `sm2-sm3` `node-signing.pem`, come from `chains`. An entry's
/// attachment is asked for with the entry that keeps it
/// ([`attachment_path`]); `attachments/<hex>` alone serves what is stored
/// by digest (parts, and attachments stored before decision 1220).
pub async fn serve(
    storage: &Storage,
    checkpoints: &Checkpoints,
    chains: crate::export::NodeChains<'_>,
    path: &str,
) -> Result<Vec<u8>, Refusal> {
    let size = storage.tree_head().size;
    match path {
        "node.pem" => Ok(chains.tls.as_bytes().to_vec()),
        "node-signing.pem" => chains
            .signing
            .map(|pem| pem.as_bytes().to_vec())
            .ok_or_else(|| not_found(path)),
        "checkpoint" => newest_checkpoint(storage, checkpoints, size, path).await,
        "cosigned" => newest_cosigned(storage, path).await,
        _ => match path.strip_prefix("attachments/") {
            Some(hex_digest) => attachment(storage, hex_digest, path).await,
            None => tile(storage, size, path).await,
        },
    }
}

fn internal(e: impl std::fmt::Display) -> Refusal {
    (ErrorCode::Internal, e.to_string())
}

fn not_found(path: &str) -> Refusal {
    (ErrorCode::NotFound, format!("no {path:?} in this log"))
}

/// The checkpoint covering the whole log now, with its cosignatures.
async fn newest_checkpoint(
    storage: &Storage,
    checkpoints: &Checkpoints,
    size: u64,
    path: &str,
) -> Result<Vec<u8>, Refusal> {
    if size == 0 {
        return Err(not_found(path));
    }
    let head = checkpoints.covering(size - 1).await.map_err(internal)?;
    let mut note = head.note;
    for (_, line) in storage.cosignatures(head.size).await.map_err(internal)? {
        note.push_str(&line);
    }
    Ok(note.into_bytes())
}

/// The newest checkpoint a witness cosigned, with its cosignatures: the
/// auditor's anchor (audit_anchor).
async fn newest_cosigned(storage: &Storage, path: &str) -> Result<Vec<u8>, Refusal> {
    let cosigned = storage
        .latest_cosigned_size()
        .await
        .map_err(internal)?
        .ok_or_else(|| not_found(path))?;
    let (_, note) = storage
        .checkpoints_after(cosigned - 1, 1)
        .await
        .map_err(internal)?
        .into_iter()
        .find(|(s, _)| *s == cosigned)
        .ok_or_else(|| not_found(path))?;
    let note = crate::export::with_cosignatures(storage, cosigned, note)
        .await
        .map_err(internal)?;
    Ok(note.into_bytes())
}

/// An attachment by its hex SHA-256, with the index of the entry that keeps
/// it when `hinted` names one (`<hex>?entry=<index>`).
async fn attachment(storage: &Storage, hinted: &str, path: &str) -> Result<Vec<u8>, Refusal> {
    let (hex_digest, entry) = match hinted.split_once(ENTRY_HINT) {
        Some((hex_digest, index)) => {
            let index = index.parse::<u64>().map_err(|_| {
                (
                    ErrorCode::NotFound,
                    format!(
                        "no {path:?} in this log: the entry index after {ENTRY_HINT:?} is not a number"
                    ),
                )
            })?;
            (hex_digest, Some(index))
        }
        None => (hinted, None),
    };
    let digest: [u8; 32] = hex::decode(hex_digest)
        .ok()
        .and_then(|d| d.try_into().ok())
        .ok_or_else(|| {
            (
                ErrorCode::NotFound,
                format!("no {path:?} in this log: expected attachments/<64 hex digits>"),
            )
        })?;
    let found = match entry {
        Some(index) => storage.entry_attachment(index, &digest).await,
        None => storage.attachment(&digest).await,
    };
    found.map_err(internal)?.ok_or_else(|| match entry {
        Some(_) => not_found(path),
        None => (
            ErrorCode::NotFound,
            format!(
                "no {path:?} stored by digest alone in this log: an entry's attachment is asked \
                 for with the entry that names it, attachments/<hex>{ENTRY_HINT}<index>"
            ),
        ),
    })
}

/// A hash tile or an entry bundle of a tree no larger than the current one
/// (the log may have grown since the auditor's checkpoint).
async fn tile(storage: &Storage, size: u64, path: &str) -> Result<Vec<u8>, Refusal> {
    match TilePath::parse(path).map_err(|_| not_found(path))? {
        TilePath::Hashes(tile) => {
            match tile_for_size(tile.level(), tile.index(), size) {
                Some(max) if tile.width() <= max.width() => {}
                _ => return Err(not_found(path)),
            }
            let recorder = Recorder(Default::default());
            read_tile(&tile, &recorder).map_err(internal)?;
            let indexes = recorder.0.into_inner();
            let hashes = storage.read_tree_hashes(&indexes).await.map_err(internal)?;
            let map: HashMap<u64, Hash> = indexes.into_iter().zip(hashes).collect();
            read_tile(&tile, &map).map_err(internal)
        }
        TilePath::Entries(bundle) => {
            match tile_for_size(0, bundle.index(), size) {
                Some(max) if bundle.width() <= max.width() => {}
                _ => return Err(not_found(path)),
            }
            let records = storage
                .journal_range(bundle.first_entry(), u32::from(bundle.width()))
                .await
                .map_err(internal)?;
            let entries: Vec<Vec<u8>> = records
                .iter()
                .map(|r| credex_journal::entry_bytes(r.kind, r.recorded_at_unix_ms, &r.body))
                .collect();
            encode_entry_bundle(entries.iter().map(Vec::as_slice)).map_err(internal)
        }
    }
}

/// Why an audit fetch could not be signed ([`sign_fetch`]).
#[derive(Debug, thiserror::Error)]
pub enum SignFetchError {
    /// The request does not encode.
    #[error("encoding the audit fetch: {0}")]
    Encode(#[from] credex_protocol::FrameError),
    /// The auditor's key did not sign.
    #[error("signing the audit fetch: {0}")]
    Sign(#[from] credex_pki::signing::SignError),
}

/// Why a log could not be fetched whole ([`fetch_log`],
/// [`fetch_log_with`]). Each variant names the file of the export layout
/// it was fetching, or the file it was writing.
#[derive(Debug, thiserror::Error)]
pub enum FetchLogError {
    /// The request for a file could not be signed.
    #[error("{path}: {source}")]
    Sign {
        /// The file asked for.
        path: String,
        /// Why.
        source: SignFetchError,
    },
    /// The node did not serve the file: refused it, answered something
    /// else, or the connection failed.
    #[error("{path}: {reason}")]
    NotServed {
        /// The file asked for.
        path: String,
        /// What the node or the connection said.
        reason: String,
    },
    /// A served checkpoint is not a signed note of a checkpoint.
    #[error("{path}: not a checkpoint: {reason}")]
    BadCheckpoint {
        /// The file.
        path: String,
        /// What the parser refused.
        reason: String,
    },
    /// A served entry bundle does not decode at its width.
    #[error("{path}: {source}")]
    BadBundle {
        /// The file.
        path: String,
        /// What the decoder refused.
        source: credex_protocol::tlog::EntryBundleError,
    },
    /// A fetched file could not be written.
    #[error("{}: {source}", file.display())]
    Save {
        /// The file written.
        file: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Sign an audit fetch as `auditor` (an operator with the auditor role).
pub fn sign_fetch(
    path: &str,
    target: RegionCode,
    key: &SigningKey,
    chain: Vec<Vec<u8>>,
) -> Result<AuditFetch, SignFetchError> {
    let request = AuditRequest {
        path: path.to_owned(),
        target_region: target,
        nonce: crate::requester::random_id(),
        issued_at_ms: crate::clock::now_ms(),
    };
    let bytes = credex_protocol::encode(&request)?;
    let signature = key.sign(DOMAIN_AUDIT_FETCH, &bytes)?;
    Ok(AuditFetch {
        request,
        auditor: credex_protocol::query::SignerProof { chain, signature },
    })
}

/// Fetch a whole log over `conn` into `out` (the layout `credex audit verify`
/// reads): checkpoint, node certificate, tiles, entry bundles and the
/// authorization bundles its access entries name. Returns the tree size.
pub async fn fetch_log(
    conn: &crate::transport::PeerConnection,
    auditor: &crate::requester::Signer,
    out: &Path,
) -> Result<u64, FetchLogError> {
    let target = conn.peer().region;
    let get = |path: String| async move {
        let fetch =
            sign_fetch(&path, target, &auditor.key, auditor.chain.clone()).map_err(|source| {
                FetchLogError::Sign {
                    path: path.clone(),
                    source,
                }
            })?;
        let not_served = |reason: String| FetchLogError::NotServed {
            path: path.clone(),
            reason,
        };
        match conn
            .request(&credex_protocol::Request::AuditFetch(fetch))
            .await
        {
            Ok(credex_protocol::Response::AuditData(bytes)) => Ok(bytes),
            Ok(other) => Err(not_served(format!("unexpected answer {other:?}"))),
            Err(e) => Err(not_served(e.to_string())),
        }
    };
    fetch_log_with(get, out).await
}

/// Fetch a whole log file by file with `get` (which reads one path of the
/// export layout: over the federation protocol, or from the node's
/// gateway) into `out`. Returns the tree size. `get` fails with
/// [`FetchLogError::NotServed`] (or [`FetchLogError::Sign`]) for a file it
/// could not read; the optional files (`cosigned`, `node-signing.pem`,
/// authorization bundles) may fail without failing the fetch.
pub async fn fetch_log_with<F, Fut>(mut get: F, out: &Path) -> Result<u64, FetchLogError>
where
    F: FnMut(String) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<u8>, FetchLogError>>,
{
    let save = |path: &str, bytes: &[u8]| -> Result<(), FetchLogError> {
        let file = out.join(path);
        crate::file_modes::write_private(&file, bytes)
            .map_err(|source| FetchLogError::Save { file, source })
    };
    let checkpoint = get("checkpoint".into()).await?;
    save("checkpoint", &checkpoint)?;
    // The newest cosigned checkpoint, if a witness ever cosigned one: what
    // anchors the log for the auditor beyond the node's own key.
    if let Ok(cosigned) = get("cosigned".into()).await {
        let size = checkpoint_size("cosigned", &cosigned)?;
        save(&format!("checkpoints/{size}"), &cosigned)?;
    }
    save("node.pem", &get("node.pem".into()).await?)?;
    // Under `sm2-sm3` the chain of the SM2 key that signs each checkpoint's
    // second line; an `ed25519-sha256` node has none (and the auditor says
    // so if the federation's suite needs it).
    if let Ok(signing) = get("node-signing.pem".into()).await {
        save("node-signing.pem", &signing)?;
    }
    let size = checkpoint_size("checkpoint", &checkpoint)?;
    for tile in credex_protocol::tlog::tiles_for_size(size) {
        save(&tile.path(), &get(tile.path()).await?)?;
    }
    for bundle in credex_protocol::tlog::entry_bundles_for_size(size) {
        let bytes = get(bundle.path()).await?;
        let entries = credex_protocol::tlog::decode_entry_bundle(&bytes, bundle.width()).map_err(
            |source| FetchLogError::BadBundle {
                path: bundle.path(),
                source,
            },
        )?;
        for (index, entry) in (bundle.first_entry()..).zip(entries) {
            if let Ok(access) = credex_journal::parse_access_entry(entry)
                && access.direction == credex_journal::Direction::Received
            {
                let path = format!("attachments/{}", hex::encode(access.query_digest));
                if let Ok(b) = get(attachment_path(&access.query_digest, index)).await {
                    save(&path, &b)?;
                }
            }
        }
        save(&bundle.path(), &bytes)?;
    }
    Ok(size)
}

/// The tree size the checkpoint served as `path` names (its signatures are
/// the auditor's to check).
fn checkpoint_size(path: &str, bytes: &[u8]) -> Result<u64, FetchLogError> {
    let bad = |reason: String| FetchLogError::BadCheckpoint {
        path: path.to_owned(),
        reason,
    };
    let note = credex_protocol::tlog::Note::parse(bytes).map_err(|e| bad(e.to_string()))?;
    let checkpoint =
        credex_protocol::tlog::Checkpoint::parse(note.text()).map_err(|e| bad(e.to_string()))?;
    Ok(checkpoint.size())
}
