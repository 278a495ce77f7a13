//! `ClusterApi`: the cluster the proxy is connected to, alone in its list.

use kafka_rest_api::v3::{self, models, ClusterApi};
use kafka_rest_api::{Nullable, Vnd};
use poem::Request;

use super::{Ctx, V3Service};
use crate::admin::Cluster;
use crate::error::ProxyError;

/// The cluster resource with its links.
fn cluster_data(ctx: &Ctx, cluster: &Cluster) -> models::ClusterData {
    models::ClusterData {
        kind: "KafkaCluster".into(),
        metadata: models::ResourceMetadata {
            self_: ctx.cluster_url(),
            resource_name: Some(Nullable(Some(ctx.crn(&[])))),
        },
        cluster_id: ctx.cluster_id().to_string(),
        controller: Nullable(
            cluster
                .controller
                .map(|id| ctx.related(&["brokers", &id.to_string()])),
        ),
        acls: ctx.related(&["acls"]),
        brokers: ctx.related(&["brokers"]),
        broker_configs: ctx.related(&["broker-configs"]),
        consumer_groups: ctx.related(&["consumer-groups"]),
        topics: ctx.related(&["topics"]),
        partition_reassignments: ctx.related(&["topics", "-", "partitions", "-", "reassignment"]),
    }
}

impl ClusterApi for V3Service {
    type Error = ProxyError;

    /// `GET /v3/clusters`: the connected cluster, as a list of one.
    async fn list_kafka_clusters(
        &self,
        req: &Request,
    ) -> Result<v3::ListKafkaClustersResponse, ProxyError> {
        let ctx = self.ctx_connected(req).await?;
        let cluster = self.admin()?.cluster().await?;
        Ok(v3::ListKafkaClustersResponse::Ok(Vnd::new(
            models::ClusterDataList {
                kind: "KafkaClusterList".into(),
                metadata: models::ResourceCollectionMetadata {
                    self_: ctx.clusters_url(),
                    next: Nullable(None),
                },
                data: vec![cluster_data(&ctx, &cluster)],
            },
        )))
    }

    /// `GET /v3/clusters/{cluster_id}`.
    async fn get_kafka_cluster(
        &self,
        req: &Request,
        cluster_id: String,
    ) -> Result<v3::GetKafkaClusterResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let cluster = self.admin()?.cluster().await?;
        Ok(v3::GetKafkaClusterResponse::Ok(Vnd::new(cluster_data(
            &ctx, &cluster,
        ))))
    }
}
