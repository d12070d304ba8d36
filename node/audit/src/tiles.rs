//! Reading an export directory: C2SP tiles and entry bundles, and every
//! other file, each bounded in size before it is read.

use std::path::{Path, PathBuf};

use credex_protocol::tlog::{
    EntryBundleId, Hash, OpenCheckpointError, ProveError, TileError, TileHashReader, TileId,
    TileReadError, TileSource, VerifierKey, open_checkpoint, tree_hash, verify_entry_bundles,
    verify_tiles,
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

/// Why an export could not be read back whole ([`read_export`]). Each
/// variant names the export directory or the file.
#[derive(Debug, thiserror::Error)]
pub enum ExportReadError {
    /// The checkpoint file is missing, unreadable or too large.
    #[error("{path}: {source}")]
    CheckpointFile {
        /// The checkpoint file.
        path: PathBuf,
        /// The read's error.
        source: std::io::Error,
    },
    /// The checkpoint is not a checkpoint of this log, signed by its key.
    #[error("{path}: not a checkpoint signed by {log_key}: {source}")]
    NotSigned {
        /// The checkpoint file.
        path: PathBuf,
        /// The log's key, as the checkpoint had to name it.
        log_key: String,
        /// What the note check refused.
        source: OpenCheckpointError,
    },
    /// The tiles do not make the checkpoint's tree (missing, altered or of
    /// another log).
    #[error("{dir}: tiles: {source}")]
    Tiles {
        /// The export directory.
        dir: PathBuf,
        /// What the tiles' check refused.
        source: TileError,
    },
    /// The entry bundles do not hold the tree's leaves.
    #[error("{dir}: entry bundles: {source}")]
    EntryBundles {
        /// The export directory.
        dir: PathBuf,
        /// What the bundles' check refused.
        source: TileError,
    },
    /// The bundles hold another number of entries than the tree.
    #[error("{dir}: {entries} entries for a tree of {size}")]
    EntryCount {
        /// The export directory.
        dir: PathBuf,
        /// Entries the bundles hold.
        entries: u64,
        /// The checkpoint's tree size.
        size: u64,
    },
}

/// Read the export in `dir` of the log whose key is `log_key`: its final
/// checkpoint must verify under that key, and its tiles and entry bundles
/// must make that checkpoint's tree. What a node restored from an old
/// backup recovers its lost entries from (`credex log recover`).
pub fn read_export(dir: &Path, log_key: &VerifierKey) -> Result<ExportedLog, ExportReadError> {
    let path = dir.join("checkpoint");
    let note = read_bounded(&path).map_err(|source| ExportReadError::CheckpointFile {
        path: path.clone(),
        source,
    })?;
    let signed =
        open_checkpoint(&note, log_key, &[]).map_err(|source| ExportReadError::NotSigned {
            path,
            log_key: log_key.to_string(),
            source,
        })?;
    let (size, root) = (signed.checkpoint().size(), *signed.checkpoint().root());
    let tiles = DirTiles(dir);
    verify_tiles(size, &root, &tiles).map_err(|source| ExportReadError::Tiles {
        dir: dir.to_owned(),
        source,
    })?;
    let mut entries = Vec::new();
    verify_entry_bundles(size, &tiles, |_, e| entries.push(e.to_vec())).map_err(|source| {
        ExportReadError::EntryBundles {
            dir: dir.to_owned(),
            source,
        }
    })?;
    if entries.len() as u64 != size {
        return Err(ExportReadError::EntryCount {
            dir: dir.to_owned(),
            entries: entries.len() as u64,
            size,
        });
    }
    Ok(ExportedLog {
        size,
        root,
        checkpoint: String::from_utf8_lossy(&note).into_owned(),
        entries,
    })
}
