//! Lists the web console's files (`node/console/`) into a table the node
//! compiles in (`console::assets`), so every file in the folder is shipped
//! and none is forgotten. Standard library only.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn media_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("console");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut found = Vec::new();
    files(&root, &mut found);
    found.sort();
    let mut table = String::from("&[\n");
    for file in &found {
        println!("cargo:rerun-if-changed={}", file.display());
        let relative = file
            .strip_prefix(&root)
            .expect("under the folder")
            .to_string_lossy()
            .replace('\\', "/");
        let served = if relative == "index.html" {
            "/".to_owned()
        } else {
            format!("/console/{relative}")
        };
        table.push_str(&format!(
            "    Asset {{ path: {served:?}, media_type: {:?}, bytes: include_bytes!({:?}) }},\n",
            media_type(file),
            file.display().to_string()
        ));
    }
    table.push_str("]\n");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").expect("set by cargo")).join("console_assets.rs");
    std::fs::write(out, table).expect("OUT_DIR is writable");
}
