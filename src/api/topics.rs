//! Handlers for the root, topic, partition and broker metadata endpoints.

use std::collections::BTreeMap;

use poem::handler;
use poem::web::{Data, Path};
use serde::Serialize;

use super::V2Json;
use crate::app::AppState;
use crate::error::ProxyError;
use crate::metadata::{MetadataError, PartitionInfo, PartitionOffsets};

impl From<MetadataError> for ProxyError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::UnknownTopic { topic } => ProxyError::TopicNotFound { topic },
            MetadataError::UnknownPartition { topic, partition } => {
                ProxyError::PartitionNotFound { topic, partition }
            }
            MetadataError::Request(source) => ProxyError::KafkaRetriable {
                message: source.to_string(),
            },
            other => ProxyError::internal(other),
        }
    }
}

#[derive(Serialize)]
struct Replica {
    broker: i32,
    leader: bool,
    in_sync: bool,
}

#[derive(Serialize)]
struct Partition {
    partition: i32,
    leader: i32,
    replicas: Vec<Replica>,
}

impl From<PartitionInfo> for Partition {
    fn from(p: PartitionInfo) -> Self {
        Partition {
            partition: p.partition,
            leader: p.leader,
            replicas: p
                .replicas
                .into_iter()
                .map(|r| Replica {
                    broker: r.broker,
                    leader: r.leader,
                    in_sync: r.in_sync,
                })
                .collect(),
        }
    }
}

#[derive(Serialize)]
struct Topic {
    name: String,
    configs: BTreeMap<String, Option<String>>,
    partitions: Vec<Partition>,
}

#[derive(Serialize)]
struct Offsets {
    beginning_offset: i64,
    end_offset: i64,
}

impl From<PartitionOffsets> for Offsets {
    fn from(o: PartitionOffsets) -> Self {
        Offsets {
            beginning_offset: o.beginning_offset,
            end_offset: o.end_offset,
        }
    }
}

/// A partition path segment; anything but a non-negative integer names no partition.
pub(crate) fn partition_id(topic: &str, raw: &str) -> Result<i32, ProxyError> {
    raw.parse::<i32>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or_else(|| ProxyError::PartitionNotFound {
            topic: topic.to_string(),
            partition: -1,
        })
}

/// `GET /`: a liveness no-op answering `{}`, as Confluent does.
#[handler]
pub async fn root() -> V2Json<serde_json::Map<String, serde_json::Value>> {
    V2Json(serde_json::Map::new())
}

/// `POST /`: accepts any JSON object of string values (or no body) and answers `{}`, as
/// Confluent does.
#[handler]
pub async fn post_root(
    req: &poem::Request,
    body: poem::Body,
    state: Data<&AppState>,
) -> Result<V2Json<serde_json::Map<String, serde_json::Value>>, ProxyError> {
    let bytes = super::read_body(
        body,
        state.request_body_max_bytes,
        state.request_body_timeout,
    )
    .await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(V2Json(serde_json::Map::new()));
    }
    let content_type = req
        .headers()
        .get(poem::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if !essence.eq_ignore_ascii_case(crate::error::V2_JSON) {
        return Err(ProxyError::UnsupportedMediaType);
    }
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| ProxyError::MalformedJson {
            message: format!("Malformed JSON: {e}"),
        })?;
    let all_strings = value
        .as_object()
        .is_some_and(|o| o.values().all(serde_json::Value::is_string));
    if !all_strings {
        return Err(ProxyError::Unprocessable {
            message: "The body must be a JSON object of string values.".into(),
        });
    }
    Ok(V2Json(serde_json::Map::new()))
}

/// `GET /topics`: the names of all topics except Kafka's internal ones.
#[handler]
pub async fn list_topics(state: Data<&AppState>) -> Result<V2Json<Vec<String>>, ProxyError> {
    Ok(V2Json(state.metadata.topic_names().await?))
}

/// `GET /topics/{topic}`: name, every config and the partitions.
#[handler]
pub async fn get_topic(
    state: Data<&AppState>,
    Path(topic): Path<String>,
) -> Result<V2Json<Topic>, ProxyError> {
    let info = state.metadata.topic(&topic).await?;
    Ok(V2Json(Topic {
        name: info.name,
        configs: info.configs,
        partitions: info.partitions.into_iter().map(Partition::from).collect(),
    }))
}

/// `GET /topics/{topic}/partitions`.
#[handler]
pub async fn list_partitions(
    state: Data<&AppState>,
    Path(topic): Path<String>,
) -> Result<V2Json<Vec<Partition>>, ProxyError> {
    let partitions = state.metadata.partitions(&topic).await?;
    Ok(V2Json(
        partitions.into_iter().map(Partition::from).collect(),
    ))
}

/// `GET /topics/{topic}/partitions/{partition}`.
#[handler]
pub async fn get_partition(
    state: Data<&AppState>,
    Path((topic, partition)): Path<(String, String)>,
) -> Result<V2Json<Partition>, ProxyError> {
    let partition = partition_id(&topic, &partition)?;
    let info = state.metadata.partition(&topic, partition).await?;
    Ok(V2Json(info.into()))
}

/// `GET /topics/{topic}/partitions/{partition}/offsets`.
#[handler]
pub async fn get_offsets(
    state: Data<&AppState>,
    Path((topic, partition)): Path<(String, String)>,
) -> Result<V2Json<Offsets>, ProxyError> {
    let partition = partition_id(&topic, &partition)?;
    let offsets = state.metadata.offsets(&topic, partition).await?;
    Ok(V2Json(offsets.into()))
}

/// `GET /brokers`: `{"brokers": [ids]}`.
#[handler]
pub async fn list_brokers(state: Data<&AppState>) -> Result<V2Json<serde_json::Value>, ProxyError> {
    let ids = state.metadata.broker_ids().await?;
    Ok(V2Json(serde_json::json!({ "brokers": ids })))
}
