//! librdkafka's offset admin calls that rust-rdkafka does not wrap: the committed offsets of a
//! consumer group (`ListConsumerGroupOffsets`), changing them (`AlterConsumerGroupOffsets`),
//! and the earliest, latest or by-timestamp offsets of partitions with an isolation level
//! (`ListOffsets`).
//!
//! Every call blocks until Kafka answers or its deadline passes; what the offsets mean is
//! `src/admin/`'s.

use std::time::Instant;

use rdkafka::bindings as rd;

use super::groups::{read_partitions, result_error};
use super::{c_string, call, owned, owned_ptr, slice, CallOptions, FfiError, NativeClient};
use crate::admin::groups::TopicPartition;

/// Which offset of a partition `ListOffsets` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first offset whose timestamp is at or after this many milliseconds since the epoch.
    Timestamp(i64),
}

impl OffsetSpec {
    fn raw(self) -> i64 {
        match self {
            OffsetSpec::Earliest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_EARLIEST as i64,
            OffsetSpec::Latest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64,
            OffsetSpec::Timestamp(ms) => ms,
        }
    }
}

owned_ptr!(
    /// A topic partition list built for a request.
    PartitionList,
    rd::rd_kafka_topic_partition_list_t,
    rd::rd_kafka_topic_partition_list_destroy
);

impl PartitionList {
    /// A list of `(partition, offset)`; librdkafka copies the topic names.
    fn build(entries: &[(TopicPartition, i64)]) -> Result<PartitionList, FfiError> {
        let size = std::ffi::c_int::try_from(entries.len()).unwrap_or(std::ffi::c_int::MAX);
        // SAFETY: creates an empty list that the wrapper owns.
        let list = unsafe { PartitionList::from_raw(rd::rd_kafka_topic_partition_list_new(size)) }
            .ok_or_else(|| FfiError::Invalid("librdkafka could not create a list".into()))?;
        for (tp, offset) in entries {
            let topic = c_string(&tp.topic)?;
            // SAFETY: the list is live; `topic` is a valid C string that librdkafka copies;
            // the element returned belongs to the list and is written before the next add.
            unsafe {
                let elem =
                    rd::rd_kafka_topic_partition_list_add(list.ptr(), topic.as_ptr(), tp.partition);
                if let Some(elem) = elem.as_mut() {
                    elem.offset = *offset;
                }
            }
        }
        Ok(list)
    }

    fn raw(&self) -> *mut rd::rd_kafka_topic_partition_list_t {
        self.ptr()
    }
}

owned_ptr!(
    /// One group of a ListConsumerGroupOffsets request.
    ListRequest,
    rd::rd_kafka_ListConsumerGroupOffsets_t,
    rd::rd_kafka_ListConsumerGroupOffsets_destroy
);

owned_ptr!(
    /// One group of an AlterConsumerGroupOffsets request.
    AlterRequest,
    rd::rd_kafka_AlterConsumerGroupOffsets_t,
    rd::rd_kafka_AlterConsumerGroupOffsets_destroy
);

/// The committed offsets of group `group`, every partition it has one for. A partition
/// without a committed offset is left out.
pub fn list_group_offsets(
    client: &NativeClient,
    group: &str,
    deadline: Instant,
) -> Result<Vec<(TopicPartition, i64)>, FfiError> {
    let c_group = c_string(group)?;
    // SAFETY: `c_group` is a valid C string copied into the new request object, which the
    // wrapper owns; a null partition list means all partitions.
    let request = unsafe {
        ListRequest::from_raw(rd::rd_kafka_ListConsumerGroupOffsets_new(
            c_group.as_ptr(),
            std::ptr::null(),
        ))
    }
    .ok_or_else(|| {
        FfiError::Invalid("librdkafka could not build ListConsumerGroupOffsets".into())
    })?;
    let mut requests = [request.ptr()];
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        deadline,
        CallOptions::default(),
        // SAFETY: a one-element array of a live request, copied by librdkafka before it
        // returns; client, options and queue are live.
        |rk, options, queue| unsafe {
            rd::rd_kafka_ListConsumerGroupOffsets(rk, requests.as_mut_ptr(), 1, options, queue)
        },
    )?;
    // SAFETY: the event is live and owns the group results and partition lists read here.
    unsafe {
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid(
                "not a ListConsumerGroupOffsets result".into(),
            ));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        let mut offsets = Vec::new();
        for &group in slice(groups, count) {
            if let Some(error) = result_error(rd::rd_kafka_group_result_error(group)) {
                return Err(error);
            }
            for (tp, offset, err) in read_partitions(rd::rd_kafka_group_result_partitions(group)) {
                if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && offset >= 0 {
                    offsets.push((tp, offset));
                }
            }
        }
        Ok(offsets)
    }
}

/// Sets the committed offsets of group `group`; Kafka refuses this while the group has
/// members. The first partition error is the error of the whole call.
pub fn alter_group_offsets(
    client: &NativeClient,
    group: &str,
    offsets: &[(TopicPartition, i64)],
    deadline: Instant,
) -> Result<(), FfiError> {
    let c_group = c_string(group)?;
    let list = PartitionList::build(offsets)?;
    // SAFETY: the group name and the list are live; librdkafka copies both into the request,
    // which the wrapper owns.
    let request = unsafe {
        AlterRequest::from_raw(rd::rd_kafka_AlterConsumerGroupOffsets_new(
            c_group.as_ptr(),
            list.raw(),
        ))
    }
    .ok_or_else(|| {
        FfiError::Invalid("librdkafka could not build AlterConsumerGroupOffsets".into())
    })?;
    let mut requests = [request.ptr()];
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
        deadline,
        CallOptions::default(),
        // SAFETY: a one-element array of a live request, copied by librdkafka.
        |rk, options, queue| unsafe {
            rd::rd_kafka_AlterConsumerGroupOffsets(rk, requests.as_mut_ptr(), 1, options, queue)
        },
    )?;
    // SAFETY: the event is live and owns the results read here.
    unsafe {
        let result = rd::rd_kafka_event_AlterConsumerGroupOffsets_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid(
                "not an AlterConsumerGroupOffsets result".into(),
            ));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_AlterConsumerGroupOffsets_result_groups(result, &mut count);
        for &group in slice(groups, count) {
            if let Some(error) = result_error(rd::rd_kafka_group_result_error(group)) {
                return Err(error);
            }
            for (_, _, err) in read_partitions(rd::rd_kafka_group_result_partitions(group)) {
                if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Err(FfiError::kafka(err.into(), None));
                }
            }
        }
    }
    Ok(())
}

/// The offsets `spec` names for each partition, read with READ_COMMITTED isolation when
/// `read_committed` (the last stable offset instead of the high watermark). A timestamp after
/// the last record answers -1, as Kafka does.
pub fn list_offsets(
    client: &NativeClient,
    partitions: &[TopicPartition],
    spec: OffsetSpec,
    read_committed: bool,
    deadline: Instant,
) -> Result<Vec<(TopicPartition, i64)>, FfiError> {
    if partitions.is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<(TopicPartition, i64)> = partitions
        .iter()
        .map(|tp| (tp.clone(), spec.raw()))
        .collect();
    let list = PartitionList::build(&entries)?;
    let isolation = if read_committed {
        rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED
    } else {
        rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_UNCOMMITTED
    };
    let mut refused = None;
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
        deadline,
        CallOptions::default(),
        |rk, options, queue| {
            // SAFETY: `call` created the options as a mutable object it owns and keeps alive
            // during this closure; setting the isolation level before the request is sent is
            // what librdkafka expects. The error object returned (if any) is ours to free.
            let error = unsafe {
                rd::rd_kafka_AdminOptions_set_isolation_level(options.cast_mut(), isolation)
            };
            // SAFETY: as above, `error` is null or ours.
            match unsafe { super::check_error_object(error) } {
                // SAFETY: client, list, options and queue are live; librdkafka copies the list.
                Ok(()) => unsafe { rd::rd_kafka_ListOffsets(rk, list.raw(), options, queue) },
                // Options made for ListOffsets always take an isolation level; if they did
                // not, nothing is sent and the error is answered when the wait ends.
                Err(e) => refused = Some(e),
            }
        },
    );
    if let Some(e) = refused {
        return Err(e);
    }
    let event = event?;
    // SAFETY: the event is live and owns the result infos and partitions read here.
    unsafe {
        let result = rd::rd_kafka_event_ListOffsets_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid("not a ListOffsets result".into()));
        }
        let mut count = 0usize;
        let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut count);
        let mut offsets = Vec::with_capacity(count);
        for &info in slice(infos, count) {
            let Some(tp) = rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info).as_ref() else {
                continue;
            };
            if tp.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(FfiError::kafka(tp.err.into(), None));
            }
            let topic = TopicPartition {
                topic: owned(tp.topic).unwrap_or_default(),
                partition: tp.partition,
            };
            offsets.push((topic, tp.offset));
        }
        Ok(offsets)
    }
}
