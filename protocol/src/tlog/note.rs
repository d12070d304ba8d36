//! C2SP signed notes (`c2sp.org/signed-note`): a UTF-8 text, a blank line,
//! and signature lines `— NAME BASE64(key id ‖ signature)`.
//!
//! Parsing is strict and bounded ([`MAX_NOTE_BYTES`], [`MAX_NOTE_SIGNATURES`]);
//! signatures from unknown keys are kept, so a note re-serializes unchanged,
//! but never count towards verification. Keys are Ed25519 — plain note
//! signatures (type `0x01`) and timestamped cosignatures (type `0x04`, see
//! [`super::cosignature`]) — or SM2 for the `sm2-sm3` suite (type `0xff`
//! followed by [`SM2_SM3_IDENTIFIER`], see [`super::sm2`]).

use std::fmt;
use std::str::FromStr;

use ring::digest::{SHA256, digest};
use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};

use super::b64;
use super::cosignature::{Cosignature, cosigned_message};
use super::sm2::{self, SM2_PUBLIC_KEY_LEN, SM2_SM3_IDENTIFIER};

/// Largest note accepted, in bytes. A checkpoint with a hundred signatures
/// is under 16 KiB.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;

/// Most signature lines accepted in one note (the spec asks for at least 16).
pub const MAX_NOTE_SIGNATURES: usize = 100;

/// Length of an Ed25519 public key.
const ED25519_PUBLIC_KEY_LEN: usize = 32;

/// The type bytes of an SM2 note signature in key IDs and verifier keys:
/// `0xff` ‖ [`SM2_SM3_IDENTIFIER`].
const SM2_SM3_TYPE: &[u8] = b"\xffcredex/signed-note/sm2-sm3/v1";

/// Length of an Ed25519 signature.
pub(crate) const ED25519_SIGNATURE_LEN: usize = 64;

/// The signature line prefix: em dash (U+2014) and a space.
const SIGNATURE_PREFIX: &str = "\u{2014} ";

/// Why a key name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyNameError {
    /// Key names must not be empty.
    #[error("key name is empty")]
    Empty,
    /// Key names must not contain Unicode spaces, `+`, or control characters.
    #[error("key name {0:?} contains a space, '+' or a control character")]
    BadCharacter(String),
}

/// A signed-note key name (for credex logs, the checkpoint origin, e.g.
/// `credex/520000/gy-1`): non-empty, without Unicode spaces, `+` or control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyName(String);

impl KeyName {
    /// Validate a key name.
    pub fn new(name: &str) -> Result<Self, KeyNameError> {
        if name.is_empty() {
            return Err(KeyNameError::Empty);
        }
        if name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
        {
            return Err(KeyNameError::BadCharacter(name.to_owned()));
        }
        Ok(KeyName(name.to_owned()))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for KeyName {
    type Err = KeyNameError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KeyName::new(s)
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 32-bit key ID that starts every note signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId(pub u32);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:08x}", self.0)
    }
}

/// The signature types credex reads and writes (signed-note §Signature types).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// `0x01`: Ed25519 over the note text (the log's checkpoint signature).
    Ed25519,
    /// `0x04`: timestamped Ed25519 cosignature, `c2sp.org/tlog-cosignature`.
    CosignatureV1,
    /// `0xff` ‖ [`SM2_SM3_IDENTIFIER`]: SM2 with SM3 (GB/T 32918.2, the
    /// default identity of GM/T 0009) over the identifier and the note text
    /// ([`super::sm2`]); the log's checkpoint signature under the `sm2-sm3`
    /// suite, beside the Ed25519 one. The signed-note specification leaves
    /// `0xff` to types it assigns no byte, followed by a longer identifier.
    Sm2Sm3,
}

impl SignatureType {
    /// The identifier byte (`0xff` for [`SignatureType::Sm2Sm3`], whose
    /// identifier continues; see [`SignatureType::type_bytes`]).
    pub fn byte(self) -> u8 {
        // Every type's identifier is at least its byte.
        self.type_bytes()[0]
    }

    /// The whole type identifier, as key IDs and verifier keys hold it:
    /// one byte, or `0xff` ‖ [`SM2_SM3_IDENTIFIER`].
    pub fn type_bytes(self) -> &'static [u8] {
        match self {
            SignatureType::Ed25519 => &[0x01],
            SignatureType::CosignatureV1 => &[0x04],
            SignatureType::Sm2Sm3 => SM2_SM3_TYPE,
        }
    }

    /// Whether a log signs its checkpoints with this type (as opposed to a
    /// witness's cosignature).
    pub fn is_log_signature(self) -> bool {
        matches!(self, SignatureType::Ed25519 | SignatureType::Sm2Sm3)
    }

    /// The length of a public key of this type: 32 for Ed25519, 65 for an
    /// uncompressed SEC1 SM2 point.
    fn public_key_len(self) -> usize {
        match self {
            SignatureType::Ed25519 | SignatureType::CosignatureV1 => ED25519_PUBLIC_KEY_LEN,
            SignatureType::Sm2Sm3 => SM2_PUBLIC_KEY_LEN,
        }
    }

    /// Split a verifier key's `type ‖ public key` into the type and the key.
    fn split_key(bytes: &[u8]) -> Result<(Self, &[u8]), VerifierKeyError> {
        let Some(&first) = bytes.first() else {
            return Err(VerifierKeyError::BadKeyLength { len: 0, want: 33 });
        };
        [
            SignatureType::Ed25519,
            SignatureType::CosignatureV1,
            SignatureType::Sm2Sm3,
        ]
        .into_iter()
        .find_map(|t| bytes.strip_prefix(t.type_bytes()).map(|key| (t, key)))
        .ok_or(VerifierKeyError::UnsupportedType(first))
    }
}

/// Key ID = first four bytes (big-endian) of SHA-256(name ‖ 0x0A ‖ type ‖
/// public key), with the whole type identifier
/// ([`SignatureType::type_bytes`]).
pub fn key_id(name: &KeyName, sig_type: SignatureType, public_key: &[u8]) -> KeyId {
    let type_bytes = sig_type.type_bytes();
    let mut input = Vec::with_capacity(name.0.len() + 1 + type_bytes.len() + public_key.len());
    input.extend_from_slice(name.0.as_bytes());
    input.push(b'\n');
    input.extend_from_slice(type_bytes);
    input.extend_from_slice(public_key);
    let d = digest(&SHA256, &input);
    let b = d.as_ref();
    KeyId(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Why a verifier key string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifierKeyError {
    /// Not of the form `NAME+HEXID+BASE64`.
    #[error("verifier key is not NAME+KEYID+BASE64")]
    Malformed,
    /// The name part is not a valid key name.
    #[error(transparent)]
    BadName(#[from] KeyNameError),
    /// The key ID is not eight lowercase hexadecimal digits.
    #[error("verifier key ID is not eight lowercase hex digits")]
    BadKeyId,
    /// The key part is not canonical base64.
    #[error("verifier key material is not canonical base64")]
    BadBase64,
    /// The signature type is not one credex supports (0x01, 0x04, or 0xff
    /// followed by [`SM2_SM3_IDENTIFIER`]).
    #[error(
        "unsupported signature type 0x{0:02x} (credex accepts 0x01, 0x04 and 0xff {SM2_SM3_IDENTIFIER})"
    )]
    UnsupportedType(u8),
    /// The public key is not as long as its type's.
    #[error("public key is {len} bytes, want {want}")]
    BadKeyLength {
        /// Its length.
        len: usize,
        /// The length of a key of its type.
        want: usize,
    },
    /// An SM2 key is not an uncompressed SEC1 point (`04 ‖ x ‖ y`).
    #[error("SM2 public key is not an uncompressed SEC1 point (04 || x || y)")]
    NotUncompressedPoint,
    /// The key ID does not match the name, type and key.
    #[error("key ID {claimed} does not match the key (computed {computed})")]
    KeyIdMismatch {
        /// Key ID written in the string.
        claimed: KeyId,
        /// Key ID computed from name, type and key.
        computed: KeyId,
    },
}

/// A note verifier key: `NAME+HEX(key id)+BASE64(type ‖ public key)`, as
/// Go's `golang.org/x/mod/sumdb/note` prints them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VerifierKey {
    name: KeyName,
    id: KeyId,
    sig_type: SignatureType,
    /// 32 bytes (Ed25519) or 65 (SM2, uncompressed SEC1), as `sig_type` says.
    public_key: Vec<u8>,
}

impl VerifierKey {
    /// A verifier for `public_key`: 32 bytes for the Ed25519 types, a
    /// 65-byte uncompressed SEC1 point for [`SignatureType::Sm2Sm3`].
    pub fn new(
        name: KeyName,
        sig_type: SignatureType,
        public_key: &[u8],
    ) -> Result<Self, VerifierKeyError> {
        let want = sig_type.public_key_len();
        if public_key.len() != want {
            return Err(VerifierKeyError::BadKeyLength {
                len: public_key.len(),
                want,
            });
        }
        if sig_type == SignatureType::Sm2Sm3 && public_key.first() != Some(&0x04) {
            return Err(VerifierKeyError::NotUncompressedPoint);
        }
        let id = key_id(&name, sig_type, public_key);
        Ok(VerifierKey {
            name,
            id,
            sig_type,
            public_key: public_key.to_vec(),
        })
    }

    /// The verifier for an Ed25519 key pair's public half, as a note
    /// signature (`0x01`) or cosignature (`0x04`) key; refused for
    /// [`SignatureType::Sm2Sm3`].
    pub fn for_key_pair(
        name: KeyName,
        sig_type: SignatureType,
        key: &Ed25519KeyPair,
    ) -> Result<Self, VerifierKeyError> {
        Self::new(name, sig_type, key.public_key().as_ref())
    }

    /// Key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// Key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Signature type.
    pub fn sig_type(&self) -> SignatureType {
        self.sig_type
    }

    /// The public key: 32 bytes (Ed25519) or 65 (SM2, uncompressed SEC1).
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == sig.name && self.id == sig.id
    }

    /// Check one signature; `Ok(timestamp)` for cosignatures.
    fn check(&self, text: &str, sig: &NoteSignature) -> Result<Option<u64>, ()> {
        let key = UnparsedPublicKey::new(&ED25519, &self.public_key);
        match self.sig_type {
            SignatureType::Ed25519 => key
                .verify(text.as_bytes(), &sig.signature)
                .map(|()| None)
                .map_err(|_| ()),
            SignatureType::CosignatureV1 => {
                let cosig = Cosignature::from_note_signature(sig).map_err(|_| ())?;
                let message = cosigned_message(text, cosig.timestamp()).map_err(|_| ())?;
                key.verify(&message, cosig.signature())
                    .map(|()| Some(cosig.timestamp()))
                    .map_err(|_| ())
            }
            SignatureType::Sm2Sm3 => sm2::verify(&self.public_key, text, &sig.signature)
                .then_some(None)
                .ok_or(()),
        }
    }
}

impl FromStr for VerifierKey {
    type Err = VerifierKeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // Bound before splitting: name + 8 + at most 128 base64 characters.
        if s.len() > 1024 {
            return Err(VerifierKeyError::Malformed);
        }
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(VerifierKeyError::Malformed);
        };
        let name = KeyName::new(name)?;
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        {
            return Err(VerifierKeyError::BadKeyId);
        }
        let claimed =
            KeyId(u32::from_str_radix(id_hex, 16).map_err(|_| VerifierKeyError::BadKeyId)?);
        let key = b64::decode(key_b64).ok_or(VerifierKeyError::BadBase64)?;
        let (sig_type, public_key) = SignatureType::split_key(&key)?;
        let verifier = VerifierKey::new(name, sig_type, public_key)?;
        if verifier.id != claimed {
            return Err(VerifierKeyError::KeyIdMismatch {
                claimed,
                computed: verifier.id,
            });
        }
        Ok(verifier)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut key = self.sig_type.type_bytes().to_vec();
        key.extend_from_slice(&self.public_key);
        write!(f, "{}+{}+{}", self.name, self.id, b64::encode(&key))
    }
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    name: KeyName,
    id: KeyId,
    signature: Vec<u8>,
}

impl NoteSignature {
    /// A signature by key `(name, id)`; `signature` excludes the key ID.
    pub fn new(name: KeyName, id: KeyId, signature: Vec<u8>) -> Self {
        NoteSignature {
            name,
            id,
            signature,
        }
    }

    /// Key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// Key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// The signature bytes after the key ID.
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The line as it appears in a note, with its final newline.
    pub fn to_line(&self) -> String {
        let mut bytes = Vec::with_capacity(4 + self.signature.len());
        bytes.extend_from_slice(&self.id.0.to_be_bytes());
        bytes.extend_from_slice(&self.signature);
        format!("{SIGNATURE_PREFIX}{} {}\n", self.name, b64::encode(&bytes))
    }

    fn parse_line(line: &str) -> Result<Self, NoteError> {
        let rest = line
            .strip_prefix(SIGNATURE_PREFIX)
            .ok_or(NoteError::BadSignatureLine)?;
        let (name, encoded) = rest.split_once(' ').ok_or(NoteError::BadSignatureLine)?;
        let name = KeyName::new(name).map_err(NoteError::BadKeyName)?;
        let bytes = b64::decode(encoded).ok_or(NoteError::BadBase64)?;
        let [a, b, c, d, signature @ ..] = bytes.as_slice() else {
            return Err(NoteError::SignatureTooShort);
        };
        if signature.is_empty() {
            return Err(NoteError::SignatureTooShort);
        }
        Ok(NoteSignature {
            name,
            id: KeyId(u32::from_be_bytes([*a, *b, *c, *d])),
            signature: signature.to_vec(),
        })
    }
}

/// Why a note was refused (parsing or building).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    /// Larger than [`MAX_NOTE_BYTES`].
    #[error("note is {0} bytes, more than the maximum 65536")]
    TooLarge(usize),
    /// Not valid UTF-8.
    #[error("note is not valid UTF-8")]
    NotUtf8,
    /// Contains an ASCII control character other than newline.
    #[error("note contains a control character other than newline")]
    ControlCharacter,
    /// The text is empty or does not end with a newline.
    #[error("note text is empty or does not end with a newline")]
    BadText,
    /// No blank line separates text from signatures.
    #[error("note has no blank line before its signatures")]
    MissingBlankLine,
    /// The signature block is empty.
    #[error("note has no signature lines")]
    NoSignatures,
    /// The last signature line is not newline-terminated.
    #[error("last signature line does not end with a newline")]
    UnterminatedSignature,
    /// More than [`MAX_NOTE_SIGNATURES`] signature lines.
    #[error("note has more than 100 signatures")]
    TooManySignatures,
    /// A line after the blank line is not `— NAME BASE64`.
    #[error("signature line is not '\u{2014} NAME BASE64'")]
    BadSignatureLine,
    /// A signature line names an invalid key.
    #[error("signature line has an invalid key name: {0}")]
    BadKeyName(KeyNameError),
    /// A signature is not canonical base64.
    #[error("signature is not canonical base64")]
    BadBase64,
    /// A signature has no bytes after its key ID.
    #[error("signature is shorter than a key ID and one byte")]
    SignatureTooShort,
}

/// Why a note's signatures were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteVerifyError {
    /// Two configured verifiers share a name and key ID.
    #[error("two verifier keys are named {name}+{id}")]
    AmbiguousKey {
        /// Shared key name.
        name: KeyName,
        /// Shared key ID.
        id: KeyId,
    },
    /// A signature by a known key does not verify.
    #[error("signature by {name}+{id} does not verify")]
    BadSignature {
        /// Key name.
        name: KeyName,
        /// Key ID.
        id: KeyId,
    },
    /// No signature is by a known key.
    #[error("note has no signature by a known key")]
    NoKnownSignature,
}

/// A signed note: text (ending in a newline) and signature lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    text: String,
    signatures: Vec<NoteSignature>,
}

fn check_text(text: &str) -> Result<(), NoteError> {
    if text.len() > MAX_NOTE_BYTES {
        return Err(NoteError::TooLarge(text.len()));
    }
    if text.bytes().any(|b| b < 0x20 && b != b'\n') {
        return Err(NoteError::ControlCharacter);
    }
    if !text.ends_with('\n') {
        return Err(NoteError::BadText);
    }
    Ok(())
}

impl Note {
    /// An unsigned note. The text must end with a newline and hold no
    /// control characters other than newline.
    pub fn new(text: &str) -> Result<Self, NoteError> {
        check_text(text)?;
        Ok(Note {
            text: text.to_owned(),
            signatures: Vec::new(),
        })
    }

    /// Parse a signed note, strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, NoteError> {
        if bytes.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge(bytes.len()));
        }
        let msg = std::str::from_utf8(bytes).map_err(|_| NoteError::NotUtf8)?;
        if msg.bytes().any(|b| b < 0x20 && b != b'\n') {
            return Err(NoteError::ControlCharacter);
        }
        // The last blank line separates text from signatures; signature
        // lines are never empty, so it is the last "\n\n".
        let split = msg.rfind("\n\n").ok_or(NoteError::MissingBlankLine)?;
        let text = &msg[..=split];
        let block = &msg[split + 2..];
        if block.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        let block = block
            .strip_suffix('\n')
            .ok_or(NoteError::UnterminatedSignature)?;
        let mut signatures = Vec::new();
        for line in block.split('\n') {
            if signatures.len() == MAX_NOTE_SIGNATURES {
                return Err(NoteError::TooManySignatures);
            }
            signatures.push(NoteSignature::parse_line(line)?);
        }
        Ok(Note {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note text, with its final newline.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// All signatures, known or not, in order.
    pub fn signatures(&self) -> &[NoteSignature] {
        &self.signatures
    }

    /// Add a signature, replacing any earlier one by the same key.
    pub fn add_signature(&mut self, signature: NoteSignature) -> Result<(), NoteError> {
        self.signatures
            .retain(|s| !(s.name == signature.name && s.id == signature.id));
        if self.signatures.len() >= MAX_NOTE_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        self.signatures.push(signature);
        Ok(())
    }

    /// Sign the text with an Ed25519 key (type `0x01`) under `name`.
    pub fn sign(&mut self, name: &KeyName, key: &Ed25519KeyPair) -> Result<(), NoteError> {
        let id = key_id(name, SignatureType::Ed25519, key.public_key().as_ref());
        let signature = key.sign(self.text.as_bytes());
        self.add_signature(NoteSignature::new(
            name.clone(),
            id,
            signature.as_ref().to_vec(),
        ))
    }

    /// The serialized note: text, blank line, signature lines.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_string().into_bytes()
    }

    /// Verify every signature by a key in `verifiers`.
    ///
    /// Signatures by other keys are ignored (a verifier must match both name
    /// and key ID). A signature by a known key that fails rejects the whole
    /// note; so does a note with no signature by a known key.
    pub fn verify(&self, verifiers: &[VerifierKey]) -> Result<VerifiedNote, NoteVerifyError> {
        for (i, a) in verifiers.iter().enumerate() {
            if verifiers[i + 1..]
                .iter()
                .any(|b| a.name == b.name && a.id == b.id)
            {
                return Err(NoteVerifyError::AmbiguousKey {
                    name: a.name.clone(),
                    id: a.id,
                });
            }
        }
        let mut verified: Vec<VerifiedSignature> = Vec::new();
        for sig in &self.signatures {
            let Some(verifier) = verifiers.iter().find(|v| v.matches(sig)) else {
                continue;
            };
            let timestamp =
                verifier
                    .check(&self.text, sig)
                    .map_err(|()| NoteVerifyError::BadSignature {
                        name: sig.name.clone(),
                        id: sig.id,
                    })?;
            if verified
                .iter()
                .any(|v| v.name == sig.name && v.id == sig.id)
            {
                continue;
            }
            verified.push(VerifiedSignature {
                name: sig.name.clone(),
                id: sig.id,
                sig_type: verifier.sig_type,
                timestamp,
            });
        }
        if verified.is_empty() {
            return Err(NoteVerifyError::NoKnownSignature);
        }
        Ok(VerifiedNote {
            text: self.text.clone(),
            verified,
        })
    }
}

impl fmt::Display for Note {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)?;
        f.write_str("\n")?;
        for sig in &self.signatures {
            f.write_str(&sig.to_line())?;
        }
        Ok(())
    }
}

/// A signature that verified against a configured key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    name: KeyName,
    id: KeyId,
    sig_type: SignatureType,
    timestamp: Option<u64>,
}

impl VerifiedSignature {
    /// Key name.
    pub fn name(&self) -> &KeyName {
        &self.name
    }

    /// Key ID.
    pub fn id(&self) -> KeyId {
        self.id
    }

    /// Signature type.
    pub fn sig_type(&self) -> SignatureType {
        self.sig_type
    }

    /// For a cosignature, the POSIX time it states.
    pub fn timestamp(&self) -> Option<u64> {
        self.timestamp
    }
}

/// Proof that a note's text carries at least one valid signature by a
/// configured key. Only [`Note::verify`] builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedNote {
    text: String,
    verified: Vec<VerifiedSignature>,
}

impl VerifiedNote {
    /// The verified text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The signatures that verified, one per key, in note order.
    pub fn signatures(&self) -> &[VerifiedSignature] {
        &self.verified
    }

    /// Whether `key` is among the keys that signed.
    pub fn is_signed_by(&self, key: &VerifierKey) -> bool {
        self.verified
            .iter()
            .any(|v| v.name == key.name && v.id == key.id && v.sig_type == key.sig_type)
    }
}
