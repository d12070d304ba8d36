//! Attachments: content kept beside the journal entries that name its
//! digest (a query's dual-authorization bundle, a message's envelope, a
//! policy archive), and the parts many attachments share, stored once
//! (decision 1180).
//!
//! A query's bundle is about 2.7 KB, and most of it is the two officers'
//! certificate chains, the same in every query those officers sign. So a
//! caller may name byte strings of its content that recur
//! ([`Attachment::sharing`]): each is stored once, as an attachment of its
//! own under its SHA-256, and the attachment itself is stored as an
//! *assembly* — its other bytes inline and a reference to each part. A
//! read ([`super::Storage::entry_attachment`]) puts the same bytes back
//! together; nothing outside storage sees the difference (exports, the
//! auditor and the gateway read whole attachments, as before).
//!
//! **Where each row is kept** (decision 1220). The attachment an entry
//! carries is kept by the entry's sequence number (`entry_attachments`),
//! so a batch's attachments land at the end of their table rather than on
//! a random page of a digest index; a reader names the entry. Parts are
//! kept by their digest (`attachments`), stored once for every entry that
//! shares them; so are attachments stored before this, and those `credex
//! log recover` puts back, which [`super::Storage::entry_attachment`]
//! finds by digest when the entry has none of its own.
//!
//! The assembly's format, version 1 (all integers big-endian):
//!
//! ```text
//! assembly := 0x01 length:u32 piece*       length: of the content put back together
//! piece    := 0x00 len:u32 bytes[len]      bytes of the content, inline
//!           | 0x01 digest[32]              the attachment under this digest, whole
//! ```
//!
//! Owns: [`Attachment`], the assembly's encoding and decoding, and the
//! reads ([`Storage::entry_attachment`], [`Storage::attachment`]). Does not own: sealing at rest
//! ([`super::at_rest`]), the claimed appends that store attachments
//! ([`super::access`]), or which parts are already stored (the process
//! remembers them: [`super::recent`]).

use std::ops::Range;

use super::at_rest::Row;
use super::{Storage, StorageError};

/// The assembly format's version byte.
const ASSEMBLY_VERSION: u8 = 1;
/// A piece of content held inline.
const PIECE_INLINE: u8 = 0;
/// A piece stored as a part of its own.
const PIECE_PART: u8 = 1;
/// Parts shorter than this are left inline: a reference takes 33 bytes.
const MIN_PART_LEN: usize = 128;

/// Content to store beside a journal entry, under `digest`.
#[derive(Debug, Clone)]
pub struct Attachment {
    digest: [u8; 32],
    content: Vec<u8>,
    /// Byte ranges of `content` to store once, as parts: sorted, apart.
    shared: Vec<Range<usize>>,
}

impl Attachment {
    /// `content` under `digest`, stored whole.
    pub fn new(digest: [u8; 32], content: Vec<u8>) -> Attachment {
        Attachment {
            digest,
            content,
            shared: Vec::new(),
        }
    }

    /// The same content, with every occurrence of each of `parts` in it
    /// stored once for all the attachments that hold it (e.g. certificates).
    /// Parts shorter than 128 bytes, or as long as the content, are left
    /// inline; an occurrence overlapping an earlier one is left inline.
    pub fn sharing<'a>(mut self, parts: impl IntoIterator<Item = &'a [u8]>) -> Attachment {
        let content = &self.content;
        let mut parts: Vec<&[u8]> = parts
            .into_iter()
            .filter(|p| p.len() >= MIN_PART_LEN && p.len() < content.len())
            .collect();
        parts.sort_unstable();
        parts.dedup();
        let mut firsts: Vec<u8> = parts.iter().map(|p| p[0]).collect();
        firsts.sort_unstable();
        firsts.dedup();
        // One scan per distinct first byte (certificates all begin with a
        // DER SEQUENCE, 0x30): cheaper than a substring search per part,
        // whose set-up alone cost more than the rest of this.
        // Each candidate is compared on its first eight bytes before the
        // whole part (a DER header's lengths tell most apart).
        let head = |b: &[u8]| b.first_chunk::<8>().map(|h| u64::from_ne_bytes(*h));
        let heads: Vec<Option<u64>> = parts.iter().map(|p| head(p)).collect();
        let mut found: Vec<Range<usize>> = Vec::new();
        for first in firsts {
            for at in memchr::memchr_iter(first, content) {
                let rest = &content[at..];
                let rest_head = head(rest);
                if let Some(part) = parts
                    .iter()
                    .zip(&heads)
                    .find(|(p, h)| **h == rest_head && rest.starts_with(p))
                    .map(|(p, _)| p)
                {
                    found.push(at..at + part.len());
                }
            }
        }
        found.sort_by_key(|r| r.start);
        let mut end = 0;
        found.retain(|r| {
            let apart = r.start >= end;
            if apart {
                end = r.end;
            }
            apart
        });
        self.shared = found;
        self
    }

    /// Its length, whole.
    pub fn len(&self) -> usize {
        self.content.len()
    }

    /// Whether the content is empty.
    pub fn is_empty(&self) -> bool {
        self.content.is_empty()
    }

    /// What to store: the attachment itself (whole, or an assembly when it
    /// shares parts) and each distinct part, whole under its SHA-256.
    pub(crate) fn into_stored(self) -> (Stored, Vec<Stored>) {
        if self.shared.is_empty() {
            let whole = Stored {
                digest: self.digest,
                body: self.content,
                assembled: false,
            };
            return (whole, Vec::new());
        }
        let mut body = Vec::with_capacity(self.content.len() / 3);
        body.push(ASSEMBLY_VERSION);
        body.extend_from_slice(&len_u32(self.content.len()).to_be_bytes());
        let mut parts: Vec<Stored> = Vec::with_capacity(self.shared.len());
        let mut at = 0;
        for range in &self.shared {
            inline(&mut body, &self.content[at..range.start]);
            let part = &self.content[range.clone()];
            // A part met twice (a region CA in both officers' chains) is
            // hashed and returned once.
            let digest = match parts.iter().find(|p| p.body == part) {
                Some(seen) => seen.digest,
                None => {
                    let digest = sha256(part);
                    parts.push(Stored {
                        digest,
                        body: part.to_vec(),
                        assembled: false,
                    });
                    digest
                }
            };
            body.push(PIECE_PART);
            body.extend_from_slice(&digest);
            at = range.end;
        }
        inline(&mut body, &self.content[at..]);
        let assembly = Stored {
            digest: self.digest,
            body,
            assembled: true,
        };
        (assembly, parts)
    }
}

/// What an entry's attachment is stored as: its own row, kept by the
/// entry, and the rows of its parts not seen stored yet, kept by digest.
pub(crate) struct StoredRows {
    /// The attachment itself, whole or as an assembly, sealed.
    pub(crate) own: Stored,
    /// Its parts this process has not seen stored yet, sealed.
    pub(crate) parts: Vec<Stored>,
    /// The digests of `parts`, to remember once they are committed.
    pub(crate) new_parts: Vec<[u8; 32]>,
}

/// Storing and reading attachments.
impl Storage {
    /// The rows `attachment` is stored as ([`StoredRows`]).
    pub(crate) fn stored_attachment(
        &self,
        attachment: Attachment,
    ) -> Result<StoredRows, StorageError> {
        let (whole, parts) = attachment.into_stored();
        let mut rows = Vec::with_capacity(parts.len());
        let mut new_parts = Vec::new();
        for part in parts {
            if self.inner.recent.part_stored(&part.digest) {
                continue;
            }
            new_parts.push(part.digest);
            rows.push(self.seal_stored(part, false)?);
        }
        Ok(StoredRows {
            own: self.seal_stored(whole, true)?,
            parts: rows,
            new_parts,
        })
    }

    /// The attachment entry `seq` carries, if it carries one under `digest`,
    /// whole (decision 1220). An attachment stored by digest alone (before
    /// attachments were kept by their entry, or put back by `credex log
    /// recover`) is found by `digest`. Cancel-safe (read only).
    pub async fn entry_attachment(
        &self,
        seq: u64,
        digest: &[u8; 32],
    ) -> Result<Option<Vec<u8>>, StorageError> {
        match self.inner.engine.entry_attachment(seq).await? {
            Some((stored_digest, body, assembled)) if stored_digest.as_slice() == digest => {
                let row = Row::EntryAttachment { digest };
                self.whole(row, digest, body, assembled).await.map(Some)
            }
            _ => self.attachment(digest).await,
        }
    }

    /// The attachment stored under `digest` alone, if any, whole: parts,
    /// and attachments stored before they were kept by their entry (or put
    /// back by `credex log recover`). An entry's attachment is read with
    /// [`Storage::entry_attachment`]. Cancel-safe (read only).
    pub async fn attachment(&self, digest: &[u8; 32]) -> Result<Option<Vec<u8>>, StorageError> {
        match self.inner.engine.attachment(digest).await? {
            Some((stored, assembled)) => {
                let row = Row::Attachment { digest };
                self.whole(row, digest, stored, assembled).await.map(Some)
            }
            None => Ok(None),
        }
    }

    /// The content of attachment `digest` stored as `stored` in `row`:
    /// opened, and put back together from its parts if it is an assembly
    /// (this module).
    async fn whole(
        &self,
        row: Row<'_>,
        digest: &[u8; 32],
        stored: Vec<u8>,
        assembled: bool,
    ) -> Result<Vec<u8>, StorageError> {
        let body = self.open_value(row, stored).await?;
        if !assembled {
            return Ok(body);
        }
        let assembly = decode(self.location(), digest, &body)?;
        let mut content = Vec::with_capacity(assembly.len);
        for piece in assembly.pieces {
            match piece {
                Piece::Inline(bytes) => content.extend_from_slice(bytes),
                Piece::Part(part) => {
                    content.extend(self.attachment_part(digest, &part).await?);
                }
            }
        }
        if content.len() != assembly.len {
            return Err(self.corrupt_attachment(
                digest,
                format!(
                    "put back together it is {} bytes, its assembly says {}",
                    content.len(),
                    assembly.len
                ),
            ));
        }
        Ok(content)
    }

    /// Part `part` of the attachment `of`: stored whole, or the store is
    /// corrupt.
    async fn attachment_part(
        &self,
        of: &[u8; 32],
        part: &[u8; 32],
    ) -> Result<Vec<u8>, StorageError> {
        match self.inner.engine.attachment(part).await? {
            Some((stored, false)) => {
                self.open_value(Row::Attachment { digest: part }, stored)
                    .await
            }
            Some((_, true)) => Err(self.corrupt_attachment(
                of,
                format!("its part {} is itself an assembly", hex::encode(part)),
            )),
            None => {
                Err(self
                    .corrupt_attachment(of, format!("its part {} is missing", hex::encode(part))))
            }
        }
    }

    fn corrupt_attachment(&self, digest: &[u8; 32], detail: String) -> StorageError {
        StorageError::Corrupt {
            location: self.location().to_owned(),
            detail: format!("attachment {}: {detail}", hex::encode(digest)),
        }
    }
}

/// An attachment's row as the writer stores it.
#[derive(Debug, Clone)]
pub(crate) struct Stored {
    pub(crate) digest: [u8; 32],
    /// The content, or its assembly; sealed once it reaches the writer.
    pub(crate) body: Vec<u8>,
    /// Whether `body` is an assembly.
    pub(crate) assembled: bool,
}

/// Appends `bytes` as an inline piece, if there are any.
fn inline(body: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    body.push(PIECE_INLINE);
    body.extend_from_slice(&len_u32(bytes.len()).to_be_bytes());
    body.extend_from_slice(bytes);
}

/// Attachments are bounded by `MAX_ATTACHMENT_LEN`, far below 4 GiB.
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut d = [0u8; 32];
    d.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref());
    d
}

/// One piece of a decoded assembly.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Piece<'a> {
    /// Bytes held inline.
    Inline(&'a [u8]),
    /// The part stored under this digest.
    Part([u8; 32]),
}

/// A decoded assembly: the length of the content and its pieces in order.
#[derive(Debug)]
pub(crate) struct Assembly<'a> {
    pub(crate) len: usize,
    pub(crate) pieces: Vec<Piece<'a>>,
}

/// Decodes the assembly stored for `digest`. A body that is not one is
/// [`StorageError::Corrupt`], naming the attachment and the byte offset.
pub(crate) fn decode<'a>(
    location: &str,
    digest: &[u8; 32],
    body: &'a [u8],
) -> Result<Assembly<'a>, StorageError> {
    let mut cursor = Cursor { body, at: 0 };
    let corrupt = |at: usize, what: &str| StorageError::Corrupt {
        location: location.to_owned(),
        detail: format!(
            "attachment {}: its assembly {what} at byte {at} (format {ASSEMBLY_VERSION}: \
             version, length, then inline pieces and part references)",
            hex::encode(digest)
        ),
    };
    let version = cursor
        .take(1)
        .ok_or_else(|| corrupt(0, "has no version byte"))?;
    if version != [ASSEMBLY_VERSION] {
        return Err(corrupt(0, "has an unknown version"));
    }
    let len = cursor
        .u32()
        .ok_or_else(|| corrupt(cursor.at, "ends before its length"))? as usize;
    let mut pieces = Vec::new();
    let mut inline_total = 0usize;
    while cursor.at < body.len() {
        let at = cursor.at;
        let tag = cursor.take(1).map(|t| t[0]);
        match tag {
            Some(PIECE_INLINE) => {
                let bytes = cursor
                    .u32()
                    .and_then(|n| cursor.take(n as usize))
                    .ok_or_else(|| corrupt(at, "ends inside an inline piece"))?;
                inline_total += bytes.len();
                pieces.push(Piece::Inline(bytes));
            }
            Some(PIECE_PART) => {
                let d = cursor
                    .take(32)
                    .and_then(|d| <[u8; 32]>::try_from(d).ok())
                    .ok_or_else(|| corrupt(at, "ends inside a part's digest"))?;
                pieces.push(Piece::Part(d));
            }
            _ => return Err(corrupt(at, "has an unknown piece tag")),
        }
    }
    if inline_total > len {
        return Err(corrupt(body.len(), "holds more bytes than its length"));
    }
    Ok(Assembly { len, pieces })
}

/// Reads an assembly front to back.
struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// The next `n` bytes, or `None` if fewer are left.
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&end| end <= self.body.len())?;
        let bytes = &self.body[self.at..end];
        self.at = end;
        Some(bytes)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take(4)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .map(u32::from_be_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `stored` put back together from `parts`, as `Storage::attachment`
    /// does from the database.
    fn put_back(stored: &Stored, parts: &[Stored]) -> Result<Vec<u8>, StorageError> {
        let assembly = decode("test", &stored.digest, &stored.body)?;
        let mut content = Vec::new();
        for piece in assembly.pieces {
            match piece {
                Piece::Inline(bytes) => content.extend_from_slice(bytes),
                Piece::Part(d) => {
                    let part = parts.iter().find(|p| p.digest == d).ok_or_else(|| {
                        StorageError::Corrupt {
                            location: "test".into(),
                            detail: format!("part {} not returned", hex::encode(d)),
                        }
                    })?;
                    content.extend_from_slice(&part.body);
                }
            }
        }
        assert_eq!(content.len(), assembly.len);
        Ok(content)
    }

    #[test]
    fn shared_parts_come_out_once_per_occurrence_and_put_back_the_same_bytes()
    -> Result<(), StorageError> {
        let cert: Vec<u8> = (0..300u32).map(|i| (i % 199) as u8).collect();
        let ca: Vec<u8> = (0..200u32).map(|i| (i % 97) as u8 ^ 0x55).collect();
        let mut content = b"head".to_vec();
        content.extend_from_slice(&ca);
        content.extend_from_slice(&cert);
        content.extend_from_slice(b"middle");
        content.extend_from_slice(&ca);
        let (stored, parts) = Attachment::new([7; 32], content.clone())
            .sharing([cert.as_slice(), ca.as_slice()])
            .into_stored();
        assert!(stored.assembled);
        assert_eq!(parts.len(), 2, "each distinct part once; ca is met twice");
        assert!(
            parts
                .iter()
                .all(|p| !p.assembled && p.digest == sha256(&p.body))
        );
        assert!(stored.body.len() < 40 + 3 * 33);
        assert_eq!(put_back(&stored, &parts)?, content);
        Ok(())
    }

    #[test]
    fn short_whole_absent_and_overlapping_parts_stay_inline() -> Result<(), StorageError> {
        let content: Vec<u8> = (0..400u32).map(|i| (i % 251) as u8).collect();
        let (stored, parts) = Attachment::new([1; 32], content.clone())
            .sharing([
                &content[10..20],   // shorter than MIN_PART_LEN
                &content[..],       // the whole content
                &[9u8; 200][..],    // not in it
                &content[0..200],   // taken
                &content[100..300], // overlaps the one before: inline
            ])
            .into_stored();
        assert_eq!(parts.len(), 1);
        assert_eq!(put_back(&stored, &parts)?, content);

        let (whole, none) = Attachment::new([2; 32], content.clone()).into_stored();
        assert!(!whole.assembled && none.is_empty());
        assert_eq!(whole.body, content);
        Ok(())
    }

    #[test]
    fn a_damaged_assembly_is_refused_with_where() {
        let cert = vec![0x30; 200];
        let mut content = vec![1, 2, 3];
        content.extend_from_slice(&cert);
        let (stored, _) = Attachment::new([3; 32], content)
            .sharing([cert.as_slice()])
            .into_stored();
        let detail = |body: &[u8]| match decode("test", &[3; 32], body) {
            Err(StorageError::Corrupt { detail, .. }) => detail,
            other => panic!("expected Corrupt, got {other:?}"),
        };
        assert!(detail(&[]).contains("no version byte"));
        assert!(detail(&[9]).contains("unknown version"));
        let cut = &stored.body[..stored.body.len() - 1];
        assert!(
            detail(cut).contains("inside a part's digest"),
            "{}",
            detail(cut)
        );
        let mut bad_tag = stored.body.clone();
        bad_tag[5] = 7;
        assert!(detail(&bad_tag).contains("unknown piece tag at byte 5"));
        let mut too_long = stored.body.clone();
        too_long[1..5].copy_from_slice(&1u32.to_be_bytes());
        assert!(detail(&too_long).contains("more bytes than its length"));
    }
}
