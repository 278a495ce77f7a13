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
use crate::app::AppState;
use crate::consume::{SeekPosition, SeekTarget};
use crate::error::ProxyError;

pub use base_uri::BaseUriRules;
pub use bodies::{
    decode_commit, decode_committed_request, decode_create, decode_partitions, decode_seek,
    decode_subscription,
};

/// Reads a control call's body after checking its media type: at most
/// `consumer.request.body.max.bytes` (413 beyond) within `request.body.timeout.ms` (408
/// after), like every request body. The `decode_*` functions turn the bytes into domain values.
async fn control_body<S, M>(
    state: &AppState,
    body: RawBody<S, M>,
) -> Result<bytes::Bytes, ProxyError> {
    media::check_control_content_type(body.content_type())?;
    super::read_body(
        body.into_body(),
        state.consumer_request_body_max_bytes,
        state.request_body_timeout,
    )
    .await
}

fn accept(req: &Request) -> Option<&str> {
    req.header(header::ACCEPT.as_str())
}

/// `POST /consumers/{group}`: creates a consumer instance; an empty body takes every default.
pub async fn create(
    state: &AppState,
    req: &Request,
    group: String,
    body: RawBody<models::CreateConsumerRequest, vnd::CreateConsumerBody>,
) -> Result<CreateConsumerResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let request = decode_create(&control_body(state, body).await?)?;
    let name = state.consumers.create(&group, request).await?;
    let base_uri = state.base_uri.base_uri(
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
pub async fn delete(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<DeleteConsumerResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    state.consumers.delete(&group, &instance).await?;
    Ok(DeleteConsumerResponse::NoContent)
}

/// `POST .../subscription`: `topics` (wins when present) or `topic_pattern`.
pub async fn subscribe(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::SubscriptionRequest, vnd::SubscribeBody>,
) -> Result<SubscribeResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let subscription = decode_subscription(&control_body(state, body).await?)?;
    state
        .consumers
        .subscribe(&group, &instance, subscription)
        .await?;
    Ok(SubscribeResponse::NoContent)
}

/// `GET .../subscription`: `{"topics": [...]}`.
pub async fn get_subscription(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<GetSubscriptionResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let topics = state.consumers.subscription(&group, &instance).await?;
    Ok(GetSubscriptionResponse::Ok(Vnd::new(
        models::Subscription { topics },
    )))
}

/// `DELETE .../subscription`: ends the subscription (or manual assignment).
pub async fn unsubscribe(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<UnsubscribeResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    state.consumers.unsubscribe(&group, &instance).await?;
    Ok(UnsubscribeResponse::NoContent)
}

/// `POST .../assignments`: assigns partitions by hand.
pub async fn assign(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::PartitionsRequest, vnd::AssignPartitionsBody>,
) -> Result<AssignPartitionsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let partitions = decode_partitions(&control_body(state, body).await?)?;
    state
        .consumers
        .assign(&group, &instance, partitions)
        .await?;
    Ok(AssignPartitionsResponse::NoContent)
}

/// `GET .../assignments`: `{"partitions": [{topic, partition}]}`.
pub async fn get_assignments(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
) -> Result<GetAssignmentsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let partitions = state.consumers.assignment(&group, &instance).await?;
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

/// `POST .../offsets`: with a body, commits `offset + 1` of each entry; without, commits every
/// record returned so far. Synchronous; answers `[]`.
pub async fn commit_offsets(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::CommitOffsetsRequest, vnd::CommitOffsetsBody>,
) -> Result<CommitOffsetsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let offsets = decode_commit(&control_body(state, body).await?)?;
    state.consumers.commit(&group, &instance, offsets).await?;
    Ok(CommitOffsetsResponse::Ok(Vnd::new(Vec::new())))
}

/// `GET .../offsets` with a body `{"partitions": [...]}`: the group's committed offsets;
/// partitions without one are left out.
pub async fn committed_offsets(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::PartitionsRequest, vnd::GetCommittedOffsetsBody>,
) -> Result<GetCommittedOffsetsResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let Some(partitions) = decode_committed_request(&control_body(state, body).await?)? else {
        // Confluent answers a missing body like an unknown partition.
        return Err(ProxyError::PartitionNotFound);
    };
    let committed = state
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

/// `POST .../positions`: seeks to offsets (read next from exactly `offset`) and/or to the
/// first record at or after a timestamp.
pub async fn seek(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    body: RawBody<models::SeekRequest, vnd::SeekBody>,
) -> Result<SeekResponse, ProxyError> {
    media::check_control_accept(accept(req))?;
    let targets = decode_seek(&control_body(state, body).await?)?;
    state.consumers.seek(&group, &instance, targets).await?;
    Ok(SeekResponse::NoContent)
}

/// `POST .../positions/beginning` and `.../positions/end`: every listed partition to `position`.
pub async fn seek_all<S, M>(
    state: &AppState,
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
    state.consumers.seek(&group, &instance, targets).await?;
    Ok(())
}

/// `GET .../records?timeout=&max_bytes=`: the `Accept` type picks the reader, which must match
/// the instance's format; the response carries that type.
pub async fn records(
    state: &AppState,
    req: &Request,
    group: String,
    instance: String,
    timeout: Option<i64>,
    max_bytes: Option<i64>,
) -> Result<ReadRecordsResponse, ProxyError> {
    // An unknown instance answers 40403 from `read` below.
    let instance_format = state.consumers.format_of(&group, &instance).ok();
    let negotiated = media::negotiate_records(accept(req), instance_format)?;
    let (_, body) = state
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
