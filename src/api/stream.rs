//! `GET /consumers/{group}/instances/{instance}/records/stream`: the records of a consumer
//! instance pushed as Server-Sent Events, an extension beyond Confluent
//! (`docs/decisions.md` §51).
//!
//! The generated adapter cannot answer a streamed `text/event-stream` body (it encodes one
//! JSON value per answer), so `app.rs` mounts this endpoint beside it; the v2 document
//! describes it in its description. This module owns the event format, the `Last-Event-ID`
//! resume and the heartbeats; reading and storing offsets is the consumer manager's
//! (`consume/`).
//!
//! One event per record: `id` lists, for every partition the stream has delivered, the offset
//! of its last delivered record as `topic:partition:offset` joined by commas, and `data` is the
//! record as a records call renders it. A reconnect sending that id as `Last-Event-ID` seeks
//! each listed partition to the offset after it. The body is a pull stream: the next records
//! are read only when the server asks for the next chunk, that is after the previous one was
//! written to the connection, so a slow client slows the reads and nothing queues up; and the
//! offsets of a batch are stored for commit only then.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_rest_api::support::accept;
use poem::http::{header, StatusCode};
use poem::{Body, Endpoint, Request, Response};
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
/// `consumer.stream.heartbeat.ms`.
pub fn endpoint(
    consumers: ConsumerManager,
    heartbeat: Duration,
) -> impl Endpoint<Output = Response> {
    let streams = Streams::default();
    poem::endpoint::make(move |req: Request| {
        let (consumers, streams) = (consumers.clone(), streams.clone());
        async move { open(consumers, streams, heartbeat, &req).await }
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

/// Checks the request, seeks when it resumes, and answers with the event stream.
async fn open(
    consumers: ConsumerManager,
    streams: Streams,
    heartbeat: Duration,
    req: &Request,
) -> Result<Response, ProxyError> {
    let group = req
        .raw_path_param("group_name")
        .unwrap_or_default()
        .to_string();
    let instance = req
        .raw_path_param("instance")
        .unwrap_or_default()
        .to_string();
    let ranges = accept::parse(
        req.headers()
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok()),
    );
    if !accept::accepts_any(ranges.as_deref(), &[EVENT_STREAM]) {
        return Err(ProxyError::NotAcceptable);
    }
    // An unknown instance answers 40403 before the stream starts.
    consumers.format_of(&group, &instance)?;
    let key = (group.clone(), instance.clone());
    let mut positions = BTreeMap::new();
    let last = req.header("last-event-id").filter(|v| !v.trim().is_empty());
    if let Some(last) = last {
        positions = parse_event_id(last).ok_or_else(|| ProxyError::BadRequest {
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
        positions,
        delivered: Returned::default(),
        last_write: Instant::now(),
        opened: false,
        done: false,
    };
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

/// The state of one open stream.
struct EventStream {
    consumers: ConsumerManager,
    /// Where this stream is registered as `number`; it ends once a newer one replaced it.
    streams: Streams,
    number: u64,
    group: String,
    instance: String,
    heartbeat: Duration,
    /// The offset of the last delivered record of each partition: the next event's id.
    positions: BTreeMap<(String, i32), i64>,
    /// The offsets of the chunk last handed to the server, stored by the next read.
    delivered: Returned,
    last_write: Instant,
    /// Whether the first chunk (a comment that tells the client the stream is open) was sent.
    opened: bool,
    /// An error event was sent: the stream ends.
    done: bool,
}

impl EventStream {
    /// The next chunk to write, or `None` when the stream ends (the instance was deleted or
    /// its reads fail; a failure is sent as an `error` event first).
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.done {
            return None;
        }
        if !self.opened {
            self.opened = true;
            return Some(Bytes::from_static(b": open\n\n"));
        }
        loop {
            let delivered = std::mem::take(&mut self.delivered);
            let wait_ms = i64::try_from(self.heartbeat.as_millis()).unwrap_or(i64::MAX);
            let key = (self.group.clone(), self.instance.clone());
            let (streams, number) = (&self.streams, self.number);
            let step = self
                .consumers
                .read_stream_step(
                    &self.group,
                    &self.instance,
                    &delivered,
                    Some(wait_ms),
                    || streams.is_current(&key, number),
                    render,
                )
                .await;
            match step {
                Ok(None) => return None,
                Ok(Some((events, returned))) => {
                    self.delivered = returned;
                    if !events.is_empty() {
                        self.last_write = Instant::now();
                        return Some(self.chunk(events));
                    }
                    if self.last_write.elapsed() >= self.heartbeat {
                        self.last_write = Instant::now();
                        return Some(Bytes::from_static(b": heartbeat\n\n"));
                    }
                }
                Err(ConsumeError::InstanceNotFound { .. }) => return None,
                Err(e) => {
                    // The same body a records call would answer with; then the stream ends.
                    self.done = true;
                    let body = ProxyError::from(e).body();
                    let data = serde_json::to_string(&body).ok()?;
                    return Some(Bytes::from(format!("event: error\ndata: {data}\n\n")));
                }
            }
        }
    }

    /// The events of one batch, each with the positions after its record as its id.
    fn chunk(&mut self, events: Vec<Event>) -> Bytes {
        let mut out = String::new();
        for event in events {
            self.positions
                .insert((event.topic, event.partition), event.offset);
            out.push_str("id: ");
            out.push_str(&event_id(&self.positions));
            out.push_str("\ndata: ");
            out.push_str(&event.data);
            out.push_str("\n\n");
        }
        Bytes::from(out)
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.streams
            .end(&(self.group.clone(), self.instance.clone()), self.number);
    }
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
