//! Files only the node's own user may read: private keys, databases, log
//! exports, query drafts. Directories the node creates for them are 0700,
//! files 0600, and a key or database that group or others can read stops
//! the node with the path, its mode and the fix (decision 0610). On other
//! platforms than Unix these are no-ops.

use std::io;
use std::path::{Path, PathBuf};

/// A private file that group or others can read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{} is readable by group or others (mode {mode:03o}); it holds private data: run `chmod 600 {}` (and keep its directory 0700)",
    path.display(),
    path.display()
)]
pub struct ReadableByOthers {
    /// The file.
    pub path: PathBuf,
    /// Its permission bits.
    pub mode: u32,
}

/// Refuse the regular file `path` if group or others can read or write it.
/// A missing file passes (the caller creates it with
/// [`create_private_file`]), and so does anything that is not a regular
/// file (whoever opens it says what is wrong).
pub fn check_private(path: &Path) -> Result<(), ReadableByOthers> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path)
            && meta.is_file()
        {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(ReadableByOthers {
                    path: path.to_owned(),
                    mode,
                });
            }
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Create `dir` and its missing parents with mode 0700 (existing ones are
/// left as they are).
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Create `path` empty with mode 0600 if nothing is there yet.
pub fn create_private_file(path: &Path) -> io::Result<()> {
    if std::fs::symlink_metadata(path).is_ok() {
        return Ok(());
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop)
}

/// Give the existing file `path` mode 0600.
pub fn restrict(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// Write `bytes` to `path` (replacing it) with mode 0600, creating its
/// directory 0700 if missing.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    // An existing file keeps its mode through `open`: set it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    std::io::Write::write_all(&mut f, bytes)
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn private_files_and_dirs_get_owner_only_modes() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("a/b/file");
        write_private(&file, b"x").expect("write");
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("a/b")), 0o700);
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let e = check_private(&file).expect_err("readable by others");
        assert_eq!(e.mode, 0o644);
        assert!(e.to_string().contains("chmod 600"), "{e}");
        write_private(&file, b"y").expect("rewrite");
        assert_eq!(mode(&file), 0o600);
        assert!(check_private(&file).is_ok());
        assert!(check_private(&dir.path().join("missing")).is_ok());
    }
}
