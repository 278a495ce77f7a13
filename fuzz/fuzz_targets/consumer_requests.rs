//! Fuzz target: the consumer API's request parsing in `src/api/`: the six body decoders
//! (`decode_create`, `decode_subscription`, `decode_partitions`, `decode_committed_request`,
//! `decode_commit`, `decode_seek`) and the `Accept` / `Content-Type` negotiation. The first
//! byte picks the parser, the rest is the body or header value.
//!
//! Checked: no panic and no stack overflow on a worker's stack; a refusal is a 4xx; what is
//! accepted is something librdkafka can be given (topics not empty and without NUL,
//! partitions and seek offsets not negative).

#![no_main]

mod common;

use kafka_rest::fuzzing::{consumers, media};
use kafka_rest::fuzzing::{SeekPosition, TopicPartition};
use kafka_rest::fuzzing::records::EmbeddedFormat;
use libfuzzer_sys::fuzz_target;

fn check_partition(p: &TopicPartition) {
    assert!(!p.topic.is_empty() && !p.topic.contains('\0'), "{p:?}");
    assert!(p.partition >= 0, "{p:?}");
}

fn check<T>(result: Result<T, kafka_rest::fuzzing::ProxyError>, valid: impl FnOnce(T)) {
    match result {
        Ok(value) => valid(value),
        Err(e) => common::assert_client_error(e),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    common::on_worker_stack(move || match pick % 8 {
        0 => check(consumers::decode_create(body), |c| {
            assert!(!c.name.is_some_and(|n| n.contains('\0')));
        }),
        1 => check(consumers::decode_subscription(body), |s| match s {
            kafka_rest::fuzzing::Subscription::Topics(topics) => {
                assert!(topics.iter().all(|t| !t.is_empty() && !t.contains('\0')))
            }
            kafka_rest::fuzzing::Subscription::Pattern(p) => assert!(!p.contains('\0')),
        }),
        2 => check(consumers::decode_partitions(body), |ps| {
            ps.iter().for_each(check_partition)
        }),
        3 => check(consumers::decode_committed_request(body), |ps| {
            ps.iter().flatten().for_each(check_partition)
        }),
        4 => check(consumers::decode_commit(body), |offsets| {
            offsets
                .iter()
                .flatten()
                .for_each(|o| check_partition(&o.partition))
        }),
        5 => check(consumers::decode_seek(body), |targets| {
            for t in targets {
                check_partition(&t.partition);
                if let SeekPosition::Offset(o) = t.position {
                    assert!(o >= 0, "{t:?}");
                }
            }
        }),
        _ => {
            // Header values: what `Accept` and `Content-Type` negotiation sees.
            let Ok(value) = std::str::from_utf8(body) else {
                return;
            };
            // The records reader, without and with the instance's own format.
            let instance = EmbeddedFormat::ALL.get(usize::from(pick) % 6).copied();
            check(media::negotiate_records(Some(value), instance), |chosen| {
                assert!(
                    EmbeddedFormat::from_media_type(chosen.media_type).is_some()
                        || chosen.media_type == kafka_rest::fuzzing::V2_JSON
                )
            });
            check(media::check_control_accept(Some(value)), |()| {});
            check(media::check_control_content_type(Some(value)), |()| {});
            let _ = EmbeddedFormat::from_media_type(value);
            let _ = EmbeddedFormat::parse(value);
        }
    });
});
