//! The consume scenario C1: one topic filled with a native producer, then read to its end
//! through the proxy's records calls (four instances in one group) and by four native
//! consumers in one group; the clock of each side runs from its first record to its last.
//!
//! Owns filling the topic and both readers. Unlike the produce scenarios there is no fixed
//! window here (each side reads the same finite topic), so the shared driver does not apply.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;

use super::driver::{cpu_per_million, micros, ratio, summarize, Totals};
use super::produce::record_value;
use super::{Bench, Measured, Row};
use crate::load::{delete_topic, fresh_topic, HttpConn, ProxyUnderTest, RssSampler};

/// C1: a 3-partition topic filled natively, then read to the end by four proxy instances in
/// one group and by four native consumers in another.
pub(super) async fn c1(bench: &Bench<'_>) -> Result<Row> {
    let records = if bench.quick { 200_000 } else { 1_000_000 };
    println!("[bench] C1: filling a 3-partition topic with {records} records of ~100 B ...");
    let topic = fresh_topic(&bench.admin, "bench-c1", 3).await?;
    fill_topic(bench.bootstrap, &topic, records).await?;
    println!("[bench] C1: proxy, 4 instances in one group ...");
    let proxy_side = proxy_consume(bench.proxy, &topic, records).await?;
    println!("[bench] C1: native, 4 consumers in one group ...");
    let native_side = native_consume(bench.bootstrap, &topic, records).await?;
    let note = format!(
        "target proxy/native >= 0.50; got {:.2}",
        ratio(proxy_side.records_per_s, native_side.records_per_s)
    );
    delete_topic(&bench.admin, &topic).await;
    Ok(Row {
        id: "C1".into(),
        what: format!("consume {records} records, 4 instances in one group, binary"),
        proxy: proxy_side,
        native: Some(native_side),
        note,
    })
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

/// Four instances in one group read the topic through records calls until every record came
/// back; the clock runs from the first record to the last.
pub(super) async fn proxy_consume(
    proxy: &ProxyUnderTest,
    topic: &str,
    total: usize,
) -> Result<Measured> {
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
                    latencies.push(micros(sent.elapsed()));
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
    let totals = Totals {
        requests,
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

/// Four native consumers in one group read the same topic; the clock runs from the first
/// record to the last.
pub(super) async fn native_consume(bootstrap: &str, topic: &str, total: usize) -> Result<Measured> {
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
    let totals = Totals {
        requests: n,
        records: n,
        bytes: n * 100,
        errors: 0,
        elapsed_s: elapsed,
    };
    Ok(summarize(totals, Vec::new()))
}
