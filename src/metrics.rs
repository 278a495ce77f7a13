//! The process's metrics: one Prometheus registry, the metric families in it, and cheap
//! recording handles for the HTTP layer and the services.
//!
//! Owns the metric names, their labels and the bound on their cardinality: no label takes its
//! value from a request except the topic of produce metrics, and topics beyond
//! `metrics.topics.max` are counted under one `other` label. HTTP metrics are keyed by the
//! route template of the contract, registered up front for every route the application mounts
//! (see `access_log.rs`), so recording a request is a few atomic additions with no lookup in a
//! map. This module knows nothing of HTTP servers: the middleware that feeds the HTTP metrics
//! and serves `/metrics` is `access_log.rs`; the services call the recording methods here.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The `Content-Type` of the scrape: prometheus-client writes the OpenMetrics text format
/// (which Prometheus reads, and asks for first).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The label under which topics beyond `metrics.topics.max` are counted.
pub const OTHER_TOPIC: &str = "other";

/// The route label of requests that match no route template (unknown paths, and methods a
/// path does not have).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Latency buckets in seconds, from half a millisecond (a cached metadata answer) to the
/// longest waits of produce and records calls (30 s by default).
const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// HTTP status classes, in the order of [`status_class_index`].
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// The index in [`STATUS_CLASSES`] of an HTTP status code (anything outside 100-599 counts
/// as `5xx`, which a server cannot send anyway).
fn status_class_index(status: u16) -> usize {
    match status {
        100..=199 => 0,
        200..=299 => 1,
        300..=399 => 2,
        400..=499 => 3,
        _ => 4,
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: Cow<'static, str>,
    route: Cow<'static, str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabels {
    method: Cow<'static, str>,
    route: Cow<'static, str>,
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TopicLabels {
    topic: Cow<'static, str>,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProducerLabels {
    producer: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BrokerLabels {
    producer: String,
    broker: String,
}

type FloatGauge = Gauge<f64, AtomicU64>;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorCodeLabels {
    error_code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    cache: &'static str,
    result: &'static str,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The metrics of one proxy. Cheap to clone; every clone records into the same registry.
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

struct Inner {
    /// Every family below, registered once in [`Metrics::new`]; only encoded afterwards.
    registry: Registry,
    http_requests: Family<StatusLabels, Counter>,
    http_duration: HistogramFamily<RouteLabels>,
    http_request_bytes: Family<RouteLabels, Counter>,
    http_response_bytes: Family<RouteLabels, Counter>,
    in_flight_requests: Gauge,
    in_flight_requests_max: Gauge,
    in_flight_bytes: Gauge,
    in_flight_bytes_max: Gauge,
    produce_records: Family<TopicLabels, Counter>,
    produce_bytes: Family<TopicLabels, Counter>,
    produce_record_errors: Family<ErrorCodeLabels, Counter>,
    /// The produce counters of each topic seen so far, at most `topics_max` of them; looked up
    /// by `&str` under a read lock, so a known topic costs no allocation.
    topics: RwLock<HashMap<String, TopicCounters>>,
    topics_max: usize,
    /// The counters of the topics beyond `topics_max`.
    other_topics: TopicCounters,
    consumer_instances: Gauge,
    consumer_instances_created: Counter,
    consumer_instances_expired: Counter,
    consumer_records: Counter,
    consumer_records_duration: Histogram,
    registry_requests: Family<OutcomeLabels, Counter>,
    schema_cache: Family<CacheLabels, Counter>,
    process_resident_memory: Gauge,
    process_open_fds: Gauge,
    process_threads: Gauge,
    producer_queue_messages: Family<ProducerLabels, Gauge>,
    producer_queue_bytes: Family<ProducerLabels, Gauge>,
    broker_rtt_avg: Family<BrokerLabels, FloatGauge>,
    broker_rtt_p99: Family<BrokerLabels, FloatGauge>,
    /// Reads the figures that other modules own (in-flight requests, consumer instances) at
    /// scrape time; set by the application once it has them.
    sampler: RwLock<Option<Sampler>>,
}

/// See [`Metrics::set_sampler`].
pub type Sampler = Box<dyn Fn() -> Snapshot + Send + Sync>;

/// The produce counters of one topic (records and bytes sent), looked up once and kept by a
/// v3 produce stream, which counts every record it sends.
#[derive(Clone)]
pub struct TopicCounters {
    records: Counter,
    bytes: Counter,
}

impl TopicCounters {
    pub fn sent(&self, records: u64, bytes: u64) {
        self.records.inc_by(records);
        self.bytes.inc_by(bytes);
    }
}

/// The handles of one operation (a method and a route template): what the HTTP layer adds
/// to for each request it serves.
#[derive(Clone)]
pub struct OperationMetrics {
    /// One counter per status class, indexed like [`STATUS_CLASSES`].
    requests: [Counter; 5],
    duration: Histogram,
    request_bytes: Counter,
    response_bytes: Counter,
}

impl std::fmt::Debug for OperationMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationMetrics").finish_non_exhaustive()
    }
}

impl OperationMetrics {
    /// Records one served request.
    pub fn observe(
        &self,
        status: u16,
        duration: Duration,
        request_bytes: u64,
        response_bytes: u64,
    ) {
        self.requests[status_class_index(status)].inc();
        self.duration.observe(duration.as_secs_f64());
        self.request_bytes.inc_by(request_bytes);
        self.response_bytes.inc_by(response_bytes);
    }
}

/// What a scrape reads from the rest of the process at that moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    pub in_flight_requests: u64,
    pub in_flight_bytes: u64,
    pub consumer_instances: u64,
}

impl Default for Metrics {
    /// Metrics nobody scrapes, for services built outside a proxy (tests, fuzzing).
    fn default() -> Metrics {
        Metrics::new(100)
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl Metrics {
    /// A registry with every family; topics beyond `topics_max` are counted as `other`.
    pub fn new(topics_max: usize) -> Metrics {
        let mut registry = Registry::default();
        let http_requests = Family::<StatusLabels, Counter>::default();
        let http_duration: HistogramFamily<RouteLabels> =
            Family::new_with_constructor(latency_histogram);
        let http_request_bytes = Family::<RouteLabels, Counter>::default();
        let http_response_bytes = Family::<RouteLabels, Counter>::default();
        let in_flight_requests = Gauge::default();
        let in_flight_requests_max = Gauge::default();
        let in_flight_bytes = Gauge::default();
        let in_flight_bytes_max = Gauge::default();
        let produce_records = Family::<TopicLabels, Counter>::default();
        let produce_bytes = Family::<TopicLabels, Counter>::default();
        let produce_record_errors = Family::<ErrorCodeLabels, Counter>::default();
        let consumer_instances = Gauge::default();
        let consumer_instances_created = Counter::default();
        let consumer_instances_expired = Counter::default();
        let consumer_records = Counter::default();
        let consumer_records_duration = latency_histogram();
        let registry_requests = Family::<OutcomeLabels, Counter>::default();
        let schema_cache = Family::<CacheLabels, Counter>::default();
        let process_resident_memory = Gauge::default();
        let process_open_fds = Gauge::default();
        let process_threads = Gauge::default();
        let producer_queue_messages = Family::<ProducerLabels, Gauge>::default();
        let producer_queue_bytes = Family::<ProducerLabels, Gauge>::default();
        let broker_rtt_avg = Family::<BrokerLabels, FloatGauge>::default();
        let broker_rtt_p99 = Family::<BrokerLabels, FloatGauge>::default();
        {
            let kr = registry.sub_registry_with_prefix("kafka_rest");
            kr.register(
                "http_requests",
                "HTTP requests answered, by method, route template and status class",
                http_requests.clone(),
            );
            kr.register(
                "http_request_duration_seconds",
                "Time from a request's arrival to its response headers, by method and route template",
                http_duration.clone(),
            );
            kr.register(
                "http_request_bytes",
                "Request body bytes declared by Content-Length, by method and route template",
                http_request_bytes.clone(),
            );
            kr.register(
                "http_response_bytes",
                "Response body bytes, by method and route template",
                http_response_bytes.clone(),
            );
            kr.register(
                "http_requests_in_flight",
                "Requests admitted and not yet answered (inflight.requests.max bounds it)",
                in_flight_requests.clone(),
            );
            kr.register(
                "http_requests_in_flight_max",
                "The limit inflight.requests.max",
                in_flight_requests_max.clone(),
            );
            kr.register(
                "http_request_bytes_in_flight",
                "Request body bytes reserved by admitted requests (inflight.bytes.max bounds it)",
                in_flight_bytes.clone(),
            );
            kr.register(
                "http_request_bytes_in_flight_max",
                "The limit inflight.bytes.max",
                in_flight_bytes_max.clone(),
            );
            kr.register(
                "produce_records",
                "Records sent to Kafka by produce requests, by topic",
                produce_records.clone(),
            );
            kr.register(
                "produce_bytes",
                "Key, value and header bytes of the records sent to Kafka, by topic",
                produce_bytes.clone(),
            );
            kr.register(
                "produce_record_errors",
                "Records Kafka did not acknowledge, by the error_code of the produce response",
                produce_record_errors.clone(),
            );
            kr.register(
                "consumer_instances",
                "Consumer instances alive",
                consumer_instances.clone(),
            );
            kr.register(
                "consumer_instances_created",
                "Consumer instances created",
                consumer_instances_created.clone(),
            );
            kr.register(
                "consumer_instances_expired",
                "Consumer instances closed after consumer.instance.timeout.ms without a call",
                consumer_instances_expired.clone(),
            );
            kr.register(
                "consumer_records",
                "Records returned by records calls",
                consumer_records.clone(),
            );
            kr.register(
                "consumer_records_call_duration_seconds",
                "Time a records call spends fetching and rendering records",
                consumer_records_duration.clone(),
            );
            kr.register(
                "schema_registry_requests",
                "HTTP requests to the Schema Registry, by outcome (ok, error, unreachable)",
                registry_requests.clone(),
            );
            kr.register(
                "kafka_producer_queue_messages",
                "Records waiting in a producer's librdkafka queues, by producer of the pool \
                 (librdkafka statistics)",
                producer_queue_messages.clone(),
            );
            kr.register(
                "kafka_producer_queue_bytes",
                "Bytes of the records waiting in a producer's librdkafka queues",
                producer_queue_bytes.clone(),
            );
            kr.register(
                "kafka_broker_rtt_avg_seconds",
                "Mean request round trip from a producer to a broker over the last statistics \
                 interval with requests, by producer and broker id",
                broker_rtt_avg.clone(),
            );
            kr.register(
                "kafka_broker_rtt_p99_seconds",
                "99th percentile of the request round trip from a producer to a broker",
                broker_rtt_p99.clone(),
            );
            kr.register(
                "schema_cache_lookups",
                "Lookups in the schema caches, by cache and result (hit, miss)",
                schema_cache.clone(),
            );
        }
        registry.register(
            "process_resident_memory_bytes",
            "Resident memory of the process",
            process_resident_memory.clone(),
        );
        registry.register(
            "process_open_fds",
            "Open file descriptors of the process",
            process_open_fds.clone(),
        );
        registry.register(
            "process_threads",
            "Threads of the process",
            process_threads.clone(),
        );
        let other = Cow::Borrowed(OTHER_TOPIC);
        let other_topics = TopicCounters {
            records: produce_records.get_or_create_owned(&TopicLabels {
                topic: other.clone(),
            }),
            bytes: produce_bytes.get_or_create_owned(&TopicLabels { topic: other }),
        };
        for error_code in ["40101", "40301", "50002", "50003"] {
            produce_record_errors.get_or_create_owned(&ErrorCodeLabels { error_code });
        }
        for outcome in ["ok", "error", "unreachable"] {
            registry_requests.get_or_create_owned(&OutcomeLabels { outcome });
        }
        for cache in SCHEMA_CACHES {
            for result in ["hit", "miss"] {
                schema_cache.get_or_create_owned(&CacheLabels { cache, result });
            }
        }
        Metrics {
            inner: Arc::new(Inner {
                registry,
                http_requests,
                http_duration,
                http_request_bytes,
                http_response_bytes,
                in_flight_requests,
                in_flight_requests_max,
                in_flight_bytes,
                in_flight_bytes_max,
                produce_records,
                produce_bytes,
                produce_record_errors,
                topics: RwLock::new(HashMap::new()),
                topics_max,
                other_topics,
                consumer_instances,
                consumer_instances_created,
                consumer_instances_expired,
                consumer_records,
                consumer_records_duration,
                registry_requests,
                schema_cache,
                process_resident_memory,
                process_open_fds,
                process_threads,
                producer_queue_messages,
                producer_queue_bytes,
                broker_rtt_avg,
                broker_rtt_p99,
                sampler: RwLock::new(None),
            }),
        }
    }

    /// Registers the series of one operation and returns its handles. Called once per route
    /// when the application is assembled; `method` is a method name the route table has, never
    /// a client's.
    pub fn operation(
        &self,
        method: Cow<'static, str>,
        route: Cow<'static, str>,
    ) -> OperationMetrics {
        let i = &self.inner;
        let labels = RouteLabels { method, route };
        let requests = STATUS_CLASSES.map(|status| {
            i.http_requests.get_or_create_owned(&StatusLabels {
                method: labels.method.clone(),
                route: labels.route.clone(),
                status,
            })
        });
        OperationMetrics {
            requests,
            duration: i.http_duration.get_or_create_owned(&labels),
            request_bytes: i.http_request_bytes.get_or_create_owned(&labels),
            response_bytes: i.http_response_bytes.get_or_create_owned(&labels),
        }
    }

    /// Sets the limits the in-flight gauges are measured against.
    pub fn set_in_flight_limits(&self, max_requests: u64, max_bytes: u64) {
        self.inner.in_flight_requests_max.set(to_i64(max_requests));
        self.inner.in_flight_bytes_max.set(to_i64(max_bytes));
    }

    /// Records the records of one produce request that were handed to Kafka.
    pub fn produce_sent(&self, topic: &str, records: u64, bytes: u64) {
        self.topic_counters(topic).sent(records, bytes);
    }

    /// Records one record Kafka did not acknowledge, with the `error_code` its produce
    /// response reports.
    pub fn produce_record_failed(&self, error_code: &'static str) {
        self.inner
            .produce_record_errors
            .get_or_create(&ErrorCodeLabels { error_code })
            .inc();
    }

    /// The counters of `topic`, or of `other` once `metrics.topics.max` topics have their
    /// own.
    pub fn topic_counters(&self, topic: &str) -> TopicCounters {
        let i = &self.inner;
        // A poisoned lock only means another thread panicked while holding it; the map is
        // still a valid map, so it is used as it is.
        if let Some(c) = i
            .topics
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(topic)
        {
            return c.clone();
        }
        let mut topics = i.topics.write().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = topics.get(topic) {
            return c.clone();
        }
        if topics.len() >= i.topics_max {
            return i.other_topics.clone();
        }
        let labels = TopicLabels {
            topic: Cow::Owned(topic.to_string()),
        };
        let counters = TopicCounters {
            records: i.produce_records.get_or_create_owned(&labels),
            bytes: i.produce_bytes.get_or_create_owned(&labels),
        };
        topics.insert(topic.to_string(), counters.clone());
        counters
    }

    pub fn consumer_instance_created(&self) {
        self.inner.consumer_instances_created.inc();
    }

    pub fn consumer_instance_expired(&self) {
        self.inner.consumer_instances_expired.inc();
    }

    /// Records one successful records call: how many records it returned and how long it took.
    pub fn records_call(&self, records: u64, duration: Duration) {
        self.inner.consumer_records.inc_by(records);
        self.inner
            .consumer_records_duration
            .observe(duration.as_secs_f64());
    }

    /// Records one HTTP request to the Schema Registry: `ok` (a 2xx answer), `error` (another
    /// answer) or `unreachable` (no answer).
    pub fn registry_request(&self, outcome: RegistryOutcome) {
        let outcome = match outcome {
            RegistryOutcome::Ok => "ok",
            RegistryOutcome::Error => "error",
            RegistryOutcome::Unreachable => "unreachable",
        };
        self.inner
            .registry_requests
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Records one lookup in a schema cache.
    pub fn schema_cache(&self, cache: SchemaCache, hit: bool) {
        let cache = SCHEMA_CACHES[cache as usize];
        let result = if hit { "hit" } else { "miss" };
        self.inner
            .schema_cache
            .get_or_create(&CacheLabels { cache, result })
            .inc();
    }

    /// Records a producer's queue depth from librdkafka's statistics. `producer` is its index
    /// in the pool (at most `produce.pool.size` values).
    pub fn producer_queue(&self, producer: &str, messages: u64, bytes: u64) {
        let labels = ProducerLabels {
            producer: producer.to_string(),
        };
        let i = &self.inner;
        i.producer_queue_messages
            .get_or_create(&labels)
            .set(to_i64(messages));
        i.producer_queue_bytes
            .get_or_create(&labels)
            .set(to_i64(bytes));
    }

    /// Records a producer's round trips to one broker from librdkafka's statistics; `broker`
    /// is the broker's id, so the series are bounded by the cluster's size.
    pub fn broker_rtt(&self, producer: &str, broker: &str, avg: Duration, p99: Duration) {
        let labels = BrokerLabels {
            producer: producer.to_string(),
            broker: broker.to_string(),
        };
        let i = &self.inner;
        i.broker_rtt_avg
            .get_or_create(&labels)
            .set(avg.as_secs_f64());
        i.broker_rtt_p99
            .get_or_create(&labels)
            .set(p99.as_secs_f64());
    }

    /// Sets what a scrape reads from the rest of the process; replaces an earlier sampler.
    pub fn set_sampler(&self, sampler: Sampler) {
        *self
            .inner
            .sampler
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(sampler);
    }

    /// The text exposition of every metric, with the figures of the sampler (zeros without
    /// one). Reads files, so it runs on a blocking thread.
    pub fn render(&self) -> String {
        let snapshot = match &*self.inner.sampler.read().unwrap_or_else(|p| p.into_inner()) {
            Some(sample) => sample(),
            None => Snapshot::default(),
        };
        self.render_with(snapshot)
    }

    /// The text exposition of every metric, after reading the gauges that are sampled at
    /// scrape time (`snapshot`, and the process figures from `/proc/self`).
    fn render_with(&self, snapshot: Snapshot) -> String {
        let i = &self.inner;
        i.in_flight_requests
            .set(to_i64(snapshot.in_flight_requests));
        i.in_flight_bytes.set(to_i64(snapshot.in_flight_bytes));
        i.consumer_instances
            .set(to_i64(snapshot.consumer_instances));
        let process = process::sample();
        i.process_resident_memory
            .set(to_i64(process.resident_bytes));
        i.process_open_fds.set(to_i64(process.open_fds));
        i.process_threads.set(to_i64(process.threads));
        let mut out = String::with_capacity(16 * 1024);
        // Writing into a `String` cannot fail; an encoding error would be a bug in a metric
        // name, which the tests scrape.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &i.registry) {
            tracing::error!(error = %e, "cannot encode the metrics");
        }
        out
    }
}

/// How one Schema Registry request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryOutcome {
    Ok,
    Error,
    Unreachable,
}

/// The schema caches whose lookups are counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaCache {
    /// Registry schemas by id (`schema.registry.cache.capacity` entries).
    RegistryById = 0,
    /// Ids of schema texts confirmed under a subject.
    RegistryIds = 1,
    /// Parsed schemas by id.
    ParsedById = 2,
}

const SCHEMA_CACHES: [&str; 3] = ["registry_by_id", "registry_ids", "parsed_by_id"];

/// The process figures read from `/proc/self` (zeros where it does not exist).
mod process {
    #[derive(Debug, Default)]
    pub struct Sample {
        pub resident_bytes: u64,
        pub open_fds: u64,
        pub threads: u64,
    }

    pub fn sample() -> Sample {
        let mut sample = Sample::default();
        if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
            for line in status.lines() {
                if let Some(kb) = line.strip_prefix("VmRSS:") {
                    sample.resident_bytes = first_number(kb).saturating_mul(1024);
                } else if let Some(n) = line.strip_prefix("Threads:") {
                    sample.threads = first_number(n);
                }
            }
        }
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle used to list it is one of the entries.
            sample.open_fds = (fds.count() as u64).saturating_sub(1);
        }
        sample
    }

    fn first_number(text: &str) -> u64 {
        text.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(text: &str, prefix: &str) -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with(prefix))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn an_operation_counts_by_status_class_and_observes_its_latency() {
        let metrics = Metrics::new(10);
        let op = metrics.operation("POST".into(), "/topics/{topic_name}".into());
        op.observe(200, Duration::from_millis(3), 10, 20);
        op.observe(204, Duration::from_millis(3), 0, 0);
        op.observe(404, Duration::from_millis(3), 5, 7);
        let text = metrics.render();
        let labels = r#"method="POST",route="/topics/{topic_name}""#;
        for (status, n) in [("1xx", 0), ("2xx", 2), ("3xx", 0), ("4xx", 1), ("5xx", 0)] {
            let line =
                format!("kafka_rest_http_requests_total{{{labels},status=\"{status}\"}} {n}");
            assert!(text.contains(&line), "{line} in\n{text}");
        }
        assert!(text.contains(&format!(
            "kafka_rest_http_request_duration_seconds_count{{{labels}}} 3"
        )));
        assert!(text.contains(&format!(
            "kafka_rest_http_request_bytes_total{{{labels}}} 15"
        )));
        assert!(text.contains(&format!(
            "kafka_rest_http_response_bytes_total{{{labels}}} 27"
        )));
    }

    #[test]
    fn topics_beyond_the_cap_are_counted_as_other() {
        let metrics = Metrics::new(2);
        for topic in ["a", "b", "c", "d", "a"] {
            metrics.produce_sent(topic, 1, 10);
        }
        let text = metrics.render();
        let mut records = series(&text, "kafka_rest_produce_records_total");
        records.sort();
        assert_eq!(
            records,
            [
                "kafka_rest_produce_records_total{topic=\"a\"} 2",
                "kafka_rest_produce_records_total{topic=\"b\"} 1",
                "kafka_rest_produce_records_total{topic=\"other\"} 2",
            ]
        );
    }

    #[test]
    fn the_process_figures_are_read_from_proc() {
        let metrics = Metrics::default();
        let text = metrics.render_with(Snapshot {
            in_flight_requests: 2,
            in_flight_bytes: 300,
            consumer_instances: 4,
        });
        assert!(text.contains("kafka_rest_http_requests_in_flight 2"));
        assert!(text.contains("kafka_rest_http_request_bytes_in_flight 300"));
        assert!(text.contains("kafka_rest_consumer_instances 4"));
        if cfg!(target_os = "linux") {
            let threads = series(&text, "process_threads ");
            assert_eq!(threads.len(), 1);
            assert_ne!(threads[0], "process_threads 0");
            assert!(!text.contains("process_resident_memory_bytes 0\n"));
        }
    }
}
