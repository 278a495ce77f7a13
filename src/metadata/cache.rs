//! The rules of the metadata cache, without any I/O: which snapshot a request may be answered
//! with, when it must wait for a fetch, what readiness reports, and which topics are known to
//! be absent.
//!
//! `mod.rs` owns the fetches (one at a time, on a task of their own) and the waiting; this
//! module only decides, so that every rule is unit-tested without Kafka or a clock.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::error::KafkaError;

use super::PartitionInfo;
use crate::blocking::Busy;

/// Most topic names the negative cache holds. A name Kafka could hold has at most 249 bytes,
/// so the cache holds at most about 2.5 MB of names.
pub(super) const NEGATIVE_CACHE_CAPACITY: usize = 10_000;

/// An owned copy of one cluster metadata response.
#[derive(Debug)]
pub(super) struct Snapshot {
    /// When the fetch that produced it was started: it knows every topic created before.
    pub fetched: Instant,
    /// When that fetch finished.
    pub finished: Instant,
    pub brokers: Vec<i32>,
    /// Topic name -> partitions sorted by id. Topics with an error are left out.
    pub topics: BTreeMap<String, Vec<PartitionInfo>>,
}

/// Why a fetch gave no snapshot. Cloned to every request that waited for that fetch.
#[derive(Debug, Clone)]
pub(super) enum FetchError {
    /// Kafka did not answer (in time).
    Kafka(KafkaError),
    /// No blocking-call permit was free within `metadata.timeout.ms`.
    Busy(Busy),
    /// The fetch task ended without an outcome (it panicked, or the runtime is shutting down).
    Aborted,
}

/// How old the snapshot a request accepts may be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    /// The cached snapshot, refreshed when older than `metadata.cache.ms`.
    Cached,
    /// A snapshot whose fetch started at or after this instant (a topic or partition the cached
    /// snapshot does not know may have been created since).
    FetchedAfter(Instant),
}

/// What a request does next.
#[derive(Debug)]
pub(super) enum Answer {
    /// Use this snapshot.
    Use(Arc<Snapshot>),
    /// Use this snapshot, which has expired, and start a refresh unless one runs: the request
    /// does not wait for it (stale-while-revalidate).
    UseAndRefresh(Arc<Snapshot>),
    /// Fail with the error of the latest fetch.
    Fail(FetchError),
    /// Wait for the fetch in progress (start one if none runs), then ask again.
    Wait,
}

/// The durations the rules depend on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Policy {
    /// `metadata.cache.ms`: how long a snapshot, or a failed fetch, answers requests.
    pub max_age: Duration,
    /// How much longer an expired snapshot answers while it is being refreshed: the refresh's
    /// own bound (`metadata.timeout.ms`), so a snapshot is never served for longer than the
    /// refresh that replaces it may take.
    pub stale_for: Duration,
    /// `metadata.negative.cache.ms`: how long a topic a fetch did not have is unknown without
    /// asking Kafka again.
    pub negative_ttl: Duration,
}

/// The latest fetch outcomes. Behind a std mutex in `mod.rs`, held only to read or update
/// these fields, never across an await.
#[derive(Debug, Default)]
pub(super) struct Cache {
    /// The latest successful fetch.
    snapshot: Option<Arc<Snapshot>>,
    /// The latest failed fetch, if it is later than `snapshot` (a success clears it): when it
    /// finished and why.
    failed: Option<(Instant, FetchError)>,
    /// When the fetch in progress was started; `None` while none runs.
    refreshing: Option<Instant>,
    /// Topics a fetch did not have -> when that fetch was started (the negative cache), at
    /// most [`NEGATIVE_CACHE_CAPACITY`] of them.
    absent: HashMap<String, Instant>,
    /// When expired entries were last dropped from `absent`, so that a full negative cache is
    /// scanned at most once per `negative_ttl`.
    absent_purged: Option<Instant>,
}

impl Cache {
    /// The answer for a request that began waiting at `asked`.
    ///
    /// A request that waited for a fetch finishing after it asked takes that fetch's outcome,
    /// whatever its age: so each request waits for at most one fetch of its own kind (two for
    /// [`Want::FetchedAfter`] when a fetch started before it asked was already running).
    pub fn answer(&self, want: Want, asked: Instant, now: Instant, policy: &Policy) -> Answer {
        match want {
            Want::Cached => {
                if let Some(snap) = &self.snapshot {
                    let age = now.saturating_duration_since(snap.fetched);
                    if age < policy.max_age || snap.finished >= asked {
                        return Answer::Use(Arc::clone(snap));
                    }
                    // After a failed fetch the expired snapshot is not served: Kafka is known
                    // to be unreachable, and the request learns so from a fetch.
                    if self.failed.is_none() && age < policy.max_age + policy.stale_for {
                        return Answer::UseAndRefresh(Arc::clone(snap));
                    }
                }
                if let Some((finished, error)) = &self.failed {
                    // A failure answers like a snapshot does for `metadata.cache.ms`: with
                    // Kafka down, requests fail at once instead of each waiting for a fetch.
                    if *finished >= asked
                        || now.saturating_duration_since(*finished) < policy.max_age
                    {
                        return Answer::Fail(error.clone());
                    }
                }
                Answer::Wait
            }
            Want::FetchedAfter(since) => {
                if let Some(snap) = &self.snapshot {
                    if snap.fetched >= since {
                        return Answer::Use(Arc::clone(snap));
                    }
                }
                if let Some((finished, error)) = &self.failed {
                    if *finished >= asked {
                        return Answer::Fail(error.clone());
                    }
                }
                Answer::Wait
            }
        }
    }

    /// Marks a fetch as started at `now`; `false` when one already runs (the caller waits for
    /// that one instead).
    pub fn begin_fetch(&mut self, now: Instant) -> bool {
        if self.refreshing.is_some() {
            return false;
        }
        self.refreshing = Some(now);
        true
    }

    /// Records the outcome of the fetch in progress.
    pub fn finish_fetch(&mut self, outcome: Result<Snapshot, FetchError>, now: Instant) {
        self.refreshing = None;
        match outcome {
            Ok(snap) => {
                self.snapshot = Some(Arc::new(snap));
                self.failed = None;
            }
            Err(error) => self.failed = Some((now, error)),
        }
    }

    /// The outcome of the latest finished fetch and when it finished: the broker count, or why
    /// it failed.
    pub fn latest(&self) -> Option<(Instant, Result<usize, FetchError>)> {
        match (&self.failed, &self.snapshot) {
            (Some((finished, error)), _) => Some((*finished, Err(error.clone()))),
            (None, Some(snap)) => Some((snap.finished, Ok(snap.brokers.len()))),
            (None, None) => None,
        }
    }

    /// Whether a fetch started less than `ttl` before `now` did not have `topic`.
    pub fn known_absent(&self, topic: &str, now: Instant, ttl: Duration) -> bool {
        self.absent
            .get(topic)
            .is_some_and(|fetched| now.saturating_duration_since(*fetched) < ttl)
    }

    /// Notes that the fetch started at `fetched` did not have `topic`. When the cache is full
    /// and no entry has expired, the topic is not noted: requests for it then share fetches
    /// like any other unknown topic.
    pub fn note_absent(&mut self, topic: &str, fetched: Instant, now: Instant, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        if self.absent.len() >= NEGATIVE_CACHE_CAPACITY && !self.absent.contains_key(topic) {
            let due = self
                .absent_purged
                .is_none_or(|at| now.saturating_duration_since(at) >= ttl);
            if due {
                self.absent
                    .retain(|_, at| now.saturating_duration_since(*at) < ttl);
                self.absent_purged = Some(now);
            }
            if self.absent.len() >= NEGATIVE_CACHE_CAPACITY {
                return;
            }
        }
        self.absent.insert(topic.to_string(), fetched);
    }

    /// Forgets that `topic` was absent (a later fetch has it).
    pub fn note_present(&mut self, topic: &str) {
        self.absent.remove(topic);
    }

    #[cfg(test)]
    pub fn absent_len(&self) -> usize {
        self.absent.len()
    }
}

/// Whether Kafka could hold a topic of this name: 1 to 249 characters of `[A-Za-z0-9._-]`,
/// not `.` or `..` (Kafka's own `Topic.validate`). A name that fails this is unknown without
/// asking Kafka.
pub(super) fn could_exist(topic: &str) -> bool {
    (1..=249).contains(&topic.len())
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: Policy = Policy {
        max_age: Duration::from_secs(1),
        stale_for: Duration::from_secs(5),
        negative_ttl: Duration::from_secs(2),
    };

    fn snapshot(fetched: Instant, finished: Instant, brokers: &[i32]) -> Snapshot {
        Snapshot {
            fetched,
            finished,
            brokers: brokers.to_vec(),
            topics: BTreeMap::new(),
        }
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn timed_out() -> FetchError {
        FetchError::Kafka(KafkaError::MetadataFetch(
            rdkafka::error::RDKafkaErrorCode::OperationTimedOut,
        ))
    }

    #[test]
    fn an_empty_cache_makes_every_request_wait_for_a_fetch() {
        let cache = Cache::default();
        let t0 = Instant::now();
        assert!(matches!(
            cache.answer(Want::Cached, t0, t0, &POLICY),
            Answer::Wait
        ));
        assert!(matches!(
            cache.answer(Want::FetchedAfter(t0), t0, t0, &POLICY),
            Answer::Wait
        ));
    }

    #[test]
    fn only_one_fetch_runs_at_a_time() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        assert!(cache.begin_fetch(t0));
        assert!(!cache.begin_fetch(t0 + ms(1)));
        cache.finish_fetch(Ok(snapshot(t0, t0 + ms(5), &[1])), t0 + ms(5));
        assert!(cache.begin_fetch(t0 + ms(6)));
        cache.finish_fetch(Err(timed_out()), t0 + ms(7));
        assert!(cache.begin_fetch(t0 + ms(8)));
    }

    #[test]
    fn a_young_snapshot_answers_cached_requests_and_an_expired_one_is_served_while_refreshed() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        cache.finish_fetch(Ok(snapshot(t0, t0 + ms(10), &[1])), t0 + ms(10));
        let at = |n| t0 + ms(n);
        assert!(matches!(
            cache.answer(Want::Cached, at(900), at(900), &POLICY),
            Answer::Use(_)
        ));
        assert!(matches!(
            cache.answer(Want::Cached, at(1500), at(1500), &POLICY),
            Answer::UseAndRefresh(_)
        ));
        // Past its age plus the refresh bound it is too old to serve: wait for a fetch.
        assert!(matches!(
            cache.answer(Want::Cached, at(6500), at(6500), &POLICY),
            Answer::Wait
        ));
    }

    #[test]
    fn an_expired_snapshot_is_not_served_after_a_failed_fetch() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let at = |n| t0 + ms(n);
        cache.finish_fetch(Ok(snapshot(t0, at(10), &[1])), at(10));
        cache.begin_fetch(at(1100));
        cache.finish_fetch(Err(timed_out()), at(1200));
        // Within `metadata.cache.ms` of the failure, requests share it at once.
        assert!(matches!(
            cache.answer(Want::Cached, at(1300), at(1300), &POLICY),
            Answer::Fail(FetchError::Kafka(_))
        ));
        // Later they wait for a new fetch, rather than read the old snapshot.
        assert!(matches!(
            cache.answer(Want::Cached, at(2300), at(2300), &POLICY),
            Answer::Wait
        ));
    }

    #[test]
    fn a_fresh_request_accepts_only_a_fetch_started_after_it_asked() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let at = |n| t0 + ms(n);
        // Fetch A runs from 0 to 50; the request asks at 20.
        cache.begin_fetch(at(0));
        cache.finish_fetch(Ok(snapshot(at(0), at(50), &[1])), at(50));
        assert!(matches!(
            cache.answer(Want::FetchedAfter(at(20)), at(20), at(50), &POLICY),
            Answer::Wait
        ));
        // Fetch B started at 51 is good for it, and for any request that asked before 51.
        cache.begin_fetch(at(51));
        cache.finish_fetch(Ok(snapshot(at(51), at(90), &[1])), at(90));
        for asked in [20, 30, 51] {
            assert!(matches!(
                cache.answer(Want::FetchedAfter(at(asked)), at(asked), at(90), &POLICY),
                Answer::Use(_)
            ));
        }
        assert!(matches!(
            cache.answer(Want::FetchedAfter(at(52)), at(52), at(90), &POLICY),
            Answer::Wait
        ));
    }

    #[test]
    fn a_request_waiting_for_a_fetch_shares_its_failure() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let at = |n| t0 + ms(n);
        cache.begin_fetch(at(0));
        cache.finish_fetch(Err(timed_out()), at(5000));
        // Both kinds of request that were waiting when it failed get its error.
        assert!(matches!(
            cache.answer(Want::FetchedAfter(at(10)), at(10), at(5000), &POLICY),
            Answer::Fail(_)
        ));
        assert!(matches!(
            cache.answer(Want::Cached, at(10), at(5000), &POLICY),
            Answer::Fail(_)
        ));
        // A fresh request that asks after the failure waits for a fetch of its own.
        assert!(matches!(
            cache.answer(Want::FetchedAfter(at(5001)), at(5001), at(5001), &POLICY),
            Answer::Wait
        ));
    }

    #[test]
    fn a_waiting_cached_request_takes_the_fetch_it_waited_for_whatever_its_age() {
        // A fetch slower than `metadata.cache.ms` plus its bound (it waited for a blocking
        // permit): the request that waited for it must not loop for another one.
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let at = |n| t0 + ms(n);
        cache.begin_fetch(at(0));
        cache.finish_fetch(Ok(snapshot(at(0), at(9000), &[1])), at(9000));
        assert!(matches!(
            cache.answer(Want::Cached, at(100), at(9000), &POLICY),
            Answer::Use(_)
        ));
    }

    #[test]
    fn latest_reports_the_most_recent_outcome() {
        let mut cache = Cache::default();
        assert!(cache.latest().is_none());
        let t0 = Instant::now();
        cache.finish_fetch(Ok(snapshot(t0, t0 + ms(5), &[1, 2, 3])), t0 + ms(5));
        assert!(matches!(cache.latest(), Some((_, Ok(3)))));
        cache.finish_fetch(Err(timed_out()), t0 + ms(9));
        assert!(matches!(cache.latest(), Some((_, Err(_)))));
        cache.finish_fetch(Ok(snapshot(t0, t0 + ms(12), &[1])), t0 + ms(12));
        assert!(matches!(cache.latest(), Some((_, Ok(1)))));
    }

    #[test]
    fn absent_topics_are_remembered_for_the_negative_ttl_only() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let ttl = POLICY.negative_ttl;
        cache.note_absent("gone", t0, t0, ttl);
        assert!(cache.known_absent("gone", t0 + ms(1999), ttl));
        assert!(!cache.known_absent("gone", t0 + ms(2000), ttl));
        assert!(!cache.known_absent("other", t0, ttl));
        cache.note_present("gone");
        assert!(!cache.known_absent("gone", t0, ttl));
        // A zero TTL turns the negative cache off.
        cache.note_absent("gone", t0, t0, Duration::ZERO);
        assert_eq!(cache.absent_len(), 0);
    }

    #[test]
    fn the_negative_cache_never_grows_past_its_capacity() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let ttl = POLICY.negative_ttl;
        for i in 0..NEGATIVE_CACHE_CAPACITY + 50 {
            cache.note_absent(&format!("t{i}"), t0, t0, ttl);
        }
        assert_eq!(cache.absent_len(), NEGATIVE_CACHE_CAPACITY);
        // Once the entries have expired, new names replace them.
        let later = t0 + ttl;
        cache.note_absent("fresh", later, later, ttl);
        assert_eq!(cache.absent_len(), 1);
        assert!(cache.known_absent("fresh", later, ttl));
    }

    #[test]
    fn only_names_kafka_accepts_could_exist() {
        for name in ["t", "a.b_c-D9", &"x".repeat(249)] {
            assert!(could_exist(name), "{name}");
        }
        for name in [
            "",
            ".",
            "..",
            "a/b",
            "a b",
            "snow\u{2603}",
            &"x".repeat(250),
        ] {
            assert!(!could_exist(name), "{name}");
        }
    }
}
