//! `cargo xtask soak [--minutes 10]`: a moderate mixed load on the release proxy in front of
//! the running stack for a long while, watching whether the proxy's resident memory, open file
//! descriptors and threads stay flat.
//!
//! Owns the load mix (json and binary produce, consumer instances reading and committing,
//! consumer instances created and deleted, metadata reads), the sampling of the proxy from
//! `/proc` every few seconds with a progress line each time, and the verdict: after a warm-up,
//! the last third of the samples is compared with the first third. The proxy under test, its
//! HTTP client and `/proc` readers are `load.rs`; the stack is `stack/`. Not part of CI.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::load::{
    admin, base64_encode, delete_topic, fresh_topic, http_request, HttpConn, ProcSample,
    ProxyUnderTest,
};
use crate::stack;

const V2: &str = "application/vnd.kafka.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";

/// What `cargo xtask soak` was asked to do.
#[derive(Debug, Clone)]
pub struct SoakArgs {
    pub minutes: f64,
    /// Seconds between two samples of the proxy.
    pub every: u64,
}

/// Partitions of each soak topic.
const PARTITIONS: i32 = 3;
/// Produce requests per second of each of the four producer loops, 10 records each.
const PRODUCE_RATE: f64 = 25.0;
const RECORDS_PER_REQUEST: usize = 10;
/// Metadata requests per second.
const METADATA_RATE: f64 = 20.0;
/// A short-lived consumer instance is created, read from and deleted this often.
const CHURN_EVERY: Duration = Duration::from_secs(3);

/// RSS may grow this much (relative) from the first to the last third and still be flat...
const RSS_GROWTH_LIMIT: f64 = 0.10;
/// ...or this much in MiB, whichever is larger (allocator noise on a small heap).
const RSS_GROWTH_FLOOR_MIB: f64 = 8.0;
/// Descriptors and threads may differ this much between the thirds' medians (a short-lived
/// instance or connection may exist at one sample and not at another).
const FD_SLACK: f64 = 6.0;
const THREAD_SLACK: f64 = 6.0;

/// Requests and errors of one kind of load.
#[derive(Default)]
struct Counter {
    requests: AtomicU64,
    errors: AtomicU64,
    /// Records produced or consumed.
    records: AtomicU64,
}

impl Counter {
    fn ok(&self, records: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(records, Ordering::Relaxed);
    }

    fn failed(&self, what: &str, error: &anyhow::Error) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        // The first few failures of a kind are shown; the count tells the rest.
        if self.errors.fetch_add(1, Ordering::Relaxed) < 3 {
            eprintln!("[soak] {what} failed: {error:#}");
        }
    }

    fn line(&self, name: &str) -> String {
        format!(
            "{name} {} req/{} rec/{} err",
            self.requests.load(Ordering::Relaxed),
            self.records.load(Ordering::Relaxed),
            self.errors.load(Ordering::Relaxed)
        )
    }
}

#[derive(Default)]
struct Counters {
    produce: Counter,
    consume: Counter,
    churn: Counter,
    metadata: Counter,
}

/// One look at the proxy, `at` seconds into the run.
struct Sample {
    at: f64,
    proc: ProcSample,
}

pub fn soak(args: SoakArgs) -> Result<()> {
    if args.minutes <= 0.0 || args.every == 0 {
        bail!("--minutes and --every must be positive");
    }
    let info = stack::up(1)?;
    let mut proxy = ProxyUnderTest::start("soak", &info.bootstrap, &info.registry_url, &[])?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the soak runtime")?;
    let result = runtime.block_on(run(&args, &info.bootstrap, &proxy));
    proxy.stop();
    let samples = result?;
    verdict(&samples, args.minutes)
}

async fn run(args: &SoakArgs, bootstrap: &str, proxy: &ProxyUnderTest) -> Result<Vec<Sample>> {
    let admin = admin(bootstrap)?;
    let json_topic = fresh_topic(&admin, "soak-json", PARTITIONS).await?;
    let binary_topic = fresh_topic(&admin, "soak-binary", PARTITIONS).await?;
    let proxy = Arc::new(ProxyLink::new(proxy));
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let stamp = json_topic.trim_start_matches("soak-json-").to_string();
    println!(
        "[soak] {:.1} min of load: 4 x {PRODUCE_RATE} produce req/s ({RECORDS_PER_REQUEST} records, json and binary), \
         2 json consumer instances reading, an instance created and deleted every {}s, \
         {METADATA_RATE} metadata req/s; a sample every {}s",
        args.minutes,
        CHURN_EVERY.as_secs(),
        args.every
    );

    let mut tasks = Vec::new();
    for (i, (topic, format)) in [
        (&json_topic, JSON),
        (&json_topic, JSON),
        (&binary_topic, BINARY),
        (&binary_topic, BINARY),
    ]
    .into_iter()
    .enumerate()
    {
        let body = produce_body(format, i);
        let path = format!("/topics/{topic}");
        tasks.push(tokio::spawn(produce_loop(
            Arc::clone(&proxy),
            Arc::clone(&counters),
            Arc::clone(&stop),
            path,
            format,
            body,
        )));
    }
    let group = format!("soak-{stamp}");
    for i in 0..2 {
        tasks.push(tokio::spawn(consume_loop(
            Arc::clone(&proxy),
            Arc::clone(&counters),
            Arc::clone(&stop),
            group.clone(),
            format!("reader-{i}"),
            json_topic.clone(),
        )));
    }
    tasks.push(tokio::spawn(churn_loop(
        Arc::clone(&proxy),
        Arc::clone(&counters),
        Arc::clone(&stop),
        format!("soak-churn-{stamp}"),
        binary_topic.clone(),
    )));
    tasks.push(tokio::spawn(metadata_loop(
        Arc::clone(&proxy),
        Arc::clone(&counters),
        Arc::clone(&stop),
        vec![json_topic.clone(), binary_topic.clone()],
    )));

    let started = Instant::now();
    let total = Duration::from_secs_f64(args.minutes * 60.0);
    let every = Duration::from_secs(args.every);
    let mut samples = Vec::new();
    let mut cpu_before: Option<(f64, f64)> = None;
    let mut next = started;
    while started.elapsed() < total {
        next += every;
        tokio::time::sleep_until(next.into()).await;
        let at = started.elapsed().as_secs_f64();
        let proc = proxy
            .pid
            .and_then(ProcSample::take)
            .context("the proxy is gone: it exited during the soak")?;
        let cpu = match cpu_before {
            Some((t0, c0)) if at > t0 => 100.0 * (proc.cpu_s - c0) / (at - t0),
            _ => 0.0,
        };
        cpu_before = Some((at, proc.cpu_s));
        println!(
            "[soak] {:>3}:{:02} rss {:>6.1} MiB  fds {:>4}  threads {:>3}  cpu {:>3.0}% | {} | {} | {} | {}",
            (at as u64) / 60,
            (at as u64) % 60,
            proc.rss_mib,
            proc.fds,
            proc.threads,
            cpu,
            counters.produce.line("produce"),
            counters.consume.line("consume"),
            counters.churn.line("churn"),
            counters.metadata.line("metadata"),
        );
        samples.push(Sample { at, proc });
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    delete_topic(&admin, &json_topic).await;
    delete_topic(&admin, &binary_topic).await;
    let requests: u64 = [
        &counters.produce,
        &counters.consume,
        &counters.churn,
        &counters.metadata,
    ]
    .iter()
    .map(|c| c.requests.load(Ordering::Relaxed))
    .sum();
    let errors: u64 = [
        &counters.produce,
        &counters.consume,
        &counters.churn,
        &counters.metadata,
    ]
    .iter()
    .map(|c| c.errors.load(Ordering::Relaxed))
    .sum();
    println!(
        "[soak] load done: {requests} requests, {errors} errors, {} records produced, {} consumed",
        counters.produce.records.load(Ordering::Relaxed),
        counters.consume.records.load(Ordering::Relaxed)
    );
    if errors * 100 > requests {
        bail!("{errors} of {requests} requests failed");
    }
    Ok(samples)
}

/// What the load loops need of the proxy: where to connect, and how to address requests.
struct ProxyLink {
    addr: String,
    host: String,
    base_path: String,
    pid: Option<u32>,
}

impl ProxyLink {
    fn new(proxy: &ProxyUnderTest) -> ProxyLink {
        ProxyLink {
            addr: proxy.addr.clone(),
            host: proxy.host.clone(),
            base_path: proxy.base_path.clone(),
            pid: proxy.pid(),
        }
    }

    /// Sends one request on `conn` (reconnecting once if the proxy closed an idle connection)
    /// and checks the status.
    async fn call(
        &self,
        conn: &mut Option<HttpConn>,
        method: &str,
        path: &str,
        accept: &str,
        body: Option<(&str, &str)>,
        expected: u16,
    ) -> Result<Vec<u8>> {
        let request = http_request(&self.host, &self.base_path, method, path, accept, body);
        let (status, answer) = match conn.as_mut() {
            Some(c) => match c.roundtrip(&request).await {
                Ok(answer) => answer,
                Err(_) => self.reconnect(conn).await?.roundtrip(&request).await?,
            },
            None => self.reconnect(conn).await?.roundtrip(&request).await?,
        };
        if status != expected {
            bail!(
                "{method} {path} answered {status}: {}",
                String::from_utf8_lossy(&answer[..answer.len().min(200)])
            );
        }
        Ok(answer)
    }

    async fn reconnect<'c>(&self, conn: &'c mut Option<HttpConn>) -> Result<&'c mut HttpConn> {
        Ok(conn.insert(HttpConn::connect(&self.addr).await?))
    }
}

/// Sleeps until the `n`-th tick of a loop paced at `rate` per second.
async fn pace(started: Instant, n: u64, rate: f64) {
    let at = started + Duration::from_secs_f64(n as f64 / rate);
    tokio::time::sleep_until(at.into()).await;
}

fn produce_body(format: &str, loop_index: usize) -> String {
    let records: Vec<Value> = (0..RECORDS_PER_REQUEST)
        .map(|i| {
            let key = format!("key-{loop_index}-{i}");
            let value = json!({"loop": loop_index, "i": i, "payload": "soak-soak-soak-soak-soak-soak-soak-soak"});
            if format == JSON {
                json!({ "key": key, "value": value })
            } else {
                json!({
                    "key": base64_encode(key.as_bytes()),
                    "value": base64_encode(value.to_string().as_bytes()),
                })
            }
        })
        .collect();
    json!({ "records": records }).to_string()
}

async fn produce_loop(
    proxy: Arc<ProxyLink>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    path: String,
    format: &'static str,
    body: String,
) {
    let mut conn = None;
    let started = Instant::now();
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        match proxy
            .call(&mut conn, "POST", &path, V2, Some((format, &body)), 200)
            .await
        {
            Ok(_) => counters.produce.ok(RECORDS_PER_REQUEST as u64),
            Err(e) => counters.produce.failed("produce", &e),
        }
        n += 1;
        pace(started, n, PRODUCE_RATE).await;
    }
}

/// One long-lived json instance of `group`: subscribes, then reads and commits until stopped,
/// then deletes itself.
async fn consume_loop(
    proxy: Arc<ProxyLink>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    group: String,
    name: String,
    topic: String,
) {
    let mut conn = None;
    let base = format!("/consumers/{group}/instances/{name}");
    let create = json!({"name": name, "format": "json", "auto.offset.reset": "earliest"});
    if let Err(e) = create_and_subscribe(&proxy, &mut conn, &group, &base, &create, &topic).await {
        counters.consume.failed("consumer setup", &e);
        return;
    }
    let records = format!("{base}/records?timeout=500&max_bytes=1000000");
    let offsets = format!("{base}/offsets");
    let mut reads = 0u64;
    while !stop.load(Ordering::Relaxed) {
        match proxy
            .call(&mut conn, "GET", &records, JSON, None, 200)
            .await
        {
            Ok(body) => {
                let count = serde_json::from_slice::<Value>(&body)
                    .ok()
                    .and_then(|v| v.as_array().map(Vec::len))
                    .unwrap_or(0);
                counters.consume.ok(count as u64);
            }
            Err(e) => counters.consume.failed("records", &e),
        }
        reads += 1;
        if reads.is_multiple_of(10) {
            if let Err(e) = proxy.call(&mut conn, "POST", &offsets, V2, None, 200).await {
                counters.consume.failed("commit", &e);
            }
        }
    }
    if let Err(e) = proxy.call(&mut conn, "DELETE", &base, V2, None, 204).await {
        counters.consume.failed("delete", &e);
    }
}

/// Creates the instance `create` describes in `group` (at `base`) and subscribes it to `topic`.
async fn create_and_subscribe(
    proxy: &ProxyLink,
    conn: &mut Option<HttpConn>,
    group: &str,
    base: &str,
    create: &Value,
    topic: &str,
) -> Result<Vec<u8>> {
    let create = create.to_string();
    let groups = format!("/consumers/{group}");
    proxy
        .call(conn, "POST", &groups, V2, Some((V2, &create)), 200)
        .await?;
    let subscribe = json!({ "topics": [topic] }).to_string();
    let subscription = format!("{base}/subscription");
    proxy
        .call(conn, "POST", &subscription, V2, Some((V2, &subscribe)), 204)
        .await
}

/// Creates a binary instance, subscribes it, reads once and deletes it, again and again: what
/// a consumer instance leaves behind when it is gone shows up here.
async fn churn_loop(
    proxy: Arc<ProxyLink>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    group: String,
    topic: String,
) {
    let mut conn = None;
    let started = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let base = format!("/consumers/{group}/instances/churn-{n}");
        let once = async {
            let create = json!({"name": format!("churn-{n}"), "format": "binary"});
            create_and_subscribe(&proxy, &mut conn, &group, &base, &create, &topic).await?;
            proxy
                .call(
                    &mut conn,
                    "GET",
                    &format!("{base}/records?timeout=200"),
                    BINARY,
                    None,
                    200,
                )
                .await?;
            proxy.call(&mut conn, "DELETE", &base, V2, None, 204).await
        };
        match once.await {
            Ok(_) => counters.churn.ok(0),
            Err(e) => counters.churn.failed("instance churn", &e),
        }
        n += 1;
        let at = started + CHURN_EVERY.mul_f64(n as f64);
        tokio::time::sleep_until(at.into()).await;
    }
}

async fn metadata_loop(
    proxy: Arc<ProxyLink>,
    counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    topics: Vec<String>,
) {
    let mut paths = vec![
        "/topics".to_string(),
        "/brokers".to_string(),
        "/health/ready".to_string(),
    ];
    for t in &topics {
        paths.push(format!("/topics/{t}"));
        paths.push(format!("/topics/{t}/partitions"));
        paths.push(format!("/topics/{t}/partitions/0/offsets"));
    }
    let mut conn = None;
    let started = Instant::now();
    let mut n = 0u64;
    while !stop.load(Ordering::Relaxed) {
        let path = &paths[(n as usize) % paths.len()];
        match proxy.call(&mut conn, "GET", path, V2, None, 200).await {
            Ok(_) => counters.metadata.ok(0),
            Err(e) => counters.metadata.failed("metadata", &e),
        }
        n += 1;
        pace(started, n, METADATA_RATE).await;
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Least-squares slope of `y` over `x`.
fn slope(points: &[(f64, f64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

/// Flat or not: after a warm-up (a sixth of the run, at least 30 s), the medians of the last
/// third of the samples against those of the first third.
fn verdict(samples: &[Sample], minutes: f64) -> Result<()> {
    let warmup = (minutes * 60.0 / 6.0).max(30.0);
    let steady: Vec<&Sample> = samples.iter().filter(|s| s.at >= warmup).collect();
    if steady.len() < 6 {
        bail!(
            "{} samples after the {warmup:.0}s warm-up are too few for a verdict; run longer",
            steady.len()
        );
    }
    let third = steady.len() / 3;
    let (first, last) = (&steady[..third], &steady[steady.len() - third..]);
    let med = |part: &[&Sample], f: fn(&ProcSample) -> f64| {
        median(&mut part.iter().map(|s| f(&s.proc)).collect::<Vec<_>>())
    };
    let rss = |p: &ProcSample| p.rss_mib;
    let fds = |p: &ProcSample| p.fds as f64;
    let threads = |p: &ProcSample| p.threads as f64;
    let rows = [
        ("rss MiB", med(first, rss), med(last, rss)),
        ("open fds", med(first, fds), med(last, fds)),
        ("threads", med(first, threads), med(last, threads)),
    ];
    let rss_per_hour = slope(
        &steady
            .iter()
            .map(|s| (s.at / 3600.0, s.proc.rss_mib))
            .collect::<Vec<_>>(),
    );
    println!(
        "[soak] verdict over {} samples after a {warmup:.0}s warm-up (median of the first third vs the last third):",
        steady.len()
    );
    for (name, a, b) in rows {
        println!("[soak]   {name:<9} {a:>8.1} -> {b:>8.1}  ({:+.1})", b - a);
    }
    println!("[soak]   rss trend {rss_per_hour:+.1} MiB/hour (least squares after warm-up)");
    let mut growing = Vec::new();
    let (_, rss_a, rss_b) = rows[0];
    if rss_b - rss_a > (rss_a * RSS_GROWTH_LIMIT).max(RSS_GROWTH_FLOOR_MIB) {
        growing.push(format!("rss {rss_a:.1} -> {rss_b:.1} MiB"));
    }
    let (_, fd_a, fd_b) = rows[1];
    if fd_b - fd_a > FD_SLACK {
        growing.push(format!("fds {fd_a:.0} -> {fd_b:.0}"));
    }
    let (_, th_a, th_b) = rows[2];
    if th_b - th_a > THREAD_SLACK {
        growing.push(format!("threads {th_a:.0} -> {th_b:.0}"));
    }
    if growing.is_empty() {
        println!("[soak] FLAT: memory, descriptors and threads stayed flat");
        Ok(())
    } else {
        bail!("GROWING: {}", growing.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_slopes() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        let line: Vec<(f64, f64)> = (0..10)
            .map(|i| (f64::from(i), 2.0 * f64::from(i) + 1.0))
            .collect();
        assert!((slope(&line) - 2.0).abs() < 1e-9);
    }
}
