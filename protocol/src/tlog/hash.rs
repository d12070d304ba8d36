//! RFC 6962 §2.1 hashing: leaf hash, interior-node hash, empty root, and a
//! streaming root builder.

use std::fmt;

use ring::digest::{Context, SHA256};

use super::b64;

/// Length of a SHA-256 hash in bytes.
pub const HASH_SIZE: usize = 32;

/// A Merkle tree hash: a leaf hash, an interior node or a root — SHA-256
/// (RFC 6962), or SM3 in the `sm2-sm3` suite's second tree
/// ([`super::sm3`]).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; HASH_SIZE]);

/// Why a hash in text form was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashDecodeError {
    /// The text is not canonical, padded standard base64.
    #[error("hash is not canonical base64")]
    BadBase64,
    /// The text is not 64 lowercase hexadecimal digits.
    #[error("hash is not 64 lowercase hex digits")]
    BadHex,
    /// The decoded bytes are not exactly 32 long.
    #[error("hash is {0} bytes, want 32")]
    WrongLength(usize),
}

impl Hash {
    /// The hash as bytes.
    pub fn as_bytes(&self) -> &[u8; HASH_SIZE] {
        &self.0
    }

    /// A hash from a slice that must be exactly 32 bytes long.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, HashDecodeError> {
        <[u8; HASH_SIZE]>::try_from(bytes)
            .map(Hash)
            .map_err(|_| HashDecodeError::WrongLength(bytes.len()))
    }

    /// Standard padded base64, as in checkpoints.
    pub fn to_base64(&self) -> String {
        b64::encode(&self.0)
    }

    /// Parse canonical standard base64 of exactly 32 bytes.
    pub fn from_base64(text: &str) -> Result<Self, HashDecodeError> {
        // 32 bytes encode to 44 characters; refuse anything longer before decoding.
        if text.len() != 44 {
            return Err(HashDecodeError::BadBase64);
        }
        let bytes = b64::decode(text).ok_or(HashDecodeError::BadBase64)?;
        Self::from_slice(&bytes)
    }

    /// Lowercase hexadecimal.
    pub fn to_hex(&self) -> String {
        let mut out = String::with_capacity(2 * HASH_SIZE);
        for b in self.0 {
            out.push(char::from(HEX_DIGITS[usize::from(b >> 4)]));
            out.push(char::from(HEX_DIGITS[usize::from(b & 0x0f)]));
        }
        out
    }

    /// Parse 64 lowercase hexadecimal digits.
    pub fn from_hex(text: &str) -> Result<Self, HashDecodeError> {
        let digits = text.as_bytes();
        if digits.len() != 2 * HASH_SIZE {
            return Err(HashDecodeError::BadHex);
        }
        let mut out = [0u8; HASH_SIZE];
        for (byte, pair) in out.iter_mut().zip(digits.chunks_exact(2)) {
            let hi = hex_value(pair[0]).ok_or(HashDecodeError::BadHex)?;
            let lo = hex_value(pair[1]).ok_or(HashDecodeError::BadHex)?;
            *byte = (hi << 4) | lo;
        }
        Ok(Hash(out))
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        _ => None,
    }
}

impl From<[u8; HASH_SIZE]> for Hash {
    fn from(bytes: [u8; HASH_SIZE]) -> Self {
        Hash(bytes)
    }
}

impl AsRef<[u8]> for Hash {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

/// Displays as standard base64, the form checkpoints use.
impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

/// The root of the empty tree: SHA-256 of the empty string (RFC 6962 §2.1).
pub const EMPTY_ROOT: Hash = Hash([
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
    0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
]);

fn finish(ctx: Context) -> Hash {
    let digest = ctx.finish();
    let mut out = [0u8; HASH_SIZE];
    out.copy_from_slice(digest.as_ref());
    Hash(out)
}

/// The leaf hash of a log entry: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x00]);
    ctx.update(entry);
    finish(ctx)
}

/// An interior node: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut ctx = Context::new(&SHA256);
    ctx.update(&[0x01]);
    ctx.update(&left.0);
    ctx.update(&right.0);
    finish(ctx)
}

/// The Merkle tree hash (MTH, RFC 6962 §2.1) of a list of leaf hashes.
pub fn root_from_leaf_hashes(leaves: &[Hash]) -> Hash {
    let mut tree = CompactTree::new();
    for leaf in leaves {
        tree.push(*leaf);
    }
    tree.root()
}

/// The hash function of an RFC 6962 tree: the interior-node hash and the
/// empty tree's root. [`Sha256Tree`] is RFC 6962's (C2SP's); the `sm2-sm3`
/// suite's second tree is [`super::sm3::Sm3Tree`] (decision 1100).
pub trait TreeHasher {
    /// The root of the empty tree.
    const EMPTY_ROOT: Hash;
    /// An interior node: `H(0x01 ‖ left ‖ right)`.
    fn node(left: &Hash, right: &Hash) -> Hash;
}

/// RFC 6962 with SHA-256: the tree of every checkpoint's root line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sha256Tree;

impl TreeHasher for Sha256Tree {
    const EMPTY_ROOT: Hash = EMPTY_ROOT;
    fn node(left: &Hash, right: &Hash) -> Hash {
        node_hash(left, right)
    }
}

/// The right edge of a growing tree: one hash per complete subtree in the
/// binary decomposition of its size, largest first. Appending and taking the
/// root cost O(log n) time and memory, so the auditor can recompute the root
/// of a log it streams without holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompactTreeOf<H> {
    size: u64,
    /// Roots of the perfect subtrees covering `[0, size)`, left to right.
    frontier: Vec<Hash>,
    hasher: std::marker::PhantomData<H>,
}

/// The SHA-256 (RFC 6962) compact tree.
pub type CompactTree = CompactTreeOf<Sha256Tree>;

impl<H> Default for CompactTreeOf<H> {
    fn default() -> Self {
        CompactTreeOf {
            size: 0,
            frontier: Vec::new(),
            hasher: std::marker::PhantomData,
        }
    }
}

impl<H: TreeHasher> CompactTreeOf<H> {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree of `size` leaves whose perfect subtrees, left to right,
    /// have the roots `frontier` (one per one bit of `size`); `None` if
    /// the count is wrong.
    pub fn from_frontier(size: u64, frontier: Vec<Hash>) -> Option<Self> {
        (frontier.len() == size.count_ones() as usize).then_some(CompactTreeOf {
            size,
            frontier,
            hasher: std::marker::PhantomData,
        })
    }

    /// Number of leaves appended.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The roots of the perfect subtrees covering the leaves, left to right.
    pub fn frontier(&self) -> &[Hash] {
        &self.frontier
    }

    /// Append one leaf hash.
    pub fn push(&mut self, leaf: Hash) {
        let mut hash = leaf;
        let mut size = self.size;
        // Each trailing one bit of the old size is a perfect subtree of the
        // same height as `hash` waiting for its right sibling.
        while size & 1 == 1 {
            match self.frontier.pop() {
                Some(left) => hash = H::node(&left, &hash),
                // The frontier holds one hash per one bit of `size`.
                None => break,
            }
            size >>= 1;
        }
        self.frontier.push(hash);
        self.size += 1;
    }

    /// The Merkle tree hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut hashes = self.frontier.iter().rev();
        let Some(last) = hashes.next() else {
            return H::EMPTY_ROOT;
        };
        hashes.fold(*last, |right, left| H::node(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        let digest = ring::digest::digest(&SHA256, b"");
        assert_eq!(EMPTY_ROOT.as_bytes().as_slice(), digest.as_ref());
        assert_eq!(CompactTree::new().root(), EMPTY_ROOT);
    }

    #[test]
    fn hex_and_base64_round_trip() {
        let h = leaf_hash(b"credex");
        assert_eq!(Hash::from_hex(&h.to_hex()), Ok(h));
        assert_eq!(Hash::from_base64(&h.to_base64()), Ok(h));
        assert_eq!(
            Hash::from_hex(&h.to_hex().to_uppercase()),
            Err(HashDecodeError::BadHex)
        );
        assert_eq!(
            Hash::from_base64("AAAA"),
            Err(HashDecodeError::BadBase64),
            "short base64"
        );
    }
}
