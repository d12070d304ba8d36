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

macro_rules! asset {
    ($path:literal, $file:literal, $media:literal) => {
        Asset {
            path: $path,
            media_type: $media,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/console/", $file)),
        }
    };
}

/// Every file of the console.
pub const ASSETS: &[Asset] = &[
    asset!("/", "index.html", "text/html; charset=utf-8"),
    asset!(
        "/console/app.js",
        "app.js",
        "text/javascript; charset=utf-8"
    ),
    asset!("/console/style.css", "style.css", "text/css; charset=utf-8"),
    asset!(
        "/console/i18n/zh-CN.json",
        "i18n/zh-CN.json",
        "application/json"
    ),
    asset!("/console/i18n/en.json", "i18n/en.json", "application/json"),
];

/// The file served at `path`, if any.
pub fn find(path: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.path == path)
}

/// The strong `ETag` of `asset`.
pub fn etag(asset: &Asset) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, asset.bytes);
    format!("\"{}\"", hex::encode(&digest.as_ref()[..16]))
}
