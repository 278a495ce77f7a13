//! `TopicApi`: list, create (with `validate_only`), read, grow and delete topics.

use std::collections::BTreeMap;

use kafka_rest_api::v3::{self, decode, models, TopicApi};
use kafka_rest_api::{Lenient, RawBody, Vnd};
use poem::Request;

use super::{paginate, set_location, Ctx, V3Service};
use crate::admin::{NewTopic, Topic};
use crate::error::ProxyError;

/// A topic with its links. `authorized_operations` is always empty: the proxy does not ask
/// Kafka for them (`docs/decisions.md`, "Authorized operations").
fn topic_data(
    ctx: &Ctx,
    name: &str,
    is_internal: bool,
    replication_factor: i32,
    partitions_count: i32,
) -> models::TopicData {
    models::TopicData {
        kind: "KafkaTopic".into(),
        metadata: ctx.resource(&["topics", name], &[("topic", name)]),
        cluster_id: ctx.cluster_id().to_string(),
        topic_name: name.to_string(),
        is_internal,
        replication_factor,
        partitions_count,
        partitions: ctx.related(&["topics", name, "partitions"]),
        configs: ctx.related(&["topics", name, "configs"]),
        partition_reassignments: ctx.related(&["topics", name, "partitions", "-", "reassignment"]),
        authorized_operations: Vec::new(),
    }
}

fn from_topic(ctx: &Ctx, topic: &Topic) -> models::TopicData {
    topic_data(
        ctx,
        &topic.name,
        topic.is_internal,
        count(topic.replication_factor()),
        count(topic.partitions.len()),
    )
}

fn count(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Kafka's rule for topic names: 1 to 249 of `[a-zA-Z0-9._-]`, and neither `.` nor `..`.
fn valid_topic_name(name: &str) -> bool {
    (1..=249).contains(&name.len())
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// The topic a create request asks for, checked for what Kafka cannot report well: the name,
/// the partition keys of `replicas_assignments` and the range of `replication_factor`.
fn new_topic(request: decode::CreateTopicRequestData) -> Result<NewTopic, ProxyError> {
    if !valid_topic_name(&request.topic_name) {
        return Err(ProxyError::V3PayloadError {
            message: "Invalid topic name.".into(),
        });
    }
    let mut assignments = BTreeMap::new();
    for (partition, brokers) in request.replicas_assignments.unwrap_or_default() {
        let partition = partition
            .parse::<i32>()
            .map_err(|_| ProxyError::V3PayloadError {
                message: format!("Invalid partition {partition:?} in replicas_assignments."),
            })?;
        assignments.insert(partition, brokers);
    }
    let replication_factor = request
        .replication_factor
        .map(|rf| {
            i16::try_from(rf).map_err(|_| ProxyError::V3PayloadError {
                message: format!("Invalid replication_factor {rf}."),
            })
        })
        .transpose()?;
    Ok(NewTopic {
        name: request.topic_name,
        partitions: request.partitions_count,
        replication_factor,
        assignments,
        configs: request
            .configs
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.name, c.value))
            .collect(),
    })
}

impl TopicApi for V3Service {
    type Error = ProxyError;

    /// `GET .../topics`: every topic, internal ones included, by name.
    async fn list_kafka_topics(
        &self,
        req: &Request,
        cluster_id: String,
        _include_authorized_operations: Option<Lenient<bool>>,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaTopicsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let topics = self.admin()?.topics().await?;
        let (page, metadata) = paginate(req, &ctx, topics, page_size, page_token)?;
        Ok(v3::ListKafkaTopicsResponse::Ok(Vnd::new(
            models::TopicDataList {
                kind: "KafkaTopicList".into(),
                metadata,
                data: page.iter().map(|t| from_topic(&ctx, t)).collect(),
            },
        )))
    }

    /// `POST .../topics`: 201 with the topic and its `Location`, or 200 with `validate_only`.
    /// The answer is the topic as Kafka reports it once created; with `validate_only`, or when
    /// the metadata does not show it yet, the counts of the request (0 when left to the
    /// brokers' defaults).
    async fn create_kafka_topic(
        &self,
        req: &Request,
        cluster_id: String,
        body: RawBody<models::CreateTopicRequestData, v3::media::CreateKafkaTopicBody>,
    ) -> Result<v3::CreateKafkaTopicResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let request = self.body(body, decode::decode_create_kafka_topic).await?;
        let validate_only = request.validate_only.unwrap_or(false);
        let topic = new_topic(request)?;
        let (partitions, replication) = match topic.assignments.first_key_value() {
            Some((_, brokers)) => (count(topic.assignments.len()), count(brokers.len())),
            None => (
                topic.partitions.unwrap_or(0),
                topic.replication_factor.map_or(0, i32::from),
            ),
        };
        let name = topic.name.clone();
        self.admin()?.create_topic(topic, validate_only).await?;
        let requested = topic_data(&ctx, &name, false, replication, partitions);
        if validate_only {
            return Ok(v3::CreateKafkaTopicResponse::Ok(Vnd::new(requested)));
        }
        set_location(req, requested.metadata.self_.clone());
        let created = match self.admin()?.topic(&name).await {
            Ok(topic) if !topic.partitions.is_empty() => from_topic(&ctx, &topic),
            _ => requested,
        };
        Ok(v3::CreateKafkaTopicResponse::Created(Vnd::new(created)))
    }

    /// `GET .../topics/{topic_name}`: an unknown topic is 404.
    async fn get_kafka_topic(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        _include_authorized_operations: Option<Lenient<bool>>,
    ) -> Result<v3::GetKafkaTopicResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let topic = self.admin()?.topic(&topic_name).await?;
        Ok(v3::GetKafkaTopicResponse::Ok(Vnd::new(from_topic(
            &ctx, &topic,
        ))))
    }

    /// `DELETE .../topics/{topic_name}`: an unknown topic is 404 / 40403 (Kafka's answer).
    async fn delete_kafka_topic(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
    ) -> Result<v3::DeleteKafkaTopicResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        self.admin()?.delete_topic(&topic_name).await?;
        Ok(v3::DeleteKafkaTopicResponse::NoContent)
    }

    /// `PATCH .../topics/{topic_name}`: grows the topic; Kafka refuses the same or a lower
    /// count (400 / 40002).
    async fn update_partition_count_kafka_topic(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        body: RawBody<
            models::UpdatePartitionCountRequestData,
            v3::media::UpdatePartitionCountKafkaTopicBody,
        >,
    ) -> Result<v3::UpdatePartitionCountKafkaTopicResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let request = self
            .body(body, decode::decode_update_partition_count_kafka_topic)
            .await?;
        let topic = self
            .admin()?
            .set_partitions_count(&topic_name, request.partitions_count)
            .await?;
        Ok(v3::UpdatePartitionCountKafkaTopicResponse::Ok(Vnd::new(
            from_topic(&ctx, &topic),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_names_follow_kafkas_rule() {
        assert!(valid_topic_name("orders.v1_x-2"));
        assert!(!valid_topic_name(""));
        assert!(!valid_topic_name("."));
        assert!(!valid_topic_name(".."));
        assert!(!valid_topic_name("a b"));
        assert!(!valid_topic_name(&"a".repeat(250)));
        assert!(valid_topic_name(&"a".repeat(249)));
    }
}
