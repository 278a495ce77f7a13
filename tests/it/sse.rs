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

/// An open WebSocket stream of a consumer instance.
type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// What a WebSocket stream sent next: a record message's id and record, or the close code.
#[derive(Debug, PartialEq)]
enum Pushed {
    Record(String, Value),
    Closed(Option<u16>),
}

async fn open_socket(base: &str, last_event_id: Option<&str>) -> Socket {
    let mut url = format!("{}/records/stream", base.replacen("http://", "ws://", 1));
    if let Some(id) = last_event_id {
        url.push_str(&format!("?last_event_id={id}"));
    }
    let (socket, response) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .expect("WebSocket handshake");
    assert_eq!(response.status().as_u16(), 101);
    socket
}

/// The next record message or the close, skipping pings. Panics after [`PATIENCE`].
async fn pushed(socket: &mut Socket) -> Pushed {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    loop {
        let message = tokio::time::timeout(PATIENCE, socket.next())
            .await
            .unwrap_or_else(|_| panic!("nothing pushed within {PATIENCE:?}"));
        match message {
            Some(Ok(Message::Text(text))) => {
                let message: Value = serde_json::from_str(&text).expect("a JSON message");
                let id = message["id"].as_str().expect("an id").to_string();
                return Pushed::Record(id, message["record"].clone());
            }
            Some(Ok(Message::Close(frame))) => {
                return Pushed::Closed(frame.map(|f| u16::from(f.code)));
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("the socket failed: {e}"),
            None => return Pushed::Closed(None),
        }
    }
}

fn binary_value(record: &Value) -> String {
    use base64::Engine;
    let value = base64::engine::general_purpose::STANDARD
        .decode(record["value"].as_str().expect("binary value"))
        .expect("base64");
    String::from_utf8(value).expect("utf-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_websocket_stream_resumes_after_last_event_id_and_closes_when_the_instance_is_deleted()
{
    let stack = require_stack!();
    let topic = topic_with(&stack, "ws-resume", 6).await;
    let proxy = TestProxy::start(&stack).await;
    let group = common::rand_group("ws-resume");
    let base = assigned_instance(&proxy, &group, &topic, true).await;

    let mut socket = open_socket(&base, None).await;
    for i in 0..3_i64 {
        let Pushed::Record(id, record) = pushed(&mut socket).await else {
            panic!("a record")
        };
        assert_eq!(id, format!("{topic}:0:{i}"));
        assert_eq!(
            (record["offset"].as_i64(), binary_value(&record)),
            (Some(i), format!("record-{i}"))
        );
    }
    drop(socket);

    // A browser's WebSocket cannot send headers: the id goes in the query.
    let mut socket = open_socket(&base, Some(&format!("{topic}:0:2"))).await;
    let mut got = Vec::new();
    while got.len() < 3 {
        let Pushed::Record(id, record) = pushed(&mut socket).await else {
            panic!("a record")
        };
        let offset = record["offset"].as_i64().expect("offset");
        assert_eq!(id, format!("{topic}:0:{offset}"));
        got.push((offset, binary_value(&record)));
    }
    let expected: Vec<(i64, String)> = (3..6).map(|i| (i, format!("record-{i}"))).collect();
    assert_eq!(got, expected);

    let (status, body) = common::call("DELETE", &base, None, None).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(pushed(&mut socket).await, Pushed::Closed(Some(1000)));
    // What the socket delivered, and nothing else, was committed when the instance closed.
    assert_eq!(
        tokio::task::block_in_place(|| committed(&stack, &group, &topic, 0)),
        Some(6)
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_end_as_soon_as_the_proxy_shuts_down() {
    let stack = require_stack!();
    let topic = topic_with(&stack, "sse-shutdown", 0).await;
    let mut props = common::proxy_properties(&stack);
    // Far longer than the test waits: the streams must end on the shutdown itself.
    props.set("shutdown.graceful.ms", "120000");
    let proxy = TestProxy::start_with(props).await;
    let sse_base =
        assigned_instance(&proxy, &common::rand_group("sse-shutdown"), &topic, false).await;
    let ws_base =
        assigned_instance(&proxy, &common::rand_group("ws-shutdown"), &topic, false).await;
    let mut events = Events::open(&format!("{sse_base}/records/stream"), None).await;
    events.opened().await;
    let mut socket = open_socket(&ws_base, None).await;

    let stopping = tokio::spawn(proxy.stop());
    assert_eq!(events.next().await, None);
    assert_eq!(pushed(&mut socket).await, Pushed::Closed(Some(1001)));
    tokio::time::timeout(PATIENCE, stopping)
        .await
        .expect("the proxy stops without waiting for shutdown.graceful.ms")
        .expect("the stop task");
}

/// A `/proc/{pid}/status` figure in bytes (`VmRSS`, `VmHWM`).
fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .unwrap_or_else(|| panic!("no {field} in {status}"))
}

/// 100 streams on one proxy whose clients stop reading: each stream waits for its client
/// instead of reading the partition into memory, so the proxy's peak memory stays far below
/// what the streams would hold if it buffered (100 × 4 MB of records, more as JSON).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_streams_with_stalled_clients_keep_the_proxy_memory_bounded() {
    const STREAMS: usize = 100;
    const RECORDS: usize = 400;
    const VALUE_BYTES: usize = 10_000;
    let stack = require_stack!();
    let topic = common::rand_topic("sse-hundred");
    common::create_topic(&stack, &topic, 1).await;
    {
        use rdkafka::producer::{FutureProducer, FutureRecord};
        let producer: FutureProducer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", &stack.bootstrap)
            .create()
            .expect("producer");
        let sends = (0..RECORDS).map(|i| {
            let payload = format!("{i:08}{}", "x".repeat(VALUE_BYTES - 8));
            let producer = producer.clone();
            let topic = topic.clone();
            async move {
                producer
                    .send(
                        FutureRecord::<(), _>::to(&topic)
                            .partition(0)
                            .payload(&payload),
                        Duration::from_secs(30),
                    )
                    .await
                    .expect("delivered");
            }
        });
        futures::future::join_all(sends).await;
    }
    let dir = std::env::temp_dir().join(format!("kafka-rest-it-hundred-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let config = dir.join("kafka-rest.properties");
    // Small batches and a small librdkafka prefetch, so that what each stream may hold is
    // small; the topic is far larger than either.
    std::fs::write(
        &config,
        format!(
            "listeners=http://127.0.0.1:0\nbootstrap.servers={}\n\
             consumer.request.max.bytes=65536\nconsumer.queued.max.messages.kbytes=256\n\
             consumer.message.max.bytes=65536\nconsumer.max.partition.fetch.bytes=65536\n",
            stack.bootstrap
        ),
    )
    .expect("write config");
    let proxy = common::BinaryProxy::start(&config);
    let proxy_base = proxy.base.clone();
    let proxy_url = |path: &str| format!("{proxy_base}{path}");

    let mut bases = Vec::new();
    for _ in 0..STREAMS {
        let group = common::rand_group("sse-hundred");
        let (status, created) = common::call(
            "POST",
            &proxy_url(&format!("/consumers/{group}")),
            None,
            Some(json!({"format": "binary", "auto.offset.reset": "earliest"})),
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
        bases.push(base);
    }
    let before = proc_status_bytes(proxy.pid(), "VmRSS");

    // Every client takes its first record, then stops reading for a while.
    let mut streams = Vec::new();
    for base in &bases {
        let mut events = Events::open(&format!("{base}/records/stream"), None).await;
        let first = events.next().await.expect("a first event");
        assert_eq!(record_of(&first).0, 0);
        streams.push(events);
    }
    // Let the proxy do whatever it would do with stalled clients: wait until its memory has
    // not grown for two seconds (bounded).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = proc_status_bytes(proxy.pid(), "VmRSS");
    let mut steady_since = Instant::now();
    while steady_since.elapsed() < Duration::from_secs(2) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let now = proc_status_bytes(proxy.pid(), "VmRSS");
        if now > last + (1 << 20) {
            steady_since = Instant::now();
        }
        last = last.max(now);
    }

    // Then every client reads its stream to the end: all records, in order, none twice.
    let readers = streams.into_iter().map(|mut events| async move {
        let mut next = 1_i64;
        while next < RECORDS as i64 {
            let event = events.next().await.expect("an event");
            let (offset, value) = record_of(&event);
            assert_eq!(offset, next);
            assert!(value.starts_with(&format!("{next:08}")), "{offset}");
            next += 1;
        }
    });
    futures::future::join_all(readers).await;

    let peak = proc_status_bytes(proxy.pid(), "VmHWM");
    let grown = peak.saturating_sub(before);
    let buffered_all = (STREAMS * RECORDS * VALUE_BYTES) as u64;
    assert!(
        grown < buffered_all / 2,
        "the proxy grew by {} MB with {STREAMS} streams (before: {} MB)",
        grown >> 20,
        before >> 20
    );
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}
