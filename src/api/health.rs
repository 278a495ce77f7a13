//! Health probes for load balancers and orchestrators: `GET /health/live` (the process serves
//! HTTP) and `GET /health/ready` (and it can reach Kafka's metadata).

use kafka_rest_api::models::{HealthStatus, HealthStatusStatus};
use kafka_rest_api::{HealthLiveResponse, HealthReadyResponse, Vnd};

use kafka_rest_api::v2;
use poem::Request;

use super::Service;
use crate::error::ProxyError;

/// The operations tagged `health`.
impl v2::HealthApi for Service {
    type Error = ProxyError;

    /// `GET /health/live`: 200 `{"status":"UP"}` while the process serves HTTP.
    async fn health_live(&self, _request: &Request) -> Result<v2::HealthLiveResponse, ProxyError> {
        Ok(HealthLiveResponse::Ok(Vnd::new(HealthStatus {
            status: HealthStatusStatus::Up,
            brokers: None,
        })))
    }

    /// `GET /health/ready`: 200 `{"status":"UP","brokers":N}` while Kafka metadata is reachable
    /// (answered from the latest metadata fetch, never waiting longer than
    /// `health.ready.timeout.ms`; see `Metadata::ready_brokers`); 503 otherwise.
    async fn health_ready(
        &self,
        _request: &Request,
    ) -> Result<v2::HealthReadyResponse, ProxyError> {
        let brokers = self
            .services
            .metadata
            .ready_brokers()
            .await
            .map_err(|e| ProxyError::NotReady { source: e.into() })?;
        if brokers == 0 {
            return Err(ProxyError::NotReady {
                source: "the cluster reports no brokers".into(),
            });
        }
        Ok(HealthReadyResponse::Ok(Vnd::new(HealthStatus {
            status: HealthStatusStatus::Up,
            brokers: Some(i32::try_from(brokers).unwrap_or(i32::MAX)),
        })))
    }
}
