//! A bound on the blocking librdkafka calls that run at once (`kafka.blocking.calls.max`).
//!
//! Some librdkafka calls block their thread until Kafka answers or their own timeout passes:
//! cluster metadata and watermarks, creating and closing a consumer, commits, committed
//! offsets, seeks. They run on tokio's blocking pool, which the whole process shares. A call
//! whose caller stopped waiting for it (the client was already told it timed out) still holds
//! its thread until librdkafka returns, so with Kafka down and clients retrying, such calls
//! could pile up until the pool is full and even metadata requests queue behind stuck commits.
//!
//! [`BlockingCalls`] hands out a fixed number of permits. A call holds its permit on the
//! blocking thread until librdkafka returns, whether its caller still waits or not, so
//! abandoned calls count against the bound too. A call that finds no permit free within its
//! deadline fails with [`Busy`], which callers answer with the retriable Kafka error. This
//! module knows nothing about Kafka errors or HTTP; the metadata cache and the consumer
//! instances decide what to run through it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// No permit became free before the call's deadline.
#[derive(Debug, Clone, thiserror::Error)]
#[error("all {limit} blocking Kafka calls are in use and none became free within {waited:?}")]
pub struct Busy {
    /// `kafka.blocking.calls.max`.
    pub limit: usize,
    /// How long the call waited for a permit.
    pub waited: Duration,
}

/// The permits for blocking librdkafka calls, shared by the metadata cache and the consumer
/// instances. Cheap to clone.
#[derive(Debug, Clone)]
pub struct BlockingCalls {
    /// One permit per call allowed to run; a permit moves onto the blocking thread with its
    /// call and is released when the call returns. Never closed.
    permits: Arc<Semaphore>,
    limit: usize,
}

impl BlockingCalls {
    /// At most `limit` calls at once (at least one).
    pub fn new(limit: usize) -> BlockingCalls {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        BlockingCalls {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
        }
    }

    /// `kafka.blocking.calls.max`.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many calls hold a permit now (those whose caller gave up included).
    pub fn in_use(&self) -> usize {
        self.limit.saturating_sub(self.permits.available_permits())
    }

    /// Waits until `deadline` for a permit, then starts `f` on the blocking pool holding it.
    /// The returned handle may be dropped (the call is abandoned): the call runs on and keeps
    /// its permit until it returns.
    pub async fn spawn<T, F>(&self, deadline: Instant, f: F) -> Result<JoinHandle<T>, Busy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let asked = Instant::now();
        let acquire = Arc::clone(&self.permits).acquire_owned();
        let permit = match tokio::time::timeout_at(deadline.into(), acquire).await {
            Ok(Ok(permit)) => permit,
            // `Err(_)` from the semaphore means it was closed, which never happens; treat it
            // like a wait that ran out rather than run a call unbounded.
            Ok(Err(_)) | Err(_) => {
                return Err(Busy {
                    limit: self.limit,
                    waited: asked.elapsed(),
                })
            }
        };
        Ok(start(permit, f))
    }

    /// Waits as long as it takes for a permit, then starts `f` holding it. For calls that must
    /// happen even when nobody waits for them (closing a consumer): they queue, they do not
    /// fail. The wait itself runs on a task of its own, so dropping the handle abandons
    /// nothing.
    pub fn spawn_when_free<T, F>(&self, f: F) -> JoinHandle<Option<T>>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let permits = Arc::clone(&self.permits);
        tokio::spawn(async move {
            // The semaphore is never closed; if it were, the call runs without a permit
            // rather than not at all.
            let call = match permits.acquire_owned().await {
                Ok(permit) => start(permit, f),
                Err(_) => tokio::task::spawn_blocking(f),
            };
            call.await.ok()
        })
    }
}

/// Runs `f` on the blocking pool; the permit is released when `f` returns (or panics).
fn start<T, F>(permit: OwnedSemaphorePermit, f: F) -> JoinHandle<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        f()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;

    /// Waits (with a generous deadline) until `cond` holds.
    async fn eventually(what: &str, cond: impl Fn() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !cond() {
            assert!(Instant::now() < deadline, "never: {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_finding_no_free_permit_by_its_deadline_is_busy() {
        let calls = BlockingCalls::new(1);
        let (release, wait) = mpsc::channel::<()>();
        let first = calls
            .spawn(Instant::now() + Duration::from_secs(30), move || {
                wait.recv().ok();
            })
            .await
            .expect("a free permit");
        assert_eq!(calls.in_use(), 1);
        // A deadline already passed: only a free permit could be taken.
        let second = calls.spawn(Instant::now(), || ()).await;
        assert!(matches!(second, Err(Busy { limit: 1, .. })), "{second:?}");
        release.send(()).expect("first call waits");
        first.await.expect("first call");
        eventually("the permit is back", || calls.in_use() == 0).await;
        calls
            .spawn(Instant::now() + Duration::from_secs(30), || ())
            .await
            .expect("a free permit again")
            .await
            .expect("call");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_abandoned_call_keeps_its_permit_until_it_returns() {
        let calls = BlockingCalls::new(2);
        let (release, wait) = mpsc::channel::<()>();
        let abandoned = calls
            .spawn(Instant::now() + Duration::from_secs(30), move || {
                wait.recv().ok();
            })
            .await
            .expect("a free permit");
        drop(abandoned);
        assert_eq!(calls.in_use(), 1);
        release.send(()).expect("the call still runs");
        eventually("the abandoned call returned its permit", || {
            calls.in_use() == 0
        })
        .await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_limit_run_at_once_and_queued_calls_all_run() {
        let calls = BlockingCalls::new(3);
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let handles: Vec<_> = (0..12)
            .map(|_| {
                let (running, most) = (Arc::clone(&running), Arc::clone(&most));
                calls.spawn_when_free(move || {
                    let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    // A blocking thread, like a librdkafka call.
                    #[allow(clippy::disallowed_methods)]
                    std::thread::sleep(Duration::from_millis(5));
                    running.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        for h in handles {
            assert_eq!(h.await.expect("task"), Some(()));
        }
        let most = most.load(Ordering::SeqCst);
        assert!((1..=3).contains(&most), "{most} calls ran at once");
        assert_eq!(calls.in_use(), 0);
    }
}
