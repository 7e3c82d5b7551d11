//! `cargo xtask`: Duet's automation in one place — `test` (everything CI runs), `ci`, `bench`, `run`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

mod frontend_files;

const WASM_TARGET: &str = "wasm32-unknown-unknown";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("test") | Some("ci") => test(),
        Some("bench") => bench(&args[1..]),
        Some("bench-browser") => bench_in_browser("bench/editor-timings.mjs"),
        Some("bench-offline") => bench_in_browser("bench/offline-merge.mjs"),
        Some("bench-first-visit") => bench_in_browser("bench/first-visit.mjs"),
        Some("bench-history") => {
            cmd(
                "cargo",
                &[
                    "build",
                    "--release",
                    "--locked",
                    "-p",
                    "duet-load",
                    "--bin",
                    "duet-history-bench",
                ],
            )?;
            bench_in_browser("bench/history-timings.mjs")
        }
        Some("bench-servers") => bench_servers(&args[1..]),
        Some("drill") => drill(),
        Some("fuzz-seeds") => fuzz_seeds(),
        Some("automerge-tests") => automerge_tests(),
        Some("soak") => {
            let minutes = args.get(1).map_or("120", String::as_str);
            soak(minutes)
        }
        Some("fuzz") => {
            let minutes: f64 = match args.get(1) {
                Some(m) => m
                    .parse()
                    .context("usage: cargo xtask fuzz [minutes per target]")?,
                None => 15.0,
            };
            fuzz((minutes * 60.0) as u64)
        }
        Some("run") => run(&args[1..]),
        Some("frontend") => build_frontend(),
        _ => {
            eprintln!(
                "usage: cargo xtask <command>\n\n\
                 commands:\n  \
                 test    install what is missing, then run every check and test (what CI runs)\n  \
                 ci      same as test\n  \
                 bench   run the criterion benchmarks (extra args go to `cargo bench`)\n  \
                 bench-browser  time the editor in headless Chromium (keystroke → paint, load)\n  \
                 bench-offline  time reconnect → converged after 1,000 offline edits; local store size\n  \
                 bench-history  time the history panel, a distant diff and blame on a 50,000-change spec\n  \
                 bench-servers  duet-load's full matrix against Duet, the automerge-repo sync server and Hocuspocus\n  \
                 drill   the reliability drills in long mode (200 crashes, a 1 GiB malformed flood, 100,000 convergence cases)\n  \
                 fuzz [minutes]  every fuzz target for that long each (15 by default)\n  \
                 soak [minutes]  20 people typing into one spec for that long (120 by default)\n  \
                 fuzz-seeds  rewrite fuzz/seeds from the targets' seed inputs\n  \
                 automerge-tests  upstream automerge 0.6.1's own tests against Duet's patched copy\n  \
                 run     build the browser app and start Duet\n  \
                 frontend  build the browser app into frontend/dist"
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
    cmd_in_env(dir, program, args, &[])
}

/// Runs a command with extra environment variables, failing with its name if it fails.
fn cmd_env(program: &str, args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    cmd_in_env(&workspace_root(), program, args, env)
}

fn cmd_in_env(
    dir: &std::path::Path,
    program: &str,
    args: &[&str],
    env: &[(&str, &str)],
) -> Result<()> {
    eprintln!("==> {program} {}", args.join(" "));
    let started = std::time::Instant::now();
    let status = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .status()
        .with_context(|| format!("could not start `{program}`"))?;
    took(started);
    if !status.success() {
        bail!("`{program} {}` failed ({status})", args.join(" "));
    }
    Ok(())
}

/// Prints how long a step took, so a slow test command shows where its time goes.
fn took(started: std::time::Instant) {
    eprintln!("    ({:.1} s)", started.elapsed().as_secs_f64());
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
    runs_ok(program, &["--version"])
}

/// Installs Node.js (Debian packages) when missing, then the npm packages of `tests/js`
/// (the JS automerge-repo interop test and the browser tests) when they are missing or
/// older than the lock.
fn ensure_node_packages() -> Result<()> {
    npm_install(&workspace_root().join("tests/js"))?;
    // The reference servers duet-load compares Duet with (its smoke test runs them).
    npm_install(&workspace_root().join("load/node"))
}

/// Installs Node.js when missing, then the npm packages of `js` (a folder with a
/// `package.json` and its committed lock) when missing or older than the lock.
fn npm_install(js: &std::path::Path) -> Result<()> {
    if !runs("node") || !runs("npm") {
        cmd("apt-get", &["update"])?;
        cmd("apt-get", &["install", "-y", "nodejs", "npm"])
            .context("Node.js is needed (wasm-opt, browser tests); install nodejs and npm")?;
    }
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
        cmd_in(js, "npm", &["install", "--no-audit", "--no-fund"])?;
    }
    Ok(())
}

/// Installs Debian's Chromium when missing (Playwright's own browser download does not
/// work everywhere; the tests use the system one).
fn ensure_chromium() -> Result<()> {
    if std::path::Path::new("/usr/bin/chromium").exists() {
        return Ok(());
    }
    cmd("apt-get", &["update"])?;
    cmd("apt-get", &["install", "-y", "chromium"])
        .context("the browser tests need Debian's chromium package")
}

/// Builds the app, then runs the Playwright tests in headless Chromium against
/// `target/debug/duet` — the binary `cargo test` just built for the server's own tests
/// (building it again with `cargo build` would recompile a few crates for nothing, as
/// the test build unifies features differently).
fn browser_tests() -> Result<()> {
    ensure_chromium()?;
    build_frontend()?;
    let js = workspace_root().join("tests/js");
    let bin = workspace_root().join("target/debug/duet");
    if !bin.exists() {
        cmd(
            "cargo",
            &["build", "--locked", "-p", "duet-server", "--bin", "duet"],
        )?;
    }
    eprintln!("==> npx playwright test");
    let started = std::time::Instant::now();
    let status = Command::new("npx")
        .args(["playwright", "test"])
        .current_dir(&js)
        .env("DUET_BIN", bin)
        .status()
        .context("could not start npx")?;
    took(started);
    if !status.success() {
        bail!("browser tests failed ({status})");
    }
    Ok(())
}

fn test() -> Result<()> {
    let started = std::time::Instant::now();
    ensure_wasm_target()?;
    ensure_node_packages()?;
    cmd("cargo", &["fmt", "--all", "--check"])?;
    // Clippy lints while the tests build: `clippy-driver` is rustc with Clippy's lints, so
    // as the workspace's compiler (`RUSTC_WORKSPACE_WRAPPER`; dependencies keep plain rustc)
    // it builds every target of every crate once, linted with `-D warnings`, instead of a
    // `cargo clippy` that checks the whole dependency tree a second time. `--all-targets`
    // builds what `cargo clippy --all-targets` lints; the benches are not run.
    // Every line of the app and the sans-IO crates is linted natively (none is wasm-only);
    // their release build for the browser comes with the browser tests, which proves they
    // build for wasm32. The fuzz targets' bodies run in the server's tests: every kept
    // input, then thousands of random mutations of them (`tests/it/fuzzing.rs`); libFuzzer's
    // coverage-guided runs need a second, instrumented build of everything, so they are
    // `cargo xtask fuzz`.
    let driver = clippy_driver()?;
    let linted = [
        ("RUSTC_WORKSPACE_WRAPPER", driver.as_str()),
        (
            "CLIPPY_ARGS",
            "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__",
        ),
    ];
    cmd_env(
        "cargo",
        &[
            "test",
            "--workspace",
            "--all-targets",
            "--locked",
            "--no-run",
        ],
        &linted,
    )?;
    // Four test threads on two cores: the crash drill spends most of its time waiting for
    // processes it killed and restarted, and other tests run meanwhile.
    cargo_test(
        &[
            "test",
            "--workspace",
            "--lib",
            "--bins",
            "--tests",
            "--locked",
            "--",
            "--test-threads",
            "4",
        ],
        &linted,
    )?;
    browser_tests()?;
    eprintln!(
        "==> all checks passed in {:.1} min",
        started.elapsed().as_secs_f64() / 60.0
    );
    Ok(())
}

/// Where the toolchain's `clippy-driver` is (its Clippy component added when missing).
fn clippy_driver() -> Result<String> {
    let which = || {
        Command::new("rustup")
            .args(["which", "clippy-driver"])
            .output()
    };
    let mut out = which().context("could not start rustup")?;
    if !out.status.success() {
        cmd("rustup", &["component", "add", "clippy"])?;
        out = which().context("could not start rustup")?;
    }
    if !out.status.success() {
        bail!("clippy-driver is missing after `rustup component add clippy`");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `cargo test`, echoing its output, and ends with one total line
/// (`N passed, M failed`) so the many per-binary summaries add up to one figure.
fn cargo_test(args: &[&str], env: &[(&str, &str)]) -> Result<()> {
    use std::io::{BufRead, BufReader};
    eprintln!("==> cargo {}", args.join(" "));
    let started = std::time::Instant::now();
    let mut child = Command::new("cargo")
        .args(args)
        .envs(env.iter().copied())
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
    took(started);
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

/// Builds a release `duet` and `duet-load`, then runs the side-by-side matrix (extra args go
/// to `duet-load`, after `--compare --matrix`).
fn bench_servers(extra: &[String]) -> Result<()> {
    ensure_node_packages()?;
    cmd(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "duet-server",
            "-p",
            "duet-load",
        ],
    )?;
    let load = workspace_root().join("target/release/duet-load");
    let mut args = vec!["--compare", "--matrix", "--json", "target/duet-load.json"];
    args.extend(extra.iter().map(String::as_str));
    cmd(&load.to_string_lossy(), &args)
}

/// Upstream automerge 0.6.1's own tests (its unit tests and its seven suites) against
/// Duet's patched copy (`automerge/upstream-tests`, a workspace of its own).
fn automerge_tests() -> Result<()> {
    cmd(
        "cargo",
        &[
            "test",
            "--locked",
            "--manifest-path",
            "automerge/upstream-tests/Cargo.toml",
            "--target-dir",
            "target/automerge-upstream",
        ],
    )
}

/// The reliability drills in long mode, optimised (the test command runs their CI modes):
/// 200 crashes, a 1 GiB flood, 100,000 seeded convergence cases.
fn drill() -> Result<()> {
    eprintln!("==> reliability drills, long mode");
    let env_or = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    release_server_tests(
        &["crash_drill", "flood_drill", "convergence"],
        &["--test-threads", "1"],
        &[
            ("DUET_DRILL_KILLS", env_or("DUET_DRILL_KILLS", "200")),
            ("DUET_FLOOD_MIB", env_or("DUET_FLOOD_MIB", "1024")),
            ("DUET_SIM_CASES", env_or("DUET_SIM_CASES", "100000")),
        ],
    )
}

/// The soak: 20 people typing into one spec for `minutes` against the release `duet`, a
/// sample of storage, load time and memory each minute (`server/examples/soak.rs`).
fn soak(minutes: &str) -> Result<()> {
    eprintln!("==> soak for {minutes} min");
    let mut build = vec!["build"];
    build.extend(RELEASE_DUET);
    cmd("cargo", &build)?;
    let root = workspace_root();
    let status = Command::new("cargo")
        .args([
            "run",
            "--release",
            "--locked",
            "-p",
            "duet-server",
            "--example",
            "soak",
        ])
        .env("DUET_SOAK_MINUTES", minutes)
        .env("DUET_BIN", root.join("target/release/duet"))
        .current_dir(&root)
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!("the soak failed ({status})");
    }
    Ok(())
}

/// Rewrites `fuzz/seeds/` from the inputs each fuzz target starts from.
fn fuzz_seeds() -> Result<()> {
    cmd(
        "cargo",
        &[
            "run",
            "--locked",
            "-p",
            "duet-server",
            "--features",
            "fuzzing",
            "--example",
            "fuzz_seeds",
        ],
    )
}

/// Runs some areas (`modules` of the server's integration-test binary), optimised,
/// printing as they go, with extra test-harness `args` and `env`.
fn release_server_tests(modules: &[&str], args: &[&str], env: &[(&str, String)]) -> Result<()> {
    let mut command = Command::new("cargo");
    command.args([
        "test",
        "--release",
        "--locked",
        "-p",
        "duet-server",
        "--test",
        "it",
        "--",
    ]);
    for module in modules {
        command.arg(format!("{module}::"));
    }
    let status = command
        .arg("--nocapture")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(workspace_root())
        .status()
        .context("could not start cargo")?;
    if !status.success() {
        bail!("`{}` failed ({status})", modules.join(", "));
    }
    Ok(())
}

/// The fuzz targets (`fuzz/fuzz_targets/`, bodies in `duet_server::fuzzing`).
const FUZZ_TARGETS: [&str; 4] = [
    "protocol_message",
    "sync_message",
    "stored_chunks",
    "credentials",
];

/// Runs every fuzz target for `seconds`, each from its seeds and the corpus kept by earlier
/// runs (`fuzz/corpus`, not committed). A crash is copied to `fuzz/regressions/<target>/`,
/// where the workspace tests replay it from then on, and fails the run.
fn fuzz(seconds: u64) -> Result<()> {
    let root = workspace_root();
    if !runs_ok("cargo", &["fuzz", "--version"]) {
        cmd(
            "cargo",
            &["install", "cargo-fuzz", "--version", "0.13.2", "--locked"],
        )?;
    }
    // libFuzzer's instrumentation flags are unstable rustc options: the one toolchain here
    // is stable, which accepts them when told it is building itself.
    let cargo_fuzz = |args: &[&str]| {
        let mut c = Command::new("cargo");
        c.arg("fuzz")
            .args(args)
            .current_dir(&root)
            .env("RUSTC_BOOTSTRAP", "1");
        c
    };
    // `cargo fuzz build` has no `--locked`: check the fuzz crate's own lock file first, so
    // that it pins the same versions as the workspace's instead of drifting silently.
    let fuzz_manifest = root.join("fuzz/Cargo.toml");
    let locked = Command::new("cargo")
        .args([
            "metadata",
            "--format-version",
            "1",
            "--locked",
            "--manifest-path",
        ])
        .arg(&fuzz_manifest)
        .stdout(std::process::Stdio::null())
        .status()
        .context("could not start cargo metadata")?;
    if !locked.success() {
        bail!(
            "fuzz/Cargo.lock is out of date with the workspace: refresh it with \
             `cargo metadata --offline --format-version 1 --manifest-path fuzz/Cargo.toml \
             > /dev/null` and commit it"
        );
    }
    eprintln!("==> cargo fuzz build");
    let started = std::time::Instant::now();
    let status = cargo_fuzz(&["build", "--fuzz-dir", "fuzz"])
        .status()
        .context("could not start cargo fuzz")?;
    took(started);
    if !status.success() {
        bail!("building the fuzz targets failed ({status})");
    }
    let mut report = Vec::new();
    for target in FUZZ_TARGETS {
        eprintln!("==> fuzzing {target} for {seconds} s");
        let corpus = root.join("fuzz/corpus").join(target);
        let artifacts = root.join("fuzz/artifacts").join(target);
        std::fs::create_dir_all(&corpus)?;
        std::fs::create_dir_all(&artifacts)?;
        let seeds = root.join("fuzz/seeds").join(target);
        let time = format!("-max_total_time={seconds}");
        let fuzzing = std::time::Instant::now();
        let output = cargo_fuzz(&[
            "run",
            "--fuzz-dir",
            "fuzz",
            target,
            &corpus.to_string_lossy(),
            &seeds.to_string_lossy(),
            "--",
            &time,
            "-rss_limit_mb=2048",
            "-max_len=65536",
            "-print_final_stats=1",
        ])
        .output()
        .context("could not start cargo fuzz")?;
        let log = String::from_utf8_lossy(&output.stderr);
        let stat = |name: &str| {
            log.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_start_matches(':').trim().parse::<u64>().ok())
                .unwrap_or(0)
        };
        let (execs, peak_mb) = (
            stat("stat::number_of_executed_units"),
            stat("stat::peak_rss_mb"),
        );
        if !output.status.success() {
            eprintln!("{log}");
            let kept = keep_crashers(&artifacts, &root.join("fuzz/regressions").join(target))?;
            bail!(
                "fuzz target {target} crashed after {execs} inputs; kept as {}",
                kept.join(", ")
            );
        }
        report.push(format!(
            "{target}: {execs} inputs in {:.0} s, peak RSS {peak_mb} MiB, no crash",
            fuzzing.elapsed().as_secs_f64()
        ));
    }
    for line in &report {
        println!("fuzz: {line}");
    }
    Ok(())
}

/// Moves every crasher libFuzzer left in `artifacts` to `regressions`; returns their paths.
fn keep_crashers(artifacts: &Path, regressions: &Path) -> Result<Vec<String>> {
    std::fs::create_dir_all(regressions)?;
    let mut kept = Vec::new();
    for entry in std::fs::read_dir(artifacts)? {
        let path = entry?.path();
        let Some(name) = path.file_name() else {
            continue;
        };
        let to = regressions.join(name);
        std::fs::copy(&path, &to)?;
        std::fs::remove_file(&path)?;
        kept.push(to.display().to_string());
    }
    Ok(kept)
}

/// Whether `program args` runs and succeeds.
fn runs_ok(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Runs a browser benchmark script (tests/js/bench) in headless Chromium against a release
/// `duet serve`.
fn bench_in_browser(script: &str) -> Result<()> {
    ensure_node_packages()?;
    ensure_chromium()?;
    build_frontend()?;
    let mut build = vec!["build"];
    build.extend(RELEASE_DUET);
    cmd("cargo", &build)?;
    let root = workspace_root();
    let status = std::process::Command::new("node")
        .arg(script)
        .current_dir(root.join("tests/js"))
        .env("DUET_BIN", root.join("target/release/duet"))
        .status()?;
    if !status.success() {
        bail!("the browser benchmark failed");
    }
    Ok(())
}

/// The `wasm-bindgen` version in Cargo.lock: the CLI must be exactly this version.
fn locked_wasm_bindgen_version() -> Result<String> {
    let lock = std::fs::read_to_string(workspace_root().join("Cargo.lock"))?;
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\"" {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return Ok(v.trim_matches('"').to_owned());
            }
        }
    }
    bail!("wasm-bindgen is not in Cargo.lock")
}

/// Installs `wasm-bindgen-cli` at the locked version when missing or different.
fn ensure_wasm_bindgen() -> Result<()> {
    let want = locked_wasm_bindgen_version()?;
    let have = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    if have.as_deref() != Some(&format!("wasm-bindgen {want}")) {
        // Not `--locked`: the CLI's own lock pins versions that no longer build.
        cmd(
            "cargo",
            &["install", "wasm-bindgen-cli", "--version", &want, "--force"],
        )?;
    }
    Ok(())
}

/// The wasm modules of the browser app: (package, wasm file, directory under `dist`). The
/// history panel is a module of its own, loaded when a spec opens.
const MODULES: [(&str, &str, &str); 2] = [
    ("duet-frontend", "duet_frontend", ""),
    ("duet-history", "duet_history", "history"),
];

/// Builds the browser app into `frontend/dist`: each wasm module (release) with its JS glue
/// from `wasm-bindgen`, made smaller by `wasm-opt`, and the static files.
fn build_frontend() -> Result<()> {
    let root = workspace_root();
    let dist = root.join("frontend/dist");
    // Nothing it reads changed since the last build: that build stands.
    let inputs = frontend_files::fingerprint(&root)?;
    if frontend_files::up_to_date(&dist, &inputs) {
        eprintln!("==> frontend unchanged since its last build (frontend/dist); not rebuilt");
        return Ok(());
    }
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    if dist.exists() {
        std::fs::remove_dir_all(&dist)?;
    }
    std::fs::create_dir_all(&dist)?;
    // wasm-opt from npm `binaryen` (Debian's binaryen 108 writes modules Chromium rejects).
    npm_install(&root.join("frontend"))?;
    for (package, name, dir) in MODULES {
        // One package per build: the history module uses the app's crate without its
        // entry point, which building both at once would switch back on.
        cmd(
            "cargo",
            &[
                "build",
                "--locked",
                "--profile",
                "wasm-release",
                "-p",
                package,
                "--target",
                WASM_TARGET,
            ],
        )?;
        let out = dist.join(dir);
        let wasm = root.join(format!(
            "target/wasm32-unknown-unknown/wasm-release/{name}.wasm"
        ));
        cmd(
            "wasm-bindgen",
            &[
                "--target",
                "web",
                "--no-typescript",
                "--out-dir",
                &out.to_string_lossy(),
                &wasm.to_string_lossy(),
            ],
        )?;
        let module_path = out.join(format!("{name}_bg.wasm"));
        let optimised_path = out.join(format!("{name}_bg.opt.wasm"));
        let (module, optimised) = (
            module_path.to_string_lossy(),
            optimised_path.to_string_lossy(),
        );
        let wasm_opt = root.join("frontend/node_modules/.bin/wasm-opt");
        // About 2.5x smaller; the features are those rustc enables for wasm32 by default.
        let optimise = || {
            cmd(
                &wasm_opt.to_string_lossy(),
                &[
                    // One pass: `--converge` (passes again until the module stops
                    // shrinking) saves ~2 KB of gzip and costs ~50 s of every build.
                    "-Oz",
                    // Rust puts the stack first (from 1 MiB down to 0), so the lowest KiB is only
                    // touched by a stack a whisker from overflowing: this lets constant offsets fold
                    // into loads and stores (about 5 KB less gzip).
                    "--low-memory-unused",
                    "--enable-bulk-memory",
                    "--enable-nontrapping-float-to-int",
                    "--enable-sign-ext",
                    "--enable-mutable-globals",
                    &module,
                    "-o",
                    &optimised,
                ],
            )
        };
        // npm binaryen's wasm-opt has crashed once (SIGSEGV) on an input it then optimised
        // fine: one retry, into a separate file so a crash never leaves half a module.
        if let Err(e) = optimise() {
            eprintln!("==> wasm-opt failed ({e:#}); once more");
            optimise()?;
        }
        std::fs::rename(&optimised_path, &module_path)?;
    }
    for entry in std::fs::read_dir(root.join("frontend/static"))? {
        let entry = entry?;
        std::fs::copy(entry.path(), dist.join(entry.file_name()))?;
    }
    frontend_files::hash_names(&dist)?;
    write_service_worker(&dist)?;
    frontend_files::precompress(&dist)?;
    std::fs::write(dist.join(frontend_files::STAMP), &inputs)?;
    eprintln!("==> frontend built in frontend/dist");
    Ok(())
}

/// Fills in the service worker's shell: every built file (`/` stands for `index.html`) and
/// a version that changes whenever any of them does, so a new build replaces the old shell.
fn write_service_worker(dist: &Path) -> Result<()> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            if path.is_dir() {
                walk(&path, out)?;
            } else {
                out.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dist, &mut files)?;
    files.sort();
    let mut hasher = std::hash::DefaultHasher::new();
    let mut urls = Vec::new();
    for path in &files {
        let rel = path
            .strip_prefix(dist)?
            .to_string_lossy()
            .replace('\\', "/");
        // Not the shell: the worker itself, the compressed copies, the build's stamp, and
        // the history module (history reads the server: it is no use offline, and leaving
        // it out keeps the worker from downloading it on a first visit).
        if rel == "sw.js"
            || rel.ends_with(".br")
            || rel.ends_with(".gz")
            || rel == frontend_files::STAMP
            || rel.starts_with("history/")
        {
            continue;
        }
        std::hash::Hash::hash(&rel, &mut hasher);
        std::hash::Hash::hash(&std::fs::read(path)?, &mut hasher);
        urls.push(if rel == "index.html" {
            "\"/\"".to_owned()
        } else {
            format!("\"/{rel}\"")
        });
    }
    let version = format!("{:016x}", std::hash::Hasher::finish(&hasher));
    let sw = dist.join("sw.js");
    let text = std::fs::read_to_string(&sw)?
        .replace("__DUET_VERSION__", &version)
        .replace("__DUET_FILES__", &format!("[{}]", urls.join(", ")));
    std::fs::write(&sw, text)?;
    Ok(())
}

/// Cargo arguments selecting the release `duet` binary.
const RELEASE_DUET: [&str; 6] = [
    "--release",
    "--locked",
    "-p",
    "duet-server",
    "--bin",
    "duet",
];

fn run(extra: &[String]) -> Result<()> {
    build_frontend()?;
    cmd("cargo", &serve_args(extra))
}

/// The cargo command line that serves Duet with `extra` options: `cargo xtask run --
/// --addr …` and `cargo xtask run --addr …` both pass them to `duet serve`.
fn serve_args(extra: &[String]) -> Vec<&str> {
    let extra = match extra.first().map(String::as_str) {
        Some("--") => &extra[1..],
        _ => extra,
    };
    let mut args = vec!["run"];
    args.extend(RELEASE_DUET);
    args.extend(["--", "serve"]);
    args.extend(extra.iter().map(String::as_str));
    args
}

#[cfg(test)]
mod tests {
    use super::serve_args;

    #[test]
    fn run_passes_serve_options_through_with_or_without_a_separator() {
        let owned = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let want = [
            "run",
            "--release",
            "--locked",
            "-p",
            "duet-server",
            "--bin",
            "duet",
            "--",
            "serve",
            "--addr",
            "127.0.0.1:9000",
            "--data",
            "/srv/duet",
        ];
        let given = ["--addr", "127.0.0.1:9000", "--data", "/srv/duet"];
        assert_eq!(serve_args(&owned(&given)), want);
        let mut separated = vec!["--"];
        separated.extend(given);
        assert_eq!(serve_args(&owned(&separated)), want);
        assert_eq!(serve_args(&[]), &want[..9]);
    }
}
