//! Framework-level errors carry the Confluent JSON error body.

use crate::common::TestProxy;
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
