//! Stateless reads (`GET /topics/{topic}/partitions/{partition}/records?offset=N`), an
//! extension beyond Confluent: exact records and offsets against what a native producer wrote,
//! the count and byte limits, the wait for an empty tail, the error bodies, and two proxies
//! answering the same read (nothing is kept between calls).

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, Stack, TestProxy};
use crate::require_stack;

const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";

/// Deadline for anything that waits on Kafka.
const PATIENCE: Duration = Duration::from_secs(30);

fn records_path(topic: &str, partition: i32, query: &str) -> String {
    format!("/topics/{topic}/partitions/{partition}/records?{query}")
}

async fn read(proxy: &TestProxy, path: &str, accept: &str) -> (u16, Value) {
    common::call("GET", &proxy.url(path), Some(accept), None).await
}

/// A topic of one partition holding `count` records `record-0`, `record-1`, ... written by a
/// native producer.
async fn filled_topic(stack: &Stack, prefix: &str, count: usize) -> String {
    let topic = common::rand_topic(prefix);
    common::create_topic(stack, &topic, 1).await;
    common::produce_native(stack, &topic, 0, count).await;
    topic
}

/// The offset and base64-decoded value of every record of an answer.
fn offsets_and_values(body: &Value) -> Vec<(i64, String)> {
    use base64::Engine;
    body.as_array()
        .unwrap_or_else(|| panic!("an array of records: {body}"))
        .iter()
        .map(|r| {
            let value = r["value"].as_str().expect("a binary value");
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(value)
                .expect("base64");
            (
                r["offset"].as_i64().expect("offset"),
                String::from_utf8(bytes).expect("utf-8"),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_stateless_read_returns_exactly_the_records_written_from_the_offset() {
    let stack = require_stack!();
    let topic = filled_topic(&stack, "stateless-exact", 10).await;
    let proxy = TestProxy::start(&stack).await;

    // Page through the partition from offset 3 as a client would: each answer starts at the
    // offset asked for, and the next call asks for the offset after the last record.
    let mut got = Vec::new();
    let mut next = 3;
    let deadline = Instant::now() + PATIENCE;
    while next < 10 {
        assert!(
            Instant::now() < deadline,
            "only {got:?} read by the deadline"
        );
        let (status, body) = read(
            &proxy,
            &records_path(&topic, 0, &format!("offset={next}&timeout=5000")),
            BINARY,
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let page = offsets_and_values(&body);
        assert_eq!(page.first().map(|(o, _)| *o), Some(next), "{body}");
        for record in body.as_array().expect("records") {
            assert_eq!(record["topic"], json!(topic));
            assert_eq!(record["partition"], json!(0));
            assert_eq!(record["key"], Value::Null);
        }
        next = page.last().map(|(o, _)| o + 1).unwrap_or(next);
        got.extend(page);
    }
    let expected: Vec<(i64, String)> = (3..10).map(|i| (i, format!("record-{i}"))).collect();
    assert_eq!(got, expected);
    proxy.stop().await;
}

#[tokio::test]
async fn a_stateless_read_honours_count_and_max_bytes() {
    let stack = require_stack!();
    let topic = filled_topic(&stack, "stateless-limits", 10).await;
    let proxy = TestProxy::start(&stack).await;

    let (status, body) = read(
        &proxy,
        &records_path(&topic, 0, "offset=0&count=2&timeout=5000"),
        BINARY,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        offsets_and_values(&body),
        vec![(0, "record-0".to_string()), (1, "record-1".to_string())]
    );

    // Each value is 8 bytes: a first record larger than max_bytes comes alone, and a limit of
    // 20 bytes never holds a third record.
    let (status, body) = read(
        &proxy,
        &records_path(&topic, 0, "offset=4&max_bytes=1&timeout=5000"),
        BINARY,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(offsets_and_values(&body), vec![(4, "record-4".to_string())]);

    let (status, body) = read(
        &proxy,
        &records_path(&topic, 0, "offset=5&max_bytes=20&timeout=5000"),
        BINARY,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let page = offsets_and_values(&body);
    assert!(
        !page.is_empty() && page.len() <= 2,
        "one or two records of 8 bytes within 20: {body}"
    );
    assert_eq!(page[0], (5, "record-5".to_string()));
    proxy.stop().await;
}

#[tokio::test]
async fn a_stateless_read_at_the_end_answers_empty_at_the_timeout_and_then_the_next_record() {
    let stack = require_stack!();
    let topic = filled_topic(&stack, "stateless-tail", 2).await;
    let proxy = TestProxy::start(&stack).await;

    let started = Instant::now();
    let (status, body) = read(
        &proxy,
        &records_path(&topic, 0, "offset=2&timeout=300"),
        BINARY,
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "answered before the timeout: {:?}",
        started.elapsed()
    );

    // A read waiting at the end answers with a record written while it waits.
    let path = records_path(&topic, 0, "offset=2&timeout=20000");
    let url = proxy.url(&path);
    let waiting = tokio::spawn(async move { common::call("GET", &url, Some(BINARY), None).await });
    common::produce_native(&stack, &topic, 0, 1).await;
    let (status, body) = waiting.await.expect("read task");
    assert_eq!(status, 200, "{body}");
    assert_eq!(offsets_and_values(&body), vec![(2, "record-0".to_string())]);
    proxy.stop().await;
}

#[tokio::test]
async fn a_stateless_read_renders_json_records() {
    let stack = require_stack!();
    let topic = common::rand_topic("stateless-json");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let (status, _, answer) = common::post_json(
        &proxy.url(&format!("/topics/{topic}")),
        JSON,
        r#"{"records":[{"key":"k","value":{"n":1}}]}"#,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let (status, mut body) = read(
        &proxy,
        &records_path(&topic, 0, "offset=0&timeout=5000"),
        JSON,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body[0]
        .as_object_mut()
        .expect("a record")
        .remove("timestamp");
    assert_eq!(
        body,
        json!([{"topic": topic, "key": "k", "value": {"n": 1}, "partition": 0, "offset": 0,
                "headers": []}])
    );
    proxy.stop().await;
}

#[tokio::test]
async fn stateless_read_errors_have_exact_bodies() {
    let stack = require_stack!();
    let topic = filled_topic(&stack, "stateless-errors", 3).await;
    let proxy = TestProxy::start(&stack).await;
    let out_of_range = |offset: i64| {
        json!({
            "error_code": 40402,
            "message": format!(
                "Offset {offset} is out of range for partition 0 of topic {topic:?}: valid \
                 offsets are 0 to 3 (3 waits for the next record)."
            ),
        })
    };
    let rows = [
        (records_path(&topic, 0, "offset=4"), 404, out_of_range(4)),
        (records_path(&topic, 0, "offset=-1"), 404, out_of_range(-1)),
        (
            records_path("it-no-such-topic-stateless", 0, "offset=0"),
            404,
            json!({"error_code": 40401, "message": "Topic not found."}),
        ),
        (
            records_path(&topic, 7, "offset=0"),
            404,
            json!({"error_code": 40402, "message": "Partition not found."}),
        ),
        (
            format!("/topics/{topic}/partitions/x/records?offset=0"),
            404,
            json!({"error_code": 40402, "message": "Partition not found."}),
        ),
        (
            records_path(&topic, 0, "offset=first"),
            400,
            json!({"error_code": 400,
                   "message": "Invalid query parameter offset: \"first\" is not an integer"}),
        ),
        (
            records_path(&topic, 0, "offset=0&count=many"),
            400,
            json!({"error_code": 400,
                   "message": "Invalid query parameter count: \"many\" is not an integer"}),
        ),
    ];
    for (path, status, expected) in rows {
        let (got_status, body) = read(&proxy, &path, BINARY).await;
        assert_eq!((got_status, body), (status, expected), "{path}");
    }
    let (status, body) = read(&proxy, &records_path(&topic, 0, ""), BINARY).await;
    assert_eq!(status, 400, "a missing offset: {body}");
    assert_eq!(body["error_code"], json!(400), "{body}");
    let (status, body) = read(&proxy, &records_path(&topic, 0, "offset=0"), "text/html").await;
    assert_eq!(
        (status, body),
        (
            406,
            json!({"error_code": 406, "message": "HTTP 406 Not Acceptable"})
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn two_proxies_answer_the_same_stateless_read() {
    let stack = require_stack!();
    let topic = filled_topic(&stack, "stateless-two", 5).await;
    let first = TestProxy::start(&stack).await;
    let second = TestProxy::start(&stack).await;
    let path = records_path(&topic, 0, "offset=1&count=3&timeout=5000");
    let (status_a, body_a) = read(&first, &path, BINARY).await;
    let (status_b, body_b) = read(&second, &path, BINARY).await;
    assert_eq!(status_a, 200, "{body_a}");
    assert_eq!((status_b, &body_b), (200, &body_a));
    assert_eq!(
        offsets_and_values(&body_a),
        (1..4)
            .map(|i| (i, format!("record-{i}")))
            .collect::<Vec<_>>()
    );
    first.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn stateless_reads_beyond_the_pool_wait_and_then_answer_503() {
    let stack = require_stack!();
    let topic = filled_topic(&stack, "stateless-pool", 1).await;
    let mut props = common::proxy_properties(&stack);
    props
        .set("fetch.pool.size", "1")
        .set("fetch.pool.wait.ms", "100");
    let proxy = TestProxy::start_with(props).await;
    // The one client waits at the end of the partition for 5 s.
    let url = proxy.url(&records_path(&topic, 0, "offset=1&timeout=5000"));
    let holding = tokio::spawn(async move { common::call("GET", &url, Some(BINARY), None).await });
    let deadline = Instant::now() + PATIENCE;
    let busy = loop {
        assert!(Instant::now() < deadline, "the pool never filled");
        let (status, body) = read(&proxy, &records_path(&topic, 0, "offset=0"), BINARY).await;
        if status == 503 {
            break body;
        }
        assert_eq!(status, 200, "{body}");
    };
    assert_eq!(
        busy,
        json!({"error_code": 503,
               "message": "Too many stateless reads at once: all 1 read clients stayed busy, retry later."})
    );
    let (status, body) = holding.await.expect("holding read");
    assert_eq!((status, body), (200, json!([])));
    // The client is back in the pool: the next read gets it.
    let (status, body) = read(
        &proxy,
        &records_path(&topic, 0, "offset=0&timeout=5000"),
        BINARY,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(offsets_and_values(&body), vec![(0, "record-0".to_string())]);
    proxy.stop().await;
}
