//! Fuzz target: one record of a v3 streamed produce, as the framer hands it over, read by both
//! readers of `api::v3::produce`: the one-pass reader of the common shape and the general one
//! (the generated decoder and its checks).
//!
//! Checked: no panic and no stack overflow on a worker's stack, and wherever the one-pass
//! reader gives a record, the general reader gives the same one.

#![no_main]

mod common;

use kafka_rest::fuzzing::v3_records::{general_stream_record, plain_stream_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    common::on_worker_stack(move || {
        let general = general_stream_record(data).map(|r| format!("{r:?}"));
        if let Some(plain) = plain_stream_record(data) {
            assert_eq!(Ok(format!("{plain:?}")), general, "the readers disagree");
        }
    });
});
