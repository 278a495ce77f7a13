//! Fuzz target: produce request bodies (`records::decode_produce` for binary and json,
//! `records::decode_schema_produce` for the schema formats), as `POST /topics/{topic}` hands
//! them over. The first byte picks the decoder, the rest is the body.
//!
//! Checked: no panic and no stack overflow on a worker's stack; a refusal is a 4xx; every json
//! key and value that is accepted is JSON a json consumer instance can render again.

#![no_main]

mod common;

use kafka_rest::fuzzing::ProxyError;
use kafka_rest::fuzzing::records::{self, EmbeddedFormat, Field};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    common::on_worker_stack(move || match pick % 3 {
        0 => match records::decode_produce(EmbeddedFormat::Binary, body) {
            Ok(batch) => assert!(!batch.records.is_empty()),
            Err(e) => common::assert_client_error(ProxyError::from(e)),
        },
        1 => match records::decode_produce(EmbeddedFormat::Json, body) {
            Ok(batch) => {
                for r in &batch.records {
                    for (field, bytes) in [(Field::Key, &r.key), (Field::Value, &r.value)] {
                        if let Err(e) = records::json_field(field, bytes.as_deref()) {
                            panic!("accepted json {field} cannot be read back: {e}");
                        }
                    }
                }
            }
            Err(e) => common::assert_client_error(ProxyError::from(e)),
        },
        _ => match records::decode_schema_produce(body) {
            Ok(batch) => assert!(!batch.records.is_empty()),
            Err(e) => common::assert_client_error(ProxyError::from(e)),
        },
    });
});
