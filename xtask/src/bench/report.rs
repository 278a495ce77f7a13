//! The bench report: a Markdown table of both sides of every scenario, one line per scenario
//! saying what it did and how it compares with its target, and the same results as JSON.
//!
//! Owns the presentation only; the numbers come from `driver.rs` and the scenarios.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde_json::{json, Value};

use super::driver::ratio;
use super::{BenchArgs, Measured, Row, Timing};

pub(super) fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | side | records/s | req/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors | CPU s / M rec | peak RSS MiB | threads | proxy/native |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let fmt_opt = |v: Option<f64>, digits: usize| {
            v.map(|x| format!("{x:.digits$}"))
                .unwrap_or_else(|| "-".into())
        };
        let m = &row.proxy;
        let ratio_text = row
            .native
            .as_ref()
            .map(|n| format!("{:.2}", ratio(m.records_per_s, n.records_per_s)))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | proxy | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
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
            ratio_text
        );
        if let Some(n) = &row.native {
            println!(
                "| {} | native | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | - | - | - | |",
                row.id,
                n.records_per_s,
                n.requests_per_s,
                n.mb_per_s,
                n.p50_ms,
                n.p99_ms,
                n.p999_ms,
                n.errors
            );
        }
    }
    println!();
    for row in rows {
        println!("{}: {} ({})", row.id, row.what, row.note);
    }
}

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
                    "ratio_records_per_s": r.native.as_ref().map(|n| ratio(r.proxy.records_per_s, n.records_per_s)),
                    "note": r.note,
                }),
            )
        })
        .collect();
    let doc = json!({
        "quick": args.quick,
        "target": args.target,
        "warmup_s": timing.warmup.as_secs_f64(),
        "measure_s": timing.measure.as_secs_f64(),
        "runs": timing.runs,
        "scenarios": scenarios,
    });
    let text = serde_json::to_string_pretty(&doc).context("serialize results")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
