//! Consumer groups for the v3 API: listing and describing them (state, type, coordinator,
//! members and their assignments), and the two extensions Confluent lacks, deleting a group
//! and resetting an inactive group's committed offsets (with a dry run).
//!
//! Owns the plain domain values of a group, [`AdminCalls`] (how a blocking librdkafka admin
//! call runs: on the blocking pool, under a `kafka.blocking.calls.max` permit, with a
//! deadline), and [`GroupsError`]. The librdkafka calls are in `ffi/`; lags are `lags.rs`;
//! HTTP (paths, links, status codes) is `src/api/v3/` and `src/error.rs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::admin::AdminClient;
use rdkafka::client::{DefaultClientContext, NativeClient};
use rdkafka::error::RDKafkaErrorCode;

use crate::admin::ffi::groups::{self as ffi_groups, CallError};
use crate::admin::ffi::offsets::{self as ffi_offsets, OffsetSpec};
use crate::blocking::{BlockingCalls, Busy};

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

/// A failed librdkafka admin call: Kafka's answer, or no permit or thread to run it on.
#[derive(Debug, thiserror::Error)]
pub enum AdminCallError {
    #[error("{operation} failed")]
    Kafka {
        operation: &'static str,
        #[source]
        source: CallError,
    },
    /// No blocking-call permit (`kafka.blocking.calls.max`) became free within the deadline.
    #[error("no blocking Kafka call could start for {operation}")]
    Busy {
        operation: &'static str,
        #[source]
        source: Busy,
    },
    /// The blocking task ended without an answer (it panicked, or the runtime shuts down).
    #[error("the {operation} call ended without an answer")]
    Cancelled {
        operation: &'static str,
        #[source]
        source: tokio::task::JoinError,
    },
}

impl AdminCallError {
    /// The Kafka error code of the answer, if Kafka answered one.
    pub fn kafka_code(&self) -> Option<RDKafkaErrorCode> {
        match self {
            AdminCallError::Kafka { source, .. } => source.code(),
            _ => None,
        }
    }
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
    Call(#[from] AdminCallError),
}

/// How blocking librdkafka admin calls run: through one shared admin client, on the
/// blocking pool under a `kafka.blocking.calls.max` permit, each with a deadline. Cheap to
/// clone.
#[derive(Clone)]
pub struct AdminCalls {
    /// The long-lived admin client every call goes through (never a connection per request).
    client: Arc<AdminClient<DefaultClientContext>>,
    /// The permits shared with the metadata cache and the consumers.
    blocking: BlockingCalls,
    /// The bound on one call, the wait for a permit included.
    timeout: Duration,
}

impl AdminCalls {
    pub fn new(
        client: Arc<AdminClient<DefaultClientContext>>,
        blocking: BlockingCalls,
        timeout: Duration,
    ) -> AdminCalls {
        AdminCalls {
            client,
            blocking,
            timeout,
        }
    }

    /// Runs `call` on the blocking pool with what is left of the deadline.
    pub(crate) async fn run<T, F>(&self, operation: &'static str, call: F) -> Result<T, AdminCallError>
    where
        T: Send + 'static,
        F: FnOnce(&NativeClient, Duration) -> Result<T, CallError> + Send + 'static,
    {
        let deadline = Instant::now() + self.timeout;
        let client = Arc::clone(&self.client);
        let handle = self
            .blocking
            .spawn(deadline, move || {
                // At least a millisecond: librdkafka reads a zero timeout as "no timeout".
                let left = deadline
                    .saturating_duration_since(Instant::now())
                    .max(Duration::from_millis(1));
                call(client.inner().native_client(), left)
            })
            .await
            .map_err(|source| AdminCallError::Busy { operation, source })?;
        handle
            .await
            .map_err(|source| AdminCallError::Cancelled { operation, source })?
            .map_err(|source| AdminCallError::Kafka { operation, source })
    }
}

/// Every consumer group Kafka knows, described, sorted by group id. A group that vanished
/// between listing and describing, or that the proxy may not describe, is left out, as
/// Confluent does.
pub async fn list_groups(calls: &AdminCalls) -> Result<Vec<ConsumerGroup>, GroupsError> {
    let ids = calls
        .run("list consumer groups", ffi_groups::list_group_ids)
        .await?;
    let described = calls
        .run("describe consumer groups", move |client, timeout| {
            ffi_groups::describe_groups(client, &ids, timeout)
        })
        .await?;
    let mut groups = Vec::with_capacity(described.len());
    for (group, outcome) in described {
        match outcome {
            Ok(Some(found)) => groups.push(found.sorted()),
            Ok(None) => {}
            Err(e) if e.code() == Some(RDKafkaErrorCode::GroupAuthorizationFailed) => {
                tracing::debug!(group, "skipping a consumer group the proxy may not describe");
            }
            Err(source) => {
                return Err(AdminCallError::Kafka {
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
pub async fn get_group(calls: &AdminCalls, group: &str) -> Result<ConsumerGroup, GroupsError> {
    let ids = vec![group.to_string()];
    let described = calls
        .run("describe consumer group", move |client, timeout| {
            ffi_groups::describe_groups(client, &ids, timeout)
        })
        .await?;
    match described.into_iter().next() {
        Some((_, Ok(Some(found)))) => Ok(found.sorted()),
        Some((_, Err(source))) => Err(AdminCallError::Kafka {
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
    calls: &AdminCalls,
    group: &str,
    consumer: &str,
) -> Result<GroupConsumer, GroupsError> {
    get_group(calls, group)
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
pub async fn delete_group(calls: &AdminCalls, group: &str) -> Result<(), GroupsError> {
    let id = group.to_string();
    let outcome = calls
        .run("delete consumer group", move |client, timeout| {
            ffi_groups::delete_group(client, &id, timeout)
        })
        .await;
    match outcome {
        Ok(()) => Ok(()),
        Err(e) => match e.kafka_code() {
            Some(RDKafkaErrorCode::GroupIdNotFound) => Err(GroupsError::GroupNotFound {
                group: group.to_string(),
            }),
            Some(RDKafkaErrorCode::NonEmptyGroup) => {
                // Kafka does not say how many members; ask, for the message.
                let members = get_group(calls, group)
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
/// `target`: for earliest, latest and a timestamp, every partition the group has a committed
/// offset for moves; given offsets move exactly the partitions named. With `dry_run` nothing
/// is changed. Answers the new offsets, sorted by topic and partition.
pub async fn reset_offsets(
    calls: &AdminCalls,
    group: &str,
    target: ResetTarget,
    dry_run: bool,
) -> Result<Vec<(TopicPartition, i64)>, GroupsError> {
    let described = get_group(calls, group).await?;
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
            let committed = committed_offsets(calls, group).await?;
            if committed.is_empty() {
                return Err(GroupsError::OffsetsNotFound {
                    group: group.to_string(),
                });
            }
            let partitions: Vec<TopicPartition> =
                committed.into_iter().map(|(tp, _)| tp).collect();
            resolve(calls, partitions, &target).await?
        }
    };
    offsets.sort();
    if !dry_run {
        let id = group.to_string();
        let to_commit = offsets.clone();
        calls
            .run("reset consumer group offsets", move |client, timeout| {
                ffi_offsets::alter_group_offsets(client, &id, &to_commit, timeout)
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
    calls: &AdminCalls,
    partitions: Vec<TopicPartition>,
    target: &ResetTarget,
) -> Result<Vec<(TopicPartition, i64)>, GroupsError> {
    let spec = match target {
        ResetTarget::Earliest => OffsetSpec::Earliest,
        ResetTarget::Latest | ResetTarget::Offsets(_) => OffsetSpec::Latest,
        ResetTarget::Timestamp(ms) => OffsetSpec::Timestamp(*ms),
    };
    let asked = partitions.clone();
    let mut found = calls
        .run("list offsets", move |client, timeout| {
            ffi_offsets::list_offsets(client, &asked, spec, false, timeout)
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
            let ends = calls
                .run("list offsets", move |client, timeout| {
                    ffi_offsets::list_offsets(client, &past_end, OffsetSpec::Latest, false, timeout)
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
    calls: &AdminCalls,
    group: &str,
) -> Result<Vec<(TopicPartition, i64)>, GroupsError> {
    let id = group.to_string();
    Ok(calls
        .run("list consumer group offsets", move |client, timeout| {
            ffi_offsets::list_group_offsets(client, &id, timeout)
        })
        .await?)
}

/// The librdkafka wrappers against the real broker (`KAFKA_BOOTSTRAP`; skipped without it).
/// The HTTP answers built on them are tested in `tests/it/v3_groups.rs` and `v3_acls.rs`.
#[cfg(test)]
mod stack_tests {
    use std::time::Duration;

    use rdkafka::admin::{AdminOptions, NewTopic, TopicReplication};
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};
    use rdkafka::{Offset, TopicPartitionList};

    use super::*;
    use crate::admin::acls::{self, Acl, AclFilter, AclOperation, PatternType, Permission, ResourceType};
    use crate::admin::lags;

    fn bootstrap() -> Option<String> {
        std::env::var("KAFKA_BOOTSTRAP").ok().filter(|b| !b.is_empty())
    }

    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
    }

    fn calls(bootstrap: &str) -> AdminCalls {
        let client: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("admin client");
        AdminCalls::new(Arc::new(client), BlockingCalls::new(4), Duration::from_secs(10))
    }

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.to_string(),
            partition,
        }
    }

    /// A topic with `counts[p]` records in partition `p`.
    async fn topic_with(bootstrap: &str, counts: &[usize]) -> String {
        let topic = unique("groups");
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("admin client");
        let partitions = i32::try_from(counts.len()).expect("few partitions");
        let new = NewTopic::new(&topic, partitions, TopicReplication::Fixed(1));
        let created = admin
            .create_topics([&new], &AdminOptions::new())
            .await
            .expect("create topic");
        assert!(created.iter().all(|r| r.is_ok()), "{created:?}");
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .create()
            .expect("producer");
        for (partition, &count) in counts.iter().enumerate() {
            for n in 0..count {
                let payload = format!("record {n}");
                let record = FutureRecord::<(), _>::to(&topic)
                    .payload(&payload)
                    .partition(i32::try_from(partition).expect("few partitions"));
                producer
                    .send(record, Duration::from_secs(10))
                    .await
                    .expect("produced");
            }
        }
        topic
    }

    /// A consumer of `group` subscribed to `topic`, polled until it owns every partition.
    fn member(bootstrap: &str, group: &str, topic: &str, partitions: usize) -> BaseConsumer {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .set("client.id", "lag-test-client")
            .set("enable.auto.commit", "false")
            .create()
            .expect("consumer");
        consumer.subscribe(&[topic]).expect("subscribe");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while consumer.assignment().map_or(0, |a| a.count()) < partitions {
            assert!(std::time::Instant::now() < deadline, "no assignment in 30 s");
            let _ = consumer.poll(Duration::from_millis(100));
        }
        consumer
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn groups_lags_reset_and_delete_match_what_kafka_holds() {
        let Some(bootstrap) = bootstrap() else {
            eprintln!("skipped: no KAFKA_BOOTSTRAP");
            return;
        };
        let calls = calls(&bootstrap);
        let topic = topic_with(&bootstrap, &[5, 3]).await;
        let group = unique("group");
        let consumer = member(&bootstrap, &group, &topic, 2);
        let mut commit = TopicPartitionList::new();
        commit
            .add_partition_offset(&topic, 0, Offset::Offset(2))
            .expect("offset");
        commit
            .add_partition_offset(&topic, 1, Offset::Offset(3))
            .expect("offset");
        consumer.commit(&commit, CommitMode::Sync).expect("commit");

        let described = get_group(&calls, &group).await.expect("group");
        assert_eq!(described.state, GroupState::Stable);
        assert_eq!(described.group_type, GroupType::Classic);
        assert!(!described.is_simple);
        assert_eq!(described.partition_assignor, "range");
        assert_eq!(described.consumers.len(), 1);
        let only = &described.consumers[0];
        assert_eq!(only.client_id, "lag-test-client");
        assert_eq!(only.instance_id, None);
        assert_eq!(only.assignments, [tp(&topic, 0), tp(&topic, 1)]);
        assert!(described.coordinator.is_some());
        let listed = list_groups(&calls).await.expect("groups");
        assert!(listed.iter().any(|g| g.group_id == group), "{listed:?}");

        let lags = lags::list_lags(&calls, &group).await.expect("lags");
        let figures: Vec<_> = lags
            .iter()
            .map(|l| (l.partition, l.current_offset, l.log_end_offset, l.lag, l.consumer_id.clone()))
            .collect();
        assert_eq!(
            figures,
            [
                (0, 2, 5, 3, only.consumer_id.clone()),
                (1, 3, 3, 0, only.consumer_id.clone())
            ]
        );
        let summary = lags::lag_summary(&calls, &group).await.expect("summary");
        assert_eq!((summary.max_lag_partition, summary.max_lag, summary.total_lag), (0, 3, 3));

        // A group with a member is neither reset nor deleted.
        assert!(matches!(
            reset_offsets(&calls, &group, ResetTarget::Earliest, true).await,
            Err(GroupsError::GroupNotEmpty { members: 1, .. })
        ));
        assert!(matches!(
            delete_group(&calls, &group).await,
            Err(GroupsError::GroupNotEmpty { members: 1, .. })
        ));
        drop(consumer);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !get_group(&calls, &group).await.expect("group").consumers.is_empty() {
            assert!(std::time::Instant::now() < deadline, "the member did not leave");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(
            get_group(&calls, &group).await.expect("group").state,
            GroupState::Empty
        );

        let dry = reset_offsets(&calls, &group, ResetTarget::Earliest, true)
            .await
            .expect("dry run");
        assert_eq!(dry, [(tp(&topic, 0), 0), (tp(&topic, 1), 0)]);
        assert_eq!(
            committed_offsets(&calls, &group).await.expect("committed"),
            [(tp(&topic, 0), 2), (tp(&topic, 1), 3)]
        );
        reset_offsets(&calls, &group, ResetTarget::Latest, false)
            .await
            .expect("reset");
        let mut committed = committed_offsets(&calls, &group).await.expect("committed");
        committed.sort();
        assert_eq!(committed, [(tp(&topic, 0), 5), (tp(&topic, 1), 3)]);
        let future = reset_offsets(&calls, &group, ResetTarget::Timestamp(i64::MAX / 2), true)
            .await
            .expect("timestamp reset");
        assert_eq!(future, [(tp(&topic, 0), 5), (tp(&topic, 1), 3)]);

        delete_group(&calls, &group).await.expect("delete");
        assert!(matches!(
            get_group(&calls, &group).await,
            Err(GroupsError::GroupNotFound { .. })
        ));
        assert!(matches!(
            lags::list_lags(&calls, &group).await,
            Err(GroupsError::GroupNotFound { .. })
        ));
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn acls_created_are_listed_and_deleted_ones_are_gone() {
        let Some(bootstrap) = bootstrap() else {
            eprintln!("skipped: no KAFKA_BOOTSTRAP");
            return;
        };
        let calls = calls(&bootstrap);
        let principal = format!("User:{}", unique("alice"));
        let acl = |resource_type, name: &str, operation| Acl {
            resource_type,
            resource_name: name.to_string(),
            pattern_type: PatternType::Literal,
            principal: principal.clone(),
            host: "*".to_string(),
            operation,
            permission: Permission::Allow,
        };
        let wanted = vec![
            acl(ResourceType::Topic, "t", AclOperation::Write),
            acl(ResourceType::Group, "g", AclOperation::Read),
            acl(ResourceType::Topic, "t", AclOperation::Read),
            acl(ResourceType::Cluster, "kafka-cluster", AclOperation::Describe),
        ];
        acls::create_acls(&calls, wanted.clone()).await.expect("create");
        let filter = AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: Some(principal.clone()),
            host: None,
            operation: AclOperation::Any,
            permission: Permission::Any,
        };
        let mut sorted = wanted.clone();
        sorted.sort();
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let found = acls::search_acls(&calls, filter.clone()).await.expect("search");
            if found == sorted {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "found {found:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let topic_only = AclFilter {
            resource_type: ResourceType::Topic,
            ..filter.clone()
        };
        let deleted = acls::delete_acls(&calls, topic_only).await.expect("delete");
        assert_eq!(deleted, sorted[..2].to_vec());
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let left = acls::search_acls(&calls, filter.clone()).await.expect("search");
            if left == sorted[2..].to_vec() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "left {left:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        acls::delete_acls(&calls, filter).await.expect("clean up");
    }
}
