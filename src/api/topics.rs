//! The root, topic, partition and broker metadata operations of `KafkaRestV2`.

use kafka_rest_api::{
    media as vnd, models, GetPartitionOffsetsResponse, GetPartitionResponse, GetRootResponse,
    GetTopicResponse, Lenient, ListBrokersResponse, ListPartitionsResponse, ListTopicsResponse,
    Nullable, PostRootResponse, RawBody, Vnd,
};

use super::Service;
use crate::error::ProxyError;
use crate::metadata::{PartitionInfo, PartitionOffsets};
use kafka_rest_api::v2;
use poem::Request;

fn partition(p: PartitionInfo) -> models::Partition {
    models::Partition {
        partition: p.partition,
        leader: p.leader,
        replicas: p
            .replicas
            .into_iter()
            .map(|r| models::PartitionReplica {
                broker: r.broker,
                leader: r.leader,
                in_sync: r.in_sync,
            })
            .collect(),
    }
}

fn offsets(o: PartitionOffsets) -> models::PartitionOffsets {
    models::PartitionOffsets {
        beginning_offset: o.beginning_offset,
        end_offset: o.end_offset,
    }
}

/// A partition path segment; anything but a non-negative integer names no partition.
pub(crate) fn partition_id(raw: Lenient<i32>) -> Result<i32, ProxyError> {
    raw.into_result()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or(ProxyError::PartitionNotFound)
}

/// The operations tagged `root`.
impl v2::RootApi for Service {
    type Error = ProxyError;

    /// `GET /`: a liveness no-op answering `{}`, as Confluent does.
    async fn get_root(&self, _request: &Request) -> Result<v2::GetRootResponse, ProxyError> {
        Ok(GetRootResponse::Ok(Vnd::new(models::EmptyObject {})))
    }

    /// `POST /`: accepts any JSON object of string values (or no body) and answers `{}`, as
    /// Confluent does.
    async fn post_root(
        &self,
        _request: &Request,
        body: RawBody<models::RootRequest, vnd::PostRootBody>,
    ) -> Result<v2::PostRootResponse, ProxyError> {
        let content_type = body.content_type().unwrap_or_default().to_string();
        let bytes = super::read_body(
            body.into_body(),
            self.http.request_body_max_bytes,
            self.http.request_body_timeout,
        )
        .await?;
        let empty = || PostRootResponse::Ok(Vnd::new(models::EmptyObject {}));
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(empty());
        }
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        if !essence.eq_ignore_ascii_case(crate::error::V2_JSON) {
            return Err(ProxyError::UnsupportedMediaType);
        }
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| ProxyError::BadRequest {
                message: format!("Malformed JSON: {e}"),
            })?;
        let all_strings = value
            .as_object()
            .is_some_and(|o| o.values().all(serde_json::Value::is_string));
        if !all_strings {
            return Err(ProxyError::InvalidRequest {
                message: "The body must be a JSON object of string values.".into(),
            });
        }
        Ok(empty())
    }
}

/// The operations tagged `topics`.
impl v2::TopicsApi for Service {
    type Error = ProxyError;

    /// `GET /topics`: the names of all topics except Kafka's internal ones.
    async fn list_topics(&self, _request: &Request) -> Result<v2::ListTopicsResponse, ProxyError> {
        Ok(ListTopicsResponse::Ok(Vnd::new(
            self.services.metadata.topic_names().await?,
        )))
    }

    /// `GET /topics/{topic}`: name, every config and the partitions.
    async fn get_topic(
        &self,
        _request: &Request,
        topic: String,
    ) -> Result<v2::GetTopicResponse, ProxyError> {
        let info = self.services.metadata.topic(&topic).await?;
        Ok(GetTopicResponse::Ok(Vnd::new(models::Topic {
            name: info.name,
            configs: info
                .configs
                .into_iter()
                .map(|(name, value)| (name, Nullable(value)))
                .collect(),
            partitions: info.partitions.into_iter().map(partition).collect(),
        })))
    }
}

/// The operations tagged `partitions`.
impl v2::PartitionsApi for Service {
    type Error = ProxyError;

    /// `GET /topics/{topic}/partitions`.
    async fn list_partitions(
        &self,
        _request: &Request,
        topic: String,
    ) -> Result<v2::ListPartitionsResponse, ProxyError> {
        let partitions = self.services.metadata.partitions(&topic).await?;
        Ok(ListPartitionsResponse::Ok(Vnd::new(
            partitions.into_iter().map(partition).collect(),
        )))
    }

    /// `GET /topics/{topic}/partitions/{partition}`.
    async fn get_partition(
        &self,
        _request: &Request,
        topic: String,
        raw_partition: Lenient<i32>,
    ) -> Result<v2::GetPartitionResponse, ProxyError> {
        let id = self::partition_id(raw_partition)?;
        let info = self.services.metadata.partition(&topic, id).await?;
        Ok(GetPartitionResponse::Ok(Vnd::new(partition(info))))
    }

    /// `GET /topics/{topic}/partitions/{partition}/offsets`.
    async fn get_partition_offsets(
        &self,
        _request: &Request,
        topic: String,
        raw_partition: Lenient<i32>,
    ) -> Result<v2::GetPartitionOffsetsResponse, ProxyError> {
        let id = self::partition_id(raw_partition)?;
        let found = self.services.metadata.offsets(&topic, id).await?;
        Ok(GetPartitionOffsetsResponse::Ok(Vnd::new(offsets(found))))
    }

    /// `GET /topics/{topic}/partitions/{partition}/records`: the stateless read.
    async fn read_partition_records(
        &self,
        request: &Request,
        topic: String,
        raw_partition: Lenient<i32>,
        offset: Lenient<i64>,
        timeout: Option<Lenient<i64>>,
        max_bytes: Option<Lenient<i64>>,
        count: Option<Lenient<i64>>,
    ) -> Result<v2::ReadPartitionRecordsResponse, ProxyError> {
        let query = super::partition_records::Query {
            offset,
            timeout,
            max_bytes,
            count,
        };
        super::partition_records::read(self, request, topic, raw_partition, query).await
    }
}

/// The operations tagged `brokers`.
impl v2::BrokersApi for Service {
    type Error = ProxyError;

    /// `GET /brokers`: `{"brokers": [ids]}`.
    async fn list_brokers(
        &self,
        _request: &Request,
    ) -> Result<v2::ListBrokersResponse, ProxyError> {
        let brokers = self.services.metadata.broker_ids().await?;
        Ok(ListBrokersResponse::Ok(Vnd::new(models::BrokerList {
            brokers,
        })))
    }
}
