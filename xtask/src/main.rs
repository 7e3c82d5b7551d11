//! `cargo xtask`: Duet's automation in one place — `test` (everything CI runs), `ci`, `bench`, `run`.

use std::process::Command;

use anyhow::{bail, Context, Result};

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") | Some("ci") => test(),
        Some("bench") => bench(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test    install what is missing, then run every check and test (what CI runs)\n  \
                 ci      same as test\n  \
                 bench   run the criterion benchmarks (extra args go to `cargo bench`)\n  \
                 run     build and start Duet"
            );
            bail!("unknown or missing command");
        }
    }
}

/// Runs a command from the workspace root, failing with its name if it fails.
fn cmd(program: &str, args: &[&str]) -> Result<()> {
    cmd_in(&workspace_root(), program, args)
}

/// Runs a command in `dir`, failing with its name if it fails.
fn cmd_in(dir: &std::path::Path, program: &str, args: &[&str]) -> Result<()> {
    eprintln!("==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not start `{program}`"))?;
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| ".".into())
}

/// Installs the wasm32 target when it is missing (a fresh machine has only the host target).
fn ensure_wasm_target() -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(workspace_root())
        .output()
        .context("rustup is needed to add the wasm32 target")?;
    if !String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.trim() == WASM_TARGET)
    {
        cmd("rustup", &["target", "add", WASM_TARGET])?;
    }
    Ok(())
}

/// Whether `program --version` runs.
fn runs(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Installs Node.js (Debian packages) when missing, then the npm packages of `tests/js`
/// (the JS automerge-repo interop test) when they are missing or older than the lock.
fn ensure_node_packages() -> Result<()> {
    if !runs("node") || !runs("npm") {
        cmd("apt-get", &["update"])?;
        cmd("apt-get", &["install", "-y", "nodejs", "npm"])
            .context("Node.js is needed for the interop tests; install nodejs and npm")?;
    }
    let js = workspace_root().join("tests/js");
    let installed = js.join("node_modules/.package-lock.json");
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let stale = match (
        modified(&installed),
        modified(&js.join("package-lock.json")),
    ) {
        (Some(installed), Some(lock)) => lock > installed,
        _ => true,
    };
    if stale {
        // `npm install` with the committed lock (`npm ci` can fail on optional platform
        // packages a registry mirror lacks).
        cmd_in(&js, "npm", &["install", "--no-audit", "--no-fund"])?;
    }
    Ok(())
}

fn test() -> Result<()> {
    ensure_wasm_target()?;
    ensure_node_packages()?;
    cmd("cargo", &["fmt", "--all", "--check"])?;
    cmd(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--locked",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    // The sans-IO crates must build for the browser as well as natively.
    cmd(
        "cargo",
        &[
            "build",
            "--locked",
            "-p",
            "duet-model",
            "-p",
            "duet-protocol",
            "--target",
            WASM_TARGET,
        ],
    )?;
    cmd(
        "cargo",
        &[
            "clippy",
            "--locked",
            "-p",
            "duet-model",
            "-p",
            "duet-protocol",
            "--target",
            WASM_TARGET,
            "--",
            "-D",
            "warnings",
        ],
    )?;
    cargo_test(&["test", "--workspace", "--locked"])?;
    eprintln!("==> all checks passed");
    Ok(())
}

/// Runs `cargo test`, echoing its output, and ends with one total line
/// (`N passed, M failed`) so the many per-binary summaries add up to one figure.
fn cargo_test(args: &[&str]) -> Result<()> {
    use std::io::{BufRead, BufReader};
    eprintln!("==> cargo {}", args.join(" "));
    let mut child = Command::new("cargo")
        .args(args)
        .current_dir(workspace_root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("could not start `cargo test`")?;
    let (mut passed, mut failed) = (0u64, 0u64);
    if let Some(out) = child.stdout.take() {
        for line in BufReader::new(out).lines() {
            let line = line.context("reading `cargo test` output")?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                passed += count_before(rest, " passed");
                failed += count_before(rest, " failed");
            }
        }
    }
    let status = child.wait().context("waiting for `cargo test`")?;
    println!("{passed} passed, {failed} failed");
    if !status.success() {
        bail!("`cargo {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// The number just before `label` in a cargo test summary ("ok. 12 passed; 0 failed; …").
fn count_before(summary: &str, label: &str) -> u64 {
    summary
        .find(label)
        .map(|end| &summary[..end])
        .and_then(|head| head.rsplit(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn bench(extra: &[String]) -> Result<()> {
    let mut args = vec!["bench", "--locked", "-p", "duet-model"];
    args.extend(extra.iter().map(String::as_str));
    cmd("cargo", &args)
}

fn run(extra: &[String]) -> Result<()> {
    let mut args = vec![
        "run",
        "--release",
        "--locked",
        "-p",
        "duet-server",
        "--bin",
        "duet",
        "--",
        "serve",
    ];
    args.extend(extra.iter().map(String::as_str));
    cmd("cargo", &args)
}
