//! The poem layer of authentication and authorization: it reads what [`Auth::decide`] needs
//! from the request, answers refusals itself with the Confluent JSON error body, and attaches
//! the [`Principal`](crate::principal::Principal) to the requests it lets through.
//!
//! It runs inside the in-flight limits and CORS (a preflight is answered before it), and
//! before routing, so that every route, v2 and v3 alike, is covered. It never logs a header.

use poem::http::{header, HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

use super::{now, Auth, Decision, RequestFacts};
use crate::config::Config;
use crate::error::V2_JSON;
use crate::principal::PeerCertificate;

/// The middleware; built from the configuration in `app::routes`.
pub struct AuthLayer {
    auth: Option<Auth>,
}

impl AuthLayer {
    /// Builds the layer and starts the password file's reload. Settings that cannot be used
    /// were already refused at start-up (`auth::check`); should they fail here anyway, every
    /// request is refused with 503 rather than served unauthenticated.
    pub fn new(config: &Config) -> AuthLayer {
        match Auth::from_config(config) {
            Ok(auth) => {
                auth.watch_password_file(config.authentication_password_file_reload);
                AuthLayer { auth: Some(auth) }
            }
            Err(e) => {
                tracing::error!(error = %e, "authentication settings unusable; refusing requests");
                AuthLayer { auth: None }
            }
        }
    }
}

impl<E: Endpoint> Middleware<E> for AuthLayer {
    type Output = AuthEndpoint<E>;

    fn transform(&self, inner: E) -> Self::Output {
        AuthEndpoint {
            inner,
            auth: self.auth.clone(),
        }
    }
}

pub struct AuthEndpoint<E> {
    inner: E,
    auth: Option<Auth>,
}

impl<E: Endpoint> Endpoint for AuthEndpoint<E> {
    type Output = Response;

    async fn call(&self, mut req: Request) -> poem::Result<Response> {
        let Some(auth) = &self.auth else {
            return Ok(error(
                StatusCode::SERVICE_UNAVAILABLE,
                503,
                "Service Unavailable: authentication is not configured correctly",
                req.uri().path(),
            ));
        };
        if auth.is_open() {
            // Nothing to decide and no principal to serve as: what the principal's readers
            // (`principal::caller`) get outside a request is what they would get inside one
            // (pass-through and instance owners need authentication). Saves a copy of the
            // path, a clock read and the task-local scope on every request.
            return Ok(self.inner.call(req).await?.into_response());
        }
        let path = req.uri().path().to_string();
        let decision = {
            let method = req.method().as_str();
            // Produce names its format in `Content-Type`, a records call in `Accept`.
            let media_header = if method == "GET" {
                header::ACCEPT
            } else {
                header::CONTENT_TYPE
            };
            let facts = RequestFacts {
                method,
                path: &path,
                authorization: req
                    .headers()
                    .get(header::AUTHORIZATION)
                    .map(HeaderValue::as_bytes),
                media_type: req
                    .headers()
                    .get(media_header)
                    .and_then(|v| v.to_str().ok()),
                peer: req.extensions().get::<PeerCertificate>(),
                now: now(),
            };
            auth.decide(&facts)
        };
        match decision {
            Decision::Serve(principal) => {
                if let Some(principal) = &principal {
                    req.extensions_mut().insert(principal.clone());
                }
                // The services acting for the caller (principal pass-through) read it there.
                let mut response =
                    crate::principal::serve_as(principal.clone(), self.inner.call(req))
                        .await?
                        .into_response();
                // On the answer too, for the access log, which runs outside this layer.
                if let Some(principal) = principal {
                    response.extensions_mut().insert(principal);
                }
                Ok(response)
            }
            Decision::Unauthenticated { challenge } => {
                let mut response = error(StatusCode::UNAUTHORIZED, 401, "Unauthorized", &path);
                if let Some(value) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, value);
                }
                Ok(response)
            }
            Decision::Forbidden(message) => {
                Ok(error(StatusCode::FORBIDDEN, 40301, &message, &path))
            }
            Decision::Disabled => Ok(if req.method() == poem::http::Method::GET {
                error(StatusCode::NOT_FOUND, 404, "HTTP 404 Not Found", &path)
            } else {
                error(
                    StatusCode::METHOD_NOT_ALLOWED,
                    405,
                    "HTTP 405 Method Not Allowed",
                    &path,
                )
            }),
        }
    }
}

/// The Confluent error body, in the media type of the API the path belongs to.
fn error(status: StatusCode, code: u32, message: &str, path: &str) -> Response {
    let content_type = if path == "/v3" || path.starts_with("/v3/") {
        "application/json"
    } else {
        V2_JSON
    };
    let body = serde_json::json!({ "error_code": code, "message": message }).to_string();
    Response::builder()
        .status(status)
        .content_type(content_type)
        .body(body)
}
