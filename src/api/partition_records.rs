//! `GET /topics/{topic}/partitions/{partition}/records`: the stateless read, an extension
//! beyond Confluent (`docs/decisions.md` §49).
//!
//! Decodes the path and query, chooses the embedded format from `Accept` exactly as a
//! consumer instance's records call does (with no instance to match), makes one call on the
//! stateless read service (`fetch/`) and answers the rendered records in the chosen type.

use kafka_rest_api::{Lenient, RawResponse, ReadPartitionRecordsResponse};
use poem::http::{header, HeaderValue};
use poem::Request;

use super::{media, query_int, Service};
use crate::error::ProxyError;
use crate::fetch::ReadRequest;

/// The query of a stateless read, as the generated adapter passes it.
pub struct Query {
    pub offset: Lenient<i64>,
    pub timeout: Option<Lenient<i64>>,
    pub max_bytes: Option<Lenient<i64>>,
    pub count: Option<Lenient<i64>>,
}

/// The stateless read; the `PartitionsApi` implementation in `topics.rs` calls this.
pub async fn read(
    state: &Service,
    req: &Request,
    topic: String,
    raw_partition: Lenient<i32>,
    query: Query,
) -> Result<ReadPartitionRecordsResponse, ProxyError> {
    let partition = super::topics::partition_id(raw_partition)?;
    let offset = query_int("offset", Some(query.offset))?.unwrap_or_default();
    let negotiated = media::negotiate_records(req.header(header::ACCEPT.as_str()), None)?;
    let request = ReadRequest {
        topic,
        partition,
        offset,
        format: negotiated.format,
        timeout_ms: query_int("timeout", query.timeout)?,
        max_bytes: query_int("max_bytes", query.max_bytes)?,
        count: query_int("count", query.count)?,
    };
    let body = state
        .services
        .fetch
        .read(request, serde_json::to_vec)
        .await?
        .map_err(ProxyError::internal)?;
    Ok(ReadPartitionRecordsResponse::Ok(RawResponse::new(
        HeaderValue::from_static(negotiated.media_type),
        body,
    )))
}
