//! The bench pictures: SVG bar charts drawn from the results JSON that `report.rs` writes, so a
//! saved run can be drawn again (`--from`) and a fresh run is drawn next to its JSON
//! (`--report DIR`). `throughput.svg` puts records/s of the proxy beside the native client for
//! every scenario; `latency.svg` puts p50, p99 and p99.9 of both sides on a log scale.
//!
//! Owns the drawing only, as plain SVG text without a plotting library; the numbers are the
//! JSON's.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

const PROXY: &str = "#1f77b4";
const NATIVE: &str = "#ff7f0e";
const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 90.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 70.0;

/// One bar: its value, colour and fill opacity.
type Bar<'a> = (f64, &'a str, f64);

/// A labelled group of bars.
type Group<'a> = (String, Vec<Bar<'a>>);

/// One scenario's figures for the charts.
struct Scenario<'a> {
    id: &'a str,
    proxy: &'a Value,
    native: Option<&'a Value>,
}

fn scenarios(doc: &Value) -> Vec<Scenario<'_>> {
    doc["scenarios"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(id, s)| Scenario {
            id,
            proxy: &s["proxy"],
            native: s["native"].is_object().then_some(&s["native"]),
        })
        .collect()
}

/// A scenario's label under its bars: the floor rows (R2, RL1) say that their "proxy" bar is
/// the floor server's.
fn label(id: &str) -> String {
    if id.starts_with('R') {
        format!("{id} (floor)")
    } else {
        id.to_string()
    }
}

fn number(v: &Value, key: &str) -> Option<f64> {
    v[key].as_f64().filter(|x| x.is_finite() && *x > 0.0)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The start of an SVG document with a white background, a title and the legend.
fn open(title: &str, legend: &[(&str, &str)]) -> String {
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{HEIGHT}\" \
         viewBox=\"0 0 {WIDTH} {HEIGHT}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{}\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">{}</text>\n",
        WIDTH / 2.0,
        escape(title)
    );
    let mut x = LEFT;
    for (label, colour) in legend {
        let _ = writeln!(
            svg,
            "<rect x=\"{x}\" y=\"34\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"43\">{}</text>",
            x + 14.0,
            escape(label)
        );
        x += 24.0 + 7.0 * label.len() as f64;
    }
    svg
}

/// A bar chart of `groups` (a label and its bars: value, colour, fill opacity), on a linear
/// or a log10 axis in `unit`.
fn bars(
    title: &str,
    unit: &str,
    log: bool,
    legend: &[(&str, &str)],
    groups: &[Group<'_>],
) -> String {
    let mut svg = open(title, legend);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let max = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(v, _, _)| *v))
        .fold(0.0_f64, f64::max)
        .max(1e-9);
    // The axis: linear from 0 to a round maximum, or log10 over whole decades.
    let (low, high) = if log {
        let min = groups
            .iter()
            .flat_map(|(_, b)| b.iter().map(|(v, _, _)| *v))
            .fold(f64::INFINITY, f64::min);
        (
            min.log10().floor(),
            max.log10().ceil().max(min.log10().floor() + 1.0),
        )
    } else {
        let step = 10f64.powf(max.log10().floor());
        (0.0, (max / step).ceil() * step)
    };
    let y_of = |v: f64| {
        let t = if log { v.log10() } else { v };
        TOP + plot_h * (1.0 - ((t - low) / (high - low)).clamp(0.0, 1.0))
    };
    let ticks: Vec<f64> = if log {
        (low as i32..=high as i32).map(|e| 10f64.powi(e)).collect()
    } else {
        (0..=5).map(|i| high * f64::from(i) / 5.0).collect()
    };
    for tick in ticks {
        let y = y_of(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{LEFT}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
             <text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            WIDTH - RIGHT,
            LEFT - 6.0,
            y + 4.0,
            tick_label(tick)
        );
    }
    let _ = writeln!(
        svg,
        "<text x=\"16\" y=\"{:.1}\" transform=\"rotate(-90 16 {:.1})\" text-anchor=\"middle\">{}</text>",
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0,
        escape(unit)
    );
    let slot = plot_w / groups.len().max(1) as f64;
    for (i, (label, group)) in groups.iter().enumerate() {
        let x0 = LEFT + slot * i as f64;
        let bar_w = (slot * 0.8) / group.len().max(1) as f64;
        for (j, (value, colour, opacity)) in group.iter().enumerate() {
            let x = x0 + slot * 0.1 + bar_w * j as f64;
            let y = y_of(*value);
            let base = if log {
                y_of(10f64.powf(low))
            } else {
                y_of(0.0)
            };
            let _ = writeln!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\" \
                 fill-opacity=\"{opacity}\"><title>{}: {}</title></rect>",
                (bar_w - 2.0).max(1.0),
                (base - y).max(0.0),
                escape(label),
                tick_label(*value)
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x0 + slot / 2.0,
            HEIGHT - BOTTOM + 18.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn tick_label(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.0}k", v / 1e3)
    } else if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// `throughput.svg`: records/s of the proxy and the native client per scenario.
pub(super) fn throughput(doc: &Value) -> String {
    let groups: Vec<Group<'_>> = scenarios(doc)
        .iter()
        .filter_map(|s| {
            let proxy = number(s.proxy, "records_per_s")?;
            let mut bars = vec![(proxy, PROXY, 1.0)];
            if let Some(native) = s.native.and_then(|n| number(n, "records_per_s")) {
                bars.push((native, NATIVE, 1.0));
            }
            Some((label(s.id), bars))
        })
        .collect();
    bars(
        "Throughput: proxy and native client",
        "records/s",
        false,
        &[("proxy", PROXY), ("native", NATIVE)],
        &groups,
    )
}

/// `latency.svg`: p50, p99 and p99.9 of both sides per scenario, on a log scale.
pub(super) fn latency(doc: &Value) -> String {
    let groups: Vec<Group<'_>> = scenarios(doc)
        .iter()
        .filter_map(|s| {
            let mut bars = Vec::new();
            for (key, opacity) in [("p50_ms", 1.0), ("p99_ms", 0.7), ("p999_ms", 0.4)] {
                if let Some(v) = number(s.proxy, key) {
                    bars.push((v, PROXY, opacity));
                }
                if let Some(v) = s.native.and_then(|n| number(n, key)) {
                    bars.push((v, NATIVE, opacity));
                }
            }
            (!bars.is_empty()).then(|| (label(s.id), bars))
        })
        .collect();
    bars(
        "Latency: p50, p99, p99.9 (lighter is higher), proxy and native client",
        "ms (log scale)",
        true,
        &[("proxy", PROXY), ("native", NATIVE)],
        &groups,
    )
}

/// Writes both charts of `doc` into `dir`; returns their paths.
pub(super) fn write(dir: &Path, doc: &Value) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, svg) in [
        ("throughput.svg", throughput(doc)),
        ("latency.svg", latency(doc)),
    ] {
        let path = dir.join(name);
        std::fs::write(&path, svg).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({"scenarios": {
            "P1-16": {
                "proxy": {"records_per_s": 400000.0, "p50_ms": 3.7, "p99_ms": 9.0, "p999_ms": 17.5},
                "native": {"records_per_s": 600000.0, "p50_ms": 2.4, "p99_ms": 5.8, "p999_ms": 10.9}
            },
            "M1 <idle>": {
                "proxy": {"records_per_s": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "p999_ms": 0.0},
                "native": null
            }
        }})
    }

    #[test]
    fn throughput_draws_one_bar_per_side_and_skips_scenarios_without_records() {
        let svg = throughput(&doc());
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<title>P1-16: ").count(), 2, "{svg}");
        assert!(svg.contains("<title>P1-16: 400k</title>"));
        assert!(svg.contains("<title>P1-16: 600k</title>"));
        assert!(!svg.contains("M1"), "{svg}");
    }

    #[test]
    fn latency_draws_three_percentiles_per_side_on_a_log_axis_and_escapes_text() {
        let svg = latency(&doc());
        assert_eq!(svg.matches("<title>P1-16: ").count(), 6, "{svg}");
        // Decades from 1 ms to 100 ms cover 2.4 ms to 17.5 ms.
        for tick in [">1<", ">10<", ">100<"] {
            assert!(svg.contains(tick), "{tick} in {svg}");
        }
        let text = bars("a <b> & c", "u", false, &[], &[]);
        assert!(text.contains("a &lt;b&gt; &amp; c"));
    }
}
