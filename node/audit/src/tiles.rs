//! Reading an export directory: C2SP tiles and entry bundles, and every
//! other file, each bounded in size before it is read.

use std::path::Path;

use credex_protocol::tlog::{
    EntryBundleId, Hash, ProveError, TileHashReader, TileId, TileReadError, TileSource,
    VerifierKey, open_checkpoint, tree_hash, verify_entry_bundles, verify_tiles,
};

/// Largest file the auditor reads from an export (a bundle is at most 256 × 65,537 bytes).
const MAX_FILE: u64 = 17 * 1024 * 1024;

/// An export directory as a tile source.
pub(crate) struct DirTiles<'a>(pub(crate) &'a Path);

/// The file at `path`, refused if larger than any file an export holds.
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, std::io::Error> {
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

/// An export read back whole: its final checkpoint and every entry, each
/// checked against the checkpoint's tree.
#[derive(Debug, Clone)]
pub struct ExportedLog {
    /// The final checkpoint's tree size.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The checkpoint as exported (signed note, with cosignatures).
    pub checkpoint: String,
    /// The entries `0..size`, as the tiles hold them.
    pub entries: Vec<Vec<u8>>,
}

/// Read the export in `dir` of the log whose key is `log_key`: its final
/// checkpoint must verify under that key, and its tiles and entry bundles
/// must make that checkpoint's tree. What a node restored from an old
/// backup recovers its lost entries from (`credex log recover`).
pub fn read_export(dir: &Path, log_key: &VerifierKey) -> Result<ExportedLog, String> {
    let at = |what: &str| format!("{}: {what}", dir.join("checkpoint").display());
    let note = read_bounded(&dir.join("checkpoint")).map_err(|e| at(&e.to_string()))?;
    let signed = open_checkpoint(&note, log_key, &[])
        .map_err(|e| at(&format!("not a checkpoint signed by {log_key}: {e}")))?;
    let (size, root) = (signed.checkpoint().size(), *signed.checkpoint().root());
    let tiles = DirTiles(dir);
    verify_tiles(size, &root, &tiles).map_err(|e| format!("{}: tiles: {e}", dir.display()))?;
    let mut entries = Vec::new();
    verify_entry_bundles(size, &tiles, |_, e| entries.push(e.to_vec()))
        .map_err(|e| format!("{}: entry bundles: {e}", dir.display()))?;
    if entries.len() as u64 != size {
        return Err(format!(
            "{}: {} entries for a tree of {size}",
            dir.display(),
            entries.len()
        ));
    }
    Ok(ExportedLog {
        size,
        root,
        checkpoint: String::from_utf8_lossy(&note).into_owned(),
        entries,
    })
}
