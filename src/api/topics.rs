//! Handlers for the root and the topic metadata endpoints.

use poem::handler;
use poem::web::Data;

use super::V2Json;
use crate::app::AppState;
use crate::error::ProxyError;
use crate::metadata::MetadataError;

impl From<MetadataError> for ProxyError {
    fn from(e: MetadataError) -> Self {
        match e {
            MetadataError::Request(source) => ProxyError::KafkaRetriable {
                message: source.to_string(),
            },
            other => ProxyError::internal(other),
        }
    }
}

/// `GET /`: a liveness no-op answering `{}`, as Confluent does.
#[handler]
pub async fn root() -> V2Json<serde_json::Map<String, serde_json::Value>> {
    V2Json(serde_json::Map::new())
}

/// `GET /topics`: the names of all topics except Kafka's internal ones.
#[handler]
pub async fn list_topics(state: Data<&AppState>) -> Result<V2Json<Vec<String>>, ProxyError> {
    Ok(V2Json(state.metadata.topic_names().await?))
}

/// `GET /brokers`: `{"brokers": [ids]}`.
#[handler]
pub async fn list_brokers(
    state: Data<&AppState>,
) -> Result<V2Json<serde_json::Value>, ProxyError> {
    let ids = state.metadata.broker_ids().await?;
    Ok(V2Json(serde_json::json!({ "brokers": ids })))
}
