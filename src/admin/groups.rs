//! Consumer groups for the v3 API: listing and describing them (state, type, coordinator,
//! members and their assignments), and the two extensions Confluent lacks, deleting a group
//! and resetting an inactive group's committed offsets (with a dry run).
//!
//! Owns the plain domain values of a group and [`GroupsError`]; the operations are methods of
//! the [`Admin`] service, whose blocking pool, permits and deadline every call uses. The
//! librdkafka calls are in `ffi/`; lags are `lags.rs`; HTTP (paths, links, status codes) is
//! `src/api/v3/` and `src/error.rs`.

use std::time::Instant;

use rdkafka::error::RDKafkaErrorCode;

use crate::admin::ffi::groups as ffi_groups;
use crate::admin::ffi::offsets::{self as ffi_offsets, OffsetSpec};
use crate::admin::ffi::{FfiError, NativeClient};
use crate::admin::{Admin, AdminError};

/// A topic partition, as group assignments and offsets name it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

/// A consumer group's state, in Kafka's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Unknown,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
    Empty,
    Assigning,
    Reconciling,
}

impl GroupState {
    /// The name the v3 API answers (`STABLE`, `EMPTY`, ...).
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Unknown => "UNKNOWN",
            GroupState::PreparingRebalance => "PREPARING_REBALANCE",
            GroupState::CompletingRebalance => "COMPLETING_REBALANCE",
            GroupState::Stable => "STABLE",
            GroupState::Dead => "DEAD",
            GroupState::Empty => "EMPTY",
            GroupState::Assigning => "ASSIGNING",
            GroupState::Reconciling => "RECONCILING",
        }
    }
}

/// The protocol a group uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupType {
    Unknown,
    Consumer,
    Classic,
    Share,
}

impl GroupType {
    /// The name the v3 API answers (`CLASSIC`, `CONSUMER`, ...).
    pub fn name(self) -> &'static str {
        match self {
            GroupType::Unknown => "UNKNOWN",
            GroupType::Consumer => "CONSUMER",
            GroupType::Classic => "CLASSIC",
            GroupType::Share => "SHARE",
        }
    }
}

/// The broker that coordinates a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coordinator {
    pub broker_id: i32,
    pub host: String,
    pub port: u16,
}

/// One member of a group and the partitions assigned to it (sorted by topic, partition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConsumer {
    pub consumer_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub host: String,
    pub assignments: Vec<TopicPartition>,
}

/// A consumer group as Kafka describes it; members sorted by consumer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroup {
    pub group_id: String,
    pub is_simple: bool,
    pub partition_assignor: String,
    pub state: GroupState,
    pub group_type: GroupType,
    pub coordinator: Option<Coordinator>,
    pub consumers: Vec<GroupConsumer>,
}

impl ConsumerGroup {
    /// The member a partition is assigned to, if any.
    pub fn owner(&self, tp: &TopicPartition) -> Option<&GroupConsumer> {
        self.consumers
            .iter()
            .find(|consumer| consumer.assignments.contains(tp))
    }

    /// Members, then their assignments, in a stable order.
    fn sorted(mut self) -> ConsumerGroup {
        for consumer in &mut self.consumers {
            consumer.assignments.sort();
        }
        self.consumers
            .sort_by(|a, b| a.consumer_id.cmp(&b.consumer_id));
        self
    }
}

/// Where an offset reset moves each partition of a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResetTarget {
    Earliest,
    Latest,
    /// The first offset at or after this time (milliseconds since the epoch); partitions with
    /// no such record move to their end, as Kafka's own reset tool does.
    Timestamp(i64),
    /// Exactly these offsets, for exactly these partitions.
    Offsets(Vec<(TopicPartition, i64)>),
}

/// What can go wrong with a consumer group request.
#[derive(Debug, thiserror::Error)]
pub enum GroupsError {
    #[error("consumer group {group:?} not found")]
    GroupNotFound { group: String },
    #[error("consumer {consumer:?} not found in group {group:?}")]
    ConsumerNotFound { group: String, consumer: String },
    #[error("{topic}/{partition} is not assigned to consumer {consumer:?}")]
    AssignmentNotFound {
        consumer: String,
        topic: String,
        partition: i32,
    },
    /// The group exists but has no committed offset.
    #[error("consumer group {group:?} has no committed offsets")]
    OffsetsNotFound { group: String },
    /// The group has committed offsets, but none with a known log end.
    #[error("consumer group {group:?} has no lags")]
    LagsNotFound { group: String },
    #[error("consumer group {group:?} has no lag for {topic}/{partition}")]
    LagNotFound {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Deleting a group or resetting its offsets needs a group without members.
    #[error("consumer group {group:?} has {members} active members")]
    GroupNotEmpty { group: String, members: usize },
    /// An offset reset that names no partition, a negative offset or a partition twice.
    #[error("{message}")]
    InvalidReset { message: String },
    #[error(transparent)]
    Admin(#[from] AdminError),
}

impl Admin {
    /// Runs one librdkafka call of `ffi/` for the group, lag and ACL services, with the
    /// service's deadline and blocking-call permit.
    pub(super) async fn ffi_call<T, F>(
        &self,
        operation: &'static str,
        f: F,
    ) -> Result<T, AdminError>
    where
        T: Send + 'static,
        F: FnOnce(&NativeClient, Instant) -> Result<T, FfiError> + Send + 'static,
    {
        self.blocking(operation, move |client, deadline| {
            f(client, deadline).map_err(|source| AdminError::Call { operation, source })
        })
        .await
    }
}

/// Every consumer group Kafka knows, described, sorted by group id. A group that vanished
/// between listing and describing, or that the proxy may not describe, is left out, as
/// Confluent does.
pub async fn list_groups(admin: &Admin) -> Result<Vec<ConsumerGroup>, GroupsError> {
    let ids = admin
        .ffi_call("list consumer groups", ffi_groups::list_group_ids)
        .await?;
    let described = admin
        .ffi_call("describe consumer groups", move |client, deadline| {
            ffi_groups::describe_groups(client, &ids, deadline)
        })
        .await?;
    let mut groups = Vec::with_capacity(described.len());
    for (group, outcome) in described {
        match outcome {
            Ok(Some(found)) => groups.push(found.sorted()),
            Ok(None) => {}
            Err(FfiError::Kafka {
                code: RDKafkaErrorCode::GroupAuthorizationFailed,
                ..
            }) => {
                tracing::debug!(
                    group,
                    "skipping a consumer group the proxy may not describe"
                );
            }
            Err(source) => {
                return Err(AdminError::Call {
                    operation: "describe consumer groups",
                    source,
                }
                .into())
            }
        }
    }
    groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
    Ok(groups)
}

/// The group `group`, described.
pub async fn get_group(admin: &Admin, group: &str) -> Result<ConsumerGroup, GroupsError> {
    let ids = vec![group.to_string()];
    let described = admin
        .ffi_call("describe consumer group", move |client, deadline| {
            ffi_groups::describe_groups(client, &ids, deadline)
        })
        .await?;
    match described.into_iter().next() {
        Some((_, Ok(Some(found)))) => Ok(found.sorted()),
        Some((_, Err(source))) => Err(AdminError::Call {
            operation: "describe consumer group",
            source,
        }
        .into()),
        Some((_, Ok(None))) | None => Err(GroupsError::GroupNotFound {
            group: group.to_string(),
        }),
    }
}

/// One member of group `group`.
pub async fn get_consumer(
    admin: &Admin,
    group: &str,
    consumer: &str,
) -> Result<GroupConsumer, GroupsError> {
    get_group(admin, group)
        .await?
        .consumers
        .into_iter()
        .find(|member| member.consumer_id == consumer)
        .ok_or_else(|| GroupsError::ConsumerNotFound {
            group: group.to_string(),
            consumer: consumer.to_string(),
        })
}

/// Deletes group `group`, which must have no members.
pub async fn delete_group(admin: &Admin, group: &str) -> Result<(), GroupsError> {
    let id = group.to_string();
    let outcome = admin
        .ffi_call("delete consumer group", move |client, deadline| {
            ffi_groups::delete_group(client, &id, deadline)
        })
        .await;
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => match e.kafka_code().map(|(code, _)| code) {
            Some(RDKafkaErrorCode::GroupIdNotFound) => Err(GroupsError::GroupNotFound {
                group: group.to_string(),
            }),
            Some(RDKafkaErrorCode::NonEmptyGroup) => {
                // Kafka does not say how many members; ask, for the message.
                let members = get_group(admin, group)
                    .await
                    .map_or(0, |g| g.consumers.len());
                Err(GroupsError::GroupNotEmpty {
                    group: group.to_string(),
                    members,
                })
            }
            _ => Err(e.into()),
        },
    }
}

/// Resets the committed offsets of group `group`, which must exist and have no members, to
/// `target`. For earliest, latest and a timestamp, the partitions that move are every
/// partition of `topics` when given, else every partition the group has a committed offset
/// for; given offsets move exactly the partitions they name. With `dry_run` nothing is
/// changed. Answers the new offsets, sorted by topic and partition.
pub async fn reset_offsets(
    admin: &Admin,
    group: &str,
    target: ResetTarget,
    topics: Option<Vec<String>>,
    dry_run: bool,
) -> Result<Vec<(TopicPartition, i64)>, GroupsError> {
    let described = get_group(admin, group).await?;
    if !described.consumers.is_empty() {
        return Err(GroupsError::GroupNotEmpty {
            group: group.to_string(),
            members: described.consumers.len(),
        });
    }
    let mut offsets = match target {
        ResetTarget::Offsets(offsets) => {
            check_given_offsets(&offsets)?;
            offsets
        }
        target => {
            let partitions = match topics {
                Some(topics) => {
                    let mut partitions = Vec::new();
                    for topic in topics {
                        for p in admin.partitions(&topic).await? {
                            partitions.push(TopicPartition {
                                topic: topic.clone(),
                                partition: p.partition,
                            });
                        }
                    }
                    partitions
                }
                None => committed_offsets(admin, group)
                    .await?
                    .into_iter()
                    .map(|(tp, _)| tp)
                    .collect(),
            };
            if partitions.is_empty() {
                return Err(GroupsError::OffsetsNotFound {
                    group: group.to_string(),
                });
            }
            resolve(admin, partitions, &target).await?
        }
    };
    offsets.sort();
    if !dry_run {
        let id = group.to_string();
        let to_commit = offsets.clone();
        admin
            .ffi_call("reset consumer group offsets", move |client, deadline| {
                ffi_offsets::alter_group_offsets(client, &id, &to_commit, deadline)
            })
            .await?;
    }
    Ok(offsets)
}

/// Given offsets must name each partition once, with offsets of at least zero.
fn check_given_offsets(offsets: &[(TopicPartition, i64)]) -> Result<(), GroupsError> {
    if offsets.is_empty() {
        return Err(GroupsError::InvalidReset {
            message: "offsets must name at least one partition".to_string(),
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for (tp, offset) in offsets {
        if *offset < 0 {
            return Err(GroupsError::InvalidReset {
                message: format!(
                    "offset {offset} of {}/{} is negative",
                    tp.topic, tp.partition
                ),
            });
        }
        if !seen.insert(tp) {
            return Err(GroupsError::InvalidReset {
                message: format!("{}/{} is named twice", tp.topic, tp.partition),
            });
        }
    }
    Ok(())
}

/// The offsets `target` (not [`ResetTarget::Offsets`]) names for `partitions`.
async fn resolve(
    admin: &Admin,
    partitions: Vec<TopicPartition>,
    target: &ResetTarget,
) -> Result<Vec<(TopicPartition, i64)>, GroupsError> {
    let spec = match target {
        ResetTarget::Earliest => OffsetSpec::Earliest,
        ResetTarget::Latest | ResetTarget::Offsets(_) => OffsetSpec::Latest,
        ResetTarget::Timestamp(ms) => OffsetSpec::Timestamp(*ms),
    };
    let asked = partitions.clone();
    let mut found = admin
        .ffi_call("list offsets", move |client, deadline| {
            ffi_offsets::list_offsets(client, &asked, spec, false, deadline)
        })
        .await?;
    if matches!(spec, OffsetSpec::Timestamp(_)) {
        // No record at or after the time: such partitions move to their end.
        let past_end: Vec<TopicPartition> = found
            .iter()
            .filter(|(_, offset)| *offset < 0)
            .map(|(tp, _)| tp.clone())
            .collect();
        if !past_end.is_empty() {
            let ends = admin
                .ffi_call("list offsets", move |client, deadline| {
                    ffi_offsets::list_offsets(
                        client,
                        &past_end,
                        OffsetSpec::Latest,
                        false,
                        deadline,
                    )
                })
                .await?;
            found.retain(|(_, offset)| *offset >= 0);
            found.extend(ends);
        }
    }
    Ok(found)
}

/// The committed offsets of group `group` (partitions without one are left out).
pub async fn committed_offsets(
    admin: &Admin,
    group: &str,
) -> Result<Vec<(TopicPartition, i64)>, GroupsError> {
    let id = group.to_string();
    Ok(admin
        .ffi_call("list consumer group offsets", move |client, deadline| {
            ffi_offsets::list_group_offsets(client, &id, deadline)
        })
        .await?)
}
