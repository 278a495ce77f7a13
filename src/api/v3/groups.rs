//! The `ConsumerGroup` operations of the v3 API: consumer groups, their members and
//! assignments, lags and the lag summary, and the two extensions (group delete and offset
//! reset). Each handler checks the cluster, makes one call of `admin::groups` or
//! `admin::lags`, and encodes the answer with the links and CRNs of [`Ctx`].

use kafka_rest_api::v3::{self, media, models};
use kafka_rest_api::{Lenient, Nullable, RawBody, Vnd};
use poem::Request;

use super::{paginate, path_id, Ctx, V3Service};
use crate::admin::groups::{
    self, ConsumerGroup, GroupConsumer, GroupState, GroupType, GroupsError, ResetTarget,
    TopicPartition,
};
use crate::admin::lags::{self, ConsumerLag, LagSummary};
use crate::error::ProxyError;

/// A resource's metadata: its URL and its CRN (built apart when the CRN does not follow the
/// path, as for lags and the lag summary).
fn resource(self_: String, crn: String) -> models::ResourceMetadata {
    models::ResourceMetadata {
        self_,
        resource_name: Some(Nullable(Some(crn))),
    }
}

fn ctx_related(related: String) -> models::Relationship {
    models::Relationship { related }
}

fn state(state: GroupState) -> models::ConsumerGroupState {
    use models::ConsumerGroupState as S;
    match state {
        GroupState::Unknown => S::Unknown,
        GroupState::PreparingRebalance => S::PreparingRebalance,
        GroupState::CompletingRebalance => S::CompletingRebalance,
        GroupState::Stable => S::Stable,
        GroupState::Dead => S::Dead,
        GroupState::Empty => S::Empty,
        GroupState::Assigning => S::Assigning,
        GroupState::Reconciling => S::Reconciling,
    }
}

fn group_type(kind: GroupType) -> models::ConsumerGroupType {
    use models::ConsumerGroupType as T;
    match kind {
        GroupType::Unknown => T::Unknown,
        GroupType::Consumer => T::Consumer,
        GroupType::Classic => T::Classic,
        GroupType::Share => T::Share,
    }
}

fn group_data(ctx: &Ctx, group: ConsumerGroup) -> models::ConsumerGroupData {
    let id = group.group_id.as_str();
    models::ConsumerGroupData {
        kind: "KafkaConsumerGroup".to_string(),
        metadata: resource(
            ctx.url(&["consumer-groups", id]),
            ctx.crn(&[("consumer-group", id)]),
        ),
        cluster_id: ctx.cluster_id().to_string(),
        consumer_group_id: id.to_string(),
        is_simple: group.is_simple,
        partition_assignor: group.partition_assignor.clone(),
        state: state(group.state),
        r#type: group_type(group.group_type),
        // librdkafka does not tell (`docs/decisions.md` §46).
        is_mixed_consumer_group: false,
        coordinator: Nullable(
            group
                .coordinator
                .as_ref()
                .map(|c| ctx_related(ctx.url(&["brokers", &c.broker_id.to_string()]))),
        ),
        consumers: ctx_related(ctx.url(&["consumer-groups", id, "consumers"])),
        lag_summary: ctx_related(ctx.url(&["consumer-groups", id, "lag-summary"])),
    }
}

fn consumer_data(ctx: &Ctx, group: &str, consumer: &GroupConsumer) -> models::ConsumerData {
    let id = consumer.consumer_id.as_str();
    models::ConsumerData {
        kind: "KafkaConsumer".to_string(),
        metadata: resource(
            ctx.url(&["consumer-groups", group, "consumers", id]),
            ctx.crn(&[("consumer-group", group), ("consumer", id)]),
        ),
        cluster_id: ctx.cluster_id().to_string(),
        consumer_group_id: group.to_string(),
        consumer_id: id.to_string(),
        instance_id: Nullable(consumer.instance_id.clone()),
        client_id: consumer.client_id.clone(),
        assignments: ctx_related(ctx.url(&[
            "consumer-groups",
            group,
            "consumers",
            id,
            "assignments",
        ])),
    }
}

fn assignment_data(
    ctx: &Ctx,
    group: &str,
    consumer: &str,
    tp: &TopicPartition,
) -> models::ConsumerAssignmentData {
    let partition = tp.partition.to_string();
    models::ConsumerAssignmentData {
        kind: "KafkaConsumerAssignment".to_string(),
        metadata: resource(
            ctx.url(&[
                "consumer-groups",
                group,
                "consumers",
                consumer,
                "assignments",
                &tp.topic,
                "partitions",
                &partition,
            ]),
            ctx.crn(&[
                ("consumer-group", group),
                ("consumer", consumer),
                ("assignment", &tp.topic),
                ("partition", &partition),
            ]),
        ),
        cluster_id: ctx.cluster_id().to_string(),
        consumer_group_id: group.to_string(),
        consumer_id: consumer.to_string(),
        topic_name: tp.topic.clone(),
        partition_id: tp.partition,
        partition: ctx_related(ctx.url(&["topics", &tp.topic, "partitions", &partition])),
        lag: ctx_related(ctx.url(&[
            "consumer-groups",
            group,
            "lags",
            &tp.topic,
            "partitions",
            &partition,
        ])),
    }
}

fn lag_data(ctx: &Ctx, lag: ConsumerLag) -> models::ConsumerLagData {
    let partition = lag.partition.to_string();
    let group = lag.group_id.as_str();
    models::ConsumerLagData {
        kind: "KafkaConsumerLag".to_string(),
        metadata: resource(
            ctx.url(&[
                "consumer-groups",
                group,
                "lags",
                &lag.topic,
                "partitions",
                &partition,
            ]),
            ctx.crn(&[
                ("consumer-group", group),
                ("lag", &lag.topic),
                ("partition", &partition),
            ]),
        ),
        cluster_id: ctx.cluster_id().to_string(),
        consumer_group_id: lag.group_id.clone(),
        topic_name: lag.topic.clone(),
        partition_id: lag.partition,
        current_offset: lag.current_offset,
        log_end_offset: lag.log_end_offset,
        lag: lag.lag,
        consumer_id: lag.consumer_id,
        instance_id: Nullable(lag.instance_id),
        client_id: lag.client_id,
    }
}

fn summary_data(ctx: &Ctx, summary: LagSummary) -> models::ConsumerGroupLagSummaryData {
    let group = summary.group_id.as_str();
    let partition = summary.max_lag_partition.to_string();
    models::ConsumerGroupLagSummaryData {
        kind: "KafkaConsumerGroupLagSummary".to_string(),
        metadata: resource(
            ctx.url(&["consumer-groups", group, "lag-summary"]),
            format!("{}/lag-summary", ctx.crn(&[("consumer-group", group)])),
        ),
        cluster_id: ctx.cluster_id().to_string(),
        consumer_group_id: group.to_string(),
        max_lag_consumer_id: summary.max_lag_consumer_id.clone(),
        max_lag_instance_id: Nullable(summary.max_lag_instance_id.clone()),
        max_lag_client_id: summary.max_lag_client_id.clone(),
        max_lag_topic_name: summary.max_lag_topic.clone(),
        max_lag_partition_id: summary.max_lag_partition,
        max_lag: summary.max_lag,
        total_lag: summary.total_lag,
        max_lag_consumer: ctx_related(ctx.url(&[
            "consumer-groups",
            group,
            "consumers",
            &summary.max_lag_consumer_id,
        ])),
        max_lag_partition: ctx_related(ctx.url(&[
            "topics",
            &summary.max_lag_topic,
            "partitions",
            &partition,
        ])),
    }
}

/// A group the path names that Kafka does not know: Confluent's bare 404 on the group and
/// member resources (the lag resources say "Consumer Group <id> could not be found.").
fn bare_not_found(e: GroupsError) -> ProxyError {
    match e {
        GroupsError::GroupNotFound { .. } => ProxyError::GroupsNotFound {
            message: "HTTP 404 Not Found".to_string(),
        },
        e => e.into(),
    }
}

/// The body of an offset reset as a target (422/42206 when the field its `to` needs is
/// missing).
fn reset_target(body: &models::ResetOffsetsRequestData) -> Result<ResetTarget, ProxyError> {
    let missing = |field: &str, to: &str| ProxyError::V3PayloadError {
        message: format!("{field} is required with to: {to}."),
    };
    Ok(match body.to {
        models::ResetOffsetsTarget::Earliest => ResetTarget::Earliest,
        models::ResetOffsetsTarget::Latest => ResetTarget::Latest,
        models::ResetOffsetsTarget::Timestamp => ResetTarget::Timestamp(
            body.timestamp
                .ok_or_else(|| missing("timestamp", "timestamp"))?,
        ),
        models::ResetOffsetsTarget::Offsets => ResetTarget::Offsets(
            body.offsets
                .as_ref()
                .ok_or_else(|| missing("offsets", "offsets"))?
                .iter()
                .map(|o| {
                    let tp = TopicPartition {
                        topic: o.topic_name.clone(),
                        partition: o.partition_id,
                    };
                    (tp, o.offset)
                })
                .collect(),
        ),
    })
}

impl v3::ConsumerGroupApi for V3Service {
    type Error = ProxyError;

    async fn list_kafka_consumer_groups(
        &self,
        request: &Request,
        cluster_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaConsumerGroupsResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let found = groups::list_groups(&self.admin()?).await?;
        let (page, metadata) = paginate(request, &ctx, found, page_size, page_token)?;
        Ok(v3::ListKafkaConsumerGroupsResponse::Ok(Vnd::new(
            models::ConsumerGroupDataList {
                kind: "KafkaConsumerGroupList".to_string(),
                metadata,
                data: page.into_iter().map(|g| group_data(&ctx, g)).collect(),
            },
        )))
    }

    async fn get_kafka_consumer_group(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
    ) -> Result<v3::GetKafkaConsumerGroupResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let group = groups::get_group(&self.admin()?, &consumer_group_id)
            .await
            .map_err(bare_not_found)?;
        Ok(v3::GetKafkaConsumerGroupResponse::Ok(Vnd::new(group_data(
            &ctx, group,
        ))))
    }

    async fn delete_kafka_consumer_group(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
    ) -> Result<v3::DeleteKafkaConsumerGroupResponse, ProxyError> {
        self.ctx(request, &cluster_id).await?;
        groups::delete_group(&self.admin()?, &consumer_group_id).await?;
        Ok(v3::DeleteKafkaConsumerGroupResponse::NoContent)
    }

    async fn reset_kafka_consumer_group_offsets(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        body: RawBody<models::ResetOffsetsRequestData, media::ResetKafkaConsumerGroupOffsetsBody>,
    ) -> Result<v3::ResetKafkaConsumerGroupOffsetsResponse, ProxyError> {
        self.ctx(request, &cluster_id).await?;
        let body = self
            .body(body, |b: &[u8]| {
                serde_json::from_slice::<models::ResetOffsetsRequestData>(b)
            })
            .await?;
        let target = reset_target(&body)?;
        let offsets = groups::reset_offsets(
            &self.admin()?,
            &consumer_group_id,
            target,
            body.topics,
            body.dry_run.unwrap_or(false),
        )
        .await?;
        Ok(v3::ResetKafkaConsumerGroupOffsetsResponse::Ok(Vnd::new(
            models::ResetOffsetsResponseData {
                data: offsets
                    .into_iter()
                    .map(|(tp, offset)| models::PartitionOffset {
                        topic_name: tp.topic,
                        partition_id: tp.partition,
                        offset,
                    })
                    .collect(),
            },
        )))
    }

    async fn list_kafka_consumers(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaConsumersResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let group = groups::get_group(&self.admin()?, &consumer_group_id).await?;
        let (page, metadata) = paginate(request, &ctx, group.consumers, page_size, page_token)?;
        Ok(v3::ListKafkaConsumersResponse::Ok(Vnd::new(
            models::ConsumerDataList {
                kind: "KafkaConsumerList".to_string(),
                metadata,
                data: page
                    .iter()
                    .map(|c| consumer_data(&ctx, &consumer_group_id, c))
                    .collect(),
            },
        )))
    }

    async fn get_kafka_consumer(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        consumer_id: String,
    ) -> Result<v3::GetKafkaConsumerResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let consumer = groups::get_consumer(&self.admin()?, &consumer_group_id, &consumer_id)
            .await
            .map_err(bare_not_found)?;
        Ok(v3::GetKafkaConsumerResponse::Ok(Vnd::new(consumer_data(
            &ctx,
            &consumer_group_id,
            &consumer,
        ))))
    }

    async fn list_kafka_consumer_assignment(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        consumer_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaConsumerAssignmentResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let consumer = groups::get_consumer(&self.admin()?, &consumer_group_id, &consumer_id)
            .await
            .map_err(bare_not_found)?;
        let (g, c) = (consumer_group_id.as_str(), consumer_id.as_str());
        let (page, metadata) =
            paginate(request, &ctx, consumer.assignments, page_size, page_token)?;
        Ok(v3::ListKafkaConsumerAssignmentResponse::Ok(Vnd::new(
            models::ConsumerAssignmentDataList {
                kind: "KafkaConsumerAssignmentList".to_string(),
                metadata,
                data: page
                    .iter()
                    .map(|tp| assignment_data(&ctx, g, c, tp))
                    .collect(),
            },
        )))
    }

    async fn get_kafka_consumer_assignment(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        consumer_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<v3::GetKafkaConsumerAssignmentResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let partition = path_id(partition_id)?;
        let consumer = groups::get_consumer(&self.admin()?, &consumer_group_id, &consumer_id)
            .await
            .map_err(bare_not_found)?;
        let tp = TopicPartition {
            topic: topic_name,
            partition,
        };
        if !consumer.assignments.contains(&tp) {
            return Err(GroupsError::AssignmentNotFound {
                consumer: consumer_id,
                topic: tp.topic,
                partition,
            }
            .into());
        }
        Ok(v3::GetKafkaConsumerAssignmentResponse::Ok(Vnd::new(
            assignment_data(&ctx, &consumer_group_id, &consumer_id, &tp),
        )))
    }

    async fn list_kafka_consumer_lags(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::ListKafkaConsumerLagsResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let found = lags::list_lags(&self.admin()?, &consumer_group_id).await?;
        let (page, metadata) = paginate(request, &ctx, found, page_size, page_token)?;
        Ok(v3::ListKafkaConsumerLagsResponse::Ok(Vnd::new(
            models::ConsumerLagDataList {
                kind: "KafkaConsumerLagList".to_string(),
                metadata,
                data: page.into_iter().map(|l| lag_data(&ctx, l)).collect(),
            },
        )))
    }

    async fn get_kafka_consumer_lag(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
        topic_name: String,
        partition_id: Lenient<i32>,
    ) -> Result<v3::GetKafkaConsumerLagResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let partition = path_id(partition_id)?;
        let lag = lags::get_lag(&self.admin()?, &consumer_group_id, &topic_name, partition).await?;
        Ok(v3::GetKafkaConsumerLagResponse::Ok(Vnd::new(lag_data(
            &ctx, lag,
        ))))
    }

    async fn get_kafka_consumer_group_lag_summary(
        &self,
        request: &Request,
        cluster_id: String,
        consumer_group_id: String,
    ) -> Result<v3::GetKafkaConsumerGroupLagSummaryResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let summary = lags::lag_summary(&self.admin()?, &consumer_group_id).await?;
        Ok(v3::GetKafkaConsumerGroupLagSummaryResponse::Ok(Vnd::new(
            summary_data(&ctx, summary),
        )))
    }
}
