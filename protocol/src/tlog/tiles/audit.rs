//! Reading a tiled export back and checking it, as an auditor does: where
//! tiles and bundles come from ([`TileSource`], [`MemoryTiles`]), hashes
//! read through tiles ([`TileHashReader`]), and the checks of a whole export
//! against a checkpoint ([`verify_tiles`], [`verify_entry_bundles`]).
//!
//! It does not name tiles or write an export: paths, the tiles a size has
//! and their bytes are the parent module's.

use std::collections::HashMap;

use super::super::hash::{EMPTY_ROOT, HASH_SIZE, Hash, leaf_hash, node_hash};
use super::super::proof::{ProveError, tree_hash};
use super::super::store::{HashReadError, HashReader, MAX_TREE_SIZE, split_stored_hash_index};
use super::{
    EntryBundleError, EntryBundleId, TILE_HEIGHT, TILE_WIDTH, TileId, decode_entry_bundle,
    entry_bundles_for_size, tile_for_size, tiles_for_size,
};

/// Why a tile could not be read from a [`TileSource`].
#[derive(Debug, thiserror::Error)]
pub enum TileReadError {
    /// The export has no file at this path.
    #[error("{0} is missing")]
    Missing(String),
    /// Reading failed.
    #[error("reading {path}: {source}")]
    Storage {
        /// Tile path.
        path: String,
        /// Underlying failure.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where exported tiles and entry bundles are read from (a directory, an
/// HTTP mirror, memory). Implementations should bound what they read:
/// a tile is at most 8192 bytes, a bundle at most 256 · 65537.
pub trait TileSource {
    /// The bytes of a hash tile.
    fn tile(&self, tile: &TileId) -> Result<Vec<u8>, TileReadError>;

    /// The bytes of an entry bundle.
    fn entry_bundle(&self, bundle: &EntryBundleId) -> Result<Vec<u8>, TileReadError>;
}

/// Tiles and bundles held in memory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryTiles {
    tiles: HashMap<TileId, Vec<u8>>,
    bundles: HashMap<EntryBundleId, Vec<u8>>,
}

impl MemoryTiles {
    /// No tiles.
    pub fn new() -> Self {
        Self::default()
    }

    /// Store a hash tile.
    pub fn insert_tile(&mut self, tile: TileId, bytes: Vec<u8>) {
        self.tiles.insert(tile, bytes);
    }

    /// Store an entry bundle.
    pub fn insert_entry_bundle(&mut self, bundle: EntryBundleId, bytes: Vec<u8>) {
        self.bundles.insert(bundle, bytes);
    }

    /// Remove a hash tile; returns its bytes.
    pub fn remove_tile(&mut self, tile: &TileId) -> Option<Vec<u8>> {
        self.tiles.remove(tile)
    }

    /// Mutable access to a stored tile's bytes.
    pub fn tile_mut(&mut self, tile: &TileId) -> Option<&mut Vec<u8>> {
        self.tiles.get_mut(tile)
    }

    /// Mutable access to a stored bundle's bytes.
    pub fn entry_bundle_mut(&mut self, bundle: &EntryBundleId) -> Option<&mut Vec<u8>> {
        self.bundles.get_mut(bundle)
    }

    /// Tile paths held, sorted.
    pub fn paths(&self) -> Vec<String> {
        let mut paths: Vec<String> = self
            .tiles
            .keys()
            .map(TileId::path)
            .chain(self.bundles.keys().map(EntryBundleId::path))
            .collect();
        paths.sort();
        paths
    }
}

impl TileSource for MemoryTiles {
    fn tile(&self, tile: &TileId) -> Result<Vec<u8>, TileReadError> {
        self.tiles
            .get(tile)
            .cloned()
            .ok_or_else(|| TileReadError::Missing(tile.path()))
    }

    fn entry_bundle(&self, bundle: &EntryBundleId) -> Result<Vec<u8>, TileReadError> {
        self.bundles
            .get(bundle)
            .cloned()
            .ok_or_else(|| TileReadError::Missing(bundle.path()))
    }
}

/// Why an exported set of tiles did not verify.
#[derive(Debug, thiserror::Error)]
pub enum TileError {
    /// The tree is larger than [`MAX_TREE_SIZE`].
    #[error("tree size {0} exceeds the supported maximum 2^62")]
    TreeTooLarge(u64),
    /// A tile or bundle could not be read.
    #[error(transparent)]
    Read(#[from] TileReadError),
    /// A tile's length is not 32 bytes per hash of its width.
    #[error("{path} is {len} bytes, want {want}")]
    WrongLength {
        /// Tile path.
        path: String,
        /// Length found.
        len: usize,
        /// Length required.
        want: usize,
    },
    /// A hash in a tile above level 0 is not the hash of the full tile below.
    #[error("hash {position} of {path} is not the root of the tile below it")]
    ParentMismatch {
        /// Tile path.
        path: String,
        /// Position of the hash in the tile.
        position: u16,
    },
    /// The root computed from the tiles is not the checkpoint's root.
    #[error("tiles give root {computed}, checkpoint says {expected}")]
    RootMismatch {
        /// Root computed from the tiles.
        computed: Hash,
        /// Root in the checkpoint.
        expected: Hash,
    },
    /// An entry bundle is malformed.
    #[error("{path}: {source}")]
    Bundle {
        /// Bundle path.
        path: String,
        /// What is wrong.
        #[source]
        source: EntryBundleError,
    },
    /// An entry does not hash to the matching level-0 tile hash.
    #[error("entry {index} does not match its leaf hash in the level-0 tile")]
    EntryMismatch {
        /// Index of the entry in the log.
        index: u64,
    },
    /// Tree hashes could not be computed from the tiles.
    #[error("computing the root from tiles: {0}")]
    Prove(#[from] ProveError),
}

fn read_checked_tile<S: TileSource + ?Sized>(
    source: &S,
    tile: &TileId,
) -> Result<Vec<u8>, TileError> {
    let data = source.tile(tile)?;
    let want = usize::from(tile.width) * HASH_SIZE;
    if data.len() != want {
        return Err(TileError::WrongLength {
            path: tile.path(),
            len: data.len(),
            want,
        });
    }
    Ok(data)
}

/// The hash at position `i` of tile data.
fn hash_at(data: &[u8], i: usize) -> Hash {
    let mut h = [0u8; HASH_SIZE];
    if let Some(chunk) = data.get(i * HASH_SIZE..(i + 1) * HASH_SIZE) {
        h.copy_from_slice(chunk);
    }
    Hash(h)
}

/// Root of the perfect subtree over a power-of-two run of tile hashes.
fn subtree_hash(data: &[u8]) -> Hash {
    let mut level: Vec<Hash> = data
        .chunks_exact(HASH_SIZE)
        .map(|c| hash_at(c, 0))
        .collect();
    while level.len() > 1 {
        level = level
            .chunks(2)
            .map(|pair| match pair {
                [l, r] => node_hash(l, r),
                [single] => *single,
                _ => EMPTY_ROOT,
            })
            .collect();
    }
    level.first().copied().unwrap_or(EMPTY_ROOT)
}

/// A [`HashReader`] over exported tiles, for a tree of a known size: serves
/// any stored hash of that tree by hashing within one tile.
#[derive(Debug)]
pub struct TileHashReader<'a, S: ?Sized> {
    size: u64,
    source: &'a S,
}

impl<'a, S: TileSource + ?Sized> TileHashReader<'a, S> {
    /// A reader for the tree of `size` leaves exported to `source`.
    pub fn new(size: u64, source: &'a S) -> Self {
        TileHashReader { size, source }
    }

    fn read_one(&self, index: u64) -> Result<Hash, HashReadError> {
        let unavailable = HashReadError::Unavailable { index };
        let (level, n) = split_stored_hash_index(index);
        let tile_level = level / TILE_HEIGHT;
        let within = u32::from(level % TILE_HEIGHT);
        // Hashes at the tile's level covered by node (level, n).
        let first = n
            .checked_shl(within)
            .ok_or(HashReadError::Unavailable { index })?;
        let count = 1u64 << within;
        let tile_index = first / u64::from(TILE_WIDTH);
        let offset = first % u64::from(TILE_WIDTH);
        let tile = tile_for_size(tile_level, tile_index, self.size).ok_or(unavailable)?;
        if offset + count > u64::from(tile.width) {
            return Err(HashReadError::Unavailable { index });
        }
        let data = read_checked_tile(self.source, &tile)
            .map_err(|e| HashReadError::Storage(Box::new(e)))?;
        // offset + count ≤ width ≤ 256, and the data length was checked.
        let start = usize::try_from(offset).unwrap_or(0) * HASH_SIZE;
        let end = start + usize::try_from(count).unwrap_or(0) * HASH_SIZE;
        Ok(subtree_hash(data.get(start..end).unwrap_or_default()))
    }
}

impl<S: TileSource + ?Sized> HashReader for TileHashReader<'_, S> {
    fn read_hashes(&self, indexes: &[u64]) -> Result<Vec<Hash>, HashReadError> {
        indexes.iter().map(|&i| self.read_one(i)).collect()
    }
}

/// Check an exported tree of `size` leaves against its checkpoint `root`:
/// every tile the size implies is present with the right length, every hash
/// above level 0 is the root of the full tile below it, and the tiles give
/// `root`. Entry bundles are checked by [`verify_entry_bundles`].
pub fn verify_tiles<S: TileSource + ?Sized>(
    size: u64,
    root: &Hash,
    source: &S,
) -> Result<(), TileError> {
    if size > MAX_TREE_SIZE {
        return Err(TileError::TreeTooLarge(size));
    }
    // Root hash of each full tile, per level, by tile index.
    let mut full_roots: Vec<Vec<Hash>> = Vec::new();
    for tile in tiles_for_size(size) {
        let data = read_checked_tile(source, &tile)?;
        let level = usize::from(tile.level);
        if level > 0 {
            let below = full_roots
                .get(level - 1)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for position in 0..tile.width {
                let child = tile
                    .index
                    .checked_mul(u64::from(TILE_WIDTH))
                    .and_then(|c| c.checked_add(u64::from(position)))
                    .and_then(|c| usize::try_from(c).ok());
                let expected = child.and_then(|c| below.get(c));
                if expected != Some(&hash_at(&data, usize::from(position))) {
                    return Err(TileError::ParentMismatch {
                        path: tile.path(),
                        position,
                    });
                }
            }
        }
        if !tile.is_partial() {
            if full_roots.len() <= level {
                full_roots.resize_with(level + 1, Vec::new);
            }
            if let Some(roots) = full_roots.get_mut(level) {
                roots.push(subtree_hash(&data));
            }
        }
    }
    let computed = tree_hash(size, &TileHashReader::new(size, source))?;
    if computed != *root {
        return Err(TileError::RootMismatch {
            computed,
            expected: *root,
        });
    }
    Ok(())
}

/// Check every entry bundle of a tree of `size` leaves against the level-0
/// tiles, handing each entry with its index to `visit` in log order. Run
/// [`verify_tiles`] as well to tie the level-0 tiles to the checkpoint.
pub fn verify_entry_bundles<S, F>(size: u64, source: &S, mut visit: F) -> Result<(), TileError>
where
    S: TileSource + ?Sized,
    F: FnMut(u64, &[u8]),
{
    if size > MAX_TREE_SIZE {
        return Err(TileError::TreeTooLarge(size));
    }
    for bundle in entry_bundles_for_size(size) {
        let tile = read_checked_tile(source, &bundle.tile())?;
        let bytes = source.entry_bundle(&bundle)?;
        let entries =
            decode_entry_bundle(&bytes, bundle.width).map_err(|source| TileError::Bundle {
                path: bundle.path(),
                source,
            })?;
        for (i, entry) in entries.into_iter().enumerate() {
            let index = bundle.first_entry() + i as u64;
            if leaf_hash(entry) != hash_at(&tile, i) {
                return Err(TileError::EntryMismatch { index });
            }
            visit(index, entry);
        }
    }
    Ok(())
}
