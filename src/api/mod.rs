//! HTTP handlers. Each one turns the request into domain values, makes one service call and
//! turns the result (or the service error, through `ProxyError`) back into a response.
//!
//! Endpoint shapes live here by hand until the OpenAPI-generated interface replaces them.

pub mod consumers;
pub mod media;
pub mod topics;

use poem::http::header;
use poem::{IntoResponse, Response};
use serde::Serialize;

use crate::error::{ProxyError, V2_JSON};

/// A JSON body sent as `application/vnd.kafka.v2+json`.
pub struct V2Json<T>(pub T);

impl<T: Serialize + Send> IntoResponse for V2Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => Response::builder()
                .header(header::CONTENT_TYPE, V2_JSON)
                .body(body),
            Err(e) => poem::error::ResponseError::as_response(&ProxyError::internal(e)),
        }
    }
}
