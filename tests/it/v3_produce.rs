//! v3 produce against the real cluster and registry: the streamed `records` call (every
//! format's exact bytes, headers and timestamps, order and completeness of a long stream, a
//! client that waits for each result before it sends the next record, per-record errors and
//! the ends of a stream), `records:batch`, and the limits; everything written is read back
//! with a native consumer.

use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{self, v3_call, TestProxy};
use crate::require_stack;
use crate::v3_topics::cluster_id;

/// Posts `body` (JSON objects one after the other) to the records call with a
/// `Content-Length` and returns the status and the result lines.
async fn produce(url: &str, body: String) -> (u16, Vec<Value>) {
    let resp = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    let lines = text
        .split("\r\n")
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("line {l:?}: {e}")))
        .collect();
    (status, lines)
}

fn records(objects: &[Value]) -> String {
    objects
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The registry id of the latest schema of `subject`.
async fn registry_id(stack: &common::Stack, subject: &str) -> i64 {
    let url = format!("{}/subjects/{subject}/versions/latest", stack.registry_url);
    let body: Value = reqwest::get(&url)
        .await
        .expect("registry")
        .json()
        .await
        .expect("json");
    body["id"].as_i64().expect("an id")
}

fn framed(id: i64, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8];
    out.extend_from_slice(&i32::try_from(id).expect("id").to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[tokio::test]
async fn every_format_writes_its_exact_bytes_with_headers_and_timestamps() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-formats");
    // The first record is from 2021: kept past the default retention (see the consumer seek test).
    common::create_topic_with(&stack, &topic, 1, &[("retention.ms", "-1")]).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records"));
    let avro = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
    let json_schema = r#"{"type":"object","properties":{"f1":{"type":"string"}}}"#;
    let proto = "syntax = \"proto3\";\nmessage M { string f1 = 1; }\n";
    let body = records(&[
        json!({"partition_id": 0, "timestamp": "2021-02-05T19:14:42.123Z",
               "headers": [{"name": "h1", "value": "AAE="}, {"name": "h1", "value": null}],
               "key": {"type": "BINARY", "data": "aGk="}, "value": {"type": "STRING", "data": "héllo"}}),
        json!({"value": {"type": "JSON", "data": {"a": [1, 2], "b": null}}}),
        json!({"value": {"type": "AVRO", "schema": avro, "data": {"name": "testUser"}}}),
        json!({"key": {"type": "JSONSCHEMA", "schema": json_schema, "data": {"f1": "v"}}}),
        json!({"value": {"type": "PROTOBUF", "schema": proto, "subject": format!("{topic}-proto"),
                         "data": {"f1": "v"}}}),
        // No type: the subject's latest schema (the Avro one registered above) decides.
        json!({"value": {"data": {"name": "again"}}}),
    ]);
    let (status, lines) = produce(&url, body).await;
    assert_eq!(status, 200, "{lines:?}");
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(
        lines[0],
        json!({
            "error_code": 200, "cluster_id": cid, "topic_name": topic, "partition_id": 0,
            "offset": 0, "timestamp": "2021-02-05T19:14:42.123Z",
            "key": {"type": "BINARY", "size": 2, "subject": null, "schema_id": null, "schema_version": null},
            "value": {"type": "STRING", "size": 6, "subject": null, "schema_id": null, "schema_version": null},
        })
    );
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["error_code"], 200, "record {i}: {line}");
        assert_eq!(line["offset"], i as i64, "record {i}: {line}");
    }
    let value_id = registry_id(&stack, &format!("{topic}-value")).await;
    let key_id = registry_id(&stack, &format!("{topic}-key")).await;
    assert_eq!(lines[2]["value"]["type"], "AVRO");
    assert_eq!(lines[2]["value"]["subject"], format!("{topic}-value"));
    assert_eq!(lines[3]["key"]["schema_id"], key_id);
    assert_eq!(lines[3]["key"]["type"], "JSONSCHEMA");
    assert_eq!(lines[5]["value"]["type"], "AVRO");
    assert_eq!(lines[5]["value"]["schema_version"], 1);

    let back = common::read_all(&stack, &topic, 6, Duration::from_secs(30));
    assert_eq!(back.len(), 6);
    use rdkafka::message::{Headers, Message};
    assert_eq!(back[0].key(), Some(&b"hi"[..]));
    assert_eq!(back[0].payload(), Some("héllo".as_bytes()));
    assert_eq!(
        back[0].timestamp(),
        rdkafka::Timestamp::CreateTime(1_612_552_482_123)
    );
    let headers = back[0].headers().expect("headers");
    assert_eq!(headers.count(), 2);
    assert_eq!(headers.get(0).key, "h1");
    assert_eq!(headers.get(0).value, Some(&[0u8, 1][..]));
    assert_eq!(headers.get(1).value, None);
    assert_eq!(back[1].key(), None);
    assert_eq!(back[1].payload(), Some(&br#"{"a":[1,2],"b":null}"#[..]));
    // Avro of the registry's schema: the string's zigzag length, then its bytes.
    assert_eq!(
        back[2].payload(),
        Some(&framed(value_id_of(&lines[2]), b"\x10testUser")[..])
    );
    assert_eq!(back[3].key(), Some(&framed(key_id, br#"{"f1":"v"}"#)[..]));
    // Protobuf: the message index list of the first message (one 0), then the message.
    let proto_id = lines[4]["value"]["schema_id"].as_i64().expect("id");
    assert_eq!(
        back[4].payload(),
        Some(&framed(proto_id, b"\x00\x0a\x01v")[..])
    );
    assert_eq!(back[5].payload(), Some(&framed(value_id, b"\x0aagain")[..]));
    proxy.stop().await;
}

fn value_id_of(line: &Value) -> i64 {
    line["value"]["schema_id"].as_i64().expect("a schema id")
}

#[tokio::test]
async fn a_stream_of_ten_thousand_records_loses_and_repeats_none_and_answers_in_order() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-10k");
    common::create_topic(&stack, &topic, 3).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records"));
    let count = 10_000;
    let body: String = (0..count)
        .map(|i| {
            json!({"key": {"type": "STRING", "data": format!("k{}", i % 7)},
                   "value": {"type": "STRING", "data": format!("r-{i}")}})
            .to_string()
        })
        .collect();
    let (status, lines) = produce(&url, body).await;
    assert_eq!(status, 200);
    assert_eq!(lines.len(), count);
    // In request order: each partition's offsets grow with the record number, and every
    // record of one key went to one partition.
    let mut last = std::collections::HashMap::new();
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(line["error_code"], 200, "record {i}: {line}");
        let p = line["partition_id"].as_i64().expect("partition");
        let o = line["offset"].as_i64().expect("offset");
        if let Some(prev) = last.insert(p, o) {
            assert_eq!(o, prev + 1, "record {i} on partition {p}");
        }
    }
    let back = common::read_all(&stack, &topic, count, Duration::from_secs(60));
    assert_eq!(back.len(), count);
    use rdkafka::message::Message;
    let mut values: Vec<String> = back
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect();
    values.sort();
    values.dedup();
    assert_eq!(values.len(), count, "no duplicates");
    proxy.stop().await;
}

/// A raw HTTP/1.1 client that sends a chunked request body piece by piece and reads the
/// chunked answer line by line, on one connection (the fault tests use it too).
pub(crate) struct DuplexClient {
    stream: TcpStream,
    /// Answer bytes read but not yet returned (de-chunked).
    lines: Vec<u8>,
    /// Raw bytes read but not yet de-chunked.
    raw: Vec<u8>,
    head_read: bool,
    /// Whether the answer's last (empty) chunk arrived.
    ended: bool,
}

impl DuplexClient {
    pub(crate) async fn open(base: &str, path: &str) -> DuplexClient {
        let addr = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("head");
        DuplexClient {
            stream,
            lines: Vec::new(),
            raw: Vec::new(),
            head_read: false,
            ended: false,
        }
    }

    pub(crate) async fn send(&mut self, data: &[u8]) {
        let mut chunk = format!("{:x}\r\n", data.len()).into_bytes();
        chunk.extend_from_slice(data);
        chunk.extend_from_slice(b"\r\n");
        self.stream.write_all(&chunk).await.expect("chunk");
    }

    pub(crate) async fn finish(&mut self) {
        self.stream
            .write_all(b"0\r\n\r\n")
            .await
            .expect("last chunk");
    }

    /// The next result line, or `None` when the answer ended.
    pub(crate) async fn line(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.lines.windows(2).position(|w| w == b"\r\n") {
                let line: Vec<u8> = self.lines.drain(..end + 2).collect();
                return Some(serde_json::from_slice(&line[..end]).expect("a JSON line"));
            }
            if self.ended {
                return None;
            }
            if !self.dechunk() {
                let mut buf = [0u8; 8192];
                let n = tokio::time::timeout(Duration::from_secs(30), self.stream.read(&mut buf))
                    .await
                    .expect("an answer within 30 s")
                    .expect("read");
                if n == 0 {
                    return None;
                }
                self.raw.extend_from_slice(&buf[..n]);
            }
        }
    }

    /// Moves complete chunks from `raw` to `lines`; false when none was complete.
    fn dechunk(&mut self) -> bool {
        if !self.head_read {
            let Some(end) = self.raw.windows(4).position(|w| w == b"\r\n\r\n") else {
                return false;
            };
            let head = String::from_utf8_lossy(&self.raw[..end]).to_string();
            assert!(head.starts_with("HTTP/1.1 200"), "{head}");
            assert!(
                head.to_ascii_lowercase()
                    .contains("transfer-encoding: chunked"),
                "{head}"
            );
            self.raw.drain(..end + 4);
            self.head_read = true;
        }
        let Some(line_end) = self.raw.windows(2).position(|w| w == b"\r\n") else {
            return false;
        };
        let size = usize::from_str_radix(String::from_utf8_lossy(&self.raw[..line_end]).trim(), 16)
            .expect("chunk size");
        if self.raw.len() < line_end + 2 + size + 2 {
            return false;
        }
        if size == 0 {
            self.ended = true;
        }
        let data: Vec<u8> = self.raw[line_end + 2..line_end + 2 + size].to_vec();
        self.raw.drain(..line_end + 2 + size + 2);
        self.lines.extend_from_slice(&data);
        true
    }
}

#[tokio::test]
async fn a_client_that_waits_for_each_result_before_the_next_record_gets_every_result() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-pingpong");
    common::create_topic(&stack, &topic, 1).await;
    let mut client = DuplexClient::open(
        &proxy.base,
        &format!("/v3/clusters/{cid}/topics/{topic}/records"),
    )
    .await;
    for i in 0..50 {
        let record = json!({"value": {"type": "STRING", "data": format!("ping-{i}")}});
        client.send(record.to_string().as_bytes()).await;
        let line = client
            .line()
            .await
            .expect("a result before the next record");
        assert_eq!(line["error_code"], 200, "{line}");
        assert_eq!(line["offset"], i, "{line}");
    }
    client.finish().await;
    assert_eq!(client.line().await, None);
    let back = common::read_all(&stack, &topic, 50, Duration::from_secs(30));
    assert_eq!(back.len(), 50);
    proxy.stop().await;
}

/// Under the default budgets (`inflight.bytes.max` 256 MiB, `request.body.max.bytes` 64 MiB)
/// a stream once reserved a whole body and the fifth open stream got `503` (decision 65); a
/// stream holds one record at a time and reserves one record's limit.
#[tokio::test]
async fn sixteen_streams_open_at_once_are_all_admitted_under_the_default_budgets() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-many");
    common::create_topic(&stack, &topic, 1).await;
    let path = format!("/v3/clusters/{cid}/topics/{topic}/records");
    let mut clients = Vec::new();
    for i in 0..16 {
        let mut client = DuplexClient::open(&proxy.base, &path).await;
        let record = json!({"value": {"type": "STRING", "data": format!("s{i}")}});
        client.send(record.to_string().as_bytes()).await;
        // The stream stays open (no last chunk) while the next ones are opened.
        let line = client.line().await.expect("a result line, not a refusal");
        assert_eq!(line["error_code"], 200, "stream {i}: {line}");
        clients.push(client);
    }
    for client in &mut clients {
        client.finish().await;
        assert_eq!(client.line().await, None);
    }
    let back = common::read_all(&stack, &topic, 16, Duration::from_secs(30));
    assert_eq!(back.len(), 16);
    proxy.stop().await;
}

#[tokio::test]
async fn a_bad_record_fails_alone_and_malformed_json_ends_the_stream_with_a_400() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-bad");
    common::create_topic(&stack, &topic, 1).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records"));
    let good = |s: &str| json!({"value": {"type": "STRING", "data": s}}).to_string();
    let body = [
        good("a"),
        json!({"value": {"type": "BINARY", "data": 1}}).to_string(),
        json!({"records": []}).to_string(),
        json!({"partition_id": 7, "value": {"type": "STRING", "data": "x"}}).to_string(),
        json!({"value": {"type": "BINARY", "data": "aGk=", "subject": "s"}}).to_string(),
        good("b"),
        "{\"value\": }".to_string(),
        good("never"),
    ]
    .join("");
    let (status, lines) = produce(&url, body).await;
    assert_eq!(status, 200);
    let codes: Vec<i64> = lines
        .iter()
        .map(|l| l["error_code"].as_i64().expect("code"))
        .collect();
    assert_eq!(
        codes,
        vec![200, 400, 400, 40402, 400, 200, 400],
        "{lines:?}"
    );
    assert_eq!(
        lines[1],
        json!({"error_code": 400, "message": "Bad Request: value: data=1 is not a base64 string."})
    );
    assert_eq!(
        lines[4],
        json!({"error_code": 400, "message": "Bad Request: 'type=BINARY' cannot be used with 'subject'."})
    );
    assert!(
        lines[6]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("Bad Request: Error processing JSON")),
        "{}",
        lines[6]
    );
    let back = common::read_all(&stack, &topic, 3, Duration::from_secs(10));
    use rdkafka::message::Message;
    let values: Vec<&[u8]> = back.iter().filter_map(|m| m.payload()).collect();
    assert_eq!(values, vec![&b"a"[..], &b"b"[..]]);

    // An unknown topic is a per-record 40401; an empty body is refused before the stream.
    let absent = common::rand_topic("v3-produce-absent");
    let (status, lines) = produce(
        &proxy.url(&format!("/v3/clusters/{cid}/topics/{absent}/records")),
        good("x"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(lines[0]["error_code"], 40401, "{lines:?}");
    let resp = reqwest::Client::new()
        .post(&url)
        .header("content-type", "application/json")
        .body("  \n")
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 422);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(
        body,
        json!({"error_code": 42206, "message": "Payload error. Request body is empty. Data is required."})
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_record_over_the_size_limit_ends_the_stream_and_in_flight_bounds_keep_order() {
    let stack = require_stack!();
    let mut props = common::proxy_properties(&stack);
    props
        .set("api.v3.produce.request.size.limit.max.bytes", "200")
        .set("api.v3.produce.streaming.inflight.records.max", "1");
    let proxy = TestProxy::start_with(props).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-size");
    common::create_topic(&stack, &topic, 1).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records"));
    let small =
        |i: usize| json!({"value": {"type": "STRING", "data": format!("s{i}")}}).to_string();
    let mut body: String = (0..20).map(small).collect();
    body.push_str(&json!({"value": {"type": "STRING", "data": "x".repeat(300)}}).to_string());
    body.push_str(&small(99));
    let (status, lines) = produce(&url, body).await;
    assert_eq!(status, 200);
    assert_eq!(lines.len(), 21, "{lines:?}");
    for (i, line) in lines[..20].iter().enumerate() {
        assert_eq!(line["offset"], i as i64, "{line}");
    }
    assert_eq!(
        lines[20],
        json!({"error_code": 400, "message": "Bad Request: Produce request size is larger than allowed threshold (200 bytes)"})
    );
    let back = common::read_all(&stack, &topic, 21, Duration::from_secs(5));
    assert_eq!(back.len(), 20);
    proxy.stop().await;
}

/// The in-flight cap is what stops a stream from taking more records. The producer holds
/// every record for `linger.ms` (2.5 s here) before it sends a batch, so no acknowledgement can
/// come for that long, and the client writes 20 records at once. The proxy hands exactly the
/// cap (5) to the producer and takes no sixth: it reads the next record only when the oldest
/// is answered, and none is yet. The 64 result lines a stream may buffer (`LINES_BUFFERED`)
/// play no part here, because no result exists until Kafka answers, so the bound is the cap
/// itself; a proxy that ignored it would hand all 20 to librdkafka within microseconds of
/// reading them. The stream then goes on in waves of at most 5 and answers all 20 in order,
/// and Kafka holds each once.
#[tokio::test]
async fn a_stream_hands_kafka_no_more_records_than_the_in_flight_cap_while_none_is_acknowledged() {
    let stack = require_stack!();
    let inflight_max = 5;
    let mut props = common::proxy_properties(&stack);
    props
        .set(
            "api.v3.produce.streaming.inflight.records.max",
            inflight_max.to_string(),
        )
        .set("producer.linger.ms", "2500");
    let proxy = TestProxy::start_with(props).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-inflight");
    common::create_topic(&stack, &topic, 1).await;
    let mut client = DuplexClient::open(
        &proxy.base,
        &format!("/v3/clusters/{cid}/topics/{topic}/records"),
    )
    .await;
    let count = 20;
    let body: String = (0..count)
        .map(|i| json!({"value": {"type": "STRING", "data": format!("r-{i}")}}).to_string())
        .collect();
    client.send(body.as_bytes()).await;

    // Records handed to the producer, as the proxy counts them for its metrics.
    let metrics_url = proxy.url("/metrics");
    let sent = || async {
        crate::metrics::scrape(&metrics_url)
            .await
            .value("kafka_rest_produce_records_total", &[("topic", &topic)])
            .unwrap_or(0.0)
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while sent().await < inflight_max as f64 {
        assert!(
            std::time::Instant::now() < deadline,
            "the stream did not start sending"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The count must stay at the cap, not merely pass through it: checks for one second, far
    // longer than enqueueing the other 15 records would take and well inside the linger.
    let watch_until = std::time::Instant::now() + Duration::from_secs(1);
    while std::time::Instant::now() < watch_until {
        assert_eq!(
            sent().await,
            inflight_max as f64,
            "records handed to Kafka beyond the cap while none was acknowledged"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        common::high_watermark(&stack, &topic, 0),
        Some(0),
        "a record was acknowledged during the linger, so the check above proved nothing"
    );

    for i in 0..count {
        let line = client.line().await.expect("a result line");
        assert_eq!(line["error_code"], 200, "record {i}: {line}");
        assert_eq!(line["offset"], i, "record {i}: {line}");
    }
    client.finish().await;
    assert_eq!(client.line().await, None);
    assert_eq!(sent().await, count as f64);
    let back = common::read_all(&stack, &topic, count, Duration::from_secs(30));
    use rdkafka::message::Message;
    let values: Vec<String> = back
        .iter()
        .map(|m| String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned())
        .collect();
    let expected: Vec<String> = (0..count).map(|i| format!("r-{i}")).collect();
    assert_eq!(values, expected);
    proxy.stop().await;
}

#[tokio::test]
async fn records_batch_answers_207_by_id_and_refuses_bad_batches_with_42208() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-batch");
    common::create_topic(&stack, &topic, 1).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records:batch"));
    let entry =
        |id: &str, data: Value| json!({"id": id, "value": {"type": "BINARY", "data": data}});
    let (status, _, body) = v3_call(
        "POST",
        &url,
        Some(json!({"entries": [entry("a", json!("YQ==")), entry("b", json!(1)), entry("c", json!("Yw=="))]})),
    )
    .await;
    assert_eq!(status, 207, "{body}");
    assert_eq!(
        body["failures"],
        json!([{"id": "b", "error_code": 400, "message": "Bad Request: value: data=1 is not a base64 string."}])
    );
    let successes = body["successes"].as_array().expect("successes");
    assert_eq!(successes.len(), 2);
    assert_eq!(successes[0]["id"], "a");
    assert_eq!(successes[0]["offset"], 0);
    assert_eq!(successes[1]["id"], "c");
    assert_eq!(successes[1]["offset"], 1);
    assert_eq!(
        successes[0]["value"],
        json!({"type": "BINARY", "size": 1, "subject": null, "schema_id": null, "schema_version": null})
    );
    let back = common::read_all(&stack, &topic, 2, Duration::from_secs(10));
    assert_eq!(back.len(), 2);

    let too_many: Vec<Value> = (0..11)
        .map(|i| entry(&i.to_string(), json!("YQ==")))
        .collect();
    for (entries, message) in [
        (json!([]), "The batch has no entries."),
        (
            json!(too_many),
            "The batch has 11 entries; at most 10 are allowed.",
        ),
        (
            json!([entry("x", json!("YQ==")), entry("x", json!("YQ=="))]),
            "The entry id \"x\" is not unique.",
        ),
    ] {
        let (status, _, body) = v3_call("POST", &url, Some(json!({ "entries": entries }))).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body, json!({"error_code": 42208, "message": message}));
    }
    proxy.stop().await;
}

/// `ProduceRequestData` is `type: object`: serde's derived code would also take the array of
/// its fields (`[null, null]`: no type, no data) and write a null value (decision 64).
#[tokio::test]
async fn a_key_or_value_that_is_an_array_is_refused_and_nothing_of_it_is_written() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-array");
    common::create_topic(&stack, &topic, 1).await;
    let batch = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records:batch"));
    for entry in [
        json!({"id": "k", "key": [null, null], "value": {"type": "STRING", "data": "v"}}),
        json!({"id": "v", "value": [null, null]}),
    ] {
        let (status, _, body) = v3_call("POST", &batch, Some(json!({ "entries": [entry] }))).await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error_code"], 42206, "{body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| m.contains("expected an object (ProduceRequestData)")),
            "{body}"
        );
    }
    let (status, _, body) = v3_call("POST", &batch, Some(json!([["e", null]]))).await;
    assert_eq!(status, 422, "an array for the whole batch: {body}");

    // In a stream the record fails alone, and the next one is written.
    let stream = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records"));
    let body = [
        json!({"value": [null, null]}).to_string(),
        json!({"value": {"type": "STRING", "data": "after"}}).to_string(),
    ]
    .join("");
    let (status, lines) = produce(&stream, body).await;
    assert_eq!(status, 200);
    let codes: Vec<&Value> = lines.iter().map(|l| &l["error_code"]).collect();
    assert_eq!(codes, [&json!(400), &json!(200)], "{lines:?}");
    let back = common::read_all(&stack, &topic, 2, Duration::from_secs(5));
    use rdkafka::message::Message;
    let values: Vec<Option<&[u8]>> = back.iter().map(|m| m.payload()).collect();
    assert_eq!(
        values,
        vec![Some(&b"after"[..])],
        "only the object record reached Kafka"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn records_over_the_produce_rate_limit_get_429() {
    let stack = require_stack!();
    let mut props = common::proxy_properties(&stack);
    props
        .set("api.v3.produce.rate.limit.enabled", "true")
        .set("api.v3.produce.rate.limit.max.requests.per.sec", "3");
    let proxy = TestProxy::start_with(props).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-produce-rate");
    common::create_topic(&stack, &topic, 1).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records"));
    let body: String = (0..20)
        .map(|i| json!({"value": {"type": "STRING", "data": format!("r{i}")}}).to_string())
        .collect();
    let (status, lines) = produce(&url, body).await;
    assert_eq!(status, 200);
    let ok = lines.iter().filter(|l| l["error_code"] == 200).count();
    let limited: Vec<&Value> = lines.iter().filter(|l| l["error_code"] == 429).collect();
    assert_eq!(ok + limited.len(), 20, "{lines:?}");
    assert!(ok >= 3 && !limited.is_empty(), "{lines:?}");
    assert_eq!(
        limited[0]["message"],
        "Request rate limit exceeded: The rate limit of requests per second has been exceeded."
    );
    // A whole batch over the limit is one JSON 429 with Retry-After.
    let entries: Vec<Value> = (0..10)
        .map(|i| json!({"id": i.to_string(), "value": {"type": "STRING", "data": "x"}}))
        .collect();
    let resp = reqwest::Client::new()
        .post(proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/records:batch")))
        .header("content-type", "application/json")
        .body(json!({ "entries": entries }).to_string())
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 429);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error_code"], 429);
    let back = common::read_all(&stack, &topic, ok + 1, Duration::from_secs(5));
    assert_eq!(back.len(), ok);
    proxy.stop().await;
}
