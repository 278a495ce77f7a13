//! `ConfigsApi`: broker, cluster-wide and topic configs; reads, single changes and batches
//! (incremental SET / DELETE, `validate_only` honoured everywhere, `docs/decisions.md`,
//! "validate_only"). Cluster-wide broker configs are read-only here (`docs/decisions.md`,
//! "Cluster-wide broker configs").

use kafka_rest_api::v3::{self, decode, models, ConfigsApi};
use kafka_rest_api::{Lenient, Nullable, RawBody, Vnd};
use poem::Request;

use super::{paginate, path_id, Ctx, V3Service};
use crate::admin::{AlterOp, ConfigEntry, ConfigResource};
use crate::error::ProxyError;

/// Kafka's source name as the contract's enum; a name the contract does not know is
/// `UNKNOWN`.
fn source(name: &str) -> models::ConfigSource {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .unwrap_or(models::ConfigSource::Unknown)
}

fn synonyms(entry: &ConfigEntry) -> Vec<models::ConfigSynonymData> {
    entry
        .synonyms
        .iter()
        .map(|s| models::ConfigSynonymData {
            name: s.name.clone(),
            value: Nullable(if entry.is_sensitive {
                None
            } else {
                s.value.clone()
            }),
            source: source(s.source),
        })
        .collect()
}

fn value(entry: &ConfigEntry) -> Nullable<String> {
    Nullable(if entry.is_sensitive {
        None
    } else {
        entry.value.clone()
    })
}

fn broker_config(ctx: &Ctx, broker: i32, entry: &ConfigEntry) -> models::BrokerConfigData {
    let b = broker.to_string();
    models::BrokerConfigData {
        kind: "KafkaBrokerConfig".into(),
        metadata: ctx.resource(
            &["brokers", &b, "configs", &entry.name],
            &[("broker", &b), ("config", &entry.name)],
        ),
        cluster_id: ctx.cluster_id().to_string(),
        name: entry.name.clone(),
        value: value(entry),
        is_default: entry.is_default,
        is_read_only: entry.is_read_only,
        is_sensitive: entry.is_sensitive,
        source: source(entry.source),
        synonyms: synonyms(entry),
        broker_id: broker,
    }
}

fn cluster_config(ctx: &Ctx, entry: &ConfigEntry) -> models::ClusterConfigData {
    models::ClusterConfigData {
        kind: "KafkaClusterConfig".into(),
        metadata: ctx.resource(
            &["broker-configs", &entry.name],
            &[("broker-config", &entry.name)],
        ),
        cluster_id: ctx.cluster_id().to_string(),
        name: entry.name.clone(),
        value: value(entry),
        is_default: entry.is_default,
        is_read_only: entry.is_read_only,
        is_sensitive: entry.is_sensitive,
        source: source(entry.source),
        synonyms: synonyms(entry),
        config_type: models::ClusterConfigType::Broker,
    }
}

fn topic_config(ctx: &Ctx, topic: &str, entry: &ConfigEntry) -> models::TopicConfigData {
    models::TopicConfigData {
        kind: "KafkaTopicConfig".into(),
        metadata: ctx.resource(
            &["topics", topic, "configs", &entry.name],
            &[("topic", topic), ("config", &entry.name)],
        ),
        cluster_id: ctx.cluster_id().to_string(),
        name: entry.name.clone(),
        value: value(entry),
        is_default: entry.is_default,
        is_read_only: entry.is_read_only,
        is_sensitive: entry.is_sensitive,
        source: source(entry.source),
        synonyms: synonyms(entry),
        topic_name: topic.to_string(),
    }
}

/// A SET needs a value: Kafka refuses a null one with this message.
fn set(name: &str, value: Option<String>) -> Result<AlterOp, ProxyError> {
    value
        .map(AlterOp::Set)
        .ok_or_else(|| ProxyError::V3KafkaRefused {
            message: format!("Null value not supported for : {name}"),
        })
}

/// The changes of a batch body: `SET` (the default) or `DELETE` per entry.
fn changes(entries: Vec<decode::AlterConfigEntry>) -> Result<Vec<(String, AlterOp)>, ProxyError> {
    entries
        .into_iter()
        .map(|e| {
            let op = match e.operation {
                Some(models::AlterConfigOperation::Delete) => AlterOp::Delete,
                Some(models::AlterConfigOperation::Set) | None => set(&e.name, e.value)?,
            };
            Ok((e.name, op))
        })
        .collect()
}

impl ConfigsApi for V3Service {
    type Error = ProxyError;

    /// `GET .../brokers/-/configs`: by broker id, then name.
    async fn list_kafka_all_broker_configs(
        &self,
        req: &Request,
        cluster_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaAllBrokerConfigsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let all: Vec<(i32, ConfigEntry)> = self
            .admin()?
            .all_broker_configs()
            .await?
            .into_iter()
            .flat_map(|(broker, entries)| entries.into_iter().map(move |e| (broker, e)))
            .collect();
        let (page, metadata) = paginate(req, &ctx, all, page_size, page_token)?;
        Ok(v3::ListKafkaAllBrokerConfigsResponse::Ok(Vnd::new(
            models::BrokerConfigDataList {
                kind: "KafkaBrokerConfigList".into(),
                metadata,
                data: page
                    .iter()
                    .map(|(b, e)| broker_config(&ctx, *b, e))
                    .collect(),
            },
        )))
    }

    /// `GET .../brokers/{broker_id}/configs`: by name.
    async fn list_kafka_broker_configs(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaBrokerConfigsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let broker = path_id(broker_id)?;
        let entries = self
            .admin()?
            .configs(&ConfigResource::Broker(broker))
            .await?;
        let (page, metadata) = paginate(req, &ctx, entries, page_size, page_token)?;
        Ok(v3::ListKafkaBrokerConfigsResponse::Ok(Vnd::new(
            models::BrokerConfigDataList {
                kind: "KafkaBrokerConfigList".into(),
                metadata,
                data: page
                    .iter()
                    .map(|e| broker_config(&ctx, broker, e))
                    .collect(),
            },
        )))
    }

    /// `POST .../brokers/{broker_id}/configs:alter`: see [`V3Service::alter_broker_configs`].
    async fn update_kafka_broker_config_batch(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
        body: RawBody<
            models::AlterConfigBatchRequestData,
            v3::media::UpdateKafkaBrokerConfigBatchBody,
        >,
    ) -> Result<v3::UpdateKafkaBrokerConfigBatchResponse, ProxyError> {
        self.alter_broker_configs(req, cluster_id, path_id(broker_id)?, body.into_body())
            .await
    }

    /// `GET .../brokers/{broker_id}/configs/{name}`.
    async fn get_kafka_broker_config(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
        name: String,
    ) -> Result<v3::GetKafkaBrokerConfigResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let broker = path_id(broker_id)?;
        let entry = self
            .admin()?
            .config(&ConfigResource::Broker(broker), &name)
            .await?;
        Ok(v3::GetKafkaBrokerConfigResponse::Ok(Vnd::new(
            broker_config(&ctx, broker, &entry),
        )))
    }

    /// `PUT .../brokers/{broker_id}/configs/{name}`.
    async fn update_kafka_broker_config(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
        name: String,
        body: RawBody<models::UpdateConfigRequestData, v3::media::UpdateKafkaBrokerConfigBody>,
    ) -> Result<v3::UpdateKafkaBrokerConfigResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let broker = path_id(broker_id)?;
        let request = self
            .body(body, decode::decode_update_kafka_broker_config)
            .await?;
        let op = set(&name, request.value)?;
        self.admin()?
            .alter_configs(&ConfigResource::Broker(broker), vec![(name, op)], false)
            .await?;
        Ok(v3::UpdateKafkaBrokerConfigResponse::NoContent)
    }

    /// `DELETE .../brokers/{broker_id}/configs/{name}`: back to the default.
    async fn delete_kafka_broker_config(
        &self,
        req: &Request,
        cluster_id: String,
        broker_id: Lenient<i32>,
        name: String,
    ) -> Result<v3::DeleteKafkaBrokerConfigResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let broker = path_id(broker_id)?;
        self.admin()?
            .alter_configs(
                &ConfigResource::Broker(broker),
                vec![(name, AlterOp::Delete)],
                false,
            )
            .await?;
        Ok(v3::DeleteKafkaBrokerConfigResponse::NoContent)
    }

    /// `GET .../broker-configs`: the dynamic cluster-wide ones, by name.
    async fn list_kafka_cluster_configs(
        &self,
        req: &Request,
        cluster_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaClusterConfigsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let entries = self
            .admin()?
            .configs(&ConfigResource::BrokerDefault)
            .await?;
        let (page, metadata) = paginate(req, &ctx, entries, page_size, page_token)?;
        Ok(v3::ListKafkaClusterConfigsResponse::Ok(Vnd::new(
            models::ClusterConfigDataList {
                kind: "KafkaClusterConfigList".into(),
                metadata,
                data: page.iter().map(|e| cluster_config(&ctx, e)).collect(),
            },
        )))
    }

    /// `POST .../broker-configs:alter`: see [`V3Service::alter_cluster_configs`].
    async fn update_kafka_cluster_configs(
        &self,
        req: &Request,
        cluster_id: String,
        body: RawBody<
            models::AlterConfigBatchRequestData,
            v3::media::UpdateKafkaClusterConfigsBody,
        >,
    ) -> Result<v3::UpdateKafkaClusterConfigsResponse, ProxyError> {
        self.alter_cluster_configs(req, cluster_id, body.into_body())
            .await
    }

    /// `GET .../broker-configs/{name}`: one that is not set cluster-wide is 404.
    async fn get_kafka_cluster_config(
        &self,
        req: &Request,
        cluster_id: String,
        name: String,
    ) -> Result<v3::GetKafkaClusterConfigResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let entry = self
            .admin()?
            .config(&ConfigResource::BrokerDefault, &name)
            .await?;
        Ok(v3::GetKafkaClusterConfigResponse::Ok(Vnd::new(
            cluster_config(&ctx, &entry),
        )))
    }

    /// `PUT .../broker-configs/{name}`: not available (see the module doc).
    async fn update_kafka_cluster_config(
        &self,
        req: &Request,
        cluster_id: String,
        name: String,
        body: RawBody<models::UpdateConfigRequestData, v3::media::UpdateKafkaClusterConfigBody>,
    ) -> Result<v3::UpdateKafkaClusterConfigResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body(body, decode::decode_update_kafka_cluster_config)
            .await?;
        let op = set(&name, request.value)?;
        self.admin()?
            .alter_configs(&ConfigResource::BrokerDefault, vec![(name, op)], false)
            .await?;
        Ok(v3::UpdateKafkaClusterConfigResponse::NoContent)
    }

    /// `DELETE .../broker-configs/{name}`: not available (see the module doc).
    async fn delete_kafka_cluster_config(
        &self,
        req: &Request,
        cluster_id: String,
        name: String,
    ) -> Result<v3::DeleteKafkaClusterConfigResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        self.admin()?
            .alter_configs(
                &ConfigResource::BrokerDefault,
                vec![(name, AlterOp::Delete)],
                false,
            )
            .await?;
        Ok(v3::DeleteKafkaClusterConfigResponse::NoContent)
    }

    /// `GET .../topics/-/configs`: by topic name, then config name.
    async fn list_kafka_all_topic_configs(
        &self,
        req: &Request,
        cluster_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaAllTopicConfigsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let all: Vec<(String, ConfigEntry)> = self
            .admin()?
            .all_topic_configs()
            .await?
            .into_iter()
            .flat_map(|(topic, entries)| entries.into_iter().map(move |e| (topic.clone(), e)))
            .collect();
        let (page, metadata) = paginate(req, &ctx, all, page_size, page_token)?;
        Ok(v3::ListKafkaAllTopicConfigsResponse::Ok(Vnd::new(
            models::TopicConfigDataList {
                kind: "KafkaTopicConfigList".into(),
                metadata,
                data: page.iter().map(|(t, e)| topic_config(&ctx, t, e)).collect(),
            },
        )))
    }

    /// `POST .../topics/-/configs:alter`: see [`V3Service::alter_all_topic_configs`].
    async fn update_kafka_all_topic_config_batch(
        &self,
        req: &Request,
        cluster_id: String,
        body: RawBody<
            models::AlterTopicConfigsBatchRequestData,
            v3::media::UpdateKafkaAllTopicConfigBatchBody,
        >,
    ) -> Result<v3::UpdateKafkaAllTopicConfigBatchResponse, ProxyError> {
        self.alter_all_topic_configs(req, cluster_id, body.into_body())
            .await
    }

    /// `GET .../topics/{topic_name}/configs`: by name.
    async fn list_kafka_topic_configs(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaTopicConfigsResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let entries = self
            .admin()?
            .configs(&ConfigResource::Topic(topic_name.clone()))
            .await?;
        let (page, metadata) = paginate(req, &ctx, entries, page_size, page_token)?;
        Ok(v3::ListKafkaTopicConfigsResponse::Ok(Vnd::new(
            models::TopicConfigDataList {
                kind: "KafkaTopicConfigList".into(),
                metadata,
                data: page
                    .iter()
                    .map(|e| topic_config(&ctx, &topic_name, e))
                    .collect(),
            },
        )))
    }

    /// `POST .../topics/{topic_name}/configs:alter`: see [`V3Service::alter_topic_configs`].
    async fn update_kafka_topic_config_batch(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        body: RawBody<
            models::AlterConfigBatchRequestData,
            v3::media::UpdateKafkaTopicConfigBatchBody,
        >,
    ) -> Result<v3::UpdateKafkaTopicConfigBatchResponse, ProxyError> {
        self.alter_topic_configs(req, cluster_id, topic_name, body.into_body())
            .await
    }

    /// `GET .../topics/{topic_name}/configs/{name}`.
    async fn get_kafka_topic_config(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        name: String,
    ) -> Result<v3::GetKafkaTopicConfigResponse, ProxyError> {
        let ctx = self.ctx(req, &cluster_id).await?;
        let entry = self
            .admin()?
            .config(&ConfigResource::Topic(topic_name.clone()), &name)
            .await?;
        Ok(v3::GetKafkaTopicConfigResponse::Ok(Vnd::new(topic_config(
            &ctx,
            &topic_name,
            &entry,
        ))))
    }

    /// `PUT .../topics/{topic_name}/configs/{name}`.
    async fn update_kafka_topic_config(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        name: String,
        body: RawBody<models::UpdateConfigRequestData, v3::media::UpdateKafkaTopicConfigBody>,
    ) -> Result<v3::UpdateKafkaTopicConfigResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body(body, decode::decode_update_kafka_topic_config)
            .await?;
        let op = set(&name, request.value)?;
        self.admin()?
            .alter_configs(&ConfigResource::Topic(topic_name), vec![(name, op)], false)
            .await?;
        Ok(v3::UpdateKafkaTopicConfigResponse::NoContent)
    }

    /// `DELETE .../topics/{topic_name}/configs/{name}`: back to the default.
    async fn delete_kafka_topic_config(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        name: String,
    ) -> Result<v3::DeleteKafkaTopicConfigResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        self.admin()?
            .alter_configs(
                &ConfigResource::Topic(topic_name),
                vec![(name, AlterOp::Delete)],
                false,
            )
            .await?;
        Ok(v3::DeleteKafkaTopicConfigResponse::NoContent)
    }
}

impl V3Service {
    /// `POST .../brokers/{broker_id}/configs:alter`.
    pub async fn alter_broker_configs(
        &self,
        req: &Request,
        cluster_id: String,
        broker: i32,
        body: poem::Body,
    ) -> Result<v3::UpdateKafkaBrokerConfigBatchResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body_of(body, decode::decode_update_kafka_broker_config_batch)
            .await?;
        self.admin()?
            .alter_configs(
                &ConfigResource::Broker(broker),
                changes(request.data)?,
                request.validate_only.unwrap_or(false),
            )
            .await?;
        Ok(v3::UpdateKafkaBrokerConfigBatchResponse::NoContent)
    }

    /// `POST .../broker-configs:alter`: not available (see the module doc); the body is still
    /// checked first.
    pub async fn alter_cluster_configs(
        &self,
        req: &Request,
        cluster_id: String,
        body: poem::Body,
    ) -> Result<v3::UpdateKafkaClusterConfigsResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body_of(body, decode::decode_update_kafka_cluster_configs)
            .await?;
        self.admin()?
            .alter_configs(
                &ConfigResource::BrokerDefault,
                changes(request.data)?,
                request.validate_only.unwrap_or(false),
            )
            .await?;
        Ok(v3::UpdateKafkaClusterConfigsResponse::NoContent)
    }

    /// `POST .../topics/{topic_name}/configs:alter`.
    pub async fn alter_topic_configs(
        &self,
        req: &Request,
        cluster_id: String,
        topic_name: String,
        body: poem::Body,
    ) -> Result<v3::UpdateKafkaTopicConfigBatchResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body_of(body, decode::decode_update_kafka_topic_config_batch)
            .await?;
        self.admin()?
            .alter_configs(
                &ConfigResource::Topic(topic_name),
                changes(request.data)?,
                request.validate_only.unwrap_or(false),
            )
            .await?;
        Ok(v3::UpdateKafkaTopicConfigBatchResponse::NoContent)
    }

    /// `POST .../topics/-/configs:alter`: 204 when every topic changed, else 207 with the
    /// topics that failed (each with its error code and message).
    pub async fn alter_all_topic_configs(
        &self,
        req: &Request,
        cluster_id: String,
        body: poem::Body,
    ) -> Result<v3::UpdateKafkaAllTopicConfigBatchResponse, ProxyError> {
        self.ctx(req, &cluster_id).await?;
        let request = self
            .body_of(body, decode::decode_update_kafka_all_topic_config_batch)
            .await?;
        let validate_only = request.validate_only.unwrap_or(false);
        let mut failures = Vec::new();
        for entry in request.data {
            let outcome = match changes(entry.configs) {
                Ok(changes) => self
                    .admin()?
                    .alter_configs(
                        &ConfigResource::Topic(entry.topic_name.clone()),
                        changes,
                        validate_only,
                    )
                    .await
                    .map_err(ProxyError::from),
                Err(e) => Err(e),
            };
            if let Err(e) = outcome {
                let body = e.body();
                failures.push(models::AlterTopicConfigsFailure {
                    topic_name: entry.topic_name,
                    error_code: i32::try_from(body.error_code).unwrap_or(500),
                    message: body.message,
                });
            }
        }
        if failures.is_empty() {
            Ok(v3::UpdateKafkaAllTopicConfigBatchResponse::NoContent)
        } else {
            Ok(v3::UpdateKafkaAllTopicConfigBatchResponse::Status207(
                Vnd::new(models::AlterTopicConfigsBatchFailures { failures }),
            ))
        }
    }
}
