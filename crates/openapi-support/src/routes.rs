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

/// The route a request was found to serve, kept in the request's extensions by whoever looked
/// it up first (the access log), so that later layers (the `Accept` check) do not scan the
/// table again. Only a [`Lookup::Found`] result is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Matched(pub &'static Route);

impl Matched {
    /// The route, if it is a row of `routes` (a request of another document was matched in
    /// that document's table). Compared by value: a generated table is a `const`, so its rows
    /// need not have one address.
    pub fn of(self, routes: &'static [Route]) -> Option<&'static Route> {
        routes.contains(self.0).then_some(self.0)
    }
}

/// The methods in the order an `Allow` value lists them.
const ORDER: [&str; 8] = [
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE",
];

/// The most segments a request path may have to match a template: no contract path has nearly
/// as many, so a longer path matches none.
const MAX_SEGMENTS: usize = 24;

/// Whether the segments of a request path match `template` segment by segment, and if so how
/// many of the template's segments are literal. Walked on the bytes and left at the first
/// segment that differs: this runs for most rows of a table on every request, and the rows
/// of a contract share long prefixes (v3's `/clusters/{cluster_id}/...`), where splitting each
/// template with `str::split` cost ~700 instructions a row.
fn literal_segments(template: &str, path: &[&str]) -> Option<usize> {
    let mut rest = template.as_bytes();
    let mut literal = 0;
    for (i, ps) in path.iter().enumerate() {
        let end = rest.iter().position(|b| *b == b'/').unwrap_or(rest.len());
        let ts = &rest[..end];
        if ts.first() == Some(&b'{') && ts.last() == Some(&b'}') {
            if ps.is_empty() {
                return None;
            }
        } else if ts == ps.as_bytes() {
            literal += 1;
        } else {
            return None;
        }
        if end == rest.len() {
            // The template's last segment: the path must end here too.
            return (i + 1 == path.len()).then_some(literal);
        }
        rest = &rest[end + 1..];
    }
    // The path ended before the template.
    None
}

/// `path` split at each `/` into `into` (the segments it holds), or `None` for a path of more
/// than [`MAX_SEGMENTS`] segments, which no template has.
fn split_path<'p, 'a>(
    path: &'p str,
    into: &'a mut [&'p str; MAX_SEGMENTS],
) -> Option<&'a [&'p str]> {
    let mut count = 0;
    for segment in path.split('/') {
        *into.get_mut(count)? = segment;
        count += 1;
    }
    Some(&into[..count])
}

/// The `Allow` value of a path whose rows have the methods `has` says yes to, in [`ORDER`].
fn allow_value(has: impl Fn(&str) -> bool) -> String {
    let methods: Vec<&str> = ORDER.iter().copied().filter(|m| has(m)).collect();
    methods.join(", ")
}

/// The template of `routes` that matches `path` with the most literal segments (the last of
/// equals, as `max_by_key` picks). Runs on every request (the access log and the `Accept`
/// check), so the path is split once, on the stack, and the rows of one path (one per method,
/// next to each other in the table) are matched once.
fn template<'r>(routes: &'r [Route], path: &str) -> Option<&'r str> {
    let mut segments = [""; MAX_SEGMENTS];
    let segments = split_path(path, &mut segments)?;
    let first = segments.get(1).copied().unwrap_or("");
    let last = segments.last().copied().unwrap_or("");
    let mut best: Option<(usize, &'r str)> = None;
    let mut previous: Option<&str> = None;
    for route in routes {
        if previous == Some(route.path) {
            continue;
        }
        previous = Some(route.path);
        if !first_segment_may_match(route.path, first) || !last_segment_may_match(route.path, last)
        {
            continue;
        }
        if let Some(n) = literal_segments(route.path, segments) {
            if best.is_none_or(|(most, _)| n >= most) {
                best = Some((n, route.path));
            }
        }
    }
    best.map(|(_, template)| template)
}

/// Whether `template` may match a path whose last segment is `last`: false only when the
/// template's last segment is literal and differs. The rows of a contract share their first
/// segments but mostly end differently (`.../configs`, `.../records`), so this passes over
/// most of them after a look at their last few bytes.
fn last_segment_may_match(template: &str, last: &str) -> bool {
    let bytes = template.as_bytes();
    let start = bytes
        .iter()
        .rposition(|b| *b == b'/')
        .map_or(0, |at| at + 1);
    let segment = &bytes[start..];
    (segment.first() == Some(&b'{') && segment.last() == Some(&b'}')) || segment == last.as_bytes()
}

/// Whether `template` may match a path whose first segment is `first`: false only when the
/// template's first segment is literal and the template does not go on with `first`. Checked
/// on the bytes, so most rows of a table are passed over without splitting their template.
fn first_segment_may_match(template: &str, first: &str) -> bool {
    match template.strip_prefix('/') {
        Some(rest) => rest.starts_with('{') || rest.starts_with(first),
        None => true,
    }
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
    Lookup::MethodNotAllowed(allow_value(|m| at_path().any(|r| r.method == m)))
}

/// A route table prepared once for the lookups of every request (the access log's): the
/// same answers as [`lookup`], found without reading the templates' text again. Each distinct
/// template is kept split into its segments, with its count of literal ones and its rows, in
/// the order in which [`lookup`] would settle on it (its last row's place in the table), so a
/// request path is compared only with the templates of as many segments as it has.
#[derive(Debug)]
pub struct RouteIndex {
    routes: &'static [Route],
    templates: Vec<Template>,
}

#[derive(Debug)]
struct Template {
    /// `None` for a parameter (`{name}`), which matches any non-empty segment.
    segments: Vec<Option<&'static str>>,
    literal: usize,
    /// The template's rows, in table order.
    rows: Vec<usize>,
}

impl RouteIndex {
    pub fn new(routes: &'static [Route]) -> RouteIndex {
        let mut templates: Vec<(usize, &'static str, Template)> = Vec::new();
        for (row, route) in routes.iter().enumerate() {
            if let Some((last, _, template)) = templates
                .iter_mut()
                .find(|(_, path, _)| *path == route.path)
            {
                *last = row;
                template.rows.push(row);
                continue;
            }
            let segments: Vec<Option<&'static str>> = route
                .path
                .split('/')
                .map(|segment| {
                    let parameter = segment.starts_with('{') && segment.ends_with('}');
                    (!parameter).then_some(segment)
                })
                .collect();
            let literal = segments.iter().filter(|s| s.is_some()).count();
            templates.push((
                row,
                route.path,
                Template {
                    segments,
                    literal,
                    rows: vec![row],
                },
            ));
        }
        templates.sort_by_key(|(last, _, _)| *last);
        RouteIndex {
            routes,
            templates: templates.into_iter().map(|(_, _, t)| t).collect(),
        }
    }

    /// As [`lookup`]; a found route is given with its row number in the table.
    pub fn lookup(&self, method: &str, path: &str) -> Result<(usize, &'static Route), Lookup> {
        let mut segments = [""; MAX_SEGMENTS];
        let segments = split_path(path, &mut segments).ok_or(Lookup::NotFound)?;
        let count = segments.len();
        let mut best: Option<&Template> = None;
        for template in &self.templates {
            if template.segments.len() != count
                || best.is_some_and(|b| template.literal < b.literal)
            {
                continue;
            }
            // From the last segment back: templates of one length mostly differ at the end
            // (`.../configs`, `.../records`) and share their beginning (`/clusters/{id}`).
            let matches = template
                .segments
                .iter()
                .zip(segments)
                .rev()
                .all(|(t, p)| match t {
                    Some(literal) => literal == p,
                    None => !p.is_empty(),
                });
            if matches {
                best = Some(template);
            }
        }
        let template = best.ok_or(Lookup::NotFound)?;
        let routes = self.routes;
        if let Some(&row) = template
            .rows
            .iter()
            .find(|&&row| routes[row].method.eq_ignore_ascii_case(method))
        {
            return Ok((row, &routes[row]));
        }
        Err(Lookup::MethodNotAllowed(allow_value(|m| {
            template.rows.iter().any(|&row| routes[row].method == m)
        })))
    }
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

    /// The operation `GET path` finds in `routes`.
    fn get_in(routes: &'static [Route], path: &str) -> Option<&'static str> {
        match lookup(routes, "GET", path) {
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
    fn the_most_literal_template_wins_and_segment_counts_must_match() {
        static MORE: &[Route] = &[
            route("/topics/{topic_name}/partitions", "GET", "list_partitions"),
            route("/topics/{topic_name}/{x}", "GET", "any_under_topic"),
            route(
                "/topics/{topic_name}/partitions/{p}",
                "GET",
                "get_partition",
            ),
            route("/topics/{a}/{b}/{c}", "GET", "three"),
        ];
        let op = |path| get_in(MORE, path);
        assert_eq!(op("/topics/t/partitions"), Some("list_partitions"));
        assert_eq!(op("/topics/t/other"), Some("any_under_topic"));
        assert_eq!(op("/topics/t/partitions/0"), Some("get_partition"));
        assert_eq!(op("/topics/t/x/0"), Some("three"));
        assert_eq!(op("/topics/t/partitions/0/more"), None);
        assert_eq!(op("/topics"), None);
        let long = "/x".repeat(100);
        assert_eq!(lookup(MORE, "GET", &long), Lookup::NotFound);
    }

    #[test]
    fn a_matched_route_is_recognised_in_its_table_only() {
        static OTHER: &[Route] = &[route("/clusters", "GET", "list_clusters")];
        let Lookup::Found(found) = lookup(ROUTES, "GET", "/topics") else {
            panic!("/topics is in the table");
        };
        assert_eq!(Matched(found).of(ROUTES), Some(found));
        assert_eq!(Matched(found).of(OTHER), None);
    }

    #[test]
    fn only_a_different_literal_first_segment_passes_a_template_over() {
        assert!(first_segment_may_match("/topics/{t}", "topics"));
        assert!(first_segment_may_match("/{cluster}/topics", "anything"));
        assert!(!first_segment_may_match("/topics/{t}", "brokers"));
        // A prefix is not a match, but it is left to the full comparison.
        assert!(first_segment_may_match("/topicsx", "topics"));
        static PARAM_FIRST: &[Route] = &[
            route("/topicsx", "GET", "longer"),
            route("/{any}/y", "GET", "param_first"),
        ];
        let op = |path| get_in(PARAM_FIRST, path);
        assert_eq!(op("/topics/y"), Some("param_first"));
        assert_eq!(op("/topicsx"), Some("longer"));
        assert_eq!(op("/topics"), None);
    }

    #[test]
    fn other_methods_are_listed_for_allow() {
        assert_eq!(
            lookup(ROUTES, "DELETE", "/topics/t"),
            Lookup::MethodNotAllowed("GET, POST".to_string())
        );
        assert_eq!(lookup(ROUTES, "GET", "/nowhere"), Lookup::NotFound);
    }
    /// The prepared index settles every path as `lookup` does, ties included: two templates
    /// with as many literal segments (the later one wins), a template whose rows are not next
    /// to each other, parameters first, methods in any case.
    #[test]
    fn the_index_answers_as_lookup_does() {
        static TIES: &[Route] = &[
            route("/a/{x}/c", "GET", "first"),
            route("/a/b/{y}", "GET", "second"),
            route("/a/{x}/c", "POST", "first_again"),
            route("/{p}/b/c", "PUT", "param_first"),
            route("/a/b", "GET", "ab"),
            route("/", "GET", "root"),
            route("/acls:batch", "POST", "batch"),
        ];
        for routes in [ROUTES, TIES] {
            let index = RouteIndex::new(routes);
            let paths = [
                "",
                "/",
                "//",
                "/a",
                "/a/b",
                "/a/b/c",
                "/a/x/c",
                "/a/b/z",
                "/q/b/c",
                "/a/b/c/d",
                "/a//c",
                "/topics",
                "/topics/t",
                "/topics/",
                "/acls:batch",
                "/acls",
                "/consumers/g/instances/i/records",
                "/consumers/g/instances//records",
            ];
            for path in paths {
                for method in ["GET", "post", "PUT", "DELETE"] {
                    let got = index
                        .lookup(method, path)
                        .map_or_else(|other| other, |(_, route)| Lookup::Found(route));
                    assert_eq!(got, lookup(routes, method, path), "{method} {path}");
                }
            }
        }
        // The tie itself: `/a/{x}/c`, `/a/b/{y}` and `/{p}/b/c` all match `/a/b/c` with three
        // literal segments (the empty one before the first `/` counts for each); the template
        // of the latest row wins, so `/a/b/c` has `PUT` only. `/a/x/c` matches one of them.
        let index = RouteIndex::new(TIES);
        assert_eq!(
            index.lookup("GET", "/a/b/c"),
            Err(Lookup::MethodNotAllowed("PUT".into()))
        );
        assert_eq!(
            index
                .lookup("put", "/a/b/c")
                .map(|(row, r)| (row, r.operation)),
            Ok((3, "param_first"))
        );
        assert_eq!(
            index
                .lookup("POST", "/a/x/c")
                .map(|(row, r)| (row, r.operation)),
            Ok((2, "first_again"))
        );
    }
}
