//! The v2 consumer API against the real Kafka: instances, subscriptions, assignments, commits,
//! seeks and records, each test with its own topics and groups, checked against what Kafka
//! holds (records produced and offsets read back with native rdkafka clients).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use crate::common::{self, committed, Stack, TestProxy};
use crate::require_stack;

const V2: &str = "application/vnd.kafka.v2+json";
const BINARY: &str = "application/vnd.kafka.binary.v2+json";
const JSON: &str = "application/vnd.kafka.json.v2+json";
const AVRO: &str = "application/vnd.kafka.avro.v2+json";

/// Deadline for anything that waits on Kafka (group joins, fetches).
const PATIENCE: Duration = Duration::from_secs(30);

/// One HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

/// A thin HTTP client for the proxy under test.
struct Rest {
    client: reqwest::Client,
    base: String,
}

impl Rest {
    fn new(proxy: &TestProxy) -> Rest {
        Rest {
            client: reqwest::Client::new(),
            base: proxy.base.clone(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        accept: Option<&str>,
        content_type: Option<&str>,
        body: Option<&str>,
    ) -> Answer {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            format!("{}{path}", self.base)
        };
        let mut req = self.client.request(method, url);
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        if let Some(b) = body {
            req = req.body(b.to_string());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Answer {
            status,
            content_type,
            body,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Answer {
        self.call("POST", path, None, Some(V2), Some(&body.to_string()))
            .await
    }

    async fn get(&self, path: &str) -> Answer {
        self.call("GET", path, None, None, None).await
    }

    /// Creates an instance and returns its path (`/consumers/g/instances/name`).
    async fn create(&self, group: &str, body: Value) -> String {
        let a = self.post(&format!("/consumers/{group}"), body).await;
        assert_eq!(a.status, 200, "create in {group}: {a:?}");
        assert_eq!(a.content_type, V2);
        let name = a.body["instance_id"].as_str().expect("instance_id");
        format!("/consumers/{group}/instances/{name}")
    }

    async fn expect_204(&self, path: &str, body: Value) {
        let a = self.post(path, body).await;
        assert_eq!(a.status, 204, "POST {path}: {a:?}");
    }

    async fn records(&self, instance: &str, accept: Option<&str>, query: &str) -> Answer {
        self.call(
            "GET",
            &format!("{instance}/records{query}"),
            accept,
            None,
            None,
        )
        .await
    }

    /// Reads until `count` records arrived (fails after [`PATIENCE`]).
    async fn read_until(&self, instance: &str, accept: Option<&str>, count: usize) -> Vec<Value> {
        let deadline = Instant::now() + PATIENCE;
        let mut out = Vec::new();
        while out.len() < count {
            assert!(
                Instant::now() < deadline,
                "only {} of {count} records after {PATIENCE:?}: {out:?}",
                out.len()
            );
            let a = self.records(instance, accept, "?timeout=500").await;
            assert_eq!(a.status, 200, "records: {a:?}");
            out.extend(a.body.as_array().expect("array").iter().cloned());
        }
        out
    }
}

/// A record to produce natively.
#[derive(Default, Clone)]
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(&'static str, Option<Vec<u8>>)>,
    timestamp: Option<i64>,
}

fn value(v: impl Into<Vec<u8>>) -> Rec {
    Rec {
        value: Some(v.into()),
        ..Rec::default()
    }
}

/// Produces records to one partition with a native producer; returns their offsets.
async fn produce(stack: &Stack, topic: &str, partition: i32, recs: &[Rec]) -> Vec<i64> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .create()
        .expect("producer");
    let mut offsets = Vec::new();
    for r in recs {
        let mut record = FutureRecord::<Vec<u8>, Vec<u8>>::to(topic).partition(partition);
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        if let Some(v) = &r.value {
            record = record.payload(v);
        }
        if let Some(ts) = r.timestamp {
            record = record.timestamp(ts);
        }
        if !r.headers.is_empty() {
            let mut headers = OwnedHeaders::new();
            for (name, value) in &r.headers {
                headers = headers.insert(Header {
                    key: name,
                    value: value.as_deref(),
                });
            }
            record = record.headers(headers);
        }
        let delivery = producer
            .send(record, Duration::from_secs(10))
            .await
            .expect("delivered");
        offsets.push(delivery.offset);
    }
    offsets
}

/// How many members the group has, as the broker sees it.
fn group_members(stack: &Stack, group: &str) -> usize {
    let admin = common::admin(stack);
    let list = admin
        .inner()
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .expect("group list");
    list.groups().iter().map(|g| g.members().len()).sum()
}

/// Polls `f` until it holds (fails after [`PATIENCE`]).
async fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn offsets_of(records: &[Value]) -> Vec<(i64, i64)> {
    records
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().expect("partition"),
                r["offset"].as_i64().expect("offset"),
            )
        })
        .collect()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn binary_quickstart_flow_reads_what_kafka_holds_and_commits_it() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-binary");
    let group = common::rand_group("c-binary");
    common::create_topic(&stack, &topic, 1).await;
    let produced = produce(
        &stack,
        &topic,
        0,
        &[
            Rec {
                key: Some(b"k1".to_vec()),
                value: Some(b"Kafka".to_vec()),
                headers: vec![("trace", Some(b"t-1".to_vec())), ("flag", None)],
                timestamp: Some(1_700_000_000_000),
            },
            Rec::default(),
            value(vec![0u8, 255, 1]),
        ],
    )
    .await;
    assert_eq!(produced, vec![0, 1, 2]);
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);

    // The Confluent quickstart, verbatim in shape.
    let created = rest
        .post(
            &format!("/consumers/{group}"),
            json!({"name": "my_consumer_instance", "format": "binary", "auto.offset.reset": "earliest"}),
        )
        .await;
    assert_eq!(created.status, 200, "{created:?}");
    let base_uri = created.body["base_uri"].as_str().expect("base_uri");
    assert_eq!(
        base_uri,
        format!(
            "{}/consumers/{group}/instances/my_consumer_instance",
            proxy.base
        )
    );
    assert_eq!(created.body["instance_id"], "my_consumer_instance");
    // Clients use base_uri verbatim.
    rest.expect_204(
        &format!("{base_uri}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let subscription = rest.get(&format!("{base_uri}/subscription")).await;
    assert_eq!(subscription.body, json!({"topics": [topic]}));

    let records = rest.read_until(base_uri, Some(BINARY), 3).await;
    assert_eq!(
        records,
        vec![
            json!({"topic": topic, "key": b64("k1"), "value": b64("Kafka"), "partition": 0, "offset": 0,
                   "headers": [{"name": "trace", "value": b64("t-1")}, {"name": "flag", "value": null}],
                   "timestamp": 1_700_000_000_000_i64}),
            json!({"topic": topic, "key": null, "value": null, "partition": 0, "offset": 1,
                   "headers": [], "timestamp": records[1]["timestamp"]}),
            json!({"topic": topic, "key": null, "value": "AP8B", "partition": 0, "offset": 2,
                   "headers": [], "timestamp": records[2]["timestamp"]}),
        ]
    );
    assert!(records[1]["timestamp"].as_i64().is_some());

    // The response type is the negotiated one.
    let empty = rest.records(base_uri, Some(BINARY), "?timeout=100").await;
    assert_eq!(
        (empty.status, empty.content_type.as_str(), &empty.body),
        (200, BINARY, &json!([]))
    );

    let assignments = rest.get(&format!("{base_uri}/assignments")).await;
    assert_eq!(
        assignments.body,
        json!({"partitions": [{"topic": topic, "partition": 0}]})
    );

    // Commit everything returned so far; Kafka holds the next offset to read.
    let commit = rest
        .call("POST", &format!("{base_uri}/offsets"), None, Some(V2), None)
        .await;
    assert_eq!(
        (commit.status, &commit.body),
        (200, &json!([])),
        "{commit:?}"
    );
    assert_eq!(committed(&stack, &group, &topic, 0), Some(3));

    let deleted = rest.call("DELETE", base_uri, None, Some(V2), None).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    let gone = rest.records(base_uri, Some(BINARY), "").await;
    assert_eq!(
        (gone.status, gone.body["error_code"].as_i64()),
        (404, Some(40403))
    );
    proxy.stop().await;
}

#[tokio::test]
async fn json_quickstart_flow_embeds_the_stored_json() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-json");
    let group = common::rand_group("c-json");
    common::create_topic(&stack, &topic, 1).await;
    produce(
        &stack,
        &topic,
        0,
        &[
            Rec {
                key: Some(br#"{"id":1}"#.to_vec()),
                value: Some(br#"{"foo":"bar","n":[1,2]}"#.to_vec()),
                ..Rec::default()
            },
            value(br#""text""#.to_vec()),
            Rec::default(),
        ],
    )
    .await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &group,
            json!({"name": "my_json_instance", "format": "json", "auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let records = rest.read_until(&instance, Some(JSON), 3).await;
    let kv: Vec<(Value, Value)> = records
        .iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(
        kv,
        vec![
            (json!({"id": 1}), json!({"foo": "bar", "n": [1, 2]})),
            (Value::Null, json!("text")),
            (Value::Null, Value::Null),
        ]
    );
    let again = rest.records(&instance, Some(JSON), "?timeout=100").await;
    assert_eq!(again.content_type, JSON);
    let deleted = rest.call("DELETE", &instance, None, None, None).await;
    assert_eq!(deleted.status, 204);
    proxy.stop().await;
}

#[tokio::test]
async fn subscribing_by_pattern_reads_every_matching_topic_and_only_those() {
    let stack = require_stack!();
    let prefix = common::rand_topic("c-pattern").replace('-', "_");
    let (a, b, other) = (
        format!("{prefix}_a"),
        format!("{prefix}_b"),
        format!("{prefix}x_c"),
    );
    for t in [&a, &b, &other] {
        common::create_topic(&stack, t, 1).await;
        produce(&stack, t, 0, &[value(t.as_bytes().to_vec())]).await;
    }
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-pattern"),
            json!({"auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topic_pattern": format!("{prefix}_.*")}),
    )
    .await;
    let subscription = rest.get(&format!("{instance}/subscription")).await;
    assert_eq!(subscription.body, json!({"topics": [a, b]}));

    let records = rest.read_until(&instance, None, 2).await;
    let topics: BTreeSet<&str> = records
        .iter()
        .map(|r| r["topic"].as_str().expect("topic"))
        .collect();
    assert_eq!(topics, BTreeSet::from([a.as_str(), b.as_str()]));
    let more = rest.records(&instance, None, "?timeout=500").await;
    assert_eq!(more.body, json!([]), "nothing from {other}");

    let unsubscribed = rest
        .call(
            "DELETE",
            &format!("{instance}/subscription"),
            None,
            None,
            None,
        )
        .await;
    assert_eq!(unsubscribed.status, 204);
    let subscription = rest.get(&format!("{instance}/subscription")).await;
    assert_eq!(subscription.body, json!({"topics": []}));
    proxy.stop().await;
}

#[tokio::test]
async fn assign_reads_only_the_assigned_partitions() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-assign");
    common::create_topic(&stack, &topic, 2).await;
    produce(&stack, &topic, 0, &[value("p0-a"), value("p0-b")]).await;
    produce(
        &stack,
        &topic,
        1,
        &[value("p1-a"), value("p1-b"), value("p1-c")],
    )
    .await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-assign"),
            json!({"auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 1}]}),
    )
    .await;
    let assignments = rest.get(&format!("{instance}/assignments")).await;
    assert_eq!(
        assignments.body,
        json!({"partitions": [{"topic": topic, "partition": 1}]})
    );
    let records = rest.read_until(&instance, None, 3).await;
    assert_eq!(offsets_of(&records), vec![(1, 0), (1, 1), (1, 2)]);
    let more = rest.records(&instance, None, "?timeout=300").await;
    assert_eq!(more.body, json!([]));
    proxy.stop().await;
}

#[tokio::test]
async fn commit_with_a_body_commits_offset_plus_one_and_reads_back() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-commit");
    let group = common::rand_group("c-commit");
    common::create_topic(&stack, &topic, 2).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest.create(&group, json!({})).await;
    let a = rest
        .post(
            &format!("{instance}/offsets"),
            json!({"offsets": [
                {"topic": topic, "partition": 0, "offset": 4, "metadata": "checkpoint"},
                {"topic": topic, "partition": 1, "offset": "9"},
            ]}),
        )
        .await;
    assert_eq!((a.status, &a.body), (200, &json!([])), "{a:?}");
    assert_eq!(committed(&stack, &group, &topic, 0), Some(5));
    assert_eq!(committed(&stack, &group, &topic, 1), Some(10));

    // GET offsets with a JSON body; a partition without a commit is left out.
    let other = common::rand_topic("c-commit-none");
    let read = rest
        .call(
            "GET",
            &format!("{instance}/offsets"),
            None,
            Some(V2),
            Some(
                &json!({"partitions": [
                    {"topic": topic, "partition": 0},
                    {"topic": topic, "partition": 1},
                    {"topic": other, "partition": 0},
                ]})
                .to_string(),
            ),
        )
        .await;
    assert_eq!(read.status, 200, "{read:?}");
    assert_eq!(
        read.body,
        json!({"offsets": [
            {"topic": topic, "partition": 0, "offset": 5, "metadata": "checkpoint"},
            {"topic": topic, "partition": 1, "offset": 10, "metadata": ""},
        ]})
    );
    proxy.stop().await;
}

#[tokio::test]
async fn commits_cover_only_records_returned_to_the_client() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-returned");
    common::create_topic(&stack, &topic, 1).await;
    // Ten records of 8 bytes each ("record-0" ..).
    common::produce_native(&stack, &topic, 0, 10).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);

    // Empty-body commit after a partial read: librdkafka has prefetched all ten, but only the
    // three returned ones are committed.
    let manual = common::rand_group("c-returned-manual");
    let instance = rest
        .create(
            &manual,
            json!({"auto.offset.reset": "earliest", "auto.commit.enable": "false"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    let mut returned = Vec::new();
    while returned.len() < 3 {
        assert!(Instant::now() < deadline, "no records");
        let a = rest
            .records(&instance, None, "?max_bytes=24&timeout=500")
            .await;
        assert_eq!(a.status, 200);
        let batch = a.body.as_array().expect("array").clone();
        assert!(batch.len() <= 3, "24 bytes hold three records: {batch:?}");
        returned.extend(batch);
    }
    let n = returned.len() as i64;
    assert!(n < 10);
    assert_eq!(
        offsets_of(&returned),
        (0..n).map(|o| (0, o)).collect::<Vec<_>>()
    );
    let commit = rest
        .call("POST", &format!("{instance}/offsets"), None, None, None)
        .await;
    assert_eq!(commit.status, 200, "{commit:?}");
    assert_eq!(committed(&stack, &manual, &topic, 0), Some(n));
    rest.call("DELETE", &instance, None, None, None).await;
    // Auto-commit off: the delete committed nothing more.
    assert_eq!(committed(&stack, &manual, &topic, 0), Some(n));

    // Auto-commit on: deleting the instance commits what was returned, not what was fetched.
    let auto = common::rand_group("c-returned-auto");
    let instance = rest
        .create(
            &auto,
            json!({"auto.offset.reset": "earliest", "auto.commit.enable": true}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    let mut returned = Vec::new();
    while returned.len() < 4 {
        assert!(Instant::now() < deadline, "no records");
        let a = rest
            .records(&instance, None, "?max_bytes=16&timeout=500")
            .await;
        returned.extend(a.body.as_array().expect("array").iter().cloned());
    }
    let n = returned.len() as i64;
    assert!(n < 10);
    assert_eq!(
        offsets_of(&returned),
        (0..n).map(|o| (0, o)).collect::<Vec<_>>()
    );
    let deleted = rest.call("DELETE", &instance, None, None, None).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(committed(&stack, &auto, &topic, 0), Some(n));
    proxy.stop().await;
}

#[tokio::test]
async fn seek_moves_to_offsets_timestamps_beginning_and_end() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-seek");
    // Records six years old are past the default retention (7 days): the broker's retention
    // check (every 5 minutes) deletes a segment whose newest record is that old, the active
    // one included, so without `retention.ms=-1` the records vanish whenever that check falls
    // inside this test.
    common::create_topic_with(&stack, &topic, 1, &[("retention.ms", "-1")]).await;
    let t0 = 1_600_000_000_000_i64;
    let recs: Vec<Rec> = (0..5)
        .map(|i| Rec {
            value: Some(format!("v{i}").into_bytes()),
            timestamp: Some(t0 + i * 60_000),
            ..Rec::default()
        })
        .collect();
    produce(&stack, &topic, 0, &recs).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-seek"),
            json!({"auto.offset.reset": "earliest"}),
        )
        .await;
    let partitions = json!({"partitions": [{"topic": topic, "partition": 0}]});
    rest.expect_204(&format!("{instance}/assignments"), partitions.clone())
        .await;

    // Seek right after assign, before any read.
    rest.expect_204(
        &format!("{instance}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 3}]}),
    )
    .await;
    let records = rest.read_until(&instance, None, 2).await;
    assert_eq!(offsets_of(&records), vec![(0, 3), (0, 4)]);

    rest.expect_204(
        &format!("{instance}/positions/beginning"),
        partitions.clone(),
    )
    .await;
    let records = rest.read_until(&instance, None, 5).await;
    assert_eq!(offsets_of(&records)[0], (0, 0));

    // 2020-09-13T12:28:00Z is 80 s after t0: the first record at or after it is offset 2.
    rest.expect_204(
        &format!("{instance}/positions"),
        json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "2020-09-13T12:28:00Z"}]}),
    )
    .await;
    let records = rest.read_until(&instance, None, 3).await;
    assert_eq!(offsets_of(&records), vec![(0, 2), (0, 3), (0, 4)]);
    assert_eq!(records[0]["timestamp"], t0 + 120_000);

    // A seek drops what the proxy held: with 2-byte records, max_bytes=3 returns one record and
    // keeps the next in the instance; seeking to the end must not return it.
    rest.expect_204(
        &format!("{instance}/positions/beginning"),
        partitions.clone(),
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let a = rest.records(&instance, None, "?max_bytes=3").await;
        if let Some(first) = a.body.as_array().and_then(|r| r.first()) {
            assert_eq!(first["offset"], 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no records after seek to beginning"
        );
    }
    rest.expect_204(&format!("{instance}/positions/end"), partitions.clone())
        .await;
    let nothing = rest.records(&instance, None, "?timeout=500").await;
    assert_eq!(nothing.body, json!([]));
    produce(&stack, &topic, 0, &[value("after-end")]).await;
    let records = rest.read_until(&instance, None, 1).await;
    assert_eq!(offsets_of(&records), vec![(0, 5)]);
    proxy.stop().await;
}

#[tokio::test]
async fn max_bytes_bounds_responses_and_an_oversize_first_record_comes_alone() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-maxbytes");
    common::create_topic(&stack, &topic, 1).await;
    let mut recs = vec![value(vec![b'x'; 100])];
    recs.extend((0..9).map(|i| value(format!("small-{i}"))));
    produce(&stack, &topic, 0, &recs).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-maxbytes"),
            json!({"auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    let mut all = Vec::new();
    let mut responses = Vec::new();
    while all.len() < 10 {
        assert!(Instant::now() < deadline, "read {} of 10", all.len());
        let a = rest
            .records(&instance, None, "?max_bytes=20&timeout=500")
            .await;
        assert_eq!(a.status, 200);
        let batch = a.body.as_array().expect("array").clone();
        if batch.is_empty() {
            continue;
        }
        let bytes: usize = batch
            .iter()
            .map(|r| {
                use base64::Engine;
                let v = r["value"].as_str().expect("value");
                base64::engine::general_purpose::STANDARD
                    .decode(v)
                    .expect("base64")
                    .len()
            })
            .sum();
        responses.push((batch.len(), bytes));
        all.extend(batch);
    }
    // The 100-byte record came alone; later responses stay within 20 bytes (two 7-byte records).
    assert_eq!(responses[0], (1, 100), "{responses:?}");
    assert!(
        responses[1..].iter().all(|(n, b)| *b <= 20 && *n <= 2),
        "{responses:?}"
    );
    // Nothing lost, nothing twice, in offset order.
    assert_eq!(
        offsets_of(&all),
        (0..10).map(|o| (0, o)).collect::<Vec<_>>()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_records_call_answers_as_soon_as_data_arrives() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-early");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-early"),
            json!({"auto.offset.reset": "earliest", "consumer.request.timeout.ms": 20000}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let started = Instant::now();
    let (answer, ()) = tokio::join!(rest.records(&instance, None, "?timeout=20000"), async {
        produce(&stack, &topic, 0, &[value("now")]).await;
    });
    let elapsed = started.elapsed();
    assert_eq!(
        offsets_of(answer.body.as_array().expect("array")),
        vec![(0, 0)]
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "a 20 s records call took {elapsed:?} with data ready"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn fetch_min_bytes_waits_until_enough_bytes_or_the_timeout() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-minbytes");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-minbytes"),
            json!({"auto.offset.reset": "earliest", "fetch.min.bytes": 40, "consumer.request.timeout.ms": 6000}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    // 16 bytes waiting: not enough, so the call sits out its timeout.
    common::produce_native(&stack, &topic, 0, 2).await;
    let started = Instant::now();
    let first = rest.records(&instance, None, "").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(5500),
        "answered after {waited:?}"
    );
    let mut got = first.body.as_array().expect("array").clone();
    assert!(got.len() <= 2);

    // 40 more bytes: enough, so the call answers before its timeout.
    produce(
        &stack,
        &topic,
        0,
        &(2..7)
            .map(|i| value(format!("record-{i}")))
            .collect::<Vec<_>>(),
    )
    .await;
    let started = Instant::now();
    let second = rest.records(&instance, None, "").await;
    let answered = started.elapsed();
    assert!(
        answered < Duration::from_secs(4),
        "answered after {answered:?}"
    );
    got.extend(second.body.as_array().expect("array").iter().cloned());
    assert!(got.len() >= 5, "{got:?}");
    assert_eq!(
        offsets_of(&got),
        (0..got.len() as i64).map(|o| (0, o)).collect::<Vec<_>>()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn concurrent_records_calls_deliver_each_record_exactly_once() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-concurrent");
    common::create_topic(&stack, &topic, 2).await;
    common::produce_native(&stack, &topic, 0, 100).await;
    common::produce_native(&stack, &topic, 1, 100).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-concurrent"),
            json!({"auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}, {"topic": topic, "partition": 1}]}),
    )
    .await;
    let seen = std::sync::Mutex::new(Vec::new());
    let reader = || async {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if seen.lock().expect("lock").len() >= 200 {
                return;
            }
            assert!(Instant::now() < deadline, "records missing");
            let a = rest
                .records(&instance, None, "?max_bytes=60&timeout=300")
                .await;
            assert_eq!(a.status, 200, "{a:?}");
            let batch = offsets_of(a.body.as_array().expect("array"));
            // Within one response, each partition's offsets increase by one.
            for p in [0, 1] {
                let offs: Vec<i64> = batch.iter().filter(|b| b.0 == p).map(|b| b.1).collect();
                assert!(offs.windows(2).all(|w| w[1] == w[0] + 1), "{batch:?}");
            }
            seen.lock().expect("lock").extend(batch);
        }
    };
    tokio::join!(reader(), reader(), reader(), reader());
    let mut all = seen.into_inner().expect("lock");
    let count = all.len();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), count, "a record came twice");
    let expected: Vec<(i64, i64)> = [0, 1]
        .into_iter()
        .flat_map(|p| (0..100).map(move |o| (p, o)))
        .collect();
    assert_eq!(all, expected);
    proxy.stop().await;
}

#[tokio::test]
async fn a_json_instance_answers_408_on_bytes_that_are_not_json_until_a_seek_moves_past() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-badjson");
    common::create_topic(&stack, &topic, 1).await;
    produce(
        &stack,
        &topic,
        0,
        &[value("1"), value("not json"), value("3")],
    )
    .await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-badjson"),
            json!({"format": "json", "auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let good = rest.read_until(&instance, Some(JSON), 1).await;
    assert_eq!((good.len(), &good[0]["value"]), (1, &json!(1)));
    for _ in 0..2 {
        let started = Instant::now();
        let bad = rest.records(&instance, Some(JSON), "?timeout=5000").await;
        assert_eq!(
            (bad.status, bad.body["error_code"].as_i64()),
            (408, Some(40801)),
            "{bad:?}"
        );
        assert!(
            bad.body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("offset 1"),
            "{bad:?}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "408 came at once"
        );
    }
    rest.expect_204(
        &format!("{instance}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}),
    )
    .await;
    let after = rest.read_until(&instance, Some(JSON), 1).await;
    assert_eq!(offsets_of(&after), vec![(0, 2)]);
    assert_eq!(after[0]["value"], json!(3));
    proxy.stop().await;
}

/// One failure case: method, path, accept, content type, body, status, error_code.
type Case<'a> = (
    &'a str,
    String,
    Option<&'a str>,
    Option<&'a str>,
    Option<String>,
    u16,
    i64,
);

#[tokio::test]
async fn consumer_failures_answer_confluent_status_and_error_codes() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-errors");
    common::create_topic(&stack, &topic, 1).await;
    let group = common::rand_group("c-errors");
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let binary = rest.create(&group, json!({"name": "b"})).await;
    let json_inst = rest
        .create(&group, json!({"name": "j", "format": "JSON"}))
        .await;
    let avro = rest
        .create(&group, json!({"name": "a", "format": "avro"}))
        .await;
    let assigned = rest.create(&group, json!({"name": "as"})).await;
    rest.expect_204(
        &format!("{assigned}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    let nope = format!("/consumers/{group}/instances/nope");
    let create = format!("/consumers/{group}");
    let tp = json!({"partitions": [{"topic": topic, "partition": 0}]}).to_string();
    let subscribe = json!({"topics": [topic]}).to_string();
    let seek = json!({"offsets": [{"topic": topic, "partition": 0, "offset": 0}]}).to_string();

    let cases: Vec<Case> = vec![
        (
            "GET",
            format!("{nope}/records"),
            None,
            None,
            None,
            404,
            40403,
        ),
        ("DELETE", nope.clone(), None, None, None, 404, 40403),
        (
            "POST",
            format!("{nope}/subscription"),
            None,
            Some(V2),
            Some(subscribe.clone()),
            404,
            40403,
        ),
        (
            "GET",
            format!("{nope}/subscription"),
            None,
            None,
            None,
            404,
            40403,
        ),
        (
            "DELETE",
            format!("{nope}/subscription"),
            None,
            None,
            None,
            404,
            40403,
        ),
        (
            "POST",
            format!("{nope}/assignments"),
            None,
            Some(V2),
            Some(tp.clone()),
            404,
            40403,
        ),
        (
            "GET",
            format!("{nope}/assignments"),
            None,
            None,
            None,
            404,
            40403,
        ),
        (
            "POST",
            format!("{nope}/offsets"),
            None,
            None,
            None,
            404,
            40403,
        ),
        (
            "GET",
            format!("{nope}/offsets"),
            None,
            Some(V2),
            Some(tp.clone()),
            404,
            40403,
        ),
        (
            "POST",
            format!("{nope}/positions"),
            None,
            Some(V2),
            Some(seek.clone()),
            404,
            40403,
        ),
        (
            "POST",
            format!("{nope}/positions/beginning"),
            None,
            Some(V2),
            Some(tp.clone()),
            404,
            40403,
        ),
        (
            "POST",
            format!("{nope}/positions/end"),
            None,
            Some(V2),
            Some(tp.clone()),
            404,
            40403,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"name": "b"}).to_string()),
            409,
            40902,
        ),
        (
            "GET",
            format!("{binary}/records"),
            None,
            None,
            None,
            409,
            40903,
        ),
        (
            "POST",
            format!("{assigned}/subscription"),
            None,
            Some(V2),
            Some(subscribe.clone()),
            409,
            40903,
        ),
        (
            "POST",
            format!("{binary}/positions"),
            None,
            Some(V2),
            Some(seek.clone()),
            409,
            40903,
        ),
        (
            "POST",
            format!("{binary}/positions/end"),
            None,
            Some(V2),
            Some(tp.clone()),
            409,
            40903,
        ),
        (
            "GET",
            format!("{binary}/records"),
            Some(JSON),
            None,
            None,
            406,
            40601,
        ),
        (
            "GET",
            format!("{json_inst}/records"),
            None,
            None,
            None,
            406,
            40601,
        ),
        (
            "GET",
            format!("{json_inst}/records"),
            Some(V2),
            None,
            None,
            406,
            40601,
        ),
        (
            "GET",
            format!("{avro}/records"),
            Some(BINARY),
            None,
            None,
            406,
            40601,
        ),
        // Any schema type passes an avro instance's format check (`docs/decisions.md` §C3); this
        // instance has no subscription yet.
        (
            "GET",
            format!("{avro}/records"),
            Some(AVRO),
            None,
            None,
            409,
            40903,
        ),
        (
            "GET",
            format!("{avro}/records"),
            Some("application/vnd.kafka.protobuf.v2+json"),
            None,
            None,
            409,
            40903,
        ),
        (
            "GET",
            format!("{binary}/records"),
            Some("text/html"),
            None,
            None,
            406,
            406,
        ),
        (
            "GET",
            format!("{binary}/subscription"),
            Some("text/html"),
            None,
            None,
            406,
            406,
        ),
        (
            "POST",
            format!("{binary}/subscription"),
            None,
            Some("text/plain"),
            Some(subscribe.clone()),
            415,
            415,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"auto.offset.reset": "sometimes"}).to_string()),
            422,
            42204,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"auto.commit.enable": "maybe"}).to_string()),
            422,
            42204,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"consumer.request.timeout.ms": -5}).to_string()),
            422,
            42204,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"fetch.min.bytes": 10_000_001}).to_string()),
            422,
            40001,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"fetch.min.bytes": -2}).to_string()),
            422,
            40001,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"nmae": "x"}).to_string()),
            422,
            422,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some(json!({"format": "string"}).to_string()),
            422,
            422,
        ),
        (
            "POST",
            create.clone(),
            None,
            Some(V2),
            Some("{\"name\":".to_string()),
            400,
            400,
        ),
        (
            "POST",
            format!("{binary}/subscription"),
            None,
            Some(V2),
            None,
            422,
            422,
        ),
        (
            "POST",
            format!("{binary}/subscription"),
            None,
            Some(V2),
            Some("{}".to_string()),
            422,
            422,
        ),
        (
            "POST",
            format!("{binary}/subscription"),
            None,
            Some(V2),
            Some(json!({"topic_pattern": "("}).to_string()),
            422,
            422,
        ),
        (
            "POST",
            format!("{binary}/subscription"),
            None,
            Some(V2),
            Some(json!({"topic_pattern": "(?:x)"}).to_string()),
            422,
            422,
        ),
        (
            "POST",
            format!("{binary}/assignments"),
            None,
            Some(V2),
            Some(json!({"partitions": [{"topic": topic}]}).to_string()),
            422,
            422,
        ),
        (
            "POST",
            format!("{binary}/offsets"),
            None,
            Some(V2),
            Some(
                json!({"offsets": [{"topic": topic, "partition": 0, "offset": 1, "extra": 1}]})
                    .to_string(),
            ),
            422,
            422,
        ),
        (
            "POST",
            format!("{binary}/positions"),
            None,
            Some(V2),
            Some(
                json!({"timestamps": [{"topic": topic, "partition": 0, "timestamp": "yesterday"}]})
                    .to_string(),
            ),
            422,
            422,
        ),
        (
            "GET",
            format!("{binary}/offsets"),
            None,
            None,
            None,
            404,
            40402,
        ),
        (
            "GET",
            format!("{binary}/records?timeout=soon"),
            None,
            None,
            None,
            400,
            400,
        ),
    ];
    for (method, path, accept, ct, body, status, code) in cases {
        let a = rest.call(method, &path, accept, ct, body.as_deref()).await;
        assert_eq!(
            (a.status, a.body["error_code"].as_i64()),
            (status, Some(code)),
            "{method} {path} accept={accept:?} ct={ct:?} body={body:?}: {a:?}"
        );
        assert_eq!(a.content_type, V2, "{method} {path}");
        assert!(a.body["message"].is_string(), "{method} {path}: {a:?}");
    }
    let unknown = rest.post(&create, json!({"nmae": "x"})).await;
    assert_eq!(unknown.body["message"], "Unrecognized field: nmae");
    let format = rest.post(&create, json!({"format": "string"})).await;
    assert_eq!(format.body["message"], "Invalid format type.");
    let not_found = rest.get(&format!("{nope}/subscription")).await;
    assert_eq!(not_found.body["message"], "Consumer instance not found.");
    proxy.stop().await;
}

#[tokio::test]
async fn the_instance_cap_refuses_more_instances_with_429() {
    let stack = require_stack!();
    let mut props = common::proxy_properties(&stack);
    props.set("consumer.instances.max", "2");
    let proxy = TestProxy::start_with(props).await;
    let rest = Rest::new(&proxy);
    let group = common::rand_group("c-cap");
    let first = rest.create(&group, json!({})).await;
    rest.create(&group, json!({})).await;
    let third = rest.post(&format!("/consumers/{group}"), json!({})).await;
    assert_eq!(
        (third.status, third.body["error_code"].as_i64()),
        (429, Some(429)),
        "{third:?}"
    );
    // Room again after a delete.
    assert_eq!(
        rest.call("DELETE", &first, None, None, None).await.status,
        204
    );
    rest.create(&group, json!({})).await;
    proxy.stop().await;
}

#[tokio::test]
async fn generated_names_and_base_uris_follow_the_config() {
    let stack = require_stack!();
    let mut props = common::proxy_properties(&stack);
    props
        .set("id", "proxy-7")
        .set("advertised.listeners", "http://rest.example:8082");
    let proxy = TestProxy::start_with(props).await;
    let rest = Rest::new(&proxy);
    let group = common::rand_group("c-names");
    let a = rest.post(&format!("/consumers/{group}"), Value::Null).await;
    assert_eq!(a.status, 200, "{a:?}");
    let name = a.body["instance_id"].as_str().expect("instance_id");
    assert!(name.starts_with("rest-consumer-proxy-7-"), "{name}");
    assert_eq!(
        a.body["base_uri"],
        format!("http://rest.example:8082/consumers/{group}/instances/{name}")
    );
    // An empty body takes every default.
    let empty = rest
        .call("POST", &format!("/consumers/{group}"), None, None, None)
        .await;
    assert_eq!(empty.status, 200, "{empty:?}");
    proxy.stop().await;
}

#[tokio::test]
async fn deleting_an_instance_leaves_its_group() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-leave");
    let group = common::rand_group("c-leave");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest.create(&group, json!({})).await;
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    // Joining happens while records are read.
    let deadline = Instant::now() + PATIENCE;
    while group_members(&stack, &group) == 0 {
        assert!(Instant::now() < deadline, "the instance never joined");
        rest.records(&instance, None, "?timeout=200").await;
    }
    assert_eq!(
        rest.call("DELETE", &instance, None, None, None)
            .await
            .status,
        204
    );
    wait_for("the group to be empty", || {
        group_members(&stack, &group) == 0
    })
    .await;
    proxy.stop().await;
}

#[tokio::test]
async fn idle_instances_expire_and_leave_their_group() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-expire");
    let group = common::rand_group("c-expire");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("consumer.instance.timeout.ms", "3000");
    let proxy = TestProxy::start_with(props).await;
    let rest = Rest::new(&proxy);
    let instance = rest.create(&group, json!({})).await;
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let deadline = Instant::now() + PATIENCE;
    while group_members(&stack, &group) == 0 {
        assert!(Instant::now() < deadline, "the instance never joined");
        rest.records(&instance, None, "?timeout=200").await;
    }
    // Left alone, the instance expires: it leaves the group, then is unknown.
    wait_for("the expired instance to leave", || {
        group_members(&stack, &group) == 0
    })
    .await;
    let gone = rest.get(&format!("{instance}/subscription")).await;
    assert_eq!(
        (gone.status, gone.body["error_code"].as_i64()),
        (404, Some(40403))
    );
    proxy.stop().await;
}

/// `(partition, offset)` of every record in `records`, with its value checked against the
/// `p{partition}-{offset}` that [`produce_labelled`] wrote there.
fn labelled_offsets(records: &[Value]) -> Vec<(i64, i64)> {
    let out = offsets_of(records);
    for (r, (p, o)) in records.iter().zip(&out) {
        assert_eq!(r["value"], b64(&format!("p{p}-{o}")), "{r}");
    }
    out
}

/// Writes `per_partition` records `p{partition}-{offset}` to each of `partitions` partitions.
async fn produce_labelled(stack: &Stack, topic: &str, partitions: i32, per_partition: i64) {
    for p in 0..partitions {
        let recs: Vec<Rec> = (0..per_partition)
            .map(|o| value(format!("p{p}-{o}")))
            .collect();
        let offsets = produce(stack, topic, p, &recs).await;
        assert_eq!(offsets, (0..per_partition).collect::<Vec<_>>());
    }
}

/// The partitions of one instance's assignment.
async fn assigned(rest: &Rest, instance: &str) -> BTreeSet<i64> {
    let a = rest.get(&format!("{instance}/assignments")).await;
    assert_eq!(a.status, 200, "{a:?}");
    a.body["partitions"]
        .as_array()
        .expect("partitions")
        .iter()
        .map(|p| p["partition"].as_i64().expect("partition"))
        .collect()
}

/// Whether the assignments are non-empty, disjoint and together cover `0..partitions`.
fn split_settled(assignments: &[BTreeSet<i64>], partitions: i64) -> bool {
    let total: usize = assignments.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<i64> = assignments.iter().flatten().copied().collect();
    assignments.iter().all(|a| !a.is_empty())
        && total == union.len()
        && union == (0..partitions).collect()
}

#[tokio::test]
async fn two_instances_in_one_group_share_the_partitions_and_see_each_record_once() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-share");
    let group = common::rand_group("c-share");
    common::create_topic(&stack, &topic, 4).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let mut instances = Vec::new();
    for name in ["a", "b"] {
        let instance = rest
            .create(
                &group,
                json!({"name": name, "auto.offset.reset": "earliest"}),
            )
            .await;
        rest.expect_204(
            &format!("{instance}/subscription"),
            json!({"topics": [topic]}),
        )
        .await;
        instances.push(instance);
    }

    // Both join while the topic is empty, so the split is settled before anything is read.
    let deadline = Instant::now() + PATIENCE;
    let assignments = loop {
        let mut assignments = Vec::new();
        for instance in &instances {
            let a = rest.records(instance, None, "?timeout=200").await;
            assert_eq!((a.status, &a.body), (200, &json!([])), "{a:?}");
            assignments.push(assigned(&rest, instance).await);
        }
        if split_settled(&assignments, 4) {
            break assignments;
        }
        assert!(
            Instant::now() < deadline,
            "the group never split the partitions: {assignments:?}"
        );
    };

    produce_labelled(&stack, &topic, 4, 25).await;
    let mut seen: Vec<Vec<(i64, i64)>> = vec![Vec::new(); instances.len()];
    let deadline = Instant::now() + PATIENCE;
    while seen.iter().map(Vec::len).sum::<usize>() < 100 {
        assert!(
            Instant::now() < deadline,
            "only {:?} records after {PATIENCE:?}",
            seen.iter().map(Vec::len).collect::<Vec<_>>()
        );
        for (i, instance) in instances.iter().enumerate() {
            let a = rest.records(instance, None, "?timeout=200").await;
            assert_eq!(a.status, 200, "{a:?}");
            seen[i].extend(labelled_offsets(a.body.as_array().expect("array")));
        }
    }
    // Nothing more is waiting for either of them.
    for instance in &instances {
        let a = rest.records(instance, None, "?timeout=500").await;
        assert_eq!(a.body, json!([]), "a record came twice");
    }
    for (records, partitions) in seen.iter().zip(&assignments) {
        assert!(
            records.iter().all(|(p, _)| partitions.contains(p)),
            "an instance read a partition it was not assigned: {partitions:?} {records:?}"
        );
        assert_eq!(records.len(), partitions.len() * 25);
    }
    let mut all: Vec<(i64, i64)> = seen.concat();
    all.sort();
    let expected: Vec<(i64, i64)> = (0..4).flat_map(|p| (0..25).map(move |o| (p, o))).collect();
    assert_eq!(all, expected, "every record exactly once");
    proxy.stop().await;
}

#[tokio::test]
async fn a_second_instance_joining_takes_over_partitions_after_the_committed_offsets() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-rebalance");
    let group = common::rand_group("c-rebalance");
    common::create_topic(&stack, &topic, 4).await;
    // A hundred 5- or 6-byte records, 25 per partition.
    produce_labelled(&stack, &topic, 4, 25).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let first = rest
        .create(
            &group,
            json!({"name": "first", "auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(&format!("{first}/subscription"), json!({"topics": [topic]}))
        .await;

    // The first instance alone owns all four partitions; it returns part of the topic and
    // commits exactly that.
    let deadline = Instant::now() + PATIENCE;
    let mut before = Vec::new();
    while before.len() < 30 {
        assert!(Instant::now() < deadline, "read {} of 30", before.len());
        let a = rest
            .records(&first, None, "?max_bytes=30&timeout=500")
            .await;
        assert_eq!(a.status, 200, "{a:?}");
        before.extend(labelled_offsets(a.body.as_array().expect("array")));
    }
    assert!(before.len() < 50, "max_bytes kept most of the topic back");
    let commit = rest
        .call("POST", &format!("{first}/offsets"), None, Some(V2), None)
        .await;
    assert_eq!(commit.status, 200, "{commit:?}");
    let committed_at: Vec<i64> = (0..4)
        .map(|p| committed(&stack, &group, &topic, p).unwrap_or(0))
        .collect();
    for p in 0..4 {
        let next = before
            .iter()
            .filter(|(bp, _)| *bp == p)
            .map(|(_, o)| o + 1)
            .max()
            .unwrap_or(0);
        assert_eq!(committed_at[p as usize], next, "partition {p}");
    }

    // A second instance joins; both keep reading until the group has split the partitions and
    // every record was returned. Until the split, the first instance takes one record per
    // call (its calls let librdkafka run the rebalance), so most of the rest is handed over.
    let second = rest
        .create(
            &group,
            json!({"name": "second", "auto.offset.reset": "earliest"}),
        )
        .await;
    rest.expect_204(
        &format!("{second}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let instances = [&first, &second];
    let mut after: Vec<Vec<(i64, i64)>> = vec![Vec::new(); 2];
    let mut settled = false;
    let deadline = Instant::now() + PATIENCE;
    loop {
        let queries = [
            if settled {
                "?max_bytes=30&timeout=200"
            } else {
                "?max_bytes=1&timeout=200"
            },
            "?max_bytes=30&timeout=200",
        ];
        for (i, instance) in instances.iter().enumerate() {
            let a = rest.records(instance, None, queries[i]).await;
            assert_eq!(a.status, 200, "{a:?}");
            after[i].extend(labelled_offsets(a.body.as_array().expect("array")));
        }
        let returned = before.len() + after.iter().map(Vec::len).sum::<usize>();
        let mut assignments = Vec::new();
        for instance in instances {
            assignments.push(assigned(&rest, instance).await);
        }
        settled = split_settled(&assignments, 4);
        if returned >= 100 && settled {
            break;
        }
        if Instant::now() >= deadline {
            let all: BTreeSet<(i64, i64)> = before
                .iter()
                .chain(after.iter().flatten())
                .copied()
                .collect();
            let missing: Vec<(i64, i64)> = (0..4)
                .flat_map(|p| (0..25).map(move |o| (p, o)))
                .filter(|r| !all.contains(r))
                .collect();
            panic!("{returned} of 100 records, missing {missing:?}, assignments {assignments:?}");
        }
    }
    for instance in instances {
        let a = rest.records(instance, None, "?timeout=500").await;
        assert_eq!(a.body, json!([]), "a record came twice");
    }

    // No committed record came again, the second instance took partitions over, and together
    // the two returned every record exactly once.
    for &(p, o) in after.iter().flatten() {
        assert!(
            o >= committed_at[p as usize],
            "committed record {p}/{o} returned again"
        );
    }
    assert!(!after[1].is_empty(), "the second instance read nothing");
    let mut all: Vec<(i64, i64)> = before
        .iter()
        .chain(after.iter().flatten())
        .copied()
        .collect();
    all.sort();
    let expected: Vec<(i64, i64)> = (0..4).flat_map(|p| (0..25).map(move |o| (p, o))).collect();
    assert_eq!(all, expected, "every record exactly once");
    proxy.stop().await;
}

#[tokio::test]
async fn a_recreated_instance_resumes_at_the_committed_offset_and_seeks_exactly() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-resume");
    let group = common::rand_group("c-resume");
    common::create_topic(&stack, &topic, 1).await;
    // Ten 8-byte records.
    common::produce_native(&stack, &topic, 0, 10).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let settings =
        json!({"name": "resumer", "auto.offset.reset": "earliest", "auto.commit.enable": "false"});
    let instance = rest.create(&group, settings.clone()).await;
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let read_at_least = |n: usize, returned: Vec<Value>| {
        let rest = &rest;
        let instance = &instance;
        async move {
            let mut returned = returned;
            let deadline = Instant::now() + PATIENCE;
            while returned.len() < n {
                assert!(Instant::now() < deadline, "read {} of {n}", returned.len());
                let a = rest
                    .records(instance, None, "?max_bytes=16&timeout=500")
                    .await;
                assert_eq!(a.status, 200, "{a:?}");
                returned.extend(a.body.as_array().expect("array").iter().cloned());
            }
            returned
        }
    };
    let returned = read_at_least(3, Vec::new()).await;
    let n = returned.len() as i64;
    let commit = rest
        .call("POST", &format!("{instance}/offsets"), None, Some(V2), None)
        .await;
    assert_eq!(commit.status, 200, "{commit:?}");
    assert_eq!(committed(&stack, &group, &topic, 0), Some(n));
    // Two more records returned but never committed.
    let returned = read_at_least(returned.len() + 2, returned).await;
    let m = returned.len() as i64;
    assert!(m < 10, "max_bytes kept records back");
    assert_eq!(
        offsets_of(&returned),
        (0..m).map(|o| (0, o)).collect::<Vec<_>>()
    );
    let deleted = rest.call("DELETE", &instance, None, None, None).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_eq!(committed(&stack, &group, &topic, 0), Some(n));

    // The same name in the same group is free again, and reading resumes at the committed
    // offset: the returned but uncommitted records come again, the committed ones do not.
    let again = rest.create(&group, settings).await;
    assert_eq!(again, instance);
    rest.expect_204(
        &format!("{instance}/subscription"),
        json!({"topics": [topic]}),
    )
    .await;
    let rest_of_topic = rest.read_until(&instance, None, (10 - n) as usize).await;
    assert_eq!(
        offsets_of(&rest_of_topic),
        (n..10).map(|o| (0, o)).collect::<Vec<_>>()
    );
    assert_eq!(rest_of_topic[0]["value"], b64(&format!("record-{n}")));

    // A seek on the group-assigned partition: the next record is exactly the one asked for.
    rest.expect_204(
        &format!("{instance}/positions"),
        json!({"offsets": [{"topic": topic, "partition": 0, "offset": 2}]}),
    )
    .await;
    let from_two = rest.read_until(&instance, None, 8).await;
    assert_eq!(
        offsets_of(&from_two),
        (2..10).map(|o| (0, o)).collect::<Vec<_>>()
    );
    assert_eq!(from_two[0]["value"], b64("record-2"));
    proxy.stop().await;
}

#[tokio::test]
async fn a_records_call_with_records_waiting_answers_at_once() {
    let stack = require_stack!();
    let topic = common::rand_topic("c-waiting");
    common::create_topic(&stack, &topic, 1).await;
    common::produce_native(&stack, &topic, 0, 5).await;
    let proxy = TestProxy::start(&stack).await;
    let rest = Rest::new(&proxy);
    let instance = rest
        .create(
            &common::rand_group("c-waiting"),
            json!({"auto.offset.reset": "earliest", "consumer.request.timeout.ms": 20000}),
        )
        .await;
    rest.expect_204(
        &format!("{instance}/assignments"),
        json!({"partitions": [{"topic": topic, "partition": 0}]}),
    )
    .await;
    // The first record comes alone (it is larger than max_bytes); the rest are then fetched
    // and waiting.
    let first = rest.records(&instance, None, "?max_bytes=1").await;
    assert_eq!(
        offsets_of(first.body.as_array().expect("array")),
        vec![(0, 0)],
        "{first:?}"
    );
    let started = Instant::now();
    let waiting = rest.records(&instance, None, "?timeout=20000").await;
    let took = started.elapsed();
    let offsets = offsets_of(waiting.body.as_array().expect("array"));
    assert_eq!(offsets.first(), Some(&(0, 1)), "{waiting:?}");
    assert!(
        took < Duration::from_secs(2),
        "a 20 s records call with records waiting took {took:?}"
    );
    proxy.stop().await;
}
