//! The v3 produce scenarios, each against the native producer in the same run:
//!
//! - P5-16, the streamed produce: 16 connections, each one long `POST .../records` request
//!   whose chunked body is one JSON object per record, with up to [`WINDOW`] records awaiting
//!   their result line at a time (written in chunks when half the window is answered). The
//!   native side is 16 loops on one producer, each with the same window of delivery reports.
//! - P6-64, one record per v3 request over 64 connections; the native side is P2's (64 loops
//!   of one record each).
//!
//! Both record the same ~100-byte JSON values as P1 (`produce::record_value`), sent as
//! `{"value":{"type":"JSON","data":...}}`. How the loops run and are measured is `driver.rs`.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::driver::{
    cpu_per_million, drive, interleave, summarize, Compare, NoProbe, Sender, Totals,
};
use super::produce::{
    contains, native_produce, native_producer, record_value, Format, ProcessProbe, ProduceWork,
};
use super::{Bench, Measured, Row, Timing};
use crate::load::{delete_topic, find, fresh_topic, http_request, HttpConn, ProxyUnderTest};

/// Records of one stream (or one native loop) awaiting their result at most. The proxy's
/// default `api.v3.produce.streaming.inflight.records.max` (1000) is above it, so the proxy
/// never holds the stream back; 16 x 100 is the records P1-16 keeps in flight.
const WINDOW: usize = 100;

/// Streams of P5.
const STREAMS: usize = 16;

/// Connections of P6.
const SINGLE_CONNECTIONS: usize = 64;

/// P5-16: the streamed produce against native loops with the same window.
pub(super) async fn p5(bench: &Bench<'_>) -> Result<Row> {
    let id = "P5-16";
    let what = "v3 streamed produce, 1 JSON record per object, 16 streams of <= 100 in flight";
    let topic = fresh_topic(&bench.admin, "bench-p5", 3).await?;
    let cluster = cluster_id(bench.proxy).await?;
    announce(id, what, bench.timing);
    let timing = bench.timing;
    let sides = interleave(
        id,
        timing.runs,
        |_| proxy_streams(bench.proxy, &cluster, &topic, timing),
        |_| native_windows(bench.bootstrap, &topic, timing, &bench.overrides),
    )
    .await?;
    delete_topic(&bench.admin, &topic).await;
    Ok(with_target(Row::compared(
        id,
        what,
        sides,
        Compare::Throughput,
        "",
    )))
}

/// P6-64: one record per v3 request against P2's native side.
pub(super) async fn p6(bench: &Bench<'_>) -> Result<Row> {
    let id = "P6-64";
    let what = "v3 produce, 1 JSON record per request, 64 conns";
    let topic = fresh_topic(&bench.admin, "bench-p6", 3).await?;
    let cluster = cluster_id(bench.proxy).await?;
    announce(id, what, bench.timing);
    let timing = bench.timing;
    let work = ProduceWork {
        topic: topic.clone(),
        format: Format::Json,
        batch: 1,
        connections: SINGLE_CONNECTIONS,
    };
    let sides = interleave(
        id,
        timing.runs,
        |_| proxy_singles(bench.proxy, &cluster, &topic, timing),
        |_| native_produce(bench.bootstrap, &work, timing, None, &bench.overrides),
    )
    .await?;
    delete_topic(&bench.admin, &topic).await;
    Ok(with_target(Row::compared(
        id,
        what,
        sides,
        Compare::Throughput,
        "",
    )))
}

fn announce(id: &str, what: &str, timing: Timing) {
    println!(
        "[bench] {id}: {what} ({} interleaved run(s) of {}s per side, after a warm-up to a steady rate of at most {}s)",
        timing.runs,
        timing.measure.as_secs(),
        timing.warmup.as_secs()
    );
}

/// The note of a v3 row: the 0.85 target (the streamed produce's criterion, and P2's), and
/// what the median pair gave.
fn with_target(row: Row) -> Row {
    let median = row.spread.as_ref().map_or(0.0, |s| s.median);
    let note =
        format!("target proxy/native >= 0.85 (median of the interleaved pairs); got {median:.2}");
    Row { note, ..row }
}

/// The cluster id the v3 paths name, from `GET /v3/clusters`.
async fn cluster_id(proxy: &ProxyUnderTest) -> Result<String> {
    let mut conn = HttpConn::connect(&proxy.addr).await?;
    let request = http_request(
        &proxy.host,
        &proxy.base_path,
        "GET",
        "/v3/clusters",
        "application/json",
        None,
    );
    let (status, body) = conn.roundtrip(&request).await?;
    let doc: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    match doc["data"][0]["cluster_id"].as_str() {
        Some(id) if status == 200 => Ok(id.to_string()),
        _ => bail!("the proxy has no v3 API to benchmark (GET /v3/clusters: {status} {doc})"),
    }
}

/// Record `i` as a v3 produce object.
fn v3_record(i: usize) -> String {
    format!(
        "{{\"value\":{{\"type\":\"JSON\",\"data\":{}}}}}",
        record_value(i)
    )
}

// ---------------------------------------------------------------------------------------------
// P5: streams

/// Records written per chunk: a stream writes one chunk whenever half of its window is
/// answered.
const CHUNK_RECORDS: usize = WINDOW / 2;

/// One stream: a chunked request that never ends while the run lasts, read line by line. The
/// load generator shares two cores with the proxy and the broker, so it does as little as it
/// can per record: the chunk of [`CHUNK_RECORDS`] records is built once, and result lines are
/// found in place.
struct StreamSender {
    stream: TcpStream,
    /// One chunk of records, with its chunked-encoding frame, written again and again.
    chunk: Arc<Vec<u8>>,
    /// Bytes read and not yet taken apart (response head, chunk frames).
    raw: Vec<u8>,
    /// Whether the response head was read.
    head_read: bool,
    /// Bytes of the current chunk still to come.
    chunk_left: usize,
    /// Decoded response bytes; lines before `line_at` were taken.
    lines: Vec<u8>,
    line_at: usize,
    /// When each chunk of records awaiting results was written, oldest first, and how many of
    /// the oldest chunk's records were answered.
    in_flight: VecDeque<Instant>,
    answered_in_oldest: usize,
    last_latency: Option<Duration>,
}

/// [`CHUNK_RECORDS`] records as one HTTP chunk.
fn record_chunk() -> Vec<u8> {
    let objects: String = (0..CHUNK_RECORDS).map(v3_record).collect();
    format!("{:x}\r\n{objects}\r\n", objects.len()).into_bytes()
}

impl StreamSender {
    /// Opens the connection and sends the request head (the body follows in chunks).
    async fn open(
        proxy: &ProxyUnderTest,
        cluster: &str,
        topic: &str,
        chunk: Arc<Vec<u8>>,
    ) -> Result<StreamSender> {
        let mut stream = TcpStream::connect(&proxy.addr)
            .await
            .with_context(|| format!("cannot connect to {}", proxy.addr))?;
        stream.set_nodelay(true).ok();
        let head = format!(
            "POST {}/v3/clusters/{cluster}/topics/{topic}/records HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            proxy.base_path, proxy.host
        );
        stream.write_all(head.as_bytes()).await.context("write")?;
        Ok(StreamSender {
            stream,
            chunk,
            raw: Vec::with_capacity(64 * 1024),
            head_read: false,
            chunk_left: 0,
            lines: Vec::with_capacity(64 * 1024),
            line_at: 0,
            in_flight: VecDeque::with_capacity(WINDOW / CHUNK_RECORDS),
            answered_in_oldest: 0,
            last_latency: None,
        })
    }

    /// Records awaiting their result.
    fn waiting(&self) -> usize {
        self.in_flight.len() * CHUNK_RECORDS - self.answered_in_oldest
    }

    /// Writes chunks until the window is full; called when a result was taken, so a chunk
    /// goes out whenever half the window is answered.
    async fn refill(&mut self) -> Result<()> {
        while self.waiting() + CHUNK_RECORDS <= WINDOW {
            self.stream.write_all(&self.chunk).await.context("write")?;
            self.in_flight.push_back(Instant::now());
        }
        Ok(())
    }

    /// The next result line, reading as much as it takes.
    async fn next_line(&mut self) -> Result<&[u8]> {
        loop {
            if let Some(end) = self.lines[self.line_at..].iter().position(|&b| b == b'\n') {
                let start = self.line_at;
                self.line_at += end + 1;
                return Ok(&self.lines[start..start + end]);
            }
            // Everything before `line_at` was taken: drop it before reading more.
            self.lines.drain(..self.line_at);
            self.line_at = 0;
            let mut buf = [0u8; 64 * 1024];
            let n = self.stream.read(&mut buf).await.context("read")?;
            if n == 0 {
                bail!("the proxy ended the stream");
            }
            self.raw.extend_from_slice(&buf[..n]);
            self.decode()?;
        }
    }

    /// Moves what `raw` holds of the response body into `lines`: past the head, then chunk by
    /// chunk (sizes in hex, each chunk followed by CRLF).
    fn decode(&mut self) -> Result<()> {
        if !self.head_read {
            let Some(end) = find(&self.raw, b"\r\n\r\n") else {
                return Ok(());
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_string();
            if !head.starts_with("HTTP/1.1 200") {
                bail!("the stream was refused: {head}");
            }
            self.raw.drain(..end + 4);
            self.head_read = true;
        }
        let mut at = 0;
        loop {
            if self.chunk_left > 0 {
                let take = self.chunk_left.min(self.raw.len() - at);
                self.lines.extend_from_slice(&self.raw[at..at + take]);
                at += take;
                self.chunk_left -= take;
                if self.chunk_left > 0 {
                    break;
                }
                // The chunk's data is done; its CRLF is read with the next size line.
            }
            let start = at + usize::from(self.raw[at..].starts_with(b"\r\n")) * 2;
            let Some(pos) = find(&self.raw[start..], b"\r\n") else {
                break;
            };
            let size_text = std::str::from_utf8(&self.raw[start..start + pos]).context("chunk")?;
            let size = usize::from_str_radix(size_text.trim(), 16)
                .with_context(|| format!("chunk size {size_text:?}"))?;
            if size == 0 {
                bail!("the proxy ended the stream");
            }
            at = start + pos + 2;
            self.chunk_left = size;
        }
        self.raw.drain(..at);
        Ok(())
    }
}

impl Sender for StreamSender {
    /// One record's result: keeps the window filled, then takes the oldest record's line.
    async fn send(&mut self) -> Result<bool> {
        self.refill().await?;
        let line = self.next_line().await?;
        // A success line starts with its code (`Success` in src/api/v3/produce.rs).
        let ok = line.starts_with(b"{\"error_code\":200,");
        let sent = *self.in_flight.front().context("a result for no record")?;
        self.answered_in_oldest += 1;
        if self.answered_in_oldest == CHUNK_RECORDS {
            self.in_flight.pop_front();
            self.answered_in_oldest = 0;
        }
        self.last_latency = Some(sent.elapsed());
        Ok(ok)
    }

    fn last_latency(&self) -> Option<Duration> {
        self.last_latency
    }
}

async fn proxy_streams(
    proxy: &ProxyUnderTest,
    cluster: &str,
    topic: &str,
    timing: Timing,
) -> Result<Measured> {
    let chunk = Arc::new(record_chunk());
    let mut senders = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        senders.push(StreamSender::open(proxy, cluster, topic, Arc::clone(&chunk)).await?);
    }
    let mut probe = ProcessProbe::new(proxy);
    let window = drive(senders, timing, None, &mut probe).await?;
    let totals = record_totals(window.requests, window.errors, window.elapsed_s);
    Ok(Measured {
        // A stream is one request for the whole run: it has no request rate.
        requests_per_s: 0.0,
        cpu_s_per_m: cpu_per_million(probe.cpu_before, probe.cpu_after, totals.records),
        peak_rss_mib: probe.peak_rss_mib,
        warmup_s: Some(window.warmup_s),
        steady: Some(window.steady),
        loadgen: window.loadgen,
        ..summarize(totals, window.latencies_us)
    })
}

/// A window of records counted one by one: each unit of the driver is one record.
fn record_totals(records: u64, errors: u64, elapsed_s: f64) -> Totals {
    Totals {
        requests: records,
        records,
        bytes: records * record_value(0).len() as u64,
        errors,
        elapsed_s,
    }
}

/// The native side of P5: a loop with the same window of delivery reports as a stream.
struct NativeWindow {
    producer: FutureProducer,
    topic: Arc<str>,
    values: Arc<Vec<Vec<u8>>>,
    in_flight: VecDeque<(Instant, DeliveryFuture)>,
    next_record: usize,
    last_latency: Option<Duration>,
}

impl NativeWindow {
    /// Enqueues records until the window is full, [`CHUNK_RECORDS`] at a time (as a stream
    /// writes its chunks); a full producer queue is waited out, as the proxy's send does.
    async fn refill(&mut self) -> Result<()> {
        while self.in_flight.len() + CHUNK_RECORDS <= WINDOW {
            self.enqueue_chunk().await?;
        }
        Ok(())
    }

    async fn enqueue_chunk(&mut self) -> Result<()> {
        for _ in 0..CHUNK_RECORDS {
            let value = &self.values[self.next_record % self.values.len()];
            self.next_record += 1;
            loop {
                let record: FutureRecord<'_, [u8], [u8]> =
                    FutureRecord::to(&self.topic).payload(value.as_slice());
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        self.in_flight.push_back((Instant::now(), delivery));
                        break;
                    }
                    Err((
                        rdkafka::error::KafkaError::MessageProduction(
                            rdkafka::types::RDKafkaErrorCode::QueueFull,
                        ),
                        _,
                    )) => tokio::time::sleep(Duration::from_millis(1)).await,
                    Err((e, _)) => bail!("the native producer refused a record: {e}"),
                }
            }
        }
        Ok(())
    }
}

impl Sender for NativeWindow {
    async fn send(&mut self) -> Result<bool> {
        self.refill().await?;
        let (sent, delivery) = self.in_flight.pop_front().context("nothing in flight")?;
        let delivered = delivery.await;
        self.last_latency = Some(sent.elapsed());
        Ok(matches!(delivered, Ok(Ok(_))))
    }

    fn last_latency(&self) -> Option<Duration> {
        self.last_latency
    }
}

async fn native_windows(
    bootstrap: &str,
    topic: &str,
    timing: Timing,
    overrides: &[(String, String)],
) -> Result<Measured> {
    let producer = native_producer(bootstrap, overrides)?;
    let values: Arc<Vec<Vec<u8>>> =
        Arc::new((0..WINDOW).map(|i| record_value(i).into_bytes()).collect());
    let topic: Arc<str> = Arc::from(topic);
    let senders = (0..STREAMS)
        .map(|_| NativeWindow {
            producer: producer.clone(),
            topic: Arc::clone(&topic),
            values: Arc::clone(&values),
            in_flight: VecDeque::with_capacity(WINDOW),
            next_record: 0,
            last_latency: None,
        })
        .collect();
    let window = drive(senders, timing, None, &mut NoProbe).await?;
    let totals = record_totals(window.requests, window.errors, window.elapsed_s);
    Ok(Measured {
        requests_per_s: 0.0,
        warmup_s: Some(window.warmup_s),
        steady: Some(window.steady),
        loadgen: window.loadgen,
        ..summarize(totals, window.latencies_us)
    })
}

// ---------------------------------------------------------------------------------------------
// P6: one record per request

/// One keep-alive connection sending a one-record v3 produce again and again.
struct SingleSender {
    conn: HttpConn,
    request: Arc<Vec<u8>>,
}

impl Sender for SingleSender {
    async fn send(&mut self) -> Result<bool> {
        let (status, body) = self.conn.roundtrip(&self.request).await?;
        Ok(status == 200 && contains(&body, b"\"error_code\":200"))
    }
}

async fn proxy_singles(
    proxy: &ProxyUnderTest,
    cluster: &str,
    topic: &str,
    timing: Timing,
) -> Result<Measured> {
    let request = Arc::new(http_request(
        &proxy.host,
        &proxy.base_path,
        "POST",
        &format!("/v3/clusters/{cluster}/topics/{topic}/records"),
        "application/json",
        Some(("application/json", &v3_record(0))),
    ));
    let mut senders = Vec::with_capacity(SINGLE_CONNECTIONS);
    for _ in 0..SINGLE_CONNECTIONS {
        senders.push(SingleSender {
            conn: HttpConn::connect(&proxy.addr).await?,
            request: Arc::clone(&request),
        });
    }
    let mut probe = ProcessProbe::new(proxy);
    let window = drive(senders, timing, None, &mut probe).await?;
    let totals = record_totals(window.requests, window.errors, window.elapsed_s);
    Ok(Measured {
        cpu_s_per_m: cpu_per_million(probe.cpu_before, probe.cpu_after, totals.records),
        peak_rss_mib: probe.peak_rss_mib,
        warmup_s: Some(window.warmup_s),
        steady: Some(window.steady),
        loadgen: window.loadgen,
        ..summarize(totals, window.latencies_us)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_v3_record_carries_the_p1_value_as_json_data() {
        let v: Value = serde_json::from_str(&v3_record(3)).expect("valid JSON");
        assert_eq!(v["value"]["type"], "JSON");
        assert_eq!(v["value"]["data"]["id"], "00000003");
    }

    #[test]
    fn record_totals_count_each_record_once() {
        let t = record_totals(1000, 2, 2.0);
        assert_eq!((t.requests, t.records, t.errors), (1000, 1000, 2));
        assert_eq!(t.bytes, 1000 * record_value(0).len() as u64);
    }
}
