//! `cargo xtask fuzz`: coverage-guided fuzzing of the request decoders and the record codecs
//! with libFuzzer, through cargo-fuzz, on the stable toolchain.
//!
//! Owns the cargo-fuzz installation (a pinned version under the cache root's `tools/`, its
//! build and install output in `tools/logs/`), the
//! build of the targets in `fuzz/`, the time budget split over the targets, where the corpora
//! and crash files go, and the summary. The targets themselves live in `fuzz/fuzz_targets/`,
//! their seed corpora in `fuzz/corpus/<target>/`.
//!
//! Why this setup (README, "Fuzzing"): cargo-fuzz's default AddressSanitizer build needs
//! nightly `-Z` flags, but its `--sanitizer none` build uses only stable codegen flags
//! (`-Cpasses=sancov-module` and LLVM's coverage options), so libFuzzer runs with full
//! coverage feedback and comparison tracing on the one stable toolchain of the machines. The
//! code under test is safe Rust (`unsafe_code = "forbid"`), so what the fuzzer is after are
//! panics, stack overflows and broken invariants, which need no sanitizer. (An AddressSanitizer
//! build through `RUSTC_BOOTSTRAP=1` does not link here: cargo-fuzz's sanitizer flags reach
//! the C code of zstd-sys, and librdkafka's configure then fails to link against it.)

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::tools;

/// The cargo-fuzz release this repository is fuzzed with.
const CARGO_FUZZ_VERSION: &str = "0.13.2";

/// cargo-fuzz's `--sanitizer`: none, the build that needs only stable flags (module doc).
const SANITIZER: &str = "none";

/// Every target in `fuzz/Cargo.toml`, in the order they run.
pub const TARGETS: &[&str] = &[
    "produce_body",
    "consumer_requests",
    "avro",
    "jsonschema",
    "protobuf",
    "plain_record",
];

/// Inputs up to this size: large enough for nesting far deeper than any limit of the
/// decoders (a stack overflow needs depth, and depth needs bytes).
const MAX_LEN: &str = "16384";

/// What `cargo xtask fuzz` was asked to do.
#[derive(Debug, Clone)]
pub struct FuzzArgs {
    /// The time budget of all targets together, split evenly.
    pub seconds: u64,
    /// Only these targets (all when empty).
    pub targets: Vec<String>,
}

/// How one target's run went.
struct Outcome {
    target: String,
    runs: u64,
    seconds: f64,
    corpus: usize,
    crash: Option<PathBuf>,
}

pub fn fuzz(args: FuzzArgs) -> Result<()> {
    let targets: Vec<&str> = if args.targets.is_empty() {
        TARGETS.to_vec()
    } else {
        for t in &args.targets {
            if !TARGETS.contains(&t.as_str()) {
                bail!(
                    "unknown fuzz target {t:?}; the targets are {}",
                    TARGETS.join(", ")
                );
            }
        }
        args.targets.iter().map(String::as_str).collect()
    };
    let cargo_fuzz = ensure_cargo_fuzz()?;
    let fuzz_dir = crate::workspace_root().join("fuzz");
    let work = work_dir();

    let started = Instant::now();
    let mut build = Command::new(&cargo_fuzz);
    build
        .args(["fuzz", "build", "--sanitizer", SANITIZER, "--target-dir"])
        .arg(work.join("fuzz"))
        .current_dir(&fuzz_dir);
    if let [only] = targets[..] {
        build.arg(only);
    }
    let log = tools::logs_dir().join("fuzz-build.log");
    tools::fresh_log(&log)?;
    tools::run_logged(
        build,
        &log,
        &format!("[fuzz] building the targets ({SANITIZER} sanitizer)"),
        "cargo-fuzz",
    )
    .context("cannot build the fuzz targets")?;
    println!(
        "[fuzz] targets built ({SANITIZER} sanitizer) in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    let per_target = (args.seconds / targets.len() as u64).max(1);
    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(run_target(
            &cargo_fuzz,
            &fuzz_dir,
            &work,
            target,
            per_target,
        )?);
    }
    println!(
        "[fuzz] {:<18} {:>10} {:>9} {:>8}  result",
        "target", "runs", "runs/s", "corpus"
    );
    for o in &outcomes {
        println!(
            "[fuzz] {:<18} {:>10} {:>9.0} {:>8}  {}",
            o.target,
            o.runs,
            o.runs as f64 / o.seconds.max(0.001),
            o.corpus,
            match &o.crash {
                None => "ok".to_string(),
                Some(path) => format!("CRASH {}", path.display()),
            }
        );
    }
    let crashed: Vec<&Outcome> = outcomes.iter().filter(|o| o.crash.is_some()).collect();
    if !crashed.is_empty() {
        for o in &crashed {
            if let Some(path) = &o.crash {
                println!(
                    "[fuzz] reproduce: cd fuzz && cargo fuzz run --sanitizer {SANITIZER} {} {}",
                    o.target,
                    path.display()
                );
            }
        }
        bail!(
            "{} fuzz target(s) found a crash: {}",
            crashed.len(),
            crashed
                .iter()
                .map(|o| o.target.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    println!(
        "[fuzz] {} target(s), {per_target}s each, no crash ({:.0}s in all)",
        targets.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Fuzzes one target for `seconds`. New inputs go to a working corpus outside the repository
/// (kept between runs, so coverage builds up locally); the seeds in `fuzz/corpus/<target>` are
/// read, never written. A crash is copied to `fuzz/artifacts/<target>/`.
fn run_target(
    cargo_fuzz: &Path,
    fuzz_dir: &Path,
    work: &Path,
    target: &str,
    seconds: u64,
) -> Result<Outcome> {
    let corpus = work.join("fuzz-corpus").join(target);
    let artifacts = fuzz_dir.join("artifacts").join(target);
    for dir in [&corpus, &artifacts] {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let seeds = fuzz_dir.join("corpus").join(target);
    println!("[fuzz] {target}: {seconds}s ...");
    let started = Instant::now();
    let mut cmd = Command::new(cargo_fuzz);
    cmd.args(["fuzz", "run", "--sanitizer", SANITIZER, "--target-dir"])
        .arg(work.join("fuzz"))
        .arg(target)
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg(format!("-max_len={MAX_LEN}"))
        // An input that takes this long is a denial of service, and a finding.
        .arg("-timeout=10")
        .arg("-rss_limit_mb=2048")
        .arg("-print_final_stats=1")
        .arg(format!("-artifact_prefix={}/", artifacts.display()))
        .current_dir(fuzz_dir);
    let output = cmd
        .output()
        .with_context(|| format!("cannot run cargo fuzz for {target}"))?;
    let seconds = started.elapsed().as_secs_f64();
    let log = String::from_utf8_lossy(&output.stderr);
    let runs = log
        .lines()
        .find_map(|l| l.strip_prefix("stat::number_of_executed_units:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0);
    let corpus_size = std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0);
    let crash = if output.status.success() {
        None
    } else {
        let found = log
            .lines()
            .find_map(|l| l.split("Test unit written to ").nth(1))
            .map(|p| PathBuf::from(p.trim()));
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        eprintln!(
            "[fuzz] {target} failed; the end of its log:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        Some(found.unwrap_or_else(|| artifacts.clone()))
    };
    Ok(Outcome {
        target: target.to_string(),
        runs,
        seconds,
        corpus: corpus_size,
        crash,
    })
}

/// Where builds and working corpora go: `fuzz/` and `fuzz-corpus/` beside cargo's other
/// output, in `$CARGO_TARGET_DIR` (or the repository's `target/`).
fn work_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"))
}

/// The pinned cargo-fuzz, installed from crates.io on first use under the cache root.
fn ensure_cargo_fuzz() -> Result<PathBuf> {
    let root = tools::tools_dir().join(format!("cargo-fuzz-{CARGO_FUZZ_VERSION}"));
    let binary = root.join("bin").join("cargo-fuzz");
    if binary.exists() {
        return Ok(binary);
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let started = Instant::now();
    let log = tools::logs_dir().join(format!("cargo-fuzz-{CARGO_FUZZ_VERSION}.log"));
    tools::fresh_log(&log)?;
    let mut install = Command::new(cargo);
    install
        .args([
            "install",
            "cargo-fuzz",
            "--locked",
            "--version",
            CARGO_FUZZ_VERSION,
            "--root",
        ])
        .arg(&root);
    tools::run_logged(
        install,
        &log,
        &format!(
            "[fuzz] installing cargo-fuzz {CARGO_FUZZ_VERSION} into {}",
            root.display()
        ),
        "cargo",
    )
    .context("cannot install cargo-fuzz from crates.io")?;
    println!(
        "[fuzz] cargo-fuzz ready in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    Ok(binary)
}
