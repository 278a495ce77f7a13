//! librdkafka's consumer group admin calls, which rust-rdkafka does not wrap: list the groups
//! (`ListConsumerGroups`), describe them (`DescribeConsumerGroups`: state, type, coordinator,
//! members and their assignments) and delete one (`DeleteGroups`).
//!
//! Also the helpers the group, offset and ACL calls share beyond `mod.rs`'s: reading an error
//! object a result owns, and reading a topic partition list a result owns. What the results mean
//! for a client is decided in `src/admin/groups.rs`; this module only translates.

use std::ffi::c_char;
use std::time::Instant;

use rdkafka::bindings as rd;
use rdkafka::error::RDKafkaErrorCode;

use super::{c_string, call, owned, owned_ptr, slice, CallOptions, FfiError, NativeClient};
use crate::admin::groups::{
    ConsumerGroup, Coordinator, GroupConsumer, GroupState, GroupType, TopicPartition,
};

/// The error an error object of a result holds (`None` for none, or for no error); the object
/// belongs to the result and is not freed here.
///
/// # Safety
/// `error` is null or a live error object.
pub(super) unsafe fn result_error(error: *const rd::rd_kafka_error_t) -> Option<FfiError> {
    if error.is_null() {
        return None;
    }
    // SAFETY: non-null and live, as the caller promises; the string is copied at once.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(error),
            owned(rd::rd_kafka_error_string(error)),
        )
    };
    if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return None;
    }
    Some(FfiError::kafka(code.into(), message))
}

/// The partitions of a topic partition list a result owns, with their offsets and error codes.
///
/// # Safety
/// `list` is null or a live list.
pub(super) unsafe fn read_partitions(
    list: *const rd::rd_kafka_topic_partition_list_t,
) -> Vec<(TopicPartition, i64, rd::rd_kafka_resp_err_t)> {
    // SAFETY: a live list (the caller's promise) holds `cnt` initialized elements at `elems`.
    let Some(list) = (unsafe { list.as_ref() }) else {
        return Vec::new();
    };
    // SAFETY: as above.
    let elems = unsafe { slice(list.elems, usize::try_from(list.cnt).unwrap_or(0)) };
    elems
        .iter()
        .map(|elem| {
            let partition = TopicPartition {
                // SAFETY: every element of a live list has a NUL-terminated topic name.
                topic: unsafe { owned(elem.topic) }.unwrap_or_default(),
                partition: elem.partition,
            };
            (partition, elem.offset, elem.err)
        })
        .collect()
}

/// The ids of every consumer group Kafka lists; groups that some broker failed to list are
/// left out, as Java's `listConsumerGroups().valid()` does.
pub fn list_group_ids(client: &NativeClient, deadline: Instant) -> Result<Vec<String>, FfiError> {
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
        deadline,
        CallOptions::default(),
        // SAFETY: `call` hands over a live client, options and queue.
        |rk, options, queue| unsafe { rd::rd_kafka_ListConsumerGroups(rk, options, queue) },
    )?;
    // SAFETY: the event is live; the result and the listings it holds live as long as it, and
    // everything read is copied before `event` drops.
    unsafe {
        let result = rd::rd_kafka_event_ListConsumerGroups_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid("not a ListConsumerGroups result".into()));
        }
        let mut count = 0usize;
        let listings = rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut count);
        Ok(slice(listings, count)
            .iter()
            .filter_map(|&listing| owned(rd::rd_kafka_ConsumerGroupListing_group_id(listing)))
            .collect())
    }
}

/// One group's outcome in a describe: the group, `None` when Kafka does not know it, or its
/// own error.
pub type Described = Result<Option<ConsumerGroup>, FfiError>;

/// Describes the groups `ids`, one outcome per group in Kafka's order. A group Kafka does not
/// know is `Ok(None)`: an explicit GROUP_ID_NOT_FOUND, or the dead, simple placeholder the
/// classic protocol describes for it.
pub fn describe_groups(
    client: &NativeClient,
    ids: &[String],
    deadline: Instant,
) -> Result<Vec<(String, Described)>, FfiError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let c_ids = ids
        .iter()
        .map(|id| c_string(id))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ptrs: Vec<*const c_char> = c_ids.iter().map(|id| id.as_ptr()).collect();
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
        deadline,
        CallOptions::default(),
        // SAFETY: `ptrs` holds `ptrs.len()` valid C strings (kept alive by `c_ids`), which
        // librdkafka copies before returning; client, options and queue are live.
        |rk, options, queue| unsafe {
            rd::rd_kafka_DescribeConsumerGroups(rk, ptrs.as_mut_ptr(), ptrs.len(), options, queue)
        },
    )?;
    // SAFETY: the event is live; every description read below belongs to it and is copied
    // before `event` drops.
    unsafe {
        let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid(
                "not a DescribeConsumerGroups result".into(),
            ));
        }
        let mut count = 0usize;
        let descriptions = rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
        Ok(slice(descriptions, count)
            .iter()
            .map(|&description| {
                let id = owned(rd::rd_kafka_ConsumerGroupDescription_group_id(description))
                    .unwrap_or_default();
                (id, describe_one(description))
            })
            .collect())
    }
}

/// One group description, copied.
///
/// # Safety
/// `description` is a live description.
unsafe fn describe_one(description: *const rd::rd_kafka_ConsumerGroupDescription_t) -> Described {
    // SAFETY: `description` is live (the caller's promise), and so is everything it holds:
    // its error, coordinator node, members, their assignments and strings.
    unsafe {
        if let Some(error) = result_error(rd::rd_kafka_ConsumerGroupDescription_error(description))
        {
            return match error {
                FfiError::Kafka {
                    code: RDKafkaErrorCode::GroupIdNotFound,
                    ..
                } => Ok(None),
                error => Err(error),
            };
        }
        let is_simple =
            rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(description) != 0;
        let state = group_state(rd::rd_kafka_ConsumerGroupDescription_state(description));
        if is_simple && state == GroupState::Dead {
            return Ok(None);
        }
        let node = rd::rd_kafka_ConsumerGroupDescription_coordinator(description);
        let coordinator = (!node.is_null()).then(|| Coordinator {
            broker_id: rd::rd_kafka_Node_id(node),
            host: owned(rd::rd_kafka_Node_host(node)).unwrap_or_default(),
            port: rd::rd_kafka_Node_port(node),
        });
        let members = rd::rd_kafka_ConsumerGroupDescription_member_count(description);
        let consumers = (0..members)
            .map(|index| rd::rd_kafka_ConsumerGroupDescription_member(description, index))
            .filter(|member| !member.is_null())
            .map(|member| {
                let assignment = rd::rd_kafka_MemberDescription_assignment(member);
                let assignments = if assignment.is_null() {
                    Vec::new()
                } else {
                    read_partitions(rd::rd_kafka_MemberAssignment_partitions(assignment))
                        .into_iter()
                        .map(|(tp, _, _)| tp)
                        .collect()
                };
                GroupConsumer {
                    consumer_id: owned(rd::rd_kafka_MemberDescription_consumer_id(member))
                        .unwrap_or_default(),
                    instance_id: owned(rd::rd_kafka_MemberDescription_group_instance_id(member)),
                    client_id: owned(rd::rd_kafka_MemberDescription_client_id(member))
                        .unwrap_or_default(),
                    host: owned(rd::rd_kafka_MemberDescription_host(member)).unwrap_or_default(),
                    assignments,
                }
            })
            .collect();
        Ok(Some(ConsumerGroup {
            group_id: owned(rd::rd_kafka_ConsumerGroupDescription_group_id(description))
                .unwrap_or_default(),
            is_simple,
            partition_assignor: owned(rd::rd_kafka_ConsumerGroupDescription_partition_assignor(
                description,
            ))
            .unwrap_or_default(),
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

owned_ptr!(
    /// One group of a DeleteGroups request.
    DeleteGroup,
    rd::rd_kafka_DeleteGroup_t,
    rd::rd_kafka_DeleteGroup_destroy
);

/// Deletes the consumer group `id`; Kafka refuses a group with members (NON_EMPTY_GROUP) and
/// one it does not know (GROUP_ID_NOT_FOUND).
pub fn delete_group(client: &NativeClient, id: &str, deadline: Instant) -> Result<(), FfiError> {
    let c_id = c_string(id)?;
    // SAFETY: `c_id` is a valid C string librdkafka copies into the new object we own.
    let request = unsafe { DeleteGroup::from_raw(rd::rd_kafka_DeleteGroup_new(c_id.as_ptr())) }
        .ok_or_else(|| FfiError::Invalid("librdkafka could not build DeleteGroups".into()))?;
    let mut requests = [request.ptr()];
    let event = call(
        client,
        rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEGROUPS,
        deadline,
        CallOptions::default(),
        // SAFETY: a one-element array of a live request (owned by `request`), which
        // librdkafka copies before returning; client, options and queue are live.
        |rk, options, queue| unsafe {
            rd::rd_kafka_DeleteGroups(rk, requests.as_mut_ptr(), 1, options, queue)
        },
    )?;
    // SAFETY: the event is live and owns the group results read here.
    unsafe {
        let result = rd::rd_kafka_event_DeleteGroups_result(event.ptr());
        if result.is_null() {
            return Err(FfiError::Invalid("not a DeleteGroups result".into()));
        }
        let mut count = 0usize;
        let groups = rd::rd_kafka_DeleteGroups_result_groups(result, &mut count);
        for &group in slice(groups, count) {
            if let Some(error) = result_error(rd::rd_kafka_group_result_error(group)) {
                return Err(error);
            }
        }
    }
    Ok(())
}
