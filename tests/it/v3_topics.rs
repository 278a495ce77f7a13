//! v3 topics, partitions, replicas and offsets through HTTP against the real cluster, each
//! change checked with a native admin client: create (with `validate_only`), read, list, grow,
//! delete, and their error answers.

use std::time::Duration;

use rdkafka::admin::ResourceSpecifier;
use serde_json::{json, Value};

use crate::common::{self, v3_call, TestProxy};
use crate::require_stack;

/// The id of the cluster the proxy serves, from `GET /v3/clusters`.
pub async fn cluster_id(proxy: &TestProxy) -> String {
    let (status, _, body) = v3_call("GET", &proxy.url("/v3/clusters"), None).await;
    assert_eq!(status, 200, "{body}");
    body["data"][0]["cluster_id"]
        .as_str()
        .expect("a cluster id")
        .to_string()
}

/// The expected body of a topic.
fn topic_body(base: &str, cid: &str, topic: &str, partitions: i64, replicas: i64) -> Value {
    let url = format!("{base}/v3/clusters/{cid}/topics/{topic}");
    json!({
        "kind": "KafkaTopic",
        "metadata": {"self": url, "resource_name": format!("crn:///kafka={cid}/topic={topic}")},
        "cluster_id": cid,
        "topic_name": topic,
        "is_internal": false,
        "replication_factor": replicas,
        "partitions_count": partitions,
        "partitions": {"related": format!("{url}/partitions")},
        "configs": {"related": format!("{url}/configs")},
        "partition_reassignments": {"related": format!("{url}/partitions/-/reassignment")},
        "authorized_operations": [],
    })
}

#[tokio::test]
async fn a_topic_created_through_v3_has_what_was_asked_and_can_grow_and_be_deleted() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-create");
    let topics = proxy.url(&format!("/v3/clusters/{cid}/topics"));
    let request = json!({
        "topic_name": topic,
        "partitions_count": 3,
        "replication_factor": 1,
        "configs": [{"name": "cleanup.policy", "value": "compact"}, {"name": "retention.ms", "value": "7200000"}],
    });

    let mut dry = request.clone();
    dry["validate_only"] = json!(true);
    let (status, content_type, body) = v3_call("POST", &topics, Some(dry)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(content_type, "application/json");
    assert_eq!(body, topic_body(&proxy.base, &cid, &topic, 3, 1));
    assert_eq!(common::native_topic_shape(&stack, &topic), None);

    let resp = reqwest::Client::new()
        .post(&topics)
        .header("content-type", "application/json")
        .body(request.to_string())
        .send()
        .await
        .expect("POST");
    assert_eq!(resp.status().as_u16(), 201);
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body: Value = resp.json().await.expect("JSON");
    let expected = topic_body(&proxy.base, &cid, &topic, 3, 1);
    assert_eq!(body, expected);
    assert_eq!(location.as_deref(), expected["metadata"]["self"].as_str());
    assert_eq!(common::native_topic_shape(&stack, &topic), Some((3, 1)));
    let configs = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
    assert_eq!(configs["cleanup.policy"].0.as_deref(), Some("compact"));
    assert_eq!(configs["retention.ms"].0.as_deref(), Some("7200000"));

    let topic_url = format!("{topics}/{topic}");
    let (status, _, body) = v3_call("GET", &topic_url, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, expected);
    let (status, _, list) = v3_call("GET", &topics, None).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "KafkaTopicList");
    assert_eq!(list["metadata"], json!({"self": topics, "next": null}));
    let names: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|t| t["topic_name"].as_str())
        .collect();
    assert!(names.contains(&topic.as_str()));
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);
    let ours = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .find(|t| t["topic_name"] == json!(topic))
        .expect("listed");
    assert_eq!(*ours, expected);

    let again = v3_call("POST", &topics, Some(request.clone())).await;
    assert_eq!(
        (again.0, again.2),
        (
            400,
            json!({"error_code": 40002, "message": format!("Topic '{topic}' already exists.")})
        )
    );

    let (status, _, body) =
        v3_call("PATCH", &topic_url, Some(json!({"partitions_count": 5}))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, topic_body(&proxy.base, &cid, &topic, 5, 1));
    assert_eq!(common::native_topic_shape(&stack, &topic), Some((5, 1)));
    let lower = v3_call("PATCH", &topic_url, Some(json!({"partitions_count": 2}))).await;
    assert_eq!(lower.0, 400, "{}", lower.2);
    assert_eq!(lower.2["error_code"], 40002);
    assert_eq!(
        lower.2["message"],
        format!("The topic {topic} currently has 5 partition(s); 2 would not be an increase.")
    );
    let same = v3_call("PATCH", &topic_url, Some(json!({"partitions_count": 5}))).await;
    assert_eq!(
        (same.0, &same.2["error_code"]),
        (400, &json!(40002)),
        "{}",
        same.2
    );

    let (status, _, body) = v3_call("DELETE", &topic_url, None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(common::native_topic_shape(&stack, &topic), None);
    let (status, _, body) = v3_call("GET", &topic_url, None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 404, "message": "HTTP 404 Not Found"})
        )
    );
    let (status, _, body) = v3_call("DELETE", &topic_url, None).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error_code"], 40403);
}

#[tokio::test]
async fn create_topic_errors_answer_confluents_codes() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topics = proxy.url(&format!("/v3/clusters/{cid}/topics"));
    let brokers = common::admin(&stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata")
        .brokers()
        .len();

    let too_many = v3_call(
        "POST",
        &topics,
        Some(json!({"topic_name": common::rand_topic("v3-rf"), "partitions_count": 1, "replication_factor": brokers + 1})),
    )
    .await;
    assert_eq!(too_many.0, 400, "{}", too_many.2);
    assert_eq!(too_many.2["error_code"], 40002);

    let bad_name = v3_call(
        "POST",
        &topics,
        Some(json!({"topic_name": "no spaces allowed"})),
    )
    .await;
    assert_eq!(
        (bad_name.0, bad_name.2),
        (
            422,
            json!({"error_code": 42206, "message": "Payload error. Invalid topic name."})
        )
    );

    let empty = reqwest::Client::new()
        .post(&topics)
        .header("content-type", "application/json")
        .send()
        .await
        .expect("POST");
    assert_eq!(empty.status().as_u16(), 422);
    let body: Value = empty.json().await.expect("JSON");
    assert_eq!(
        body,
        json!({"error_code": 42206, "message": "Payload error. Request body is empty. Data is required."})
    );

    let text = common::post_json(&topics, "text/plain", "{}").await;
    assert_eq!(
        (text.0, text.1.as_str(), text.2),
        (
            415,
            "application/json",
            json!({"error_code": 415, "message": "HTTP 415 Unsupported Media Type"})
        )
    );

    let other = proxy.url("/v3/clusters/not-this-cluster/topics");
    let (status, content_type, body) = v3_call("GET", &other, None).await;
    assert_eq!(
        (status, content_type.as_str(), body),
        (
            404,
            "application/json",
            json!({"error_code": 404, "message": "Cluster not-this-cluster cannot be found."})
        )
    );
}

#[tokio::test]
async fn partitions_replicas_and_offsets_are_what_kafka_holds() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-partitions");
    common::create_topic(&stack, &topic, 2).await;
    common::produce_native(&stack, &topic, 1, 3).await;
    let leader = common::partition_leader(&stack, &topic, 1);
    let base = format!("{}/v3/clusters/{cid}", proxy.base);
    let p1 = format!("{base}/topics/{topic}/partitions/1");

    let (status, _, body) = v3_call("GET", &p1, None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({
            "kind": "KafkaPartition",
            "metadata": {"self": p1, "resource_name": format!("crn:///kafka={cid}/topic={topic}/partition=1")},
            "cluster_id": cid,
            "topic_name": topic,
            "partition_id": 1,
            "leader": {"related": format!("{p1}/replicas/{leader}")},
            "replicas": {"related": format!("{p1}/replicas")},
            "reassignment": {"related": format!("{p1}/reassignment")},
        })
    );
    let (status, _, list) =
        v3_call("GET", &format!("{base}/topics/{topic}/partitions"), None).await;
    assert_eq!(status, 200);
    assert_eq!(list["kind"], "KafkaPartitionList");
    let ids: Vec<i64> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|p| p["partition_id"].as_i64())
        .collect();
    assert_eq!(ids, vec![0, 1]);

    let (status, _, replicas) = v3_call("GET", &format!("{p1}/replicas"), None).await;
    assert_eq!(status, 200, "{replicas}");
    assert_eq!(
        replicas["data"][0],
        json!({
            "kind": "KafkaReplica",
            "metadata": {
                "self": format!("{p1}/replicas/{leader}"),
                "resource_name": format!("crn:///kafka={cid}/topic={topic}/partition=1/replica={leader}"),
            },
            "cluster_id": cid,
            "topic_name": topic,
            "partition_id": 1,
            "broker_id": leader,
            "is_leader": true,
            "is_in_sync": true,
            "broker": {"related": format!("{base}/brokers/{leader}")},
        })
    );
    let (status, _, one) = v3_call("GET", &format!("{p1}/replicas/{leader}"), None).await;
    assert_eq!((status, &one), (200, &replicas["data"][0]));
    let (status, _, by_broker) = v3_call(
        "GET",
        &format!("{base}/brokers/{leader}/partition-replicas"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(by_broker["data"]
        .as_array()
        .expect("data")
        .contains(&replicas["data"][0]));

    let (status, _, offsets) = v3_call("GET", &format!("{p1}/offset"), None).await;
    assert_eq!(status, 200, "{offsets}");
    assert_eq!(
        offsets,
        json!({
            "kind": "KafkaPartitionWithOffsets",
            "metadata": {
                "self": format!("{p1}/offset"),
                "resource_name": format!("crn:///kafka={cid}/topic={topic}/partition=1"),
            },
            "cluster_id": cid,
            "topic_name": topic,
            "partition_id": 1,
            "earliest_offset": 0,
            "latest_offset": 3,
        })
    );
    let (status, _, bad) = v3_call("GET", &format!("{p1}/offset?offset_type=latest"), None).await;
    assert_eq!(
        (status, bad),
        (
            400,
            json!({"error_code": 400, "message": "offset_type:latest is invalid"})
        )
    );

    let (status, _, deleted) = v3_call(
        "POST",
        &format!("{base}/topics/{topic}/records:delete"),
        Some(json!({"partitions": [{"partition_id": 1, "before_offset": 2}]})),
    )
    .await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(
        deleted,
        json!({"data": [{"partition_id": 1, "low_watermark": 2}]})
    );
    let (low, _) = common::admin(&stack)
        .inner()
        .fetch_watermarks(&topic, 1, Duration::from_secs(5))
        .expect("watermarks");
    assert_eq!(low, 2);

    let missing = json!({"error_code": 404, "message": "HTTP 404 Not Found"});
    for path in [
        format!("{base}/topics/{topic}/partitions/7"),
        format!("{base}/topics/{topic}/partitions/x"),
        format!("{p1}/replicas/424242"),
        format!("{base}/topics/{topic}-nope/partitions"),
        format!("{base}/brokers/424242"),
    ] {
        let (status, _, body) = v3_call("GET", &path, None).await;
        assert_eq!((status, &body), (404, &missing), "{path}");
    }
    let (status, _, body) = v3_call("GET", &format!("{p1}/reassignment"), None).await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(
        body,
        json!({"error_code": 501, "message": "Listing partition reassignments is not supported by this proxy."})
    );
}

#[tokio::test]
async fn lists_page_only_when_asked() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-pages");
    common::create_topic(&stack, &topic, 3).await;
    let url = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/partitions"));
    let (status, _, first) = v3_call("GET", &format!("{url}?page_size=2"), None).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"].as_array().map(Vec::len), Some(2));
    let next = first["metadata"]["next"].as_str().expect("a next page");
    assert_eq!(next, format!("{url}?page_size=2&page_token=2"));
    let (status, _, second) = v3_call("GET", next, None).await;
    assert_eq!(status, 200);
    assert_eq!(second["data"][0]["partition_id"], 2);
    assert_eq!(second["metadata"]["next"], Value::Null);
    let (status, _, bad) = v3_call("GET", &format!("{url}?page_size=0"), None).await;
    assert_eq!(
        (status, bad),
        (
            400,
            json!({"error_code": 400, "message": "page_size must be a positive integer"})
        )
    );
}
