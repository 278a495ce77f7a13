//! The consumer operations of `KafkaRestV2`: instances, subscriptions, assignments, offsets,
//! positions and records.
//!
//! Each operation checks the media types, reads and decodes the body (`bodies.rs`), makes one
//! call on the consumer manager (`consume/`) and encodes the answer. The `base_uri` of a new
//! instance follows the rules in `base_uri.rs`.

mod base_uri;
mod bodies;

use kafka_rest_api::{
    media as vnd, models, AssignPartitionsResponse, CommitOffsetsResponse, CreateConsumerResponse,
    DeleteConsumerResponse, GetAssignmentsResponse, GetCommittedOffsetsResponse,
    GetSubscriptionResponse, RawBody, RawResponse, ReadRecordsResponse, SeekResponse,
    SubscribeResponse, UnsubscribeResponse, Vnd,
};
use poem::http::{header, HeaderValue};
use poem::Request;

use super::media;
use crate::api::Service;
use crate::consume::{SeekPosition, SeekTarget};
use crate::error::ProxyError;
use kafka_rest_api::v2;
use kafka_rest_api::Lenient;

pub(crate) use base_uri::request_host;
pub use base_uri::BaseUriRules;
pub use bodies::{
    decode_commit, decode_committed_request, decode_create, decode_partitions, decode_seek,
    decode_subscription,
};

/// Reads a control call's body after checking its media type: at most
/// `consumer.request.body.max.bytes` (413 beyond) within `request.body.timeout.ms` (408
/// after), like every request body. The `decode_*` functions turn the bytes into domain values.
async fn control_body<S, M>(
    state: &Service,
    body: RawBody<S, M>,
) -> Result<bytes::Bytes, ProxyError> {
    media::check_control_content_type(body.content_type())?;
    super::read_body(
        body.into_body(),
        state.http.consumer_request_body_max_bytes,
        state.http.request_body_timeout,
    )
    .await
}

fn accept(req: &Request) -> Option<&str> {
    req.header(header::ACCEPT.as_str())
}

/// `POST .../positions/beginning` and `.../positions/end`: every listed partition to `position`.
pub async fn seek_all<S, M>(
    state: &Service,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<S, M>,
    position: SeekPosition,
) -> Result<(), ProxyError> {
    media::check_control_accept(accept(req))?;
    let targets = decode_partitions(&control_body(state, body).await?)?
        .into_iter()
        .map(|partition| SeekTarget {
            partition,
            position,
        })
        .collect();
    state
        .services
        .consumers
        .seek(&group, &instance, targets)
        .await?;
    Ok(())
}

/// `GET .../records?timeout=&max_bytes=`: the `Accept` type picks the reader, which must match
/// the instance's format; the response carries that type.
pub async fn records(
    state: &Service,
    req: &Request,
    group: String,
    instance: String,
    timeout: Option<i64>,
    max_bytes: Option<i64>,
) -> Result<ReadRecordsResponse, ProxyError> {
    // An unknown instance answers 40403 from `read` below.
    let instance_format = state.services.consumers.format_of(&group, &instance).ok();
    let negotiated = media::negotiate_records(accept(req), instance_format)?;
    let (_, body) = state
        .services
        .consumers
        .read(
            &group,
            &instance,
            negotiated.format,
            timeout,
            max_bytes,
            |records| serde_json::to_vec(records).map_err(Into::into),
        )
        .await?;
    Ok(ReadRecordsResponse::Ok(RawResponse::new(
        HeaderValue::from_static(negotiated.media_type),
        body,
    )))
}

/// The operations tagged `consumers`.
impl v2::ConsumersApi for Service {
    type Error = ProxyError;

    /// `POST /consumers/{group}`: creates a consumer instance; an empty body takes every default.
    async fn create_consumer(
        &self,
        req: &Request,
        group: String,
        body: RawBody<models::CreateConsumerRequest, vnd::CreateConsumerBody>,
    ) -> Result<v2::CreateConsumerResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let request = decode_create(&control_body(self, body).await?)?;
        let name = self.services.consumers.create(&group, request).await?;
        let base_uri = self.http.base_uri.base_uri(
            req.scheme().as_str(),
            &base_uri::request_host(req),
            &group,
            &name,
        );
        Ok(CreateConsumerResponse::Ok(Vnd::new(
            models::CreateConsumerResponse {
                instance_id: name,
                base_uri,
            },
        )))
    }

    /// `DELETE /consumers/{group}/instances/{instance}`: commits what auto-commit owes, leaves the
    /// group and removes the instance.
    async fn delete_consumer(
        &self,
        req: &Request,
        group: String,
        instance: String,
    ) -> Result<v2::DeleteConsumerResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        self.services.consumers.delete(&group, &instance).await?;
        Ok(DeleteConsumerResponse::NoContent)
    }

    /// `GET .../subscription`: `{"topics": [...]}`.
    async fn get_subscription(
        &self,
        req: &Request,
        group: String,
        instance: String,
    ) -> Result<v2::GetSubscriptionResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let topics = self
            .services
            .consumers
            .subscription(&group, &instance)
            .await?;
        Ok(GetSubscriptionResponse::Ok(Vnd::new(
            models::Subscription { topics },
        )))
    }

    /// `POST .../subscription`: `topics` (wins when present) or `topic_pattern`.
    async fn subscribe(
        &self,
        req: &Request,
        group: String,
        instance: String,
        body: RawBody<models::SubscriptionRequest, vnd::SubscribeBody>,
    ) -> Result<v2::SubscribeResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let subscription = decode_subscription(&control_body(self, body).await?)?;
        self.services
            .consumers
            .subscribe(&group, &instance, subscription)
            .await?;
        Ok(SubscribeResponse::NoContent)
    }

    /// `DELETE .../subscription`: ends the subscription (or manual assignment).
    async fn unsubscribe(
        &self,
        req: &Request,
        group: String,
        instance: String,
    ) -> Result<v2::UnsubscribeResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        self.services
            .consumers
            .unsubscribe(&group, &instance)
            .await?;
        Ok(UnsubscribeResponse::NoContent)
    }

    /// `GET .../assignments`: `{"partitions": [{topic, partition}]}`.
    async fn get_assignments(
        &self,
        req: &Request,
        group: String,
        instance: String,
    ) -> Result<v2::GetAssignmentsResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let partitions = self
            .services
            .consumers
            .assignment(&group, &instance)
            .await?;
        Ok(GetAssignmentsResponse::Ok(Vnd::new(models::Assignment {
            partitions: partitions
                .into_iter()
                .map(|p| models::AssignedPartition {
                    topic: p.topic,
                    partition: p.partition,
                })
                .collect(),
        })))
    }

    /// `POST .../assignments`: assigns partitions by hand.
    async fn assign_partitions(
        &self,
        req: &Request,
        group: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::AssignPartitionsBody>,
    ) -> Result<v2::AssignPartitionsResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let partitions = decode_partitions(&control_body(self, body).await?)?;
        self.services
            .consumers
            .assign(&group, &instance, partitions)
            .await?;
        Ok(AssignPartitionsResponse::NoContent)
    }

    /// `GET .../offsets` with a body `{"partitions": [...]}`: the group's committed offsets;
    /// partitions without one are left out.
    async fn get_committed_offsets(
        &self,
        req: &Request,
        group: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::GetCommittedOffsetsBody>,
    ) -> Result<v2::GetCommittedOffsetsResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let Some(partitions) = decode_committed_request(&control_body(self, body).await?)? else {
            // Confluent answers a missing body like an unknown partition.
            return Err(ProxyError::PartitionNotFound);
        };
        let committed = self
            .services
            .consumers
            .committed(&group, &instance, partitions)
            .await?;
        Ok(GetCommittedOffsetsResponse::Ok(Vnd::new(
            models::CommittedOffsets {
                offsets: committed
                    .into_iter()
                    .map(|c| models::CommittedOffset {
                        topic: c.partition.topic,
                        partition: c.partition.partition,
                        offset: c.offset,
                        metadata: c.metadata,
                    })
                    .collect(),
            },
        )))
    }

    /// `POST .../offsets`: with a body, commits `offset + 1` of each entry; without, commits every
    /// record returned so far. Synchronous; answers `[]`.
    async fn commit_offsets(
        &self,
        req: &Request,
        group: String,
        instance: String,
        // Accepted for compatibility and ignored, whatever its value: every commit is
        // synchronous.
        _async: Option<Lenient<bool>>,
        body: RawBody<models::CommitOffsetsRequest, vnd::CommitOffsetsBody>,
    ) -> Result<v2::CommitOffsetsResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let offsets = decode_commit(&control_body(self, body).await?)?;
        self.services
            .consumers
            .commit(&group, &instance, offsets)
            .await?;
        Ok(CommitOffsetsResponse::Ok(Vnd::new(Vec::new())))
    }

    /// `POST .../positions`: seeks to offsets (read next from exactly `offset`) and/or to the
    /// first record at or after a timestamp.
    async fn seek(
        &self,
        req: &Request,
        group: String,
        instance: String,
        body: RawBody<models::SeekRequest, vnd::SeekBody>,
    ) -> Result<v2::SeekResponse, ProxyError> {
        media::check_control_accept(accept(req))?;
        let targets = decode_seek(&control_body(self, body).await?)?;
        self.services
            .consumers
            .seek(&group, &instance, targets)
            .await?;
        Ok(SeekResponse::NoContent)
    }

    async fn seek_to_beginning(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::SeekToBeginningBody>,
    ) -> Result<v2::SeekToBeginningResponse, ProxyError> {
        seek_all(
            self,
            request,
            group_name,
            instance,
            body,
            crate::consume::SeekPosition::Beginning,
        )
        .await?;
        Ok(v2::SeekToBeginningResponse::NoContent)
    }

    async fn seek_to_end(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        body: RawBody<models::PartitionsRequest, vnd::SeekToEndBody>,
    ) -> Result<v2::SeekToEndResponse, ProxyError> {
        seek_all(
            self,
            request,
            group_name,
            instance,
            body,
            crate::consume::SeekPosition::End,
        )
        .await?;
        Ok(v2::SeekToEndResponse::NoContent)
    }

    async fn read_records(
        &self,
        request: &Request,
        group_name: String,
        instance: String,
        timeout: Option<Lenient<i64>>,
        max_bytes: Option<Lenient<i64>>,
    ) -> Result<v2::ReadRecordsResponse, ProxyError> {
        let timeout = super::query_int("timeout", timeout)?;
        let max_bytes = super::query_int("max_bytes", max_bytes)?;
        records(self, request, group_name, instance, timeout, max_bytes).await
    }
}
