//! The v3 produce rate limits (`api.v3.produce.rate.limit.*`): token buckets for records and
//! bytes per second, one pair for the cluster id of the path and one for the whole process,
//! each refilled continuously and holding at most one second's worth.
//!
//! The proxy serves one cluster, and a path naming another is refused before produce, so the
//! per-cluster pair is one pair, not a map that clients could grow. A check takes from all four
//! buckets or from none.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// The rates, per second.
#[derive(Debug, Clone, Copy)]
pub struct RateSettings {
    pub enabled: bool,
    pub records: u64,
    pub records_global: u64,
    pub bytes: u64,
    pub bytes_global: u64,
}

/// A check that found a bucket empty; nothing was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimited {
    /// How long until the emptiest bucket holds what was asked.
    pub wait: Duration,
}

impl RateLimited {
    /// `Retry-After` in whole seconds, at least 1.
    pub fn retry_after_secs(&self) -> u64 {
        self.wait.as_secs_f64().ceil().max(1.0) as u64
    }
}

/// The shared limiter. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ProduceRates {
    enabled: bool,
    /// Records and bytes of the cluster, then of the process.
    buckets: Arc<Mutex<[Bucket; 4]>>,
}

#[derive(Debug)]
struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: u64) -> Bucket {
        Bucket {
            rate: rate as f64,
            tokens: rate as f64,
            at: Instant::now(),
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        self.at = now;
    }

    /// How long until `amount` is available (zero if it is). An amount larger than the
    /// bucket is measured against a full bucket, so one big request is not refused forever.
    fn wait_for(&self, amount: f64) -> Duration {
        let amount = amount.min(self.rate);
        if self.tokens >= amount {
            Duration::ZERO
        } else {
            Duration::from_secs_f64((amount - self.tokens) / self.rate)
        }
    }
}

impl ProduceRates {
    pub fn new(settings: RateSettings) -> ProduceRates {
        ProduceRates {
            enabled: settings.enabled,
            buckets: Arc::new(Mutex::new([
                Bucket::new(settings.records.max(1)),
                Bucket::new(settings.bytes.max(1)),
                Bucket::new(settings.records_global.max(1)),
                Bucket::new(settings.bytes_global.max(1)),
            ])),
        }
    }

    /// Takes `records` and `bytes` from the buckets, or nothing if any is short.
    pub fn check(&self, records: u64, bytes: u64) -> Result<(), RateLimited> {
        if !self.enabled {
            // No clock read per record when no limit is set.
            return Ok(());
        }
        self.check_at(records, bytes, Instant::now())
    }

    fn check_at(&self, records: u64, bytes: u64, now: Instant) -> Result<(), RateLimited> {
        if !self.enabled {
            return Ok(());
        }
        // Only numbers are changed under the lock; a panic cannot leave it half-done.
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let amounts = [records as f64, bytes as f64, records as f64, bytes as f64];
        let mut wait = Duration::ZERO;
        for (bucket, amount) in buckets.iter_mut().zip(amounts) {
            bucket.refill(now);
            wait = wait.max(bucket.wait_for(amount));
        }
        if !wait.is_zero() {
            return Err(RateLimited { wait });
        }
        for (bucket, amount) in buckets.iter_mut().zip(amounts) {
            bucket.tokens = (bucket.tokens - amount).max(0.0);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rates(enabled: bool, records: u64) -> ProduceRates {
        ProduceRates::new(RateSettings {
            enabled,
            records,
            records_global: 1_000_000,
            bytes: 1_000_000,
            bytes_global: 1_000_000,
        })
    }

    #[test]
    fn a_bucket_refuses_when_empty_and_refills_with_time() {
        let r = rates(true, 2);
        let t0 = Instant::now();
        assert!(r.check_at(1, 10, t0).is_ok());
        assert!(r.check_at(1, 10, t0).is_ok());
        let limited = r.check_at(1, 10, t0).expect_err("empty");
        assert_eq!(limited.retry_after_secs(), 1);
        let later = t0 + Duration::from_millis(600);
        assert!(r.check_at(1, 10, later).is_ok());
        assert!(r.check_at(1, 10, later).is_err());
    }

    #[test]
    fn disabled_limits_never_refuse() {
        let r = rates(false, 1);
        for _ in 0..100 {
            assert!(r.check(1, 1_000_000_000).is_ok());
        }
    }
}
