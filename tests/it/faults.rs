//! Kafka faults on the three-broker stack (`cargo xtask test --brokers 3 faults::`, run by CI
//! one test at a time): a partition leader killed under load or under reading consumers, and
//! every broker down at once (frozen, and killed), also under an open v3 produce stream. Each
//! test leaves the cluster whole again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::{json, Value};

use crate::common::{self, call, TestProxy};
use crate::require_brokers;
use crate::v3_produce::DuplexClient;

/// What one producing client saw: values acknowledged with an offset, and failed records.
#[derive(Default)]
struct Seen {
    acked: Vec<(i32, i64, String)>,
    failed_records: usize,
    failed_requests: usize,
}

async fn produce_until(url: String, client_id: usize, stop: Arc<AtomicBool>) -> Seen {
    let client = reqwest::Client::new();
    let mut seen = Seen::default();
    let mut r = 0;
    while !stop.load(Ordering::Relaxed) {
        r += 1;
        let values: Vec<String> = (0..10).map(|i| format!("c{client_id}-r{r}-i{i}")).collect();
        let records: Vec<Value> = values.iter().map(|v| json!({ "value": v })).collect();
        let resp = client
            .post(&url)
            .header("content-type", "application/vnd.kafka.json.v2+json")
            .body(json!({ "records": records }).to_string())
            .send()
            .await;
        let body: Value = match resp {
            Ok(resp) if resp.status() == 200 => resp.json().await.unwrap_or(Value::Null),
            _ => {
                seen.failed_requests += 1;
                continue;
            }
        };
        for (entry, v) in body["offsets"]
            .as_array()
            .into_iter()
            .flatten()
            .zip(&values)
        {
            match (entry["partition"].as_i64(), entry["offset"].as_i64()) {
                (Some(p), Some(o)) => seen.acked.push((p as i32, o, format!("\"{v}\""))),
                _ => {
                    let code = entry["error_code"].as_u64().unwrap_or(0);
                    assert!(code == 50002 || code == 50003, "per-record error {entry}");
                    seen.failed_records += 1;
                }
            }
        }
    }
    seen
}

/// A proxy whose produce and metadata deadlines are short, so that a test with every broker
/// down sees them pass.
async fn proxy_with_short_deadlines(stack: &common::Stack) -> TestProxy {
    let mut props = common::proxy_properties(stack);
    props
        .set("produce.timeout.ms", "3000")
        .set("metadata.timeout.ms", "2000");
    TestProxy::start_with(props).await
}

/// The error code of a one-record produce answer: the record's own (200) or the request's.
fn produce_error_code(status: u16, body: &Value) -> Value {
    if status == 200 {
        body["offsets"][0]["error_code"].clone()
    } else {
        body["error_code"].clone()
    }
}

/// Waits until the cluster reports `brokers` brokers again (fails after `within`).
async fn wait_for_brokers(stack: &common::Stack, brokers: usize, within: Duration) {
    let deadline = Instant::now() + within;
    while common::admin(stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .map(|md| md.brokers().len())
        .unwrap_or(0)
        < brokers
    {
        assert!(
            Instant::now() < deadline,
            "the brokers did not come back within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_partition_leader_under_load_loses_and_duplicates_no_acknowledged_record() {
    let stack = require_brokers!(3);
    let topic = common::rand_topic("failover");
    common::create_replicated_topic(&stack, &topic, 1).await;
    let proxy = TestProxy::start(&stack).await;
    let url = proxy.url(&format!("/topics/{topic}"));

    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| tokio::spawn(produce_until(url.clone(), c, Arc::clone(&stop))))
        .collect();
    // Load is flowing; now kill the leader.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if common::high_watermark(&stack, &topic, 0).unwrap_or(0) > 500 {
            break;
        }
        assert!(Instant::now() < deadline, "no load reached Kafka");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let old_leader = common::partition_leader(&stack, &topic, 0);
    assert!(old_leader > 0);
    let killed = common::kill_broker(old_leader);

    // The leader moves; produce goes on through the new one.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let leader = common::partition_leader(&stack, &topic, 0);
        if leader > 0 && leader != old_leader {
            break;
        }
        assert!(Instant::now() < deadline, "no new leader within 60 s");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let before = loop {
        // The new leader answers "not caught up" for a moment after it took over.
        if let Some(high) = common::high_watermark(&stack, &topic, 0) {
            break high;
        }
        assert!(
            Instant::now() < deadline,
            "no high watermark from the new leader"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    loop {
        if common::high_watermark(&stack, &topic, 0).unwrap_or(0) > before + 300 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "produce did not resume after the leader moved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = Seen::default();
    for c in clients {
        let s = c.await.expect("client");
        seen.acked.extend(s.acked);
        seen.failed_records += s.failed_records;
        seen.failed_requests += s.failed_requests;
    }
    killed.restart();

    // Every acknowledged record is in Kafka exactly once, at its offset; no value twice.
    let got = common::read_all(&stack, &topic, usize::MAX, Duration::from_secs(8));
    let mut count: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for m in &got {
        *count
            .entry(m.payload().unwrap_or_default().to_vec())
            .or_default() += 1;
    }
    assert!(
        count.values().all(|&n| n == 1),
        "a record is in Kafka twice"
    );
    for (p, o, v) in &seen.acked {
        let m = got
            .iter()
            .find(|m| m.partition() == *p && m.offset() == *o)
            .unwrap_or_else(|| panic!("acknowledged record {p}/{o} is missing"));
        assert_eq!(m.payload(), Some(v.as_bytes()));
    }
    eprintln!(
        "failover: {} acknowledged, {} records failed with 5000x, {} requests failed",
        seen.acked.len(),
        seen.failed_records,
        seen.failed_requests
    );
    proxy.stop().await;

    // The cluster is whole again before the next test.
    wait_for_brokers(&stack, 3, Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_broker_down_requests_fail_fast_and_recover_without_a_restart() {
    let stack = require_brokers!(3);
    let topic = common::rand_topic("alldown");
    common::create_replicated_topic(&stack, &topic, 1).await;
    let proxy = proxy_with_short_deadlines(&stack).await;
    let url = proxy.url(&format!("/topics/{topic}"));
    let (status, _, body) = common::post_json(
        &url,
        "application/vnd.kafka.json.v2+json",
        r#"{"records":[{"value":"before"}]}"#,
    )
    .await;
    assert_eq!(
        (status, &body["offsets"][0]["error_code"]),
        (200, &Value::Null),
        "{body}"
    );

    common::freeze_brokers(3, true);
    let outcome = std::panic::AssertUnwindSafe(async {
        // Past the metadata cache, so the request has to reach a broker.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let started = Instant::now();
        let (status, _, body) = common::post_json(
            &url,
            "application/vnd.kafka.json.v2+json",
            r#"{"records":[{"value":"during"}]}"#,
        )
        .await;
        let took = started.elapsed();
        // Either the metadata refresh fails (500 / 50003) or the delivery does (200 with a
        // per-record 50003); never a hang, never a false acknowledgement.
        let code = produce_error_code(status, &body);
        assert!(code == 50003 || code == 50002, "{status} {body}");
        assert_eq!(body["offsets"][0]["offset"], Value::Null, "{body}");
        assert!(took < Duration::from_secs(10), "took {took:?}");
    });
    let result = futures::FutureExt::catch_unwind(outcome).await;
    common::freeze_brokers(3, false);
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }

    // The same proxy works again once the brokers are back.
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, _, body) = common::post_json(
            &url,
            "application/vnd.kafka.json.v2+json",
            r#"{"records":[{"value":"after"}]}"#,
        )
        .await;
        if status == 200 && body["offsets"][0]["error_code"] == Value::Null {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy did not recover: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let got = common::read_all(&stack, &topic, usize::MAX, Duration::from_secs(5));
    let values: Vec<&[u8]> = got
        .iter()
        .map(|m| m.payload().unwrap_or_default())
        .collect();
    assert!(values.contains(&&br#""before""#[..]));
    assert!(values.contains(&&br#""after""#[..]));
    proxy.stop().await;
}

/// Every broker killed (connections refused, not frozen): a records call that finds nothing
/// says so with 50003 within its wait instead of answering `[]` as if the topic were quiet;
/// produce fails per record; a commit and a delete answer within the control-call bound (30 s);
/// produce and records work again once the brokers are back, through the same proxy and the
/// same consumer instance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_broker_killed_produce_and_records_fail_within_their_deadlines_and_recover() {
    let stack = require_brokers!(3);
    let topic = common::rand_topic("allkilled");
    common::create_replicated_topic(&stack, &topic, 1).await;
    let proxy = proxy_with_short_deadlines(&stack).await;
    let url = proxy.url(&format!("/topics/{topic}"));
    let binary = "application/vnd.kafka.binary.v2+json";
    let produce = |value: &'static str| {
        let url = url.clone();
        async move {
            let started = Instant::now();
            let (status, _, body) = common::post_json(
                &url,
                binary,
                json!({"records": [{"value": value}]}).to_string(),
            )
            .await;
            (status, body, started.elapsed())
        }
    };
    let (status, body, _) = produce("YmVmb3Jl").await; // "before"
    assert_eq!(
        (status, &body["offsets"][0]["error_code"]),
        (200, &Value::Null),
        "{body}"
    );

    let group = common::rand_group("allkilled");
    let (status, created) = call(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        Some(json!({"format": "binary", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let instance = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, answer) = call(
        "POST",
        &format!("{instance}/assignments"),
        None,
        Some(json!({"partitions": [{"topic": topic, "partition": 0}]})),
    )
    .await;
    assert_eq!(status, 204, "{answer}");
    let before = read_records(&instance, 1, Duration::from_secs(30)).await;
    assert_eq!(
        offsets_and_values(&before[..1]),
        vec![(0, "before".to_string())]
    );
    // A second instance, subscribed in a group of its own, to be deleted during the outage.
    let doomed_group = common::rand_group("allkilled-doomed");
    let (status, created) = call(
        "POST",
        &proxy.url(&format!("/consumers/{doomed_group}")),
        None,
        Some(json!({"format": "binary", "auto.offset.reset": "earliest"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let doomed = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, answer) = call(
        "POST",
        &format!("{doomed}/subscription"),
        None,
        Some(json!({"topics": [topic]})),
    )
    .await;
    assert_eq!(status, 204, "{answer}");
    let joined = read_records(&doomed, 1, Duration::from_secs(30)).await;
    assert_eq!(
        offsets_and_values(&joined[..1]),
        vec![(0, "before".to_string())]
    );

    let killed: Vec<_> = (1..=3).map(common::kill_broker).collect();
    let outcome = std::panic::AssertUnwindSafe(async {
        let records = format!("{instance}/records?timeout=3000");
        let started = Instant::now();
        let (status, body) = call("GET", &records, Some(binary), None).await;
        let took = started.elapsed();
        assert_eq!(
            (status, &body["error_code"]),
            (500, &json!(50003)),
            "{body}"
        );
        assert!(took < Duration::from_secs(5), "records took {took:?}");

        let (status, body, took) = produce("ZHVyaW5n").await; // "during"
        let code = produce_error_code(status, &body);
        assert!(code == 50003 || code == 50002, "{status} {body}");
        assert_eq!(body["offsets"][0]["offset"], Value::Null, "{body}");
        assert!(took < Duration::from_secs(10), "produce took {took:?}");

        // A commit waits for a group coordinator that is gone (librdkafka alone would wait
        // ~45 s): it answers within the control-call bound with a retriable error.
        let started = Instant::now();
        let (status, answer) = call("POST", &format!("{instance}/offsets"), None, None).await;
        let took = started.elapsed();
        assert_eq!(
            (status, &answer["error_code"]),
            (500, &json!(50003)),
            "{answer}"
        );
        assert!(took < Duration::from_secs(33), "commit took {took:?}");
        // A seek within the assignment needs no broker. To an exact offset (the next one):
        // a seek to the end would be resolved only once the brokers are back, possibly after
        // the record produced then, which the instance would then never see.
        let (status, answer) = call(
            "POST",
            &format!("{instance}/positions"),
            None,
            Some(json!({"offsets": [{"topic": topic, "partition": 0, "offset": 1}]})),
        )
        .await;
        assert_eq!(status, 204, "{answer}");
        // Deleting an instance of a group whose coordinator is gone (librdkafka alone waits
        // ~45 s for the commit and again for the leave): answered within the same bound, and
        // the instance is gone.
        let started = Instant::now();
        let (status, answer) = call("DELETE", &doomed, None, None).await;
        let took = started.elapsed();
        assert_eq!(status, 204, "{answer}");
        assert!(took < Duration::from_secs(33), "delete took {took:?}");
        let (status, answer) = call("GET", &format!("{doomed}/subscription"), None, None).await;
        assert_eq!(
            (status, &answer["error_code"]),
            (404, &json!(40403)),
            "{answer}"
        );
    });
    let result = futures::FutureExt::catch_unwind(outcome).await;
    for broker in killed {
        broker.restart();
    }
    wait_for_brokers(&stack, 3, Duration::from_secs(90)).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }

    // The same proxy and instance work again: produce is acknowledged, and the records call
    // returns it (while the cluster settles, a call may still say 50003; never a wrong `[]`
    // forever, never a restart).
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let (status, body, _) = produce("YWZ0ZXI=").await; // "after"
        if status == 200 && body["offsets"][0]["error_code"] == Value::Null {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "produce did not recover: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut got = Vec::new();
    while !got.iter().any(|(_, v): &(i64, String)| v == "after") {
        assert!(
            Instant::now() < deadline,
            "records did not recover: {got:?}"
        );
        let (status, body) = call(
            "GET",
            &format!("{instance}/records?timeout=1000"),
            Some(binary),
            None,
        )
        .await;
        match status {
            200 => got.extend(offsets_and_values(body.as_array().expect("array"))),
            500 => assert_eq!(body["error_code"], 50003, "{body}"),
            _ => panic!("records: {status} {body}"),
        }
    }
    assert!(got.iter().all(|(_, v)| v != "before"), "{got:?}");
    proxy.stop().await;
}

/// One v3 produce stream across an outage of every broker (frozen): the records sent before
/// are acknowledged; the records sent during it each get a retriable error line (`50003`, or
/// `50002`) within the short produce deadline while the stream stays open; once the brokers
/// are back, later records on the SAME stream are acknowledged again. Kafka then holds every
/// acknowledged record exactly once, at the offset its line named, and no record twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v3_produce_stream_outlives_an_outage_of_every_broker_and_loses_no_acknowledged_record() {
    let stack = require_brokers!(3);
    let topic = common::rand_topic("v3-outage");
    common::create_replicated_topic(&stack, &topic, 1).await;
    let proxy = proxy_with_short_deadlines(&stack).await;
    let cid = crate::v3_topics::cluster_id(&proxy).await;
    let mut client = DuplexClient::open(
        &proxy.base,
        &format!("/v3/clusters/{cid}/topics/{topic}/records"),
    )
    .await;
    // Every record sent, by number, with its value and its result line.
    let mut answered: Vec<(String, Value)> = Vec::new();
    let value = |n: usize| format!("v3-outage-{n}");
    let record = |n: usize| json!({"value": {"type": "STRING", "data": value(n)}}).to_string();

    for n in 0..10 {
        client.send(record(n).as_bytes()).await;
        let line = client.line().await.expect("a result line");
        assert_eq!(line["error_code"], 200, "before the outage: {line}");
        answered.push((value(n), line));
    }

    common::freeze_brokers(3, true);
    let outcome = std::panic::AssertUnwindSafe(async {
        // A client keeps sending during the outage (one record every 300 ms, as a steady
        // producer would), then reads: each record fails on its own within the produce
        // deadline (3 s, plus the proxy's 1 s of slack), and the stream stays open.
        let during = 10..16;
        let started = Instant::now();
        for n in during.clone() {
            client.send(record(n).as_bytes()).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        let mut lines = Vec::new();
        for n in during {
            let line = client
                .line()
                .await
                .expect("a result line, not the end of the stream");
            lines.push((value(n), line));
        }
        let took = started.elapsed();
        for (_, line) in &lines {
            let code = &line["error_code"];
            assert!(code == 50003 || code == 50002, "during the outage: {line}");
            assert_eq!(line.get("offset"), None, "{line}");
        }
        assert!(took < Duration::from_secs(15), "the errors took {took:?}");
        lines
    });
    let result = futures::FutureExt::catch_unwind(outcome).await;
    common::freeze_brokers(3, false);
    let failed = match result {
        Ok(lines) => lines,
        Err(panic) => std::panic::resume_unwind(panic),
    };
    answered.extend(failed);

    // The same stream recovers: records are retried one by one until one is acknowledged
    // (the first ones may still meet a cluster that is settling), then the next twenty are
    // all acknowledged.
    let mut n = 16;
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        client.send(record(n).as_bytes()).await;
        let line = client.line().await.expect("a result line after the outage");
        answered.push((value(n), line.clone()));
        n += 1;
        if line["error_code"] == 200 {
            break;
        }
        let code = &line["error_code"];
        assert!(code == 50003 || code == 50002, "after the outage: {line}");
        assert!(
            Instant::now() < deadline,
            "the stream was not acknowledged again within 40 s: {line}"
        );
    }
    let recovered_at = n;
    for m in n..n + 20 {
        client.send(record(m).as_bytes()).await;
    }
    for m in n..n + 20 {
        let line = client.line().await.expect("a result line after recovery");
        assert_eq!(line["error_code"], 200, "record {m} after recovery: {line}");
        answered.push((value(m), line));
    }
    client.finish().await;
    assert_eq!(client.line().await, None, "the stream ends with its body");

    // Kafka holds every acknowledged record once, at the offset its line named; a record that
    // failed may or may not be there (it can have reached the log before the freeze), but
    // never twice.
    let end = common::high_watermark(&stack, &topic, 0).expect("high watermark");
    let got = common::read_all(&stack, &topic, end as usize, Duration::from_secs(30));
    assert_eq!(
        got.len(),
        end as usize,
        "read back up to the high watermark"
    );
    let mut count: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for m in &got {
        *count
            .entry(m.payload().unwrap_or_default().to_vec())
            .or_default() += 1;
    }
    assert!(
        count.values().all(|&c| c == 1),
        "a record is in Kafka twice: {count:?}"
    );
    let acked: Vec<&(String, Value)> = answered
        .iter()
        .filter(|(_, line)| line["error_code"] == 200)
        .collect();
    for (v, line) in &acked {
        assert_eq!(line["partition_id"], 0, "{line}");
        let offset = line["offset"].as_i64().expect("an offset");
        let m = got
            .iter()
            .find(|m| m.offset() == offset)
            .unwrap_or_else(|| panic!("acknowledged {v} at offset {offset} is missing"));
        assert_eq!(m.payload(), Some(v.as_bytes()), "offset {offset}");
    }
    let failed_but_written = answered
        .iter()
        .filter(|(v, line)| line["error_code"] != 200 && count.contains_key(v.as_bytes()))
        .count();
    eprintln!(
        "v3 outage: {} records sent, {} acknowledged, {failed_but_written} failed but in Kafka, \
         first acknowledged again: record {}",
        answered.len(),
        acked.len(),
        recovered_at - 1
    );
    proxy.stop().await;
    wait_for_brokers(&stack, 3, Duration::from_secs(60)).await;
}

/// Writes `values` to partition 0 with a native producer (acks=all), waiting for each; the
/// delivery timeout covers a leader election.
async fn produce_values(stack: &common::Stack, topic: &str, values: &[String]) {
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let producer: FutureProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("acks", "all")
        .set("message.timeout.ms", "60000")
        .create()
        .expect("producer");
    for v in values {
        producer
            .send(
                FutureRecord::<(), _>::to(topic).partition(0).payload(v),
                Duration::from_secs(60),
            )
            .await
            .expect("delivered");
    }
}

/// Reads through the proxy until records at `count` different offsets arrived (fails after
/// `within`); returns every record returned, repeats included.
async fn read_records(instance: &str, count: usize, within: Duration) -> Vec<Value> {
    let deadline = Instant::now() + within;
    let mut out: Vec<Value> = Vec::new();
    let distinct = |out: &[Value]| {
        out.iter()
            .map(|r| r["offset"].as_i64())
            .collect::<std::collections::BTreeSet<_>>()
            .len()
    };
    while distinct(&out) < count {
        assert!(
            Instant::now() < deadline,
            "{instance}: only {} of {count} records after {within:?}",
            distinct(&out)
        );
        let (status, batch) = call(
            "GET",
            &format!("{instance}/records?timeout=1000"),
            Some("application/vnd.kafka.binary.v2+json"),
            None,
        )
        .await;
        assert_eq!(status, 200, "{instance}: {batch}");
        out.extend(batch.as_array().expect("array").iter().cloned());
    }
    out
}

/// `(offset, value)` of binary records.
fn offsets_and_values(records: &[Value]) -> Vec<(i64, String)> {
    use base64::Engine;
    records
        .iter()
        .map(|r| {
            let value = base64::engine::general_purpose::STANDARD
                .decode(r["value"].as_str().expect("value"))
                .expect("base64");
            (
                r["offset"].as_i64().expect("offset"),
                String::from_utf8(value).expect("utf-8"),
            )
        })
        .collect()
}

/// Commits everything returned so far, retrying while the group coordinator moves.
async fn commit_returned(instance: &str, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let (status, body) = call("POST", &format!("{instance}/offsets"), None, None).await;
        if status == 200 {
            assert_eq!(body, json!([]));
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{instance}: commit still fails after {within:?}: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn consumers_keep_reading_after_the_partition_leader_moves_and_lose_no_committed_record() {
    let stack = require_brokers!(3);
    let topic = common::rand_topic("consume-failover");
    common::create_replicated_topic(&stack, &topic, 1).await;
    let first: Vec<String> = (0..50).map(|i| format!("before-{i}")).collect();
    produce_values(&stack, &topic, &first).await;
    let proxy = TestProxy::start(&stack).await;

    // One instance under group management, one with a manual assignment; each in its own group,
    // committing only by hand.
    let mut instances = Vec::new();
    for (mode, body) in [
        ("subscribed", json!({"topics": [topic]})),
        (
            "assigned",
            json!({"partitions": [{"topic": topic, "partition": 0}]}),
        ),
    ] {
        let group = common::rand_group(&format!("consume-failover-{mode}"));
        let (status, created) = call(
            "POST",
            &proxy.url(&format!("/consumers/{group}")),
            None,
            Some(json!({"name": mode, "auto.offset.reset": "earliest", "auto.commit.enable": "false"})),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        let instance = created["base_uri"].as_str().expect("base_uri").to_string();
        let target = if mode == "subscribed" {
            "subscription"
        } else {
            "assignments"
        };
        let (status, answer) =
            call("POST", &format!("{instance}/{target}"), None, Some(body)).await;
        assert_eq!(status, 204, "{answer}");
        instances.push((group, instance));
    }

    // Before the fault: each reads the first 50 records and commits them.
    for (group, instance) in &instances {
        let records = read_records(instance, 50, Duration::from_secs(30)).await;
        let expected: Vec<(i64, String)> = first
            .iter()
            .enumerate()
            .map(|(o, v)| (o as i64, v.clone()))
            .collect();
        assert_eq!(offsets_and_values(&records), expected);
        commit_returned(instance, Duration::from_secs(30)).await;
        assert_eq!(common::committed(&stack, group, &topic, 0), Some(50));
    }

    let old_leader = common::partition_leader(&stack, &topic, 0);
    assert!(old_leader > 0);
    let killed = common::kill_broker(old_leader);
    let outcome = std::panic::AssertUnwindSafe(async {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let leader = common::partition_leader(&stack, &topic, 0);
            if leader > 0 && leader != old_leader {
                break;
            }
            assert!(Instant::now() < deadline, "no new leader within 60 s");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let second: Vec<String> = (0..50).map(|i| format!("after-{i}")).collect();
        produce_values(&stack, &topic, &second).await;

        // The same instances read on from the new leader: nothing committed comes again, and
        // nothing after it is missing.
        for (group, instance) in &instances {
            let records = read_records(instance, 50, Duration::from_secs(90)).await;
            let got = offsets_and_values(&records);
            assert!(
                got.iter().all(|(o, _)| *o >= 50),
                "{instance}: a committed record came again: {got:?}"
            );
            let distinct: BTreeMap<i64, String> = got.into_iter().collect();
            let expected: BTreeMap<i64, String> = second
                .iter()
                .enumerate()
                .map(|(i, v)| (50 + i as i64, v.clone()))
                .collect();
            assert_eq!(distinct, expected, "{instance}");
            commit_returned(instance, Duration::from_secs(60)).await;
            assert_eq!(common::committed(&stack, group, &topic, 0), Some(100));
        }
    });
    let result = futures::FutureExt::catch_unwind(outcome).await;
    killed.restart();
    // The cluster is whole again before the next test, whatever happened above.
    wait_for_brokers(&stack, 3, Duration::from_secs(60)).await;
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }

    // With the broker back, a new instance of each group starts right after the commits.
    produce_values(&stack, &topic, &["last".to_string()]).await;
    for (group, instance) in &instances {
        let (status, _) = call("DELETE", instance, None, None).await;
        assert_eq!(status, 204);
        let (status, created) = call(
            "POST",
            &proxy.url(&format!("/consumers/{group}")),
            None,
            Some(json!({"auto.offset.reset": "earliest"})),
        )
        .await;
        assert_eq!(status, 200, "{created}");
        let again = created["base_uri"].as_str().expect("base_uri");
        let (status, answer) = call(
            "POST",
            &format!("{again}/assignments"),
            None,
            Some(json!({"partitions": [{"topic": topic, "partition": 0}]})),
        )
        .await;
        assert_eq!(status, 204, "{answer}");
        let records = read_records(again, 1, Duration::from_secs(30)).await;
        assert_eq!(
            offsets_and_values(&records[..1]),
            vec![(100, "last".to_string())]
        );
    }
    proxy.stop().await;
}
