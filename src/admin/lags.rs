//! Consumer lag for the v3 API: per partition (committed offset, log end, lag, the member
//! the partition is assigned to) and the group's lag summary (the partition with the most
//! lag, and the total).
//!
//! The log end is the last stable offset (READ_COMMITTED), as Confluent reads it, so records
//! of open transactions are not counted as lag. Lists are sorted as Confluent sorts them: by
//! lag descending, then topic, then partition. The group description and the calls are
//! `groups.rs`'s; HTTP is `src/api/v3/`.

use std::collections::BTreeMap;

use crate::admin::ffi::offsets::{self as ffi_offsets, OffsetSpec};
use crate::admin::groups::{
    committed_offsets, get_group, ConsumerGroup, GroupsError, TopicPartition,
};
use crate::admin::Admin;

/// The lag of one partition for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerLag {
    pub group_id: String,
    pub topic: String,
    pub partition: i32,
    pub current_offset: i64,
    pub log_end_offset: i64,
    /// `log_end_offset - current_offset`, never negative.
    pub lag: i64,
    /// The member the partition is assigned to: its ids, or empty strings (and no instance id)
    /// when the partition is not assigned.
    pub consumer_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
}

/// The lag of a whole group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LagSummary {
    pub group_id: String,
    /// The first partition (in Kafka's answer order) with the largest lag, and its member.
    pub max_lag_consumer_id: String,
    pub max_lag_instance_id: Option<String>,
    pub max_lag_client_id: String,
    pub max_lag_topic: String,
    pub max_lag_partition: i32,
    pub max_lag: i64,
    pub total_lag: i64,
}

/// The lags of every partition group `group` has a committed offset for, sorted by lag
/// descending, then topic, then partition.
pub async fn list_lags(admin: &Admin, group: &str) -> Result<Vec<ConsumerLag>, GroupsError> {
    let mut lags = raw_lags(admin, group).await?;
    if lags.is_empty() {
        return Err(GroupsError::LagsNotFound {
            group: group.to_string(),
        });
    }
    sort_lags(&mut lags);
    Ok(lags)
}

/// The lag of one partition for group `group`.
pub async fn get_lag(
    admin: &Admin,
    group: &str,
    topic: &str,
    partition: i32,
) -> Result<ConsumerLag, GroupsError> {
    raw_lags(admin, group)
        .await?
        .into_iter()
        .find(|lag| lag.topic == topic && lag.partition == partition)
        .ok_or_else(|| GroupsError::LagNotFound {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        })
}

/// The lag summary of group `group`.
pub async fn lag_summary(admin: &Admin, group: &str) -> Result<LagSummary, GroupsError> {
    let lags = raw_lags(admin, group).await?;
    summarize(group, &lags).ok_or_else(|| GroupsError::LagsNotFound {
        group: group.to_string(),
    })
}

/// Lags in the order of the committed offsets; errors when the group does not exist or has no
/// committed offset at all.
async fn raw_lags(admin: &Admin, group: &str) -> Result<Vec<ConsumerLag>, GroupsError> {
    let described = get_group(admin, group).await?;
    let committed = committed_offsets(admin, group).await?;
    if committed.is_empty() {
        return Err(GroupsError::OffsetsNotFound {
            group: group.to_string(),
        });
    }
    let partitions: Vec<TopicPartition> = committed.iter().map(|(tp, _)| tp.clone()).collect();
    let ends = admin
        .ffi_call("list offsets", move |client, deadline| {
            ffi_offsets::list_offsets(client, &partitions, OffsetSpec::Latest, true, deadline)
        })
        .await?;
    Ok(combine(&described, &committed, &ends))
}

/// One lag per committed partition whose log end is known.
fn combine(
    group: &ConsumerGroup,
    committed: &[(TopicPartition, i64)],
    ends: &[(TopicPartition, i64)],
) -> Vec<ConsumerLag> {
    let ends: BTreeMap<&TopicPartition, i64> = ends
        .iter()
        .filter(|(_, end)| *end >= 0)
        .map(|(tp, end)| (tp, *end))
        .collect();
    committed
        .iter()
        .filter_map(|(tp, current)| {
            let end = *ends.get(tp)?;
            let owner = group.owner(tp);
            Some(ConsumerLag {
                group_id: group.group_id.clone(),
                topic: tp.topic.clone(),
                partition: tp.partition,
                current_offset: *current,
                log_end_offset: end,
                lag: (end - current).max(0),
                consumer_id: owner.map(|o| o.consumer_id.clone()).unwrap_or_default(),
                instance_id: owner.and_then(|o| o.instance_id.clone()),
                client_id: owner.map(|o| o.client_id.clone()).unwrap_or_default(),
            })
        })
        .collect()
}

/// Lag descending, then topic, then partition.
fn sort_lags(lags: &mut [ConsumerLag]) {
    lags.sort_by(|a, b| {
        b.lag
            .cmp(&a.lag)
            .then_with(|| a.topic.cmp(&b.topic))
            .then_with(|| a.partition.cmp(&b.partition))
    });
}

/// The summary of `lags` (in their given order: the first partition with the largest lag
/// wins), or `None` when there is none.
fn summarize(group: &str, lags: &[ConsumerLag]) -> Option<LagSummary> {
    let mut max: Option<&ConsumerLag> = None;
    for lag in lags {
        if max.is_none_or(|m| lag.lag > m.lag) {
            max = Some(lag);
        }
    }
    let max = max?;
    Some(LagSummary {
        group_id: group.to_string(),
        max_lag_consumer_id: max.consumer_id.clone(),
        max_lag_instance_id: max.instance_id.clone(),
        max_lag_client_id: max.client_id.clone(),
        max_lag_topic: max.topic.clone(),
        max_lag_partition: max.partition,
        max_lag: max.lag,
        total_lag: lags.iter().map(|lag| lag.lag).sum(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::admin::groups::{GroupConsumer, GroupState, GroupType};

    fn tp(topic: &str, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.to_string(),
            partition,
        }
    }

    fn group() -> ConsumerGroup {
        ConsumerGroup {
            group_id: "g".to_string(),
            is_simple: false,
            partition_assignor: "range".to_string(),
            state: GroupState::Stable,
            group_type: GroupType::Classic,
            coordinator: None,
            consumers: vec![GroupConsumer {
                consumer_id: "c-1".to_string(),
                instance_id: Some("i-1".to_string()),
                client_id: "client".to_string(),
                host: "/127.0.0.1".to_string(),
                assignments: vec![tp("a", 1)],
            }],
        }
    }

    #[test]
    fn lags_are_end_minus_committed_never_negative_and_name_the_owner_or_nobody() {
        let committed = [(tp("a", 0), 5), (tp("a", 1), 2), (tp("b", 0), 9)];
        let ends = [(tp("a", 0), 7), (tp("a", 1), 10), (tp("b", 0), 8)];
        let lags = combine(&group(), &committed, &ends);
        let figures: Vec<_> = lags
            .iter()
            .map(|l| {
                (
                    l.topic.as_str(),
                    l.partition,
                    l.current_offset,
                    l.log_end_offset,
                    l.lag,
                )
            })
            .collect();
        assert_eq!(
            figures,
            [("a", 0, 5, 7, 2), ("a", 1, 2, 10, 8), ("b", 0, 9, 8, 0)]
        );
        assert_eq!(lags[0].consumer_id, "");
        assert_eq!(lags[0].instance_id, None);
        assert_eq!(lags[1].consumer_id, "c-1");
        assert_eq!(lags[1].instance_id.as_deref(), Some("i-1"));
        assert_eq!(lags[1].client_id, "client");
    }

    #[test]
    fn a_partition_without_a_known_end_has_no_lag() {
        let lags = combine(&group(), &[(tp("a", 0), 5)], &[(tp("a", 0), -1)]);
        assert!(lags.is_empty());
    }

    #[test]
    fn lags_sort_by_lag_descending_then_topic_then_partition() {
        let committed = [
            (tp("b", 1), 0),
            (tp("a", 2), 0),
            (tp("a", 1), 0),
            (tp("c", 0), 0),
        ];
        let ends = [
            (tp("b", 1), 3),
            (tp("a", 2), 3),
            (tp("a", 1), 3),
            (tp("c", 0), 9),
        ];
        let mut lags = combine(&group(), &committed, &ends);
        sort_lags(&mut lags);
        let order: Vec<_> = lags
            .iter()
            .map(|l| (l.topic.as_str(), l.partition))
            .collect();
        assert_eq!(order, [("c", 0), ("a", 1), ("a", 2), ("b", 1)]);
    }

    #[test]
    fn the_summary_takes_the_first_largest_lag_and_adds_all_lags() {
        let committed = [(tp("a", 0), 0), (tp("a", 1), 0), (tp("b", 0), 0)];
        let ends = [(tp("a", 0), 3), (tp("a", 1), 7), (tp("b", 0), 7)];
        let lags = combine(&group(), &committed, &ends);
        let summary = summarize("g", &lags).expect("three lags");
        assert_eq!(
            summary,
            LagSummary {
                group_id: "g".to_string(),
                max_lag_consumer_id: "c-1".to_string(),
                max_lag_instance_id: Some("i-1".to_string()),
                max_lag_client_id: "client".to_string(),
                max_lag_topic: "a".to_string(),
                max_lag_partition: 1,
                max_lag: 7,
                total_lag: 17,
            }
        );
        assert_eq!(summarize("g", &[]), None);
    }
}
