//! The one load driver of the produce scenarios, shared by the proxy side and the native side,
//! so that the proxy/native ratio compares the two clients and nothing else: the same number of
//! concurrent loops, the same pacing, the same warm-up, the same measured window and the same
//! way of timing a request.
//!
//! Owns the loops (`drive`), their pacing (`Pacing`), the warm-up to a steady state, what is
//! counted in the window and how a run is summarised (`summarize`, percentiles, the median of
//! several runs, the ratio), and the interleaving of the two sides of any scenario
//! ([`interleave`]: proxy run 1, native run 1, proxy run 2, ...) with the spread of the
//! per-pair comparison ([`Spread`]). What one unit of work is (an HTTP request to the proxy, or
//! the same records enqueued on a native producer) is a [`Sender`] in `produce.rs`; what is read
//! from the proxy process around the window is a [`Probe`]; what the load generator itself
//! spent is a [`SelfCpu`] reading.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::budget::Readings;
use super::{Measured, Timing};
use crate::load::proc_cpu_seconds;

/// One loop's client: sends one unit of work (one produce request, or its records natively)
/// and says whether it succeeded. An `Err` is a broken client (a closed connection) and ends
/// the run; `Ok(false)` is a failed request, counted as an error.
pub(super) trait Sender: Send + 'static {
    fn send(&mut self) -> impl Future<Output = Result<bool>> + Send;

    /// The latency of the unit the last `send` finished, where it is not the time `send` took:
    /// a sender that keeps several records in flight (a stream) finishes one per `send` and
    /// knows when that one was sent.
    fn last_latency(&self) -> Option<Duration> {
        None
    }
}

/// What is read around the measured window, exactly when it opens and closes: CPU time and
/// RSS of our proxy process, or nothing.
pub(super) trait Probe {
    fn window_opens(&mut self);
    fn window_closes(&mut self);
}

/// The probe of a side with no process to watch (the native client, an external proxy).
pub(super) struct NoProbe;

impl Probe for NoProbe {
    fn window_opens(&mut self) {}
    fn window_closes(&mut self) {}
}

/// When one loop sends: every `interval`, starting `offset` after the loops start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Pacing {
    pub(super) interval: Duration,
    pub(super) offset: Duration,
}

impl Pacing {
    /// Loop `index` of `loops` sharing a total `rate` per second: each loop sends every
    /// `loops / rate` seconds, and the loops' start times are spread evenly over one interval,
    /// so the sends do not arrive in bursts. `None` (no rate) means as fast as answers come.
    pub(super) fn for_loop(rate: Option<f64>, loops: usize, index: usize) -> Option<Pacing> {
        let interval = Duration::from_secs_f64(loops as f64 / rate?);
        Some(Pacing {
            interval,
            offset: interval.mul_f64(index as f64 / loops as f64),
        })
    }
}

/// What the loops counted in the measured window.
#[derive(Debug, Default)]
pub(super) struct Window {
    pub(super) requests: u64,
    pub(super) errors: u64,
    pub(super) elapsed_s: f64,
    /// Latency of each request in the window, in microseconds.
    pub(super) latencies_us: Vec<u32>,
    /// How long the warm-up ran, and whether it ended on a steady state (not on its cap).
    pub(super) warmup_s: f64,
    pub(super) steady: bool,
    /// The load generator's (this process's) CPU over the window, see [`SelfCpu`].
    pub(super) loadgen: Option<LoadGen>,
}

/// State the loops share with the driver: whether the window is open, whether to stop, and
/// the window's counters.
#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    requests: AtomicU64,
    errors: AtomicU64,
    /// Every finished send, warm-up included: what the warm-up watches.
    completed: AtomicU64,
}

/// The warm-up watches the send rate in windows of this length.
const WARMUP_WINDOW: Duration = Duration::from_secs(1);

/// Two consecutive warm-up windows whose rates differ by at most this share are steady.
const STEADY_WITHIN: f64 = 0.10;

/// Whether two consecutive warm-up window counts are within [`STEADY_WITHIN`] of each other
/// (and something was sent at all).
pub(super) fn steady(previous: u64, current: u64) -> bool {
    let (lo, hi) = (previous.min(current) as f64, previous.max(current) as f64);
    hi > 0.0 && (hi - lo) / hi <= STEADY_WITHIN
}

/// CPU over a stretch of wall time: the load generator's (this process: the HTTP client, or
/// the native client with librdkafka's threads), the broker's and the whole machine's (see
/// `budget.rs`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LoadGen {
    /// CPU seconds / (wall seconds x cores): 1.0 is every core of the machine.
    pub(super) machine_share: f64,
    /// CPU seconds / wall seconds: 1.0 is one core, all the bench runtime's one worker has.
    pub(super) cores_used: f64,
    /// Cores of the machine.
    pub(super) cores: f64,
    /// The share of all cores that was busy, whoever used them (`/proc/stat`).
    pub(super) machine_busy: Option<f64>,
    /// Cores the stack's broker used, when it runs here.
    pub(super) broker_cores: Option<f64>,
}

/// A reading of this process's CPU time (`/proc/self/stat`), the broker's, the machine's and
/// the wall clock.
pub(super) struct SelfCpu {
    cpu: Option<f64>,
    others: Readings,
}

impl SelfCpu {
    pub(super) fn start() -> SelfCpu {
        SelfCpu {
            cpu: proc_cpu_seconds(std::process::id()),
            others: Readings::now(),
        }
    }

    /// What the process (and the broker, and the machine) used since [`SelfCpu::start`].
    pub(super) fn finish(self) -> Option<LoadGen> {
        let cpu = proc_cpu_seconds(std::process::id())? - self.cpu?;
        let wall = self.others.at.elapsed().as_secs_f64().max(1e-3);
        let (broker_cores, machine_busy) = self.others.since();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        Some(LoadGen {
            machine_share: cpu / wall / cores,
            cores_used: cpu / wall,
            cores,
            machine_busy,
            broker_cores,
        })
    }
}

/// Runs one loop per sender (each ready before the clock starts) until the send rate is steady
/// (two consecutive [`WARMUP_WINDOW`]s within [`STEADY_WITHIN`], at most `timing.warmup`), then
/// counts for `timing.measure`, then stops them. With `rate`, the loops together send that
/// many units per second (see [`Pacing::for_loop`]).
pub(super) async fn drive<S: Sender>(
    senders: Vec<S>,
    timing: Timing,
    rate: Option<f64>,
    probe: &mut impl Probe,
) -> Result<Window> {
    let shared = Arc::new(Shared::default());
    let loops = senders.len();
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(index, sender)| {
            let pacing = Pacing::for_loop(rate, loops, index);
            tokio::spawn(run_loop(sender, pacing, Arc::clone(&shared)))
        })
        .collect();
    let warm_started = Instant::now();
    let (mut previous, mut last_total, mut steady_now) = (None, 0, false);
    while warm_started.elapsed() < timing.warmup {
        tokio::time::sleep(WARMUP_WINDOW.min(timing.warmup)).await;
        let total = shared.completed.load(Ordering::Relaxed);
        let count = total - last_total;
        last_total = total;
        if previous.is_some_and(|p| steady(p, count)) {
            steady_now = true;
            break;
        }
        previous = Some(count);
    }
    let warmup_s = warm_started.elapsed().as_secs_f64();
    probe.window_opens();
    let own_cpu = SelfCpu::start();
    shared.measuring.store(true, Ordering::Relaxed);
    let opened = Instant::now();
    tokio::time::sleep(timing.measure).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed_s = opened.elapsed().as_secs_f64();
    let loadgen = own_cpu.finish();
    probe.window_closes();
    shared.stop.store(true, Ordering::Relaxed);
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await.context("load loop panicked")??);
    }
    Ok(Window {
        requests: shared.requests.load(Ordering::Relaxed),
        errors: shared.errors.load(Ordering::Relaxed),
        elapsed_s,
        latencies_us,
        warmup_s,
        steady: steady_now,
        loadgen,
    })
}

/// One loop: waits for its turn (when paced), sends, and counts the send if the window was
/// open when it finished. Returns the latencies it counted.
async fn run_loop<S: Sender>(
    mut sender: S,
    pacing: Option<Pacing>,
    shared: Arc<Shared>,
) -> Result<Vec<u32>> {
    let mut latencies = Vec::new();
    let mut next = tokio::time::Instant::now() + pacing.map_or(Duration::ZERO, |p| p.offset);
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some(pacing) = pacing {
            tokio::time::sleep_until(next).await;
            next += pacing.interval;
        }
        let sent = Instant::now();
        let ok = sender.send().await?;
        shared.completed.fetch_add(1, Ordering::Relaxed);
        if shared.measuring.load(Ordering::Relaxed) {
            latencies.push(micros(
                sender.last_latency().unwrap_or_else(|| sent.elapsed()),
            ));
            shared.requests.fetch_add(1, Ordering::Relaxed);
            if !ok {
                shared.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    Ok(latencies)
}

/// A latency in whole microseconds, saturating (4295 s is far beyond any request).
pub(super) fn micros(duration: Duration) -> u32 {
    u32::try_from(duration.as_micros()).unwrap_or(u32::MAX)
}

/// What one side did in a run, before it is turned into rates.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Totals {
    pub(super) requests: u64,
    pub(super) records: u64,
    /// Bytes of the records as Kafka stores them (values only).
    pub(super) bytes: u64,
    pub(super) errors: u64,
    pub(super) elapsed_s: f64,
}

/// Rates and latency percentiles of one run; the process readings (CPU, RSS) are left for the
/// caller to fill in.
pub(super) fn summarize(totals: Totals, mut latencies_us: Vec<u32>) -> Measured {
    latencies_us.sort_unstable();
    Measured {
        records_per_s: totals.records as f64 / totals.elapsed_s,
        requests_per_s: totals.requests as f64 / totals.elapsed_s,
        mb_per_s: totals.bytes as f64 / totals.elapsed_s / 1e6,
        p50_ms: percentile_ms(&latencies_us, 0.50),
        p99_ms: percentile_ms(&latencies_us, 0.99),
        p999_ms: percentile_ms(&latencies_us, 0.999),
        errors: totals.errors,
        ..Measured::default()
    }
}

/// The `p` quantile (nearest rank) of sorted microsecond latencies, in milliseconds; 0 when
/// there are none.
pub(super) fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 * p).ceil() as usize).clamp(1, sorted_us.len());
    f64::from(sorted_us[rank - 1]) / 1000.0
}

/// CPU seconds per million records from two readings of the process's CPU time.
pub(super) fn cpu_per_million(
    before: Option<f64>,
    after: Option<f64>,
    records: u64,
) -> Option<f64> {
    match (before, after) {
        (Some(before), Some(after)) if records > 0 => Some((after - before) / records as f64 * 1e6),
        _ => None,
    }
}

/// Every run of both sides of one scenario, in the order they ran.
#[derive(Debug, Clone, Default)]
pub(super) struct Sides {
    pub(super) proxy: Vec<Measured>,
    pub(super) native: Vec<Measured>,
}

/// Runs the two sides of a scenario `runs` times alternately, proxy then native (A/B/A/B ...),
/// so that whatever else the machine does in the meantime weighs on both sides alike and the
/// comparison of each pair is fair. Each side is a closure taking the run index; a side that
/// did not read the load generator's CPU itself (the produce driver reads it over its window)
/// gets it read around the whole call.
pub(super) async fn interleave<P, PF, N, NF>(
    id: &str,
    runs: usize,
    mut proxy: P,
    mut native: N,
) -> Result<Sides>
where
    P: FnMut(usize) -> PF,
    PF: Future<Output = Result<Measured>>,
    N: FnMut(usize) -> NF,
    NF: Future<Output = Result<Measured>>,
{
    let mut sides = Sides::default();
    for run in 0..runs {
        println!("[bench] {id}: proxy run {}/{runs} ...", run + 1);
        let own = SelfCpu::start();
        let mut m = proxy(run).await?;
        m.loadgen = m.loadgen.or_else(|| own.finish());
        report_run(id, "proxy", &m);
        sides.proxy.push(m);
        println!("[bench] {id}: native run {}/{runs} ...", run + 1);
        let own = SelfCpu::start();
        let mut m = native(run).await?;
        m.loadgen = m.loadgen.or_else(|| own.finish());
        report_run(id, "native", &m);
        sides.native.push(m);
    }
    Ok(sides)
}

/// One progress line per finished run: the rate, the warm-up and the load generator's CPU.
fn report_run(id: &str, side: &str, m: &Measured) {
    let warmup = match (m.warmup_s, m.steady) {
        (Some(s), Some(true)) => format!(", steady after {s:.0}s warm-up"),
        (Some(s), _) => format!(", NOT steady after {s:.0}s warm-up (cap)"),
        _ => String::new(),
    };
    let loadgen = m.loadgen.map_or(String::new(), |l| {
        format!(
            ", load generator {:.0}% of the machine ({:.2} cores)",
            l.machine_share * 100.0,
            l.cores_used
        )
    });
    println!(
        "[bench] {id}: {side}: {:.0} records/s, p99 {:.2} ms{warmup}{loadgen}",
        m.records_per_s, m.p99_ms
    );
}

/// What a scenario compares between the pairs of runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Compare {
    /// proxy records/s / native records/s.
    Throughput,
    /// proxy p99 - native p99, in milliseconds.
    P99Over,
}

/// The comparison of every interleaved pair (proxy run i against native run i), and its
/// min / median / max.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Spread {
    pub(super) compare: Compare,
    pub(super) values: Vec<f64>,
    pub(super) min: f64,
    pub(super) median: f64,
    pub(super) max: f64,
}

impl Spread {
    pub(super) fn of(compare: Compare, sides: &Sides) -> Option<Spread> {
        let mut values: Vec<f64> = sides
            .proxy
            .iter()
            .zip(&sides.native)
            .map(|(p, n)| match compare {
                Compare::Throughput => ratio(p.records_per_s, n.records_per_s),
                Compare::P99Over => p.p99_ms - n.p99_ms,
            })
            .collect();
        let in_order = values.clone();
        values.sort_by(f64::total_cmp);
        Some(Spread {
            compare,
            min: *values.first()?,
            median: median_value(&values),
            max: *values.last()?,
            values: in_order,
        })
    }
}

/// The median of sorted values (the mean of the middle two of an even count).
pub(super) fn median_value(sorted: &[f64]) -> f64 {
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// The run with the median records/s (the upper one of an even count).
pub(super) fn median_run(runs: Vec<Measured>) -> Option<Measured> {
    median_run_by(runs, |m| m.records_per_s)
}

/// The run with the median `key` (the upper one of an even count).
pub(super) fn median_run_by(
    mut runs: Vec<Measured>,
    key: impl Fn(&Measured) -> f64,
) -> Option<Measured> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| key(a).total_cmp(&key(b)));
    let middle = runs.len() / 2;
    Some(runs.swap_remove(middle))
}

/// `a / b`, or 0 when there is no `b` to compare with.
pub(super) fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paced_loops_share_the_rate_and_start_evenly_spread() {
        let pacing: Vec<Pacing> = (0..4)
            .map(|i| Pacing::for_loop(Some(100.0), 4, i).expect("paced"))
            .collect();
        for p in &pacing {
            assert_eq!(p.interval, Duration::from_millis(40));
        }
        let offsets: Vec<u128> = pacing.iter().map(|p| p.offset.as_millis()).collect();
        assert_eq!(offsets, [0, 10, 20, 30]);
    }

    #[test]
    fn loops_without_a_rate_are_not_paced() {
        assert_eq!(Pacing::for_loop(None, 16, 3), None);
    }

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let lat: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        let m = summarize(
            Totals {
                requests: 1000,
                records: 1000,
                elapsed_s: 1.0,
                ..Totals::default()
            },
            lat,
        );
        assert_eq!(m.p50_ms, 500.0);
        assert_eq!(m.p99_ms, 990.0);
        assert_eq!(m.p999_ms, 999.0);
        assert_eq!(percentile_ms(&[], 0.5), 0.0);
        assert_eq!(percentile_ms(&[7000], 0.999), 7.0);
    }

    #[test]
    fn summaries_are_rates_over_the_window() {
        let m = summarize(
            Totals {
                requests: 50,
                records: 5000,
                bytes: 2_000_000,
                errors: 2,
                elapsed_s: 2.0,
            },
            vec![3000, 1000, 2000],
        );
        assert_eq!(m.requests_per_s, 25.0);
        assert_eq!(m.records_per_s, 2500.0);
        assert_eq!(m.mb_per_s, 1.0);
        assert_eq!(m.errors, 2);
        assert_eq!(m.p50_ms, 2.0);
    }

    #[test]
    fn the_median_run_is_the_middle_one_by_records_per_second() {
        let run = |records_per_s| Measured {
            records_per_s,
            ..Measured::default()
        };
        let median = median_run(vec![run(3.0), run(1.0), run(2.0)]).expect("a run");
        assert_eq!(median.records_per_s, 2.0);
        let one = median_run(vec![run(5.0)]).expect("a run");
        assert_eq!(one.records_per_s, 5.0);
        assert!(median_run(Vec::new()).is_none());
    }

    #[test]
    fn steady_means_two_windows_within_ten_percent() {
        assert!(steady(1000, 1090));
        assert!(steady(1090, 1000));
        assert!(!steady(1000, 1200));
        assert!(!steady(0, 0));
    }

    #[test]
    fn the_spread_compares_each_interleaved_pair() {
        let run = |records_per_s, p99_ms| Measured {
            records_per_s,
            p99_ms,
            ..Measured::default()
        };
        let sides = Sides {
            proxy: vec![run(80.0, 3.0), run(90.0, 2.0), run(40.0, 9.0)],
            native: vec![run(100.0, 2.0), run(100.0, 1.5), run(100.0, 2.0)],
        };
        let s = Spread::of(Compare::Throughput, &sides).expect("pairs");
        assert_eq!((s.min, s.median, s.max), (0.4, 0.8, 0.9));
        assert_eq!(s.values, vec![0.8, 0.9, 0.4]);
        let s = Spread::of(Compare::P99Over, &sides).expect("pairs");
        assert_eq!((s.min, s.median, s.max), (0.5, 1.0, 7.0));
        assert!(Spread::of(Compare::Throughput, &Sides::default()).is_none());
        assert_eq!(median_value(&[1.0, 2.0, 4.0, 8.0]), 3.0);
    }

    #[test]
    fn ratios_and_cpu_per_million_guard_against_nothing_measured() {
        assert_eq!(ratio(1.0, 2.0), 0.5);
        assert_eq!(ratio(1.0, 0.0), 0.0);
        assert_eq!(cpu_per_million(Some(1.0), Some(3.0), 1_000_000), Some(2.0));
        assert_eq!(cpu_per_million(Some(1.0), Some(3.0), 0), None);
        assert_eq!(cpu_per_million(None, Some(3.0), 10), None);
    }
}
