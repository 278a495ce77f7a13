//! `cargo xtask bench`: throughput, latency and memory of the proxy against a native rdkafka
//! client doing the same work on the same broker, in the same invocation.
//!
//! Owns the scenarios (P1-P3 produce, L1 latency, M1 memory, threads and descriptors of the
//! idle proxy and of 1, 100 and 1000 idle consumer instances), the load they put on N
//! keep-alive connections, the native baseline and the report (table and JSON). The stack
//! comes from `stack.rs`; the proxy under test (the release binary, or any v2 proxy given by
//! `--target`), its HTTP client and the `/proc` sampling from `load.rs`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use crate::load::{
    admin, base64_encode, delete_topic, fresh_topic, http_request, HttpConn, ProcSample,
    ProxyUnderTest, RssSampler,
};
use crate::stack;

/// What `cargo xtask bench` was asked to do.
#[derive(Debug, Clone)]
pub struct BenchArgs {
    /// A reduced set (one short run per scenario) for routine checks.
    pub quick: bool,
    /// Base URL of another Confluent-v2-compatible proxy to drive instead of ours.
    pub target: Option<String>,
    /// Where to write the results as JSON.
    pub json: Option<PathBuf>,
    /// Only the scenarios whose id starts with one of these (e.g. `P1`, `L1`).
    pub only: Vec<String>,
    /// Proxy settings (`key=value`) for this run; `producer.*` and `client.*` ones apply to the
    /// native producer too, so both sides keep the same librdkafka settings.
    pub set: Vec<String>,
}

/// The proxy's default `linger.ms`, mirrored by the native producer.
const NATIVE_LINGER_MS: &str = "1";

/// Timing of one scenario run.
#[derive(Debug, Clone, Copy)]
struct Timing {
    warmup: Duration,
    measure: Duration,
    runs: usize,
}

/// One side (proxy or native) of one scenario, after the median run was picked.
#[derive(Debug, Clone, Default)]
struct Measured {
    records_per_s: f64,
    requests_per_s: f64,
    mb_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    p999_ms: f64,
    errors: u64,
    /// Proxy CPU seconds per million records (proxy side, our proxy only).
    cpu_s_per_m: Option<f64>,
    /// Peak RSS of the proxy in MiB during the run (proxy side, our proxy only).
    peak_rss_mib: Option<f64>,
    /// Threads of the proxy process (`/proc/PID/task`), where the scenario samples them.
    threads: Option<usize>,
    /// Open file descriptors of the proxy process (`/proc/PID/fd`), where sampled.
    open_fds: Option<usize>,
}

/// A finished scenario: both sides and what is compared.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    what: String,
    proxy: Measured,
    native: Option<Measured>,
    note: String,
}

pub fn bench(args: BenchArgs) -> Result<()> {
    let timing = if args.quick {
        Timing {
            warmup: Duration::from_secs(1),
            measure: Duration::from_secs(3),
            runs: 1,
        }
    } else {
        Timing {
            warmup: Duration::from_secs(2),
            measure: Duration::from_secs(10),
            runs: 3,
        }
    };
    let started = Instant::now();
    let info = stack::up(1)?;
    let mut proxy = match &args.target {
        Some(url) => ProxyUnderTest::external(url)?,
        None => ProxyUnderTest::start("bench", &info.bootstrap, &info.registry_url, &args.set)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the bench runtime")?;
    let result = runtime.block_on(run_all(&args, timing, &info.bootstrap, &mut proxy));
    proxy.stop();
    let rows = result?;
    print_table(&rows);
    if let Some(path) = &args.json {
        write_json(path, &rows, &args, timing)?;
        println!("[bench] results written to {}", path.display());
    }
    println!("[bench] done in {:.0}s", started.elapsed().as_secs_f64());
    Ok(())
}

fn wanted(args: &BenchArgs, id: &str) -> bool {
    args.only.is_empty()
        || args
            .only
            .iter()
            .any(|o| id.to_ascii_uppercase().starts_with(&o.to_ascii_uppercase()))
}

async fn run_all(
    args: &BenchArgs,
    timing: Timing,
    bootstrap: &str,
    proxy: &mut ProxyUnderTest,
) -> Result<Vec<Row>> {
    let admin = admin(bootstrap)?;
    let overrides = native_overrides(&args.set);
    let overrides = &overrides;
    let mut rows = Vec::new();

    if wanted(args, "M1") {
        if let Some(sample) = proxy.sample() {
            rows.push(Row {
                id: "M1-idle".into(),
                what: "proxy RSS, idle after start".into(),
                proxy: measured(&sample),
                native: None,
                note: "target <= 30 MiB".into(),
            });
        }
    }
    if wanted(args, "M1-consumers") {
        match proxy.pid() {
            Some(_) => {
                let counts: &[usize] = if args.quick {
                    &M1_INSTANCES[..2]
                } else {
                    &M1_INSTANCES
                };
                let topic = fresh_topic(&admin, "bench-m1", 1).await?;
                for &count in counts {
                    rows.push(idle_consumers(proxy, &topic, count).await?);
                }
                delete_topic(&admin, &topic).await;
            }
            None => println!("[bench] M1-consumers: skipped (needs /proc of our own proxy)"),
        }
    }

    // (id, what, format, records per request, connections)
    let produce_scenarios: [(&str, &str, Format, usize, usize); 5] = [
        (
            "P1-16",
            "produce JSON, 100 x 100 B per request, 16 conns",
            Format::Json,
            100,
            16,
        ),
        (
            "P1-64",
            "produce JSON, 100 x 100 B per request, 64 conns",
            Format::Json,
            100,
            64,
        ),
        (
            "P2-64",
            "produce JSON, 1 record per request, 64 conns",
            Format::Json,
            1,
            64,
        ),
        (
            "P3-16",
            "produce binary, 100 x 100 B per request, 16 conns",
            Format::Binary,
            100,
            16,
        ),
        (
            "P4-16",
            "produce Avro by value_schema_id, 100 x ~70 B per request, 16 conns",
            Format::Avro { schema_id: 0 },
            100,
            16,
        ),
    ];
    let mut p2_max_rps = None;
    for (id, what, format, batch, conns) in produce_scenarios {
        if !wanted(args, id) {
            continue;
        }
        let topic = fresh_topic(&admin, &format!("bench-{}", id.to_ascii_lowercase()), 3).await?;
        let format = match format {
            Format::Avro { .. } => Format::Avro {
                schema_id: register_avro_schema(proxy, &topic).await?,
            },
            other => other,
        };
        println!(
            "[bench] {id}: {what} ({} run(s) of {}s + {}s warm-up per side)",
            timing.runs,
            timing.measure.as_secs(),
            timing.warmup.as_secs()
        );
        let work = ProduceWork {
            topic: topic.clone(),
            format,
            batch,
            connections: conns,
        };
        let proxy_side = median_of(timing.runs, |run| {
            let work = work.clone();
            let proxy = &*proxy;
            async move {
                println!("[bench] {id}: proxy run {}/{} ...", run + 1, timing.runs);
                proxy_produce(proxy, &work, timing, None).await
            }
        })
        .await?;
        let native_side = median_of(timing.runs, |run| {
            let work = work.clone();
            async move {
                println!("[bench] {id}: native run {}/{} ...", run + 1, timing.runs);
                native_produce(bootstrap, &work, timing, None, overrides).await
            }
        })
        .await?;
        if id.starts_with("P2") {
            p2_max_rps = Some(proxy_side.requests_per_s);
        }
        let note = match id {
            "P2-64" => format!(
                "target >= 25000 req/s; got {:.0}",
                proxy_side.requests_per_s
            ),
            _ => format!(
                "target proxy/native >= 0.60; got {:.2}",
                ratio(proxy_side.records_per_s, native_side.records_per_s)
            ),
        };
        rows.push(Row {
            id: id.into(),
            what: what.into(),
            proxy: proxy_side,
            native: Some(native_side),
            note,
        });
        delete_topic(&admin, &topic).await;
    }

    if wanted(args, "C1") {
        let records = if timing.runs == 1 { 200_000 } else { 1_000_000 };
        println!("[bench] C1: filling a 3-partition topic with {records} records of ~100 B ...");
        let topic = fresh_topic(&admin, "bench-c1", 3).await?;
        fill_topic(bootstrap, &topic, records).await?;
        println!("[bench] C1: proxy, 4 instances in one group ...");
        let proxy_side = proxy_consume(proxy, &topic, records).await?;
        println!("[bench] C1: native, 4 consumers in one group ...");
        let native_side = native_consume(bootstrap, &topic, records).await?;
        let note = format!(
            "target proxy/native >= 0.50; got {:.2}",
            ratio(proxy_side.records_per_s, native_side.records_per_s)
        );
        rows.push(Row {
            id: "C1".into(),
            what: format!("consume {records} records, 4 instances in one group, binary"),
            proxy: proxy_side,
            native: Some(native_side),
            note,
        });
        delete_topic(&admin, &topic).await;
    }

    if wanted(args, "L1") {
        let topic = fresh_topic(&admin, "bench-l1", 3).await?;
        // About half the P2 maximum, measured now if P2 did not run.
        let max = match p2_max_rps {
            Some(rps) => rps,
            None => {
                let probe = ProduceWork {
                    topic: topic.clone(),
                    format: Format::Json,
                    batch: 1,
                    connections: 64,
                };
                let short = Timing {
                    warmup: Duration::from_secs(1),
                    measure: Duration::from_secs(3),
                    runs: 1,
                };
                println!("[bench] L1: probing the single-record maximum ...");
                proxy_produce(proxy, &probe, short, None)
                    .await?
                    .requests_per_s
            }
        };
        let rate = (max / 2.0).max(100.0);
        println!("[bench] L1: single-record produce at {rate:.0} req/s, proxy then native");
        let work = ProduceWork {
            topic: topic.clone(),
            format: Format::Json,
            batch: 1,
            connections: 32,
        };
        let proxy_side = median_of(timing.runs, |run| {
            let work = work.clone();
            let proxy = &*proxy;
            async move {
                println!("[bench] L1: proxy run {}/{} ...", run + 1, timing.runs);
                proxy_produce(proxy, &work, timing, Some(rate)).await
            }
        })
        .await?;
        let native_side = median_of(timing.runs, |run| {
            let work = work.clone();
            async move {
                println!("[bench] L1: native run {}/{} ...", run + 1, timing.runs);
                native_produce(bootstrap, &work, timing, Some(rate), overrides).await
            }
        })
        .await?;
        let note = format!(
            "target p99 overhead <= 2 ms; got {:.2} ms",
            proxy_side.p99_ms - native_side.p99_ms
        );
        rows.push(Row {
            id: "L1".into(),
            what: format!("latency, 1 record per request at {rate:.0} req/s"),
            proxy: proxy_side,
            native: Some(native_side),
            note,
        });
        delete_topic(&admin, &topic).await;
    }
    Ok(rows)
}

/// Instance counts of the M1-consumers scenario; `--quick` runs the first two.
const M1_INSTANCES: [usize; 3] = [1, 100, 1000];

/// Concurrent HTTP connections that create, join and delete the M1 instances.
const M1_CONNECTIONS: usize = 16;

/// Bound on creating and joining all instances of one M1 step. Both must stay well under the
/// proxy's `consumer.instance.timeout.ms` and librdkafka's `max.poll.interval.ms` (5 min each),
/// or the first instances would expire or leave their groups before the sample is taken.
const M1_JOIN_DEADLINE: Duration = Duration::from_secs(240);

/// How long the idle CPU use of the M1 instances is measured.
const M1_IDLE_WINDOW: Duration = Duration::from_secs(5);

/// M1-consumers: `count` consumer instances, each in its own group and subscribed to `topic`
/// (so each is a member of its group with the partition assigned), created through the HTTP
/// API; the proxy's RSS, threads and file descriptors with all of them alive, then again after
/// they were deleted.
async fn idle_consumers(proxy: &ProxyUnderTest, topic: &str, count: usize) -> Result<Row> {
    let id = format!("M1-consumers-{count}");
    let before = proxy.sample().context("cannot read /proc of the proxy")?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let prefix = format!("bench-m1-{stamp}-{count}");
    println!("[bench] {id}: creating {count} consumer instance(s), each in its own group ...");
    let started = Instant::now();
    let deadline = Instant::now() + M1_JOIN_DEADLINE;
    for_each_instance(proxy, count, |conn, i| {
        let instance = M1Instance::new(proxy, &prefix, i);
        let topic = topic.to_string();
        async move { instance.create_and_subscribe(conn, &topic).await }
    })
    .await?;
    let create_s = started.elapsed().as_secs_f64();
    println!("[bench] {id}: {count} created and subscribed in {create_s:.1}s; waiting until each holds its partition ...");
    for_each_instance(proxy, count, |conn, i| {
        let instance = M1Instance::new(proxy, &prefix, i);
        async move { instance.wait_joined(conn, deadline).await }
    })
    .await?;
    let join_s = started.elapsed().as_secs_f64();
    println!("[bench] {id}: all {count} joined after {join_s:.1}s");
    // Let the blocking threads of the creations go idle and the allocator settle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = proxy.sample().context("cannot read /proc of the proxy")?;
    tokio::time::sleep(M1_IDLE_WINDOW).await;
    let idle = proxy.sample().context("cannot read /proc of the proxy")?;
    let idle_cpu_pct = (idle.cpu_s - held.cpu_s) / M1_IDLE_WINDOW.as_secs_f64() * 100.0;

    println!("[bench] {id}: deleting the {count} instance(s) ...");
    for_each_instance(proxy, count, |conn, i| {
        let instance = M1Instance::new(proxy, &prefix, i);
        async move { instance.delete(conn).await }
    })
    .await?;
    let after = proxy.sample().context("cannot read /proc of the proxy")?;

    let per = |x: f64, base: f64| (x - base) / count as f64;
    let note = format!(
        "{count} live instances: +{:.2} MiB RSS, +{:.2} threads (librdkafka: +{:.2}), +{:.2} fds per instance over the proxy before; \
         threads by name {}; idle CPU {idle_cpu_pct:.1}% of a core; joined in {join_s:.1}s; \
         after deleting all: {:.1} MiB RSS, {} threads, {} fds (before: {:.1} MiB, {} threads, {} fds)",
        per(held.rss_mib, before.rss_mib),
        per(held.threads as f64, before.threads as f64),
        per(held.librdkafka_threads() as f64, before.librdkafka_threads() as f64),
        per(held.fds as f64, before.fds as f64),
        held.threads_by_name(),
        after.rss_mib,
        after.threads,
        after.fds,
        before.rss_mib,
        before.threads,
        before.fds,
    );
    Ok(Row {
        id,
        what: format!("{count} idle consumer instance(s), one group each, subscribed and joined"),
        proxy: measured(&held),
        native: None,
        note,
    })
}

/// Runs `f` for instances `0..count` over [`M1_CONNECTIONS`] keep-alive connections; each
/// connection takes the next index when it is done with one.
async fn for_each_instance<F, Fut>(proxy: &ProxyUnderTest, count: usize, f: F) -> Result<()>
where
    F: Fn(HttpConn, usize) -> Fut,
    Fut: std::future::Future<Output = Result<HttpConn>>,
{
    let next = AtomicU64::new(0);
    let worker = |_| async {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        loop {
            let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).unwrap_or(usize::MAX);
            if i >= count {
                return Ok::<(), anyhow::Error>(());
            }
            conn = f(conn, i).await?;
        }
    };
    let workers = futures::future::join_all((0..M1_CONNECTIONS.min(count)).map(worker)).await;
    workers.into_iter().collect()
}

/// One instance of the M1-consumers scenario: its group, and the requests made to it.
struct M1Instance {
    /// `Host` header.
    host: String,
    group: String,
    /// `/consumers/<group>` under the proxy's base path.
    group_path: String,
    /// `/consumers/<group>/instances/m1` under the proxy's base path.
    path: String,
}

impl M1Instance {
    fn new(proxy: &ProxyUnderTest, prefix: &str, i: usize) -> M1Instance {
        let group = format!("{prefix}-{i}");
        let group_path = format!("{}/consumers/{group}", proxy.base_path);
        M1Instance {
            host: proxy.host.clone(),
            path: format!("{group_path}/instances/m1"),
            group_path,
            group,
        }
    }

    fn request(&self, method: &str, path: &str, accept: &str, body: Option<&str>) -> Vec<u8> {
        let body = body.map(|b| ("application/vnd.kafka.v2+json", b));
        http_request(&self.host, "", method, path, accept, body)
    }

    async fn call(
        &self,
        conn: &mut HttpConn,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<&str>,
        expected: u16,
    ) -> Result<Vec<u8>> {
        let (status, answer) = conn
            .roundtrip(&self.request(method, path, accept, body))
            .await?;
        if status != expected {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&answer)
            );
        }
        Ok(answer)
    }

    async fn create_and_subscribe(&self, mut conn: HttpConn, topic: &str) -> Result<HttpConn> {
        let v2 = "application/vnd.kafka.v2+json";
        let create = json!({"name": "m1", "format": "binary", "auto.offset.reset": "earliest"});
        self.call(
            &mut conn,
            "POST",
            &self.group_path,
            v2,
            Some(&create.to_string()),
            200,
        )
        .await?;
        let subscribe = json!({ "topics": [topic] });
        let path = format!("{}/subscription", self.path);
        self.call(
            &mut conn,
            "POST",
            &path,
            v2,
            Some(&subscribe.to_string()),
            204,
        )
        .await?;
        Ok(conn)
    }

    /// Reads (which lets librdkafka apply the group's assignment) until the instance holds
    /// the partition: it is then a member of its group.
    async fn wait_joined(&self, mut conn: HttpConn, deadline: Instant) -> Result<HttpConn> {
        let records = format!("{}/records?timeout=100", self.path);
        let assignments = format!("{}/assignments", self.path);
        loop {
            self.call(
                &mut conn,
                "GET",
                &records,
                "application/vnd.kafka.binary.v2+json",
                None,
                200,
            )
            .await?;
            let body = self
                .call(
                    &mut conn,
                    "GET",
                    &assignments,
                    "application/vnd.kafka.v2+json",
                    None,
                    200,
                )
                .await?;
            let partitions: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if partitions["partitions"]
                .as_array()
                .is_some_and(|p| !p.is_empty())
            {
                return Ok(conn);
            }
            if Instant::now() > deadline {
                bail!(
                    "group {} gave its instance no partition within {}s",
                    self.group,
                    M1_JOIN_DEADLINE.as_secs()
                );
            }
        }
    }

    async fn delete(&self, mut conn: HttpConn) -> Result<HttpConn> {
        self.call(
            &mut conn,
            "DELETE",
            &self.path,
            "application/vnd.kafka.v2+json",
            None,
            204,
        )
        .await?;
        Ok(conn)
    }
}

/// Runs `f` `runs` times and keeps the run with the median records/s.
async fn median_of<F, Fut>(runs: usize, mut f: F) -> Result<Measured>
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = Result<Measured>>,
{
    let mut all = Vec::with_capacity(runs);
    for run in 0..runs {
        all.push(f(run).await?);
    }
    all.sort_by(|a, b| a.records_per_s.total_cmp(&b.records_per_s));
    Ok(all.swap_remove(all.len() / 2))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Binary,
    /// Avro records sent with `value_schema_id` (registered before the scenario).
    Avro {
        schema_id: i32,
    },
}

/// The produce work both sides do.
#[derive(Debug, Clone)]
struct ProduceWork {
    topic: String,
    format: Format,
    /// Records per request.
    batch: usize,
    /// Concurrent connections (proxy) or concurrent request loops (native).
    connections: usize,
}

/// A value of about 100 bytes; JSON text for the json format, raw bytes for binary.
fn record_value(i: usize) -> String {
    format!("{{\"id\":\"{i:08}\",\"name\":\"bench-record\",\"payload\":\"{PAYLOAD}\"}}")
}

/// The constant text field of every bench record.
const PAYLOAD: &str = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghij";

/// The Avro schema of P4: the three string fields of [`record_value`].
const AVRO_SCHEMA: &str = r#"{"type":"record","name":"BenchRecord","fields":[{"name":"id","type":"string"},{"name":"name","type":"string"},{"name":"payload","type":"string"}]}"#;

/// Avro's binary encoding of a string: zig-zag varint length, then the bytes.
fn avro_string(out: &mut Vec<u8>, s: &str) {
    let mut n = (s.len() as u64) << 1;
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
    out.extend_from_slice(s.as_bytes());
}

/// Record `i` as Confluent's Avro serializer frames it: magic 0, the schema id, the encoding.
fn avro_framed(i: usize, schema_id: i32) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&schema_id.to_be_bytes());
    avro_string(&mut out, &format!("{i:08}"));
    avro_string(&mut out, "bench-record");
    avro_string(&mut out, PAYLOAD);
    out
}

/// The bytes the native producer writes for record `i`, the same the proxy writes.
fn native_value(format: Format, i: usize) -> Vec<u8> {
    match format {
        Format::Json | Format::Binary => record_value(i).into_bytes(),
        Format::Avro { schema_id } => avro_framed(i, schema_id),
    }
}

impl ProduceWork {
    /// The HTTP request one connection sends again and again, and the Kafka bytes per request.
    fn http_request(&self, host: &str, base_path: &str) -> (Vec<u8>, usize) {
        let mut kafka_bytes = 0;
        let records: Vec<Value> = (0..self.batch)
            .map(|i| {
                let v = record_value(i);
                kafka_bytes += native_value(self.format, i).len();
                match self.format {
                    // `record_value` is valid JSON; a parse failure would be a bench bug.
                    Format::Json | Format::Avro { .. } => {
                        json!({ "value": serde_json::from_str::<Value>(&v).unwrap_or(Value::Null) })
                    }
                    Format::Binary => json!({ "value": base64_encode(v.as_bytes()) }),
                }
            })
            .collect();
        let body = match self.format {
            Format::Avro { schema_id } => {
                json!({ "value_schema_id": schema_id, "records": records }).to_string()
            }
            _ => json!({ "records": records }).to_string(),
        };
        let content_type = match self.format {
            Format::Json => "application/vnd.kafka.json.v2+json",
            Format::Binary => "application/vnd.kafka.binary.v2+json",
            Format::Avro { .. } => "application/vnd.kafka.avro.v2+json",
        };
        let head = format!(
            "POST {base_path}/topics/{} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\nAccept: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n",
            self.topic,
            body.len()
        );
        let mut bytes = head.into_bytes();
        bytes.extend_from_slice(body.as_bytes());
        (bytes, kafka_bytes)
    }
}

/// Counters shared by the request loops of one run.
#[derive(Default)]
struct Counters {
    requests: AtomicU64,
    errors: AtomicU64,
}

/// Drives the proxy with `work.connections` keep-alive connections for warm-up plus the measured
/// window. With `rate`, requests are paced to that many per second in total.
async fn proxy_produce(
    proxy: &ProxyUnderTest,
    work: &ProduceWork,
    timing: Timing,
    rate: Option<f64>,
) -> Result<Measured> {
    let (request, kafka_bytes) = work.http_request(&proxy.host, &proxy.base_path);
    let request = Arc::new(request);
    let counters = Arc::new(Counters::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..work.connections {
        let request = Arc::clone(&request);
        let counters = Arc::clone(&counters);
        let measuring = Arc::clone(&measuring);
        let stop = Arc::clone(&stop);
        let addr = proxy.addr.clone();
        let interval = rate.map(|r| Duration::from_secs_f64(work.connections as f64 / r));
        let offset = interval.map(|i| i.mul_f64(c as f64 / work.connections as f64));
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut conn = HttpConn::connect(&addr).await?;
            let mut next = tokio::time::Instant::now() + offset.unwrap_or_default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(interval) = interval {
                    tokio::time::sleep_until(next).await;
                    next += interval;
                }
                let sent = Instant::now();
                let (status, body) = conn.roundtrip(&request).await?;
                let ok = status == 200 && !contains(&body, b"\"error_code\":5");
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    counters.requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            Ok::<Vec<u32>, anyhow::Error>(latencies)
        }));
    }
    tokio::time::sleep(timing.warmup).await;
    let cpu_before = proxy.cpu_seconds();
    let sampler = proxy.rss_sampler();
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(timing.measure).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    let cpu_after = proxy.cpu_seconds();
    stop.store(true, Ordering::Relaxed);
    let peak_rss = sampler.map(RssSampler::finish);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("load task panicked")??);
    }
    let requests = counters.requests.load(Ordering::Relaxed);
    let records = requests * work.batch as u64;
    Ok(summarize(
        requests,
        records,
        requests * kafka_bytes as u64,
        counters.errors.load(Ordering::Relaxed),
        elapsed,
        latencies,
        match (cpu_before, cpu_after) {
            (Some(a), Some(b)) if records > 0 => Some((b - a) / records as f64 * 1e6),
            _ => None,
        },
        peak_rss,
    ))
}

/// The same work done natively: each loop enqueues one request's records on a shared producer
/// with the proxy's settings and awaits their delivery reports.
async fn native_produce(
    bootstrap: &str,
    work: &ProduceWork,
    timing: Timing,
    rate: Option<f64>,
    overrides: &[(String, String)],
) -> Result<Measured> {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("partitioner", "murmur2_random")
        .set("linger.ms", NATIVE_LINGER_MS)
        .set_log_level(RDKafkaLogLevel::Emerg);
    for (k, v) in overrides {
        config.set(k, v);
    }
    let producer: FutureProducer = config
        .create()
        .context("cannot create the native producer")?;
    let values: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..work.batch)
            .map(|i| native_value(work.format, i))
            .collect(),
    );
    let kafka_bytes: usize = values.iter().map(Vec::len).sum();
    let counters = Arc::new(Counters::default());
    let measuring = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for c in 0..work.connections {
        let producer = producer.clone();
        let values = Arc::clone(&values);
        let counters = Arc::clone(&counters);
        let measuring = Arc::clone(&measuring);
        let stop = Arc::clone(&stop);
        let topic = work.topic.clone();
        let interval = rate.map(|r| Duration::from_secs_f64(work.connections as f64 / r));
        let offset = interval.map(|i| i.mul_f64(c as f64 / work.connections as f64));
        tasks.push(tokio::spawn(async move {
            let mut latencies: Vec<u32> = Vec::new();
            let mut next = tokio::time::Instant::now() + offset.unwrap_or_default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(interval) = interval {
                    tokio::time::sleep_until(next).await;
                    next += interval;
                }
                let sent = Instant::now();
                let mut futures = Vec::with_capacity(values.len());
                for v in values.iter() {
                    let record: FutureRecord<'_, [u8], [u8]> =
                        FutureRecord::to(&topic).payload(v.as_slice());
                    futures.push(producer.send(record, Duration::from_secs(30)));
                }
                let results = futures::future::join_all(futures).await;
                let ok = results.iter().all(Result::is_ok);
                if measuring.load(Ordering::Relaxed) {
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    counters.requests.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        counters.errors.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            latencies
        }));
    }
    tokio::time::sleep(timing.warmup).await;
    measuring.store(true, Ordering::Relaxed);
    let t0 = Instant::now();
    tokio::time::sleep(timing.measure).await;
    measuring.store(false, Ordering::Relaxed);
    let elapsed = t0.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("native task panicked")?);
    }
    let requests = counters.requests.load(Ordering::Relaxed);
    Ok(summarize(
        requests,
        requests * work.batch as u64,
        requests * kafka_bytes as u64,
        counters.errors.load(Ordering::Relaxed),
        elapsed,
        latencies,
        None,
        None,
    ))
}

/// Registers P4's schema under `<topic>-value` through the proxy (one produce with the schema
/// text) and returns its id, which both sides then use.
async fn register_avro_schema(proxy: &ProxyUnderTest, topic: &str) -> Result<i32> {
    let value: Value = serde_json::from_str(&record_value(0)).context("bench record")?;
    let body = json!({ "value_schema": AVRO_SCHEMA, "records": [{ "value": value }] }).to_string();
    let request = format!(
        "POST {}/topics/{topic} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/vnd.kafka.avro.v2+json\r\nContent-Length: {}\r\n\r\n{body}",
        proxy.base_path,
        proxy.host,
        body.len()
    );
    let mut conn = HttpConn::connect(&proxy.addr).await?;
    let (status, answer) = conn.roundtrip(request.as_bytes()).await?;
    let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
    match answer["value_schema_id"].as_i64() {
        Some(id) if status == 200 => i32::try_from(id).context("schema id out of range"),
        _ => bail!("cannot register the P4 schema: {status} {answer}"),
    }
}

/// Writes `count` records of ~100 bytes with a native producer and waits for all of them.
async fn fill_topic(bootstrap: &str, topic: &str, count: usize) -> Result<()> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("linger.ms", "20")
        .set_log_level(RDKafkaLogLevel::Emerg)
        .create()
        .context("cannot create the fill producer")?;
    let mut pending = Vec::with_capacity(10_000);
    for i in 0..count {
        let value = record_value(i);
        loop {
            let record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(topic).payload(value.as_bytes());
            match producer.send_result(record) {
                Ok(delivery) => {
                    pending.push(delivery);
                    break;
                }
                // The local queue is full: wait for what is in flight, then enqueue again.
                Err((_, _)) if !pending.is_empty() => {
                    for r in futures::future::join_all(pending.drain(..)).await {
                        r.context("fill producer closed")?
                            .map_err(|(e, _)| anyhow::anyhow!("fill failed: {e}"))?;
                    }
                }
                Err((e, _)) => bail!("cannot enqueue a fill record: {e}"),
            }
        }
        if pending.len() == 10_000 {
            for r in futures::future::join_all(pending.drain(..)).await {
                r.context("fill producer closed")?
                    .map_err(|(e, _)| anyhow::anyhow!("fill failed: {e}"))?;
            }
        }
    }
    for r in futures::future::join_all(pending).await {
        r.context("fill producer closed")?
            .map_err(|(e, _)| anyhow::anyhow!("fill failed: {e}"))?;
    }
    Ok(())
}

/// Four instances in one group read the topic through records calls until every record came
/// back; the clock runs from the first record to the last.
async fn proxy_consume(proxy: &ProxyUnderTest, topic: &str, total: usize) -> Result<Measured> {
    let group = format!("{topic}-proxy");
    let host = &proxy.host;
    let base = &proxy.base_path;
    let mut conns = Vec::new();
    for i in 0..4 {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        let body = format!(r#"{{"name":"c{i}","format":"binary","auto.offset.reset":"earliest"}}"#);
        let create = format!(
            "POST {base}/consumers/{group} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (status, answer) = conn.roundtrip(create.as_bytes()).await?;
        if status != 200 {
            bail!(
                "create consumer: {status} {}",
                String::from_utf8_lossy(&answer)
            );
        }
        let sub = format!(r#"{{"topics":["{topic}"]}}"#);
        let subscribe = format!(
            "POST {base}/consumers/{group}/instances/c{i}/subscription HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n{sub}",
            sub.len()
        );
        let (status, answer) = conn.roundtrip(subscribe.as_bytes()).await?;
        if status != 204 {
            bail!("subscribe: {status} {}", String::from_utf8_lossy(&answer));
        }
        conns.push(conn);
    }
    let seen = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let cpu_before = proxy.cpu_seconds();
    let sampler = proxy.rss_sampler();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let seen = Arc::clone(&seen);
        let bytes = Arc::clone(&bytes);
        let first = Arc::clone(&first);
        let request = format!(
            "GET {base}/consumers/{group}/instances/c{i}/records?timeout=1000&max_bytes=4000000 HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.kafka.binary.v2+json\r\n\r\n"
        );
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while (seen.load(Ordering::Relaxed) as usize) < total && Instant::now() < deadline {
                let sent = Instant::now();
                let (status, body) = conn.roundtrip(request.as_bytes()).await?;
                if status != 200 {
                    bail!("records: {status} {}", String::from_utf8_lossy(&body));
                }
                let n = body.windows(9).filter(|w| w == b"\"offset\":").count() as u64;
                if n > 0 {
                    if let Ok(mut f) = first.lock() {
                        f.get_or_insert(sent);
                    }
                    latencies.push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                }
                seen.fetch_add(n, Ordering::Relaxed);
                bytes.fetch_add(n * 100, Ordering::Relaxed);
            }
            Ok::<Vec<u32>, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.context("consume task panicked")??);
    }
    let done = Instant::now();
    let cpu_after = proxy.cpu_seconds();
    let peak_rss = sampler.map(RssSampler::finish);
    let started = first.lock().ok().and_then(|f| *f).unwrap_or(done);
    let n = seen.load(Ordering::Relaxed);
    if (n as usize) < total {
        bail!("the proxy returned {n} of {total} records within 120 s");
    }
    // Leave the group (best effort; the instances expire anyway).
    for i in 0..4 {
        if let Ok(mut conn) = HttpConn::connect(&proxy.addr).await {
            let delete = format!(
                "DELETE {base}/consumers/{group}/instances/c{i} HTTP/1.1\r\nHost: {host}\r\n\r\n"
            );
            let _ = conn.roundtrip(delete.as_bytes()).await;
        }
    }
    let elapsed = done.duration_since(started).as_secs_f64().max(1e-3);
    let requests = latencies.len() as u64;
    Ok(summarize(
        requests,
        n,
        bytes.load(Ordering::Relaxed),
        0,
        elapsed,
        latencies,
        match (cpu_before, cpu_after) {
            (Some(a), Some(b)) if n > 0 => Some((b - a) / n as f64 * 1e6),
            _ => None,
        },
        peak_rss,
    ))
}

/// Four native consumers in one group read the same topic; the clock runs from the first
/// record to the last.
async fn native_consume(bootstrap: &str, topic: &str, total: usize) -> Result<Measured> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let group = format!("{topic}-native");
    let seen = Arc::new(AtomicU64::new(0));
    let first = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", &group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.offset.store", "false")
            .set_log_level(RDKafkaLogLevel::Emerg)
            .create()
            .context("cannot create a native consumer")?;
        consumer.subscribe(&[topic]).context("subscribe")?;
        let seen = Arc::clone(&seen);
        let first = Arc::clone(&first);
        tasks.push(tokio::spawn(async move {
            while (seen.load(Ordering::Relaxed) as usize) < total && Instant::now() < deadline {
                if let Ok(Ok(m)) =
                    tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await
                {
                    if let Ok(mut f) = first.lock() {
                        f.get_or_insert_with(Instant::now);
                    }
                    let _ = consumer.store_offset_from_message(&m);
                    seen.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("native consumer panicked")?;
    }
    let done = Instant::now();
    let started = first.lock().ok().and_then(|f| *f).unwrap_or(done);
    let n = seen.load(Ordering::Relaxed);
    if (n as usize) < total {
        bail!("the native consumers read {n} of {total} records within 120 s");
    }
    let elapsed = done.duration_since(started).as_secs_f64().max(1e-3);
    Ok(summarize(n, n, n * 100, 0, elapsed, Vec::new(), None, None))
}

#[allow(clippy::too_many_arguments)]
fn summarize(
    requests: u64,
    records: u64,
    bytes: u64,
    errors: u64,
    elapsed: f64,
    mut latencies: Vec<u32>,
    cpu_s_per_m: Option<f64>,
    peak_rss_mib: Option<f64>,
) -> Measured {
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return 0.0;
        }
        let i = ((latencies.len() as f64 * p).ceil() as usize).clamp(1, latencies.len()) - 1;
        f64::from(latencies[i]) / 1000.0
    };
    Measured {
        records_per_s: records as f64 / elapsed,
        requests_per_s: requests as f64 / elapsed,
        mb_per_s: bytes as f64 / elapsed / 1e6,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        errors,
        cpu_s_per_m,
        peak_rss_mib,
        ..Measured::default()
    }
}

/// The bench row of one look at the proxy.
fn measured(sample: &ProcSample) -> Measured {
    Measured {
        peak_rss_mib: Some(sample.rss_mib),
        threads: Some(sample.threads),
        open_fds: Some(sample.fds),
        ..Measured::default()
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// librdkafka settings of `--set producer.*` / `client.*`, for the native producer.
fn native_overrides(set: &[String]) -> Vec<(String, String)> {
    set.iter()
        .filter_map(|item| item.split_once('='))
        .filter_map(|(k, v)| {
            k.strip_prefix("producer.")
                .or_else(|| k.strip_prefix("client."))
                .map(|k| (k.to_string(), v.to_string()))
        })
        .collect()
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

fn print_table(rows: &[Row]) {
    println!();
    println!(
        "| scenario | side | records/s | req/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors | CPU s / M rec | peak RSS MiB | threads | proxy/native |"
    );
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for row in rows {
        let fmt_opt = |v: Option<f64>, digits: usize| {
            v.map(|x| format!("{x:.digits$}"))
                .unwrap_or_else(|| "-".into())
        };
        let m = &row.proxy;
        let ratio_text = row
            .native
            .as_ref()
            .map(|n| format!("{:.2}", ratio(m.records_per_s, n.records_per_s)))
            .unwrap_or_else(|| "-".into());
        println!(
            "| {} | proxy | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            row.id,
            m.records_per_s,
            m.requests_per_s,
            m.mb_per_s,
            m.p50_ms,
            m.p99_ms,
            m.p999_ms,
            m.errors,
            fmt_opt(m.cpu_s_per_m, 1),
            fmt_opt(m.peak_rss_mib, 1),
            m.threads.map_or_else(|| "-".into(), |t| t.to_string()),
            ratio_text
        );
        if let Some(n) = &row.native {
            println!(
                "| {} | native | {:.0} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {} | - | - | - | |",
                row.id,
                n.records_per_s,
                n.requests_per_s,
                n.mb_per_s,
                n.p50_ms,
                n.p99_ms,
                n.p999_ms,
                n.errors
            );
        }
    }
    println!();
    for row in rows {
        println!("{}: {} ({})", row.id, row.what, row.note);
    }
}

fn measured_json(m: &Measured) -> Value {
    json!({
        "records_per_s": m.records_per_s,
        "requests_per_s": m.requests_per_s,
        "mb_per_s": m.mb_per_s,
        "p50_ms": m.p50_ms,
        "p99_ms": m.p99_ms,
        "p999_ms": m.p999_ms,
        "errors": m.errors,
        "cpu_s_per_million_records": m.cpu_s_per_m,
        "peak_rss_mib": m.peak_rss_mib,
        "threads": m.threads,
        "open_fds": m.open_fds,
    })
}

fn write_json(path: &Path, rows: &[Row], args: &BenchArgs, timing: Timing) -> Result<()> {
    let scenarios: BTreeMap<&str, Value> = rows
        .iter()
        .map(|r| {
            (
                r.id.as_str(),
                json!({
                    "what": r.what,
                    "proxy": measured_json(&r.proxy),
                    "native": r.native.as_ref().map(measured_json),
                    "ratio_records_per_s": r.native.as_ref().map(|n| ratio(r.proxy.records_per_s, n.records_per_s)),
                    "note": r.note,
                }),
            )
        })
        .collect();
    let doc = json!({
        "quick": args.quick,
        "target": args.target,
        "warmup_s": timing.warmup.as_secs_f64(),
        "measure_s": timing.measure.as_secs_f64(),
        "runs": timing.runs,
        "scenarios": scenarios,
    });
    let text = serde_json::to_string_pretty(&doc).context("serialize results")?;
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_with_padding() {
        assert_eq!(base64_encode(b""), "");
        assert_eq!(base64_encode(b"f"), "Zg==");
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(b"foo"), "Zm9v");
        assert_eq!(base64_encode(b"Kafka"), "S2Fma2E=");
    }

    #[test]
    fn avro_framing_matches_confluents_layout() {
        let framed = avro_framed(7, 258);
        assert_eq!(&framed[..5], &[0, 0, 0, 1, 2]);
        // "00000007": 8 bytes, zig-zag 16.
        assert_eq!(framed[5], 16);
        assert_eq!(&framed[6..14], b"00000007");
        let mut long = Vec::new();
        avro_string(&mut long, &"x".repeat(100));
        assert_eq!(&long[..2], &[0xc8, 0x01]);
    }

    #[test]
    fn bench_records_are_valid_json() {
        let v: Value = serde_json::from_str(&record_value(42)).expect("valid JSON");
        assert_eq!(v["id"], "00000042");
    }

    #[test]
    fn records_are_about_100_bytes() {
        let len = record_value(7).len();
        assert!((90..=110).contains(&len), "{len}");
    }

    #[test]
    fn summary_percentiles_pick_the_right_ranks() {
        let lat: Vec<u32> = (1..=1000).map(|i| i * 1000).collect();
        let m = summarize(1000, 1000, 0, 0, 1.0, lat, None, None);
        assert_eq!(m.p50_ms, 500.0);
        assert_eq!(m.p99_ms, 990.0);
        assert_eq!(m.p999_ms, 999.0);
    }
}
