//! The metadata cache against the real cluster: requests for unknown topics share fetches,
//! readiness answers while a metadata fetch hangs, and a metadata outage while listing a
//! pattern subscription is the retriable Kafka error.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_rest::fuzzing::BlockingCalls;
use kafka_rest::fuzzing::{Metadata, MetadataError, MetadataSettings};
use serde_json::{json, Value};

use crate::common::{self, TestProxy};
use crate::require_stack;

fn settings(bootstrap: &str) -> MetadataSettings {
    MetadataSettings {
        kafka: BTreeMap::from([("bootstrap.servers".to_string(), bootstrap.to_string())]),
        timeout: Duration::from_secs(10),
        // Long enough that no snapshot or negative entry expires during the test.
        cache_max_age: Duration::from_secs(120),
        negative_cache_ttl: Duration::from_secs(120),
        ready_wait: Duration::from_secs(10),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_lookups_of_unknown_topics_share_a_few_metadata_fetches() {
    let stack = require_stack!();
    let known = common::rand_topic("shared-fetch");
    common::create_topic(&stack, &known, 2).await;
    let metadata =
        Metadata::new(settings(&stack.bootstrap), BlockingCalls::new(8)).expect("metadata client");
    assert!(metadata.ready_brokers().await.expect("Kafka answers") >= 1);
    let before = metadata.fetches_started();

    let missing = common::rand_topic("shared-fetch-missing");
    let lookups: Vec<_> = (0..100)
        .map(|i| {
            let m = metadata.clone();
            // Half ask for one missing topic, half for a missing topic each.
            let topic = if i % 2 == 0 {
                missing.clone()
            } else {
                format!("{missing}-{i}")
            };
            tokio::spawn(async move { m.partitions(&topic).await })
        })
        .collect();
    for lookup in lookups {
        let answer = lookup.await.expect("task");
        assert!(
            matches!(answer, Err(MetadataError::UnknownTopic { .. })),
            "{answer:?}"
        );
    }
    let shared = metadata.fetches_started() - before;
    // Without sharing this would be 100 fetches, one after another. With one fetch at a time
    // and "fetched after I asked", it is one per round of waiting requests: a handful, however
    // slowly the tasks start.
    assert!(
        (1..=20).contains(&shared),
        "{shared} fetches for 100 lookups"
    );

    // The missing topic is now in the negative cache and the known one in the snapshot: many
    // more lookups need no fetch at all.
    let again = metadata.fetches_started();
    for _ in 0..100 {
        assert!(matches!(
            metadata.partitions(&missing).await,
            Err(MetadataError::UnknownTopic { .. })
        ));
        assert_eq!(metadata.partitions(&known).await.expect("known").len(), 2);
    }
    assert_eq!(metadata.fetches_started(), again);
    // The topic did not come into being by being looked up.
    assert!(!common::cluster_topics(&stack).contains(&missing));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_produces_to_an_unknown_topic_all_answer_40401() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    // As a load balancer would: no traffic before the proxy is ready.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _, body) = common::get_json(&proxy.url("/health/ready")).await;
        if status == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never ready: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing = common::rand_topic("produce-missing");
    let url = proxy.url(&format!("/topics/{missing}"));
    let produces: Vec<_> = (0..30)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                common::post_json(
                    &url,
                    "application/vnd.kafka.json.v2+json",
                    r#"{"records":[{"value":1}]}"#,
                )
                .await
            })
        })
        .collect();
    for produce in produces {
        let (status, _, body) = produce.await.expect("task");
        assert_eq!(
            (status, &body["error_code"]),
            (404, &json!(40401)),
            "{body}"
        );
    }
    assert!(!common::cluster_topics(&stack).contains(&missing));
    proxy.stop().await;
}

/// A "broker" that accepts connections and never answers: every metadata fetch hangs until
/// its timeout.
async fn silent_broker() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr").to_string();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_answers_while_a_produce_waits_for_a_hanging_metadata_fetch() {
    let stack = require_stack!();
    let (silent, broker) = silent_broker().await;
    let mut props = common::proxy_properties(&stack);
    props
        .set("bootstrap.servers", silent)
        .set("metadata.timeout.ms", "10000")
        .set("health.ready.timeout.ms", "200");
    let proxy = TestProxy::start_with(props).await;
    let produce = tokio::spawn({
        let url = proxy.url("/topics/anything");
        async move {
            common::post_json(
                &url,
                "application/vnd.kafka.json.v2+json",
                r#"{"records":[{"value":1}]}"#,
            )
            .await
        }
    });
    let (status, _, body) = common::get_json(&proxy.url("/health/ready")).await;
    assert_eq!((status, &body["error_code"]), (503, &json!(503)), "{body}");
    // Readiness answered although the produce is still waiting for the fetch it shares.
    assert!(
        !produce.is_finished(),
        "the produce finished first: {:?}",
        produce.await
    );
    // And again, without starting a second fetch behind the first.
    let (status, _, _) = common::get_json(&proxy.url("/health/ready")).await;
    assert_eq!(status, 503);
    assert!(!produce.is_finished());
    produce.abort();
    broker.abort();
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_metadata_outage_while_listing_a_pattern_subscription_is_50003() {
    let stack = require_stack!();
    let mut props = common::proxy_properties(&stack);
    props
        .set("bootstrap.servers", "127.0.0.1:1")
        .set("metadata.timeout.ms", "500");
    let proxy = TestProxy::start_with(props).await;
    let group = common::rand_group("pattern-outage");
    let (status, created) = common::call(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        Some(json!({"format": "binary", "auto.commit.enable": "false"})),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let instance = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, answer) = common::call(
        "POST",
        &format!("{instance}/subscription"),
        None,
        Some(json!({"topic_pattern": "it-.*"})),
    )
    .await;
    assert_eq!(status, 204, "{answer}");
    let (status, answer) =
        common::call("GET", &format!("{instance}/subscription"), None, None).await;
    assert_eq!(
        (status, &answer["error_code"]),
        (500, &json!(50003)),
        "{answer}"
    );
    assert_ne!(answer["error_code"], Value::from(40903));
    proxy.stop().await;
}
