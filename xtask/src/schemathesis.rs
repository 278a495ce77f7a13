//! `cargo xtask schemathesis`: a property-based contract test. schemathesis reads the documents
//! a running proxy serves, v2 at `/openapi.json` and then v3 at `/v3/openapi.json`, generates requests from it (examples, coverage,
//! fuzzing and stateful sequences that follow the document's links) and checks every answer
//! against the document: no 5xx, only documented statuses, content types, headers and
//! bodies, schema-valid requests accepted, schema-invalid ones refused.
//!
//! Owns the schemathesis version (pinned here; its dependencies are pinned in
//! `tests/schemathesis/constraints.txt`; its venv is made by `tools.rs`) and the command line:
//! a fixed seed, a time budget and a bound on test cases per operation, so a CI run is
//! reproducible and bounded. What is checked, and every relaxation with its reason, is in
//! `tests/schemathesis/schemathesis.toml` (v2) and `tests/schemathesis/schemathesis-v3.toml`
//! (v3, which also keeps the run away from what the cluster and other tests need); the proxy
//! process is `proxy.rs`.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::proxy::Proxy;
use crate::stack::{self, StackInfo};
use crate::tools::{self, Pip};

const SCHEMATHESIS_VERSION: &str = "4.32.5";
const CONFIG: &str = "tests/schemathesis/schemathesis.toml";
const CONFIG_V3: &str = "tests/schemathesis/schemathesis-v3.toml";
const CONSTRAINTS: &str = "tests/schemathesis/constraints.txt";

/// CI's time budget for each document: enough for every operation to get its examples, coverage and fuzzing
/// cases and for stateful sequences to run, short enough for the 2-core CI machine.
pub const DEFAULT_MAX_TIME_S: u64 = 90;
/// The environment variable the v3 config reads the cluster id from.
const CLUSTER_ID_VAR: &str = "KAFKA_REST_SCHEMATHESIS_CLUSTER_ID";
/// How long `GET /v3/clusters` may take before the run is abandoned.
const CLUSTER_ID_TIMEOUT: Duration = Duration::from_secs(30);
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

/// One served document and the settings schemathesis checks it with.
struct Document {
    /// Short name for logs and the report directory.
    name: &'static str,
    /// Path of the document on the proxy.
    path: &'static str,
    /// The schemathesis config file, relative to the workspace root.
    config: &'static str,
}

/// The v2 document, then the v3 one; each gets its own time budget.
const DOCUMENTS: [Document; 2] = [
    Document {
        name: "v2",
        path: "/openapi.json",
        config: CONFIG,
    },
    Document {
        name: "v3",
        path: "/v3/openapi.json",
        config: CONFIG_V3,
    },
];

/// Installs schemathesis if needed, starts a proxy in front of `info` and runs schemathesis
/// against its v2 and its v3 document, `options.max_time` seconds each; fails on any failed
/// check (after both runs, so one report shows every failure).
pub fn run(info: &StackInfo, options: Options) -> Result<()> {
    let root = crate::workspace_root();
    let st = install(&root)?;
    let proxy = Proxy::start(info, "schemathesis")?;
    // The v3 config names the cluster in every path (see schemathesis-v3.toml).
    let cluster_id = cluster_id(&proxy.url)?;
    let mut failed = Vec::new();
    for document in &DOCUMENTS {
        if let Err(error) = run_document(&root, &st, &proxy, &cluster_id, document, options) {
            eprintln!("[schemathesis] {}: {error:#}", document.name);
            failed.push(document.name);
        }
    }
    anyhow::ensure!(
        failed.is_empty(),
        "schemathesis found answers that contradict the served {} document(s)",
        failed.join(" and ")
    );
    Ok(())
}

/// One schemathesis run against one document of `proxy`.
fn run_document(
    root: &std::path::Path,
    st: &std::path::Path,
    proxy: &Proxy,
    cluster_id: &str,
    document: &Document,
    options: Options,
) -> Result<()> {
    // schemathesis writes `.hypothesis/` and reports into its working directory.
    let work = tools::tools_dir()
        .join("schemathesis-run")
        .join(document.name);
    fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;
    let url = format!("{}{}", proxy.url, document.path);
    let mut command = Command::new(st);
    command
        .arg("--config-file")
        .arg(root.join(document.config))
        .arg("run")
        .arg(&url)
        .arg(format!("--seed={}", options.seed))
        .arg(format!("--max-time={}", options.max_time))
        .arg(format!("--max-examples={}", options.max_examples))
        .arg(format!("--report-dir={}", work.join("report").display()))
        .current_dir(&work)
        .env(CLUSTER_ID_VAR, cluster_id)
        // No colour codes in CI logs; no telemetry.
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_TELEMETRY", "false");
    eprintln!(
        "[schemathesis] {} run {url}, seed {}, at most {} s and {} cases per operation and \
         phase ...",
        st.display(),
        options.seed,
        options.max_time,
        options.max_examples
    );
    let started = Instant::now();
    let result = tools::run_with_timeout(command, Duration::from_secs(options.max_time) + GRACE);
    let secs = started.elapsed().as_secs_f64();
    match &result {
        Ok(()) => eprintln!("[schemathesis] {}: no failures ({secs:.0}s)", document.name),
        Err(_) => eprintln!(
            "[schemathesis] {} FAILED after {secs:.0}s; replay with `cargo xtask schemathesis \
             --seed {}` (proxy log: {}; report: {})",
            document.name,
            options.seed,
            proxy.log.display(),
            work.join("report").display()
        ),
    }
    result.with_context(|| format!("schemathesis against {url}"))
}

/// The id of the cluster behind the proxy at `base` (`http://127.0.0.1:PORT`), from
/// `GET /v3/clusters`: one HTTP/1.1 request on a plain socket, as xtask has no HTTP client.
fn cluster_id(base: &str) -> Result<String> {
    let authority = base
        .strip_prefix("http://")
        .with_context(|| format!("proxy URL {base} is not http://"))?;
    let mut stream = TcpStream::connect(authority)
        .with_context(|| format!("cannot connect to the proxy at {authority}"))?;
    stream.set_read_timeout(Some(CLUSTER_ID_TIMEOUT))?;
    write!(
        stream,
        "GET /v3/clusters HTTP/1.1\r\nHost: {authority}\r\nAccept: application/json\r\n\
         Connection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .context("cannot read the answer to GET /v3/clusters")?;
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .context("GET /v3/clusters: answer without a header end")?;
    anyhow::ensure!(
        head.starts_with("HTTP/1.1 200"),
        "GET /v3/clusters answered {}",
        head.lines().next().unwrap_or_default()
    );
    // A chunked body would need decoding; the proxy sends a Content-Length for this answer.
    let clusters: serde_json::Value =
        serde_json::from_str(body).context("GET /v3/clusters: the body is not JSON")?;
    clusters["data"][0]["cluster_id"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("GET /v3/clusters: no data[0].cluster_id in {body}"))
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
