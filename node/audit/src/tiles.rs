//! Reading an export directory: C2SP tiles and entry bundles, and every
//! other file, each bounded in size before it is read.

use std::path::Path;

use credex_protocol::tlog::{
    EntryBundleId, Hash, ProveError, TileHashReader, TileId, TileReadError, TileSource, tree_hash,
};

/// Largest file the auditor reads from an export (a bundle is at most 256 × 65,537 bytes).
const MAX_FILE: u64 = 17 * 1024 * 1024;

/// An export directory as a tile source.
pub(crate) struct DirTiles<'a>(pub(crate) &'a Path);

pub(crate) fn read_bounded(path: &Path) -> Result<Vec<u8>, std::io::Error> {
    let meta = std::fs::metadata(path)?;
    if meta.len() > MAX_FILE {
        return Err(std::io::Error::other(format!(
            "{} bytes is larger than any valid file here",
            meta.len()
        )));
    }
    std::fs::read(path)
}

impl TileSource for DirTiles<'_> {
    fn tile(&self, tile: &TileId) -> Result<Vec<u8>, TileReadError> {
        self.read(&tile.path())
    }

    fn entry_bundle(&self, bundle: &EntryBundleId) -> Result<Vec<u8>, TileReadError> {
        self.read(&bundle.path())
    }
}

impl DirTiles<'_> {
    /// The root of the first `prefix` entries of the exported log of
    /// `size` entries, from its tiles.
    pub(crate) fn prefix_root(&self, size: u64, prefix: u64) -> Result<Hash, ProveError> {
        tree_hash(prefix, &TileHashReader::new(size, self))
    }

    fn read(&self, rel: &str) -> Result<Vec<u8>, TileReadError> {
        let path = self.0.join(rel);
        match read_bounded(&path) {
            Ok(b) => Ok(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(TileReadError::Missing(rel.to_owned()))
            }
            Err(e) => Err(TileReadError::Storage {
                path: rel.to_owned(),
                source: Box::new(e),
            }),
        }
    }
}
