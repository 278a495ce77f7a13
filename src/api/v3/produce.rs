//! `RecordsApi`: v3 produce. `POST .../topics/{topic_name}/records` reads a stream of JSON
//! records and streams one result line per record back while the client is still sending;
//! `POST .../records:batch` produces a batch and answers `207` with the results by entry id.
//!
//! This module owns the HTTP side of a stream: framing the body into records
//! (`records::stream`), decoding each into a [`StreamRecord`], the bounds of a stream (records
//! in flight, record size, maximum age and grace period, the rate limits) and the result lines,
//! in request order. Checking, converting and sending a record is the produce service's
//! (`produce::RecordStream`); the per-record error codes are `error.rs`'s.
//!
//! The stream's work is a future driven by the response body (`Driven`), so it runs in the
//! connection's task: it reads the next chunk of the body only while fewer than
//! `api.v3.produce.streaming.inflight.records.max` records await Kafka and while the
//! producer's queue has room (the send waits for it), and it writes each result into a
//! small channel that the response body drains, so a client that does not read its results
//! stops the reading too. Nothing queues without a bound.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::channel::mpsc;
use futures::{FutureExt, SinkExt, Stream, StreamExt};
use kafka_rest_api::v3::{self, decode, models};
use kafka_rest_api::{ByteString, DateTimeString, Nullable, RawBody, RawResponse, Vnd};
use poem::http::HeaderValue;
use poem::{Body, Request};
use serde::Serialize;
use tokio::time::Instant;

use super::{V3Service, JSON};
use crate::config::Config;
use crate::error::{v3_bad_record, v3_record_error, ErrorBody, ProxyError};
use crate::produce::rate::{ProduceRates, RateLimited};
use crate::produce::{
    Later, PendingRecord, RecordFailure, RecordProduced, RecordStream, SideInfo, SideRequest,
    StreamRecord,
};
use crate::records::plain_record::{read_plain_prefix, read_plain_record, PlainRecord, PlainSide};
use crate::records::stream::{encode_plain, FrameError, Framed, JsonFramer, PlainFormat};
use crate::records::Header;
use crate::schema::{SchemaFormat, SchemaSpec, SubjectNameStrategy};

/// Writes of result lines a stream may have made that the connection has not taken yet.
const LINES_BUFFERED: usize = 64;

/// A write of result lines gathers the lines already known up to about this many bytes, so
/// the lines buffered for the connection stay within `LINES_BUFFERED` x this (plus a line).
const LINES_BATCH_BYTES: usize = 16 * 1024;

/// About the length of what follows the prefix (cluster and topic) in a success line without
/// a key (partition, offset, timestamp, the value's type and size, nulls: ~150 bytes), to size
/// a batch of lines once; a batch that outgrew its guess was copied into a larger buffer.
const LINE_TAIL_GUESS: usize = 160;

/// The bounds of v3 produce, from the configuration.
#[derive(Debug, Clone)]
pub struct ProduceSettings {
    /// `api.v3.produce.request.size.limit.max.bytes`.
    pub record_max_bytes: usize,
    /// `api.v3.produce.streaming.inflight.records.max`.
    pub inflight_max: usize,
    /// `api.v3.produce.batch.maximum.entries`.
    pub batch_max_entries: usize,
    /// `streaming.connection.max.duration.ms`.
    pub max_duration: Duration,
    /// `streaming.connection.max.duration.grace.period.ms`.
    pub grace_period: Duration,
    /// `request.body.timeout.ms`: the longest wait for the first record of a stream.
    pub first_record_timeout: Duration,
}

impl ProduceSettings {
    pub fn from_config(config: &Config) -> ProduceSettings {
        ProduceSettings {
            record_max_bytes: config.v3_produce_record_max_bytes,
            inflight_max: config.v3_produce_inflight_records_max,
            batch_max_entries: config.v3_produce_batch_max_entries,
            max_duration: config.v3_streaming_max_duration,
            grace_period: config.v3_streaming_grace_period,
            first_record_timeout: config.request_body_timeout,
        }
    }
}

impl v3::RecordsApi for V3Service {
    type Error = ProxyError;

    /// `POST .../topics/{topic_name}/records`: the streamed produce (see the module doc).
    async fn produce_record(
        &self,
        _req: &Request,
        cluster_id: String,
        topic_name: String,
        body: RawBody<models::ProduceRequest, v3::media::ProduceRecordBody>,
    ) -> Result<v3::ProduceRecordResponse, ProxyError> {
        let cluster_id = self.cluster(&cluster_id).await?;
        let settings = self.http.produce.clone();
        let mut body = Box::pin(body.into_body().into_bytes_stream());
        let mut framer = JsonFramer::new(settings.record_max_bytes);
        // The answer is committed (200) only once the body holds something: an empty body is
        // refused as a whole, as Confluent does.
        loop {
            let chunk = match tokio::time::timeout(settings.first_record_timeout, body.next()).await
            {
                Err(_elapsed) => {
                    return Err(ProxyError::BodyTimeout {
                        timeout_ms: settings.first_record_timeout.as_millis(),
                    })
                }
                Ok(None) => {
                    return Err(ProxyError::V3PayloadError {
                        message: "Request body is empty. Data is required.".into(),
                    })
                }
                Ok(Some(Err(e))) => {
                    return Err(ProxyError::BadRequest {
                        message: format!("Cannot read the request body: {e}"),
                    })
                }
                Ok(Some(Ok(chunk))) => chunk,
            };
            let started = chunk.iter().any(|b| !b.is_ascii_whitespace());
            framer.push(&chunk);
            if started {
                break;
            }
        }
        let (tx, rx) = mpsc::channel::<Bytes>(LINES_BUFFERED);
        let stream = Streaming {
            records: self.services.produce.stream(&topic_name),
            prefix: success_prefix(&cluster_id, &topic_name),
            topic: topic_name,
            settings,
            rates: self.http.produce_rates.clone(),
        };
        let lines = Driven {
            run: Some(Box::pin(stream.run(framer, body, tx))),
            lines: rx,
        };
        Ok(v3::ProduceRecordResponse::Ok(RawResponse::new(
            HeaderValue::from_static(JSON),
            Body::from_bytes_stream(lines),
        )))
    }

    /// `POST .../topics/{topic_name}/records:batch`: every entry produced, then `207` with
    /// the results by id.
    async fn produce_records_batch(
        &self,
        _req: &Request,
        cluster_id: String,
        topic_name: String,
        body: RawBody<models::ProduceBatchRequest, v3::media::ProduceRecordsBatchBody>,
    ) -> Result<v3::ProduceRecordsBatchResponse, ProxyError> {
        let cluster_id = self.cluster(&cluster_id).await?;
        let batch = self
            .body(body, decode::decode_produce_records_batch)
            .await?;
        let settings = &self.http.produce;
        let invalid = |message: String| ProxyError::V3InvalidBatch { message };
        if batch.entries.is_empty() {
            return Err(invalid("The batch has no entries.".into()));
        }
        if batch.entries.len() > settings.batch_max_entries {
            return Err(invalid(format!(
                "The batch has {} entries; at most {} are allowed.",
                batch.entries.len(),
                settings.batch_max_entries
            )));
        }
        let mut ids = HashSet::new();
        if let Some(dup) = batch.entries.iter().find(|e| !ids.insert(e.id.as_str())) {
            return Err(invalid(format!("The entry id {:?} is not unique.", dup.id)));
        }
        let bytes: u64 = batch
            .entries
            .iter()
            .map(|e| serde_json::to_vec(&e.id).map_or(0, |v| v.len() as u64))
            .sum();
        let rates = &self.http.produce_rates;
        if let Err(limited) = rates.check(batch.entries.len() as u64, bytes.max(1)) {
            return Err(ProxyError::V3RateLimited {
                retry_after_secs: limited.retry_after_secs(),
            });
        }
        let mut records = self.services.produce.stream(&topic_name);
        let mut pending = Vec::with_capacity(batch.entries.len());
        for entry in batch.entries {
            let outcome = match record_of(
                entry.partition_id,
                entry.headers,
                entry.key,
                entry.value,
                entry.timestamp,
            ) {
                Err(message) => Err(v3_bad_record(&message)),
                Ok(record) => Ok(records.send(record).await),
            };
            pending.push((entry.id, outcome));
        }
        let mut successes = Vec::new();
        let mut failures = Vec::new();
        for (id, outcome) in pending {
            let outcome = match outcome {
                Err(body) => Err(body),
                Ok(pending) => pending.outcome().await.map_err(v3_record_error),
            };
            match outcome {
                Ok(produced) => successes.push(models::ProduceBatchSuccess {
                    id,
                    cluster_id: cluster_id.clone(),
                    topic_name: topic_name.clone(),
                    partition_id: produced.delivery.partition,
                    offset: produced.delivery.offset,
                    timestamp: Some(kafka_rest_api::Nullable(
                        produced
                            .delivery
                            .timestamp
                            .and_then(render_timestamp)
                            .map(DateTimeString),
                    )),
                    key: side_model(produced.key),
                    value: side_model(produced.value),
                }),
                Err(body) => failures.push(models::ProduceBatchFailure {
                    id,
                    error_code: i32::try_from(body.error_code).unwrap_or(i32::MAX),
                    message: body.message,
                }),
            }
        }
        Ok(v3::ProduceRecordsBatchResponse::Status207(Vnd::new(
            models::ProduceBatchResponse {
                successes,
                failures,
            },
        )))
    }
}

/// The task of one stream: its records, in order, with their bounds.
struct Streaming {
    records: RecordStream,
    /// The start of every success line (code, cluster and topic, escaped once), shared with
    /// every record's result future.
    prefix: Arc<[u8]>,
    /// For the log only.
    topic: String,
    settings: ProduceSettings,
    rates: ProduceRates,
}

/// The result lines of the records in flight, oldest first. Lines go out in request order, so
/// only the oldest is polled: the records behind it complete without waking the stream's task
/// (their delivery reports are kept until their turn), and a wake-up per record, with the
/// bookkeeping of a set of futures polled in any order, is not paid. A record's line is a
/// plain value, not a boxed future, and one timer serves the whole stream: it is set to the
/// oldest record's deadline and, when it goes off early (that record was answered), moved to
/// the deadline of the record then oldest; deadlines only grow along the queue.
struct InFlight<R = PendingRecord> {
    lines: VecDeque<Line<R>>,
    /// The start of every success line (code, cluster and topic, escaped once).
    prefix: Arc<[u8]>,
    /// The stream's one timer, made for its first record that had to wait.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
}

/// The line of one record of a stream.
enum Line<R = PendingRecord> {
    /// Known already (a record refused before it reached Kafka).
    Ready(Bytes),
    /// Once Kafka answered.
    Record(R),
}

/// What [`InFlight`] needs of a record's outcome: [`PendingRecord`]'s, as a trait so that the
/// order of the lines and the timer can be tested without Kafka.
trait Outcome: Future<Output = Result<RecordProduced, RecordFailure>> + Unpin {
    /// When to stop waiting; `None` when the outcome is known.
    fn deadline(&self) -> Option<Instant>;
    /// The outcome once the deadline passed.
    fn timed_out(&self) -> RecordFailure;
}

impl Outcome for PendingRecord {
    fn deadline(&self) -> Option<Instant> {
        PendingRecord::deadline(self)
    }

    fn timed_out(&self) -> RecordFailure {
        PendingRecord::timed_out(self)
    }
}

impl<R: Outcome> InFlight<R> {
    fn new(prefix: Arc<[u8]>) -> InFlight<R> {
        InFlight {
            lines: VecDeque::new(),
            prefix,
            timer: None,
        }
    }

    fn len(&self) -> usize {
        self.lines.len()
    }

    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn push_back(&mut self, line: Line<R>) {
        self.lines.push_back(line);
    }

    /// Writes the oldest record's line into `out` once it is known: `true` then, `false` when
    /// nothing is in flight. The line is written where it goes, not made on its own first.
    fn next_into<'a>(&'a mut self, out: &'a mut Vec<u8>) -> NextLine<'a, R> {
        NextLine {
            in_flight: self,
            out,
        }
    }

    /// Whether `deadline` (the oldest record's) has passed; if not, the timer wakes the task
    /// at that deadline at the latest.
    fn expired(&mut self, deadline: Instant, cx: &mut Context<'_>) -> bool {
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() > deadline {
            timer.as_mut().reset(deadline);
        }
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return false;
            }
            if timer.deadline() >= deadline {
                return true;
            }
            timer.as_mut().reset(deadline);
        }
    }
}

/// The future of [`InFlight::next_into`].
struct NextLine<'a, R> {
    in_flight: &'a mut InFlight<R>,
    out: &'a mut Vec<u8>,
}

impl<R: Outcome> Future for NextLine<'_, R> {
    type Output = bool;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let NextLine { in_flight, out } = &mut *self;
        let outcome = match in_flight.lines.front_mut() {
            None => return Poll::Ready(false),
            Some(Line::Ready(line)) => {
                out.extend_from_slice(line);
                in_flight.lines.pop_front();
                return Poll::Ready(true);
            }
            Some(Line::Record(pending)) => match Pin::new(&mut *pending).poll(cx) {
                Poll::Ready(outcome) => outcome,
                Poll::Pending => {
                    let Some(deadline) = pending.deadline() else {
                        return Poll::Pending;
                    };
                    if !in_flight.expired(deadline, cx) {
                        return Poll::Pending;
                    }
                    match in_flight.lines.front() {
                        Some(Line::Record(pending)) => Err(pending.timed_out()),
                        _ => return Poll::Pending,
                    }
                }
            },
        };
        in_flight.lines.pop_front();
        match outcome {
            Ok(produced) => write_success(out, &in_flight.prefix, &produced),
            Err(failure) => out.extend_from_slice(&error_line(&v3_record_error(failure))),
        }
        Poll::Ready(true)
    }
}

/// The body of a stream's answer: its result lines, with the stream's work (`run`) driven by
/// whoever polls the body, the connection's task. A delivery report then wakes that task
/// alone, and the lines and the request body stay within it: no task of its own per stream
/// and no hand-over between tasks per batch of lines.
struct Driven<F> {
    /// `None` once the stream is done; its last lines may still be in `lines`.
    run: Option<Pin<Box<F>>>,
    lines: mpsc::Receiver<Bytes>,
}

impl<F: Future<Output = ()>> Stream for Driven<F> {
    type Item = std::io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if let Some(run) = self.run.as_mut() {
            if run.as_mut().poll(cx).is_ready() {
                self.run = None;
            }
        }
        self.lines.poll_next_unpin(cx).map(|line| line.map(Ok))
    }
}

/// What became of one framed record.
enum Next {
    /// Its result line, once known.
    Line(Line),
    /// The stream cannot go on: this is its last line.
    End(Bytes),
}

impl Streaming {
    /// Reads records from `body` (`framer` holds what was read already) and writes one result
    /// line per record into `lines`, in order, until the body ends, a record cannot be read,
    /// the client goes away or the stream outlives its maximum age and grace period.
    async fn run(
        mut self,
        mut framer: JsonFramer,
        mut body: impl Stream<Item = std::io::Result<Bytes>> + Unpin,
        mut lines: mpsc::Sender<Bytes>,
    ) {
        let expires = Instant::now() + self.settings.max_duration;
        let mut closes: Option<Instant> = None;
        let mut pending = InFlight::new(Arc::clone(&self.prefix));
        // The result lines on their way to the client; handed over as one chunk.
        let mut batch = Vec::new();
        let mut reading = true;
        let mut last: Option<Bytes> = None;
        let line_guess = self.prefix.len() + LINE_TAIL_GUESS;
        loop {
            while reading && pending.len() < self.settings.inflight_max {
                // The common record is read as it is framed, in one pass; the framer cuts the
                // others for the general reader, whose errors the answers carry.
                let expired = closes.is_some();
                let sent = match framer.next_read(|b| match expired {
                    false => plain_stream_prefix(b),
                    true => None,
                }) {
                    None => break,
                    Some(Err(e)) => Ok(Next::End(frame_error_line(&e))),
                    Some(Ok(Framed::Read { value, len })) => self.send(value, len),
                    Some(Ok(Framed::Object(object))) => self.record(&object, expired),
                };
                let next = match sent {
                    Ok(next) => next,
                    Err(later) => Next::Line(Line::Record(self.records.send_later(later).await)),
                };
                match next {
                    Next::Line(line) => pending.push_back(line),
                    Next::End(line) => {
                        reading = false;
                        last = Some(line);
                    }
                }
            }
            if !reading && pending.is_empty() {
                break;
            }
            let room = reading && pending.len() < self.settings.inflight_max;
            let far = expires + self.settings.grace_period + Duration::from_secs(1);
            if batch.capacity() == 0 {
                // Up to the batch bound and the line that crosses it.
                batch.reserve((pending.len() * line_guess).min(LINES_BATCH_BYTES + line_guess));
            }
            tokio::select! {
                biased;
                true = pending.next_into(&mut batch), if !pending.is_empty() => {
                    // Every result already known goes out with this one, as one write: a
                    // frame and a wake-up of the connection per line cost more than the line.
                    while batch.len() < LINES_BATCH_BYTES {
                        if pending.next_into(&mut batch).now_or_never() != Some(true) {
                            break;
                        }
                    }
                    if lines.send(Bytes::from(std::mem::take(&mut batch))).await.is_err() {
                        // The client went away; the records in flight still complete.
                        return;
                    }
                }
                _ = tokio::time::sleep_until(closes.unwrap_or(far)), if closes.is_some() => {
                    tracing::debug!(topic = %self.topic, "produce stream closed past its maximum age");
                    return;
                }
                _ = tokio::time::sleep_until(expires), if closes.is_none() => {
                    closes = Some(Instant::now() + self.settings.grace_period);
                }
                chunk = body.next(), if room => match chunk {
                    Some(Ok(bytes)) => framer.push(&bytes),
                    None => {
                        reading = false;
                        if let Err(e) = framer.finish() {
                            last = Some(frame_error_line(&e));
                        }
                    }
                    Some(Err(e)) => {
                        // The request body broke off (the client reset or timed out): there
                        // is nobody to tell.
                        tracing::debug!(topic = %self.topic, error = %e, "produce stream body failed");
                        reading = false;
                    }
                },
            }
        }
        if let Some(line) = last {
            let _ = lines.send(line).await;
        }
    }

    /// Decodes, checks and sends one record; its line is ready at once when it fails before
    /// reaching Kafka. A record that needs the metadata, the registry or room in the
    /// producer's queue comes back, for `send_later`.
    fn record(&mut self, object: &[u8], expired: bool) -> Result<Next, Later> {
        if expired {
            return Ok(Next::Line(Line::Ready(error_line(&ErrorBody {
                error_code: 408,
                message: "Streaming connection open for longer than allowed: Connection will \
                          be closed."
                    .into(),
            }))));
        }
        let request = match decode::decode_produce_record(object) {
            Ok(request) => request,
            Err(e) if e.is_data() => {
                return Ok(Next::Line(Line::Ready(error_line(&v3_bad_record(
                    &e.to_string(),
                )))))
            }
            Err(e) => {
                return Ok(Next::End(error_line(&v3_bad_record(&format!(
                    "Error processing JSON: {e}"
                )))))
            }
        };
        // The rate limits come before the record's own checks, as for a record of the
        // one-pass reader.
        if let Some(refused) = self.rate_limited(object.len()) {
            return Ok(refused);
        }
        match record_of_request(request) {
            Ok(record) => Ok(Next::Line(Line::Record(self.records.try_send(record)?))),
            Err(message) => Ok(Next::Line(Line::Ready(error_line(&v3_bad_record(
                &message,
            ))))),
        }
    }

    /// Sends a record of the one-pass reader, `len` bytes long, unless the rate limits refuse
    /// it. (It takes the record alone, not as one side of a `Result` with the general
    /// reader's larger request, which would be moved whole.)
    fn send(&mut self, record: StreamRecord, len: usize) -> Result<Next, Later> {
        if let Some(refused) = self.rate_limited(len) {
            return Ok(refused);
        }
        Ok(Next::Line(Line::Record(self.records.try_send(record)?)))
    }

    /// The line of a record `len` bytes long that the rate limits refuse; `None` lets it
    /// through.
    fn rate_limited(&self, len: usize) -> Option<Next> {
        let RateLimited { .. } = self.rates.check(1, len as u64).err()?;
        Some(Next::Line(Line::Ready(error_line(&ErrorBody {
            error_code: 429,
            message: "Request rate limit exceeded: The rate limit of requests per second has \
                      been exceeded."
                .into(),
        }))))
    }
}

fn frame_error_line(e: &FrameError) -> Bytes {
    error_line(&v3_bad_record(&e.to_string()))
}

/// One result line: the JSON and Confluent's `\r\n`.
fn line<T: Serialize>(value: &T) -> Bytes {
    let mut out = serde_json::to_vec(value).unwrap_or_else(|_| {
        // Only strings and numbers are serialized here, which cannot fail.
        br#"{"error_code":500,"message":"Internal Server Error"}"#.to_vec()
    });
    out.extend_from_slice(b"\r\n");
    Bytes::from(out)
}

fn error_line(body: &ErrorBody) -> Bytes {
    line(body)
}

/// The result of a record Kafka acknowledged, as serde would write it: what
/// [`success_line`] writes by hand (compared in a test).
#[cfg(test)]
#[derive(Serialize)]
struct Success<'a> {
    error_code: u32,
    cluster_id: &'a str,
    topic_name: &'a str,
    partition_id: i32,
    offset: i64,
    timestamp: Option<String>,
    /// Only for a key or value whose format is known (Confluent leaves the others out).
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<SideJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value: Option<SideJson>,
}

#[cfg(test)]
#[derive(Serialize)]
struct SideJson {
    #[serde(rename = "type")]
    format: &'static str,
    size: usize,
    subject: Option<String>,
    schema_id: Option<i32>,
    schema_version: Option<i32>,
}

#[cfg(test)]
impl From<SideInfo> for SideJson {
    fn from(s: SideInfo) -> SideJson {
        let (subject, schema_id, schema_version) = match s.schema {
            Some(schema) => (
                Some(schema.subject),
                Some(schema.schema_id),
                schema.schema_version,
            ),
            None => (None, None, None),
        };
        SideJson {
            format: s.format,
            size: s.size,
            subject,
            schema_id,
            schema_version,
        }
    }
}

/// `{"error_code":200,"cluster_id":...,"topic_name":...,"partition_id":`: what every success
/// line of a stream starts with.
fn success_prefix(cluster_id: &str, topic: &str) -> Arc<[u8]> {
    // Sized once: the fixed text and the four quotes are 65 bytes, and names rarely need
    // escapes.
    let mut out = Vec::with_capacity(65 + cluster_id.len() + topic.len());
    out.extend_from_slice(br#"{"error_code":200,"cluster_id":"#);
    json_string(&mut out, cluster_id);
    out.extend_from_slice(br#","topic_name":"#);
    json_string(&mut out, topic);
    out.extend_from_slice(br#","partition_id":"#);
    Arc::from(out)
}

/// A JSON string, escaped as serde_json escapes it.
fn json_string(out: &mut Vec<u8>, s: &str) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

/// The line of a record Kafka acknowledged, written by hand: it is written once per record of
/// every stream, and serde with `format!`-rendered timestamps cost about a third of a
/// record's instructions. The same bytes as [`Success`] serialized (a test compares them).
fn write_success(out: &mut Vec<u8>, prefix: &[u8], produced: &RecordProduced) {
    out.extend_from_slice(prefix);
    let mut numbers = itoa::Buffer::new();
    out.extend_from_slice(numbers.format(produced.delivery.partition).as_bytes());
    out.extend_from_slice(br#","offset":"#);
    out.extend_from_slice(numbers.format(produced.delivery.offset).as_bytes());
    out.extend_from_slice(br#","timestamp":"#);
    let at = out.len();
    out.push(b'"');
    match produced.delivery.timestamp {
        Some(millis) if write_timestamp(out, millis) => out.push(b'"'),
        _ => {
            out.truncate(at);
            out.extend_from_slice(b"null");
        }
    }
    for (name, side) in [
        (&br#","key":"#[..], &produced.key),
        (br#","value":"#, &produced.value),
    ] {
        if let Some(side) = side {
            out.extend_from_slice(name);
            side_json(out, side, &mut numbers);
        }
    }
    out.extend_from_slice(b"}\r\n");
}

/// [`write_success`] as a line of its own.
#[cfg(test)]
fn success_line(prefix: &[u8], produced: &RecordProduced) -> Bytes {
    let mut out = Vec::new();
    write_success(&mut out, prefix, produced);
    Bytes::from(out)
}

/// A key or value of a success line, as [`SideJson`] serializes it.
fn side_json(out: &mut Vec<u8>, side: &SideInfo, numbers: &mut itoa::Buffer) {
    // The format is one of six upper-case names: nothing to escape.
    out.extend_from_slice(br#"{"type":""#);
    out.extend_from_slice(side.format.as_bytes());
    out.push(b'"');
    out.extend_from_slice(br#","size":"#);
    out.extend_from_slice(numbers.format(side.size).as_bytes());
    out.extend_from_slice(br#","subject":"#);
    let Some(schema) = &side.schema else {
        out.extend_from_slice(br#"null,"schema_id":null,"schema_version":null}"#);
        return;
    };
    json_string(out, &schema.subject);
    for (name, value) in [
        (&br#","schema_id":"#[..], Some(schema.schema_id)),
        (br#","schema_version":"#, schema.schema_version),
    ] {
        out.extend_from_slice(name);
        match value {
            Some(n) => out.extend_from_slice(numbers.format(n).as_bytes()),
            None => out.extend_from_slice(b"null"),
        }
    }
    out.push(b'}');
}

fn side_model(side: Option<SideInfo>) -> Option<models::ProduceResponseData> {
    side.map(|s| {
        let schema = s.schema.map(|schema| *schema);
        models::ProduceResponseData {
            r#type: s.format.to_string(),
            size: i64::try_from(s.size).unwrap_or(i64::MAX),
            subject: Some(Nullable(schema.as_ref().map(|s| s.subject.clone()))),
            schema_id: Some(Nullable(schema.as_ref().map(|s| s.schema_id))),
            schema_version: Some(Nullable(schema.and_then(|s| s.schema_version))),
        }
    })
}

/// Milliseconds since the epoch as Confluent writes them: `2021-02-05T19:14:42.123Z`. Written
/// by hand (every result line has one): the civil date of the day number is Howard Hinnant's
/// `civil_from_days`. Years outside 0000-9999 are left to jiff.
fn render_timestamp(millis: i64) -> Option<String> {
    let mut out = Vec::with_capacity(24);
    if !write_timestamp(&mut out, millis) {
        return None;
    }
    String::from_utf8(out).ok()
}

/// [`render_timestamp`] appended to `out`; `false` (and nothing written) where there is none.
fn write_timestamp(out: &mut Vec<u8>, millis: i64) -> bool {
    const MAX_MILLIS: i64 = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z
    const MIN_MILLIS: i64 = -62_167_219_200_000; // 0000-01-01T00:00:00.000Z
    if !(MIN_MILLIS..=MAX_MILLIS).contains(&millis) {
        let Ok(t) = jiff::Timestamp::from_millisecond(millis) else {
            return false;
        };
        out.extend_from_slice(t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string().as_bytes());
        return true;
    }
    // Records of a stream mostly share their second: its text is kept per thread.
    thread_local! {
        static LAST_SECOND: std::cell::Cell<(i64, [u8; 20])> =
            const { std::cell::Cell::new((i64::MIN, [0; 20])) };
    }
    let (second, ms) = (millis.div_euclid(1000), millis.rem_euclid(1000));
    let (last, head) = LAST_SECOND.get();
    let head = if last == second {
        head
    } else {
        let head = second_text(second);
        LAST_SECOND.set((second, head));
        head
    };
    out.extend_from_slice(&head);
    let ms = u16::try_from(ms).unwrap_or(0);
    out.extend_from_slice(&[
        b'0' + (ms / 100) as u8,
        b'0' + (ms / 10 % 10) as u8,
        b'0' + (ms % 10) as u8,
        b'Z',
    ]);
    true
}

/// `YYYY-MM-DDTHH:MM:SS.` of a second since the epoch within years 0000 to 9999.
fn second_text(second: i64) -> [u8; 20] {
    let (days, secs) = (second.div_euclid(86_400), second.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Each field zero-padded (every value is in range here).
    let mut text = *b"0000-00-00T00:00:00.";
    let mut put = |at: usize, width: usize, mut value: i64| {
        for i in (at..at + width).rev() {
            text[i] = b'0' + u8::try_from(value % 10).unwrap_or(0);
            value /= 10;
        }
    };
    put(0, 4, year);
    put(5, 2, month);
    put(8, 2, day);
    put(11, 2, secs / 3600);
    put(14, 2, secs / 60 % 60);
    put(17, 2, secs % 60);
    text
}

/// The record `object` holds when it has the common shape `read_plain_record` reads in one
/// pass (plain key and value, no headers or timestamp), else `None`.
pub fn plain_stream_record(object: &[u8]) -> Option<StreamRecord> {
    read_plain_record(object).map(stream_record)
}

/// The record the bytes of a stream begin with and its length, when it has the common shape.
fn plain_stream_prefix(bytes: &[u8]) -> Option<(StreamRecord, usize)> {
    read_plain_prefix(bytes).map(|(r, len)| (stream_record(r), len))
}

fn stream_record(r: PlainRecord) -> StreamRecord {
    let side = |s: PlainSide| SideRequest::Plain {
        format: s.format,
        bytes: s.bytes,
    };
    StreamRecord {
        partition: r.partition,
        headers: Vec::new(),
        timestamp: None,
        key: r.key.map(side),
        value: r.value.map(side),
    }
}

/// The record `object` holds, read by the generated decoder and [`record_of`]: every shape
/// and every error message. The error is the client's message (a per-record `400`).
pub fn general_stream_record(object: &[u8]) -> Result<StreamRecord, String> {
    let request = decode::decode_produce_record(object).map_err(|e| e.to_string())?;
    record_of_request(request)
}

fn record_of_request(request: decode::ProduceRequest) -> Result<StreamRecord, String> {
    record_of(
        request.partition_id,
        request.headers,
        request.key,
        request.value,
        request.timestamp,
    )
}

/// A decoded record in domain terms; the error is the client's message (a per-record `400`).
fn record_of(
    partition_id: Option<i32>,
    headers: Option<Vec<decode::ProduceRequestHeader>>,
    key: Option<decode::ProduceRequestData>,
    value: Option<decode::ProduceRequestData>,
    timestamp: Option<DateTimeString>,
) -> Result<StreamRecord, String> {
    if let Some(p) = partition_id.filter(|p| *p < 0) {
        return Err(format!("partition_id={p} is not a partition."));
    }
    let headers = headers
        .unwrap_or_default()
        .into_iter()
        .map(|h| {
            let value = match h.value {
                None => None,
                Some(ByteString(v)) => Some(crate::records::decode_base64(&v).map_err(|_| {
                    format!("The value of header {:?} is not a base64 string.", h.name)
                })?),
            };
            Ok(Header {
                name: h.name,
                value,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let timestamp = match timestamp {
        None => None,
        Some(DateTimeString(t)) => Some(
            t.parse::<jiff::Timestamp>()
                .map_err(|e| format!("timestamp={t:?} is not an ISO-8601 instant: {e}"))?
                .as_millisecond(),
        ),
    };
    Ok(StreamRecord {
        partition: partition_id,
        headers,
        timestamp,
        key: side_of("key", key)?,
        value: side_of("value", value)?,
    })
}

/// One key or value: its format and data, or the schema references that decide them.
fn side_of(
    name: &str,
    data: Option<decode::ProduceRequestData>,
) -> Result<Option<SideRequest>, String> {
    let Some(d) = data else {
        return Ok(None);
    };
    let text = d.data.as_ref().map(|raw| raw.get());
    let plain = match d.r#type.as_deref() {
        None => None,
        Some("BINARY") => Some(PlainFormat::Binary),
        Some("STRING") => Some(PlainFormat::String),
        Some("JSON") => Some(PlainFormat::Json),
        Some("AVRO" | "JSONSCHEMA" | "PROTOBUF") => None,
        Some(other) => return Err(format!("{name}: type={other} is not a known format.")),
    };
    let schema_fields = [
        ("subject", d.subject.is_some()),
        ("subject_name_strategy", d.subject_name_strategy.is_some()),
        ("schema_id", d.schema_id.is_some()),
        ("schema_version", d.schema_version.is_some()),
        ("schema", d.schema.is_some()),
    ];
    if let Some(format) = plain {
        if let Some((field, _)) = schema_fields.iter().find(|(_, set)| *set) {
            return Err(format!(
                "'type={}' cannot be used with '{field}'.",
                format.name()
            ));
        }
        let bytes = encode_plain(format, text).map_err(|e| format!("{name}: {e}"))?;
        return Ok(Some(SideRequest::Plain { format, bytes }));
    }
    let format = match d.r#type.as_deref() {
        Some("AVRO") => Some(SchemaFormat::Avro),
        Some("JSONSCHEMA") => Some(SchemaFormat::JsonSchema),
        Some("PROTOBUF") => Some(SchemaFormat::Protobuf),
        _ => None,
    };
    if d.subject.is_some() && d.subject_name_strategy.is_some() {
        return Err(format!(
            "{name}: 'subject' and 'subject_name_strategy' cannot be used together."
        ));
    }
    let named = [
        d.schema_id.is_some(),
        d.schema_version.is_some(),
        d.schema.is_some(),
    ];
    if named.iter().filter(|n| **n).count() > 1 {
        return Err(format!(
            "{name}: only one of 'schema_id', 'schema_version' and 'schema' may be given."
        ));
    }
    match (format, d.schema.is_some()) {
        (Some(f), false) => {
            return Err(format!(
                "{name}: 'type={}' needs the schema text in 'schema'.",
                f.v3_name()
            ))
        }
        (None, true) => {
            return Err(format!("{name}: 'schema' needs a schema 'type'."));
        }
        _ => {}
    }
    // Nothing to resolve a schema with and no data: a null.
    if format.is_none() && text.is_none() && named.iter().all(|n| !n) && d.subject.is_none() {
        return Ok(None);
    }
    let strategy = match d.subject_name_strategy.as_deref() {
        None => None,
        Some(s) => Some(
            s.parse::<SubjectNameStrategy>()
                .map_err(|_| format!("{name}: subject_name_strategy={s} is not a strategy."))?,
        ),
    };
    Ok(Some(SideRequest::Schema {
        spec: Box::new(SchemaSpec {
            format,
            subject: d.subject,
            strategy,
            schema_id: d.schema_id,
            schema_version: d.schema_version,
            schema: d.schema,
        }),
        data: text.map(str::to_string),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::plain_record::readers_agree_on_mutations;

    /// A record's outcome that a test gives by hand.
    struct Fake {
        outcome: futures::channel::oneshot::Receiver<Result<RecordProduced, RecordFailure>>,
        deadline: Instant,
    }

    impl Future for Fake {
        type Output = Result<RecordProduced, RecordFailure>;

        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
            Pin::new(&mut self.outcome)
                .poll(cx)
                .map(|r| r.expect("the test sends every outcome it awaits"))
        }
    }

    impl Outcome for Fake {
        fn deadline(&self) -> Option<Instant> {
            Some(self.deadline)
        }

        fn timed_out(&self) -> RecordFailure {
            RecordFailure::Delivery(crate::produce::Delivering::timed_out())
        }
    }

    type Answer = futures::channel::oneshot::Sender<Result<RecordProduced, RecordFailure>>;

    fn fake(after: Duration) -> (Answer, Line<Fake>) {
        let (tx, outcome) = futures::channel::oneshot::channel();
        let deadline = Instant::now() + after;
        (tx, Line::Record(Fake { outcome, deadline }))
    }

    fn at_offset(offset: i64) -> Result<RecordProduced, RecordFailure> {
        Ok(RecordProduced {
            delivery: crate::produce::Delivery {
                partition: 0,
                offset,
                timestamp: None,
            },
            key: None,
            value: None,
        })
    }

    fn offset_of(line: Option<Bytes>) -> serde_json::Value {
        let line = line.expect("a line");
        let json: serde_json::Value = serde_json::from_slice(&line).expect("a JSON line");
        json.get("offset")
            .or_else(|| json.get("error_code"))
            .cloned()
            .unwrap_or_default()
    }

    impl InFlight<Fake> {
        /// The next line on its own.
        async fn next(&mut self) -> Option<Bytes> {
            let mut out = Vec::new();
            self.next_into(&mut out).await.then(|| Bytes::from(out))
        }
    }

    /// Awaits the next line, failing the test instead of hanging.
    async fn next_line(pending: &mut InFlight<Fake>) -> Option<Bytes> {
        tokio::time::timeout(Duration::from_secs(10), pending.next())
            .await
            .expect("a line within 10 s")
    }

    #[tokio::test]
    async fn lines_leave_in_request_order_whatever_order_records_complete_in() {
        let long = Duration::from_secs(60);
        let mut pending = InFlight::<Fake>::new(success_prefix("c", "t"));
        let (first, line) = fake(long);
        pending.push_back(line);
        let (second, line) = fake(long);
        pending.push_back(line);
        pending.push_back(Line::Ready(Bytes::from_static(b"{\"error_code\":400}")));
        second.send(at_offset(2)).expect("open");
        assert!(
            pending.next().now_or_never().is_none(),
            "the oldest is not known yet"
        );
        first.send(at_offset(1)).expect("open");
        assert_eq!(offset_of(next_line(&mut pending).await), 1);
        assert_eq!(pending.len(), 2);
        assert_eq!(offset_of(pending.next().now_or_never().flatten()), 2);
        assert_eq!(offset_of(next_line(&mut pending).await), 400);
        assert!(pending.is_empty());
        assert_eq!(pending.next().await, None);
    }

    #[tokio::test]
    async fn one_timer_fails_each_record_not_answered_by_its_deadline() {
        let mut pending = InFlight::<Fake>::new(success_prefix("c", "t"));
        // The timer is first set to the first record's deadline; that record is answered in
        // time, so the timer goes off early and must move to the second record's deadline.
        let (first, line) = fake(Duration::from_millis(50));
        pending.push_back(line);
        let (_second, line) = fake(Duration::from_millis(150));
        pending.push_back(line);
        let (third, line) = fake(Duration::from_secs(60));
        pending.push_back(line);
        first.send(at_offset(1)).expect("open");
        assert_eq!(offset_of(next_line(&mut pending).await), 1);
        // Not answered: the second record's line says its report did not come.
        let line = next_line(&mut pending).await.expect("a line");
        let json: serde_json::Value = serde_json::from_slice(&line).expect("JSON");
        assert_eq!(json["error_code"], 50003, "{json}");
        assert_eq!(
            json["message"],
            "Delivery report not received before the request deadline."
        );
        // The timer went off for the second record, not for the third: it waits for its own.
        assert!(
            pending.next().now_or_never().is_none(),
            "the third record is not due for a minute"
        );
        // The stream goes on: a later record is answered as usual.
        third.send(at_offset(3)).expect("open");
        assert_eq!(offset_of(next_line(&mut pending).await), 3);
        assert!(pending.is_empty());
    }

    #[test]
    fn the_hand_written_success_line_is_what_serde_writes() {
        let plain = SideInfo {
            format: "JSON",
            size: 7,
            schema: None,
        };
        let schema = SideInfo::with_schema("AVRO", 14, "t\"x-value".into(), 3, Some(2));
        let produced = |key: Option<SideInfo>, value: Option<SideInfo>, timestamp| RecordProduced {
            delivery: crate::produce::Delivery {
                partition: 2,
                offset: 1_234_567_890_123,
                timestamp,
            },
            key,
            value,
        };
        for record in [
            produced(None, Some(plain.clone()), Some(1_612_552_482_123)),
            produced(Some(schema.clone()), Some(plain.clone()), None),
            produced(Some(plain.clone()), None, Some(-1)),
            produced(None, None, Some(0)),
        ] {
            let (cluster, topic) = ("lkc-\u{e9}\\1", "topic.with_\"quote\"");
            let by_hand = success_line(&success_prefix(cluster, topic), &record);
            let by_serde = line(&Success {
                error_code: 200,
                cluster_id: cluster,
                topic_name: topic,
                partition_id: record.delivery.partition,
                offset: record.delivery.offset,
                timestamp: record.delivery.timestamp.and_then(render_timestamp),
                key: record.key.clone().map(SideJson::from),
                value: record.value.clone().map(SideJson::from),
            });
            assert_eq!(
                String::from_utf8_lossy(&by_hand),
                String::from_utf8_lossy(&by_serde)
            );
        }
    }

    #[test]
    fn the_hand_written_timestamps_match_jiff_across_the_calendar() {
        let jiff_text = |millis: i64| {
            jiff::Timestamp::from_millisecond(millis)
                .expect("in range")
                .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
                .to_string()
        };
        let mut millis: i64 = -62_167_219_200_000;
        // Steps of a prime number of milliseconds (about 4.6 days) over years 0-9999, then the
        // edges of leap days and centuries.
        // jiff's own range ends 26 hours before the end of 9999.
        while millis <= 253_402_207_200_000 {
            assert_eq!(
                render_timestamp(millis).as_deref(),
                Some(&*jiff_text(millis))
            );
            millis += 399_999_999_967;
        }
        for millis in [
            0,
            -1,
            951_782_400_000,     // 2000-02-29
            951_868_799_999,     // 2000-02-29T23:59:59.999
            -2_203_891_200_001,  // 1900-03-01, a millisecond before
            4_107_542_400_000,   // 2100-03-01
            253_402_207_200_000, // the last instant jiff takes
            -62_167_219_200_000, // year 0
            1_612_552_482_123,   // 2021-02-05T19:14:42.123
            // Within one second (the text of the second is kept), and across the next.
            1_612_552_482_124,
            1_612_552_482_999,
            1_612_552_483_000,
            -1_000,
            -1,
            -1_001,
        ] {
            assert_eq!(
                render_timestamp(millis).as_deref(),
                Some(&*jiff_text(millis)),
                "{millis}"
            );
        }
        assert_eq!(
            render_timestamp(1_612_552_482_123).as_deref(),
            Some("2021-02-05T19:14:42.123Z")
        );
        assert_eq!(
            render_timestamp(253_402_300_799_999).as_deref(),
            Some("9999-12-31T23:59:59.999Z")
        );
        assert_eq!(render_timestamp(253_402_300_800_000), None, "year 10000");
    }

    #[test]
    fn timestamps_are_written_as_confluent_writes_them() {
        assert_eq!(
            render_timestamp(1_612_552_482_123).as_deref(),
            Some("2021-02-05T19:14:42.123Z")
        );
    }

    #[test]
    fn schema_fields_are_refused_with_plain_formats() {
        let data: decode::ProduceRequestData =
            serde_json::from_str(r#"{"type":"BINARY","data":"aGk=","subject":"s"}"#)
                .expect("decodes");
        assert_eq!(
            side_of("value", Some(data)).err().as_deref(),
            Some("'type=BINARY' cannot be used with 'subject'.")
        );
        let data: decode::ProduceRequestData =
            serde_json::from_str(r#"{"type":"AVRO","data":{}}"#).expect("decodes");
        assert!(side_of("value", Some(data)).is_err());
    }

    /// Records of the common shape, in the spellings clients use.
    const PLAIN_RECORDS: &[&str] = &[
        r#"{"value":{"type":"JSON","data":{"a":1,"b":[true,false,null],"c":"x y","d":-0.25}}}"#,
        r#"{"key":{"type":"BINARY","data":"aGVsbG8="},"value":{"type":"STRING","data":"héllo"}}"#,
        "{ \"partition_id\" : 0 ,\n \"key\" : null , \"value\" : { \"data\" : [ 1 ,\t-2.5 , { } , [ ] , \"a b\" ] , \"type\" : \"JSON\" } }\r\n",
        r#"{"partition_id":2,"value":{"type":"JSON","data":null}}"#,
        r#"{"key":{"type":"STRING"},"value":{"type":"BINARY","data":"AAEC"}}"#,
        r#"{"key":{"type":"BINARY","data":"aGVsbG8"},"value":{"type":"JSON","data":"null"}}"#,
        r#"{"partition_id":123456789,"value":{"data":{"nested":{"deeper":[[[]]]}},"type":"JSON"}}"#,
        r#"{"value":{"type":"JSON","data":0}}"#,
        r#"{}"#,
    ];

    /// What the one-pass reader gives, or `None`, with what the general reader gives.
    fn both_readers(object: &[u8]) -> (Option<String>, Result<String, String>) {
        (
            plain_stream_record(object).map(|r| format!("{r:?}")),
            general_stream_record(object).map(|r| format!("{r:?}")),
        )
    }

    #[test]
    fn the_one_pass_reader_reads_the_common_records_as_the_general_one() {
        for text in PLAIN_RECORDS {
            let (plain, general) = both_readers(text.as_bytes());
            let plain = plain.unwrap_or_else(|| panic!("not read in one pass: {text}"));
            assert_eq!(Ok(plain), general, "{text}");
        }
    }

    #[test]
    fn the_one_pass_reader_leaves_the_rest_to_the_general_one() {
        for text in [
            r#"{"value":{"type":"JSON","data":"\u00e9"}}"#,
            r#"{"value":{"type":"JSON","data":1e5}}"#,
            r#"{"value":{"type":"JSON","data":01}}"#,
            r#"{"value":{"type":"AVRO","data":{},"schema":"\"int\""}}"#,
            r#"{"value":{"data":{}}}"#,
            r#"{"value":{"type":"BINARY","data":"not base64!"}}"#,
            r#"{"value":{"type":"STRING","data":5}}"#,
            r#"{"headers":[],"value":{"type":"JSON","data":1}}"#,
            r#"{"timestamp":"2021-02-05T19:14:42.123Z"}"#,
            r#"{"partition_id":-1}"#,
            r#"{"partition_id":1.0}"#,
            r#"{"partition_id":1234567890}"#,
            r#"{"value":null,"value":null}"#,
            r#"{"value":{"type":"JSON","type":"JSON"}}"#,
            r#"{"value":{"type":"JSON","data":[1,]}}"#,
            r#"{"value":{"type":"JSON","data":{"a":1}},}"#,
            r#"{"surprise":1}"#,
            "{\"value\":{\"type\":\"STRING\",\"data\":\"a\u{1}b\"}}",
        ] {
            assert_eq!(both_readers(text.as_bytes()).0, None, "{text}");
        }
    }

    #[test]
    fn where_the_one_pass_reader_gives_a_record_the_general_one_gives_the_same() {
        readers_agree_on_mutations(PLAIN_RECORDS, 5000, both_readers);
    }
}
