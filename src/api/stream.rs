//! `GET /consumers/{group}/instances/{instance}/records/stream`: the records of a consumer
//! instance pushed as Server-Sent Events, or over WebSocket when the request asks for the
//! upgrade; an extension beyond Confluent (`docs/decisions.md` §51, §62).
//!
//! The generated adapter cannot answer a streamed `text/event-stream` body or an upgrade (it
//! encodes one JSON value per answer), so `app.rs` mounts this endpoint beside it; the v2
//! document describes it in its description. This module owns the event format, the
//! `Last-Event-ID` resume, the heartbeats, the WebSocket framing and the end of the streams at
//! shutdown; reading and storing offsets is the consumer manager's (`consume/`).
//!
//! One event per record: `id` lists, for every partition the stream has delivered, the offset
//! of its last delivered record as `topic:partition:offset` joined by commas, and `data` is the
//! record as a records call renders it. A reconnect sending that id as `Last-Event-ID` (or as
//! the `last_event_id` query parameter) seeks each listed partition to the offset after it.
//! Both transports pull: the next records are read only when the transport asks for the next
//! step, that is after the previous batch was written (SSE: the server asked for the next body
//! chunk; WebSocket: the messages were flushed), so a slow client slows the reads and nothing
//! queues up; and the offsets of a batch are stored for commit only then.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use kafka_rest_api::support::accept;
use poem::http::{header, StatusCode};
use poem::web::websocket::{CloseCode, Message, WebSocket, WebSocketStream};
use poem::{Body, Endpoint, FromRequest, IntoResponse, Request, Response};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::consume::reader::Returned;
use crate::consume::{ConsumeError, ConsumerManager, SeekPosition, SeekTarget, TopicPartition};
use crate::error::ProxyError;
use crate::records::ConsumedRecord;

/// The media type of the stream.
pub const EVENT_STREAM: &str = "text/event-stream";

/// The route `app.rs` mounts this endpoint at (poem's path syntax).
pub const PATH: &str = "/consumers/:group_name/instances/:instance/records/stream";

/// The stream endpoint over the consumer instances; `heartbeat` is
/// `consumer.stream.heartbeat.ms`; the streams end when `closing` becomes `true`.
pub fn endpoint(
    consumers: ConsumerManager,
    heartbeat: Duration,
    closing: watch::Receiver<bool>,
) -> impl Endpoint<Output = Response> {
    let streams = Streams::default();
    poem::endpoint::make(move |req: Request| {
        let (consumers, streams, closing) = (consumers.clone(), streams.clone(), closing.clone());
        async move { open(consumers, streams, heartbeat, closing, req).await }
    })
}

/// The open streams: the newest stream of each instance, by number. A stream opened for an
/// instance replaces the one before (a client that reconnects is the same reader, and the old
/// connection may not be known to be closed until a write to it fails), so two streams never
/// take records from one instance. Holds one entry per open stream; a stream removes its
/// entry when it ends.
#[derive(Clone, Default)]
struct Streams {
    newest: Arc<StdMutex<HashMap<(String, String), u64>>>,
    numbers: Arc<AtomicU64>,
}

impl Streams {
    fn register(&self, key: &(String, String)) -> u64 {
        let number = self.numbers.fetch_add(1, Ordering::Relaxed);
        lock(&self.newest).insert(key.clone(), number);
        number
    }

    fn is_current(&self, key: &(String, String), number: u64) -> bool {
        lock(&self.newest).get(key) == Some(&number)
    }

    fn end(&self, key: &(String, String), number: u64) {
        let mut newest = lock(&self.newest);
        if newest.get(key) == Some(&number) {
            newest.remove(key);
        }
    }
}

fn lock<T>(mutex: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The map is only inserted into and removed from; no panic leaves it half-changed.
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The query of a stream: `last_event_id` stands in for the `Last-Event-ID` header, which a
/// browser's `WebSocket` cannot send.
#[derive(serde::Deserialize)]
struct StreamQuery {
    last_event_id: Option<String>,
}

/// Checks the request, seeks when it resumes, and answers with the event stream, or with the
/// WebSocket upgrade when the request asks for one.
async fn open(
    consumers: ConsumerManager,
    streams: Streams,
    heartbeat: Duration,
    closing: watch::Receiver<bool>,
    req: Request,
) -> Result<Response, ProxyError> {
    let group = req
        .raw_path_param("group_name")
        .unwrap_or_default()
        .to_string();
    let instance = req
        .raw_path_param("instance")
        .unwrap_or_default()
        .to_string();
    let upgrade = req
        .header(header::UPGRADE)
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let socket = if upgrade {
        // A WebSocket handshake carries no `Accept`; the upgrade itself is the choice.
        let socket = WebSocket::from_request_without_body(&req)
            .await
            .map_err(|e| ProxyError::BadRequest {
                message: format!("Invalid WebSocket upgrade request: {e}"),
            })?;
        Some(socket)
    } else {
        let ranges = accept::parse(
            req.headers()
                .get_all(header::ACCEPT)
                .iter()
                .filter_map(|value| value.to_str().ok()),
        );
        if !accept::accepts_any(ranges.as_deref(), &[EVENT_STREAM]) {
            return Err(ProxyError::NotAcceptable);
        }
        None
    };
    // An unknown instance answers 40403 before the stream starts.
    consumers.format_of(&group, &instance)?;
    let key = (group.clone(), instance.clone());
    let query = req
        .params::<StreamQuery>()
        .map_err(|e| ProxyError::BadRequest {
            message: format!("Invalid query: {e}"),
        })?;
    let last = req
        .header("last-event-id")
        .map(str::to_string)
        .or(query.last_event_id)
        .filter(|v| !v.trim().is_empty());
    let mut positions = BTreeMap::new();
    if let Some(last) = last {
        positions = parse_event_id(&last).ok_or_else(|| ProxyError::BadRequest {
            message: format!(
                "Invalid Last-Event-ID {last:?}: expected topic:partition:offset entries \
                 joined by commas"
            ),
        })?;
    }
    // Registered before the seek: an older stream of the instance reads no more once the
    // seek has the instance.
    let number = streams.register(&key);
    if !positions.is_empty() {
        let targets = positions
            .iter()
            .map(|((topic, partition), offset)| SeekTarget {
                partition: TopicPartition {
                    topic: topic.clone(),
                    partition: *partition,
                },
                position: SeekPosition::Offset(offset.saturating_add(1)),
            })
            .collect();
        if let Err(e) = consumers.seek(&group, &instance, targets).await {
            streams.end(&key, number);
            return Err(e.into());
        }
    }
    let stream = EventStream {
        consumers,
        streams,
        number,
        group,
        instance,
        heartbeat,
        closing,
        positions,
        delivered: Returned::default(),
        last_write: Instant::now(),
        opened: false,
        ended: None,
        done: false,
    };
    if let Some(socket) = socket {
        return Ok(socket
            .on_upgrade(move |socket| serve_socket(stream, socket))
            .into_response());
    }
    let body = futures::stream::unfold(stream, |mut s| async move {
        s.next_chunk()
            .await
            .map(|chunk| (Ok::<_, std::io::Error>(chunk), s))
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .content_type(EVENT_STREAM)
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_bytes_stream(body)))
}

/// What a stream hands its transport next.
enum Next {
    /// The stream is open: SSE writes a comment so that the client sees it at once.
    Open,
    /// Records, each with the event id that names the positions after it.
    Events(Vec<(String, String)>),
    /// Nothing was written for `consumer.stream.heartbeat.ms`.
    Heartbeat,
    /// A read failed: the Confluent error body as JSON; the stream ends after it.
    Failed(String),
}

/// Why a stream ended without an error.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Ended {
    /// The instance was deleted, or a newer stream of it took over.
    Instance,
    /// The proxy shuts down.
    Closing,
}

/// The state of one open stream, whatever carries it (SSE or WebSocket).
struct EventStream {
    consumers: ConsumerManager,
    /// Where this stream is registered as `number`; it ends once a newer one replaced it.
    streams: Streams,
    number: u64,
    group: String,
    instance: String,
    heartbeat: Duration,
    /// Becomes `true` when the proxy starts to shut down: the stream ends then.
    closing: watch::Receiver<bool>,
    /// The offset of the last delivered record of each partition: the next event's id.
    positions: BTreeMap<(String, i32), i64>,
    /// The offsets of the records last handed to the transport, stored by the next read: the
    /// transport asks for the next step only once it wrote them to the connection.
    delivered: Returned,
    last_write: Instant,
    opened: bool,
    /// Set once the stream ended (`None` while it runs or after an error event).
    ended: Option<Ended>,
    /// An error was handed out: the stream ends.
    done: bool,
}

impl EventStream {
    /// The next thing to write, or `None` when the stream ends (the instance was deleted, a
    /// newer stream replaced this one, or the proxy shuts down; [`EventStream::ended`] says
    /// which).
    async fn next(&mut self) -> Option<Next> {
        if self.done {
            return None;
        }
        if !self.opened {
            self.opened = true;
            return Some(Next::Open);
        }
        loop {
            if *self.closing.borrow() {
                self.ended = Some(Ended::Closing);
                return None;
            }
            let delivered = std::mem::take(&mut self.delivered);
            let wait_ms = i64::try_from(self.heartbeat.as_millis()).unwrap_or(i64::MAX);
            let key = (self.group.clone(), self.instance.clone());
            let (streams, number) = (&self.streams, self.number);
            let mut closing = self.closing.clone();
            // A shutdown may cut a read short: its records were not stored, so they are not
            // committed when the instance closes, and the group delivers them again.
            let step = tokio::select! {
                step = self.consumers.read_stream_step(
                    &self.group,
                    &self.instance,
                    &delivered,
                    Some(wait_ms),
                    || streams.is_current(&key, number),
                    render,
                ) => step,
                _ = closing.wait_for(|closing| *closing) => {
                    self.ended = Some(Ended::Closing);
                    return None;
                }
            };
            match step {
                Ok(None) | Err(ConsumeError::InstanceNotFound { .. }) => {
                    self.ended = Some(Ended::Instance);
                    return None;
                }
                Ok(Some((events, returned))) => {
                    self.delivered = returned;
                    if !events.is_empty() {
                        self.last_write = Instant::now();
                        return Some(Next::Events(self.identify(events)));
                    }
                    if self.last_write.elapsed() >= self.heartbeat {
                        self.last_write = Instant::now();
                        return Some(Next::Heartbeat);
                    }
                }
                Err(e) => {
                    // The same body a records call would answer with; then the stream ends.
                    self.done = true;
                    let body = ProxyError::from(e).body();
                    return serde_json::to_string(&body).ok().map(Next::Failed);
                }
            }
        }
    }

    /// The events of one batch, each with the positions after its record as its id.
    fn identify(&mut self, events: Vec<Event>) -> Vec<(String, String)> {
        events
            .into_iter()
            .map(|event| {
                self.positions
                    .insert((event.topic, event.partition), event.offset);
                (event_id(&self.positions), event.data)
            })
            .collect()
    }

    /// The next SSE chunk, or `None` when the stream ends.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        Some(match self.next().await? {
            Next::Open => Bytes::from_static(b": open\n\n"),
            Next::Heartbeat => Bytes::from_static(b": heartbeat\n\n"),
            Next::Failed(data) => Bytes::from(format!("event: error\ndata: {data}\n\n")),
            Next::Events(events) => {
                let mut out = String::new();
                for (id, data) in events {
                    out.push_str("id: ");
                    out.push_str(&id);
                    out.push_str("\ndata: ");
                    out.push_str(&data);
                    out.push_str("\n\n");
                }
                Bytes::from(out)
            }
        })
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.streams
            .end(&(self.group.clone(), self.instance.clone()), self.number);
    }
}

/// Serves one stream over an upgraded WebSocket connection: one text message per record,
/// `{"id": <event id>, "record": <record>}`; a ping frame as the heartbeat; a failed read as
/// `{"error": <error body>}` and close code 1011; close code 1000 when the instance is deleted
/// or replaced, 1001 when the proxy shuts down. A batch is stored for commit only once its
/// messages were flushed to the connection, as with SSE.
async fn serve_socket(mut stream: EventStream, socket: WebSocketStream) {
    let (mut sink, mut incoming) = socket.split();
    // The client's frames are read only so that pings are answered and a close is seen.
    let reading = async move {
        while let Some(Ok(message)) = incoming.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let writing = async move {
        while let Some(next) = stream.next().await {
            let sent = match next {
                Next::Open => Ok(()),
                Next::Heartbeat => sink.send(Message::Ping(Vec::new())).await,
                Next::Events(events) => {
                    let mut fed = Ok(());
                    for (id, data) in events {
                        let id = serde_json::Value::String(id);
                        let text = format!("{{\"id\":{id},\"record\":{data}}}");
                        fed = sink.feed(Message::Text(text)).await;
                        if fed.is_err() {
                            break;
                        }
                    }
                    match fed {
                        Ok(()) => sink.flush().await,
                        Err(e) => Err(e),
                    }
                }
                Next::Failed(body) => {
                    let _ = sink
                        .send(Message::Text(format!("{{\"error\":{body}}}")))
                        .await;
                    let close = (CloseCode::Error, "read failed".to_string());
                    let _ = sink.send(Message::Close(Some(close))).await;
                    return;
                }
            };
            if sent.is_err() {
                // The client went away: the batch is not stored, so it comes again.
                return;
            }
        }
        let close = match stream.ended {
            Some(Ended::Closing) => (CloseCode::Away, "the proxy shuts down".to_string()),
            _ => (CloseCode::Normal, "the stream ended".to_string()),
        };
        let _ = sink.send(Message::Close(Some(close))).await;
    };
    futures::pin_mut!(reading, writing);
    futures::future::select(reading, writing).await;
}

/// One record, rendered.
struct Event {
    topic: String,
    partition: i32,
    offset: i64,
    data: String,
}

fn render(records: &[ConsumedRecord]) -> Result<Vec<Event>, crate::consume::RenderError> {
    records
        .iter()
        .map(|r| {
            Ok(Event {
                topic: r.topic.clone(),
                partition: r.partition,
                offset: r.offset,
                data: serde_json::to_string(r)?,
            })
        })
        .collect()
}

/// `topic:partition:offset` per partition, joined by commas. Kafka topic names cannot hold
/// `:` or `,`.
fn event_id(positions: &BTreeMap<(String, i32), i64>) -> String {
    positions
        .iter()
        .map(|((topic, partition), offset)| format!("{topic}:{partition}:{offset}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn parse_event_id(id: &str) -> Option<BTreeMap<(String, i32), i64>> {
    id.split(',')
        .map(|entry| {
            let mut parts = entry.trim().rsplitn(3, ':');
            let offset = parts.next()?.parse::<i64>().ok().filter(|o| *o >= 0)?;
            let partition = parts.next()?.parse::<i32>().ok().filter(|p| *p >= 0)?;
            let topic = parts.next().filter(|t| !t.is_empty())?;
            Some(((topic.to_string(), partition), offset))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_round_trip_and_bad_ones_are_refused() {
        let mut positions = BTreeMap::new();
        positions.insert(("orders.v1".to_string(), 0), 41);
        positions.insert(("orders.v1".to_string(), 2), 7);
        positions.insert(("audit".to_string(), 1), 0);
        let id = event_id(&positions);
        assert_eq!(id, "audit:1:0,orders.v1:0:41,orders.v1:2:7");
        assert_eq!(parse_event_id(&id), Some(positions));
        for bad in ["", "t:0", "t:x:1", "t:0:-1", ":0:1", "t:0:1,", "t:-1:3"] {
            assert_eq!(parse_event_id(bad), None, "{bad:?}");
        }
    }
}
