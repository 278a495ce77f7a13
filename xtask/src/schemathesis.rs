//! `cargo xtask schemathesis`: a property-based contract test. schemathesis reads the document
//! a running proxy serves at `/openapi.json`, generates requests from it (examples, coverage,
//! fuzzing and stateful sequences that follow the document's links) and checks every answer
//! against the document: no 5xx, only documented statuses, content types, headers and
//! bodies, schema-valid requests accepted, schema-invalid ones refused.
//!
//! Owns the schemathesis version (pinned here; its dependencies are pinned in
//! `tests/schemathesis/constraints.txt`; its venv is made by `tools.rs`) and the command line:
//! a fixed seed, a time budget and a bound on test cases per operation, so a CI run is
//! reproducible and bounded. What is checked, and every relaxation with its reason, is in
//! `tests/schemathesis/schemathesis.toml`; the proxy process is `proxy.rs`.

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::proxy::Proxy;
use crate::stack::{self, StackInfo};
use crate::tools::{self, Pip};

const SCHEMATHESIS_VERSION: &str = "4.32.5";
const CONFIG: &str = "tests/schemathesis/schemathesis.toml";
const CONSTRAINTS: &str = "tests/schemathesis/constraints.txt";

/// CI's time budget: enough for every operation to get its examples, coverage and fuzzing
/// cases and for stateful sequences to run, short enough for the 2-core CI machine.
pub const DEFAULT_MAX_TIME_S: u64 = 90;
/// The seed CI uses, so a failure there replays locally with the same command.
pub const DEFAULT_SEED: u64 = 20_260_601;
/// Test cases per operation and phase.
pub const DEFAULT_MAX_EXAMPLES: u32 = 25;
/// The run itself may overrun its budget a little (the last cases finish, the report prints);
/// past this it is killed.
const GRACE: Duration = Duration::from_secs(120);

/// Bounds of one run.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub max_time: u64,
    pub seed: u64,
    pub max_examples: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_time: DEFAULT_MAX_TIME_S,
            seed: DEFAULT_SEED,
            max_examples: DEFAULT_MAX_EXAMPLES,
        }
    }
}

/// `cargo xtask schemathesis`: the stack (started if needed, left running), a proxy, one run.
pub fn standalone(options: Options) -> Result<()> {
    let info = stack::up(1)?;
    run(&info, options)
}

/// Installs schemathesis if needed, starts a proxy in front of `info` and runs schemathesis
/// against it; fails on any failed check.
pub fn run(info: &StackInfo, options: Options) -> Result<()> {
    let root = crate::workspace_root();
    let st = install(&root)?;
    let proxy = Proxy::start(info, "schemathesis")?;
    // schemathesis writes `.hypothesis/` and reports into its working directory.
    let work = tools::tools_dir().join("schemathesis-run");
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let mut command = Command::new(&st);
    command
        .arg("--config-file")
        .arg(root.join(CONFIG))
        .arg("run")
        .arg(format!("{}/openapi.json", proxy.url))
        .arg(format!("--seed={}", options.seed))
        .arg(format!("--max-time={}", options.max_time))
        .arg(format!("--max-examples={}", options.max_examples))
        .arg(format!("--report-dir={}", work.join("report").display()))
        .current_dir(&work)
        // No colour codes in CI logs; no telemetry.
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false");
    eprintln!(
        "[schemathesis] {} run {}/openapi.json, seed {}, at most {} s and {} cases per operation \
         and phase ...",
        st.display(),
        proxy.url,
        options.seed,
        options.max_time,
        options.max_examples
    );
    let started = Instant::now();
    let result = tools::run_with_timeout(command, Duration::from_secs(options.max_time) + GRACE);
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(()) => eprintln!("[schemathesis] no failures ({secs:.0}s)"),
        Err(_) => eprintln!(
            "[schemathesis] FAILED after {secs:.0}s; replay with `cargo xtask schemathesis \
             --seed {}` (proxy log: {}; report: {})",
            options.seed,
            proxy.log.display(),
            work.join("report").display()
        ),
    }
    result.context("schemathesis found answers that contradict the served document")
}

/// The `st` console script of a venv made on first use (and again when the constraints
/// change).
fn install(root: &std::path::Path) -> Result<PathBuf> {
    let constraints = root.join(CONSTRAINTS);
    let package = format!("schemathesis=={SCHEMATHESIS_VERSION}");
    let venv = tools::venv(
        "schemathesis",
        &format!("schemathesis-{SCHEMATHESIS_VERSION}"),
        &[Pip::Package(&package), Pip::Constraints(&constraints)],
    )?;
    let st = venv.join("bin").join("st");
    anyhow::ensure!(
        st.exists(),
        "pip installed {package} but {} is missing; see {}",
        st.display(),
        tools::logs_dir().display()
    );
    Ok(st)
}
