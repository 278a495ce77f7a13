//! The bench report: a Markdown table of both sides of every scenario (each side's median run,
//! the min / median / max of the comparison over the interleaved pairs, and the load
//! generator's CPU), one line per scenario saying what it did and how it compares with its
//! target, and the same results as JSON (with every run).
//!
//! Owns the presentation only; the numbers come from `driver.rs` and the scenarios.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::budget;
use super::driver::{Compare, Spread};
use super::{BenchArgs, Measured, Row, Timing};

/// The comparison of a row as `median (min-max)`: a ratio, or a p99 difference in ms.
fn spread_text(spread: Option<&Spread>) -> String {
    match spread {
        None => "-".into(),
        Some(s) if s.values.len() == 1 => match s.compare {
            Compare::Throughput => format!("**{:.2}**", s.median),
            Compare::P99Over => format!("p99 **{:+.2} ms**", s.median),
        },
        Some(s) => match s.compare {
            Compare::Throughput => format!("**{:.2}** ({:.2}-{:.2})", s.median, s.min, s.max),
            Compare::P99Over => format!(
                "p99 **{:+.2} ms** ({:+.2} to {:+.2})",
                s.median, s.min, s.max
            ),
        },
    }
}

/// The load generator's CPU of a side's median run, as a share of the machine.
fn loadgen_text(m: &Measured) -> String {
    m.loadgen.map_or_else(
        || "-".into(),
        |l| format!("{:.0}%", l.machine_share * 100.0),
    )
}

pub(super) fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | side | records/s | req/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors | CPU s / M rec | peak RSS MiB | threads | load gen CPU | proxy/native median (min-max) |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let fmt_opt = |v: Option<f64>, digits: usize| {
            v.map(|x| format!("{x:.digits$}"))
                .unwrap_or_else(|| "-".into())
        };
        let m = &row.proxy;
        let ratio_text = spread_text(row.spread.as_ref());
        println!(
            "| {} | proxy | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} | {} |",
            row.id,
            m.records_per_s,
            m.requests_per_s,
            m.mb_per_s,
            m.p50_ms,
            m.p99_ms,
            m.p999_ms,
            m.errors,
            fmt_opt(m.cpu_s_per_m, 1),
            fmt_opt(m.peak_rss_mib, 1),
            m.threads.map_or_else(|| "-".into(), |t| t.to_string()),
            loadgen_text(m),
            ratio_text
        );
        if let Some(n) = &row.native {
            println!(
                "| {} | native | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | - | - | - | {} | |",
                row.id,
                n.records_per_s,
                n.requests_per_s,
                n.mb_per_s,
                n.p50_ms,
                n.p99_ms,
                n.p999_ms,
                n.errors,
                loadgen_text(n)
            );
        }
    }
    println!();
    for row in rows {
        println!("{}: {} ({})", row.id, row.what, row.note);
        if let Some(l) = row.proxy.loadgen.filter(|l| l.cores_used > LOADGEN_BUSY) {
            println!(
                "{}: WARNING: the load generator used {:.2} cores during the proxy's median run: \
                 its one runtime worker may be what limits this row",
                row.id, l.cores_used
            );
        }
    }
    println!(
        "\nload gen CPU: the bench process's own CPU (/proc/self/stat) over the run, as a share of \
         all cores; on the native side that is the native client itself"
    );
    print_budget(rows);
}

/// The CPU per record of both sides of every driven row (produce, latency and their floor
/// rows: the readings cover the same window as the count of records; a consume row's cover
/// its whole run).
fn print_budget(rows: &[Row]) {
    let us = |v: Option<f64>| v.map_or_else(|| "-".into(), |x| format!("{x:.2}"));
    println!("\nCPU per record, µs (median runs; see budget.rs):\n");
    println!("| scenario | side | proxy | client | broker | whole machine | machine busy |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    let driven = rows
        .iter()
        .filter(|r| r.native.is_some() && r.id.starts_with(['P', 'L', 'R']));
    for row in driven {
        for (name, m) in [("proxy", Some(&row.proxy)), ("native", row.native.as_ref())] {
            let Some(m) = m else { continue };
            let p = budget::per_record(m);
            println!(
                "| {} | {name} | {} | {} | {} | {} | {} |",
                row.id,
                us(p.proxy_us),
                us(p.client_us),
                us(p.broker_us),
                us(p.machine_us),
                p.machine_busy
                    .map_or_else(|| "-".into(), |b| format!("{:.0}%", b * 100.0)),
            );
        }
    }
    println!(
        "\nclient: the HTTP load generator, or the native client with librdkafka; a side whose \
         machine is not busy waits on latency, not on CPU"
    );
}

/// Above this many cores the HTTP load generator (one tokio worker) is near its limit.
const LOADGEN_BUSY: f64 = 0.8;

fn measured_json(m: &Measured) -> Value {
    json!({
        "records_per_s": m.records_per_s,
        "requests_per_s": m.requests_per_s,
        "mb_per_s": m.mb_per_s,
        "p50_ms": m.p50_ms,
        "p99_ms": m.p99_ms,
        "p999_ms": m.p999_ms,
        "errors": m.errors,
        "cpu_s_per_million_records": m.cpu_s_per_m,
        "peak_rss_mib": m.peak_rss_mib,
        "threads": m.threads,
        "open_fds": m.open_fds,
        "warmup_s": m.warmup_s,
        "steady": m.steady,
        "loadgen_machine_share": m.loadgen.map(|l| l.machine_share),
        "loadgen_cores": m.loadgen.map(|l| l.cores_used),
        "broker_cores": m.loadgen.and_then(|l| l.broker_cores),
        "machine_busy_share": m.loadgen.and_then(|l| l.machine_busy),
    })
}

fn spread_json(s: &Spread) -> Value {
    json!({
        "compare": match s.compare {
            Compare::Throughput => "proxy/native records/s",
            Compare::P99Over => "proxy p99 - native p99, ms",
        },
        "min": s.min,
        "median": s.median,
        "max": s.max,
        "per_pair": s.values,
    })
}

pub(super) fn write_json(
    path: &Path,
    rows: &[Row],
    args: &BenchArgs,
    timing: Timing,
) -> Result<()> {
    let scenarios: BTreeMap<&str, Value> = rows
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                json!({
                    "what": r.what,
                    "proxy": measured_json(&r.proxy),
                    "native": r.native.as_ref().map(measured_json),
                    "ratio_records_per_s": r.spread.as_ref().filter(|s| s.compare == Compare::Throughput).map(|s| s.median),
                    "spread": r.spread.as_ref().map(spread_json),
                    "runs": {
                        "proxy": r.runs.proxy.iter().map(measured_json).collect::<Vec<_>>(),
                        "native": r.runs.native.iter().map(measured_json).collect::<Vec<_>>(),
                    },
                    "note": r.note,
                }),
            )
        })
        .collect();
    let doc = json!({
        "quick": args.quick,
        "indicative_only": args.quick,
        "interleaved": true,
        "target": args.target,
        "warmup_max_s": timing.warmup.as_secs_f64(),
        "measure_s": timing.measure.as_secs_f64(),
        "runs": timing.runs,
        "scenarios": scenarios,
    });
    let text = serde_json::to_string_pretty(&doc).context("serialize results")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
