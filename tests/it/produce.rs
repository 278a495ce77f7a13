//! Produce endpoints against the real cluster: every assertion about what was written is
//! checked by reading Kafka back with a native consumer.

use std::collections::BTreeSet;
use std::time::Duration;

use rdkafka::message::Headers;
use rdkafka::Message;
use serde_json::{json, Value};

use crate::common::{self, TestProxy};
use crate::require_stack;

const JSON: &str = "application/vnd.kafka.json.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";

fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn offsets(body: &Value) -> Vec<(i64, i64)> {
    body["offsets"]
        .as_array()
        .expect("offsets array")
        .iter()
        .map(|o| {
            (
                o["partition"].as_i64().expect("partition"),
                o["offset"].as_i64().expect("offset"),
            )
        })
        .collect()
}

#[tokio::test]
async fn json_quickstart_produce_writes_compact_json_and_reports_offsets() {
    let stack = require_stack!();
    let topic = common::rand_topic("json");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;

    // The Confluent quickstart request, verbatim.
    let (status, ct, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        r#"{"records":[{"value":{"foo":"bar"}}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, V2);
    assert_eq!(
        body,
        json!({
            "offsets": [{"partition": 0, "offset": 0, "error_code": null, "error": null}],
            "key_schema_id": null,
            "value_schema_id": null
        })
    );

    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        "application/vnd.kafka.json.v2+json; charset=utf-8",
        r#"{ "records": [ {"key": "k 1", "value": [1, 2.50, {"b": null, "a": "x y"}]}, {"key": {"id": 7}, "value": null} ] }"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(offsets(&body), vec![(0, 1), (0, 2)]);

    let got = common::read_all(&stack, &topic, 3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    assert_eq!(got[0].key(), None);
    assert_eq!(got[0].payload(), Some(&br#"{"foo":"bar"}"#[..]));
    assert_eq!(got[1].key(), Some(&br#""k 1""#[..]));
    assert_eq!(
        got[1].payload(),
        Some(&br#"[1,2.50,{"b":null,"a":"x y"}]"#[..])
    );
    assert_eq!(got[2].key(), Some(&br#"{"id":7}"#[..]));
    assert_eq!(got[2].payload(), None, "a null value is a tombstone");
    proxy.stop().await;
}

#[tokio::test]
async fn binary_records_keep_bytes_keys_partitions_and_headers() {
    let stack = require_stack!();
    let topic = common::rand_topic("binary");
    common::create_topic(&stack, &topic, 3).await;
    let proxy = TestProxy::start(&stack).await;

    let request = json!({"records": [
        {"key": b64(b"k0"), "value": b64(&[0, 1, 2, 255]), "partition": 2},
        {"value": b64(b"no key"), "partition": 1,
         "headers": [{"name": "trace", "value": b64(b"abc")}, {"name": "empty", "value": null}]},
        {"key": b64(b"gone"), "value": null, "partition": 2},
    ]});
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        BINARY,
        request.to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reported = offsets(&body);
    assert_eq!(reported, vec![(2, 0), (1, 0), (2, 1)]);

    let got = common::read_all(&stack, &topic, 3, Duration::from_secs(10));
    assert_eq!(got.len(), 3);
    let find = |p: i32, o: i64| {
        got.iter()
            .find(|m| m.partition() == p && m.offset() == o)
            .unwrap_or_else(|| panic!("no record at {p}/{o}"))
    };
    let first = find(2, 0);
    assert_eq!(first.key(), Some(&b"k0"[..]));
    assert_eq!(first.payload(), Some(&[0u8, 1, 2, 255][..]));
    let second = find(1, 0);
    assert_eq!(second.key(), None);
    assert_eq!(second.payload(), Some(&b"no key"[..]));
    let headers = second.headers().expect("headers");
    let headers: Vec<(String, Option<Vec<u8>>)> = headers
        .iter()
        .map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec)))
        .collect();
    assert_eq!(
        headers,
        vec![
            ("trace".to_string(), Some(b"abc".to_vec())),
            ("empty".to_string(), None)
        ]
    );
    let third = find(2, 1);
    assert_eq!(third.key(), Some(&b"gone"[..]));
    assert_eq!(third.payload(), None);
    proxy.stop().await;
}

#[tokio::test]
async fn produce_to_partition_uses_the_path_unless_a_record_names_its_own() {
    let stack = require_stack!();
    let topic = common::rand_topic("topart");
    common::create_topic(&stack, &topic, 2).await;
    let proxy = TestProxy::start(&stack).await;
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}/partitions/1")),
        JSON,
        r#"{"records":[{"value":1},{"value":2,"partition":0},{"value":3}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(offsets(&body), vec![(1, 0), (0, 0), (1, 1)]);
    let got = common::read_all(&stack, &topic, 3, Duration::from_secs(10));
    let placed: Vec<(i32, i64, Vec<u8>)> = got
        .iter()
        .map(|m| {
            (
                m.partition(),
                m.offset(),
                m.payload().unwrap_or_default().to_vec(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        vec![
            (0, 0, b"2".to_vec()),
            (1, 0, b"1".to_vec()),
            (1, 1, b"3".to_vec())
        ]
    );
    proxy.stop().await;
}

#[test]
fn the_java_murmur2_reference_matches_kafkas_own_vectors() {
    // Kafka's UtilsTest.testMurmur2.
    let vectors: [(&[u8], i32); 6] = [
        (b"21", -973932308),
        (b"foobar", -790332482),
        (b"a-little-bit-long-string", -985981536),
        (b"a-little-bit-longer-string", -1486304829),
        (
            b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
            -58897971,
        ),
        (b"abc", 479470107),
    ];
    for (key, hash) in vectors {
        assert_eq!(common::java_murmur2(key), hash, "{key:?}");
    }
}

#[tokio::test]
async fn keyed_records_land_where_the_java_partitioner_puts_them() {
    let stack = require_stack!();
    let topic = common::rand_topic("murmur");
    let partitions = 7;
    common::create_topic(&stack, &topic, partitions).await;
    let proxy = TestProxy::start(&stack).await;

    let keys: Vec<String> = (0..60).map(|i| format!("customer-{i}")).collect();
    let records: Vec<Value> = keys
        .iter()
        .map(|k| json!({"key": b64(k.as_bytes()), "value": b64(b"v")}))
        .collect();
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        BINARY,
        json!({ "records": records }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let reported = offsets(&body);
    for (key, (partition, _)) in keys.iter().zip(&reported) {
        assert_eq!(
            *partition,
            i64::from(common::java_partition(key.as_bytes(), partitions)),
            "key {key}"
        );
    }
    // The JSON format hashes the serialized key text, quotes included.
    let (_, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        r#"{"records":[{"key":"abc","value":1}]}"#,
    )
    .await;
    assert_eq!(
        offsets(&body)[0].0,
        i64::from(common::java_partition(br#""abc""#, partitions))
    );
    let got = common::read_all(&stack, &topic, 61, Duration::from_secs(10));
    assert_eq!(got.len(), 61);
    for m in got.iter().filter(|m| m.payload() == Some(&b"v"[..])) {
        let key = m.key().expect("keyed");
        assert_eq!(m.partition(), common::java_partition(key, partitions));
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_thousand_records_in_one_request_are_all_written_in_order() {
    let stack = require_stack!();
    let topic = common::rand_topic("thousand");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let records: Vec<Value> = (0..1000).map(|i| json!({ "value": { "n": i } })).collect();
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        json!({ "records": records }).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let reported = offsets(&body);
    assert_eq!(reported.len(), 1000);
    for (i, (p, o)) in reported.iter().enumerate() {
        assert_eq!((*p, *o), (0, i as i64));
    }
    let got = common::read_all(&stack, &topic, 1000, Duration::from_secs(20));
    assert_eq!(got.len(), 1000);
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.payload(), Some(format!(r#"{{"n":{i}}}"#).as_bytes()));
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_five_mib_record_goes_through_with_raised_limits() {
    let stack = require_stack!();
    let topic = common::rand_topic("big");
    common::create_topic_with(&stack, &topic, 1, &[("max.message.bytes", "16777216")]).await;
    let mut props = common::proxy_properties(&stack);
    props.set("producer.message.max.bytes", "16777216");
    let proxy = TestProxy::start_with(props).await;
    let value: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        BINARY,
        json!({ "records": [{ "value": b64(&value) }] }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["error_code"], Value::Null, "{body}");
    let got = common::read_all(&stack, &topic, 1, Duration::from_secs(20));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload().map(<[u8]>::len), Some(value.len()));
    assert_eq!(got[0].payload(), Some(&value[..]));
    proxy.stop().await;
}

#[tokio::test]
async fn concurrent_clients_lose_and_duplicate_nothing() {
    let stack = require_stack!();
    let topic = common::rand_topic("concurrent");
    common::create_topic(&stack, &topic, 3).await;
    let proxy = TestProxy::start(&stack).await;
    let url = proxy.url(&format!("/topics/{topic}"));
    let clients = 8;
    let requests = 20;
    let per_request = 25;
    let mut tasks = Vec::new();
    for c in 0..clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let mut acked = Vec::new();
            for r in 0..requests {
                let records: Vec<Value> = (0..per_request)
                    .map(|i| json!({ "key": format!("c{c}"), "value": format!("c{c}-r{r}-i{i}") }))
                    .collect();
                let (status, _, body) =
                    common::post_json(&url, JSON, json!({ "records": records }).to_string()).await;
                assert_eq!(status, 200, "{body}");
                for (i, (p, o)) in offsets(&body).into_iter().enumerate() {
                    acked.push((p as i32, o, format!("\"c{c}-r{r}-i{i}\"")));
                }
            }
            acked
        }));
    }
    let mut acked = Vec::new();
    for t in tasks {
        acked.extend(t.await.expect("client task"));
    }
    let total = clients * requests * per_request;
    assert_eq!(acked.len(), total);
    let positions: BTreeSet<(i32, i64)> = acked.iter().map(|(p, o, _)| (*p, *o)).collect();
    assert_eq!(
        positions.len(),
        total,
        "two records acknowledged at one offset"
    );

    let got = common::read_all(&stack, &topic, total, Duration::from_secs(30));
    assert_eq!(
        got.len(),
        total,
        "Kafka holds exactly the acknowledged records"
    );
    for (p, o, value) in &acked {
        let m = got
            .iter()
            .find(|m| m.partition() == *p && m.offset() == *o)
            .unwrap_or_else(|| panic!("acknowledged record {p}/{o} missing"));
        assert_eq!(m.payload(), Some(value.as_bytes()));
    }
    proxy.stop().await;
}

/// Every rejected request: status, error_code, and nothing written.
#[tokio::test]
async fn bad_produce_requests_are_rejected_before_anything_is_sent() {
    let stack = require_stack!();
    let topic = common::rand_topic("reject");
    common::create_topic(&stack, &topic, 2).await;
    let missing = common::rand_topic("nosuch");
    let mut props = common::proxy_properties(&stack);
    props.set("request.body.max.bytes", "2048");
    let proxy = TestProxy::start_with(props).await;
    let to_topic = format!("/topics/{topic}");
    let big = json!({ "records": [{ "value": "x".repeat(4096) }] }).to_string();
    // (path, content type, body, status, error_code)
    let cases: Vec<(String, &str, String, u16, u64)> = vec![
        (
            format!("/topics/{missing}"),
            JSON,
            r#"{"records":[{"value":1}]}"#.into(),
            404,
            40401,
        ),
        (
            format!("/topics/{missing}/partitions/0"),
            JSON,
            r#"{"records":[{"value":1}]}"#.into(),
            404,
            40401,
        ),
        (
            format!("/topics/{topic}/partitions/2"),
            JSON,
            r#"{"records":[{"value":1}]}"#.into(),
            404,
            40402,
        ),
        (
            format!("/topics/{topic}/partitions/-1"),
            JSON,
            r#"{"records":[{"value":1}]}"#.into(),
            404,
            40402,
        ),
        (
            to_topic.clone(),
            JSON,
            r#"{"records":[{"value":1},{"value":2,"partition":9}]}"#.into(),
            404,
            40402,
        ),
        (
            to_topic.clone(),
            JSON,
            r#"{"records":[{"value":1,"partition":-3}]}"#.into(),
            404,
            40402,
        ),
        (
            to_topic.clone(),
            BINARY,
            r#"{"records":[{"value":"aGk="},{"value":"%%%"}]}"#.into(),
            422,
            42203,
        ),
        (
            to_topic.clone(),
            BINARY,
            r#"{"records":[{"value":{"a":1}}]}"#.into(),
            422,
            42203,
        ),
        (
            to_topic.clone(),
            JSON,
            r#"{"records":[{"value":1,"timestamp":1}]}"#.into(),
            422,
            422,
        ),
        (to_topic.clone(), JSON, r#"{"records":[]}"#.into(), 422, 422),
        (to_topic.clone(), JSON, "{}".into(), 422, 422),
        (to_topic.clone(), JSON, String::new(), 422, 422),
        (
            to_topic.clone(),
            JSON,
            r#"{"records":[{"value":1}"#.into(),
            400,
            400,
        ),
        (
            to_topic.clone(),
            JSON,
            r#"{"records":"many"}"#.into(),
            400,
            400,
        ),
        (to_topic.clone(), JSON, big, 413, 413),
        (
            to_topic.clone(),
            V2,
            r#"{"records":[{"value":1}]}"#.into(),
            415,
            415,
        ),
        (
            to_topic.clone(),
            "application/json",
            r#"{"records":[{"value":1}]}"#.into(),
            415,
            415,
        ),
        (
            to_topic.clone(),
            "text/plain",
            r#"{"records":[{"value":1}]}"#.into(),
            415,
            415,
        ),
    ];
    for (path, ct, body, status, code) in cases {
        let (got_status, got_ct, got) =
            common::post_json(&proxy.url(&path), ct, body.clone()).await;
        assert_eq!(got_status, status, "{path} {ct} {body}: {got}");
        assert_eq!(got_ct, V2, "{path} {ct} {body}");
        assert_eq!(got["error_code"], code, "{path} {ct} {body}: {got}");
        assert!(got["message"].is_string(), "{got}");
    }
    // The record index is named; the unknown field is named.
    let (_, _, got) = common::post_json(
        &proxy.url(&to_topic),
        BINARY,
        r#"{"records":[{"value":"aGk="},{"value":"%%%"}]}"#,
    )
    .await;
    assert!(
        got["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("Record 1: value"),
        "{got}"
    );
    let (_, _, got) = common::post_json(
        &proxy.url(&to_topic),
        JSON,
        r#"{"records":[{"value":1,"timestamp":1}]}"#,
    )
    .await;
    assert_eq!(got["message"], "Unrecognized field: timestamp");

    // No Content-Type at all, and an Accept the proxy cannot satisfy.
    let client = reqwest::Client::new();
    let resp = client
        .post(proxy.url(&to_topic))
        .body(r#"{"records":[{"value":1}]}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 415);
    let resp = client
        .post(proxy.url(&to_topic))
        .header("content-type", JSON)
        .header("accept", "text/html")
        .body(r#"{"records":[{"value":1}]}"#)
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status(), 406);
    let body: Value = resp.json().await.expect("json");
    assert_eq!(body["error_code"], 406);

    // Nothing was written by any rejected request, and the missing topic was not created.
    let admin = common::admin(&stack);
    for p in 0..2 {
        let (_, high) = admin
            .inner()
            .fetch_watermarks(&topic, p, Duration::from_secs(5))
            .expect("watermarks");
        assert_eq!(high, 0, "partition {p} was written to");
    }
    assert!(!common::cluster_topics(&stack).contains(&missing));
    proxy.stop().await;
}

#[tokio::test]
async fn a_full_producer_queue_is_waited_out_not_dropped() {
    let stack = require_stack!();
    let topic = common::rand_topic("queuefull");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    // A tiny local queue: most of the 500 records must wait for space.
    props.set("producer.queue.buffering.max.messages", "10");
    let proxy = TestProxy::start_with(props).await;
    let records: Vec<Value> = (0..500).map(|i| json!({ "value": i })).collect();
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        json!({ "records": records }).to_string(),
    )
    .await;
    assert_eq!(status, 200);
    let reported = offsets(&body);
    assert_eq!(reported, (0..500).map(|i| (0, i)).collect::<Vec<_>>());
    let got = common::read_all(&stack, &topic, 500, Duration::from_secs(20));
    assert_eq!(got.len(), 500);
    proxy.stop().await;
}

#[tokio::test]
async fn records_kafka_cannot_acknowledge_get_50003_by_the_deadline() {
    let stack = require_stack!();
    let topic = common::rand_topic("unacked");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    // Metadata comes from the real cluster, but the producers can reach no broker.
    props
        .set("producer.bootstrap.servers", "127.0.0.1:1")
        .set("produce.timeout.ms", "1500");
    let proxy = TestProxy::start_with(props).await;
    let started = std::time::Instant::now();
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        r#"{"records":[{"value":1},{"value":2}]}"#,
    )
    .await;
    let waited = started.elapsed();
    assert_eq!(status, 200, "{body}");
    for entry in body["offsets"].as_array().expect("offsets") {
        assert_eq!(entry["error_code"], 50003, "{body}");
        assert_eq!(entry["partition"], Value::Null);
        assert_eq!(entry["offset"], Value::Null);
        assert!(entry["error"].is_string());
    }
    // Bounded by the deadline (plus slack), never a hang.
    assert!(waited < Duration::from_secs(10), "took {waited:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn records_kafka_refuses_for_good_get_50002_and_the_rest_still_land() {
    let stack = require_stack!();
    let topic = common::rand_topic("toolarge");
    common::create_topic_with(&stack, &topic, 1, &[("max.message.bytes", "200")]).await;
    let proxy = TestProxy::start(&stack).await;
    let large = "x".repeat(2000);
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}/partitions/0")),
        JSON,
        json!({ "records": [{ "value": large }] }).to_string(),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["error_code"], 50002, "{body}");
    assert_eq!(body["offsets"][0]["offset"], Value::Null, "{body}");
    let (status, _, body) = common::post_json(
        &proxy.url(&format!("/topics/{topic}/partitions/0")),
        JSON,
        r#"{"records":[{"value":"small"}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["error_code"], Value::Null, "{body}");
    let got = common::read_all(&stack, &topic, 1, Duration::from_secs(10));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].payload(), Some(&br#""small""#[..]));
    proxy.stop().await;
}
