//! The read extensions against the native consumer, each on a topic filled beforehand:
//! C2, stateless reads (`GET /topics/{t}/partitions/{p}/records?offset=`) paging through every
//! partition, and C3, the records stream (`GET .../records/stream`, Server-Sent Events) of one
//! consumer instance per partition. The native side is one consumer per partition, assigned
//! without a group, reading from the beginning; each clock runs from the first record to the
//! last.
//!
//! Owns both proxy readers and the native reader they are compared with; filling the topic and
//! the statistics are `consume.rs`'s and `driver.rs`'s.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::consume::fill_topic;
use super::driver::{cpu_per_million, interleave, micros, summarize, Compare, Totals};
use super::{Bench, Measured, Row};
use crate::load::{delete_topic, find, fresh_topic, HttpConn, ProxyUnderTest, RssSampler};

/// Partitions of the read topics: one proxy reader and one native consumer each.
const PARTITIONS: i32 = 3;

/// How long one side may take to read the whole topic.
const READ_LIMIT: Duration = Duration::from_secs(180);

/// Records of ~100 bytes in the topic of one scenario.
fn records(bench: &Bench<'_>) -> usize {
    if bench.quick {
        150_000
    } else {
        600_000
    }
}

/// Counts the records of a proxy side as they come and remembers when the first came.
#[derive(Clone, Default)]
struct Progress {
    seen: Arc<AtomicU64>,
    first: Arc<std::sync::Mutex<Option<Instant>>>,
}

impl Progress {
    fn add(&self, n: u64, at: Instant) {
        if n > 0 {
            if let Ok(mut first) = self.first.lock() {
                first.get_or_insert(at);
            }
        }
        self.seen.fetch_add(n, Ordering::Relaxed);
    }

    fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }

    fn started(&self, or: Instant) -> Instant {
        self.first.lock().ok().and_then(|f| *f).unwrap_or(or)
    }
}

/// C2: stateless reads page through every partition of a filled topic, one reader per
/// partition, each asking again from the offset after the last record it got.
pub(super) async fn c2(bench: &Bench<'_>) -> Result<Row> {
    let total = records(bench);
    println!(
        "[bench] C2: filling a {PARTITIONS}-partition topic with {total} records of ~100 B ..."
    );
    let topic = fresh_topic(&bench.admin, "bench-c2", PARTITIONS).await?;
    fill_topic(bench.bootstrap, &topic, total).await?;
    let ends = partition_ends(bench.bootstrap, &topic).await?;
    let sides = interleave(
        "C2",
        bench.timing.runs,
        |_| stateless_scan(bench.proxy, &topic, &ends),
        |_| native_scan(bench.bootstrap, &topic, &ends),
    )
    .await;
    delete_topic(&bench.admin, &topic).await;
    Ok(Row::compared(
        "C2",
        format!("stateless reads of {total} records, one reader per partition, binary"),
        sides?,
        Compare::Throughput,
        "",
    ))
}

/// C3: one consumer instance per partition, each assigned its partition, reads the filled
/// topic through its records stream.
pub(super) async fn c3(bench: &Bench<'_>) -> Result<Row> {
    let total = records(bench);
    println!(
        "[bench] C3: filling a {PARTITIONS}-partition topic with {total} records of ~100 B ..."
    );
    let topic = fresh_topic(&bench.admin, "bench-c3", PARTITIONS).await?;
    fill_topic(bench.bootstrap, &topic, total).await?;
    let ends = partition_ends(bench.bootstrap, &topic).await?;
    let sides = interleave(
        "C3",
        bench.timing.runs,
        |run| stream_consume(bench.proxy, &topic, &ends, run),
        |_| native_scan(bench.bootstrap, &topic, &ends),
    )
    .await;
    delete_topic(&bench.admin, &topic).await;
    Ok(Row::compared(
        "C3",
        format!("records streams (SSE) of {total} records, one instance per partition, binary"),
        sides?,
        Compare::Throughput,
        "",
    ))
}

/// The end offset of every partition of `topic` (the fill started from an empty topic).
async fn partition_ends(bootstrap: &str, topic: &str) -> Result<Vec<i64>> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let bootstrap = bootstrap.to_string();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", &bootstrap)
            .set_log_level(RDKafkaLogLevel::Emerg)
            .create()
            .context("cannot create the watermark client")?;
        (0..PARTITIONS)
            .map(|p| {
                consumer
                    .fetch_watermarks(&topic, p, Duration::from_secs(10))
                    .map(|(_, high)| high)
                    .with_context(|| format!("watermarks of {topic}/{p}"))
            })
            .collect()
    })
    .await
    .context("watermark task")?
}

/// The number of records in a chunk of a binary records answer or stream.
fn records_in(bytes: &[u8]) -> u64 {
    bytes.windows(9).filter(|w| w == b"\"offset\":").count() as u64
}

/// The offset of the last record of a records answer.
fn last_offset(body: &[u8]) -> Option<i64> {
    let at = body
        .windows(9)
        .rposition(|w| w == b"\"offset\":")
        .map(|p| p + 9)?;
    let digits: String = body[at..]
        .iter()
        .map(|b| *b as char)
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

async fn stateless_scan(proxy: &ProxyUnderTest, topic: &str, ends: &[i64]) -> Result<Measured> {
    let progress = Progress::default();
    let cpu_before = proxy.cpu_seconds();
    let sampler = proxy.rss_sampler();
    let deadline = Instant::now() + READ_LIMIT;
    let mut tasks = Vec::new();
    for (partition, end) in ends.iter().copied().enumerate() {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        let (host, base) = (proxy.host.clone(), proxy.base_path.clone());
        let topic = topic.to_string();
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut offset = 0;
            while offset < end {
                if Instant::now() > deadline {
                    bail!("partition {partition}: at offset {offset} of {end} after {READ_LIMIT:?}");
                }
                let request = format!(
                    "GET {base}/topics/{topic}/partitions/{partition}/records?offset={offset}&timeout=1000&max_bytes=4000000 HTTP/1.1\r\nHost: {host}\r\nAccept: application/vnd.kafka.binary.v2+json\r\n\r\n"
                );
                let sent = Instant::now();
                let (status, body) = conn.roundtrip(request.as_bytes()).await?;
                if status != 200 {
                    bail!("stateless read: {status} {}", String::from_utf8_lossy(&body));
                }
                latencies.push(micros(sent.elapsed()));
                progress.add(records_in(&body), sent);
                if let Some(last) = last_offset(&body) {
                    offset = last + 1;
                }
            }
            Ok::<Vec<u32>, anyhow::Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.context("stateless reader panicked")??);
    }
    finish(proxy, &progress, cpu_before, sampler, latencies)
}

/// Turns what a proxy side read into its measurement.
fn finish(
    proxy: &ProxyUnderTest,
    progress: &Progress,
    cpu_before: Option<f64>,
    sampler: Option<RssSampler>,
    latencies: Vec<u32>,
) -> Result<Measured> {
    let done = Instant::now();
    let cpu_after = proxy.cpu_seconds();
    let peak_rss = sampler.map(RssSampler::finish);
    let n = progress.seen();
    let elapsed = done
        .duration_since(progress.started(done))
        .as_secs_f64()
        .max(1e-3);
    let totals = Totals {
        requests: latencies.len() as u64,
        records: n,
        bytes: n * 100,
        errors: 0,
        elapsed_s: elapsed,
    };
    Ok(Measured {
        cpu_s_per_m: cpu_per_million(cpu_before, cpu_after, n),
        peak_rss_mib: peak_rss,
        ..summarize(totals, latencies)
    })
}

async fn stream_consume(
    proxy: &ProxyUnderTest,
    topic: &str,
    ends: &[i64],
    run: usize,
) -> Result<Measured> {
    // A fresh group each run: the streams commit what they delivered.
    let group = format!("{topic}-stream-{run}");
    let (host, base) = (&proxy.host, &proxy.base_path);
    // One instance per partition, each assigned its partition from the beginning.
    for partition in 0..ends.len() {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        let body = format!(
            r#"{{"name":"s{partition}","format":"binary","auto.offset.reset":"earliest"}}"#
        );
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
        let assign = format!(r#"{{"partitions":[{{"topic":"{topic}","partition":{partition}}}]}}"#);
        let request = format!(
            "POST {base}/consumers/{group}/instances/s{partition}/assignments HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n{assign}",
            assign.len()
        );
        let (status, answer) = conn.roundtrip(request.as_bytes()).await?;
        if status != 204 {
            bail!("assign: {status} {}", String::from_utf8_lossy(&answer));
        }
    }
    let progress = Progress::default();
    let cpu_before = proxy.cpu_seconds();
    let sampler = proxy.rss_sampler();
    let deadline = Instant::now() + READ_LIMIT;
    let mut tasks = Vec::new();
    for (partition, end) in ends.iter().copied().enumerate() {
        let mut conn = HttpConn::connect(&proxy.addr).await?;
        let request = format!(
            "GET {base}/consumers/{group}/instances/s{partition}/records/stream HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
        );
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            conn.stream
                .write_all(request.as_bytes())
                .await
                .context("write")?;
            // The body is chunked; every chunk is whole events (one batch), so counting the
            // records of each read, with the tail of the one before, counts each record once.
            let mut chunk = vec![0u8; 64 * 1024];
            let mut tail: Vec<u8> = Vec::new();
            let mut seen = 0_u64;
            let mut head_done = false;
            while seen < u64::try_from(end).unwrap_or(0) {
                let left = deadline.saturating_duration_since(Instant::now());
                let n = tokio::time::timeout(left, conn.stream.read(&mut chunk))
                    .await
                    .with_context(|| {
                        format!(
                            "partition {partition}: {seen} of {end} records after {READ_LIMIT:?}"
                        )
                    })?
                    .context("read")?;
                if n == 0 {
                    bail!("partition {partition}: the stream ended after {seen} of {end} records");
                }
                let at = Instant::now();
                tail.extend_from_slice(&chunk[..n]);
                if !head_done {
                    let Some(pos) = find(&tail, b"\r\n\r\n") else {
                        continue;
                    };
                    if !tail.starts_with(b"HTTP/1.1 200") {
                        bail!("stream: {}", String::from_utf8_lossy(&tail[..pos]));
                    }
                    tail.drain(..pos + 4);
                    head_done = true;
                }
                // Every whole `"offset":` is counted now; the last 8 bytes, kept for the next
                // read, cannot hold a whole one, so nothing is counted twice.
                let counted = records_in(&tail);
                seen += counted;
                progress.add(counted, at);
                tail.drain(..tail.len().saturating_sub(8));
            }
            Ok::<(), anyhow::Error>(())
        }));
    }
    for task in tasks {
        task.await.context("stream reader panicked")??;
    }
    let measured = finish(proxy, &progress, cpu_before, sampler, Vec::new())?;
    for partition in 0..ends.len() {
        if let Ok(mut conn) = HttpConn::connect(&proxy.addr).await {
            let delete = format!(
                "DELETE {base}/consumers/{group}/instances/s{partition} HTTP/1.1\r\nHost: {host}\r\n\r\n"
            );
            let _ = conn.roundtrip(delete.as_bytes()).await;
        }
    }
    Ok(measured)
}

/// One native consumer per partition, assigned without a group, reads it from the beginning
/// to `end`.
async fn native_scan(bootstrap: &str, topic: &str, ends: &[i64]) -> Result<Measured> {
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::{Message, Offset, TopicPartitionList};
    let progress = Progress::default();
    let deadline = Instant::now() + READ_LIMIT;
    let mut tasks = Vec::new();
    for (partition, end) in ends.iter().copied().enumerate() {
        let consumer: StreamConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", format!("{topic}-native-unused"))
            .set("enable.auto.commit", "false")
            .set_log_level(RDKafkaLogLevel::Emerg)
            .create()
            .context("cannot create a native consumer")?;
        let mut assignment = TopicPartitionList::new();
        assignment
            .add_partition_offset(topic, i32::try_from(partition)?, Offset::Beginning)
            .context("assignment")?;
        consumer.assign(&assignment).context("assign")?;
        let progress = progress.clone();
        tasks.push(tokio::spawn(async move {
            while Instant::now() < deadline {
                let Ok(Ok(message)) =
                    tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await
                else {
                    continue;
                };
                progress.add(1, Instant::now());
                if message.offset() + 1 >= end {
                    return Ok(());
                }
            }
            bail!("native consumer of partition {partition}: not at {end} after {READ_LIMIT:?}")
        }));
    }
    for task in tasks {
        task.await.context("native consumer panicked")??;
    }
    let done = Instant::now();
    let n = progress.seen();
    let elapsed = done
        .duration_since(progress.started(done))
        .as_secs_f64()
        .max(1e-3);
    Ok(summarize(
        Totals {
            requests: n,
            records: n,
            bytes: n * 100,
            errors: 0,
            elapsed_s: elapsed,
        },
        Vec::new(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_the_last_offset_are_found_in_an_answer() {
        let body =
            br#"[{"topic":"t","offset":7,"value":"AA=="},{"topic":"t","offset":12,"value":null}]"#;
        assert_eq!(records_in(body), 2);
        assert_eq!(last_offset(body), Some(12));
        assert_eq!(last_offset(b"[]"), None);
    }
}
