//! C2SP checkpoints (`c2sp.org/tlog-checkpoint`): the signed tree head of a
//! log, as the text of a signed note.
//!
//! ```text
//! credex/520000/gy-1
//! 20852163
//! CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=
//! ```
//!
//! Origin line, tree size (decimal, no leading zeros), base64 root hash, then
//! optional non-empty extension lines: credex writes one under the
//! `sm2-sm3` suite, the SM3 tree's root ([`super::sm3`], decision 1100).

use ring::signature::Ed25519KeyPair;

use super::hash::Hash;
use super::note::{
    KeyName, MAX_NOTE_BYTES, Note, NoteError, NoteVerifyError, SignatureType, VerifiedSignature,
    VerifierKey,
};
use crate::ids::{NodeName, RegionCode};

/// Why a checkpoint text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// Longer than a note may be.
    #[error("checkpoint is {0} bytes, more than the maximum 65536")]
    TooLarge(usize),
    /// The text does not end with a newline.
    #[error("checkpoint does not end with a newline")]
    MissingFinalNewline,
    /// Fewer than three lines.
    #[error("checkpoint has fewer than three lines (origin, size, root hash)")]
    MissingLines,
    /// The origin line is empty.
    #[error("checkpoint origin is empty")]
    EmptyOrigin,
    /// A control character other than the line breaks.
    #[error("checkpoint contains a control character")]
    ControlCharacter,
    /// The size is not a decimal number without leading zeros that fits u64.
    #[error("tree size {0:?} is not a decimal number without leading zeros")]
    BadTreeSize(String),
    /// The root hash is not canonical base64 of 32 bytes.
    #[error("root hash {0:?} is not base64 of 32 bytes")]
    BadRootHash(String),
    /// An extension line is empty.
    #[error("checkpoint has an empty extension line")]
    EmptyExtensionLine,
}

/// A tree head: origin, size and root hash, and extension lines (credex's
/// one is the SM3 root under `sm2-sm3`: [`Checkpoint::sm3_root`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    origin: String,
    size: u64,
    root: Hash,
    extensions: Vec<String>,
}

/// The checkpoint origin of a credex node: `credex/<region>/<node>`, e.g.
/// `credex/520000/gy-1`. It is also the log key's name.
pub fn credex_origin(region: RegionCode, node: &NodeName) -> String {
    format!("credex/{region}/{node}")
}

fn check_line(line: &str) -> Result<(), CheckpointError> {
    if line.chars().any(char::is_control) {
        return Err(CheckpointError::ControlCharacter);
    }
    Ok(())
}

impl Checkpoint {
    /// A checkpoint without extension lines.
    pub fn new(origin: &str, size: u64, root: Hash) -> Result<Self, CheckpointError> {
        Self::with_extensions(origin, size, root, Vec::new())
    }

    /// A checkpoint with extension lines (not recommended by the spec: log
    /// monitors cannot audit them).
    pub fn with_extensions(
        origin: &str,
        size: u64,
        root: Hash,
        extensions: Vec<String>,
    ) -> Result<Self, CheckpointError> {
        if origin.is_empty() {
            return Err(CheckpointError::EmptyOrigin);
        }
        check_line(origin)?;
        for line in &extensions {
            if line.is_empty() {
                return Err(CheckpointError::EmptyExtensionLine);
            }
            check_line(line)?;
        }
        let checkpoint = Checkpoint {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        };
        let len = checkpoint.to_text().len();
        if len > MAX_NOTE_BYTES {
            return Err(CheckpointError::TooLarge(len));
        }
        Ok(checkpoint)
    }

    /// The origin line: which log this is.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Number of entries in the tree.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The RFC 6962 root hash.
    pub fn root(&self) -> &Hash {
        &self.root
    }

    /// Extension lines, without newlines.
    pub fn extensions(&self) -> &[String] {
        &self.extensions
    }

    /// The note text: each line followed by a newline.
    pub fn to_text(&self) -> String {
        let mut text = format!("{}\n{}\n{}\n", self.origin, self.size, self.root);
        for line in &self.extensions {
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    /// Parse a checkpoint note text, strictly.
    pub fn parse(text: &str) -> Result<Self, CheckpointError> {
        if text.len() > MAX_NOTE_BYTES {
            return Err(CheckpointError::TooLarge(text.len()));
        }
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::MissingFinalNewline)?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::MissingLines);
        };
        let canonical_size = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size_value = canonical_size
            .then(|| size.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| CheckpointError::BadTreeSize(truncate(size)))?;
        let root_hash =
            Hash::from_base64(root).map_err(|_| CheckpointError::BadRootHash(truncate(root)))?;
        let extensions = lines.map(str::to_owned).collect();
        Self::with_extensions(origin, size_value, root_hash, extensions)
    }

    /// Sign as the log: an Ed25519 note signature by `name` (which should be
    /// the origin).
    pub fn sign(&self, name: &KeyName, key: &Ed25519KeyPair) -> Result<Note, NoteError> {
        let mut note = Note::new(&self.to_text())?;
        note.sign(name, key)?;
        Ok(note)
    }
}

/// Keep error messages short when a peer sends a huge line.
fn truncate(s: &str) -> String {
    s.chars().take(80).collect()
}

/// Why a signed checkpoint was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenCheckpointError {
    /// The log key is not a log signature key: Ed25519 (type `0x01`) or
    /// SM2 (type `0xff`, `sm2-sm3`).
    #[error("log key {0} is not an Ed25519 or SM2 note signature key")]
    NotALogKey(String),
    /// A cosigner key is not a cosignature (type 0x04) key.
    #[error("cosigner key {0} is not a cosignature/v1 key")]
    CosignerKeyNotCosignature(String),
    /// The note does not parse.
    #[error("signed checkpoint: {0}")]
    Note(#[from] NoteError),
    /// A signature by a known key failed, or no known key signed, or keys clash.
    #[error("signed checkpoint: {0}")]
    Signature(#[from] NoteVerifyError),
    /// Valid signatures, but none by the log's key.
    #[error("checkpoint is not signed by the log key {0}")]
    MissingLogSignature(String),
    /// The note text is not a checkpoint.
    #[error("signed checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// The origin line is not the log key's name.
    #[error("checkpoint origin {origin:?} is not the log key name {key_name:?}")]
    OriginMismatch {
        /// Origin line of the checkpoint.
        origin: String,
        /// Name of the log key.
        key_name: String,
    },
}

/// A checkpoint whose log signature verified, with the cosignatures that
/// verified. Only [`open_checkpoint`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    checkpoint: Checkpoint,
    note: Note,
    cosignatures: Vec<VerifiedSignature>,
}

impl SignedCheckpoint {
    /// The tree head.
    pub fn checkpoint(&self) -> &Checkpoint {
        &self.checkpoint
    }

    /// The whole note as received, including unknown signatures.
    pub fn note(&self) -> &Note {
        &self.note
    }

    /// Cosignatures by configured cosigners that verified, with their times.
    pub fn cosignatures(&self) -> &[VerifiedSignature] {
        &self.cosignatures
    }
}

/// Parse a signed checkpoint and verify it: the log's signature by
/// `log_key` (Ed25519, or SM2 under the `sm2-sm3` suite) is required, the
/// origin must equal the log key's name, and every signature by a
/// configured cosigner must verify (cosigners that did not sign are simply
/// absent from the result; signatures by unknown keys — the log's line of
/// the other type among them — are ignored).
pub fn open_checkpoint(
    bytes: &[u8],
    log_key: &VerifierKey,
    cosigners: &[VerifierKey],
) -> Result<SignedCheckpoint, OpenCheckpointError> {
    if !log_key.sig_type().is_log_signature() {
        return Err(OpenCheckpointError::NotALogKey(log_key.to_string()));
    }
    if let Some(bad) = cosigners
        .iter()
        .find(|k| k.sig_type() != SignatureType::CosignatureV1)
    {
        return Err(OpenCheckpointError::CosignerKeyNotCosignature(
            bad.to_string(),
        ));
    }
    let note = Note::parse(bytes)?;
    let mut keys = Vec::with_capacity(1 + cosigners.len());
    keys.push(log_key.clone());
    keys.extend_from_slice(cosigners);
    let verified = note.verify(&keys)?;
    if !verified.is_signed_by(log_key) {
        return Err(OpenCheckpointError::MissingLogSignature(
            log_key.to_string(),
        ));
    }
    let checkpoint = Checkpoint::parse(note.text())?;
    if checkpoint.origin() != log_key.name().as_str() {
        return Err(OpenCheckpointError::OriginMismatch {
            origin: checkpoint.origin().to_owned(),
            key_name: log_key.name().to_string(),
        });
    }
    let cosignatures = verified
        .signatures()
        .iter()
        .filter(|s| s.sig_type() == SignatureType::CosignatureV1)
        .cloned()
        .collect();
    Ok(SignedCheckpoint {
        checkpoint,
        note,
        cosignatures,
    })
}
