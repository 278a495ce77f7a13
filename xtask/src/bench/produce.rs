//! The produce scenarios: P1-P4 (throughput of batched and single-record produce in the json,
//! binary and Avro formats) and L1 (latency of single-record produce at a fixed rate). Each
//! runs the same work twice through the one driver in `driver.rs`: once as HTTP requests to
//! the proxy, once natively with the proxy's producer settings on the same broker.
//!
//! Owns the scenarios, the records (the same bytes reach Kafka from both sides), the two
//! [`Sender`]s and the proxy's [`Probe`]. How the loops run and are measured is `driver.rs`.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use super::driver::{
    cpu_per_million, drive, interleave, summarize, Compare, NoProbe, Probe, Sender, Sides, Totals,
    Window,
};
use super::{Bench, Measured, Row, Timing};
use crate::load::{base64_encode, delete_topic, fresh_topic, HttpConn, ProxyUnderTest, RssSampler};

/// The proxy's default `linger.ms`, mirrored by the native producer.
const NATIVE_LINGER_MS: &str = "1";

/// One throughput scenario: what one request carries, over how many connections.
pub(super) struct ProduceScenario {
    pub(super) id: &'static str,
    what: &'static str,
    format: Format,
    /// Records per request.
    batch: usize,
    /// Concurrent connections (proxy) or concurrent loops (native).
    connections: usize,
}

/// P1-P4, in the order they run.
pub(super) const PRODUCE_SCENARIOS: [ProduceScenario; 5] = [
    ProduceScenario {
        id: "P1-16",
        what: "produce JSON, 100 x 100 B per request, 16 conns",
        format: Format::Json,
        batch: 100,
        connections: 16,
    },
    ProduceScenario {
        id: "P1-64",
        what: "produce JSON, 100 x 100 B per request, 64 conns",
        format: Format::Json,
        batch: 100,
        connections: 64,
    },
    ProduceScenario {
        id: "P2-64",
        what: "produce JSON, 1 record per request, 64 conns",
        format: Format::Json,
        batch: 1,
        connections: 64,
    },
    ProduceScenario {
        id: "P3-16",
        what: "produce binary, 100 x 100 B per request, 16 conns",
        format: Format::Binary,
        batch: 100,
        connections: 16,
    },
    ProduceScenario {
        id: "P4-16",
        what: "produce Avro by value_schema_id, 100 x ~70 B per request, 16 conns",
        format: Format::Avro { schema_id: 0 },
        batch: 100,
        connections: 16,
    },
];

/// R2: P2's work against the floor server of `floor.rs` instead of the proxy.
pub(super) const FLOOR_P2: ProduceScenario = ProduceScenario {
    id: "R2-64",
    what: "floor: P2's requests to a minimal HTTP-to-Kafka server",
    format: Format::Json,
    batch: 1,
    connections: 64,
};

/// Runs one of P1-P4 on a fresh 3-partition topic, proxy side then native side.
pub(super) async fn throughput(bench: &Bench<'_>, scenario: &ProduceScenario) -> Result<Row> {
    let id = scenario.id;
    let prefix = format!("bench-{}", id.to_ascii_lowercase());
    let topic = fresh_topic(&bench.admin, &prefix, 3).await?;
    let format = match scenario.format {
        Format::Avro { .. } => Format::Avro {
            schema_id: register_avro_schema(bench.proxy, &topic).await?,
        },
        other => other,
    };
    let timing = bench.timing;
    println!(
        "[bench] {id}: {} ({} interleaved run(s) of {}s per side, after a warm-up to a steady rate of at most {}s)",
        scenario.what,
        timing.runs,
        timing.measure.as_secs(),
        timing.warmup.as_secs()
    );
    let work = ProduceWork {
        topic: topic.clone(),
        format,
        batch: scenario.batch,
        connections: scenario.connections,
    };
    let sides = both_sides(bench, id, &work, None).await?;
    let target = if id.starts_with("P4") { 0.80 } else { 0.85 };
    delete_topic(&bench.admin, &topic).await;
    let row = Row::compared(id, scenario.what, sides, Compare::Throughput, "");
    let median = row.spread.as_ref().map_or(0.0, |s| s.median);
    let note = format!(
        "target proxy/native >= {target:.2} (median of the interleaved pairs); got {median:.2}, {:.0} req/s",
        row.proxy.requests_per_s
    );
    Ok(Row { note, ..row })
}

/// L1's rate: about half the proxy's single-record maximum, which is P2's result
/// (`p2_max_rps`) or, when P2 did not run, a short probe now.
pub(super) async fn latency_rate(bench: &Bench<'_>, p2_max_rps: Option<f64>) -> Result<f64> {
    if let Some(rps) = p2_max_rps {
        return Ok((rps / 2.0).max(100.0));
    }
    let topic = fresh_topic(&bench.admin, "bench-l1-probe", 3).await?;
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
    let max = proxy_produce(bench.proxy, &probe, short, None).await;
    delete_topic(&bench.admin, &topic).await;
    Ok((max?.requests_per_s / 2.0).max(100.0))
}

/// L1 (and RL1, the floor's, with `id`): single-record produce over 32 connections paced at
/// `rate` ([`latency_rate`]), the p99 of both sides compared.
pub(super) async fn latency(bench: &Bench<'_>, id: &str, rate: f64) -> Result<Row> {
    let topic = fresh_topic(&bench.admin, "bench-l1", 3).await?;
    println!("[bench] {id}: single-record produce at {rate:.0} req/s, proxy then native");
    let work = ProduceWork {
        topic: topic.clone(),
        format: Format::Json,
        batch: 1,
        connections: 32,
    };
    let sides = both_sides(bench, id, &work, Some(rate)).await?;
    delete_topic(&bench.admin, &topic).await;
    let row = Row::compared(
        id,
        format!("latency, 1 record per request at {rate:.0} req/s"),
        sides,
        Compare::P99Over,
        "",
    );
    let median = row.spread.as_ref().map_or(0.0, |s| s.median);
    let note = format!(
        "target p99 overhead <= 1 ms (median of the interleaved pairs); got {median:.2} ms"
    );
    Ok(Row { note, ..row })
}

/// The same work on both sides, interleaved `timing.runs` times.
async fn both_sides(
    bench: &Bench<'_>,
    id: &str,
    work: &ProduceWork,
    rate: Option<f64>,
) -> Result<Sides> {
    let timing = bench.timing;
    interleave(
        id,
        timing.runs,
        |_| proxy_produce(bench.proxy, work, timing, rate),
        |_| native_produce(bench.bootstrap, work, timing, rate, &bench.overrides),
    )
    .await
}

/// How the records of a produce scenario are encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Json,
    Binary,
    /// Avro records sent with `value_schema_id` (registered before the scenario).
    Avro {
        schema_id: i32,
    },
}

/// The produce work both sides do.
#[derive(Debug, Clone)]
pub(super) struct ProduceWork {
    pub(super) topic: String,
    pub(super) format: Format,
    /// Records per request.
    pub(super) batch: usize,
    /// Concurrent connections (proxy) or concurrent request loops (native).
    pub(super) connections: usize,
}

/// A value of about 100 bytes; JSON text for the json format, raw bytes for binary.
pub(super) fn record_value(i: usize) -> String {
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

/// Proxy side: one keep-alive connection that sends the same produce request again and again.
struct ProxySender {
    conn: HttpConn,
    request: Arc<Vec<u8>>,
}

impl Sender for ProxySender {
    async fn send(&mut self) -> Result<bool> {
        let (status, body) = self.conn.roundtrip(&self.request).await?;
        // A produce answers 200 even when records failed; their entries then carry an
        // `error_code` of 50002 or 50003.
        Ok(status == 200 && !contains(&body, b"\"error_code\":5"))
    }
}

/// Native side: one loop that enqueues one request's records on the shared producer and
/// awaits their delivery reports.
struct NativeSender {
    producer: FutureProducer,
    topic: String,
    values: Arc<Vec<Vec<u8>>>,
}

impl Sender for NativeSender {
    async fn send(&mut self) -> Result<bool> {
        let mut deliveries = Vec::with_capacity(self.values.len());
        for value in self.values.iter() {
            let record: FutureRecord<'_, [u8], [u8]> =
                FutureRecord::to(&self.topic).payload(value.as_slice());
            deliveries.push(self.producer.send(record, Duration::from_secs(30)));
        }
        let results = futures::future::join_all(deliveries).await;
        Ok(results.iter().all(Result::is_ok))
    }
}

/// Our proxy's CPU time and peak RSS over the measured window (nothing for an external
/// proxy, whose process we cannot see).
pub(super) struct ProcessProbe<'a> {
    proxy: &'a ProxyUnderTest,
    pub(super) cpu_before: Option<f64>,
    pub(super) cpu_after: Option<f64>,
    sampler: Option<RssSampler>,
    pub(super) peak_rss_mib: Option<f64>,
}

impl<'a> ProcessProbe<'a> {
    pub(super) fn new(proxy: &'a ProxyUnderTest) -> ProcessProbe<'a> {
        ProcessProbe {
            proxy,
            cpu_before: None,
            cpu_after: None,
            sampler: None,
            peak_rss_mib: None,
        }
    }
}

impl Probe for ProcessProbe<'_> {
    fn window_opens(&mut self) {
        self.cpu_before = self.proxy.cpu_seconds();
        self.sampler = self.proxy.rss_sampler();
    }

    fn window_closes(&mut self) {
        self.cpu_after = self.proxy.cpu_seconds();
        self.peak_rss_mib = self.sampler.take().map(RssSampler::finish);
    }
}

/// What a produce window amounts to, counted the same way for both sides: each request
/// carries `batch` records of `kafka_bytes` in all.
fn produce_totals(window: &Window, batch: usize, kafka_bytes: usize) -> Totals {
    Totals {
        requests: window.requests,
        records: window.requests * batch as u64,
        bytes: window.requests * kafka_bytes as u64,
        errors: window.errors,
        elapsed_s: window.elapsed_s,
    }
}

/// Drives the proxy with `work.connections` keep-alive connections through the shared driver.
async fn proxy_produce(
    proxy: &ProxyUnderTest,
    work: &ProduceWork,
    timing: Timing,
    rate: Option<f64>,
) -> Result<Measured> {
    let (request, kafka_bytes) = work.http_request(&proxy.host, &proxy.base_path);
    let request = Arc::new(request);
    let mut senders = Vec::with_capacity(work.connections);
    for _ in 0..work.connections {
        senders.push(ProxySender {
            conn: HttpConn::connect(&proxy.addr).await?,
            request: Arc::clone(&request),
        });
    }
    let mut probe = ProcessProbe::new(proxy);
    let window = drive(senders, timing, rate, &mut probe).await?;
    let totals = produce_totals(&window, work.batch, kafka_bytes);
    Ok(Measured {
        cpu_s_per_m: cpu_per_million(probe.cpu_before, probe.cpu_after, totals.records),
        peak_rss_mib: probe.peak_rss_mib,
        warmup_s: Some(window.warmup_s),
        steady: Some(window.steady),
        loadgen: window.loadgen,
        ..summarize(totals, window.latencies_us)
    })
}

/// The native producer of every produce scenario: the proxy's producer settings, and the
/// `--set` overrides that apply to librdkafka.
pub(super) fn native_producer(
    bootstrap: &str,
    overrides: &[(String, String)],
) -> Result<FutureProducer> {
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
    config.create().context("cannot create the native producer")
}

/// The same work done natively through the shared driver: `work.connections` loops on one
/// producer with the proxy's settings (and the `--set` overrides that apply to librdkafka).
pub(super) async fn native_produce(
    bootstrap: &str,
    work: &ProduceWork,
    timing: Timing,
    rate: Option<f64>,
    overrides: &[(String, String)],
) -> Result<Measured> {
    let producer = native_producer(bootstrap, overrides)?;
    let values: Arc<Vec<Vec<u8>>> = Arc::new(
        (0..work.batch)
            .map(|i| native_value(work.format, i))
            .collect(),
    );
    let kafka_bytes: usize = values.iter().map(Vec::len).sum();
    let senders = (0..work.connections)
        .map(|_| NativeSender {
            producer: producer.clone(),
            topic: work.topic.clone(),
            values: Arc::clone(&values),
        })
        .collect();
    let window = drive(senders, timing, rate, &mut NoProbe).await?;
    let totals = produce_totals(&window, work.batch, kafka_bytes);
    Ok(Measured {
        warmup_s: Some(window.warmup_s),
        steady: Some(window.steady),
        loadgen: window.loadgen,
        ..summarize(totals, window.latencies_us)
    })
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

pub(super) fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
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
}
