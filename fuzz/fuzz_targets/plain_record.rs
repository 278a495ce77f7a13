//! Fuzz target: the one-pass readers of the common produce input against the general readers
//! they stand in for. The first byte picks the input, the rest is it:
//!
//! * 0: one record of a v3 produce stream, as the framer hands it over
//!   (`plain_stream_record` against `general_stream_record`);
//! * 1 and 2: a v2 `json` or `binary` produce body (`decode_produce`, which tries the one-pass
//!   reader first, against `decode_produce_general`);
//! * 3: a v2 schema-format produce body (`decode_schema_produce` against
//!   `decode_schema_produce_general`).
//!
//! Checked: no panic and no stack overflow on a worker's stack, and wherever the one-pass
//! reader gives records, the general reader gives the same ones (for v2, the same answer).

#![no_main]

mod common;

use kafka_rest::fuzzing::records::{
    decode_produce, decode_produce_general, decode_schema_produce, decode_schema_produce_general,
    EmbeddedFormat,
};
use kafka_rest::fuzzing::v3_records::{general_stream_record, plain_stream_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, input)) = data.split_first() else {
        return;
    };
    common::on_worker_stack(move || match pick % 4 {
        0 => {
            let general = general_stream_record(input).map(|r| format!("{r:?}"));
            if let Some(plain) = plain_stream_record(input) {
                assert_eq!(Ok(format!("{plain:?}")), general, "the readers disagree");
            }
        }
        3 => {
            let either = decode_schema_produce(input).map_err(|e| format!("{e:?}"));
            let general = decode_schema_produce_general(input).map_err(|e| format!("{e:?}"));
            assert_eq!(either, general, "the readers disagree");
        }
        pick => {
            let format = match pick {
                1 => EmbeddedFormat::Json,
                _ => EmbeddedFormat::Binary,
            };
            let either = decode_produce(format, input).map_err(|e| format!("{e:?}"));
            let general = decode_produce_general(format, input).map_err(|e| format!("{e:?}"));
            assert_eq!(either, general, "the readers disagree");
        }
    });
});
