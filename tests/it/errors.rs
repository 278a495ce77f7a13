//! Framework-level errors carry the Confluent JSON error body, and every request body, consumer
//! control bodies included, is bounded in size and in time.

use std::time::Duration;

use serde_json::json;

use crate::common::{self, TestProxy};
use crate::require_stack;

#[tokio::test]
async fn framework_errors_have_the_json_error_body() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let client = reqwest::Client::new();
    // (method, path, status, error_code)
    let cases = [
        ("GET", "/no/such/path", 404, 404),
        ("DELETE", "/topics", 405, 405),
        ("POST", "/brokers", 405, 405),
    ];
    for (method, path, status, code) in cases {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let resp = client
            .request(method.clone(), proxy.url(path))
            .send()
            .await
            .expect("request");
        assert_eq!(resp.status().as_u16(), status, "{method} {path}");
        assert_eq!(
            resp.headers()["content-type"],
            "application/vnd.kafka.v2+json",
            "{method} {path}"
        );
        let body: serde_json::Value = resp.json().await.expect("json body");
        assert_eq!(body["error_code"], code, "{method} {path}: {body}");
        assert!(body["message"].is_string(), "{method} {path}: {body}");
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_trickled_consumer_control_body_is_cut_off_with_408_like_a_produce_body() {
    let stack = require_stack!();
    let group = common::rand_group("trickle");
    let mut props = common::proxy_properties(&stack);
    props.set("request.body.timeout.ms", "700");
    let proxy = TestProxy::start_with(props).await;
    let addr = proxy.base.trim_start_matches("http://").to_string();

    let body = br#"{"name":"trickled","format":"binary"}"#;
    let head = format!(
        "POST /consumers/{group} HTTP/1.1\r\nHost: x\r\nContent-Type: application/vnd.kafka.v2+json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let (answer, took) = tokio::task::spawn_blocking(move || {
        crate::reliability::raw_exchange(
            &addr,
            head.as_bytes(),
            body,
            Duration::from_millis(300),
            Duration::from_secs(8),
        )
    })
    .await
    .expect("slow client");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error_code":408"#), "{answer}");
    assert!(took < Duration::from_secs(5), "{took:?}");

    // The cut-off request created no instance, and the proxy still serves.
    let (status, body) = common::call(
        "GET",
        &proxy.url(&format!(
            "/consumers/{group}/instances/trickled/subscription"
        )),
        None,
        None,
    )
    .await;
    assert_eq!(
        (status, &body["error_code"]),
        (404, &json!(40403)),
        "{body}"
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_consumer_control_body_over_its_own_limit_gets_413() {
    let stack = require_stack!();
    let group = common::rand_group("control-limit");
    let mut props = common::proxy_properties(&stack);
    props.set("consumer.request.body.max.bytes", "64");
    let proxy = TestProxy::start_with(props).await;
    let url = proxy.url(&format!("/consumers/{group}"));

    let (status, body) = common::call(
        "POST",
        &url,
        None,
        Some(json!({"name": "n".repeat(100), "format": "binary"})),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            413,
            json!({"error_code": 413, "message": "HTTP 413 Payload Too Large"})
        )
    );
    // A body within the limit is read as before.
    let (status, body) = common::call(
        "POST",
        &url,
        None,
        Some(json!({"name": "small", "format": "binary"})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = common::call(
        "DELETE",
        &proxy.url(&format!("/consumers/{group}/instances/small")),
        None,
        None,
    )
    .await;
    assert_eq!(status, 204);
    proxy.stop().await;
}
