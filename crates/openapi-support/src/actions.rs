//! Routing of *action* paths, Confluent's `name:action` last segments (`/acls:batch`,
//! `/configs:alter`): the generated adapters register them with the colon percent-encoded
//! (`/acls%3Abatch`), and [`ActionPaths`] encodes the colons of each request path the same way
//! before routing.
//!
//! Owns that encoding only; which paths are actions is decided by `cargo xtask codegen`, which
//! also gives the served document the contract's spelling back. poem's router reads a `:`
//! anywhere in a registered path as the start of a parameter and has no escape for it; a
//! regular-expression segment (`acls<...>`) would route the colon, but poem loses such a
//! segment when a later registration splits the literal node it hangs on, so whether it routes
//! would depend on the order the routes are registered in. An encoded colon is plain literal
//! text to the router. Path parameters are percent-decoded by poem, so a consumer group named
//! `a:b` still reaches the handler as `a:b`.

use poem::http::uri::{PathAndQuery, Uri};
use poem::{Endpoint, IntoEndpoint, Request, Result};

/// How a colon of an action segment is spelled in a registered route.
pub const ENCODED_COLON: &str = "%3A";

/// The route of the literal segment `name:action`: `name%3Aaction`.
pub fn action_route(name: &str, action: &str) -> String {
    format!("{name}{ENCODED_COLON}{action}")
}

/// `path` with every `:` (and every lower-case `%3a`) written `%3A`, as the routes of action
/// segments spell it; `None` when nothing changes.
pub fn encode_colons(path: &str) -> Option<String> {
    if !path.contains(':') && !path.contains("%3a") {
        return None;
    }
    Some(
        path.replace(':', ENCODED_COLON)
            .replace("%3a", ENCODED_COLON),
    )
}

/// An endpoint that encodes the colons of the request path (see [`encode_colons`]) before
/// handing the request to the wrapped one, such as a generated OpenAPI service with action
/// paths.
#[derive(Debug)]
pub struct ActionPaths<E>(E);

/// Wraps `endpoint` (usually a generated `openapi_service` or `service_of`) in [`ActionPaths`].
pub fn action_paths<E: IntoEndpoint>(endpoint: E) -> ActionPaths<E::Endpoint> {
    ActionPaths(endpoint.into_endpoint())
}

impl<E: Endpoint> Endpoint for ActionPaths<E> {
    type Output = E::Output;

    async fn call(&self, mut req: Request) -> Result<Self::Output> {
        if let Some(path) = encode_colons(req.uri().path()) {
            let path_and_query = match req.uri().query() {
                Some(query) => format!("{path}?{query}"),
                None => path,
            };
            // A path only gains `%3A` triplets, which are valid in a path, so the new URI
            // parses; should it not, the request is routed as it came.
            if let Ok(path_and_query) = path_and_query.parse::<PathAndQuery>() {
                let mut parts = req.uri().clone().into_parts();
                parts.path_and_query = Some(path_and_query);
                if let Ok(uri) = Uri::from_parts(parts) {
                    *req.uri_mut() = uri;
                }
            }
        }
        self.0.call(req).await
    }
}

#[cfg(test)]
mod tests {
    use poem::http::StatusCode;
    use poem::{handler, EndpointExt, IntoResponse, Route};

    use super::*;

    #[handler]
    fn create() -> &'static str {
        "create"
    }

    #[handler]
    fn batch() -> &'static str {
        "batch"
    }

    #[handler]
    fn alter_all() -> &'static str {
        "alter all topics"
    }

    #[handler]
    fn alter_one(poem::web::Path((_, name)): poem::web::Path<(String, String)>) -> String {
        format!("alter {name}")
    }

    #[handler]
    fn get_topic(poem::web::Path((_, name)): poem::web::Path<(String, String)>) -> String {
        format!("topic {name}")
    }

    /// The routes of a few operations, registered in the given order.
    fn app(order: &[usize]) -> impl Endpoint {
        let mut route = Route::new();
        for i in order {
            route = match i {
                0 => route.at("/clusters/:c/acls", poem::post(create)),
                1 => route.at(
                    format!("/clusters/:c/{}", action_route("acls", "batch")),
                    poem::post(batch),
                ),
                2 => route.at(
                    format!("/clusters/:c/topics/-/{}", action_route("configs", "alter")),
                    poem::post(alter_all),
                ),
                3 => route.at(
                    format!(
                        "/clusters/:c/topics/:t/{}",
                        action_route("configs", "alter")
                    ),
                    poem::post(alter_one),
                ),
                _ => route.at("/clusters/:c/topics/:t", poem::post(get_topic)),
            };
        }
        action_paths(route.map_to_response())
    }

    async fn answer(app: &impl Endpoint, path: &str) -> (StatusCode, String) {
        let response = match app
            .call(
                Request::builder()
                    .method(poem::http::Method::POST)
                    .uri(path.parse().expect("a URI"))
                    .finish(),
            )
            .await
        {
            Ok(output) => output.into_response(),
            Err(err) => err.into_response(),
        };
        let status = response.status();
        let body = response
            .into_body()
            .into_string()
            .await
            .expect("a text body");
        (status, body)
    }

    #[tokio::test]
    async fn action_paths_route_exactly_whatever_order_the_routes_are_registered_in() {
        let orders: [&[usize]; 4] = [
            &[0, 1, 2, 3, 4],
            &[4, 3, 2, 1, 0],
            &[1, 3, 0, 4, 2],
            &[2, 4, 1, 0, 3],
        ];
        for order in orders {
            let app = app(order);
            let cases = [
                ("/clusters/c/acls", Some("create")),
                ("/clusters/c/acls:batch", Some("batch")),
                ("/clusters/c/acls%3Abatch", Some("batch")),
                ("/clusters/c/acls%3abatch", Some("batch")),
                ("/clusters/c/acls:batch?x=a:b", Some("batch")),
                ("/clusters/c/aclsXbatch", None),
                ("/clusters/c/acls:batchx", None),
                ("/clusters/c/acls:", None),
                (
                    "/clusters/c/topics/-/configs:alter",
                    Some("alter all topics"),
                ),
                ("/clusters/c/topics/t1/configs:alter", Some("alter t1")),
                ("/clusters/c/topics/a:b", Some("topic a:b")),
            ];
            for (path, expected) in cases {
                let (status, body) = answer(&app, path).await;
                match expected {
                    Some(expected) => {
                        assert_eq!(
                            (status, body.as_str()),
                            (StatusCode::OK, expected),
                            "{path} with {order:?}"
                        );
                    }
                    None => assert_eq!(status, StatusCode::NOT_FOUND, "{path} with {order:?}"),
                }
            }
        }
    }

    #[test]
    fn colons_are_encoded_and_other_paths_are_left_alone() {
        assert_eq!(encode_colons("/a/b"), None);
        assert_eq!(
            encode_colons("/acls:batch").as_deref(),
            Some("/acls%3Abatch")
        );
        assert_eq!(
            encode_colons("/acls%3abatch").as_deref(),
            Some("/acls%3Abatch")
        );
        assert_eq!(action_route("acls", "batch"), "acls%3Abatch");
    }
}
