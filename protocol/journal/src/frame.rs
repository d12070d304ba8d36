//! An entry's bytes: the header (kind, recorded-at) and the encoded body.
//!
//! ```text
//! entry = kind (u16, big-endian) ‖ recorded_at_unix_ms (i64, big-endian) ‖ body
//! body  = postcard(entry struct)
//! ```
//!
//! The entry bytes are what the Merkle log hashes as a leaf (RFC 6962
//! `0x00 ‖ entry`). [`encode`] refuses to produce an empty body, and
//! [`decode`] refuses trailing bytes, so a body means one thing.

use credex_protocol::FrameError;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// Bytes of the entry header: kind (2) and recorded-at (8).
pub const HEADER_LEN: usize = 10;

/// A journal entry body: knows the kind it is written under.
pub trait Entry: Serialize + DeserializeOwned {
    /// The [`crate::kind`] of this entry (an access entry's depends on its
    /// direction).
    fn kind(&self) -> u16;
}

/// `impl Entry` for body types written under one fixed kind each.
macro_rules! fixed_kind {
    ($($ty:ty => $kind:ident),* $(,)?) => {
        $(impl $crate::Entry for $ty {
            fn kind(&self) -> u16 {
                $crate::kind::$kind
            }
        })*
    };
}
pub(crate) use fixed_kind;

/// An encoded entry body with its kind, ready to append. Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEntry {
    /// The entry's [`crate::kind`].
    pub kind: u16,
    /// postcard(entry); at least one byte.
    pub body: Vec<u8>,
}

/// Why an entry could not be encoded or read.
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// The body could not be encoded (a bug: every entry type encodes).
    #[error("journal entry of kind {kind} could not be encoded: {source}")]
    Encode {
        /// The entry's kind.
        kind: u16,
        /// The codec's error.
        source: FrameError,
    },
    /// The entry is shorter than its header.
    #[error("entry of {len} bytes is shorter than its {HEADER_LEN}-byte header")]
    Short {
        /// Bytes present.
        len: usize,
    },
    /// The entry is of another kind than the reader expected.
    #[error("entry kind {found} is not {expected}")]
    UnexpectedKind {
        /// What the reader expected (a kind name or list).
        expected: &'static str,
        /// The kind in the header.
        found: u16,
    },
    /// The body does not decode as its kind's type.
    #[error("entry of kind {kind} does not decode: {source}")]
    Decode {
        /// The entry's kind.
        kind: u16,
        /// The codec's error.
        source: FrameError,
    },
}

/// Encode an entry's body under its kind.
pub fn encode<E: Entry>(entry: &E) -> Result<EncodedEntry, EntryError> {
    let kind = entry.kind();
    let body =
        credex_protocol::encode(entry).map_err(|source| EntryError::Encode { kind, source })?;
    if body.is_empty() {
        // postcard encodes every struct of this crate in at least one byte
        // (each starts with its version); an empty body would be a gap.
        return Err(EntryError::Encode {
            kind,
            source: FrameError::Empty,
        });
    }
    Ok(EncodedEntry { kind, body })
}

/// Decode an entry body of `kind` as `E`; trailing bytes are an error.
pub fn decode<E: Entry>(kind: u16, body: &[u8]) -> Result<E, EntryError> {
    credex_protocol::decode(body).map_err(|source| EntryError::Decode { kind, source })
}

/// The bytes of an entry: header and body (what the log hashes as a leaf).
pub fn entry_bytes(kind: u16, recorded_at_unix_ms: i64, body: &[u8]) -> Vec<u8> {
    let mut entry = Vec::with_capacity(HEADER_LEN + body.len());
    entry.extend_from_slice(&kind.to_be_bytes());
    entry.extend_from_slice(&recorded_at_unix_ms.to_be_bytes());
    entry.extend_from_slice(body);
    entry
}

/// Split an entry into (kind, recorded_at_unix_ms, body).
pub fn split(bytes: &[u8]) -> Result<(u16, i64, &[u8]), EntryError> {
    if bytes.len() < HEADER_LEN {
        return Err(EntryError::Short { len: bytes.len() });
    }
    let kind = u16::from_be_bytes([bytes[0], bytes[1]]);
    let mut at = [0u8; 8];
    at.copy_from_slice(&bytes[2..HEADER_LEN]);
    Ok((kind, i64::from_be_bytes(at), &bytes[HEADER_LEN..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ENTRY_VERSION, QueryNoAnswer, kind};

    #[test]
    fn an_entry_round_trips_through_its_bytes() {
        let entry = QueryNoAnswer {
            version: ENTRY_VERSION,
            at_ms: 1_700_000_000_000,
            query_digest: [7; 32],
            reason: "timed out".into(),
        };
        let encoded = encode(&entry).expect("encodes");
        assert_eq!(encoded.kind, kind::QUERY_NO_ANSWER);
        let bytes = entry_bytes(encoded.kind, entry.at_ms, &encoded.body);
        assert_eq!(bytes.len(), HEADER_LEN + encoded.body.len());
        let (k, at, body) = split(&bytes).expect("splits");
        assert_eq!((k, at), (kind::QUERY_NO_ANSWER, entry.at_ms));
        let back: QueryNoAnswer = decode(k, body).expect("decodes");
        assert_eq!(back, entry);
    }

    #[test]
    fn short_entries_and_trailing_bytes_are_refused() {
        assert!(matches!(split(&[0; 9]), Err(EntryError::Short { len: 9 })));
        let entry = QueryNoAnswer {
            version: ENTRY_VERSION,
            at_ms: 0,
            query_digest: [0; 32],
            reason: String::new(),
        };
        let mut body = encode(&entry).expect("encodes").body;
        body.push(0);
        assert!(matches!(
            decode::<QueryNoAnswer>(kind::QUERY_NO_ANSWER, &body),
            Err(EntryError::Decode { .. })
        ));
        assert!(matches!(
            decode::<QueryNoAnswer>(kind::QUERY_NO_ANSWER, &[]),
            Err(EntryError::Decode { .. })
        ));
    }
}
