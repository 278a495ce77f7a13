//! The v3 consumer group, lag, group delete and offset reset endpoints against the real
//! cluster: every figure is checked against what a native consumer group produced and
//! committed, and every change with a native client.

use std::time::{Duration, Instant};

use kafka_rest::fuzzing::admin_groups::{self, GroupState, ResetTarget, TopicPartition};
use kafka_rest::fuzzing::admin_lags;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::{json, Value};

use crate::common::{self, Stack, TestProxy};
use crate::require_stack;
use crate::v3_cluster::admin_service;

/// A topic with `counts[p]` records in partition `p`.
async fn topic_with(stack: &Stack, counts: &[usize]) -> String {
    let topic = common::rand_topic("v3-groups");
    let partitions = i32::try_from(counts.len()).expect("few partitions");
    common::create_topic(stack, &topic, partitions).await;
    for (partition, &count) in counts.iter().enumerate() {
        let partition = i32::try_from(partition).expect("few partitions");
        common::produce_native(stack, &topic, partition, count).await;
    }
    topic
}

/// A native member of `group` subscribed to `topic`, polled until it owns `partitions`
/// partitions.
fn member(stack: &Stack, group: &str, topic: &str, partitions: usize) -> BaseConsumer {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.bootstrap)
        .set("group.id", group)
        .set("client.id", "v3-groups-test")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    let deadline = Instant::now() + Duration::from_secs(30);
    while consumer.assignment().map_or(0, |a| a.count()) < partitions {
        assert!(Instant::now() < deadline, "no assignment within 30 s");
        let _ = consumer.poll(Duration::from_millis(100));
    }
    consumer
}

fn commit(consumer: &BaseConsumer, topic: &str, offsets: &[(i32, i64)]) {
    let mut list = TopicPartitionList::new();
    for &(partition, offset) in offsets {
        list.add_partition_offset(topic, partition, Offset::Offset(offset))
            .expect("offset");
    }
    consumer.commit(&list, CommitMode::Sync).expect("commit");
}

/// Waits until the group has no member left (a closed consumer leaves it).
async fn wait_empty(stack: &Stack, group: &str) {
    let admin = admin_service(stack);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let described = admin_groups::get_group(&admin, group).await.expect("group");
        if described.consumers.is_empty() {
            assert_eq!(described.state, GroupState::Empty);
            return;
        }
        assert!(Instant::now() < deadline, "the member did not leave");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The group's member as the proxy answers it: (consumer id, coordinator broker id).
async fn member_and_coordinator(proxy: &TestProxy, base: &str, group: &str) -> (String, i64) {
    let (status, _, body) = common::v3_call(
        "GET",
        &format!("{base}/consumer-groups/{group}/consumers"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let consumer_id = body["data"][0]["consumer_id"]
        .as_str()
        .expect("one member")
        .to_string();
    let (_, _, group_body) =
        common::v3_call("GET", &format!("{base}/consumer-groups/{group}"), None).await;
    let coordinator = group_body["coordinator"]["related"]
        .as_str()
        .and_then(|url| url.rsplit('/').next())
        .and_then(|id| id.parse().ok())
        .expect("a coordinator link");
    let _ = proxy;
    (consumer_id, coordinator)
}

#[tokio::test]
async fn group_members_assignments_and_lags_are_what_the_native_group_holds() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cluster = common::cluster_id(&stack);
    let base = proxy.url(&format!("/v3/clusters/{cluster}"));
    let topic = topic_with(&stack, &[5, 3]).await;
    let group = common::rand_group("v3-groups");
    let consumer = member(&stack, &group, &topic, 2);

    // A group that has not committed yet has no lags.
    let (status, _, body) =
        common::v3_call("GET", &format!("{base}/consumer-groups/{group}/lags"), None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 404, "message": "Consumer group offsets could not be found."})
        )
    );

    commit(&consumer, &topic, &[(0, 2), (1, 3)]);
    let (consumer_id, coordinator) = member_and_coordinator(&proxy, &base, &group).await;
    let brokers: Vec<i64> = common::admin(&stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("metadata")
        .brokers()
        .iter()
        .map(|b| i64::from(b.id()))
        .collect();
    assert!(
        brokers.contains(&coordinator),
        "{coordinator} not in {brokers:?}"
    );

    let g = format!("{base}/consumer-groups/{group}");
    let (status, _, body) = common::v3_call("GET", &g, None).await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        json!({
            "kind": "KafkaConsumerGroup",
            "metadata": {
                "self": g,
                "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}"),
            },
            "cluster_id": cluster,
            "consumer_group_id": group,
            "is_simple": false,
            "partition_assignor": "range",
            "state": "STABLE",
            "type": "CLASSIC",
            "is_mixed_consumer_group": false,
            "coordinator": {"related": format!("{base}/brokers/{coordinator}")},
            "consumers": {"related": format!("{g}/consumers")},
            "lag_summary": {"related": format!("{g}/lag-summary")},
        })
    );
    let (status, _, listed) =
        common::v3_call("GET", &format!("{base}/consumer-groups"), None).await;
    assert_eq!(status, 200);
    assert_eq!(listed["kind"], "KafkaConsumerGroupList");
    assert!(listed["data"].as_array().expect("list").contains(&body));

    let c = format!("{g}/consumers/{consumer_id}");
    let (status, _, body) = common::v3_call("GET", &c, None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({
                "kind": "KafkaConsumer",
                "metadata": {
                    "self": c,
                    "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/consumer={consumer_id}"),
                },
                "cluster_id": cluster,
                "consumer_group_id": group,
                "consumer_id": consumer_id,
                "instance_id": null,
                "client_id": "v3-groups-test",
                "assignments": {"related": format!("{c}/assignments")},
            })
        )
    );
    let (status, _, body) = common::v3_call("GET", &format!("{c}/assignments"), None).await;
    assert_eq!(status, 200);
    let assigned: Vec<(String, i64)> = body["data"]
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            (
                a["topic_name"].as_str().unwrap_or_default().to_string(),
                a["partition_id"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    assert_eq!(assigned, [(topic.clone(), 0), (topic.clone(), 1)]);
    let a = format!("{c}/assignments/{topic}/partitions/1");
    let (status, _, body) = common::v3_call("GET", &a, None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({
                "kind": "KafkaConsumerAssignment",
                "metadata": {
                    "self": a,
                    "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/consumer={consumer_id}/assignment={topic}/partition=1"),
                },
                "cluster_id": cluster,
                "consumer_group_id": group,
                "consumer_id": consumer_id,
                "topic_name": topic,
                "partition_id": 1,
                "partition": {"related": format!("{base}/topics/{topic}/partitions/1")},
                "lag": {"related": format!("{g}/lags/{topic}/partitions/1")},
            })
        )
    );

    // Lags: partition 0 committed 2 of 5, partition 1 committed 3 of 3; largest lag first.
    let lag = |partition: i64, current: i64, end: i64| {
        let url = format!("{g}/lags/{topic}/partitions/{partition}");
        json!({
            "kind": "KafkaConsumerLag",
            "metadata": {
                "self": url,
                "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/lag={topic}/partition={partition}"),
            },
            "cluster_id": cluster,
            "consumer_group_id": group,
            "topic_name": topic,
            "partition_id": partition,
            "current_offset": current,
            "log_end_offset": end,
            "lag": end - current,
            "consumer_id": consumer_id,
            "instance_id": null,
            "client_id": "v3-groups-test",
        })
    };
    let (status, _, body) = common::v3_call("GET", &format!("{g}/lags"), None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({
                "kind": "KafkaConsumerLagList",
                "metadata": {"self": format!("{g}/lags"), "next": null},
                "data": [lag(0, 2, 5), lag(1, 3, 3)],
            })
        )
    );
    let (status, _, body) =
        common::v3_call("GET", &format!("{g}/lags/{topic}/partitions/1"), None).await;
    assert_eq!((status, body), (200, lag(1, 3, 3)));
    let (status, _, body) = common::v3_call("GET", &format!("{g}/lag-summary"), None).await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({
                "kind": "KafkaConsumerGroupLagSummary",
                "metadata": {
                    "self": format!("{g}/lag-summary"),
                    "resource_name": format!("crn:///kafka={cluster}/consumer-group={group}/lag-summary"),
                },
                "cluster_id": cluster,
                "consumer_group_id": group,
                "max_lag_consumer_id": consumer_id,
                "max_lag_instance_id": null,
                "max_lag_client_id": "v3-groups-test",
                "max_lag_topic_name": topic,
                "max_lag_partition_id": 0,
                "max_lag": 3,
                "total_lag": 3,
                "max_lag_consumer": {"related": format!("{g}/consumers/{consumer_id}")},
                "max_lag_partition": {"related": format!("{base}/topics/{topic}/partitions/0")},
            })
        )
    );

    // More records: the log end follows, the committed offsets stay.
    common::produce_native(&stack, &topic, 1, 4).await;
    let (_, _, body) = common::v3_call("GET", &format!("{g}/lags"), None).await;
    assert_eq!(body["data"], json!([lag(1, 3, 7), lag(0, 2, 5)]));

    // Not found: a partition without a committed offset, an assignment the member lacks, a
    // member the group lacks.
    for url in [
        format!("{g}/lags/{topic}/partitions/9"),
        format!("{c}/assignments/{topic}/partitions/9"),
        format!("{g}/consumers/nobody"),
    ] {
        let (status, _, body) = common::v3_call("GET", &url, None).await;
        assert_eq!(
            (status, body),
            (
                404,
                json!({"error_code": 404, "message": "HTTP 404 Not Found"})
            ),
            "{url}"
        );
    }
    drop(consumer);
    proxy.stop().await;
}

#[tokio::test]
async fn unknown_groups_and_clusters_answer_confluents_404s() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cluster = common::cluster_id(&stack);
    let group = common::rand_group("v3-nobody");
    let g = proxy.url(&format!("/v3/clusters/{cluster}/consumer-groups/{group}"));
    let could_not = json!({"error_code": 404, "message": format!("Consumer Group {group} could not be found.")});
    let bare = json!({"error_code": 404, "message": "HTTP 404 Not Found"});
    let cases = [
        ("GET", g.clone(), &bare),
        ("GET", format!("{g}/consumers"), &could_not),
        ("GET", format!("{g}/lags"), &could_not),
        ("GET", format!("{g}/lag-summary"), &could_not),
        ("DELETE", g.clone(), &could_not),
    ];
    for (method, url, expected) in cases {
        let (status, _, body) = common::v3_call(method, &url, None).await;
        assert_eq!((status, &body), (404, expected), "{method} {url}");
    }
    let other = proxy.url("/v3/clusters/not-this-one/consumer-groups");
    let (status, _, body) = common::v3_call("GET", &other, None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 404, "message": "Cluster not-this-one cannot be found."})
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn delete_and_reset_refuse_a_group_with_members_and_change_an_empty_one() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cluster = common::cluster_id(&stack);
    let topic = topic_with(&stack, &[5, 3]).await;
    let group = common::rand_group("v3-reset");
    let consumer = member(&stack, &group, &topic, 2);
    commit(&consumer, &topic, &[(0, 2), (1, 3)]);
    let g = proxy.url(&format!("/v3/clusters/{cluster}/consumer-groups/{group}"));
    let reset = format!("{g}/offsets:reset");
    let not_empty = json!({"error_code": 40002, "message": "The group is not empty."});

    let (status, _, body) = common::v3_call("POST", &reset, Some(json!({"to": "earliest"}))).await;
    assert_eq!((status, &body), (400, &not_empty));
    let (status, _, body) = common::v3_call("DELETE", &g, None).await;
    assert_eq!((status, &body), (400, &not_empty));
    drop(consumer);
    wait_empty(&stack, &group).await;

    // Bodies that miss what their `to` needs, or no body at all.
    for (body, message) in [
        (
            Some(json!({"to": "timestamp"})),
            "Payload error. timestamp is required with to: timestamp.",
        ),
        (
            Some(json!({"to": "offsets"})),
            "Payload error. offsets is required with to: offsets.",
        ),
        (
            None,
            "Payload error. Request body is empty. Data is required.",
        ),
    ] {
        let (status, _, answer) = common::v3_call("POST", &reset, body.clone()).await;
        assert_eq!(
            (status, answer),
            (422, json!({"error_code": 42206, "message": message})),
            "{body:?}"
        );
    }

    let offsets = |p0: i64, p1: i64| {
        json!({"data": [
            {"topic_name": topic, "partition_id": 0, "offset": p0},
            {"topic_name": topic, "partition_id": 1, "offset": p1},
        ]})
    };
    let committed = || {
        (
            common::committed(&stack, &group, &topic, 0),
            common::committed(&stack, &group, &topic, 1),
        )
    };
    // A dry run answers and changes nothing.
    let (status, _, body) = common::v3_call(
        "POST",
        &reset,
        Some(json!({"to": "earliest", "dry_run": true})),
    )
    .await;
    assert_eq!((status, body), (200, offsets(0, 0)));
    assert_eq!(committed(), (Some(2), Some(3)));
    let (status, _, body) = common::v3_call("POST", &reset, Some(json!({"to": "latest"}))).await;
    assert_eq!((status, body), (200, offsets(5, 3)));
    assert_eq!(committed(), (Some(5), Some(3)));
    let (status, _, body) = common::v3_call(
        "POST",
        &reset,
        Some(json!({"to": "earliest", "topics": [topic]})),
    )
    .await;
    assert_eq!((status, body), (200, offsets(0, 0)));
    assert_eq!(committed(), (Some(0), Some(0)));
    // A time after every record moves each partition to its end.
    let (status, _, body) = common::v3_call(
        "POST",
        &reset,
        Some(json!({"to": "timestamp", "timestamp": 4_000_000_000_000_i64, "dry_run": true})),
    )
    .await;
    assert_eq!((status, body), (200, offsets(5, 3)));
    let (status, _, body) = common::v3_call(
        "POST",
        &reset,
        Some(json!({"to": "offsets", "offsets": [{"topic_name": topic, "partition_id": 1, "offset": 1}]})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!({"data": [{"topic_name": topic, "partition_id": 1, "offset": 1}]})
        )
    );
    assert_eq!(committed(), (Some(0), Some(1)));

    let (status, _, body) = common::v3_call("DELETE", &g, None).await;
    assert_eq!((status, body), (204, Value::Null));
    // Kafka no longer knows the group: no committed offsets, and it is not listed.
    assert_eq!(committed(), (None, None));
    let listed = common::admin(&stack)
        .inner()
        .fetch_group_list(Some(&group), Duration::from_secs(10))
        .expect("group list");
    assert!(
        listed.groups().iter().all(|g| g.state() == "Dead"),
        "{:?}",
        listed
            .groups()
            .iter()
            .map(|g| g.state())
            .collect::<Vec<_>>()
    );
    proxy.stop().await;
}

#[tokio::test]
async fn the_service_resets_named_topics_and_given_offsets_as_kafka_commits_them() {
    let stack = require_stack!();
    let admin = admin_service(&stack);
    let topic = topic_with(&stack, &[4]).await;
    let group = common::rand_group("v3-reset-service");
    common::commit_native(&stack, &group, &topic, 1);
    let tp = TopicPartition {
        topic: topic.clone(),
        partition: 0,
    };
    let answered = admin_groups::reset_offsets(&admin, &group, ResetTarget::Latest, None, false)
        .await
        .expect("reset");
    assert_eq!(answered, [(tp.clone(), 4)]);
    assert_eq!(common::committed(&stack, &group, &topic, 0), Some(4));
    let lags = admin_lags::list_lags(&admin, &group).await.expect("lags");
    assert_eq!(
        lags.iter()
            .map(|l| (l.current_offset, l.log_end_offset, l.lag))
            .collect::<Vec<_>>(),
        [(4, 4, 0)]
    );
}
