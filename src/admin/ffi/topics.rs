//! CreateTopics, DeleteTopics and CreatePartitions for one topic each, answering the broker's
//! own error message (rust-rdkafka keeps only the code), which the v3 API returns to clients.

use std::collections::BTreeMap;
use std::ffi::c_char;
use std::time::Instant;

use rdkafka::bindings as rd;

use super::{
    c_string, call, owned, owned_ptr, slice, topic_result, CallOptions, FfiError, NativeClient,
};

/// A topic to create. Without `assignments`, `None` counts take the brokers' defaults
/// (`num.partitions`, `default.replication.factor`); with them, they define both.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NewTopic {
    pub name: String,
    pub partitions: Option<i32>,
    pub replication_factor: Option<i16>,
    /// Partition -> broker ids, in partition order.
    pub assignments: BTreeMap<i32, Vec<i32>>,
    /// Topic configs; a `None` value is left to the default.
    pub configs: Vec<(String, Option<String>)>,
}

owned_ptr!(
    NativeNewTopic,
    rd::rd_kafka_NewTopic_t,
    rd::rd_kafka_NewTopic_destroy
);
owned_ptr!(
    NativeDeleteTopic,
    rd::rd_kafka_DeleteTopic_t,
    rd::rd_kafka_DeleteTopic_destroy
);
owned_ptr!(
    NativeNewPartitions,
    rd::rd_kafka_NewPartitions_t,
    rd::rd_kafka_NewPartitions_destroy
);

/// The message librdkafka wrote into `errstr`.
fn errstr_message(errstr: &[c_char]) -> String {
    // SAFETY: librdkafka NUL-terminates what it writes into the (zeroed) buffer.
    unsafe { owned(errstr.as_ptr()) }.unwrap_or_default()
}

/// The outcome of the one topic of a topic call's result.
///
/// # Safety
/// `results` and `count` are what a topic call's result returned, valid while its event lives.
unsafe fn single_outcome(
    results: *mut *const rd::rd_kafka_topic_result_t,
    count: usize,
) -> Result<(), FfiError> {
    // SAFETY: the caller guarantees `count` live results at `results`.
    match unsafe { slice(results, count) }.first() {
        // SAFETY: a live result of the array.
        Some(&result) => unsafe { topic_result(result) }.1,
        None => Ok(()),
    }
}

/// Creates one topic (blocking until Kafka answers or `deadline`); with `validate_only` Kafka
/// checks it without creating it.
pub fn create_topic(
    client: &NativeClient,
    topic: &NewTopic,
    validate_only: bool,
    deadline: Instant,
) -> Result<(), FfiError> {
    let name = c_string(&topic.name)?;
    let mut errstr = [0 as c_char; 512];
    let (partitions, replication) = if topic.assignments.is_empty() {
        (
            topic.partitions.unwrap_or(-1),
            topic.replication_factor.map_or(-1, i32::from),
        )
    } else {
        let count = i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX);
        (count, -1)
    };
    // SAFETY: `name` is a valid C string (copied); `errstr` is a writable buffer of its size.
    let native = unsafe {
        NativeNewTopic::from_raw(rd::rd_kafka_NewTopic_new(
            name.as_ptr(),
            partitions,
            replication,
            errstr.as_mut_ptr(),
            errstr.len(),
        ))
    }
    .ok_or_else(|| FfiError::Invalid(errstr_message(&errstr)))?;
    for (partition, brokers) in &topic.assignments {
        let mut brokers = brokers.clone();
        // SAFETY: `native` is live; `brokers` holds `len` ids (copied by librdkafka).
        let err = unsafe {
            rd::rd_kafka_NewTopic_set_replica_assignment(
                native.ptr(),
                *partition,
                brokers.as_mut_ptr(),
                brokers.len(),
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(FfiError::Invalid(errstr_message(&errstr)));
        }
    }
    for (key, value) in &topic.configs {
        let key = c_string(key)?;
        let value = value.as_deref().map(c_string).transpose()?;
        let value_ptr = value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
        // SAFETY: `native` is live; key and value are valid C strings (or null), copied.
        let err =
            unsafe { rd::rd_kafka_NewTopic_set_config(native.ptr(), key.as_ptr(), value_ptr) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(FfiError::kafka(err.into(), None));
        }
    }
    let mut topics = [native.ptr()];
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATETOPICS,
        deadline,
        CallOptions { validate_only },
        // SAFETY: the array holds one live new topic, which librdkafka copies; `rk`, `options`
        // and `queue` are live for the call.
        |rk, options, queue| unsafe {
            rd::rd_kafka_CreateTopics(rk, topics.as_mut_ptr(), 1, options, queue)
        },
    )?;
    // SAFETY: `event` is live while its results are read.
    unsafe {
        let result = rd::rd_kafka_event_CreateTopics_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid(
                "CreateTopics answered with an event of another type".into(),
            ));
        }
        let mut count = 0;
        let results = rd::rd_kafka_CreateTopics_result_topics(result, &mut count);
        single_outcome(results, count)
    }
}

/// Deletes one topic (blocking until Kafka answers or `deadline`).
pub fn delete_topic(client: &NativeClient, topic: &str, deadline: Instant) -> Result<(), FfiError> {
    let name = c_string(topic)?;
    // SAFETY: `name` is a valid C string, copied by librdkafka.
    let native =
        unsafe { NativeDeleteTopic::from_raw(rd::rd_kafka_DeleteTopic_new(name.as_ptr())) }
            .ok_or_else(|| FfiError::Invalid(format!("librdkafka refused to delete {topic:?}")))?;
    let mut topics = [native.ptr()];
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETETOPICS,
        deadline,
        CallOptions::default(),
        // SAFETY: the array holds one live delete-topic object, which librdkafka copies; `rk`,
        // `options` and `queue` are live for the call.
        |rk, options, queue| unsafe {
            rd::rd_kafka_DeleteTopics(rk, topics.as_mut_ptr(), 1, options, queue)
        },
    )?;
    // SAFETY: `event` is live while its results are read.
    unsafe {
        let result = rd::rd_kafka_event_DeleteTopics_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid(
                "DeleteTopics answered with an event of another type".into(),
            ));
        }
        let mut count = 0;
        let results = rd::rd_kafka_DeleteTopics_result_topics(result, &mut count);
        single_outcome(results, count)
    }
}

/// Grows `topic` to `total` partitions (blocking until Kafka answers or `deadline`).
pub fn create_partitions(
    client: &NativeClient,
    topic: &str,
    total: usize,
    deadline: Instant,
) -> Result<(), FfiError> {
    let name = c_string(topic)?;
    let mut errstr = [0 as c_char; 512];
    // SAFETY: `name` is a valid C string (copied); `errstr` is a writable buffer of its size.
    let native = unsafe {
        NativeNewPartitions::from_raw(rd::rd_kafka_NewPartitions_new(
            name.as_ptr(),
            total,
            errstr.as_mut_ptr(),
            errstr.len(),
        ))
    }
    .ok_or_else(|| FfiError::Invalid(errstr_message(&errstr)))?;
    let mut parts = [native.ptr()];
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEPARTITIONS,
        deadline,
        CallOptions::default(),
        // SAFETY: the array holds one live new-partitions object, which librdkafka copies;
        // `rk`, `options` and `queue` are live for the call.
        |rk, options, queue| unsafe {
            rd::rd_kafka_CreatePartitions(rk, parts.as_mut_ptr(), 1, options, queue)
        },
    )?;
    // SAFETY: `event` is live while its results are read.
    unsafe {
        let result = rd::rd_kafka_event_CreatePartitions_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid(
                "CreatePartitions answered with an event of another type".into(),
            ));
        }
        let mut count = 0;
        let results = rd::rd_kafka_CreatePartitions_result_topics(result, &mut count);
        single_outcome(results, count)
    }
}
