//! Records pushed over Server-Sent Events (`GET .../records/stream`), an extension beyond
//! Confluent: events for records written after the stream opened, exact resume with
//! `Last-Event-ID`, commits that never pass what the stream delivered (read back with a native
//! consumer of the group), and the end of the stream when its instance is deleted.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::{self, committed, Stack, TestProxy};
use crate::require_stack;

const EVENTS: &str = "text/event-stream";

/// Deadline for anything that waits on Kafka.
const PATIENCE: Duration = Duration::from_secs(30);

/// One server-sent event (comments are skipped).
#[derive(Debug, PartialEq)]
struct Event {
    id: Option<String>,
    kind: Option<String>,
    data: String,
}

/// An open event stream read chunk by chunk.
struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    async fn open(url: &str, last_event_id: Option<&str>) -> Events {
        let mut req = reqwest::Client::new().get(url).header("accept", EVENTS);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id);
        }
        let response = req.send().await.expect("stream request");
        assert_eq!(response.status().as_u16(), 200);
        assert_eq!(
            response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some(EVENTS)
        );
        Events {
            response,
            buffer: String::new(),
        }
    }

    /// The next event, `None` when the stream ended. Panics after [`PATIENCE`].
    async fn next(&mut self) -> Option<Event> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Event {
                    id: None,
                    kind: None,
                    data: String::new(),
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        event.kind = Some(v.to_string());
                        any = true;
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        event.data.push_str(v);
                        any = true;
                    }
                }
                if any {
                    return Some(event);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "no event within {PATIENCE:?}");
            match tokio::time::timeout(left, self.response.chunk()).await {
                Ok(Ok(Some(chunk))) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                Ok(Ok(None)) => return None,
                Ok(Err(e)) => panic!("stream failed: {e}"),
                Err(_) => panic!("no event within {PATIENCE:?}"),
            }
        }
    }

    /// Waits for the first chunk, which the server sends as soon as the stream is open.
    async fn opened(&mut self) {
        let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
            .await
            .expect("the stream opens")
            .expect("stream")
            .expect("a first chunk");
        self.buffer.push_str(&String::from_utf8_lossy(&chunk));
    }
}

/// A binary instance of a new group, assigned partition 0 of `topic`; returns its base URI.
async fn assigned_instance(
    proxy: &TestProxy,
    group: &str,
    topic: &str,
    auto_commit: bool,
) -> String {
    let (status, created) = common::call(
        "POST",
        &proxy.url(&format!("/consumers/{group}")),
        None,
        Some(
            json!({"name": "streamer", "format": "binary", "auto.offset.reset": "earliest",
                    "auto.commit.enable": auto_commit.to_string()}),
        ),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let base = created["base_uri"].as_str().expect("base_uri").to_string();
    let (status, body) = common::call(
        "POST",
        &format!("{base}/assignments"),
        None,
        Some(json!({"partitions": [{"topic": topic, "partition": 0}]})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    base
}

/// The offset and decoded value of a record event.
fn record_of(event: &Event) -> (i64, String) {
    use base64::Engine;
    let record: Value = serde_json::from_str(&event.data).expect("a JSON record");
    let value = base64::engine::general_purpose::STANDARD
        .decode(record["value"].as_str().expect("binary value"))
        .expect("base64");
    (
        record["offset"].as_i64().expect("offset"),
        String::from_utf8(value).expect("utf-8"),
    )
}

async fn topic_with(stack: &Stack, prefix: &str, count: usize) -> String {
    let topic = common::rand_topic(prefix);
    common::create_topic(stack, &topic, 1).await;
    common::produce_native(stack, &topic, 0, count).await;
    topic
}

#[tokio::test]
async fn records_written_after_the_stream_opened_arrive_as_events_with_their_ids() {
    let stack = require_stack!();
    let topic = topic_with(&stack, "sse-live", 0).await;
    let proxy = TestProxy::start(&stack).await;
    let base = assigned_instance(&proxy, &common::rand_group("sse-live"), &topic, false).await;
    let mut events = Events::open(&format!("{base}/records/stream"), None).await;
    events.opened().await;
    common::produce_native(&stack, &topic, 0, 3).await;
    for i in 0..3_i64 {
        let event = events.next().await.expect("an event");
        assert_eq!(event.id, Some(format!("{topic}:0:{i}")));
        assert_eq!(record_of(&event), (i, format!("record-{i}")));
    }
    proxy.stop().await;
}

#[tokio::test]
async fn a_reconnect_with_last_event_id_resumes_with_no_gap_and_no_repeat() {
    let stack = require_stack!();
    let topic = topic_with(&stack, "sse-resume", 6).await;
    let proxy = TestProxy::start(&stack).await;
    let base = assigned_instance(&proxy, &common::rand_group("sse-resume"), &topic, false).await;
    let url = format!("{base}/records/stream");

    // The client takes two events and goes away; the server may have sent more.
    let mut first = Events::open(&url, None).await;
    let mut got = Vec::new();
    let mut last_id = None;
    for _ in 0..2 {
        let event = first.next().await.expect("an event");
        got.push(record_of(&event));
        last_id = event.id;
    }
    drop(first);
    let last_id = last_id.expect("an id");
    assert_eq!(last_id, format!("{topic}:0:1"));

    let mut second = Events::open(&url, Some(&last_id)).await;
    while got.len() < 6 {
        let event = second.next().await.expect("an event");
        got.push(record_of(&event));
    }
    let expected: Vec<(i64, String)> = (0..6).map(|i| (i, format!("record-{i}"))).collect();
    assert_eq!(got, expected);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_commits_only_what_it_delivered_and_ends_when_the_instance_is_deleted() {
    let stack = require_stack!();
    let topic = topic_with(&stack, "sse-commit", 5).await;
    let proxy = TestProxy::start(&stack).await;
    let group = common::rand_group("sse-commit");
    let base = assigned_instance(&proxy, &group, &topic, true).await;
    let mut events = Events::open(&format!("{base}/records/stream"), None).await;
    let mut got = Vec::new();
    while got.len() < 5 {
        let event = events.next().await.expect("an event");
        got.push(record_of(&event).0);
        // Nothing beyond the records delivered so far is ever committed.
        let delivered = got.len() as i64;
        let now = tokio::task::block_in_place(|| committed(&stack, &group, &topic, 0));
        assert!(now.unwrap_or(0) <= delivered, "{now:?} > {delivered}");
    }
    assert_eq!(got, vec![0, 1, 2, 3, 4]);

    // Deleting the instance commits what was delivered and ends the stream.
    let (status, body) = common::call("DELETE", &base, None, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(events.next().await, None);
    assert_eq!(
        tokio::task::block_in_place(|| committed(&stack, &group, &topic, 0)),
        Some(5)
    );
    proxy.stop().await;
}

#[tokio::test]
async fn a_stream_of_an_unknown_instance_or_with_a_bad_accept_is_refused() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let (status, body) = common::call(
        "GET",
        &proxy.url("/consumers/nobody/instances/none/records/stream"),
        Some(EVENTS),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            404,
            json!({"error_code": 40403, "message": "Consumer instance not found."})
        )
    );
    let (status, body) = common::call(
        "GET",
        &proxy.url("/consumers/nobody/instances/none/records/stream"),
        Some("application/json"),
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (
            406,
            json!({"error_code": 406, "message": "HTTP 406 Not Acceptable"})
        )
    );
    proxy.stop().await;
}

#[tokio::test]
async fn an_idle_stream_writes_heartbeat_comments() {
    let stack = require_stack!();
    let topic = topic_with(&stack, "sse-idle", 0).await;
    let mut props = common::proxy_properties(&stack);
    props.set("consumer.stream.heartbeat.ms", "200");
    let proxy = TestProxy::start_with(props).await;
    let base = assigned_instance(&proxy, &common::rand_group("sse-idle"), &topic, false).await;
    let mut events = Events::open(&format!("{base}/records/stream"), None).await;
    let deadline = Instant::now() + PATIENCE;
    let mut heartbeats = 0;
    while heartbeats < 2 {
        assert!(
            Instant::now() < deadline,
            "no heartbeats: {:?}",
            events.buffer
        );
        let chunk = tokio::time::timeout(PATIENCE, events.response.chunk())
            .await
            .expect("a chunk")
            .expect("stream")
            .expect("the stream is open");
        let text = String::from_utf8_lossy(&chunk);
        heartbeats += text.matches(": heartbeat\n\n").count();
        assert!(!text.contains("data: "), "no records: {text}");
    }
    proxy.stop().await;
}
