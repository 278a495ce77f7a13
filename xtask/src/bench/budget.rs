//! Where the CPU of a run goes: per record, the proxy's, the client's, the broker's and the
//! whole machine's, and how busy the machine was.
//!
//! On this machine the proxy, the broker and the load generator share the cores. Around every
//! measured window the driver reads, besides the load generator's own CPU, the broker's
//! (`/proc/PID/stat` of the stack's `kafka-1`) and the whole machine's (`/proc/stat`: busy
//! against total time of all cores). A side that keeps the machine busy is bound by its CPU
//! per record; one that leaves cores idle waits on something else (the latency of one record
//! per request, or of a window of records awaiting delivery), and the other side's extra CPU
//! per record is then what a ratio below 1 comes from.

use std::time::Instant;

use super::Measured;
use crate::load::proc_cpu_seconds;

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

/// Microseconds per record of a CPU rate (cores busy) at `records_per_s`.
fn micros_per_record(cores: f64, records_per_s: f64) -> Option<f64> {
    (records_per_s > 0.0).then(|| cores / records_per_s * 1e6)
}

/// Machine microseconds per record of a side: all cores' busy time over its records.
fn machine_per_record(m: &Measured) -> Option<f64> {
    let l = m.loadgen?;
    micros_per_record(l.machine_busy? * l.cores, m.records_per_s)
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
}
