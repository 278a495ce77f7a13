//! Health probes for load balancers and orchestrators: `GET /health/live` (the process serves
//! HTTP) and `GET /health/ready` (and it can reach Kafka's metadata).

use poem::handler;
use poem::web::Data;

use super::V2Json;
use crate::app::AppState;
use crate::error::ProxyError;

/// `GET /health/live`: 200 `{"status":"UP"}` while the process serves HTTP.
#[handler]
pub async fn live() -> V2Json<serde_json::Value> {
    V2Json(serde_json::json!({ "status": "UP" }))
}

/// `GET /health/ready`: 200 `{"status":"UP","brokers":N}` while Kafka metadata is reachable
/// (answered from the metadata snapshot, at most `metadata.cache.ms` old); 503 otherwise.
#[handler]
pub async fn ready(state: Data<&AppState>) -> Result<V2Json<serde_json::Value>, ProxyError> {
    let brokers = state
        .metadata
        .broker_ids()
        .await
        .map_err(|e| ProxyError::NotReady { source: e.into() })?;
    if brokers.is_empty() {
        return Err(ProxyError::NotReady {
            source: "the cluster reports no brokers".into(),
        });
    }
    Ok(V2Json(
        serde_json::json!({ "status": "UP", "brokers": brokers.len() }),
    ))
}
