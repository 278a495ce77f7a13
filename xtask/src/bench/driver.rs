//! The one load driver of the produce scenarios, shared by the proxy side and the native side,
//! so that the proxy/native ratio compares the two clients and nothing else: the same number of
//! concurrent loops, the same pacing, the same warm-up, the same measured window and the same
//! way of timing a request.
//!
//! Owns the loops (`drive`), their pacing (`Pacing`), what is counted in the window and how a
//! run is summarised (`summarize`, percentiles, the median of several runs, the ratio). What
//! one unit of work is (an HTTP request to the proxy, or the same records enqueued on a native
//! producer) is a [`Sender`] in `produce.rs`; what is read from the proxy process around the
//! window is a [`Probe`].

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use super::{Measured, Timing};

/// One loop's client: sends one unit of work (one produce request, or its records natively)
/// and says whether it succeeded. An `Err` is a broken client (a closed connection) and ends
/// the run; `Ok(false)` is a failed request, counted as an error.
pub(super) trait Sender: Send + 'static {
    fn send(&mut self) -> impl Future<Output = Result<bool>> + Send;
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
}

/// State the loops share with the driver: whether the window is open, whether to stop, and
/// the window's counters.
#[derive(Default)]
struct Shared {
    measuring: AtomicBool,
    stop: AtomicBool,
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Runs one loop per sender (each ready before the clock starts) for `timing.warmup`, then
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
    tokio::time::sleep(timing.warmup).await;
    probe.window_opens();
    shared.measuring.store(true, Ordering::Relaxed);
    let opened = Instant::now();
    tokio::time::sleep(timing.measure).await;
    shared.measuring.store(false, Ordering::Relaxed);
    let elapsed_s = opened.elapsed().as_secs_f64();
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
        if shared.measuring.load(Ordering::Relaxed) {
            latencies.push(micros(sent.elapsed()));
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

/// Runs `f` `runs` times and keeps the run with the median records/s.
pub(super) async fn median_of<F, Fut>(runs: usize, mut f: F) -> Result<Measured>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<Measured>>,
{
    let mut all = Vec::with_capacity(runs);
    for run in 0..runs {
        all.push(f(run).await?);
    }
    median_run(all).context("no runs to take the median of")
}

/// The run with the median records/s (the upper one of an even count).
pub(super) fn median_run(mut runs: Vec<Measured>) -> Option<Measured> {
    if runs.is_empty() {
        return None;
    }
    runs.sort_by(|a, b| a.records_per_s.total_cmp(&b.records_per_s));
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
    fn ratios_and_cpu_per_million_guard_against_nothing_measured() {
        assert_eq!(ratio(1.0, 2.0), 0.5);
        assert_eq!(ratio(1.0, 0.0), 0.0);
        assert_eq!(cpu_per_million(Some(1.0), Some(3.0), 1_000_000), Some(2.0));
        assert_eq!(cpu_per_million(Some(1.0), Some(3.0), 0), None);
        assert_eq!(cpu_per_million(None, Some(3.0), 10), None);
    }
}
