//! CORS (`access.control.allow.*`): what a browser sees from the proxy. A preflight is an
//! `OPTIONS` with `Origin` and `Access-Control-Request-Method`; a simple request is a `GET` with
//! `Origin`. Without `access.control.allow.origin` the proxy sends no CORS header at all.

use reqwest::header::{HeaderMap, HeaderName};
use reqwest::Method;

use crate::common::{self, TestProxy};
use crate::require_stack;

const APP: &str = "https://app.example";

/// A proxy in front of the stack with these extra properties.
async fn proxy_with(stack: &common::Stack, extra: &[(&str, &str)]) -> TestProxy {
    let mut props = common::proxy_properties(stack);
    for (key, value) in extra {
        props.set(key, *value);
    }
    TestProxy::start_with(props).await
}

async fn preflight(proxy: &TestProxy, origin: &str, method: &str) -> reqwest::Response {
    reqwest::Client::new()
        .request(Method::OPTIONS, proxy.url("/topics"))
        .header("Origin", origin)
        .header("Access-Control-Request-Method", method)
        .header("Access-Control-Request-Headers", "content-type")
        .send()
        .await
        .expect("OPTIONS /topics")
}

async fn get_topics(proxy: &TestProxy, origin: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(proxy.url("/topics"))
        .header("Origin", origin)
        .send()
        .await
        .expect("GET /topics")
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A comma-separated header's items, lower-cased.
fn items(headers: &HeaderMap, name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect()
}

fn no_cors_headers(headers: &HeaderMap) -> bool {
    headers
        .keys()
        .all(|name: &HeaderName| !name.as_str().starts_with("access-control-"))
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_gets_the_configured_methods_and_headers() {
    let stack = require_stack!();
    let proxy = proxy_with(
        &stack,
        &[
            (
                "access.control.allow.origin",
                "https://other.example, https://app.example",
            ),
            ("access.control.allow.methods", "GET,POST,DELETE"),
            ("access.control.allow.headers", "Content-Type,Accept"),
        ],
    )
    .await;
    let resp = preflight(&proxy, APP, "DELETE").await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), Some(APP));
    let mut methods = items(headers, "access-control-allow-methods");
    methods.sort();
    assert_eq!(methods, ["delete", "get", "post"]);
    let mut allowed_headers = items(headers, "access-control-allow-headers");
    allowed_headers.sort();
    assert_eq!(allowed_headers, ["accept", "content-type"]);
    assert_eq!(
        header(headers, "access-control-allow-credentials"),
        Some("true")
    );
    assert_eq!(header(headers, "access-control-max-age"), Some("1800"));

    // A method outside the list gets no permission a browser would accept.
    let refused = preflight(&proxy, APP, "PUT").await;
    assert!(
        header(refused.headers(), "access-control-allow-origin").is_none(),
        "{:?}",
        refused.headers()
    );
}

#[tokio::test]
async fn a_simple_get_from_an_allowed_origin_carries_the_cors_headers_and_the_answer() {
    let stack = require_stack!();
    let topic = common::rand_topic("cors");
    common::create_topic(&stack, &topic, 1).await;
    let proxy = proxy_with(
        &stack,
        &[
            ("access.control.allow.origin", "https://*.example"),
            ("access.control.expose.headers", "X-Kafka-Rest-Trace"),
        ],
    )
    .await;
    let resp = get_topics(&proxy, APP).await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    assert_eq!(header(&headers, "access-control-allow-origin"), Some(APP));
    assert_eq!(
        items(&headers, "access-control-expose-headers"),
        ["x-kafka-rest-trace"]
    );
    assert!(items(&headers, "vary").contains(&"origin".to_string()));
    let names: Vec<String> = resp.json().await.expect("json");
    assert!(names.contains(&topic), "{topic} not in {names:?}");
}

#[tokio::test]
async fn a_wildcard_allows_any_origin_with_confluents_default_methods() {
    let stack = require_stack!();
    let proxy = proxy_with(&stack, &[("access.control.allow.origin", "*")]).await;
    let origin = "http://localhost:3000";
    let resp = preflight(&proxy, origin, "POST").await;
    assert_eq!(resp.status(), 200);
    let headers = resp.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), Some(origin));
    let mut methods = items(headers, "access-control-allow-methods");
    methods.sort();
    assert_eq!(methods, ["get", "head", "post"]);
    let allowed_headers = items(headers, "access-control-allow-headers");
    assert!(
        allowed_headers.contains(&"content-type".to_string()),
        "{allowed_headers:?}"
    );
    let get = get_topics(&proxy, origin).await;
    assert_eq!(get.status(), 200);
    assert_eq!(
        header(get.headers(), "access-control-allow-origin"),
        Some(origin)
    );
}

#[tokio::test]
async fn another_origin_is_served_without_cors_headers() {
    let stack = require_stack!();
    let proxy = proxy_with(&stack, &[("access.control.allow.origin", APP)]).await;
    let resp = get_topics(&proxy, "https://elsewhere.example").await;
    assert_eq!(resp.status(), 200);
    assert!(no_cors_headers(resp.headers()), "{:?}", resp.headers());
}

#[tokio::test]
async fn without_an_allowed_origin_there_are_no_cors_headers() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let get = get_topics(&proxy, APP).await;
    assert_eq!(get.status(), 200);
    assert!(no_cors_headers(get.headers()), "{:?}", get.headers());
    let options = preflight(&proxy, APP, "GET").await;
    assert!(
        no_cors_headers(options.headers()),
        "{:?}",
        options.headers()
    );
}
