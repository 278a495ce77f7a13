//! The shape of the generated route tables (`<api>::routes::ROUTES`): one row per path and
//! method of a contract, with the operation's tag and media types, and the matching of a
//! request path against the path templates.
//!
//! Owns the table row type and the lookup only; the rows are written by `cargo xtask codegen`
//! from the contract, and routing itself is poem's (the lookup follows its preference for
//! literal segments over parameters, so both pick the same operation).

/// One path and method of a contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// The path template of the contract, such as `/topics/{topic_name}`.
    pub path: &'static str,
    /// The method, upper case (`GET`).
    pub method: &'static str,
    /// The operation's Rust name (its operationId in snake case).
    pub operation: &'static str,
    /// The operation's first tag, as written in the contract.
    pub tag: &'static str,
    /// The media types of the request body, in contract order; empty without a body.
    pub request_types: &'static [&'static str],
    /// The media types of the successful (2XX) answers, in contract order, without repeats.
    pub response_types: &'static [&'static str],
}

/// What a table says about a request path and method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The operation serving the method at that path.
    Found(&'static Route),
    /// The path exists but not with that method; the `Allow` value lists the methods it has
    /// (`GET, POST`), in the order of RFC 9110's method list.
    MethodNotAllowed(String),
    /// No template matches the path.
    NotFound,
}

/// The methods in the order an `Allow` value lists them.
const ORDER: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// Whether `path` matches `template` segment by segment, and if so how many of the template's
/// segments are literal.
fn literal_segments(template: &str, path: &str) -> Option<usize> {
    let mut literal = 0;
    let mut t = template.split('/');
    let mut p = path.split('/');
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(literal),
            (Some(ts), Some(ps)) => {
                if ts.starts_with('{') && ts.ends_with('}') {
                    if ps.is_empty() {
                        return None;
                    }
                } else if ts == ps {
                    literal += 1;
                } else {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// The template of `routes` that matches `path` with the most literal segments.
fn template<'r>(routes: &'r [Route], path: &str) -> Option<&'r str> {
    routes
        .iter()
        .filter_map(|r| literal_segments(r.path, path).map(|n| (n, r.path)))
        .max_by_key(|(n, _)| *n)
        .map(|(_, template)| template)
}

/// Looks up `method` (any case) at `path` in `routes`.
pub fn lookup(routes: &'static [Route], method: &str, path: &str) -> Lookup {
    let Some(template) = template(routes, path) else {
        return Lookup::NotFound;
    };
    let at_path = || routes.iter().filter(move |r| r.path == template);
    if let Some(route) = at_path().find(|r| r.method.eq_ignore_ascii_case(method)) {
        return Lookup::Found(route);
    }
    let methods: Vec<&str> = ORDER
        .iter()
        .copied()
        .filter(|m| at_path().any(|r| r.method == *m))
        .collect();
    Lookup::MethodNotAllowed(methods.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn route(path: &'static str, method: &'static str, operation: &'static str) -> Route {
        Route {
            path,
            method,
            operation,
            tag: "t",
            request_types: &[],
            response_types: &[],
        }
    }

    static ROUTES: &[Route] = &[
        route("/topics", "GET", "list_topics"),
        route("/topics/{topic_name}", "GET", "get_topic"),
        route("/topics/{topic_name}", "POST", "produce_to_topic"),
        route(
            "/consumers/{group}/instances/{instance}/records",
            "GET",
            "read_records",
        ),
        route("/acls:batch", "POST", "batch_create_acls"),
        route("/acls", "GET", "list_acls"),
    ];

    fn op(method: &str, path: &str) -> Option<&'static str> {
        match lookup(ROUTES, method, path) {
            Lookup::Found(r) => Some(r.operation),
            _ => None,
        }
    }

    #[test]
    fn parameters_match_any_segment_even_a_literal_name() {
        assert_eq!(op("GET", "/topics/records"), Some("get_topic"));
        assert_eq!(op("post", "/topics/records"), Some("produce_to_topic"));
        assert_eq!(
            op("GET", "/consumers/g/instances/i/records"),
            Some("read_records")
        );
        assert_eq!(op("GET", "/topics/"), None);
    }

    #[test]
    fn a_colon_inside_a_segment_is_literal() {
        assert_eq!(op("POST", "/acls:batch"), Some("batch_create_acls"));
        assert_eq!(op("GET", "/acls"), Some("list_acls"));
        assert_eq!(lookup(ROUTES, "GET", "/acls:other"), Lookup::NotFound);
    }

    #[test]
    fn other_methods_are_listed_for_allow() {
        assert_eq!(
            lookup(ROUTES, "DELETE", "/topics/t"),
            Lookup::MethodNotAllowed("GET, POST".to_string())
        );
        assert_eq!(lookup(ROUTES, "GET", "/nowhere"), Lookup::NotFound);
    }
}
