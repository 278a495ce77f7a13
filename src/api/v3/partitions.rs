//! `PartitionApi` and `ReplicaApi`: the partitions of a topic with their offsets, the records
//! deletion extension, reassignments (which this proxy cannot list, `docs/decisions.md`,
//! "Partition reassignments"), and the replicas of a partition.

use kafka_rest_api::v3::{self, decode, models, PartitionApi, ReplicaApi};
use kafka_rest_api::{Lenient, Nullable, RawBody, Vnd};
use poem::Request;

use super::{paginate, path_id, Ctx, V3Service};
use crate::error::ProxyError;
use crate::metadata::{PartitionInfo, Replica};

/// One partition with its links (a leader link only when it has a leader).
fn partition_data(ctx: &Ctx, topic: &str, partition: &PartitionInfo) -> models::PartitionData {
    let p = partition.partition.to_string();
    models::PartitionData {
        kind: "KafkaPartition".into(),
        metadata: ctx.resource(
            &["topics", topic, "partitions", &p],
            &[("topic", topic), ("partition", &p)],
        ),
        cluster_id: ctx.cluster_id().to_string(),
        topic_name: topic.to_string(),
        partition_id: partition.partition,
        leader: Nullable((partition.leader >= 0).then(|| {
            ctx.related(&[
                "topics",
                topic,
                "partitions",
                &p,
                "replicas",
                &partition.leader.to_string(),
            ])
        })),
        replicas: ctx.related(&["topics", topic, "partitions", &p, "replicas"]),
        reassignment: ctx.related(&["topics", topic, "partitions", &p, "reassignment"]),
    }
}

/// One replica with its link to its broker.
pub fn replica_data(
    ctx: &Ctx,
    topic: &str,
    partition: i32,
    replica: &Replica,
) -> models::ReplicaData {
    let p = partition.to_string();
    let b = replica.broker.to_string();
    models::ReplicaData {
        kind: "KafkaReplica".into(),
        metadata: ctx.resource(
            &["topics", topic, "partitions", &p, "replicas", &b],
            &[("topic", topic), ("partition", &p), ("replica", &b)],
        ),
        cluster_id: ctx.cluster_id().to_string(),
        topic_name: topic.to_string(),
        partition_id: partition,
        broker_id: replica.broker,
        is_leader: replica.leader,
        is_in_sync: replica.in_sync,
        broker: ctx.related(&["brokers", &b]),
    }
}

/// The answer of every reassignment read (`docs/decisions.md`, "Partition reassignments").
fn reassignments_unsupported() -> ProxyError {
    ProxyError::from(crate::admin::AdminError::ReassignmentsUnsupported)
}

impl PartitionApi for V3Service {
    type Error = ProxyError;

    /// `GET .../topics/{topic_name}/partitions`: by partition id.
    async fn list_kafka_partitions(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaPartitionsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let partitions = self.admin()?.partitions(&topic_name).await?;
        let (page, metadata) = paginate(req, &ctx, partitions, page_size, page_token)?;
        Ok(v3::ListKafkaPartitionsResponse::Ok(Vnd::new(
            models::PartitionDataList {
                kind: "KafkaPartitionList".into(),
                metadata,
                data: page
                    .iter()
                    .map(|p| partition_data(&ctx, &topic_name, p))
                    .collect(),
            },
        )))
    }

    /// `GET .../partitions/{partition_id}`.
    async fn get_kafka_partition(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<v3::GetKafkaPartitionResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let partition = self
            .admin()?
            .partition(&topic_name, path_id(partition_id)?)
            .await?;
        Ok(v3::GetKafkaPartitionResponse::Ok(Vnd::new(partition_data(
            &ctx,
            &topic_name,
            &partition,
        ))))
    }

    /// `GET .../partitions/{partition_id}/offset`: earliest and latest offsets.
    async fn get_kafka_partition_offsets(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
        offset_type: Option<String>,
    ) -> Result<v3::GetKafkaPartitionOffsetsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let partition = path_id(partition_id)?;
        if let Some(other) = offset_type.filter(|t| t != "earliest_and_latest") {
            return Err(ProxyError::BadRequest {
                message: format!("offset_type:{other} is invalid"),
            });
        }
        let offsets = self.admin()?.offsets(&topic_name, partition).await?;
        let p = partition.to_string();
        Ok(v3::GetKafkaPartitionOffsetsResponse::Ok(Vnd::new(
            models::PartitionWithOffsetsData {
                kind: "KafkaPartitionWithOffsets".into(),
                metadata: ctx.resource(
                    &["topics", &topic_name, "partitions", &p, "offset"],
                    &[("topic", &topic_name), ("partition", &p)],
                ),
                cluster_id: ctx.cluster_id().to_string(),
                topic_name,
                partition_id: partition,
                earliest_offset: offsets.earliest,
                latest_offset: offsets.latest,
            },
        )))
    }

    /// `POST .../topics/{topic_name}/records:delete` (extension): see
    /// [`V3Service::delete_records`].
    async fn delete_kafka_records(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        body: RawBody<models::DeleteRecordsRequestData, v3::media::DeleteKafkaRecordsBody>,
    ) -> Result<v3::DeleteKafkaRecordsResponse, ProxyError> {
        self.delete_records(req, cluster_id, topic_name, body.into_body())
            .await
    }

    /// `GET .../topics/-/partitions/-/reassignment`: not available (see the module doc).
    async fn list_kafka_all_reassignments(
        &self,
        req: &Request,
        cluster_id: String,
        _page_size: Option<Lenient<i32>>,
        _page_token: Option<String>,
    ) -> Result<v3::ListKafkaAllReassignmentsResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        Err(reassignments_unsupported())
    }

    /// `GET .../topics/{topic_name}/partitions/-/reassignment`: not available.
    async fn search_kafka_reassignments_by_topic(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        _page_size: Option<Lenient<i32>>,
        _page_token: Option<String>,
    ) -> Result<v3::SearchKafkaReassignmentsByTopicResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        self.admin()?.topic(&topic_name).await?;
        Err(reassignments_unsupported())
    }

    /// `GET .../partitions/{partition_id}/reassignment`: not available.
    async fn get_kafka_reassignment(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<v3::GetKafkaReassignmentResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        self.admin()?
            .partition(&topic_name, path_id(partition_id)?)
            .await?;
        Err(reassignments_unsupported())
    }
}

impl ReplicaApi for V3Service {
    type Error = ProxyError;

    /// `GET .../partitions/{partition_id}/replicas`: in Kafka's replica order.
    async fn list_kafka_replicas(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaReplicasResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let partition = self
            .admin()?
            .partition(&topic_name, path_id(partition_id)?)
            .await?;
        let (page, metadata) = paginate(req, &ctx, partition.replicas, page_size, page_token)?;
        Ok(v3::ListKafkaReplicasResponse::Ok(Vnd::new(
            models::ReplicaDataList {
                kind: "KafkaReplicaList".into(),
                metadata,
                data: page
                    .iter()
                    .map(|r| replica_data(&ctx, &topic_name, partition.partition, r))
                    .collect(),
            },
        )))
    }

    /// `GET .../partitions/{partition_id}/replicas/{broker_id}`.
    async fn get_kafka_replica(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
        broker_id: Lenient<i32>,
    ) -> Result<v3::GetKafkaReplicaResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let partition = path_id(partition_id)?;
        let replica = self
            .admin()?
            .replica(&topic_name, partition, path_id(broker_id)?)
            .await?;
        Ok(v3::GetKafkaReplicaResponse::Ok(Vnd::new(replica_data(
            &ctx,
            &topic_name,
            partition,
            &replica,
        ))))
    }
}

impl V3Service {
    /// `POST .../topics/{topic_name}/records:delete` (extension): each listed partition's
    /// records before its offset, answering the new low watermarks.
    pub async fn delete_records(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        body: poem::Body,
    ) -> Result<v3::DeleteKafkaRecordsResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body_of(body, decode::decode_delete_kafka_records)
            .await?;
        let mut data = Vec::with_capacity(request.partitions.len());
        for p in request.partitions {
            let low_watermark = self
                .admin()?
                .delete_records(&topic_name, p.partition_id, p.before_offset)
                .await?;
            data.push(models::DeleteRecordsResult {
                partition_id: p.partition_id,
                low_watermark,
            });
        }
        Ok(v3::DeleteKafkaRecordsResponse::Ok(Vnd::new(
            models::DeleteRecordsResponseData { data },
        )))
    }
}
