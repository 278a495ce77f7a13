//! librdkafka's consumer group admin calls, which rust-rdkafka does not wrap: list the groups,
//! describe them (state, type, coordinator, members and their assignments) and delete them.
//!
//! Also owns the plumbing the group, offset and ACL calls share: the RAII owners of the
//! librdkafka objects one call creates (its result queue, its options, the result event), the
//! wait for the result with a deadline, and the reading of C strings. Every call here blocks
//! its thread until Kafka answers or the deadline passes, so callers run them on the blocking
//! pool (`src/admin/groups.rs` does). What the results mean for a client is decided in
//! `src/admin/`; this module only turns librdkafka objects into plain Rust values.

use std::ffi::{c_char, c_int, CStr, CString};
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::client::NativeClient;
use rdkafka::error::RDKafkaErrorCode;

use crate::admin::groups::{
    ConsumerGroup, Coordinator, GroupConsumer, GroupState, GroupType, TopicPartition,
};

/// How one librdkafka admin call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// Kafka (or librdkafka on its behalf) answered with an error code.
    #[error("{code:?}: {message}")]
    Kafka {
        code: RDKafkaErrorCode,
        message: String,
    },
    /// No result arrived within the deadline (librdkafka normally answers a timeout itself;
    /// this is the bound on waiting for that answer).
    #[error("no answer from Kafka within {0:?}")]
    NoAnswer(Duration),
    /// librdkafka refused to build the request (an invalid argument).
    #[error("librdkafka refused the request: {0}")]
    Refused(String),
}

impl CallError {
    /// The Kafka error code, if Kafka answered one.
    pub fn code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            CallError::Kafka { code, .. } => Some(*code),
            CallError::NoAnswer(_) => Some(RDKafkaErrorCode::OperationTimedOut),
            CallError::Refused(_) => None,
        }
    }
}

/// The size of the buffers librdkafka writes its error strings into.
const ERRSTR_LEN: usize = 512;

/// How much longer than the request timeout the result queue is polled: librdkafka answers a
/// timed-out request with an error event of its own, which is the better answer.
const POLL_MARGIN: Duration = Duration::from_secs(1);

/// The result queue of one call, destroyed when dropped.
pub(super) struct Queue(NonNull<rd::rd_kafka_queue_t>);

impl Queue {
    pub(super) fn new(client: &NativeClient) -> Result<Queue, CallError> {
        // SAFETY: `client.ptr()` is a live `rd_kafka_t` for as long as `client` is borrowed,
        // and `rd_kafka_queue_new` only creates a queue bound to it.
        let queue = unsafe { rd::rd_kafka_queue_new(client.ptr()) };
        NonNull::new(queue)
            .map(Queue)
            .ok_or_else(|| CallError::Refused("cannot create a result queue".to_string()))
    }

    pub(super) fn ptr(&self) -> *mut rd::rd_kafka_queue_t {
        self.0.as_ptr()
    }

    /// Waits for the call's result event, at most `timeout` plus a margin; a result that is an
    /// error as a whole (a timeout, an unreachable coordinator) becomes that error.
    pub(super) fn wait(&self, timeout: Duration) -> Result<Event, CallError> {
        let wait = timeout + POLL_MARGIN;
        let wait_ms = c_int::try_from(wait.as_millis()).unwrap_or(c_int::MAX);
        // SAFETY: the queue is live (owned by `self`); polling returns an event we own or null.
        let event = unsafe { rd::rd_kafka_queue_poll(self.ptr(), wait_ms) };
        let event = NonNull::new(event).map(Event).ok_or(CallError::NoAnswer(wait))?;
        // SAFETY: the event is live (owned by `event`); the error string, if any, lives as
        // long as the event and is copied before the event is dropped.
        let (code, message) = unsafe {
            let code = rd::rd_kafka_event_error(event.ptr());
            (code, opt_string(rd::rd_kafka_event_error_string(event.ptr())))
        };
        if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(CallError::Kafka {
                code: code.into(),
                message: message.unwrap_or_default(),
            });
        }
        Ok(event)
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        // SAFETY: we own the queue and destroy it once.
        unsafe { rd::rd_kafka_queue_destroy(self.0.as_ptr()) }
    }
}

/// One result event, destroyed when dropped (which frees every result object it holds).
pub(super) struct Event(NonNull<rd::rd_kafka_event_t>);

impl Event {
    pub(super) fn ptr(&self) -> *mut rd::rd_kafka_event_t {
        self.0.as_ptr()
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        // SAFETY: we own the event and destroy it once.
        unsafe { rd::rd_kafka_event_destroy(self.0.as_ptr()) }
    }
}

/// The options of one call, destroyed when dropped.
pub(super) struct Options(NonNull<rd::rd_kafka_AdminOptions_t>);

impl Options {
    /// Options for `op` with its request timeout set to `timeout`.
    pub(super) fn new(
        client: &NativeClient,
        op: rd::rd_kafka_admin_op_t,
        timeout: Duration,
    ) -> Result<Options, CallError> {
        // SAFETY: `client.ptr()` is a live `rd_kafka_t`; the options are ours to destroy.
        let options = unsafe { rd::rd_kafka_AdminOptions_new(client.ptr(), op) };
        let options = NonNull::new(options)
            .map(Options)
            .ok_or_else(|| CallError::Refused("cannot create admin options".to_string()))?;
        let timeout_ms = c_int::try_from(timeout.as_millis()).unwrap_or(c_int::MAX);
        let mut errstr = [0 as c_char; ERRSTR_LEN];
        // SAFETY: the options are live and `errstr` is a writable buffer of the given size.
        let err = unsafe {
            rd::rd_kafka_AdminOptions_set_request_timeout(
                options.ptr(),
                timeout_ms,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return Err(CallError::Refused(buffer_string(&errstr)));
        }
        Ok(options)
    }

    pub(super) fn ptr(&self) -> *mut rd::rd_kafka_AdminOptions_t {
        self.0.as_ptr()
    }

    /// Turns an `rd_kafka_error_t` a setter returned into a result, freeing it.
    pub(super) fn check(error: *mut rd::rd_kafka_error_t) -> Result<(), CallError> {
        match owned_error(error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

impl Drop for Options {
    fn drop(&mut self) {
        // SAFETY: we own the options and destroy them once.
        unsafe { rd::rd_kafka_AdminOptions_destroy(self.0.as_ptr()) }
    }
}

/// A C string librdkafka returned (null is `None`), copied.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that stays valid during the call.
pub(super) unsafe fn opt_string(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-null, NUL-terminated and valid, as the caller promises.
        Some(unsafe { CStr::from_ptr(ptr) }.to_string_lossy().into_owned())
    }
}

/// A C string librdkafka returned, copied; null becomes the empty string.
///
/// # Safety
/// As [`opt_string`].
pub(super) unsafe fn string(ptr: *const c_char) -> String {
    // SAFETY: the caller's promise is passed on.
    unsafe { opt_string(ptr) }.unwrap_or_default()
}

/// The NUL-terminated text librdkafka wrote into an error buffer.
pub(super) fn buffer_string(buffer: &[c_char]) -> String {
    let bytes: Vec<u8> = buffer
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// A Rust string as a C string; an interior NUL (which no Kafka name may hold) is refused.
pub(super) fn c_string(value: &str) -> Result<CString, CallError> {
    CString::new(value).map_err(|_| CallError::Refused(format!("{value:?} contains a NUL byte")))
}

/// An `rd_kafka_error_t` that belongs to a result object (not freed here), as a result.
///
/// # Safety
/// `error` is null or a live error object.
pub(super) unsafe fn borrowed_error(error: *const rd::rd_kafka_error_t) -> Option<CallError> {
    if error.is_null() {
        return None;
    }
    // SAFETY: non-null and live, as the caller promises; the string is copied at once.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(error),
            string(rd::rd_kafka_error_string(error)),
        )
    };
    if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    Some(CallError::Kafka {
        code: code.into(),
        message,
    })
}

/// An `rd_kafka_error_t` the caller owns, as a result; the object is freed.
fn owned_error(error: *mut rd::rd_kafka_error_t) -> Option<CallError> {
    if error.is_null() {
        return None;
    }
    // SAFETY: a non-null error a setter handed to us: live, read once, then destroyed once.
    unsafe {
        let result = borrowed_error(error);
        rd::rd_kafka_error_destroy(error);
        result
    }
}

/// The `(pointer, count)` array a result accessor returned, as a slice (empty when null).
///
/// # Safety
/// `ptr` is null or points to `len` initialized elements that outlive the returned slice.
pub(super) unsafe fn slice<'a, T>(ptr: *mut T, len: usize) -> &'a [T] {
    if ptr.is_null() || len == 0 {
        &[]
    } else {
        // SAFETY: as the caller promises.
        unsafe { std::slice::from_raw_parts(ptr, len) }
    }
}

/// The partitions of a topic partition list librdkafka owns, with their offsets and errors.
///
/// # Safety
/// `list` is null or a live list.
pub(super) unsafe fn partitions(
    list: *const rd::rd_kafka_topic_partition_list_t,
) -> Vec<(TopicPartition, i64, rd::rd_kafka_resp_err_t)> {
    if list.is_null() {
        return Vec::new();
    }
    // SAFETY: a live list holds `cnt` initialized elements at `elems`.
    let elems = unsafe {
        let list = &*list;
        slice(list.elems, usize::try_from(list.cnt).unwrap_or(0))
    };
    elems
        .iter()
        .map(|elem| {
            let partition = TopicPartition {
                // SAFETY: every element of a live list has a NUL-terminated topic name.
                topic: unsafe { string(elem.topic) },
                partition: elem.partition,
            };
            (partition, elem.offset, elem.err)
        })
        .collect()
}

/// A topic partition list we build and own, destroyed when dropped.
pub(super) struct PartitionList(NonNull<rd::rd_kafka_topic_partition_list_t>);

impl PartitionList {
    /// A list of `(partition, offset)`; librdkafka copies the topic names.
    pub(super) fn new(entries: &[(TopicPartition, i64)]) -> Result<PartitionList, CallError> {
        let size = c_int::try_from(entries.len()).unwrap_or(c_int::MAX);
        // SAFETY: creates an empty list that we own.
        let list = unsafe { rd::rd_kafka_topic_partition_list_new(size) };
        let list = NonNull::new(list)
            .map(PartitionList)
            .ok_or_else(|| CallError::Refused("cannot create a partition list".to_string()))?;
        for (tp, offset) in entries {
            let topic = c_string(&tp.topic)?;
            // SAFETY: the list is live; `topic` is a valid C string that librdkafka copies;
            // the returned element belongs to the list and is written before the next add.
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

    pub(super) fn ptr(&self) -> *mut rd::rd_kafka_topic_partition_list_t {
        self.0.as_ptr()
    }
}

impl Drop for PartitionList {
    fn drop(&mut self) {
        // SAFETY: we own the list and destroy it once.
        unsafe { rd::rd_kafka_topic_partition_list_destroy(self.0.as_ptr()) }
    }
}

/// The ids of every consumer group Kafka lists (`ListConsumerGroups`); groups that some
/// broker failed to list are left out, as Java's `listConsumerGroups().valid()` does.
pub fn list_group_ids(client: &NativeClient, timeout: Duration) -> Result<Vec<String>, CallError> {
    let queue = Queue::new(client)?;
    let options = Options::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
        timeout,
    )?;
    // SAFETY: client, options and queue are live; librdkafka copies what it needs.
    unsafe { rd::rd_kafka_ListConsumerGroups(client.ptr(), options.ptr(), queue.ptr()) };
    let event = queue.wait(timeout)?;
    // SAFETY: the event is live; the result and the listings it holds live as long as it,
    // and everything read is copied before `event` drops.
    let ids = unsafe {
        let result = rd::rd_kafka_event_ListConsumerGroups_result(event.ptr());
        if result.is_null() {
            return Err(CallError::Refused("not a ListConsumerGroups result".to_string()));
        }
        let mut count = 0usize;
        let listings = rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut count);
        slice(listings, count)
            .iter()
            .map(|&listing| string(rd::rd_kafka_ConsumerGroupListing_group_id(listing)))
            .collect()
    };
    Ok(ids)
}

/// Describes the groups `ids` (`DescribeConsumerGroups`), one result per group in the order
/// Kafka answered. A group Kafka does not know is `Ok(None)`: either an explicit
/// GROUP_ID_NOT_FOUND, or the dead, simple placeholder the classic protocol describes.
#[allow(clippy::type_complexity)]
pub fn describe_groups(
    client: &NativeClient,
    ids: &[String],
    timeout: Duration,
) -> Result<Vec<(String, Result<Option<ConsumerGroup>, CallError>)>, CallError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let c_ids = ids
        .iter()
        .map(|id| c_string(id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const c_char> = c_ids.iter().map(|id| id.as_ptr()).collect();
    let queue = Queue::new(client)?;
    let options = Options::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        timeout,
    )?;
    // SAFETY: `ptrs` holds `ptrs.len()` valid C strings (kept alive by `c_ids`), which
    // librdkafka copies before returning; client, options and queue are live.
    unsafe {
        rd::rd_kafka_DescribeConsumerGroups(
            client.ptr(),
            ptrs.as_mut_ptr(),
            ptrs.len(),
            options.ptr(),
            queue.ptr(),
        )
    };
    let event = queue.wait(timeout)?;
    // SAFETY: the event is live; every description, member, node and partition list read
    // below belongs to it and is copied before `event` drops.
    let groups = unsafe {
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.ptr());
        if result.is_null() {
            return Err(CallError::Refused("not a DescribeConsumerGroups result".to_string()));
        }
        let mut count = 0usize;
        let descriptions = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        slice(descriptions, count)
            .iter()
            .map(|&description| {
                let id = string(rd::rd_kafka_ConsumerGroupDescription_group_id(description));
                (id, describe_one(description))
            })
            .collect()
    };
    Ok(groups)
}

/// One group description, copied.
///
/// # Safety
/// `description` is a live description.
unsafe fn describe_one(
    description: *const rd::rd_kafka_ConsumerGroupDescription_t,
) -> Result<Option<ConsumerGroup>, CallError> {
    // SAFETY: `description` is live (the caller's promise), and so is everything it holds.
    unsafe {
        if let Some(error) =
            borrowed_error(rd::rd_kafka_ConsumerGroupDescription_error(description))
        {
            return match error.code() {
                Some(RDKafkaErrorCode::GroupIdNotFound) => Ok(None),
                _ => Err(error),
            };
        }
        let is_simple = rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(description) != 0;
        let state = group_state(rd::rd_kafka_ConsumerGroupDescription_state(description));
        if is_simple && state == GroupState::Dead {
            return Ok(None);
        }
        let node = rd::rd_kafka_ConsumerGroupDescription_coordinator(description);
        let coordinator = (!node.is_null()).then(|| Coordinator {
            broker_id: rd::rd_kafka_Node_id(node),
            host: string(rd::rd_kafka_Node_host(node)),
            port: rd::rd_kafka_Node_port(node),
        });
        let members = rd::rd_kafka_ConsumerGroupDescription_member_count(description);
        let consumers = (0..members)
            .map(|index| rd::rd_kafka_ConsumerGroupDescription_member(description, index))
            .filter(|member| !member.is_null())
            .map(|member| {
                let assignment = rd::rd_kafka_MemberDescription_assignment(member);
                let assigned = if assignment.is_null() {
                    Vec::new()
                } else {
                    partitions(rd::rd_kafka_MemberAssignment_partitions(assignment))
                        .into_iter()
                        .map(|(tp, _, _)| tp)
                        .collect()
                };
                GroupConsumer {
                    consumer_id: string(rd::rd_kafka_MemberDescription_consumer_id(member)),
                    instance_id: opt_string(rd::rd_kafka_MemberDescription_group_instance_id(
                        member,
                    )),
                    client_id: string(rd::rd_kafka_MemberDescription_client_id(member)),
                    host: string(rd::rd_kafka_MemberDescription_host(member)),
                    assignments: assigned,
                }
            })
            .collect();
        Ok(Some(ConsumerGroup {
            group_id: string(rd::rd_kafka_ConsumerGroupDescription_group_id(description)),
            is_simple,
            partition_assignor: string(rd::rd_kafka_ConsumerGroupDescription_partition_assignor(
                description,
            )),
            state,
            group_type: group_type(rd::rd_kafka_ConsumerGroupDescription_type(description)),
            coordinator,
            consumers,
        }))
    }
}

fn group_state(state: rd::rd_kafka_consumer_group_state_t) -> GroupState {
    use rd::rd_kafka_consumer_group_state_t::*;
    match state {
        RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE => GroupState::PreparingRebalance,
        RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE => GroupState::CompletingRebalance,
        RD_KAFKA_CONSUMER_GROUP_STATE_STABLE => GroupState::Stable,
        RD_KAFKA_CONSUMER_GROUP_STATE_DEAD => GroupState::Dead,
        RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY => GroupState::Empty,
        _ => GroupState::Unknown,
    }
}

fn group_type(kind: rd::rd_kafka_consumer_group_type_t) -> GroupType {
    use rd::rd_kafka_consumer_group_type_t::*;
    match kind {
        RD_KAFKA_CONSUMER_GROUP_TYPE_CONSUMER => GroupType::Consumer,
        RD_KAFKA_CONSUMER_GROUP_TYPE_CLASSIC => GroupType::Classic,
        _ => GroupType::Unknown,
    }
}

/// Deletes the consumer group `id` (`DeleteGroups`); Kafka refuses a group with members
/// (NON_EMPTY_GROUP) and one it does not know (GROUP_ID_NOT_FOUND).
pub fn delete_group(client: &NativeClient, id: &str, timeout: Duration) -> Result<(), CallError> {
    let c_id = c_string(id)?;
    let queue = Queue::new(client)?;
    let options = Options::new(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEGROUPS,
        timeout,
    )?;
    // SAFETY: `c_id` is a valid C string librdkafka copies into the new object, which we
    // destroy below once the request holds its own copy.
    let mut request = unsafe { rd::rd_kafka_DeleteGroup_new(c_id.as_ptr()) };
    if request.is_null() {
        return Err(CallError::Refused("cannot build the DeleteGroups request".to_string()));
    }
    // SAFETY: `request` is a live object in a one-element array; librdkafka copies it before
    // returning, so we destroy it right after.
    unsafe {
        rd::rd_kafka_DeleteGroups(client.ptr(), &mut request, 1, options.ptr(), queue.ptr());
        rd::rd_kafka_DeleteGroup_destroy(request);
    }
    let event = queue.wait(timeout)?;
    // SAFETY: the event is live and owns the group results read here.
    unsafe {
        let result = rd::rd_kafka_event_DeleteGroups_result(event.ptr());
        if result.is_null() {
            return Err(CallError::Refused("not a DeleteGroups result".to_string()));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_DeleteGroups_result_groups(result, &mut count);
        for &group in slice(groups, count) {
            if let Some(error) = borrowed_error(rd::rd_kafka_group_result_error(group)) {
                return Err(error);
            }
        }
    }
    Ok(())
}
