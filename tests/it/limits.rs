//! The in-flight limits (`inflight.requests.max`, `inflight.bytes.max`) against the real stack:
//! a request held open by a client that sends its body slowly takes a slot and its bytes, other
//! requests are refused with `503` and `Retry-After` while it is held, and everything is given
//! back when it completes or its client goes away. What the produce requests wrote is read back
//! from Kafka.

use std::future::Future;
use std::time::{Duration, Instant};

use rdkafka::Message;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::{self, TestProxy};
use crate::require_stack;

const JSON: &str = "application/vnd.kafka.json.v2+json";
const V2: &str = "application/vnd.kafka.v2+json";
/// How long a condition may take to come true before the test fails.
const DEADLINE: Duration = Duration::from_secs(15);

/// A produce request whose client has sent the head and part of the body, and holds the rest.
struct SlowProduce {
    stream: TcpStream,
    rest: Vec<u8>,
}

impl SlowProduce {
    /// Sends the head and the first half of `body`; with `chunked` the body has no
    /// `Content-Length` and goes as two chunks.
    async fn start(base: &str, topic: &str, body: &[u8], chunked: bool) -> SlowProduce {
        let addr = base.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr)
            .await
            .expect("connect to the proxy");
        let (first, second) = body.split_at(body.len() / 2);
        let mut head = format!(
            "POST /topics/{topic} HTTP/1.1\r\nHost: limits.test\r\nConnection: close\r\n\
             Content-Type: {JSON}\r\n"
        );
        let (sent, rest) = if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            (
                chunk(first),
                [chunk(second), b"0\r\n\r\n".to_vec()].concat(),
            )
        } else {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            (first.to_vec(), second.to_vec())
        };
        stream
            .write_all(&[head.into_bytes(), sent].concat())
            .await
            .expect("send the head and half the body");
        SlowProduce { stream, rest }
    }

    /// Sends the rest of the body and reads the answer: status, headers and JSON body.
    async fn finish(mut self) -> (u16, Value) {
        self.stream
            .write_all(&self.rest)
            .await
            .expect("send the rest of the body");
        let mut raw = Vec::new();
        tokio::time::timeout(DEADLINE, self.stream.read_to_end(&mut raw))
            .await
            .expect("an answer within the deadline")
            .expect("read the answer");
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").expect("an HTTP answer");
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    }
}

fn chunk(data: &[u8]) -> Vec<u8> {
    [
        format!("{:x}\r\n", data.len()).into_bytes(),
        data.to_vec(),
        b"\r\n".to_vec(),
    ]
    .concat()
}

/// A produce body of exactly `len` bytes with one JSON record `{"n": n}` (padded with
/// whitespace, which JSON allows).
fn produce_body(n: u32, len: usize) -> Vec<u8> {
    let mut body = json!({"records": [{"value": {"n": n}}]}).to_string();
    assert!(body.len() <= len, "{len} bytes hold the record");
    body.push_str(&" ".repeat(len - body.len()));
    body.into_bytes()
}

/// Sends the request `make` builds until it is answered with `status`, and returns that answer.
async fn until_status<F, Fut>(status: u16, make: F) -> reqwest::Response
where
    F: Fn() -> Fut,
    Fut: Future<Output = reqwest::Response>,
{
    let start = Instant::now();
    loop {
        let resp = make().await;
        if resp.status().as_u16() == status {
            return resp;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "no {status} within {DEADLINE:?}; last answer {}",
            resp.status()
        );
        tokio::task::yield_now().await;
    }
}

async fn send(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.send().await.expect("an HTTP answer")
}

fn post_produce(client: &reqwest::Client, url: &str, body: Vec<u8>) -> reqwest::RequestBuilder {
    client.post(url).header("content-type", JSON).body(body)
}

/// Checks a refusal: `503`, `Retry-After: 1`, the v2 media type and the whole error body.
async fn assert_refused(resp: reqwest::Response, message: &str) {
    assert_eq!(resp.status().as_u16(), 503);
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("retry-after").as_deref(), Some("1"));
    assert_eq!(header("content-type").as_deref(), Some(V2));
    let body: Value = resp.json().await.expect("a JSON body");
    assert_eq!(body, json!({"error_code": 503, "message": message}));
}

fn values(stack: &common::Stack, topic: &str, count: usize) -> Vec<Value> {
    common::read_all(stack, topic, count, Duration::from_secs(10))
        .iter()
        .map(|m| serde_json::from_slice(m.payload().unwrap_or_default()).unwrap_or(Value::Null))
        .collect()
}

#[tokio::test]
async fn a_request_over_the_request_limit_gets_503_until_the_held_one_completes() {
    let stack = require_stack!();
    let topic = common::rand_topic("limits-requests");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("inflight.requests.max", "1");
    let proxy = TestProxy::start_with(props).await;
    let client = reqwest::Client::new();
    let topics = proxy.url("/topics");

    let slow = SlowProduce::start(&proxy.base, &topic, &produce_body(1, 200), false).await;
    let refused = until_status(503, || send(client.get(&topics))).await;
    assert_refused(
        refused,
        "Too many requests in flight: the limit of 1 is reached; retry later.",
    )
    .await;
    // The probes of load balancers are answered however busy the proxy is.
    for probe in ["/health/live", "/health/ready"] {
        let resp = send(client.get(proxy.url(probe))).await;
        assert_eq!(resp.status().as_u16(), 200, "{probe}");
    }

    let (status, body) = slow.finish().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["offsets"][0]["offset"], 0, "{body}");
    until_status(200, || send(client.get(&topics))).await;
    assert_eq!(values(&stack, &topic, 1), vec![json!({"n": 1})]);
    proxy.stop().await;
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_gives_its_slot_back() {
    let stack = require_stack!();
    let topic = common::rand_topic("limits-disconnect");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props.set("inflight.requests.max", "1");
    let proxy = TestProxy::start_with(props).await;
    let client = reqwest::Client::new();
    let topics = proxy.url("/topics");

    let slow = SlowProduce::start(&proxy.base, &topic, &produce_body(1, 200), false).await;
    until_status(503, || send(client.get(&topics))).await;
    // The client goes away with half its body sent (and well within the body timeout).
    drop(slow);
    until_status(200, || send(client.get(&topics))).await;
    let resp = send(post_produce(
        &client,
        &proxy.url(&format!("/topics/{topic}")),
        produce_body(2, 100),
    ))
    .await;
    assert_eq!(resp.status().as_u16(), 200);
    // Only the completed request was written.
    assert_eq!(values(&stack, &topic, 1), vec![json!({"n": 2})]);
    assert_eq!(common::high_watermark(&stack, &topic, 0), Some(1));
    proxy.stop().await;
}

#[tokio::test]
async fn the_byte_budget_refuses_a_body_that_does_not_fit_while_a_small_one_passes() {
    let stack = require_stack!();
    let topic = common::rand_topic("limits-bytes");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props
        .set("inflight.bytes.max", "1500")
        .set("request.body.max.bytes", "1000");
    let proxy = TestProxy::start_with(props).await;
    let client = reqwest::Client::new();
    let produce_url = proxy.url(&format!("/topics/{topic}"));
    // A 600-byte body to a path that does not exist: 404 while it fits, 503 once the held
    // request has reserved its bytes. It writes nothing to Kafka either way.
    let probe_url = proxy.url("/limits-probe");

    let slow = SlowProduce::start(&proxy.base, &topic, &produce_body(1, 1000), false).await;
    until_status(503, || send(client.post(&probe_url).body(vec![b' '; 600]))).await;

    let big = send(post_produce(&client, &produce_url, produce_body(3, 600))).await;
    assert_refused(
        big,
        "Too many request body bytes in flight: 600 more would exceed the limit of 1500; retry later.",
    )
    .await;
    let small = send(post_produce(&client, &produce_url, produce_body(2, 400))).await;
    assert_eq!(small.status().as_u16(), 200);
    let no_body = send(client.get(proxy.url("/topics"))).await;
    assert_eq!(no_body.status().as_u16(), 200);

    let (status, body) = slow.finish().await;
    assert_eq!(status, 200, "{body}");
    until_status(200, || {
        send(post_produce(&client, &produce_url, produce_body(3, 600)))
    })
    .await;
    assert_eq!(
        values(&stack, &topic, 3),
        vec![json!({"n": 2}), json!({"n": 1}), json!({"n": 3})]
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_chunked_body_reserves_the_whole_body_limit() {
    let stack = require_stack!();
    let topic = common::rand_topic("limits-chunked");
    common::create_topic(&stack, &topic, 1).await;
    let mut props = common::proxy_properties(&stack);
    props
        .set("inflight.bytes.max", "1500")
        .set("request.body.max.bytes", "1000");
    let proxy = TestProxy::start_with(props).await;
    let client = reqwest::Client::new();
    let probe_url = proxy.url("/limits-probe");

    // 100 bytes sent without a length reserve all 1000 a body may hold.
    let slow = SlowProduce::start(&proxy.base, &topic, &produce_body(1, 100), true).await;
    let refused = until_status(503, || send(client.post(&probe_url).body(vec![b' '; 600]))).await;
    assert_refused(
        refused,
        "Too many request body bytes in flight: 600 more would exceed the limit of 1500; retry later.",
    )
    .await;
    let fits = send(client.post(&probe_url).body(vec![b' '; 500])).await;
    assert_eq!(fits.status().as_u16(), 404);

    let (status, body) = slow.finish().await;
    assert_eq!(status, 200, "{body}");
    until_status(404, || send(client.post(&probe_url).body(vec![b' '; 600]))).await;
    assert_eq!(values(&stack, &topic, 1), vec![json!({"n": 1})]);
    proxy.stop().await;
}
