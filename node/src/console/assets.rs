//! The console's files, compiled into the binary: a government intranet has
//! no CDN, and an operator installs one file. Each is served with its media
//! type and a strong `ETag` (SHA-256 of its bytes).

/// One shipped file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// The path it is served at.
    pub path: &'static str,
    /// Its media type.
    pub media_type: &'static str,
    /// Its bytes.
    pub bytes: &'static [u8],
}

/// Every file of the console: each file under `node/console/`, listed by
/// `node/build.rs` (`index.html` at `/`, the others under `/console/`).
pub const ASSETS: &[Asset] = include!(concat!(env!("OUT_DIR"), "/console_assets.rs"));

/// The file served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The strong `ETag` of `asset`.
pub fn etag(asset: &Asset) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, asset.bytes);
    format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, out);
            } else {
                out.push(path.to_string_lossy().into_owned());
            }
        }
    }

    #[test]
    fn every_file_of_the_console_folder_is_shipped() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
        let mut found = Vec::new();
        files(&root, &mut found);
        for file in found {
            let relative = file[root.to_string_lossy().len()..].replace('\\', "/");
            let served = if relative == "/index.html" {
                "/".to_owned()
            } else {
                format!("/console{relative}")
            };
            let asset = find(&served).unwrap_or_else(|| panic!("{relative} is not shipped"));
            assert_eq!(asset.bytes, std::fs::read(&file).unwrap().as_slice());
        }
    }
}
