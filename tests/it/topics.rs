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
    let resp = reqwest::get(proxy.url("/topics")).await.expect("GET /topics");
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
