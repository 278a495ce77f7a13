//! Kafka faults on the three-broker stack (`cargo xtask test --brokers 3 faults::`, run by CI
//! one test at a time): a partition leader killed under load, and every broker down at once.
//! Each test leaves the cluster whole again.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::{json, Value};

use crate::common::{self, TestProxy};
use crate::require_brokers;

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
        let (_, high) = common::admin(&stack)
            .inner()
            .fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .expect("watermarks");
        if high > 500 {
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
    let (_, before) = common::admin(&stack)
        .inner()
        .fetch_watermarks(&topic, 0, Duration::from_secs(5))
        .expect("watermarks");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, high) = common::admin(&stack)
            .inner()
            .fetch_watermarks(&topic, 0, Duration::from_secs(5))
            .expect("watermarks");
        if high > before + 300 {
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
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::admin(&stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .map(|md| md.brokers().len())
        .unwrap_or(0)
        < 3
    {
        assert!(
            Instant::now() < deadline,
            "the killed broker did not come back"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_every_broker_down_requests_fail_fast_and_recover_without_a_restart() {
    let stack = require_brokers!(3);
    let topic = common::rand_topic("alldown");
    common::create_replicated_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props
        .set("produce.timeout.ms", "3000")
        .set("metadata.timeout.ms", "2000");
    let proxy = TestProxy::start_with(props).await;
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
        let code = if status == 200 {
            body["offsets"][0]["error_code"].clone()
        } else {
            body["error_code"].clone()
        };
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
