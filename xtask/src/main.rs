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
    eprintln!("==> {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(workspace_root())
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

fn test() -> Result<()> {
    ensure_wasm_target()?;
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
    // The model must build for the browser as well as natively.
    cmd(
        "cargo",
        &[
            "build",
            "--locked",
            "-p",
            "duet-model",
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
