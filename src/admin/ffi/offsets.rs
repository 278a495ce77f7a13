//! librdkafka's offset admin calls that rust-rdkafka does not wrap: the committed offsets of a
//! consumer group (`ListConsumerGroupOffsets`), changing them (`AlterConsumerGroupOffsets`),
//! and the earliest, latest or by-timestamp offsets of partitions with an isolation level
//! (`ListOffsets`).
//!
//! The shared plumbing (queue, options, event, partition lists) is in `groups.rs`. Every call
//! blocks until Kafka answers or its deadline passes; what the offsets mean is `src/admin/`'s.

use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::NativeClient;

use super::groups::{borrowed_error, c_string, partitions, slice, CallError, Options, PartitionList, Queue};
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

/// The committed offsets of group `group`, every partition it has one for
/// (`ListConsumerGroupOffsets` with all partitions). A partition without a committed offset
/// is left out.
pub fn list_group_offsets(
    client: &NativeClient,
    group: &str,
    timeout: Duration,
) -> Result<Vec<(TopicPartition, i64)>, CallError> {
    let c_group = c_string(group)?;
    let queue = Queue::new(client)?;
    let options = Options::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
        timeout,
    )?;
    // SAFETY: `c_group` is a valid C string copied into the new request object; a null
    // partition list means all partitions.
    let mut request =
        unsafe { rd::rd_kafka_ListConsumerGroupOffsets_new(c_group.as_ptr(), std::ptr::null()) };
    if request.is_null() {
        return Err(CallError::Refused(
            "cannot build the ListConsumerGroupOffsets request".to_string(),
        ));
    }
    // SAFETY: a one-element array of a live request object, which librdkafka copies before
    // returning; we destroy ours right after.
    unsafe {
        rd::rd_kafka_ListConsumerGroupOffsets(client.ptr(), &mut request, 1, options.ptr(), queue.ptr());
        rd::rd_kafka_ListConsumerGroupOffsets_destroy(request);
    }
    let event = queue.wait(timeout)?;
    // SAFETY: the event is live and owns the group results and partition lists read here.
    unsafe {
        let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.ptr());
        if result.is_null() {
            return Err(CallError::Refused(
                "not a ListConsumerGroupOffsets result".to_string(),
            ));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
        let mut offsets = Vec::new();
        for &group in slice(groups, count) {
            if let Some(error) = borrowed_error(rd::rd_kafka_group_result_error(group)) {
                return Err(error);
            }
            for (tp, offset, err) in partitions(rd::rd_kafka_group_result_partitions(group)) {
                if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && offset >= 0 {
                    offsets.push((tp, offset));
                }
            }
        }
        Ok(offsets)
    }
}

/// Sets the committed offsets of group `group` (`AlterConsumerGroupOffsets`); Kafka refuses
/// this while the group has members (UNKNOWN_MEMBER_ID). The first partition error is the
/// error of the whole call.
pub fn alter_group_offsets(
    client: &NativeClient,
    group: &str,
    offsets: &[(TopicPartition, i64)],
    timeout: Duration,
) -> Result<(), CallError> {
    let c_group = c_string(group)?;
    let list = PartitionList::new(offsets)?;
    let queue = Queue::new(client)?;
    let options = Options::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
        timeout,
    )?;
    // SAFETY: the group name and the list are live; librdkafka copies both into the request.
    let mut request =
        unsafe { rd::rd_kafka_AlterConsumerGroupOffsets_new(c_group.as_ptr(), list.ptr()) };
    if request.is_null() {
        return Err(CallError::Refused(
            "cannot build the AlterConsumerGroupOffsets request".to_string(),
        ));
    }
    // SAFETY: a one-element array of a live request, copied by librdkafka; destroyed after.
    unsafe {
        rd::rd_kafka_AlterConsumerGroupOffsets(client.ptr(), &mut request, 1, options.ptr(), queue.ptr());
        rd::rd_kafka_AlterConsumerGroupOffsets_destroy(request);
    }
    let event = queue.wait(timeout)?;
    // SAFETY: the event is live and owns the results read here.
    unsafe {
        let result = rd::rd_kafka_event_AlterConsumerGroupOffsets_result(event.ptr());
        if result.is_null() {
            return Err(CallError::Refused(
                "not an AlterConsumerGroupOffsets result".to_string(),
            ));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_AlterConsumerGroupOffsets_result_groups(result, &mut count);
        for &group in slice(groups, count) {
            if let Some(error) = borrowed_error(rd::rd_kafka_group_result_error(group)) {
                return Err(error);
            }
            for (_, _, err) in partitions(rd::rd_kafka_group_result_partitions(group)) {
                if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Err(CallError::Kafka {
                        code: err.into(),
                        message: String::new(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// The offsets `spec` names for each partition (`ListOffsets`), read with READ_COMMITTED
/// isolation when `read_committed` (the last stable offset instead of the high watermark).
/// A timestamp after the last record answers -1, as Kafka does.
pub fn list_offsets(
    client: &NativeClient,
    partitions_asked: &[TopicPartition],
    spec: OffsetSpec,
    read_committed: bool,
    timeout: Duration,
) -> Result<Vec<(TopicPartition, i64)>, CallError> {
    if partitions_asked.is_empty() {
        return Ok(Vec::new());
    }
    let entries: Vec<(TopicPartition, i64)> =
        partitions_asked.iter().map(|tp| (tp.clone(), spec.raw())).collect();
    let list = PartitionList::new(&entries)?;
    let queue = Queue::new(client)?;
    let options = Options::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
        timeout,
    )?;
    let isolation = if read_committed {
        rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED
    } else {
        rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_UNCOMMITTED
    };
    // SAFETY: the options are live; the returned error (if any) is ours and `check` frees it.
    Options::check(unsafe { rd::rd_kafka_AdminOptions_set_isolation_level(options.ptr(), isolation) })?;
    // SAFETY: client, list, options and queue are live; librdkafka copies the list.
    unsafe { rd::rd_kafka_ListOffsets(client.ptr(), list.ptr(), options.ptr(), queue.ptr()) };
    let event = queue.wait(timeout)?;
    // SAFETY: the event is live and owns the result infos and partitions read here.
    unsafe {
        let result = rd::rd_kafka_event_ListOffsets_result(event.ptr());
        if result.is_null() {
            return Err(CallError::Refused("not a ListOffsets result".to_string()));
        }
        let mut count = 0usize;
        let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut count);
        let mut offsets = Vec::with_capacity(count);
        for &info in slice(infos, count) {
            let tp = rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info);
            let Some(tp) = tp.as_ref() else { continue };
            if tp.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(CallError::Kafka {
                    code: tp.err.into(),
                    message: String::new(),
                });
            }
            offsets.push((
                TopicPartition {
                    topic: super::groups::string(tp.topic),
                    partition: tp.partition,
                },
                tp.offset,
            ));
        }
        Ok(offsets)
    }
}
