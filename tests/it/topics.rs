//! Metadata endpoints against the real cluster.

use crate::common::{self, TestProxy};
use crate::require_stack;

#[tokio::test]
async fn root_answers_an_empty_object() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let resp = reqwest::get(proxy.url("/")).await.expect("GET /");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.kafka.v2+json"
    );
    let body: serde_json::Value = resp.json().await.expect("json");
    assert_eq!(body, serde_json::json!({}));
    proxy.stop().await;
}

#[tokio::test]
async fn topics_lists_new_topics_and_hides_internal_ones() {
    let stack = require_stack!();
    let first = common::rand_topic("list");
    let second = common::rand_topic("list");
    common::create_topic(&stack, &first, 1).await;
    common::create_topic(&stack, &second, 3).await;
    // A committed offset makes the broker create `__consumer_offsets`.
    common::commit_native(&stack, &common::rand_group("list"), &first, 0);
    assert!(common::cluster_topics(&stack).contains(&"__consumer_offsets".to_string()));

    let proxy = TestProxy::start(&stack).await;
    let resp = reqwest::get(proxy.url("/topics"))
        .await
        .expect("GET /topics");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["content-type"],
        "application/vnd.kafka.v2+json"
    );
    let topics: Vec<String> = resp.json().await.expect("a JSON array of names");
    assert!(topics.contains(&first), "{first} missing from {topics:?}");
    assert!(topics.contains(&second), "{second} missing from {topics:?}");
    assert!(
        !topics.iter().any(|t| t == "__consumer_offsets"),
        "internal topic listed: {topics:?}"
    );
    let mut sorted = topics.clone();
    sorted.sort();
    assert_eq!(topics, sorted, "topics come sorted");
    proxy.stop().await;
}

#[tokio::test]
async fn brokers_lists_the_cluster_brokers() {
    let stack = require_stack!();
    let expected: Vec<i32> = {
        let md = common::admin(&stack)
            .inner()
            .fetch_metadata(None, std::time::Duration::from_secs(5))
            .expect("metadata");
        let mut ids: Vec<i32> = md.brokers().iter().map(|b| b.id()).collect();
        ids.sort_unstable();
        ids
    };
    assert!(!expected.is_empty());
    let proxy = TestProxy::start(&stack).await;
    let body: serde_json::Value = reqwest::get(proxy.url("/brokers"))
        .await
        .expect("GET /brokers")
        .json()
        .await
        .expect("json");
    assert_eq!(body, serde_json::json!({ "brokers": expected }));
    proxy.stop().await;
}

#[tokio::test]
async fn topic_details_show_configs_partitions_and_replicas() {
    let stack = require_stack!();
    let topic = common::rand_topic("detail");
    common::create_topic(&stack, &topic, 3).await;
    let proxy = TestProxy::start(&stack).await;

    let (status, ct, body) = common::get_json(&proxy.url(&format!("/topics/{topic}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/vnd.kafka.v2+json");
    assert_eq!(body["name"], topic.as_str());
    // All configs, not only overrides.
    assert_eq!(body["configs"]["cleanup.policy"], "delete", "{body}");
    assert!(
        body["configs"].as_object().map_or(0, |c| c.len()) > 10,
        "{body}"
    );
    let partitions = body["partitions"].as_array().expect("partitions array");
    assert_eq!(partitions.len(), 3);
    for (i, p) in partitions.iter().enumerate() {
        assert_eq!(p["partition"], i);
        let leader = p["leader"].as_i64().expect("leader id");
        assert!(leader >= 0, "{p}");
        assert_eq!(
            p["replicas"],
            serde_json::json!([{ "broker": leader, "leader": true, "in_sync": true }])
        );
    }

    let (status, _, list) =
        common::get_json(&proxy.url(&format!("/topics/{topic}/partitions"))).await;
    assert_eq!(status, 200);
    assert_eq!(&list, &body["partitions"]);

    let (status, _, one) =
        common::get_json(&proxy.url(&format!("/topics/{topic}/partitions/2"))).await;
    assert_eq!(status, 200);
    assert_eq!(&one, &body["partitions"][2]);
    proxy.stop().await;
}

#[tokio::test]
async fn partition_offsets_match_what_kafka_holds() {
    let stack = require_stack!();
    let topic = common::rand_topic("offsets");
    common::create_topic(&stack, &topic, 2).await;
    common::produce_native(&stack, &topic, 1, 7).await;
    let proxy = TestProxy::start(&stack).await;
    let (status, ct, body) =
        common::get_json(&proxy.url(&format!("/topics/{topic}/partitions/1/offsets"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ct, "application/vnd.kafka.v2+json");
    assert_eq!(
        body,
        serde_json::json!({ "beginning_offset": 0, "end_offset": 7 })
    );
    let (_, _, empty) =
        common::get_json(&proxy.url(&format!("/topics/{topic}/partitions/0/offsets"))).await;
    assert_eq!(
        empty,
        serde_json::json!({ "beginning_offset": 0, "end_offset": 0 })
    );
    proxy.stop().await;
}

#[tokio::test]
async fn unknown_topics_and_partitions_are_40401_and_40402() {
    let stack = require_stack!();
    let topic = common::rand_topic("known");
    common::create_topic(&stack, &topic, 1).await;
    let missing = common::rand_topic("missing");
    let proxy = TestProxy::start(&stack).await;
    let cases = [
        (format!("/topics/{missing}"), 40401),
        (format!("/topics/{missing}/partitions"), 40401),
        (format!("/topics/{missing}/partitions/0"), 40401),
        (format!("/topics/{missing}/partitions/0/offsets"), 40401),
        (format!("/topics/{topic}/partitions/5"), 40402),
        (format!("/topics/{topic}/partitions/5/offsets"), 40402),
        (format!("/topics/{topic}/partitions/-1"), 40402),
        (format!("/topics/{topic}/partitions/abc"), 40402),
    ];
    for (path, code) in cases {
        let (status, ct, body) = common::get_json(&proxy.url(&path)).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert_eq!(ct, "application/vnd.kafka.v2+json", "{path}");
        assert_eq!(body["error_code"], code, "{path}: {body}");
        let message = if code == 40401 {
            "Topic not found."
        } else {
            "Partition not found."
        };
        assert_eq!(body["message"], message, "{path}: {body}");
    }
    // The missing topic was not auto-created by looking it up.
    assert!(!common::cluster_topics(&stack).contains(&missing));
    proxy.stop().await;
}

#[tokio::test]
async fn post_root_accepts_an_object_of_strings() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let v2 = "application/vnd.kafka.v2+json";
    let cases = [
        (v2, r#"{"a":"b"}"#, 200, None),
        (v2, "", 200, None),
        (v2, r#"{"a":1}"#, 422, Some(422)),
        (v2, "[1", 400, Some(400)),
        ("text/plain", r#"{"a":"b"}"#, 415, Some(415)),
    ];
    for (ct, body, status, code) in cases {
        let (got, _, json) = common::post_json(&proxy.url("/"), ct, body).await;
        assert_eq!(got, status, "{ct} {body}: {json}");
        match code {
            None => assert_eq!(json, serde_json::json!({})),
            Some(code) => assert_eq!(json["error_code"], code, "{json}"),
        }
    }
    proxy.stop().await;
}
