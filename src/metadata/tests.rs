//! Unit tests of the metadata cache's fetching and waiting: how many fetches run, who waits for
//! which, and what readiness answers while a fetch hangs. A stand-in for Kafka's metadata
//! request lets each test decide when every fetch returns and what it returns; the tests
//! count fetches and check the order of events, never durations.

use std::sync::{Condvar, Mutex};

use rdkafka::error::RDKafkaErrorCode;

use super::*;

/// A stand-in for Kafka's metadata request: each fetch blocks until the test releases it,
/// then answers with the topics the test has created so far (or fails, when told to).
#[derive(Default)]
struct FakeKafka {
    state: Mutex<FakeState>,
    changed: Condvar,
}

#[derive(Default)]
struct FakeState {
    /// Fetches that have begun.
    entered: usize,
    /// Fetches allowed to return: fetch `n` (from 0) returns once `released > n`.
    released: usize,
    topics: Vec<String>,
    fail: bool,
}

impl FakeKafka {
    fn fetch(&self, _timeout: Duration) -> KafkaResult<Cluster> {
        let mut state = self.lock();
        let n = state.entered;
        state.entered += 1;
        self.changed.notify_all();
        // A generous bound, so that a broken test fails instead of hanging.
        let (state, _) = self
            .changed
            .wait_timeout_while(state, Duration::from_secs(60), |s| s.released <= n)
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if state.fail || state.released <= n {
            return Err(KafkaError::MetadataFetch(
                RDKafkaErrorCode::OperationTimedOut,
            ));
        }
        let topics = state
            .topics
            .iter()
            .map(|t| {
                let partition = PartitionInfo {
                    partition: 0,
                    leader: 1,
                    replicas: Vec::new(),
                };
                (t.clone(), vec![partition])
            })
            .collect();
        Ok((vec![1], topics))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn release(&self, fetches: usize) {
        self.lock().released = fetches;
        self.changed.notify_all();
    }

    fn create_topic(&self, topic: &str) {
        self.lock().topics.push(topic.to_string());
    }

    fn fail(&self) {
        self.lock().fail = true;
    }

    /// Waits until `n` fetches have begun.
    async fn entered(&self, n: usize) {
        eventually(&format!("{n} fetches begin"), || self.lock().entered >= n).await;
    }
}

/// Waits (with a deadline that only a bug reaches) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Fails a test whose call is stuck, with a bound far beyond any loaded machine's delays.
async fn within<T>(what: &str, f: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(Duration::from_secs(60), f).await {
        Ok(out) => out,
        Err(_) => panic!("{what} did not finish"),
    }
}

fn settings(max_age_ms: u64) -> MetadataSettings {
    MetadataSettings {
        kafka: BTreeMap::new(),
        timeout: Duration::from_secs(60),
        cache_max_age: Duration::from_millis(max_age_ms),
        negative_cache_ttl: Duration::from_secs(60),
        ready_wait: Duration::from_millis(20),
    }
}

/// A client whose fetches go to `kafka`. The admin client is only created, never used: it
/// points at a port nothing listens on.
fn metadata_with(kafka: &Arc<FakeKafka>, settings: MetadataSettings) -> Metadata {
    let admin = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .create()
        .expect("admin client");
    let fake = Arc::clone(kafka);
    let fetch: FetchFn = Arc::new(move |timeout| fake.fetch(timeout));
    Metadata::assemble(Arc::new(admin), fetch, &settings, BlockingCalls::new(8))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_for_an_unknown_topic_share_at_most_two_fetches_then_none() {
    let kafka = Arc::new(FakeKafka::default());
    kafka.create_topic("known");
    let metadata = metadata_with(&kafka, settings(60_000));
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let m = metadata.clone();
            tokio::spawn(async move { m.partitions("missing").await })
        })
        .collect();
    // The first fetch holds every request. Once all of them wait for it, it returns without
    // the topic; the second fetch, started after they asked, is shared by all of them.
    kafka.entered(1).await;
    eventually("every request waits for the first fetch", || {
        metadata.inner.done.receiver_count() == 20
    })
    .await;
    kafka.release(2);
    for call in calls {
        let answer = within("a request", call).await.expect("task");
        assert!(
            matches!(answer, Err(MetadataError::UnknownTopic { .. })),
            "{answer:?}"
        );
    }
    // Two when the requests ask for news before the first one notes the topic as absent, one
    // when the negative cache already answers them.
    let fetches = metadata.fetches_started();
    assert!((1..=2).contains(&fetches), "{fetches} fetches");
    // The negative cache answers the same topic again without a fetch, and the cached snapshot
    // answers the known one.
    for _ in 0..50 {
        assert!(matches!(
            metadata.partitions("missing").await,
            Err(MetadataError::UnknownTopic { .. })
        ));
        assert_eq!(metadata.partitions("known").await.expect("known").len(), 1);
    }
    assert_eq!(metadata.fetches_started(), fetches);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_kafka_cannot_hold_is_unknown_without_a_fetch_of_its_own() {
    let kafka = Arc::new(FakeKafka::default());
    kafka.release(usize::MAX);
    let metadata = metadata_with(&kafka, settings(60_000));
    metadata.broker_ids().await.expect("first fetch");
    for name in ["a/b", "", &"x".repeat(10_000)] {
        assert!(matches!(
            metadata.partitions(name).await,
            Err(MetadataError::UnknownTopic { .. })
        ));
    }
    assert_eq!(metadata.fetches_started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_created_after_the_snapshot_is_found_by_a_fetch_started_after_the_request() {
    let kafka = Arc::new(FakeKafka::default());
    kafka.release(1);
    let metadata = metadata_with(&kafka, settings(60_000));
    metadata.broker_ids().await.expect("first fetch");
    kafka.create_topic("new");
    // The cached snapshot does not know it: the request waits for fetch number two.
    let call = tokio::spawn({
        let m = metadata.clone();
        async move { m.partitions("new").await }
    });
    kafka.entered(2).await;
    kafka.release(2);
    let found = within("the request", call).await.expect("task");
    assert_eq!(found.expect("found").len(), 1);
    assert_eq!(metadata.fetches_started(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_request_does_not_take_a_fetch_that_started_before_it_asked() {
    let kafka = Arc::new(FakeKafka::default());
    let metadata = metadata_with(&kafka, settings(60_000));
    // Fetch one starts (for a reader of the cache) and is held.
    let reader = tokio::spawn({
        let m = metadata.clone();
        async move { m.broker_ids().await }
    });
    kafka.entered(1).await;
    // The partition is created while fetch one runs; fetch one may not know it.
    kafka.create_topic("t");
    let fresh = tokio::spawn({
        let m = metadata.clone();
        async move { m.partitions_refreshed("t").await }
    });
    // Fetch one returns; the fresh request must wait for a second fetch.
    kafka.release(1);
    within("the reader", reader)
        .await
        .expect("task")
        .expect("brokers");
    kafka.entered(2).await;
    assert!(
        !fresh.is_finished(),
        "answered from a fetch that began before it asked"
    );
    kafka.release(2);
    let partitions = within("the fresh request", fresh).await.expect("task");
    assert_eq!(partitions.expect("found").len(), 1);
    assert_eq!(metadata.fetches_started(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readers_of_the_cache_and_readiness_do_not_wait_for_a_refresh_in_progress() {
    let kafka = Arc::new(FakeKafka::default());
    kafka.create_topic("t");
    kafka.release(1);
    // Every snapshot expires at once, so every read wants a refresh.
    let metadata = metadata_with(&kafka, settings(0));
    assert_eq!(metadata.broker_ids().await.expect("first fetch"), vec![1]);
    // Fetch two starts and hangs; readers get the expired snapshot meanwhile.
    for _ in 0..10 {
        let brokers = within("a reader", metadata.broker_ids()).await;
        assert_eq!(brokers.expect("stale snapshot"), vec![1]);
        let partitions = within("a produce's lookup", metadata.partitions("t")).await;
        assert_eq!(partitions.expect("stale snapshot").len(), 1);
    }
    kafka.entered(2).await;
    // Readiness joins the hung fetch only for `health.ready.timeout.ms`, then answers from the
    // latest fetch, which succeeded.
    let ready = within("readiness", metadata.ready_brokers()).await;
    assert_eq!(ready.expect("ready"), 1);
    // Still the one refresh: nobody started another while it ran.
    assert_eq!(metadata.fetches_started(), 2);
    kafka.release(2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_before_any_fetch_finished_is_pending_not_stuck() {
    let kafka = Arc::new(FakeKafka::default());
    let metadata = metadata_with(&kafka, settings(1_000));
    let ready = within("readiness", metadata.ready_brokers()).await;
    assert!(
        matches!(ready, Err(MetadataError::Pending { .. })),
        "{ready:?}"
    );
    kafka.release(1);
    eventually("the fetch finished", || {
        metadata.inner.lock().latest().is_some()
    })
    .await;
    assert_eq!(metadata.ready_brokers().await.expect("ready"), 1);
    assert_eq!(metadata.fetches_started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_requests_share_a_failed_fetch_instead_of_queueing_one_each() {
    let kafka = Arc::new(FakeKafka::default());
    kafka.fail();
    let metadata = metadata_with(&kafka, settings(1_000));
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let m = metadata.clone();
            tokio::spawn(async move { m.broker_ids().await })
        })
        .collect();
    kafka.entered(1).await;
    kafka.release(1);
    for call in calls {
        let answer = within("a request", call).await.expect("task");
        assert!(
            matches!(answer, Err(MetadataError::Request(_))),
            "{answer:?}"
        );
    }
    // Within `metadata.cache.ms` the failure answers readiness too, without a fetch.
    assert!(matches!(
        metadata.ready_brokers().await,
        Err(MetadataError::Request(_))
    ));
    assert_eq!(metadata.fetches_started(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_finding_no_blocking_permit_fails_busy() {
    let kafka = Arc::new(FakeKafka::default());
    let mut short = settings(1_000);
    short.timeout = Duration::ZERO;
    let admin = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .create()
        .expect("admin client");
    let fake = Arc::clone(&kafka);
    let fetch: FetchFn = Arc::new(move |timeout| fake.fetch(timeout));
    let blocking = BlockingCalls::new(1);
    // The only permit is taken by a call that waits for the test.
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let held = blocking
        .spawn(Instant::now() + Duration::from_secs(60), move || {
            wait.recv().ok();
        })
        .await
        .expect("permit");
    let metadata = Metadata::assemble(Arc::new(admin), fetch, &short, blocking);
    let answer = within("the request", metadata.broker_ids()).await;
    assert!(matches!(answer, Err(MetadataError::Busy(_))), "{answer:?}");
    assert_eq!(kafka.lock().entered, 0, "no fetch may run without a permit");
    release.send(()).expect("held call");
    held.await.expect("held call");
}

/// With Kafka unreachable, the first fetch (started when the client is created) fails and
/// every request waiting for it shares that failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_kafka_unreachable_waiting_requests_share_the_first_fetch() {
    // A port nothing listens on: every connection is refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut s = settings(1_000);
    s.timeout = Duration::from_millis(1500);
    s.kafka
        .insert("bootstrap.servers".into(), format!("127.0.0.1:{port}"));
    let metadata = Metadata::new(s, BlockingCalls::new(8)).expect("client");
    let calls: Vec<_> = (0..3)
        .map(|_| {
            let m = metadata.clone();
            tokio::spawn(async move { m.broker_ids().await })
        })
        .collect();
    for call in calls {
        let answer = call.await.expect("task");
        assert!(
            matches!(answer, Err(MetadataError::Request(_))),
            "{answer:?}"
        );
    }
    assert_eq!(metadata.fetches_started(), 1);
}
