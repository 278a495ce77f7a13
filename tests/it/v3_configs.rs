//! v3 topic, broker and cluster-wide configs through HTTP against the real cluster: reads,
//! single changes, batches with `validate_only`, and their errors, each change checked with a
//! native admin client.

use rdkafka::admin::ResourceSpecifier;
use serde_json::{json, Value};

use crate::common::{self, v3_call, TestProxy};
use crate::require_stack;
use crate::v3_topics::cluster_id;

/// Waits (at most 30 s) until a native describe of `broker` shows `name` as `expected`: a
/// broker applies a dynamic change once the controller's metadata reaches it.
async fn broker_config_becomes(
    stack: &common::Stack,
    broker: i32,
    name: &str,
    expected: &(Option<String>, bool),
) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let now = common::native_configs(stack, ResourceSpecifier::Broker(broker)).await;
        if now.get(name) == Some(expected) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{name} of broker {broker} is {:?}, not {expected:?}",
            now.get(name)
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn topic_configs_set_and_reset_through_v3_are_what_kafka_describes() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-configs");
    common::create_topic(&stack, &topic, 1).await;
    let configs = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/configs"));

    let (status, _, list) = v3_call("GET", &configs, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "KafkaTopicConfigList");
    assert_eq!(list["metadata"], json!({"self": configs, "next": null}));
    let names: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let native = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
    let native_names: Vec<&str> = native.keys().map(String::as_str).collect();
    assert_eq!(names, native_names);

    let retention = format!("{configs}/retention.ms");
    let (status, _, body) = v3_call("PUT", &retention, Some(json!({"value": "3600000"}))).await;
    assert_eq!((status, &body), (204, &Value::Null));
    let native = common::topic_configs_when(&stack, &topic, |n| {
        n["retention.ms"].0.as_deref() == Some("3600000")
    })
    .await;
    assert_eq!(native["retention.ms"], (Some("3600000".to_string()), false));
    let (status, _, one) = v3_call("GET", &retention, None).await;
    assert_eq!(status, 200, "{one}");
    let synonyms = one["synonyms"].clone();
    assert_eq!(
        synonyms[0],
        json!({"name": "retention.ms", "value": "3600000", "source": "DYNAMIC_TOPIC_CONFIG"})
    );
    assert_eq!(
        one,
        json!({
            "kind": "KafkaTopicConfig",
            "metadata": {
                "self": retention,
                "resource_name": format!("crn:///kafka={cid}/topic={topic}/config=retention.ms"),
            },
            "cluster_id": cid,
            "name": "retention.ms",
            "value": "3600000",
            "is_default": false,
            "is_read_only": false,
            "is_sensitive": false,
            "source": "DYNAMIC_TOPIC_CONFIG",
            "synonyms": synonyms,
            "topic_name": topic,
        })
    );

    let (status, _, _) = v3_call("DELETE", &retention, None).await;
    assert_eq!(status, 204);
    let native = common::topic_configs_when(&stack, &topic, |n| n["retention.ms"].1).await;
    assert!(native["retention.ms"].1, "{:?}", native["retention.ms"]);

    let alter = proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}/configs:alter"));
    let batch = json!({"data": [
        {"name": "cleanup.policy", "value": "compact"},
        {"name": "segment.ms", "value": "600000", "operation": "SET"},
    ]});
    let mut dry = batch.clone();
    dry["validate_only"] = json!(true);
    let (status, _, body) = v3_call("POST", &alter, Some(dry)).await;
    assert_eq!((status, &body), (204, &Value::Null));
    let native = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
    assert!(native["cleanup.policy"].1, "validate_only changed nothing");
    let (status, _, _) = v3_call("POST", &alter, Some(batch)).await;
    assert_eq!(status, 204);
    let native = common::topic_configs_when(&stack, &topic, |n| {
        n["cleanup.policy"].0.as_deref() == Some("compact")
            && n["segment.ms"].0.as_deref() == Some("600000")
    })
    .await;
    assert_eq!(native["cleanup.policy"].0.as_deref(), Some("compact"));
    assert_eq!(native["segment.ms"].0.as_deref(), Some("600000"));
    let (status, _, _) = v3_call(
        "POST",
        &alter,
        Some(json!({"data": [{"name": "segment.ms", "operation": "DELETE"}]})),
    )
    .await;
    assert_eq!(status, 204);
    let native = common::topic_configs_when(&stack, &topic, |n| n["segment.ms"].1).await;
    assert!(native["segment.ms"].1);
    assert_eq!(native["cleanup.policy"].0.as_deref(), Some("compact"));

    let unknown = v3_call(
        "PUT",
        &format!("{configs}/no.such.config"),
        Some(json!({"value": "1"})),
    )
    .await;
    assert_eq!(
        (unknown.0, unknown.2),
        (
            404,
            json!({"error_code": 404, "message": format!("Config no.such.config cannot be found for TOPIC {topic} in cluster {cid}.")})
        )
    );
    let (status, _, body) = v3_call("GET", &format!("{configs}/no.such.config"), None).await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 404, "message": "HTTP 404 Not Found"})
        )
    );
    let invalid = v3_call("PUT", &retention, Some(json!({"value": "soon"}))).await;
    assert_eq!(invalid.0, 400, "{}", invalid.2);
    assert_eq!(invalid.2["error_code"], 40002);
    let null = v3_call("PUT", &retention, Some(json!({"value": null}))).await;
    assert_eq!(
        (null.0, null.2),
        (
            400,
            json!({"error_code": 40002, "message": "Null value not supported for : retention.ms"})
        )
    );
    let missing_topic = v3_call(
        "GET",
        &proxy.url(&format!("/v3/clusters/{cid}/topics/{topic}-nope/configs")),
        None,
    )
    .await;
    assert_eq!(missing_topic.0, 404, "{}", missing_topic.2);
    assert_eq!(missing_topic.2["error_code"], 40403);
}

#[tokio::test]
async fn every_topics_configs_and_a_batch_over_several_topics() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let topic = common::rand_topic("v3-all-configs");
    common::create_topic(&stack, &topic, 1).await;
    let all = proxy.url(&format!("/v3/clusters/{cid}/topics/-/configs"));
    let (status, _, list) = v3_call("GET", &all, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "KafkaTopicConfigList");
    let ours = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|c| c["topic_name"] == json!(topic))
        .count();
    let native = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
    assert_eq!(ours, native.len());

    let missing = format!("{topic}-nope");
    let (status, _, body) = v3_call(
        "POST",
        &format!("{all}:alter"),
        Some(json!({"data": [
            {"topic_name": topic, "configs": [{"name": "retention.ms", "value": "1800000"}]},
            {"topic_name": missing, "configs": [{"name": "retention.ms", "value": "1800000"}]},
        ]})),
    )
    .await;
    assert_eq!(status, 207, "{body}");
    let failures = body["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 1, "{body}");
    assert_eq!(failures[0]["topic_name"], json!(missing));
    assert_eq!(failures[0]["error_code"], 40403);
    let native = common::topic_configs_when(&stack, &topic, |n| {
        n["retention.ms"].0.as_deref() == Some("1800000")
    })
    .await;
    assert_eq!(native["retention.ms"].0.as_deref(), Some("1800000"));
}

#[tokio::test]
async fn broker_configs_change_per_broker_and_cluster_wide_ones_are_read_only() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cid = cluster_id(&proxy).await;
    let (_, _, brokers) = v3_call(
        "GET",
        &proxy.url(&format!("/v3/clusters/{cid}/brokers")),
        None,
    )
    .await;
    let broker = brokers["data"][0]["broker_id"].as_i64().expect("a broker") as i32;
    let configs = proxy.url(&format!("/v3/clusters/{cid}/brokers/{broker}/configs"));
    let (status, _, list) = v3_call("GET", &configs, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "KafkaBrokerConfigList");
    assert!(list["data"]
        .as_array()
        .expect("data")
        .iter()
        .all(|c| c["broker_id"] == json!(broker)));

    // A cleaner setting that no test depends on, set on one broker and reset again.
    let name = "log.cleaner.backoff.ms";
    let one = format!("{configs}/{name}");
    let before = common::native_configs(&stack, ResourceSpecifier::Broker(broker)).await;
    let (status, _, body) = v3_call(
        "POST",
        &format!("{configs}:alter"),
        Some(json!({"data": [{"name": name, "value": "15002"}], "validate_only": true})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let now = common::native_configs(&stack, ResourceSpecifier::Broker(broker)).await;
    assert_eq!(now[name], before[name], "validate_only changed nothing");
    // A value of this run's own, so that a concurrent run of this test cannot pass it.
    let value = (15001 + std::process::id() % 900).to_string();
    let (status, _, body) = v3_call("PUT", &one, Some(json!({"value": value}))).await;
    assert_eq!((status, &body), (204, &Value::Null));
    broker_config_becomes(&stack, broker, name, &(Some(value.clone()), false)).await;
    let (status, _, entry) = v3_call("GET", &one, None).await;
    assert_eq!(status, 200, "{entry}");
    assert_eq!(entry["kind"], "KafkaBrokerConfig");
    assert_eq!(entry["value"], json!(value));
    assert_eq!(entry["source"], "DYNAMIC_BROKER_CONFIG");
    assert_eq!(
        entry["metadata"]["resource_name"],
        json!(format!("crn:///kafka={cid}/broker={broker}/config={name}"))
    );
    let (status, _, _) = v3_call("DELETE", &one, None).await;
    assert_eq!(status, 204);
    broker_config_becomes(&stack, broker, name, &before[name]).await;

    let (status, _, all) = v3_call(
        "GET",
        &proxy.url(&format!("/v3/clusters/{cid}/brokers/-/configs")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(all["data"]
        .as_array()
        .expect("data")
        .iter()
        .any(|c| c["broker_id"] == json!(broker) && c["name"] == json!(name)));

    let wide = proxy.url(&format!("/v3/clusters/{cid}/broker-configs"));
    let (status, _, list) = v3_call("GET", &wide, None).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["kind"], "KafkaClusterConfigList");
    assert!(list["data"]
        .as_array()
        .expect("data")
        .iter()
        .all(|c| c["source"] == "DYNAMIC_DEFAULT_BROKER_CONFIG" && c["config_type"] == "BROKER"));
    let refused = json!({
        "error_code": 501,
        "message": "Changing cluster-wide broker configs is not supported by this proxy; change them on each broker or with Kafka's tools.",
    });
    let put = v3_call(
        "PUT",
        &format!("{wide}/{name}"),
        Some(json!({"value": "15001"})),
    )
    .await;
    assert_eq!((put.0, put.2), (501, refused.clone()));
    let delete = v3_call("DELETE", &format!("{wide}/{name}"), None).await;
    assert_eq!((delete.0, delete.2), (501, refused));
    let unknown = v3_call("GET", &format!("{wide}/no.such.config"), None).await;
    assert_eq!(
        (unknown.0, unknown.2),
        (
            404,
            json!({"error_code": 404, "message": "HTTP 404 Not Found"})
        )
    );
}
