//! `Accept` negotiation against the generated route table: the operation a request reaches,
//! not the shape of its path, decides which media types it can answer in, so a topic or an
//! instance named like a fixed path segment (`records`) gets the same 406 as any other.

use crate::common::{rand_topic, TestProxy};
use crate::require_stack;

/// Sends `method path` with `accept`, and returns the status and the body's `error_code`.
async fn call(proxy: &TestProxy, method: reqwest::Method, path: &str, accept: &str) -> (u16, i64) {
    let resp = reqwest::Client::new()
        .request(method, proxy.url(path))
        .header("accept", accept)
        .header("content-type", "application/vnd.kafka.binary.v2+json")
        .body(r#"{"records":[{"value":"AQ=="}]}"#)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap_or_default();
    (status, body["error_code"].as_i64().unwrap_or_default())
}

#[tokio::test]
async fn a_topic_named_records_gets_its_406_for_an_unacceptable_accept() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    for (method, path) in [
        (reqwest::Method::GET, "/topics/records"),
        (reqwest::Method::POST, "/topics/records"),
        (reqwest::Method::GET, "/topics/records/partitions"),
        (reqwest::Method::POST, "/topics/records/partitions/0"),
    ] {
        assert_eq!(
            call(&proxy, method.clone(), path, "text/html").await,
            (406, 406),
            "{method} {path}"
        );
    }
    proxy.stop().await;
}

#[tokio::test]
async fn an_acceptable_accept_still_reaches_the_operation() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let missing = format!("/topics/{}", rand_topic("negotiation-missing"));
    for accept in ["application/json", "application/vnd.kafka.v2+json", "*/*"] {
        // The topic does not exist: the operation itself answers.
        assert_eq!(
            call(&proxy, reqwest::Method::GET, &missing, accept).await,
            (404, 40401),
            "{accept}"
        );
    }
    // A `q` that is not a number makes its range unacceptable, in every parser alike.
    assert_eq!(
        call(
            &proxy,
            reqwest::Method::GET,
            &missing,
            "application/json;q=abc"
        )
        .await,
        (406, 406)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_instance_named_records_is_negotiated_as_a_control_call() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let group = rand_topic("negotiation-group");
    // The instance does not exist; a control call on it answers 406 for `text/html` before
    // looking it up, and its own 404 for a consumer embedded type.
    let subscription = format!("/consumers/{group}/instances/records/subscription");
    assert_eq!(
        call(&proxy, reqwest::Method::GET, &subscription, "text/html").await,
        (406, 406)
    );
    assert_eq!(
        call(
            &proxy,
            reqwest::Method::GET,
            &subscription,
            "application/vnd.kafka.json.v2+json"
        )
        .await
        .0,
        404
    );
    proxy.stop().await;
}
