//! The head file's format, and its writes in place (decisions 1000, 1300).
//!
//! The file holds the largest tree this node's log published, twice: two
//! slots of [`SLOT_BYTES`], each one line `SIZE ROOT_HEX CHECK` padded with
//! spaces, where `CHECK` is the first 16 hex digits of the SHA-256 of
//! `credex log-head SIZE ROOT_HEX`. A write overwrites the slot holding the
//! smaller head and syncs the file's data; a slot torn by a crash in the
//! middle of that write fails its check, and the other slot, the head
//! before, is read. So a write allocates nothing and renames nothing, and
//! the file's size never changes: its `fdatasync` does not wait for a
//! journal commit of the file system's metadata. (Written whole and renamed
//! over the old file, as before, every write allocated an inode: 2.8% of
//! the query path's CPU at 64 in flight, decision 1300.)
//!
//! A process creates the file with both slots, by writing a new file and
//! renaming it over the path, on its first write; files of earlier versions
//! (one line, `SIZE ROOT_HEX`) are still read.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use credex_protocol::tlog::Hash;

use super::{HeadError, PublishedHead};

/// Bytes of one slot (a line of at most 102 characters, padded).
pub const SLOT_BYTES: usize = 128;

/// The head file of this process, opened once it has been written.
#[derive(Debug)]
pub(crate) struct HeadFile {
    path: PathBuf,
    open: Option<File>,
}

impl HeadFile {
    /// The head file at `path`, not opened yet.
    pub(crate) fn new(path: PathBuf) -> HeadFile {
        HeadFile { path, open: None }
    }

    /// Records `size` and `root`, durably, unless the file already names
    /// a size as large (another process of the node signed further).
    pub(crate) fn write(&mut self, size: u64, root: &Hash) -> std::io::Result<()> {
        use std::os::unix::fs::MetadataExt;
        // The file opened before, while it is still linked: one deleted
        // or replaced since (an operator's hand) is written whole again,
        // and so is the file after a failed write.
        let linked = self
            .open
            .take()
            .filter(|f| f.metadata().is_ok_and(|m| m.nlink() > 0));
        let Some(file) = linked else {
            // Opened only once this process wrote it whole: a file of an
            // earlier version is compared and replaced by the rename.
            if create(&self.path, size, root)? {
                self.open = Some(File::options().read(true).write(true).open(&self.path)?);
            }
            return Ok(());
        };
        write_in_place(&file, size, root)?;
        self.open = Some(file);
        Ok(())
    }
}

/// Writes `size` and `root` over the slot of `file` that is torn or holds
/// the smaller head, unless a slot holds a size as large, and syncs.
fn write_in_place(file: &File, size: u64, root: &Hash) -> std::io::Result<()> {
    let mut slots = [0u8; 2 * SLOT_BYTES];
    let read = read_up_to(file, &mut slots)?;
    let held = [0, 1].map(|i| {
        let slot = &slots[(i * SLOT_BYTES).min(read)..((i + 1) * SLOT_BYTES).min(read)];
        parse_slot(slot).map(|(size, _)| size)
    });
    if held.iter().flatten().any(|&known| known >= size) {
        return Ok(());
    }
    // The slot that is torn, or holds the smaller head.
    let target = match held {
        [None, _] => 0,
        [Some(_), None] => 1,
        [Some(a), Some(b)] => usize::from(a > b),
    };
    file.write_all_at(&slot(size, root), (target * SLOT_BYTES) as u64)?;
    file.sync_data()
}

/// Reads what `file` holds from its start, at most `buf.len()` bytes.
fn read_up_to(file: &File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buf.len() {
        match file.read_at(&mut buf[read..], read as u64)? {
            0 => break,
            n => read += n,
        }
    }
    Ok(read)
}

/// Record `size` and `root` in a new head file at `path`, atomically
/// (write both slots, fsync, rename over the old file). A file already
/// naming a larger size is left alone.
pub fn write_head_file(path: &Path, size: u64, root: &Hash) -> std::io::Result<()> {
    create(path, size, root).map(drop)
}

/// [`write_head_file`]: whether it wrote.
fn create(path: &Path, size: u64, root: &Hash) -> std::io::Result<bool> {
    if let Ok(Some(known)) = read_head_file(path)
        && known.size >= size
    {
        return Ok(false);
    }
    let tmp = path.with_extension(format!("{}.tmp", std::process::id()));
    let line = slot(size, root);
    {
        use std::io::Write;
        let mut f = File::create(&tmp)?;
        f.write_all(&line)?;
        f.write_all(&line)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path).map(|()| true)
}

/// One slot: `SIZE ROOT_HEX CHECK`, spaces, a newline.
fn slot(size: u64, root: &Hash) -> [u8; SLOT_BYTES] {
    let body = format!("{size} {}", root.to_hex());
    let line = format!("{body} {}", check(&body));
    let mut slot = [b' '; SLOT_BYTES];
    // At most 20 + 1 + 64 + 1 + 16 bytes.
    slot[..line.len()].copy_from_slice(line.as_bytes());
    slot[SLOT_BYTES - 1] = b'\n';
    slot
}

/// The check of a slot's `SIZE ROOT_HEX`.
fn check(body: &str) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA256,
        format!("credex log-head {body}").as_bytes(),
    );
    hex::encode(&digest.as_ref()[..8])
}

/// The head a slot holds, if it is whole and its check holds.
fn parse_slot(slot: &[u8]) -> Option<(u64, Hash)> {
    let text = std::str::from_utf8(slot).ok()?;
    let mut parts = text.split_whitespace();
    let (size, root, checked) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || check(&format!("{size} {root}")) != checked {
        return None;
    }
    let root = <[u8; 32]>::try_from(hex::decode(root).ok()?).ok()?;
    Some((size.parse().ok()?, Hash(root)))
}

/// The head file's checkpoint, if there is a file: the larger of its
/// whole slots, or the one line of a file an earlier version wrote.
pub fn read_head_file(path: &Path) -> Result<Option<PublishedHead>, HeadError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(HeadError::HeadFile {
                path: path.to_owned(),
                reason: e.to_string(),
            });
        }
    };
    let bad = |what: &str| HeadError::HeadFile {
        path: path.to_owned(),
        reason: format!(
            "{what}; expected two lines `SIZE ROOT_HEX CHECK` (or one line `SIZE ROOT_HEX`), \
             as the checkpointer writes it"
        ),
    };
    let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
    let fields = String::from_utf8_lossy(first_line)
        .split_whitespace()
        .count();
    let (size, root) = if fields == 3 {
        bytes
            .chunks(SLOT_BYTES)
            .take(2)
            .filter_map(parse_slot)
            .max_by_key(|&(size, _)| size)
            .ok_or_else(|| bad("neither slot holds a whole head whose check holds"))?
    } else {
        let text = std::str::from_utf8(&bytes).map_err(|_| bad("not text"))?;
        let mut parts = text.split_whitespace();
        let size = parts
            .next()
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| bad("no tree size"))?;
        let root = parts
            .next()
            .and_then(|r| hex::decode(r).ok())
            .and_then(|b| <[u8; 32]>::try_from(b).ok())
            .ok_or_else(|| bad("no 32-byte root"))?;
        (size, Hash(root))
    };
    Ok(Some(PublishedHead {
        size,
        root,
        held_by: format!("the head file {}", path.display()),
        note: None,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(path: &Path) -> (u64, Hash) {
        let h = read_head_file(path).unwrap().unwrap();
        (h.size, h.root)
    }

    #[test]
    fn written_in_place_the_larger_head_is_read_and_a_smaller_never_replaces_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log-head");
        let mut file = HeadFile::new(path.clone());
        for size in 1..=5u64 {
            file.write(size, &Hash([size as u8; 32])).unwrap();
            assert_eq!(head(&path), (size, Hash([size as u8; 32])));
            assert_eq!(
                std::fs::metadata(&path).unwrap().len(),
                2 * SLOT_BYTES as u64
            );
        }
        file.write(3, &Hash([9; 32])).unwrap();
        assert_eq!(
            head(&path),
            (5, Hash([5; 32])),
            "a smaller size was written"
        );
        // Both slots hold the two newest heads.
        let text = std::fs::read_to_string(&path).unwrap();
        let mut sizes: Vec<&str> = text.lines().map(|l| &l[..1]).collect();
        sizes.sort_unstable();
        assert_eq!(sizes, ["4", "5"]);
    }

    #[test]
    fn a_torn_slot_leaves_the_head_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log-head");
        let mut file = HeadFile::new(path.clone());
        file.write(10, &Hash([1; 32])).unwrap();
        file.write(11, &Hash([2; 32])).unwrap();
        // Tear the slot the write of 11 went to (a digit of its root
        // changed, as a half-written sector would leave it).
        let tear = |size: &str| {
            let mut bytes = std::fs::read(&path).unwrap();
            let at = bytes
                .chunks(SLOT_BYTES)
                .position(|s| s.starts_with(size.as_bytes()))
                .unwrap();
            bytes[at * SLOT_BYTES + 5] ^= 1;
            std::fs::write(&path, &bytes).unwrap();
            at
        };
        let torn = tear("11 ");
        assert_eq!(head(&path), (10, Hash([1; 32])));
        // The next write replaces the torn slot, not the whole one.
        file.write(12, &Hash([3; 32])).unwrap();
        assert_eq!(head(&path), (12, Hash([3; 32])));
        assert_eq!(tear("12 "), torn);
        assert_eq!(head(&path), (10, Hash([1; 32])));
        // Both torn: refused, saying what is wrong.
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[(1 - torn) * SLOT_BYTES + 5] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let e = read_head_file(&path).unwrap_err().to_string();
        assert!(e.contains("neither slot") && e.contains("log-head"), "{e}");
    }

    #[test]
    fn a_head_file_deleted_while_the_node_runs_is_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log-head");
        let mut file = HeadFile::new(path.clone());
        file.write(1, &Hash([1; 32])).unwrap();
        file.write(2, &Hash([2; 32])).unwrap();
        std::fs::remove_file(&path).unwrap();
        file.write(3, &Hash([3; 32])).unwrap();
        assert_eq!(head(&path), (3, Hash([3; 32])));
        file.write(4, &Hash([4; 32])).unwrap();
        assert_eq!(head(&path), (4, Hash([4; 32])));
    }

    #[test]
    fn a_file_of_an_earlier_version_is_read_and_rewritten_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log-head");
        std::fs::write(&path, format!("187 {}\n", Hash([7; 32]).to_hex())).unwrap();
        assert_eq!(head(&path), (187, Hash([7; 32])));
        let mut file = HeadFile::new(path.clone());
        file.write(100, &Hash([1; 32])).unwrap();
        file.write(150, &Hash([1; 32])).unwrap();
        assert_eq!(
            head(&path),
            (187, Hash([7; 32])),
            "a smaller size was written"
        );
        file.write(188, &Hash([8; 32])).unwrap();
        file.write(189, &Hash([9; 32])).unwrap();
        assert_eq!(head(&path), (189, Hash([9; 32])));
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            2 * SLOT_BYTES as u64
        );
    }
}
