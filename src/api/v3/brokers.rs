//! `BrokerApi`: the brokers of the cluster and the replicas each holds.

use kafka_rest_api::v3::{self, models, BrokerApi};
use kafka_rest_api::{Lenient, Nullable, Vnd};
use poem::Request;

use super::partitions::replica_data;
use super::{paginate, path_id, Ctx, V3Service};
use crate::admin::Broker;
use crate::error::ProxyError;

/// One broker with its links.
fn broker_data(ctx: &Ctx, broker: &Broker) -> models::BrokerData {
    let id = broker.id.to_string();
    models::BrokerData {
        kind: "KafkaBroker".into(),
        metadata: ctx.resource(&["brokers", &id], &[("broker", &id)]),
        cluster_id: ctx.cluster_id().to_string(),
        broker_id: broker.id,
        host: Nullable(Some(broker.host.clone())),
        port: Nullable(Some(i32::from(broker.port))),
        rack: Nullable(broker.rack.clone()),
        configs: ctx.related(&["brokers", &id, "configs"]),
        partition_replicas: ctx.related(&["brokers", &id, "partition-replicas"]),
    }
}

impl BrokerApi for V3Service {
    type Error = ProxyError;

    /// `GET .../brokers`: by broker id.
    async fn list_kafka_brokers(
        &self,
        req: &Request,
        cluster_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaBrokersResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let brokers = self.admin()?.brokers().await?;
        let (page, metadata) = paginate(req, &ctx, brokers, page_size, page_token)?;
        Ok(v3::ListKafkaBrokersResponse::Ok(Vnd::new(
            models::BrokerDataList {
                kind: "KafkaBrokerList".into(),
                metadata,
                data: page.iter().map(|b| broker_data(&ctx, b)).collect(),
            },
        )))
    }

    /// `GET .../brokers/{broker_id}`.
    async fn get_kafka_broker(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
    ) -> Result<v3::GetKafkaBrokerResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let broker = self.admin()?.broker(path_id(broker_id)?).await?;
        Ok(v3::GetKafkaBrokerResponse::Ok(Vnd::new(broker_data(
            &ctx, &broker,
        ))))
    }

    /// `GET .../brokers/{broker_id}/partition-replicas`: by topic, then partition.
    async fn search_kafka_replicas_by_broker(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::SearchKafkaReplicasByBrokerResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let replicas = self.admin()?.broker_replicas(path_id(broker_id)?).await?;
        let (page, metadata) = paginate(req, &ctx, replicas, page_size, page_token)?;
        Ok(v3::SearchKafkaReplicasByBrokerResponse::Ok(Vnd::new(
            models::ReplicaDataList {
                kind: "KafkaReplicaList".into(),
                metadata,
                data: page
                    .iter()
                    .map(|r| replica_data(&ctx, &r.topic, r.partition, &r.replica))
                    .collect(),
            },
        )))
    }
}
