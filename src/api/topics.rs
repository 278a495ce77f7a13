//! The root, topic, partition and broker metadata operations of `KafkaRestV2`.

use kafka_rest_api::{
    media as vnd, models, GetPartitionOffsetsResponse, GetPartitionResponse, GetRootResponse,
    GetTopicResponse, Lenient, ListBrokersResponse, ListPartitionsResponse, ListTopicsResponse,
    Nullable, PostRootResponse, RawBody, Vnd,
};

use crate::app::AppState;
use crate::error::ProxyError;
use crate::metadata::{PartitionInfo, PartitionOffsets};

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

/// `GET /`: a liveness no-op answering `{}`, as Confluent does.
pub fn root() -> GetRootResponse {
    GetRootResponse::Ok(Vnd::new(models::EmptyObject {}))
}

/// `POST /`: accepts any JSON object of string values (or no body) and answers `{}`, as
/// Confluent does.
pub async fn post_root(
    state: &AppState,
    body: RawBody<models::RootRequest, vnd::PostRootBody>,
) -> Result<PostRootResponse, ProxyError> {
    let content_type = body.content_type().unwrap_or_default().to_string();
    let bytes = super::read_body(
        body.into_body(),
        state.request_body_max_bytes,
        state.request_body_timeout,
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

/// `GET /topics`: the names of all topics except Kafka's internal ones.
pub async fn list_topics(state: &AppState) -> Result<ListTopicsResponse, ProxyError> {
    Ok(ListTopicsResponse::Ok(Vnd::new(
        state.metadata.topic_names().await?,
    )))
}

/// `GET /topics/{topic}`: name, every config and the partitions.
pub async fn get_topic(state: &AppState, topic: String) -> Result<GetTopicResponse, ProxyError> {
    let info = state.metadata.topic(&topic).await?;
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

/// `GET /topics/{topic}/partitions`.
pub async fn list_partitions(
    state: &AppState,
    topic: String,
) -> Result<ListPartitionsResponse, ProxyError> {
    let partitions = state.metadata.partitions(&topic).await?;
    Ok(ListPartitionsResponse::Ok(Vnd::new(
        partitions.into_iter().map(partition).collect(),
    )))
}

/// `GET /topics/{topic}/partitions/{partition}`.
pub async fn get_partition(
    state: &AppState,
    topic: String,
    raw_partition: Lenient<i32>,
) -> Result<GetPartitionResponse, ProxyError> {
    let id = partition_id(raw_partition)?;
    let info = state.metadata.partition(&topic, id).await?;
    Ok(GetPartitionResponse::Ok(Vnd::new(partition(info))))
}

/// `GET /topics/{topic}/partitions/{partition}/offsets`.
pub async fn get_offsets(
    state: &AppState,
    topic: String,
    raw_partition: Lenient<i32>,
) -> Result<GetPartitionOffsetsResponse, ProxyError> {
    let id = partition_id(raw_partition)?;
    let found = state.metadata.offsets(&topic, id).await?;
    Ok(GetPartitionOffsetsResponse::Ok(Vnd::new(offsets(found))))
}

/// `GET /brokers`: `{"brokers": [ids]}`.
pub async fn list_brokers(state: &AppState) -> Result<ListBrokersResponse, ProxyError> {
    let brokers = state.metadata.broker_ids().await?;
    Ok(ListBrokersResponse::Ok(Vnd::new(models::BrokerList {
        brokers,
    })))
}
