//! C2SP tiled logs (`c2sp.org/tlog-tiles`): how a log is exported as static
//! files, and how an auditor checks such an export.
//!
//! - Hash tiles `tile/<L>/<N>[.p/<W>]`: the `n`-th tile at level `l` lists
//!   the hashes MTH(D[(n·256 + i)·256^l : (n·256 + i + 1)·256^l]) for
//!   `i < W`, 32 bytes each. Full tiles have 256 hashes; the rightmost tile
//!   of each level may be partial (`.p/<W>`, 1 ≤ W ≤ 255).
//! - Entry bundles `tile/entries/<N>[.p/<W>]`: the entries of level-0 tile
//!   `N`, each as a big-endian u16 length and the entry bytes.
//! - `<N>` is written in 3-digit groups, all but the last prefixed with
//!   `x`: 1234067 is `x001/x234/067`.
//!
//! Paths are parsed in canonical form only, so one tile has one path.
//!
//! This module owns the paths and the export side (which tiles and bundles
//! a log of a given size has, and their bytes); `audit` owns the other side:
//! reading an export back through a [`TileSource`] and checking it against a
//! checkpoint's size and root ([`verify_tiles`], [`verify_entry_bundles`],
//! [`TileHashReader`]).

use std::fmt;

use super::proof::ProveError;
mod audit;

pub use audit::{
    MemoryTiles, TileError, TileHashReader, TileReadError, TileSource, verify_entry_bundles,
    verify_tiles,
};

use super::store::{HashReadError, HashReader, MAX_TREE_SIZE, stored_hash_index};

/// Tile height: each tile spans 8 tree levels.
pub const TILE_HEIGHT: u8 = 8;

/// Hashes in a full tile, entries in a full bundle.
pub const TILE_WIDTH: u16 = 256;

/// Largest entry an entry bundle can carry (u16 length prefix).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// Highest tile level a path may name (the spec allows 0–63).
const MAX_TILE_LEVEL: u8 = 63;

/// Longest tile path accepted: a u64 index is 7 groups.
const MAX_PATH_LEN: usize = 64;

/// Why a tile path or tile coordinate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TilePathError {
    /// Not a canonical `tile/<L>/<N>[.p/<W>]` or `tile/entries/<N>[.p/<W>]` path.
    #[error("{0:?} is not a canonical tile path")]
    NotCanonical(String),
    /// Level above 63.
    #[error("tile level {0} exceeds 63")]
    LevelTooHigh(u8),
    /// Width not in 1..=256.
    #[error("tile width {0} is not in 1..=256")]
    BadWidth(u16),
}

/// A hash tile: level, index within the level, and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    level: u8,
    index: u64,
    width: u16,
}

/// An entry bundle: index (same as its level-0 tile) and width.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EntryBundleId {
    index: u64,
    width: u16,
}

fn check_width(width: u16) -> Result<(), TilePathError> {
    if width == 0 || width > TILE_WIDTH {
        return Err(TilePathError::BadWidth(width));
    }
    Ok(())
}

impl TileId {
    /// A tile; `width` 256 is a full tile.
    pub fn new(level: u8, index: u64, width: u16) -> Result<Self, TilePathError> {
        if level > MAX_TILE_LEVEL {
            return Err(TilePathError::LevelTooHigh(level));
        }
        check_width(width)?;
        Ok(TileId {
            level,
            index,
            width,
        })
    }

    /// Level: the tile's hashes are tree nodes at height 8·level.
    pub fn level(&self) -> u8 {
        self.level
    }

    /// Index within the level.
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of hashes.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Whether the tile has fewer than 256 hashes.
    pub fn is_partial(&self) -> bool {
        self.width < TILE_WIDTH
    }

    /// The same tile, full width.
    pub fn full(&self) -> TileId {
        TileId {
            width: TILE_WIDTH,
            ..*self
        }
    }

    /// `tile/<L>/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/{}/{}{}",
            self.level,
            encode_index(self.index),
            partial_suffix(self.width)
        )
    }
}

impl EntryBundleId {
    /// An entry bundle; `width` 256 is a full bundle.
    pub fn new(index: u64, width: u16) -> Result<Self, TilePathError> {
        check_width(width)?;
        Ok(EntryBundleId { index, width })
    }

    /// Index (the index of the matching level-0 tile).
    pub fn index(&self) -> u64 {
        self.index
    }

    /// Number of entries.
    pub fn width(&self) -> u16 {
        self.width
    }

    /// Index of the first entry in the bundle.
    pub fn first_entry(&self) -> u64 {
        self.index.saturating_mul(u64::from(TILE_WIDTH))
    }

    /// The level-0 hash tile with the same index and width.
    pub fn tile(&self) -> TileId {
        TileId {
            level: 0,
            index: self.index,
            width: self.width,
        }
    }

    /// `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        format!(
            "tile/entries/{}{}",
            encode_index(self.index),
            partial_suffix(self.width)
        )
    }
}

impl fmt::Display for TileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

impl fmt::Display for EntryBundleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

fn partial_suffix(width: u16) -> String {
    if width < TILE_WIDTH {
        format!(".p/{width}")
    } else {
        String::new()
    }
}

/// `<N>` as 3-digit path elements, all but the last prefixed with `x`.
fn encode_index(index: u64) -> String {
    let mut groups = Vec::new();
    let mut n = index;
    loop {
        groups.push(n % 1000);
        n /= 1000;
        if n == 0 {
            break;
        }
    }
    let mut out = String::new();
    for (i, group) in groups.iter().rev().enumerate() {
        if i + 1 < groups.len() {
            out.push_str(&format!("x{group:03}/"));
        } else {
            out.push_str(&format!("{group:03}"));
        }
    }
    out
}

/// A parsed tile path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TilePath {
    /// `tile/<L>/<N>[.p/<W>]`.
    Hashes(TileId),
    /// `tile/entries/<N>[.p/<W>]`.
    Entries(EntryBundleId),
}

impl TilePath {
    /// Parse a path relative to the log prefix, accepting only the canonical form.
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        let not_canonical = || TilePathError::NotCanonical(path.chars().take(80).collect());
        if path.len() > MAX_PATH_LEN {
            return Err(not_canonical());
        }
        let rest = path.strip_prefix("tile/").ok_or_else(not_canonical)?;
        let (kind, rest) = rest.split_once('/').ok_or_else(not_canonical)?;
        let (digits, width) = match rest.split_once(".p/") {
            Some((digits, w)) => {
                let canonical_w =
                    !w.is_empty() && w.bytes().all(|b| b.is_ascii_digit()) && !w.starts_with('0');
                let w: u16 = canonical_w
                    .then(|| w.parse().ok())
                    .flatten()
                    .ok_or_else(not_canonical)?;
                if w >= TILE_WIDTH {
                    return Err(not_canonical());
                }
                (digits, w)
            }
            None => (rest, TILE_WIDTH),
        };
        let index = parse_index(digits).ok_or_else(not_canonical)?;
        let parsed = if kind == "entries" {
            TilePath::Entries(EntryBundleId::new(index, width)?)
        } else {
            let canonical_l = !kind.is_empty()
                && kind.bytes().all(|b| b.is_ascii_digit())
                && (kind == "0" || !kind.starts_with('0'));
            let level: u8 = canonical_l
                .then(|| kind.parse().ok())
                .flatten()
                .ok_or_else(not_canonical)?;
            TilePath::Hashes(TileId::new(level, index, width)?)
        };
        if parsed.path() != path {
            return Err(not_canonical());
        }
        Ok(parsed)
    }

    /// The canonical path.
    pub fn path(&self) -> String {
        match self {
            TilePath::Hashes(t) => t.path(),
            TilePath::Entries(b) => b.path(),
        }
    }
}

/// Parse `x001/x234/067` into 1234067; `None` unless canonical.
fn parse_index(text: &str) -> Option<u64> {
    let mut elements = text.split('/').peekable();
    let mut index = 0u64;
    while let Some(element) = elements.next() {
        let digits = if elements.peek().is_some() {
            element.strip_prefix('x')?
        } else {
            element
        };
        if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let group: u64 = digits.parse().ok()?;
        index = index.checked_mul(1000)?.checked_add(group)?;
    }
    Some(index)
}

/// Number of level-`level` hashes in a tree of `size` leaves.
fn level_width(size: u64, level: u8) -> u64 {
    size.checked_shr(u32::from(TILE_HEIGHT) * u32::from(level))
        .unwrap_or(0)
}

/// The tile at `(level, index)` as it exists in a tree of `size` leaves —
/// full, partial, or `None` if the tree has no hashes there yet.
pub fn tile_for_size(level: u8, index: u64, size: u64) -> Option<TileId> {
    if level > MAX_TILE_LEVEL {
        return None;
    }
    let hashes = level_width(size, level);
    let start = index.checked_mul(u64::from(TILE_WIDTH))?;
    let available = hashes.checked_sub(start)?;
    let width = u16::try_from(available.min(u64::from(TILE_WIDTH))).ok()?;
    (width > 0).then_some(TileId {
        level,
        index,
        width,
    })
}

/// Every tile of a tree of `size` leaves, level by level, left to right:
/// the full tiles and, per level, the partial one if any. Empty for size 0.
/// Lazy, so a hostile size costs nothing until tiles are read.
pub fn tiles_for_size(size: u64) -> impl Iterator<Item = TileId> {
    new_tiles(0, size)
}

/// The tiles that a tree of `new` leaves has and a tree of `old` leaves does
/// not have in the same form: what to write when the log grows.
pub fn new_tiles(old: u64, new: u64) -> impl Iterator<Item = TileId> {
    let width = u64::from(TILE_WIDTH);
    (0..=MAX_TILE_LEVEL)
        .take_while(move |&level| level_width(new, level) > 0)
        .flat_map(move |level| {
            let old_hashes = level_width(old, level);
            let new_hashes = level_width(new, level);
            let changed = old_hashes != new_hashes;
            let first = if old > new { 0 } else { old_hashes / width };
            let end = if changed { new_hashes / width } else { first };
            let full = (first..end).map(move |index| TileId {
                level,
                index,
                width: TILE_WIDTH,
            });
            let partial = changed
                .then(|| tile_for_size(level, new_hashes / width, new))
                .flatten();
            full.chain(partial)
        })
}

/// Every entry bundle of a tree of `size` leaves (lazy, like [`tiles_for_size`]).
pub fn entry_bundles_for_size(size: u64) -> impl Iterator<Item = EntryBundleId> {
    tiles_for_size(size)
        .take_while(|t| t.level == 0)
        .map(|t| EntryBundleId {
            index: t.index,
            width: t.width,
        })
}

/// The stored hash index of hash `i` of a tile, if within [`MAX_TREE_SIZE`].
fn tile_hash_index(tile: &TileId, i: u64) -> Option<u64> {
    let n = tile
        .index
        .checked_mul(u64::from(TILE_WIDTH))?
        .checked_add(i)?;
    let level = tile.level.checked_mul(TILE_HEIGHT)?;
    stored_hash_index(level, n)
}

/// The bytes of `tile`: its hashes read from the log's stored hashes.
pub fn read_tile<R: HashReader + ?Sized>(tile: &TileId, reader: &R) -> Result<Vec<u8>, ProveError> {
    let indexes = (0..u64::from(tile.width))
        .map(|i| {
            tile_hash_index(tile, i).ok_or(ProveError::TreeTooLarge {
                size: tile.index.saturating_mul(u64::from(TILE_WIDTH)),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let hashes = reader.read_hashes(&indexes)?;
    if hashes.len() != indexes.len() {
        return Err(HashReadError::WrongCount {
            wanted: indexes.len(),
            got: hashes.len(),
        }
        .into());
    }
    Ok(hashes.iter().flat_map(|h| h.0).collect())
}

/// Every tile of a tree of `size` leaves with its bytes.
pub fn export_tiles<R: HashReader + ?Sized>(
    size: u64,
    reader: &R,
) -> Result<Vec<(TileId, Vec<u8>)>, ProveError> {
    if size > MAX_TREE_SIZE {
        return Err(ProveError::TreeTooLarge { size });
    }
    tiles_for_size(size)
        .map(|t| read_tile(&t, reader).map(|data| (t, data)))
        .collect()
}

/// Why an entry bundle was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryBundleError {
    /// An entry is longer than 65535 bytes.
    #[error("entry {index} is {len} bytes, more than 65535")]
    EntryTooLarge {
        /// Position in the bundle.
        index: usize,
        /// Entry length.
        len: usize,
    },
    /// More than 256 entries for one bundle.
    #[error("bundle has more than 256 entries")]
    TooManyEntries,
    /// The bytes end inside a length prefix or an entry.
    #[error("bundle is truncated in entry {0}")]
    Truncated(usize),
    /// Bytes remain after the expected number of entries.
    #[error("bundle has {0} bytes after its last entry")]
    TrailingBytes(usize),
}

/// Encode entries as a bundle: each a big-endian u16 length and its bytes.
pub fn encode_entry_bundle<'a, I>(entries: I) -> Result<Vec<u8>, EntryBundleError>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    let mut out = Vec::new();
    for (index, entry) in entries.into_iter().enumerate() {
        if index >= usize::from(TILE_WIDTH) {
            return Err(EntryBundleError::TooManyEntries);
        }
        let len = u16::try_from(entry.len()).map_err(|_| EntryBundleError::EntryTooLarge {
            index,
            len: entry.len(),
        })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Decode a bundle that must hold exactly `width` entries and nothing after.
pub fn decode_entry_bundle(bytes: &[u8], width: u16) -> Result<Vec<&[u8]>, EntryBundleError> {
    if width > TILE_WIDTH {
        return Err(EntryBundleError::TooManyEntries);
    }
    let mut entries = Vec::with_capacity(usize::from(width));
    let mut rest = bytes;
    for index in 0..usize::from(width) {
        let [hi, lo, tail @ ..] = rest else {
            return Err(EntryBundleError::Truncated(index));
        };
        let len = usize::from(u16::from_be_bytes([*hi, *lo]));
        if tail.len() < len {
            return Err(EntryBundleError::Truncated(index));
        }
        let (entry, tail) = tail.split_at(len);
        entries.push(entry);
        rest = tail;
    }
    if !rest.is_empty() {
        return Err(EntryBundleError::TrailingBytes(rest.len()));
    }
    Ok(entries)
}

/// Every entry bundle of a log whose entries are `entries`, in order.
pub fn export_entry_bundles<E: AsRef<[u8]>>(
    entries: &[E],
) -> Result<Vec<(EntryBundleId, Vec<u8>)>, EntryBundleError> {
    entries
        .chunks(usize::from(TILE_WIDTH))
        .enumerate()
        .map(|(index, chunk)| {
            let id = EntryBundleId {
                index: index as u64,
                width: u16::try_from(chunk.len()).map_err(|_| EntryBundleError::TooManyEntries)?,
            };
            encode_entry_bundle(chunk.iter().map(AsRef::as_ref)).map(|bytes| (id, bytes))
        })
        .collect()
}
