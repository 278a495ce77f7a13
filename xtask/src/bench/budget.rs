//! Where the CPU of a run goes, and the ratio a proxy that cost nothing could reach.
//!
//! On this machine the proxy, the broker and the load generator share the cores, so a
//! throughput ratio is decided by CPU per record: each record costs the broker its share, the
//! client its share (librdkafka on the native side, the HTTP client on the proxy side) and, on
//! the proxy side, the proxy. Around every measured window the driver reads, besides the
//! load generator's own CPU, the broker's (`/proc/PID/stat` of the stack's `kafka-1`) and the
//! whole machine's (`/proc/stat`: busy against total time of all cores).
//!
//! From those the report derives, for produce rows whose native side keeps the machine busy
//! (at least [`CPU_BOUND`]), a **ceiling**: the ratio a proxy would reach if it cost no more
//! than the native client it wraps. Such a proxy still runs the same librdkafka producer (the
//! native client's CPU per record) and the same broker work, and it still makes the HTTP client
//! send every record and read every answer. So its side needs, per record, everything the
//! native side's machine spent plus the HTTP client's CPU less the driver's own bookkeeping
//! (which the native side's reading already holds; measured once per invocation with a client
//! that does nothing, [`driver_cost_per_unit`]). With the machine as busy as on the native
//! side, the ceiling is `native / (native + http)` in machine seconds per record. It leaves
//! out the proxy's own share of receiving and answering (its socket reads and writes), so a
//! real proxy stays below it.

use std::time::{Duration, Instant};

use anyhow::Result;

use super::driver::{drive, NoProbe, Sender};
use super::{Measured, Row, Timing};
use crate::load::proc_cpu_seconds;

/// A native side that keeps at least this share of all cores busy is CPU-bound: the ceiling
/// applies. Below it the native side waits (on latency, e.g. one record per request) and
/// the machine has room the proxy side could use.
pub(super) const CPU_BOUND: f64 = 0.90;

/// Busy and total time of all cores, in clock ticks (`/proc/stat`'s first line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct MachineTicks {
    busy: u64,
    total: u64,
}

impl MachineTicks {
    pub(super) fn read() -> Option<MachineTicks> {
        parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
    }

    /// The share of all cores busy between `self` and `later` (1.0: every core all the time).
    pub(super) fn busy_share_until(self, later: MachineTicks) -> Option<f64> {
        let total = later.total.checked_sub(self.total)?;
        let busy = later.busy.checked_sub(self.busy)?;
        (total > 0).then(|| busy as f64 / total as f64)
    }
}

/// The aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal
/// (guest time is already inside user). Idle and iowait are not busy.
fn parse_proc_stat(text: &str) -> Option<MachineTicks> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    let [user, nice, system, idle, iowait, irq, softirq, steal] = fields[..] else {
        return None;
    };
    let busy = user + nice + system + irq + softirq + steal;
    Some(MachineTicks {
        busy,
        total: busy + idle + iowait,
    })
}

/// CPU seconds of the stack's first broker so far, when the stack runs here.
pub(super) fn broker_cpu_seconds() -> Option<f64> {
    let pid_file = crate::stack::pid_dir().join("kafka-1.pid");
    let pid: u32 = std::fs::read_to_string(pid_file)
        .ok()?
        .trim()
        .parse()
        .ok()?;
    proc_cpu_seconds(pid)
}

/// A client that does nothing: one yield per unit, so the driver's loops, counters and
/// latency bookkeeping are all that runs.
struct Idle;

impl Sender for Idle {
    async fn send(&mut self) -> Result<bool> {
        tokio::task::yield_now().await;
        Ok(true)
    }
}

/// CPU seconds the driver itself spends per unit (loop turn, counters, latency sample, a
/// wake-up), measured with 16 loops of a client that does nothing for one second.
pub(super) async fn driver_cost_per_unit() -> Result<Option<f64>> {
    let timing = Timing {
        warmup: Duration::ZERO,
        measure: Duration::from_secs(1),
        runs: 1,
    };
    let window = drive((0..16).map(|_| Idle).collect(), timing, None, &mut NoProbe).await?;
    Ok(window
        .loadgen
        .filter(|_| window.requests > 0)
        .map(|l| l.cores_used * window.elapsed_s / window.requests as f64))
}

/// Microseconds per record of a CPU rate (cores busy) at `records_per_s`.
fn micros_per_record(cores: f64, records_per_s: f64) -> Option<f64> {
    (records_per_s > 0.0).then(|| cores / records_per_s * 1e6)
}

/// Machine microseconds per record of a side: all cores' busy time over its records.
fn machine_per_record(m: &Measured) -> Option<f64> {
    let l = m.loadgen?;
    micros_per_record(l.machine_busy? * l.cores, m.records_per_s)
}

/// The HTTP client's microseconds per record on the proxy side, less the driver's share.
fn http_client_per_record(m: &Measured, driver_unit_s: Option<f64>) -> Option<f64> {
    let client = micros_per_record(m.loadgen?.cores_used, m.records_per_s)?;
    // A driver unit is a request; a stream's unit is a record (it has no request rate).
    let units_per_record = if m.requests_per_s > 0.0 {
        m.requests_per_s / m.records_per_s
    } else {
        1.0
    };
    let driver = driver_unit_s.unwrap_or(0.0) * 1e6 * units_per_record;
    Some((client - driver).max(0.0))
}

/// The ratio a proxy costing no more than the native client could reach, for a produce row
/// whose native side is CPU-bound; `None` where that does not apply or was not measured.
pub(super) fn ceiling(row: &Row, driver_unit_s: Option<f64>) -> Option<f64> {
    if !row.id.starts_with('P') {
        return None;
    }
    let native = row.native.as_ref()?;
    if native.loadgen?.machine_busy? < CPU_BOUND {
        return None;
    }
    let native_machine = machine_per_record(native)?;
    let http = http_client_per_record(&row.proxy, driver_unit_s)?;
    Some(native_machine / (native_machine + http))
}

/// One side's CPU per record: proxy, client, broker, whole machine, and its busy share.
pub(super) struct PerRecord {
    pub(super) proxy_us: Option<f64>,
    pub(super) client_us: Option<f64>,
    pub(super) broker_us: Option<f64>,
    pub(super) machine_us: Option<f64>,
    pub(super) machine_busy: Option<f64>,
}

pub(super) fn per_record(m: &Measured) -> PerRecord {
    let l = m.loadgen;
    PerRecord {
        // CPU seconds per million records are microseconds per record.
        proxy_us: m.cpu_s_per_m,
        client_us: l.and_then(|l| micros_per_record(l.cores_used, m.records_per_s)),
        broker_us: l
            .and_then(|l| l.broker_cores)
            .and_then(|b| micros_per_record(b, m.records_per_s)),
        machine_us: machine_per_record(m),
        machine_busy: l.and_then(|l| l.machine_busy),
    }
}

/// When the readings of a window were taken, to turn CPU seconds into cores.
pub(super) struct Readings {
    pub(super) broker: Option<f64>,
    pub(super) machine: Option<MachineTicks>,
    pub(super) at: Instant,
}

impl Readings {
    pub(super) fn now() -> Readings {
        Readings {
            broker: broker_cpu_seconds(),
            machine: MachineTicks::read(),
            at: Instant::now(),
        }
    }

    /// Broker cores and machine busy share since `self`.
    pub(super) fn since(&self) -> (Option<f64>, Option<f64>) {
        let later = Readings::now();
        let wall = later.at.duration_since(self.at).as_secs_f64().max(1e-3);
        let broker = match (self.broker, later.broker) {
            (Some(a), Some(b)) => Some((b - a) / wall),
            _ => None,
        };
        let busy = match (self.machine, later.machine) {
            (Some(a), Some(b)) => a.busy_share_until(b),
            _ => None,
        };
        (broker, busy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::driver::LoadGen;

    #[test]
    fn proc_stat_counts_idle_and_iowait_as_not_busy() {
        let text = "cpu  100 5 50 800 20 3 2 10 0 0\ncpu0 50 2 25 400 10 1 1 5 0 0\n";
        let t = parse_proc_stat(text).expect("parsed");
        assert_eq!(t.busy, 100 + 5 + 50 + 3 + 2 + 10);
        assert_eq!(t.total, t.busy + 800 + 20);
        let later = MachineTicks {
            busy: t.busy + 150,
            total: t.total + 200,
        };
        assert_eq!(t.busy_share_until(later), Some(0.75));
        assert_eq!(later.busy_share_until(t), None);
        assert_eq!(parse_proc_stat("cpu0 1 2 3\n"), None);
    }

    fn side(records_per_s: f64, requests_per_s: f64, cores_used: f64, busy: f64) -> Measured {
        Measured {
            records_per_s,
            requests_per_s,
            loadgen: Some(LoadGen {
                machine_share: cores_used / 2.0,
                cores_used,
                cores: 2.0,
                machine_busy: Some(busy),
                broker_cores: Some(1.0),
            }),
            ..Measured::default()
        }
    }

    fn row(id: &str, proxy: Measured, native: Measured) -> Row {
        Row {
            id: id.into(),
            what: String::new(),
            proxy,
            native: Some(native),
            note: String::new(),
            spread: None,
            runs: Default::default(),
        }
    }

    #[test]
    fn the_ceiling_adds_the_http_client_to_what_the_native_side_spent() {
        // Native: 2 cores busy for 500,000 records/s: 4 µs per record. Proxy side's HTTP
        // client: 0.2 cores for 200,000 records/s: 1 µs per record, of which the driver
        // spends 0.2 µs per unit (one unit per record in a stream).
        let r = row(
            "P5",
            side(200_000.0, 0.0, 0.2, 1.0),
            side(500_000.0, 0.0, 0.8, 1.0),
        );
        let c = ceiling(&r, Some(0.2e-6)).expect("a ceiling");
        assert!((c - 4.0 / 4.8).abs() < 1e-9, "{c}");
        // Without the driver's cost measured, the whole client counts.
        let c = ceiling(&r, None).expect("a ceiling");
        assert!((c - 0.8).abs() < 1e-9, "{c}");
        // A request of 100 records: the driver's cost is shared by them.
        let r = row(
            "P1",
            side(200_000.0, 2_000.0, 0.2, 1.0),
            side(500_000.0, 5_000.0, 0.8, 1.0),
        );
        let c = ceiling(&r, Some(10e-6)).expect("a ceiling");
        assert!((c - 4.0 / 4.9).abs() < 1e-9, "{c}");
    }

    #[test]
    fn no_ceiling_where_the_native_side_is_not_cpu_bound_or_it_is_not_produce() {
        let r = row(
            "P2",
            side(20_000.0, 20_000.0, 0.2, 0.9),
            side(38_000.0, 38_000.0, 0.2, 0.6),
        );
        assert_eq!(ceiling(&r, None), None);
        let r = row(
            "C1",
            side(200_000.0, 40.0, 0.2, 1.0),
            side(500_000.0, 0.0, 0.8, 1.0),
        );
        assert_eq!(ceiling(&r, None), None);
    }
}
