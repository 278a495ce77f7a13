//! The records call: collect records from one instance within a time and byte budget, hand
//! them to the caller to render, then store their offsets.
//!
//! This module owns the answer-early rule (`docs/decisions.md` §7), the byte limit with its oversize-first
//! exception (`docs/decisions.md` §8), keeping a record that does not fit or does not decode for the next
//! call, and storing offsets only of records actually returned (`docs/decisions.md` §9). It runs under the
//! instance lock held by the caller, and never blocks: `StreamConsumer::recv` is awaited, not
//! polled with a timeout, and a schema-format record whose schema is not cached yet awaits one
//! registry call (bounded by the registry client's timeouts) while the record stays buffered.
//! A call that finds no record after librdkafka reported every broker down asks Kafka for
//! metadata before it answers: an empty answer means "no records", never "Kafka is down" (that
//! is 50003, within the call's wait).

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures::FutureExt;
use rdkafka::consumer::Consumer;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedMessage;
use rdkafka::{Message, Offset, TopicPartitionList};
use tokio::time::Instant;

use super::decoder::{Decoder, RecordDecodeError};
use super::instance::{Instance, KafkaConsumer, Mode, State};
use super::{ConsumeError, RenderError};
use crate::records::ConsumedRecord;

/// Pause after an error event from librdkafka before asking again, so that a repeating error
/// (a broker that is down) does not spin the task until the deadline.
const ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// A reachability check that cannot finish in less than this before the call's deadline proves
/// nothing: the call answers what it has and the next call checks with a full budget.
const MIN_PROBE: Duration = Duration::from_millis(200);

/// The error event that says the consumer lost its connections to every broker it knew.
/// A single lost connection (`BrokerTransportFailure`, a leader killed) is not enough: the
/// instance's other brokers may be known but not connected (librdkafka connects sparsely), so
/// a metadata request may not get through within the call's wait although the cluster is up
/// (the leader-failover fault test saw exactly that).
fn is_broker_trouble(e: &KafkaError) -> bool {
    e.rdkafka_error_code() == Some(RDKafkaErrorCode::AllBrokersDown)
}

/// Asks Kafka for cluster metadata through the instance's own client, within `deadline`.
/// `Ok(true)`: Kafka answered; `Ok(false)`: too little time was left to tell; `Err`: Kafka did
/// not answer (the error for the client). The request runs on the blocking pool with a
/// process-wide permit (`kafka.blocking.calls.max`), taken within the same deadline.
async fn kafka_reachable(
    instance: &Instance,
    consumer: &Arc<KafkaConsumer>,
    deadline: Instant,
) -> Result<bool, ConsumeError> {
    let budget = deadline.saturating_duration_since(Instant::now());
    if budget < MIN_PROBE {
        return Ok(false);
    }
    let consumer = Arc::clone(consumer);
    let deadline = deadline.into_std();
    let call = instance
        .blocking
        .spawn(deadline, move || {
            // What is left after the wait for a permit.
            let budget = deadline.saturating_duration_since(std::time::Instant::now());
            consumer.fetch_metadata(None, budget.max(Duration::from_millis(1)))
        })
        .await
        .map_err(|source| ConsumeError::Busy {
            operation: "records",
            source,
        })?;
    call.await
        .map_err(ConsumeError::Cancelled)?
        .map(|_| true)
        .map_err(|source| ConsumeError::Kafka {
            operation: "records",
            source,
        })
}

/// The budget of one records call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadLimits {
    /// Longest wait for records.
    pub wait: Duration,
    /// Most key+value bytes in the response; a first record larger than this is returned alone.
    pub max_bytes: u64,
    /// Answer once this many bytes are collected; `None` answers as soon as any record is there.
    pub min_bytes: Option<u64>,
}

impl ReadLimits {
    /// `timeout` and `max_bytes` from the query (absent or not positive: the instance's own
    /// limit), combined with the instance and proxy limits as Confluent does: the query can only
    /// shorten the wait and lower the byte limit.
    pub fn new(
        timeout_ms: Option<i64>,
        max_bytes: Option<i64>,
        request_timeout: Duration,
        request_max_bytes: u64,
        min_bytes: Option<u64>,
    ) -> ReadLimits {
        let wait = match timeout_ms {
            Some(ms) if ms > 0 => request_timeout.min(Duration::from_millis(ms.unsigned_abs())),
            _ => request_timeout,
        };
        let max_bytes = match max_bytes {
            Some(b) if b > 0 => request_max_bytes.min(b.unsigned_abs()),
            _ => request_max_bytes,
        };
        ReadLimits {
            wait,
            max_bytes,
            min_bytes,
        }
    }
}

/// What the collection loop decided about the buffered records.
#[derive(Debug, Default)]
struct Collected {
    records: Vec<ConsumedRecord>,
    bytes: u64,
    /// No more records can go into this response (byte limit, or an undecodable record next).
    full: bool,
}

/// Reads one response's worth of records, renders them with `render` while the instance is
/// still locked, and then stores their offsets so that commits cover exactly what was
/// returned. Records left in the buffer (a record that did not fit, or did not decode) are
/// first in line for the next call.
pub async fn read<T>(
    instance: &Instance,
    state: &mut State,
    decoder: &Decoder,
    limits: ReadLimits,
    render: impl FnOnce(&[ConsumedRecord]) -> Result<T, RenderError>,
) -> Result<T, ConsumeError> {
    let (rendered, returned) = read_unstored(instance, state, decoder, limits, render).await?;
    store(instance, state, &returned)?;
    Ok(rendered)
}

/// The next offsets of records handed out but not yet stored for commit: a stream stores
/// them only once they were written to its client (`docs/decisions.md` §51).
#[derive(Debug, Default)]
pub struct Returned(TopicPartitionList);

/// Stores the offsets of `returned` records; auto-commit and the empty-body commit commit
/// exactly these. A partition revoked meanwhile cannot be stored, which is right: its new
/// owner reads it again from the committed offset.
pub fn store(instance: &Instance, state: &State, returned: &Returned) -> Result<(), ConsumeError> {
    if returned.0.count() == 0 {
        return Ok(());
    }
    let consumer = state.consumer(instance)?;
    if let Err(e) = consumer.store_offsets(&returned.0) {
        tracing::debug!(
            group = %instance.group,
            instance = %instance.name,
            error = %e,
            "cannot store offsets of returned records (partition revoked?)"
        );
    }
    Ok(())
}

/// [`read`] without storing the offsets: the caller stores the [`Returned`] offsets when the
/// records are delivered.
pub async fn read_unstored<T>(
    instance: &Instance,
    state: &mut State,
    decoder: &Decoder,
    limits: ReadLimits,
    render: impl FnOnce(&[ConsumedRecord]) -> Result<T, RenderError>,
) -> Result<(T, Returned), ConsumeError> {
    if state.mode == Mode::Idle {
        return Err(ConsumeError::IllegalState {
            message: "Consumer is not subscribed to any topics or assigned any partitions".into(),
        });
    }
    let consumer = state.consumer(instance)?;
    let deadline = Instant::now() + limits.wait;
    let mut collected = Collected::default();
    state.drop_revoked();
    loop {
        collect(&state.buffer, decoder, limits.max_bytes, &mut collected).await?;
        if collected.full {
            break;
        }
        if state.broker_trouble && collected.records.is_empty() {
            if !kafka_reachable(instance, &consumer, deadline).await? {
                break;
            }
            state.broker_trouble = false;
        }
        let enough = match limits.min_bytes {
            Some(min) => collected.bytes >= min,
            None => !collected.records.is_empty(),
        };
        let next = if enough {
            if limits.min_bytes.is_some() {
                break;
            }
            // Records are ready: add only those librdkafka already holds, then answer.
            match consumer.recv().now_or_never() {
                Some(next) => next,
                None => break,
            }
        } else {
            match tokio::time::timeout_at(deadline, consumer.recv()).await {
                Ok(next) => next,
                Err(_elapsed) => break,
            }
        };
        instance.touch();
        // Rebalance callbacks run inside recv(), before it returns the next message. Records of
        // the partitions they revoked are dropped before that message is buffered: it may
        // already belong to the next assignment of the same partition, and librdkafka would
        // not deliver it again.
        if state.drop_revoked() > 0 {
            collected = Collected::default();
        }
        match next {
            // Into the buffer before anything else can happen: a cancelled call loses nothing.
            Ok(message) => {
                state.broker_trouble = false;
                if !state.unstarted.is_empty() {
                    let (topic, partition) = (message.topic(), message.partition());
                    state
                        .unstarted
                        .retain(|(t, p)| !(t == topic && *p == partition));
                }
                state.buffer.push_back(message.detach());
            }
            Err(e) => {
                if is_broker_trouble(&e) {
                    state.broker_trouble = true;
                }
                tracing::debug!(
                    group = %instance.group,
                    instance = %instance.name,
                    error = %e,
                    "consumer error event while reading"
                );
                if state.restart_stalled_assignment(instance).await? {
                    tracing::info!(
                        group = %instance.group,
                        instance = %instance.name,
                        error = %e,
                        "assigned partitions librdkafka stopped serving after an error were assigned again"
                    );
                }
                if collected.records.is_empty() {
                    tokio::time::sleep_until(deadline.min(Instant::now() + ERROR_BACKOFF)).await;
                }
            }
        }
    }
    // The last recv() may have run a revocation without returning a message (or the deadline
    // cut it off): never answer with records of a partition this instance no longer owns.
    if state.drop_revoked() > 0 {
        collected = Collected::default();
        collect(&state.buffer, decoder, limits.max_bytes, &mut collected).await?;
    }

    let rendered = render(&collected.records).map_err(ConsumeError::Render)?;
    let returned = collected.records.len();
    Ok((rendered, offsets_of(state.buffer.drain(..returned))))
}

/// Decodes buffered records, after those already collected, while they fit. Only reads the
/// buffer: a record leaves it when the response that holds it has been rendered, so a call
/// cancelled during a registry call loses nothing.
async fn collect(
    buffer: &VecDeque<OwnedMessage>,
    decoder: &Decoder,
    max_bytes: u64,
    collected: &mut Collected,
) -> Result<(), ConsumeError> {
    while let Some(message) = buffer.get(collected.records.len()) {
        let first = collected.records.is_empty();
        match decoder.decode(message).await {
            Ok(decoded) => {
                if !first && collected.bytes.saturating_add(decoded.size) > max_bytes {
                    collected.full = true;
                    return Ok(());
                }
                collected.records.push(decoded.record);
                collected.bytes = collected.bytes.saturating_add(decoded.size);
            }
            // The undecodable record stays first in the buffer: this call answers with it, the
            // next call too, until a seek moves past it (or, for a registry outage, until the
            // registry answers again).
            Err(source) if first => return Err(undecodable(message, source)),
            // Return what decoded; the bad record answers the next call.
            Err(_) => {
                collected.full = true;
                return Ok(());
            }
        }
        if collected.bytes >= max_bytes {
            collected.full = true;
            return Ok(());
        }
    }
    Ok(())
}

/// The error of a records call whose first record does not decode: a registry that cannot
/// serve the schema now is told apart from bytes that are wrong for the format.
pub(crate) fn undecodable(message: &OwnedMessage, source: RecordDecodeError) -> ConsumeError {
    let topic = message.topic().to_string();
    let (partition, offset) = (message.partition(), message.offset());
    if source.is_registry_unavailable() {
        ConsumeError::RegistryUnavailable {
            topic,
            partition,
            offset,
            source,
        }
    } else if source.is_registry_forbidden() {
        ConsumeError::RegistryForbidden {
            topic,
            partition,
            offset,
            source,
        }
    } else {
        ConsumeError::Undecodable {
            topic,
            partition,
            offset,
            source,
        }
    }
}

/// The next offsets after `returned` records, per partition.
///
/// The last offset per partition is found in a plain list first (a response holds few
/// partitions and many records), and the librdkafka list is built once from it: looking each
/// record up in the librdkafka list would cost a C string and a linear search per record.
fn offsets_of(returned: impl Iterator<Item = OwnedMessage>) -> Returned {
    let mut last: Vec<(String, i32, i64)> = Vec::new();
    for m in returned {
        // Records of one partition come in offset order, so the last one wins.
        match last
            .iter_mut()
            .find(|(t, p, _)| *p == m.partition() && t == m.topic())
        {
            Some(entry) => entry.2 = m.offset(),
            None => last.push((m.topic().to_string(), m.partition(), m.offset())),
        }
    }
    let mut tpl = TopicPartitionList::with_capacity(last.len());
    for (topic, partition, offset) in &last {
        let _ = tpl.add_partition_offset(topic, *partition, Offset::Offset(offset + 1));
    }
    Returned(tpl)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::EmbeddedFormat;
    use crate::schema::{SchemaFormat, Schemas};
    use rdkafka::message::Timestamp;

    fn buffer(values: &[&[u8]]) -> VecDeque<OwnedMessage> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                OwnedMessage::new(
                    Some(v.to_vec()),
                    None,
                    "t".into(),
                    Timestamp::NotAvailable,
                    0,
                    i as i64,
                    None,
                )
            })
            .collect()
    }

    #[test]
    fn returned_offsets_are_the_next_offset_after_the_last_record_of_each_partition() {
        let message = |topic: &str, partition, offset| {
            OwnedMessage::new(
                None,
                None,
                topic.into(),
                Timestamp::NotAvailable,
                partition,
                offset,
                None,
            )
        };
        let returned = offsets_of(
            [
                message("a", 0, 5),
                message("a", 1, 7),
                message("a", 0, 6),
                message("b", 0, 2),
                message("a", 1, 8),
            ]
            .into_iter(),
        );
        let got: Vec<(String, i32, Offset)> = returned
            .0
            .elements()
            .iter()
            .map(|e| (e.topic().to_string(), e.partition(), e.offset()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a".to_string(), 0, Offset::Offset(7)),
                ("a".to_string(), 1, Offset::Offset(9)),
                ("b".to_string(), 0, Offset::Offset(3)),
            ]
        );
        assert_eq!(offsets_of(std::iter::empty()).0.count(), 0);
    }

    fn offsets(c: &Collected) -> Vec<i64> {
        c.records.iter().map(|r| r.offset).collect()
    }

    #[tokio::test]
    async fn records_are_taken_while_they_fit_and_the_next_one_waits() {
        let buf = buffer(&[b"aaaa", b"bbbb", b"cccc"]);
        let mut c = Collected::default();
        collect(&buf, &Decoder::Binary, 10, &mut c)
            .await
            .expect("binary decodes");
        assert_eq!((offsets(&c), c.bytes, c.full), (vec![0, 1], 8, true));

        // Exactly at the limit is allowed.
        let mut c = Collected::default();
        collect(&buf, &Decoder::Binary, 8, &mut c)
            .await
            .expect("binary decodes");
        assert_eq!((offsets(&c), c.full), (vec![0, 1], true));

        // Room left and nothing more buffered: not full, the caller may wait for more.
        let mut c = Collected::default();
        collect(&buf, &Decoder::Binary, 100, &mut c)
            .await
            .expect("binary decodes");
        assert_eq!((offsets(&c), c.bytes, c.full), (vec![0, 1, 2], 12, false));
    }

    #[tokio::test]
    async fn a_first_record_larger_than_the_limit_is_returned_alone() {
        let buf = buffer(&[b"0123456789", b"x"]);
        let mut c = Collected::default();
        collect(&buf, &Decoder::Binary, 3, &mut c)
            .await
            .expect("binary decodes");
        assert_eq!((offsets(&c), c.full), (vec![0], true));
    }

    #[tokio::test]
    async fn an_undecodable_record_fails_the_call_only_when_it_comes_first() {
        let buf = buffer(&[b"1", b"not json", b"2"]);
        let mut c = Collected::default();
        collect(&buf, &Decoder::Json, 100, &mut c)
            .await
            .expect("the first record decodes");
        assert_eq!((offsets(&c), c.full), (vec![0], true));

        let bad = buffer(&[b"not json", b"2"]);
        let err = collect(&bad, &Decoder::Json, 100, &mut Collected::default())
            .await
            .expect_err("bad record first");
        assert!(
            matches!(err, ConsumeError::Undecodable { offset: 0, .. }),
            "{err:?}"
        );
    }

    fn schemas(url: &str) -> Schemas {
        Schemas::for_tests(url)
    }

    #[tokio::test]
    async fn schema_records_count_their_json_text_against_max_bytes() {
        // Nothing listens on port 1: schema 42 is served from the cache alone.
        let schemas = schemas("http://127.0.0.1:1");
        schemas.cache_for_tests(
            42,
            SchemaFormat::Avro,
            r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#,
        );
        let decoder = Decoder::for_format(EmbeddedFormat::Avro, &schemas);
        // 6 raw bytes each, rendered as `{"name":"ab"}`: 13 bytes of JSON text.
        let framed = [0u8, 0, 0, 0, 42, 4, b'a', b'b'];
        let buf = buffer(&[&framed, &framed, &framed]);
        let mut c = Collected::default();
        collect(&buf, &decoder, 30, &mut c)
            .await
            .expect("cached schema");
        assert_eq!((offsets(&c), c.bytes, c.full), (vec![0, 1], 26, true));
        assert_eq!(
            serde_json::to_string(&c.records[0].value).expect("JSON"),
            r#"{"name":"ab"}"#
        );
    }

    #[tokio::test]
    async fn a_registry_outage_is_told_apart_from_bad_bytes() {
        let decoder = Decoder::for_format(EmbeddedFormat::Protobuf, &schemas("http://127.0.0.1:1"));
        let unknown_id = [0u8, 0, 0, 0, 9, 0];
        let err = collect(
            &buffer(&[&unknown_id]),
            &decoder,
            100,
            &mut Collected::default(),
        )
        .await
        .expect_err("registry down");
        assert!(
            matches!(err, ConsumeError::RegistryUnavailable { offset: 0, .. }),
            "{err:?}"
        );
        let err = collect(
            &buffer(&[b"plain"]),
            &decoder,
            100,
            &mut Collected::default(),
        )
        .await
        .expect_err("not framed");
        assert!(
            matches!(err, ConsumeError::Undecodable { offset: 0, .. }),
            "{err:?}"
        );
    }

    #[test]
    fn the_query_only_shortens_the_wait_and_lowers_the_byte_limit() {
        let second = Duration::from_secs(1);
        let limits = ReadLimits::new(None, None, second, 1000, None);
        assert_eq!((limits.wait, limits.max_bytes), (second, 1000));
        let limits = ReadLimits::new(Some(200), Some(10), second, 1000, Some(5));
        assert_eq!(
            limits,
            ReadLimits {
                wait: Duration::from_millis(200),
                max_bytes: 10,
                min_bytes: Some(5)
            }
        );
        let limits = ReadLimits::new(Some(60_000), Some(1 << 40), second, 1000, None);
        assert_eq!((limits.wait, limits.max_bytes), (second, 1000));
        let limits = ReadLimits::new(Some(-1), Some(0), second, 1000, None);
        assert_eq!((limits.wait, limits.max_bytes), (second, 1000));
    }
}
