//! The built app's files: a fingerprint of what the build reads (to skip a build whose inputs did not change) and the precompressed `.br` and `.gz` copies the server sends by `Accept-Encoding`.

use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

/// Where the fingerprint of the inputs of the last build is kept, inside `dist`.
pub const STAMP: &str = ".inputs";

/// What the frontend build reads, under the workspace root.
const INPUTS: [&str; 9] = [
    "xtask/src",
    "frontend/src",
    "frontend/history",
    "frontend/static",
    "frontend/js",
    "frontend/Cargo.toml",
    "frontend/package-lock.json",
    "crates",
    "vendor",
];

/// Every file under `dir` (or `dir` itself), sorted, skipping build outputs below it.
pub fn files(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        if path.is_dir() {
            for entry in std::fs::read_dir(path)? {
                let child = entry?.path();
                let name = child.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if !matches!(name, "target" | "node_modules" | "dist") {
                    walk(&child, out)?;
                }
            }
        } else if path.is_file() {
            out.push(path.to_owned());
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(dir, &mut out)?;
    out.sort();
    Ok(out)
}

/// A fingerprint of every input of the frontend build (paths and contents), plus the
/// lock file and the toolchain that builds it.
pub fn fingerprint(root: &Path) -> Result<String> {
    let mut hasher = std::hash::DefaultHasher::new();
    let mut all = Vec::new();
    for input in INPUTS {
        all.extend(files(&root.join(input))?);
    }
    all.push(root.join("Cargo.lock"));
    all.push(root.join("Cargo.toml"));
    for path in all {
        path.strip_prefix(root)?.hash(&mut hasher);
        std::fs::read(&path)?.hash(&mut hasher);
    }
    let rustc = std::process::Command::new("rustc").arg("-V").output()?;
    rustc.stdout.hash(&mut hasher);
    Ok(format!("{:016x}", hasher.finish()))
}

/// Whether `dist` was built from exactly these inputs (`fingerprint`).
pub fn up_to_date(dist: &Path, fingerprint: &str) -> bool {
    dist.join("index.html").is_file()
        && std::fs::read_to_string(dist.join(STAMP)).is_ok_and(|s| s.trim() == fingerprint)
}

/// Files worth compressing on the wire (images here are tiny or already compressed).
fn compressible(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("js" | "wasm" | "css" | "html" | "svg" | "json")
    )
}

/// Writes `name.br` (brotli, best) and `name.gz` (gzip, best) beside each compressible
/// file of `dist`, and logs the sizes of the wasm modules.
pub fn precompress(dist: &Path) -> Result<()> {
    for path in files(dist)? {
        if !compressible(&path) {
            continue;
        }
        let raw = std::fs::read(&path)?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&raw)?;
        let gz = gz.finish()?;
        let mut br = Vec::new();
        {
            let params = brotli::enc::BrotliEncoderParams {
                quality: 11,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut raw.as_slice(), &mut br, &params)?;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        std::fs::write(path.with_file_name(format!("{name}.gz")), &gz)?;
        std::fs::write(path.with_file_name(format!("{name}.br")), &br)?;
        if name.ends_with("_bg.wasm") {
            eprintln!(
                "==> {name}: {} bytes, gzip {} , brotli {}",
                raw.len(),
                gz.len(),
                br.len()
            );
        }
    }
    Ok(())
}
