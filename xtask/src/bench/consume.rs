//! The consume scenario C1: one topic filled once with a native producer, then read to its end
//! alternately through the proxy's records calls (four instances in one group) and by four
//! native consumers in one group, a fresh group per run (see `driver::interleave`).
//!
//! A run only starts its clock once its group is stable: a group whose members join one after
//! another rebalances while records flow, everything stops until all rejoin (seconds), and
//! whether that happens is a race that would dominate a short run. So each side first reads
//! (discarding) until the broker reports the group `Stable` with all [`READERS`] members,
//! every partition is assigned and the assignment has not changed for [`STABLE_FOR`], then
//! seeks its partitions back to the beginning; the clock runs from the
//! first record after that to the last, and only distinct offsets count (a record read twice
//! after a revocation counts once).
//!
//! Owns filling the topic and both readers. Unlike the produce scenarios there is no fixed
//! window here (each side reads the same finite topic), so the produce loops do not apply.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::admin::AdminClient;
use rdkafka::client::DefaultClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message, Offset};
use serde_json::Value;

use super::driver::{cpu_per_million, interleave, micros, summarize, Compare, Totals};
use super::produce::record_value;
use super::{Bench, Measured, Row};
use crate::load::{delete_topic, find, fresh_topic, HttpConn, ProxyUnderTest, RssSampler};

/// Partitions of the C1 topic.
const PARTITIONS: i32 = 3;

/// Readers per side (one more than partitions: one member stays idle, as in a real group).
const READERS: usize = 4;

/// A group counts as stable once the broker reports it `Stable` with all its members, and its
/// assignment covers every partition and has not changed for this long. The assignment alone
/// is not enough: a member learns of a rebalance another member's join started only at its
/// next heartbeat (3 s apart by default), so its assignment can look settled for a second
/// while the group is rebalancing, and a rebalance after the seek restarts a partition's new
/// owner elsewhere than where the clocked reads left it.
const STABLE_FOR: Duration = Duration::from_secs(1);

/// The longest a group may take to become stable, and a side to read the topic.
const GATE_LIMIT: Duration = Duration::from_secs(60);
const READ_LIMIT: Duration = Duration::from_secs(120);

/// C1: a 3-partition topic filled natively, then read to the end alternately by four proxy
/// instances in one group and by four native consumers in another, a fresh group each run.
pub(super) async fn c1(bench: &Bench<'_>) -> Result<Row> {
    let records = if bench.quick { 200_000 } else { 1_000_000 };
    println!("[bench] C1: filling a 3-partition topic with {records} records of ~100 B ...");
    let topic = fresh_topic(&bench.admin, "bench-c1", PARTITIONS).await?;
    fill_topic(bench.bootstrap, &topic, records).await?;
    let sides = interleave(
        "C1",
        bench.timing.runs,
        |run| proxy_consume(bench.proxy, &bench.admin, &topic, records, run),
        |run| native_consume(bench.bootstrap, &bench.admin, &topic, records, run),
    )
    .await;
    delete_topic(&bench.admin, &topic).await;
    let row = Row::compared(
        "C1",
        format!("consume {records} records, 4 instances in one group, binary"),
        sides?,
        Compare::Throughput,
        "",
    );
    let median = row.spread.as_ref().map_or(0.0, |s| s.median);
    let note = format!(
        "target proxy/native >= 0.80 (median of the interleaved pairs, clock from a stable group); got {median:.2}"
    );
    Ok(Row { note, ..row })
}

/// The distinct offsets read so far, per partition, and when the first of them came.
#[derive(Default)]
struct Distinct {
    seen: Vec<BTreeSet<i64>>,
    count: u64,
    first: Option<Instant>,
}

impl Distinct {
    /// Counts `(partition, offset)` once; true when it is new.
    fn add(&mut self, partition: i32, offset: i64, at: Instant) -> bool {
        let Ok(p) = usize::try_from(partition) else {
            return false;
        };
        if self.seen.len() <= p {
            self.seen.resize_with(p + 1, BTreeSet::new);
        }
        let new = self.seen[p].insert(offset);
        if new {
            self.count += 1;
            self.first.get_or_insert(at);
        }
        new
    }
}

/// The `(partition, offset)` of every record in a v2 records answer: the two integers follow
/// `"partition":` and `"offset":` in each record object, scanned without building JSON values
/// (the load generator must stay cheap).
fn record_positions(body: &[u8]) -> Vec<(i32, i64)> {
    fn number_after(body: &[u8], from: usize, key: &[u8]) -> Option<(i64, usize)> {
        let at = from + find(&body[from..], key)? + key.len();
        let end = body[at..]
            .iter()
            .position(|b| !(b.is_ascii_digit() || *b == b'-'))
            .map_or(body.len(), |e| at + e);
        Some((std::str::from_utf8(&body[at..end]).ok()?.parse().ok()?, end))
    }
    let mut out = Vec::new();
    let mut at = 0;
    while let Some((partition, end)) = number_after(body, at, b"\"partition\":") {
        let Some((offset, end)) = number_after(body, end, b"\"offset\":") else {
            break;
        };
        out.push((i32::try_from(partition).unwrap_or(-1), offset));
        at = end;
    }
    out
}

/// Writes `count` records of ~100 bytes with a native producer and waits for all of them.
pub(super) async fn fill_topic(bootstrap: &str, topic: &str, count: usize) -> Result<()> {
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

/// A request to the proxy with an optional JSON body.
fn request(proxy: &ProxyUnderTest, method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let (host, base) = (&proxy.host, &proxy.base_path);
    match body {
        Some(body) => format!(
            "{method} {base}{path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
        None => format!("{method} {base}{path} HTTP/1.1\r\nHost: {host}\r\n\r\n"),
    }
    .into_bytes()
}

/// One request that must answer `expect`; returns the body.
async fn call(conn: &mut HttpConn, request: &[u8], expect: u16, what: &str) -> Result<Vec<u8>> {
    let (status, body) = conn.roundtrip(request).await?;
    if status != expect {
        bail!("{what}: {status} {}", String::from_utf8_lossy(&body));
    }
    Ok(body)
}

/// Four instances in one (fresh) group: wait for a stable group, seek back to the beginning,
/// then read through records calls until every record came back; the clock runs from the
/// first record to the last.
pub(super) async fn proxy_consume(
    proxy: &ProxyUnderTest,
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    total: usize,
    run: usize,
) -> Result<Measured> {
    let group = format!("{topic}-proxy-{run}");
    let mut conns = Vec::new();
    for i in 0..READERS {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        // No automatic commits, as the native side commits nothing either (it stores no
        // offsets); and should the group still rebalance after the seek, no commit of the
        // gate's reads can start a partition's new owner past records the clocked part never
        // saw (it starts from the beginning again; duplicates count once).
        let body = format!(
            r#"{{"name":"c{i}","format":"binary","auto.offset.reset":"earliest","auto.commit.enable":"false"}}"#
        );
        let create = request(proxy, "POST", &format!("/consumers/{group}"), Some(&body));
        call(&mut conn, &create, 200, "create consumer").await?;
        let sub = format!(r#"{{"topics":["{topic}"]}}"#);
        let path = format!("/consumers/{group}/instances/c{i}/subscription");
        call(
            &mut conn,
            &request(proxy, "POST", &path, Some(&sub)),
            204,
            "subscribe",
        )
        .await?;
        conns.push(conn);
    }
    let records_call = |i: usize, timeout_ms: u32| {
        let mut r = request(
            proxy,
            "GET",
            &format!(
                "/consumers/{group}/instances/c{i}/records?timeout={timeout_ms}&max_bytes=4000000"
            ),
            None,
        );
        // The answer's format.
        let at = r.len() - 2;
        r.splice(
            at..at,
            b"Accept: application/vnd.kafka.binary.v2+json\r\n"
                .iter()
                .copied(),
        );
        r
    };
    // The gate: read (and drop) until the group settles (`Gate`).
    let mut gate = Gate::new(admin, &group, "proxy's");
    let assignment = loop {
        gate.within_limit()?;
        let mut now = Vec::new();
        for (i, conn) in conns.iter_mut().enumerate() {
            call(conn, &records_call(i, 100), 200, "records (gate)").await?;
            let path = format!("/consumers/{group}/instances/c{i}/assignments");
            let body = call(
                conn,
                &request(proxy, "GET", &path, None),
                200,
                "assignments",
            )
            .await?;
            now.push(assigned_partitions(&body));
        }
        if let Some(settled) = gate.settled(now).await {
            break settled;
        }
    };
    for (i, conn) in conns.iter_mut().enumerate() {
        if assignment[i].is_empty() {
            continue;
        }
        let parts: Vec<String> = assignment[i]
            .iter()
            .map(|p| format!(r#"{{"topic":"{topic}","partition":{p}}}"#))
            .collect();
        let body = format!(r#"{{"partitions":[{}]}}"#, parts.join(","));
        let path = format!("/consumers/{group}/instances/c{i}/positions/beginning");
        call(
            conn,
            &request(proxy, "POST", &path, Some(&body)),
            204,
            "seek",
        )
        .await?;
    }
    let distinct = Arc::new(Mutex::new(Distinct::default()));
    let bytes = Arc::new(AtomicU64::new(0));
    let cpu_before = proxy.cpu_seconds();
    let sampler = proxy.rss_sampler();
    let deadline = Instant::now() + READ_LIMIT;
    let mut tasks = Vec::new();
    for (i, mut conn) in conns.into_iter().enumerate() {
        let distinct = Arc::clone(&distinct);
        let bytes = Arc::clone(&bytes);
        let request = records_call(i, 1000);
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let done =
                |d: &Arc<Mutex<Distinct>>| d.lock().map_or(true, |d| d.count as usize >= total);
            while !done(&distinct) && Instant::now() < deadline {
                let sent = Instant::now();
                let body = call(&mut conn, &request, 200, "records").await?;
                let positions = record_positions(&body);
                if !positions.is_empty() {
                    latencies.push(micros(sent.elapsed()));
                    let mut d = distinct.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                    let new = positions
                        .iter()
                        .filter(|(p, o)| d.add(*p, *o, sent))
                        .count();
                    bytes.fetch_add(new as u64 * 100, Ordering::Relaxed);
                }
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
    let (n, started) = {
        let d = distinct.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        (d.count, d.first.unwrap_or(done))
    };
    // Leave the group (best effort; the instances expire anyway).
    for i in 0..READERS {
        if let Ok(mut conn) = HttpConn::connect(&proxy.addr).await {
            let path = format!("/consumers/{group}/instances/c{i}");
            let _ = conn.roundtrip(&request(proxy, "DELETE", &path, None)).await;
        }
    }
    if (n as usize) < total {
        bail!(
            "the proxy returned {n} of {total} records within {}s",
            READ_LIMIT.as_secs()
        );
    }
    let elapsed = done.duration_since(started).as_secs_f64().max(1e-3);
    let totals = Totals {
        requests: latencies.len() as u64,
        records: n,
        bytes: bytes.load(Ordering::Relaxed),
        errors: 0,
        elapsed_s: elapsed,
    };
    Ok(Measured {
        cpu_s_per_m: cpu_per_million(cpu_before, cpu_after, n),
        peak_rss_mib: peak_rss,
        ..summarize(totals, latencies)
    })
}

/// The gate both sides pass before their clock starts: the group counts as settled once the
/// members' assignments cover every partition, the broker reports the group `Stable` with all
/// [`READERS`] members, and the assignments have stayed the same for [`STABLE_FOR`].
struct Gate<'a> {
    admin: &'a AdminClient<DefaultClientContext>,
    group: &'a str,
    /// Whose group, for the error past [`GATE_LIMIT`].
    side: &'static str,
    started: Instant,
    /// Since when the assignments were the same, and what they were.
    stable_since: Option<(Instant, Vec<Vec<i32>>)>,
}

impl<'a> Gate<'a> {
    fn new(
        admin: &'a AdminClient<DefaultClientContext>,
        group: &'a str,
        side: &'static str,
    ) -> Gate<'a> {
        Gate {
            admin,
            group,
            side,
            started: Instant::now(),
            stable_since: None,
        }
    }

    /// An error once the group has had [`GATE_LIMIT`] to settle.
    fn within_limit(&self) -> Result<()> {
        if self.started.elapsed() > GATE_LIMIT {
            bail!(
                "the {} group did not settle within {}s",
                self.side,
                GATE_LIMIT.as_secs()
            );
        }
        Ok(())
    }

    /// The members' assignments (`now`, one sorted list per member) once the group is
    /// settled; `None` while it is not.
    async fn settled(&mut self, now: Vec<Vec<i32>>) -> Option<Vec<Vec<i32>>> {
        let covered: BTreeSet<i32> = now.iter().flatten().copied().collect();
        if covered.len() < PARTITIONS as usize || !self.stable_at_broker() {
            self.stable_since = None;
            return None;
        }
        match &self.stable_since {
            Some((since, same)) if *same == now => (since.elapsed() >= STABLE_FOR).then_some(now),
            _ => {
                self.stable_since = Some((Instant::now(), now));
                None
            }
        }
    }

    /// Whether the broker reports the group in the `Stable` state with all [`READERS`]
    /// members (one generation that every member joined). Asked through the bench's admin
    /// client, whose call blocks for the round trip: `block_in_place` lets the runtime hand
    /// this worker's other tasks to another thread meanwhile.
    fn stable_at_broker(&self) -> bool {
        let list = tokio::task::block_in_place(|| {
            self.admin
                .inner()
                .fetch_group_list(Some(self.group), Duration::from_secs(5))
        });
        list.is_ok_and(|list| {
            list.groups().iter().any(|g| {
                g.name() == self.group && g.state() == "Stable" && g.members().len() == READERS
            })
        })
    }
}

/// The partitions of a v2 assignments answer, sorted.
fn assigned_partitions(body: &[u8]) -> Vec<i32> {
    let doc: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let mut parts: Vec<i32> = doc["partitions"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| p["partition"].as_i64())
                .filter_map(|p| i32::try_from(p).ok())
                .collect()
        })
        .unwrap_or_default();
    parts.sort_unstable();
    parts
}

/// Four native consumers in one (fresh) group: wait for a stable group, seek back to the
/// beginning, then read the topic; the clock runs from the first record to the last.
pub(super) async fn native_consume(
    bootstrap: &str,
    admin: &AdminClient<DefaultClientContext>,
    topic: &str,
    total: usize,
    run: usize,
) -> Result<Measured> {
    let group = format!("{topic}-native-{run}");
    let mut consumers = Vec::new();
    for _ in 0..READERS {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", &group)
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.offset.store", "false")
            .set_log_level(RDKafkaLogLevel::Emerg)
            .create()
            .context("cannot create a native consumer")?;
        consumer.subscribe(&[topic]).context("subscribe")?;
        consumers.push(Arc::new(consumer));
    }
    // The gate, as on the proxy side: poll (and drop) until the group settles (`Gate`), then
    // seek back to the beginning.
    let mut gate = Gate::new(admin, &group, "native");
    loop {
        gate.within_limit()?;
        let mut now = Vec::new();
        for consumer in &consumers {
            let _ = tokio::time::timeout(Duration::from_millis(100), consumer.recv()).await;
            let mut parts: Vec<i32> = consumer
                .assignment()
                .map(|a| a.elements().iter().map(|e| e.partition()).collect())
                .unwrap_or_default();
            parts.sort_unstable();
            now.push(parts);
        }
        if gate.settled(now).await.is_some() {
            break;
        }
    }
    for consumer in &consumers {
        let assigned = consumer.assignment().context("assignment")?;
        for e in assigned.elements() {
            consumer
                .seek(
                    topic,
                    e.partition(),
                    Offset::Beginning,
                    Duration::from_secs(10),
                )
                .context("seek")?;
        }
    }
    let distinct = Arc::new(Mutex::new(Distinct::default()));
    let deadline = Instant::now() + READ_LIMIT;
    let mut tasks = Vec::new();
    for consumer in consumers {
        let distinct = Arc::clone(&distinct);
        tasks.push(tokio::spawn(async move {
            let done =
                |d: &Arc<Mutex<Distinct>>| d.lock().map_or(true, |d| d.count as usize >= total);
            while !done(&distinct) && Instant::now() < deadline {
                if let Ok(Ok(m)) =
                    tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await
                {
                    let at = Instant::now();
                    if let Ok(mut d) = distinct.lock() {
                        d.add(m.partition(), m.offset(), at);
                    }
                    let _ = consumer.store_offset_from_message(&m);
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("native consumer panicked")?;
    }
    let done = Instant::now();
    let (n, started) = {
        let d = distinct.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
        (d.count, d.first.unwrap_or(done))
    };
    if (n as usize) < total {
        bail!(
            "the native consumers read {n} of {total} records within {}s",
            READ_LIMIT.as_secs()
        );
    }
    let elapsed = done.duration_since(started).as_secs_f64().max(1e-3);
    let totals = Totals {
        requests: n,
        records: n,
        bytes: n * 100,
        errors: 0,
        elapsed_s: elapsed,
    };
    Ok(summarize(totals, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_positions_are_scanned_from_a_records_answer() {
        let body = br#"[{"topic":"t","key":null,"value":"YQ==","partition":2,"offset":10},{"topic":"t","key":null,"value":"Yg==","partition":0,"offset":7}]"#;
        assert_eq!(record_positions(body), vec![(2, 10), (0, 7)]);
        assert!(record_positions(b"[]").is_empty());
    }

    #[test]
    fn distinct_offsets_count_once() {
        let mut d = Distinct::default();
        let now = Instant::now();
        assert!(d.add(1, 5, now));
        assert!(!d.add(1, 5, now));
        assert!(d.add(0, 5, now));
        assert_eq!(d.count, 2);
        assert_eq!(d.first, Some(now));
    }
}
