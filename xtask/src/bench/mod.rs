//! `cargo xtask bench`: throughput, latency and memory of the proxy against a native rdkafka
//! client doing the same work on the same broker, in the same invocation.
//!
//! This file owns the command: its arguments, the timing of a run, the order of the scenarios
//! and what they share (`Bench`). The scenarios are one file per kind: `produce.rs` (P1-P4
//! throughput and L1 latency), `produce_v3.rs` (P5 streamed v3 produce, P6 one record per v3
//! request), `consume.rs` (C1), `reads.rs` (C2 stateless reads, C3 SSE consume), `idle.rs`
//! (M1: memory, threads and descriptors of the idle proxy and of 1, 100 and 1000 idle consumer
//! instances), `floor.rs` (R2, RL1: P2's and L1's work against a minimal HTTP-to-Kafka server
//! of its own, the floor of one-record produce on the machine). `driver.rs`
//! holds what makes a comparison sound: the produce loops, the warm-up to a steady state, the
//! load generator's own CPU, and [`driver::interleave`], which runs the two sides of any
//! scenario alternately (proxy, native, proxy, native, ...) `timing.runs` times; `report.rs`
//! prints the table (with the min / median / max of every comparison) and writes the JSON,
//! `charts.rs` draws it. The stack comes from `stack/`; the proxy under test (the release
//! binary, or any v2 proxy given by `--target`), its HTTP client and the `/proc` sampling from
//! `load.rs`.
//!
//! Adding a scenario (e.g. a `reads.rs`):
//!
//! 1. In its file, write one `pub(super) async fn xx(bench: &Bench<'_>) -> Result<Row>` that
//!    prepares what both sides need (a topic, records), then calls
//!    `driver::interleave(id, bench.timing.runs, |run| proxy_side(..), |run| native_side(..))`
//!    with two closures that each do one run of one side and return its [`Measured`] (use
//!    `driver::drive` with a [`driver::Sender`] per side for a fixed-window load, or time a
//!    finite job yourself), and returns `Row::compared(id, what, sides, Compare::Throughput,
//!    note)`. The runner interleaves, prints progress and the load generator's CPU per run, and
//!    the report shows the spread: nothing else to do.
//! 2. Here: `mod xx;` and one line in `run_all`:
//!    `if wanted(args, "C2") { rows.push(xx::c2(&bench).await?); }`.

mod budget;
mod charts;
mod consume;
mod driver;
mod floor;
mod idle;
mod produce;
mod produce_v3;
mod reads;
mod report;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;

use crate::load::{admin, ProxyUnderTest};
use crate::stack;

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// A reduced set (one short run per scenario) for routine checks.
    pub quick: bool,
    /// Base URL of another Confluent-v2-compatible proxy to drive instead of ours.
    pub target: Option<String>,
    /// Where to write the results as JSON.
    pub json: Option<PathBuf>,
    /// A directory for `results.json` and the SVG charts of the run.
    pub report: Option<PathBuf>,
    /// A results JSON written earlier: draw its charts into `report` instead of running.
    pub from: Option<PathBuf>,
    /// Only the scenarios whose id starts with one of these (e.g. `P1`, `L1`).
    pub only: Vec<String>,
    /// Proxy settings (`key=value`) for this run; `producer.*` and `client.*` ones apply to the
    /// native producer too, so both sides keep the same librdkafka settings.
    pub set: Vec<String>,
}

/// Timing of one scenario run.
#[derive(Debug, Clone, Copy)]
struct Timing {
    /// The longest warm-up: it ends earlier once the rate is steady (see `driver::drive`).
    warmup: Duration,
    measure: Duration,
    /// Runs per side, interleaved with the other side's; the median one is reported, with the
    /// spread of the per-pair comparison.
    runs: usize,
}

impl Timing {
    /// `--quick`: one short run per side.
    const QUICK: Timing = Timing {
        warmup: Duration::from_secs(3),
        measure: Duration::from_secs(3),
        runs: 1,
    };

    /// The full mode: 5 interleaved runs of 5 s per side.
    const FULL: Timing = Timing {
        warmup: Duration::from_secs(6),
        measure: Duration::from_secs(5),
        runs: 5,
    };
}

/// What `--quick` prints before and after its table.
const QUICK_NOTICE: &str = "--quick: one run per side, not interleaved repeats: its ratios are \
     indicative only (run the full mode for figures that hold)";

/// One side (proxy or native) of one scenario, after the median run was picked.
#[derive(Debug, Clone, Default)]
struct Measured {
    records_per_s: f64,
    requests_per_s: f64,
    mb_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    errors: u64,
    /// Proxy CPU seconds per million records (proxy side, our proxy only).
    cpu_s_per_m: Option<f64>,
    /// Peak RSS of the proxy in MiB during the run (proxy side, our proxy only).
    peak_rss_mib: Option<f64>,
    /// Threads of the proxy process (`/proc/PID/task`), where the scenario samples them.
    threads: Option<usize>,
    /// Open file descriptors of the proxy process (`/proc/PID/fd`), where sampled.
    open_fds: Option<usize>,
    /// Seconds of warm-up before the window, and whether it ended on a steady rate.
    warmup_s: Option<f64>,
    steady: Option<bool>,
    /// The load generator's (this process's) CPU during the run.
    loadgen: Option<driver::LoadGen>,
}

/// A finished scenario: both sides and what is compared.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    what: String,
    /// The median run of each side.
    proxy: Measured,
    native: Option<Measured>,
    note: String,
    /// The comparison of every interleaved pair of runs and its min / median / max.
    spread: Option<driver::Spread>,
    /// Every run of both sides, in the order they ran.
    runs: driver::Sides,
}

impl Row {
    /// A proxy-only row (M1).
    fn single(
        id: impl Into<String>,
        what: impl Into<String>,
        proxy: Measured,
        note: impl Into<String>,
    ) -> Row {
        Row {
            id: id.into(),
            what: what.into(),
            proxy,
            native: None,
            note: note.into(),
            spread: None,
            runs: driver::Sides::default(),
        }
    }

    /// A row comparing the interleaved runs of both sides: each side's median run (by
    /// records/s, or by p99 when the comparison is latency) and the spread of the pairs.
    fn compared(
        id: impl Into<String>,
        what: impl Into<String>,
        sides: driver::Sides,
        compare: driver::Compare,
        note: impl Into<String>,
    ) -> Row {
        let pick = |runs: &[Measured]| match compare {
            driver::Compare::Throughput => driver::median_run(runs.to_vec()),
            driver::Compare::P99Over => driver::median_run_by(runs.to_vec(), |m| m.p99_ms),
        };
        Row {
            id: id.into(),
            what: what.into(),
            proxy: pick(&sides.proxy).unwrap_or_default(),
            native: pick(&sides.native),
            note: note.into(),
            spread: driver::Spread::of(compare, &sides),
            runs: sides,
        }
    }
}

/// What every scenario works with.
struct Bench<'a> {
    admin: AdminClient<DefaultClientContext>,
    bootstrap: &'a str,
    proxy: &'a ProxyUnderTest,
    timing: Timing,
    /// `--quick`: fewer instances and records where a scenario scales.
    quick: bool,
    /// librdkafka settings of `--set` that the native producer applies too.
    overrides: Vec<(String, String)>,
}

/// Runs this same `bench` command from a release build of xtask. `cargo xtask` builds xtask
/// in the dev profile, where the HTTP load generator, the stream parser and the native
/// client's Rust side (rdkafka's wrapper, tokio) run unoptimized and cost several times the
/// CPU they do optimized: on two cores shared with the proxy and the broker that CPU is taken
/// from whichever side is measured, and it made the load generator the limit of P5.
pub fn run_optimized() -> Result<()> {
    println!("[bench] building the optimized load generator (cargo build --release -p xtask) ...");
    crate::ci::cargo(&["build", "--release", "--quiet", "-p", "xtask"], &[])?;
    let binary = crate::load::target_dir().join("release").join("xtask");
    let status = std::process::Command::new(&binary)
        .args(std::env::args_os().skip(1))
        .current_dir(crate::workspace_root())
        .status()
        .with_context(|| format!("cannot run {}", binary.display()))?;
    if !status.success() {
        anyhow::bail!("the optimized bench failed ({status})");
    }
    Ok(())
}

pub fn bench(args: BenchArgs) -> Result<()> {
    if let Some(from) = &args.from {
        let dir = args
            .report
            .as_ref()
            .context("--from needs --report DIR to draw the charts into")?;
        let text = std::fs::read_to_string(from)
            .with_context(|| format!("cannot read {}", from.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a results JSON", from.display()))?;
        for path in charts::write(dir, &doc)? {
            println!("[bench] chart written to {}", path.display());
        }
        return Ok(());
    }
    let timing = if args.quick {
        println!("[bench] {QUICK_NOTICE}");
        Timing::QUICK
    } else {
        Timing::FULL
    };
    let started = Instant::now();
    let info = stack::up(1)?;
    let mut proxy = match &args.target {
        Some(url) => ProxyUnderTest::external(url)?,
        None => ProxyUnderTest::start("bench", &info.bootstrap, &info.registry_url, &args.set)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the bench runtime")?;
    let result = runtime.block_on(run_all(&args, timing, &info.bootstrap, &proxy));
    proxy.stop();
    let rows = result?;
    report::print_table(&rows);
    if args.quick {
        println!("\n{QUICK_NOTICE}");
    }
    if let Some(path) = &args.json {
        report::write_json(path, &rows, &args, timing)?;
        println!("[bench] results written to {}", path.display());
    }
    if let Some(dir) = &args.report {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join("results.json");
        report::write_json(&path, &rows, &args, timing)?;
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let doc: serde_json::Value = serde_json::from_str(&text).context("results JSON")?;
        for chart in charts::write(dir, &doc)? {
            println!("[bench] chart written to {}", chart.display());
        }
    }
    println!("[bench] done in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

/// `cargo xtask bench-floor`: the minimal HTTP-to-Kafka server of the floor rows (R2, RL1),
/// which the bench starts from its own binary.
pub fn serve_floor(listen: &str, bootstrap: &str, set: &[String]) -> Result<()> {
    floor::serve(listen, bootstrap, set)
}

fn wanted(args: &BenchArgs, id: &str) -> bool {
    args.only.is_empty()
        || args
            .only
            .iter()
            .any(|o| id.to_ascii_uppercase().starts_with(&o.to_ascii_uppercase()))
}

/// Runs the wanted scenarios in a fixed order: memory first (on the freshly started proxy),
/// then produce throughput, consume, latency (which is paced from P2's result), and the floor
/// of one-record produce (R2, RL1; `floor.rs`).
async fn run_all(
    args: &BenchArgs,
    timing: Timing,
    bootstrap: &str,
    proxy: &ProxyUnderTest,
) -> Result<Vec<Row>> {
    let bench = Bench {
        admin: admin(bootstrap)?,
        bootstrap,
        proxy,
        timing,
        quick: args.quick,
        overrides: native_overrides(&args.set),
    };
    let mut rows = Vec::new();
    if wanted(args, "M1") {
        rows.extend(idle::idle_proxy(proxy));
    }
    if wanted(args, "M1-consumers") {
        rows.extend(idle::idle_consumer_rows(&bench).await?);
    }
    let mut p2_max_rps = None;
    for scenario in &produce::PRODUCE_SCENARIOS {
        if wanted(args, scenario.id) {
            let row = produce::throughput(&bench, scenario).await?;
            if scenario.id.starts_with("P2") {
                p2_max_rps = Some(row.proxy.requests_per_s);
            }
            rows.push(row);
        }
    }
    if wanted(args, "P5") {
        rows.push(produce_v3::p5(&bench).await?);
    }
    if wanted(args, "P6") {
        rows.push(produce_v3::p6(&bench).await?);
    }
    if wanted(args, "C1") {
        rows.push(consume::c1(&bench).await?);
    }
    if wanted(args, "C2") {
        rows.push(reads::c2(&bench).await?);
    }
    if wanted(args, "C3") {
        rows.push(reads::c3(&bench).await?);
    }
    let mut l1_rate = None;
    if wanted(args, "L1") {
        let rate = produce::latency_rate(&bench, p2_max_rps).await?;
        l1_rate = Some(rate);
        rows.push(produce::latency(&bench, "L1", rate).await?);
    }
    // The floor rows last: they run against a server of their own, not the proxy.
    let floor_p2 = wanted(args, "R2-64");
    let floor_l1 = match (wanted(args, "RL1"), l1_rate) {
        (false, _) => None,
        (true, Some(rate)) => Some(rate),
        (true, None) => Some(produce::latency_rate(&bench, p2_max_rps).await?),
    };
    if floor_p2 || floor_l1.is_some() {
        rows.extend(floor::rows(&bench, floor_p2, floor_l1, &args.set).await?);
    }
    Ok(rows)
}

/// librdkafka settings of `--set producer.*` / `client.*`, for the native producer.
fn native_overrides(set: &[String]) -> Vec<(String, String)> {
    set.iter()
        .filter_map(|item| item.split_once('='))
        .filter_map(|(k, v)| {
            k.strip_prefix("producer.")
                .or_else(|| k.strip_prefix("client."))
                .map(|k| (k.to_string(), v.to_string()))
        })
        .collect()
}
