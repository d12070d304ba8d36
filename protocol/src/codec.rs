//! The postcard codec and length-prefixed framing.
//!
//! A frame is a 4-byte big-endian payload length followed by the payload, the
//! postcard encoding of one message. The length is checked against the
//! receiver's [`FrameLimit`] before any buffer is allocated, and a payload
//! must decode to exactly one message: trailing bytes are an error.
//!
//! The codec lives here alone so that it can be swapped (docs/design.md §4).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Length of the frame header: a big-endian `u32` payload length.
pub const FRAME_HEADER_LEN: usize = 4;

/// Maximum payload length of one frame, checked before allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimit(u32);

impl FrameLimit {
    /// The default maximum: 1 MiB.
    pub const DEFAULT: FrameLimit = FrameLimit(1 << 20);
    /// The smallest limit a node may configure (1 KiB).
    pub const MIN: u32 = 1 << 10;
    /// The largest limit a node may configure (64 MiB).
    pub const MAX: u32 = 64 << 20;

    /// A limit of `bytes`, which must lie within [`Self::MIN`]..=[`Self::MAX`].
    pub fn new(bytes: u32) -> Result<Self, FrameError> {
        if (Self::MIN..=Self::MAX).contains(&bytes) {
            Ok(FrameLimit(bytes))
        } else {
            Err(FrameError::LimitOutOfRange(bytes))
        }
    }

    /// The limit in bytes.
    pub fn bytes(self) -> u32 {
        self.0
    }
}

impl Default for FrameLimit {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Errors of encoding, decoding and framing.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The declared payload length exceeds the receiver's limit. Nothing was allocated.
    #[error("frame of {len} bytes exceeds the maximum of {limit} bytes")]
    TooLarge {
        /// The length the header declared (or the encoder produced).
        len: u64,
        /// The limit in force.
        limit: u32,
    },
    /// A frame with an empty payload; no message encodes to zero bytes.
    #[error("empty frame")]
    Empty,
    /// A configured frame limit is outside the allowed range.
    #[error("frame limit {0} is outside {min}..={max} bytes", min = FrameLimit::MIN, max = FrameLimit::MAX)]
    LimitOutOfRange(u32),
    /// The payload is not a valid encoding of the expected message.
    #[error("malformed message: {0}")]
    Malformed(postcard::Error),
    /// The payload decoded to a message but bytes were left over.
    #[error("{0} trailing bytes after the message")]
    TrailingBytes(usize),
    /// The message could not be encoded (a bug on the sending side).
    #[error("cannot encode message: {0}")]
    Encode(postcard::Error),
}

/// Serde helper for a list of byte strings (certificate chains): each
/// element as one byte string rather than a sequence of `u8`s. postcard
/// writes both the same way (a length, then the bytes), so the wire does
/// not change; encoding and decoding just stop going byte by byte.
/// Use as `#[serde(with = "crate::codec::byte_strings")]`.
pub mod byte_strings {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialize each element as a byte string.
    pub fn serialize<S: Serializer>(list: &[Vec<u8>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(list.iter().map(|b| serde_bytes::Bytes::new(b)))
    }

    /// Deserialize a sequence of byte strings.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Vec<u8>>, D::Error> {
        let list = Vec::<serde_bytes::ByteBuf>::deserialize(d)?;
        Ok(list
            .into_iter()
            .map(serde_bytes::ByteBuf::into_vec)
            .collect())
    }
}

/// Encode a message as a payload (no frame header).
///
/// The message is measured first (postcard's size flavor walks it without
/// writing), so the payload is allocated once at its length instead of
/// grown and copied as it fills.
pub fn encode<T: Serialize + ?Sized>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let payload = Vec::with_capacity(encoded_len(msg)?);
    postcard::to_extend(msg, payload).map_err(FrameError::Encode)
}

/// The length of `msg`'s encoding, without encoding it.
pub fn encoded_len<T: Serialize + ?Sized>(msg: &T) -> Result<usize, FrameError> {
    postcard::serialize_with_flavor(msg, postcard::ser_flavors::Size::default())
        .map_err(FrameError::Encode)
}

/// The SHA-256 digest of `msg`'s encoding, hashed as it is encoded (no
/// buffer): equal to `SHA-256(encode(msg))`.
pub fn encoding_sha256<T: Serialize + ?Sized>(msg: &T) -> Result<[u8; 32], FrameError> {
    let digest = postcard::serialize_with_flavor(msg, Sha256Flavor::default())
        .map_err(FrameError::Encode)?;
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    Ok(out)
}

/// A postcard output that feeds SHA-256 instead of a buffer.
///
/// Postcard pushes fixed-size arrays (digests, nonces) one byte at a time;
/// the bytes gather in a small block first, so the digest is updated once
/// per block rather than once per byte.
struct Sha256Flavor {
    digest: ring::digest::Context,
    block: [u8; SHA256_FLAVOR_BLOCK],
    filled: usize,
}

/// Bytes [`Sha256Flavor`] gathers before it updates the digest: four of
/// SHA-256's 64-byte blocks.
const SHA256_FLAVOR_BLOCK: usize = 256;

impl Default for Sha256Flavor {
    fn default() -> Self {
        Sha256Flavor {
            digest: ring::digest::Context::new(&ring::digest::SHA256),
            block: [0; SHA256_FLAVOR_BLOCK],
            filled: 0,
        }
    }
}

impl Sha256Flavor {
    fn flush(&mut self) {
        self.digest.update(&self.block[..self.filled]);
        self.filled = 0;
    }
}

impl postcard::ser_flavors::Flavor for Sha256Flavor {
    type Output = ring::digest::Digest;

    fn try_push(&mut self, byte: u8) -> postcard::Result<()> {
        if self.filled == SHA256_FLAVOR_BLOCK {
            self.flush();
        }
        self.block[self.filled] = byte;
        self.filled += 1;
        Ok(())
    }

    fn try_extend(&mut self, bytes: &[u8]) -> postcard::Result<()> {
        if self.filled + bytes.len() <= SHA256_FLAVOR_BLOCK {
            self.block[self.filled..self.filled + bytes.len()].copy_from_slice(bytes);
            self.filled += bytes.len();
        } else {
            self.flush();
            self.digest.update(bytes);
        }
        Ok(())
    }

    fn finalize(mut self) -> postcard::Result<Self::Output> {
        self.flush();
        Ok(self.digest.finish())
    }
}

/// Decode a payload as exactly one `T`; trailing bytes are an error.
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    if payload.is_empty() {
        return Err(FrameError::Empty);
    }
    let (value, rest) = postcard::take_from_bytes(payload).map_err(FrameError::Malformed)?;
    if !rest.is_empty() {
        return Err(FrameError::TrailingBytes(rest.len()));
    }
    Ok(value)
}

/// Encode a message as a complete frame: header and payload.
///
/// Fails with [`FrameError::TooLarge`] if the payload exceeds `limit`, so a
/// node never sends a frame its peers would refuse.
pub fn encode_frame<T: Serialize + ?Sized>(
    msg: &T,
    limit: FrameLimit,
) -> Result<Vec<u8>, FrameError> {
    let mut frame = Vec::with_capacity(FRAME_HEADER_LEN + encoded_len(msg)?);
    frame.extend_from_slice(&[0u8; FRAME_HEADER_LEN]);
    frame = postcard::to_extend(msg, frame).map_err(FrameError::Encode)?;
    let len = frame.len() - FRAME_HEADER_LEN;
    let len32 = u32::try_from(len)
        .ok()
        .filter(|&l| l <= limit.bytes())
        .ok_or(FrameError::TooLarge {
            len: len as u64,
            limit: limit.bytes(),
        })?;
    frame[..FRAME_HEADER_LEN].copy_from_slice(&len32.to_be_bytes());
    Ok(frame)
}

/// Read a frame header and return the payload length, refusing lengths above
/// `limit` (and zero) before the caller allocates anything.
pub fn payload_len(header: [u8; FRAME_HEADER_LEN], limit: FrameLimit) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(header);
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > limit.bytes() {
        return Err(FrameError::TooLarge {
            len: u64::from(len),
            limit: limit.bytes(),
        });
    }
    // u32 always fits in usize on the 32- and 64-bit targets credex supports.
    Ok(len as usize)
}

/// Incremental, sans-IO frame reader: feed it bytes as they arrive and take
/// complete payloads out. It never buffers more than one header plus one
/// payload of at most the limit.
#[derive(Debug)]
pub struct FrameDecoder {
    limit: FrameLimit,
    buf: Vec<u8>,
    /// Payload length of the frame being read, once its header is complete.
    want: Option<usize>,
}

impl FrameDecoder {
    /// A decoder that refuses frames above `limit`.
    pub fn new(limit: FrameLimit) -> Self {
        FrameDecoder {
            limit,
            buf: Vec::new(),
            want: None,
        }
    }

    /// Feed bytes; returns how many were consumed. Call [`Self::next_frame`]
    /// when a frame may be complete and feed the rest afterwards.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<usize, FrameError> {
        let total = data.len();
        if self.want.is_none() {
            let need = FRAME_HEADER_LEN - self.buf.len();
            let take = need.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() < FRAME_HEADER_LEN {
                return Ok(total - data.len());
            }
            let mut header = [0u8; FRAME_HEADER_LEN];
            header.copy_from_slice(&self.buf);
            let len = payload_len(header, self.limit)?;
            self.buf.clear();
            self.buf.reserve_exact(len);
            self.want = Some(len);
        }
        if let Some(want) = self.want {
            let take = (want - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(total - data.len())
    }

    /// The next complete payload, if one has been fed.
    pub fn next_frame(&mut self) -> Option<Vec<u8>> {
        match self.want {
            Some(want) if self.buf.len() == want => {
                self.want = None;
                Some(std::mem::take(&mut self.buf))
            }
            _ => None,
        }
    }

    /// Whether a frame has been started but not completed.
    pub fn is_mid_frame(&self) -> bool {
        !self.buf.is_empty() || self.want.is_some()
    }
}

/// Decode arbitrary bytes as a stream of request frames and validate each;
/// returns how many decoded. This is the body of the fuzz target and of the
/// property tests: it must never panic, whatever the input.
pub fn decode_untrusted_requests(data: &[u8], limit: FrameLimit) -> usize {
    let mut decoder = FrameDecoder::new(limit);
    let mut ok = 0;
    let mut rest = data;
    while !rest.is_empty() {
        let used = match decoder.feed(rest) {
            Ok(n) => n,
            Err(_) => return ok,
        };
        rest = &rest[used..];
        if let Some(payload) = decoder.next_frame()
            && let Ok(req) = decode::<crate::messages::Request>(&payload)
            && req.validate().is_ok()
        {
            ok += 1;
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::Sha256Flavor;
    use postcard::ser_flavors::Flavor as _;
    use proptest::prelude::*;

    proptest! {
        /// Any run of single bytes and slices, across the gathered block's
        /// edges, digests as SHA-256 of the bytes in order.
        #[test]
        fn the_digest_flavor_is_sha256_of_its_bytes(
            parts in prop::collection::vec(
                prop_oneof![
                    any::<u8>().prop_map(|b| vec![b]),
                    prop::collection::vec(any::<u8>(), 0..600),
                ],
                0..40,
            ),
            pushes in prop::collection::vec(any::<bool>(), 40),
        ) {
            use sha2::Digest as _;
            let mut flavor = Sha256Flavor::default();
            let mut all = Vec::new();
            for (part, push) in parts.iter().zip(pushes) {
                if push && part.len() == 1 {
                    flavor.try_push(part[0]).unwrap();
                } else {
                    flavor.try_extend(part).unwrap();
                }
                all.extend_from_slice(part);
            }
            let expected: [u8; 32] = sha2::Sha256::digest(&all).into();
            let digest = flavor.finalize().unwrap();
            prop_assert_eq!(digest.as_ref(), expected.as_slice());
        }
    }
}
