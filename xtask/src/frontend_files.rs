//! The built app's files: a fingerprint of what the build reads (to skip a build whose inputs did not change), content-hashed names for what browsers may cache for good, and the precompressed `.br` and `.gz` copies the server sends by `Accept-Encoding`.

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
    "automerge/vendor",
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
        if name.ends_with(".wasm") {
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

/// The files that get a content hash in their name (`style.css` → `style.0123456789abcdef.css`),
/// in an order where each comes after every file it names: a file's hash covers the hashed
/// names it refers to, so a change anywhere renames everything that leads to it. The
/// server lets browsers keep such files for good; `index.html`, `sw.js` and the rest are
/// revalidated on each visit.
const HASHED: [&str; 6] = [
    "history/duet_history_bg.wasm",
    "history/duet_history.js",
    "duet_frontend_bg.wasm",
    "duet_frontend.js",
    "style.css",
    "boot.js",
];

/// Renames each of [`HASHED`] in `dist` to its content-hashed name, rewriting the places
/// that name it (the page, the scripts, wasm-bindgen's snippets).
pub fn hash_names(dist: &Path) -> Result<()> {
    for rel in HASHED {
        let path = dist.join(rel);
        let bytes = std::fs::read(&path)?;
        let mut hasher = std::hash::DefaultHasher::new();
        bytes.hash(&mut hasher);
        let (Some(name), Some(ext)) = (
            path.file_stem().and_then(|n| n.to_str()),
            path.extension().and_then(|e| e.to_str()),
        ) else {
            anyhow::bail!("{rel} has no extension");
        };
        let old = format!("{name}.{ext}");
        let new = format!("{name}.{:016x}.{ext}", hasher.finish());
        std::fs::rename(&path, path.with_file_name(&new))?;
        let mut named = false;
        for text in files(dist)? {
            if !matches!(
                text.extension().and_then(|e| e.to_str()),
                Some("js" | "html")
            ) {
                continue;
            }
            let content = std::fs::read_to_string(&text)?;
            if content.contains(&old) {
                std::fs::write(&text, content.replace(&old, &new))?;
                named = true;
            }
        }
        anyhow::ensure!(named, "nothing in the built app names {rel}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_replace_every_reference_and_change_with_the_content() -> Result<()> {
        let dist = tempfile::tempdir()?;
        let d = dist.path();
        std::fs::create_dir_all(d.join("history"))?;
        std::fs::write(d.join("history/duet_history_bg.wasm"), b"history wasm")?;
        std::fs::write(
            d.join("history/duet_history.js"),
            "new URL('duet_history_bg.wasm', import.meta.url)",
        )?;
        std::fs::create_dir_all(d.join("snippets/x"))?;
        std::fs::write(
            d.join("snippets/x/inline0.js"),
            "import('/history/duet_history.js')",
        )?;
        std::fs::write(d.join("duet_frontend_bg.wasm"), b"app wasm")?;
        std::fs::write(
            d.join("duet_frontend.js"),
            "import './snippets/x/inline0.js'",
        )?;
        std::fs::write(d.join("style.css"), "body {}")?;
        std::fs::write(
            d.join("boot.js"),
            "import init from '/duet_frontend.js'; init({ module_or_path: '/duet_frontend_bg.wasm' })",
        )?;
        std::fs::write(
            d.join("index.html"),
            "<link href=\"/style.css\"><link href=\"/duet_frontend.js\"><script src=\"/boot.js\"></script>",
        )?;
        hash_names(d)?;
        let names: Vec<String> = files(d)?
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        for original in HASHED {
            let base = original.rsplit('/').next().unwrap_or(original);
            assert!(
                !names.iter().any(|n| n == base),
                "{base} kept its name: {names:?}"
            );
        }
        // name.<16 hex digits>.ext
        let hashed = |n: &str| {
            let parts: Vec<&str> = n.split('.').collect();
            parts.len() == 3
                && parts[1].len() == 16
                && parts[1].bytes().all(|b| b.is_ascii_hexdigit())
        };
        assert_eq!(names.iter().filter(|n| hashed(n)).count(), 6, "{names:?}");
        let index = std::fs::read_to_string(d.join("index.html"))?;
        let boot = names
            .iter()
            .find(|n| n.starts_with("boot."))
            .map(String::as_str);
        assert!(
            boot.is_some_and(|b| index.contains(&format!("/{b}"))),
            "{index}"
        );
        let snippet = std::fs::read_to_string(d.join("snippets/x/inline0.js"))?;
        assert!(
            snippet.contains("/history/duet_history.") && !snippet.contains("duet_history.js'")
        );
        Ok(())
    }
}
