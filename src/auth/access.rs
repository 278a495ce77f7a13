//! What a request asks to do: the one table from (method, route template) to Confluent's
//! resource names (the `@ResourceName` values that `api.endpoints.allowlist` and
//! `api.endpoints.blocklist` list) and to the permission a caller's roles must grant.
//!
//! Pure: the middleware (`middleware.rs`) looks requests up here; roles are checked in
//! `mod.rs`. The table covers the v2 API and the v3 routes by their templates, so that the v3
//! handlers need no change to be gated.

/// What a caller may be allowed to do; each has its own `authorization.roles.*` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Cluster, broker, topic and partition metadata (v2 reads, v3 reads of those).
    Metadata,
    /// Writing records (v2 produce, v3 `records` and `records:batch`).
    Produce,
    /// Everything under v2 `/consumers`.
    Consume,
    /// v3 reads of configurations, groups, lags, ACLs, replicas and reassignments.
    AdminRead,
    /// v3 writes other than produce.
    AdminWrite,
}

impl Permission {
    /// What the 403 message says the caller may not do.
    pub fn describe(self) -> &'static str {
        match self {
            Permission::Metadata => "read metadata",
            Permission::Produce => "produce",
            Permission::Consume => "consume",
            Permission::AdminRead => "read cluster administration data",
            Permission::AdminWrite => "change the cluster",
        }
    }
}

/// One operation of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    pub method: &'static str,
    /// The route template, `{name}` for a path parameter.
    pub template: &'static str,
    /// The resource class name (`api.v2.consumers.*`); listing it covers every operation of
    /// the class.
    pub class: &'static str,
    /// The operation's own resource name; `{format}` stands for the embedded format the
    /// request's media type names (produce and records calls).
    pub name: &'static str,
    pub permission: Permission,
}

use Permission::{AdminRead, AdminWrite, Consume, Metadata, Produce};

macro_rules! ops {
    ($( $method:literal $template:literal => $class:literal, $name:literal, $perm:ident; )*) => {
        /// Every operation with a resource name, v2 then v3.
        pub const OPERATIONS: &[Operation] = &[ $( Operation {
            method: $method, template: $template, class: $class, name: $name, permission: $perm,
        }, )* ];
    };
}

ops! {
    "GET" "/" => "api.v2.root.*", "api.v2.root.get", Metadata;
    "POST" "/" => "api.v2.root.*", "api.v2.root.post", Metadata;
    "GET" "/topics" => "api.v2.topics.*", "api.v2.topics.list", Metadata;
    "GET" "/topics/{topic}" => "api.v2.topics.*", "api.v2.topics.get", Metadata;
    "POST" "/topics/{topic}" => "api.v2.produce-to-topic.*", "api.v2.produce-to-topic.{format}",
        Produce;
    "GET" "/topics/{topic}/partitions" => "api.v2.partitions.*", "api.v2.partitions.list",
        Metadata;
    "GET" "/topics/{topic}/partitions/{partition}" => "api.v2.partitions.*",
        "api.v2.partitions.get", Metadata;
    "POST" "/topics/{topic}/partitions/{partition}" => "api.v2.produce-to-partition.*",
        "api.v2.produce-to-partition.{format}", Produce;
    "GET" "/topics/{topic}/partitions/{partition}/offsets" => "api.v2.partitions.*",
        "api.v2.partitions.get-offsets", Metadata;
    "GET" "/brokers" => "api.v2.brokers.*", "api.v2.brokers.list", Metadata;
    "POST" "/consumers/{group}" => "api.v2.consumers.*", "api.v2.consumers.create", Consume;
    "DELETE" "/consumers/{group}/instances/{instance}" => "api.v2.consumers.*",
        "api.v2.consumers.delete", Consume;
    "POST" "/consumers/{group}/instances/{instance}/subscription" => "api.v2.consumers.*",
        "api.v2.consumers.subscribe", Consume;
    "GET" "/consumers/{group}/instances/{instance}/subscription" => "api.v2.consumers.*",
        "api.v2.consumers.get-subscription", Consume;
    "DELETE" "/consumers/{group}/instances/{instance}/subscription" => "api.v2.consumers.*",
        "api.v2.consumers.unsubscribe", Consume;
    "GET" "/consumers/{group}/instances/{instance}/records" => "api.v2.consumers.*",
        "api.v2.consumers.consume-{format}", Consume;
    "GET" "/consumers/{group}/instances/{instance}/records/stream" => "api.v2.consumers.*",
        "api.v2.consumers.stream-records", Consume;
    "GET" "/topics/{topic}/partitions/{partition}/records" => "api.v2.partition-records.*",
        "api.v2.partition-records.read-{format}", Consume;
    "POST" "/consumers/{group}/instances/{instance}/offsets" => "api.v2.consumers.*",
        "api.v2.consumers.commit-offsets", Consume;
    "GET" "/consumers/{group}/instances/{instance}/offsets" => "api.v2.consumers.*",
        "api.v2.consumers.get-committed-offsets", Consume;
    "POST" "/consumers/{group}/instances/{instance}/positions" => "api.v2.consumers.*",
        "api.v2.consumers.seek-to-offset", Consume;
    "POST" "/consumers/{group}/instances/{instance}/positions/beginning" =>
        "api.v2.consumers.*", "api.v2.consumers.seek-to-beginning", Consume;
    "POST" "/consumers/{group}/instances/{instance}/positions/end" => "api.v2.consumers.*",
        "api.v2.consumers.seek-to-end", Consume;
    "POST" "/consumers/{group}/instances/{instance}/assignments" => "api.v2.consumers.*",
        "api.v2.consumers.assign", Consume;
    "GET" "/consumers/{group}/instances/{instance}/assignments" => "api.v2.consumers.*",
        "api.v2.consumers.get-assignments", Consume;

    "GET" "/v3/clusters" => "api.v3.clusters.*", "api.v3.clusters.list", Metadata;
    "GET" "/v3/clusters/{cluster}" => "api.v3.clusters.*", "api.v3.clusters.get", Metadata;
    "GET" "/v3/clusters/{cluster}/brokers" => "api.v3.brokers.*", "api.v3.brokers.list",
        Metadata;
    "GET" "/v3/clusters/{cluster}/brokers/{broker}" => "api.v3.brokers.*",
        "api.v3.brokers.get", Metadata;
    "DELETE" "/v3/clusters/{cluster}/brokers/{broker}" => "api.v3.brokers.*",
        "api.v3.brokers.delete", AdminWrite;
    "GET" "/v3/clusters/{cluster}/brokers/-/configs" => "api.v3.brokers-configs.*",
        "api.v3.brokers-configs.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/brokers/{broker}/configs" => "api.v3.broker-configs.*",
        "api.v3.broker-configs.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/brokers/{broker}/configs/{name}" =>
        "api.v3.broker-configs.*", "api.v3.broker-configs.get", AdminRead;
    "PUT" "/v3/clusters/{cluster}/brokers/{broker}/configs/{name}" =>
        "api.v3.broker-configs.*", "api.v3.broker-configs.update", AdminWrite;
    "DELETE" "/v3/clusters/{cluster}/brokers/{broker}/configs/{name}" =>
        "api.v3.broker-configs.*", "api.v3.broker-configs.delete", AdminWrite;
    "POST" "/v3/clusters/{cluster}/brokers/{broker}/configs:alter" =>
        "api.v3.broker-configs.*", "api.v3.broker-configs.alter", AdminWrite;
    "GET" "/v3/clusters/{cluster}/brokers/{broker}/partition-replicas" =>
        "api.v3.replicas.*", "api.v3.replicas.search-by-broker", AdminRead;
    "GET" "/v3/clusters/{cluster}/broker-configs" => "api.v3.cluster-configs.*",
        "api.v3.cluster-configs.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/broker-configs/{name}" => "api.v3.cluster-configs.*",
        "api.v3.cluster-configs.get", AdminRead;
    "PUT" "/v3/clusters/{cluster}/broker-configs/{name}" => "api.v3.cluster-configs.*",
        "api.v3.cluster-configs.update", AdminWrite;
    "DELETE" "/v3/clusters/{cluster}/broker-configs/{name}" => "api.v3.cluster-configs.*",
        "api.v3.cluster-configs.delete", AdminWrite;
    "POST" "/v3/clusters/{cluster}/broker-configs:alter" => "api.v3.cluster-configs.*",
        "api.v3.cluster-configs.alter", AdminWrite;
    "GET" "/v3/clusters/{cluster}/topics" => "api.v3.topics.*", "api.v3.topics.list", Metadata;
    "POST" "/v3/clusters/{cluster}/topics" => "api.v3.topics.*", "api.v3.topics.create",
        AdminWrite;
    "GET" "/v3/clusters/{cluster}/topics/{topic}" => "api.v3.topics.*", "api.v3.topics.get",
        Metadata;
    "PATCH" "/v3/clusters/{cluster}/topics/{topic}" => "api.v3.topics.*",
        "api.v3.topics.update", AdminWrite;
    "DELETE" "/v3/clusters/{cluster}/topics/{topic}" => "api.v3.topics.*",
        "api.v3.topics.delete", AdminWrite;
    "GET" "/v3/clusters/{cluster}/topics/-/configs" => "api.v3.topic-configs.*",
        "api.v3.topic-configs.list-all", AdminRead;
    "POST" "/v3/clusters/{cluster}/topics/-/configs:alter" => "api.v3.topic-configs.*",
        "api.v3.topic-configs.alter-multiple", AdminWrite;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/configs" => "api.v3.topic-configs.*",
        "api.v3.topic-configs.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/configs/{name}" => "api.v3.topic-configs.*",
        "api.v3.topic-configs.get", AdminRead;
    "PUT" "/v3/clusters/{cluster}/topics/{topic}/configs/{name}" => "api.v3.topic-configs.*",
        "api.v3.topic-configs.update", AdminWrite;
    "DELETE" "/v3/clusters/{cluster}/topics/{topic}/configs/{name}" =>
        "api.v3.topic-configs.*", "api.v3.topic-configs.delete", AdminWrite;
    "POST" "/v3/clusters/{cluster}/topics/{topic}/configs:alter" => "api.v3.topic-configs.*",
        "api.v3.topic-configs.alter", AdminWrite;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions" => "api.v3.partitions.*",
        "api.v3.partitions.list", Metadata;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions/{partition}" =>
        "api.v3.partitions.*", "api.v3.partitions.get", Metadata;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions/{partition}/offset" =>
        "api.v3.partition-offsets.*", "api.v3.partition-offsets.list", Metadata;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions/{partition}/replicas" =>
        "api.v3.replicas.*", "api.v3.replicas.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions/{partition}/replicas/{broker}" =>
        "api.v3.replicas.*", "api.v3.replicas.get", AdminRead;
    "GET" "/v3/clusters/{cluster}/topics/-/partitions/-/reassignment" =>
        "api.v3.partition-reassignments.*", "api.v3.partition-reassignments.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions/-/reassignment" =>
        "api.v3.partition-reassignments.*", "api.v3.partition-reassignments.search-by-topic",
        AdminRead;
    "GET" "/v3/clusters/{cluster}/topics/{topic}/partitions/{partition}/reassignment" =>
        "api.v3.partition-reassignments.*", "api.v3.partition-reassignments.get", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups" => "api.v3.consumer-groups.*",
        "api.v3.consumer-groups.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}" => "api.v3.consumer-groups.*",
        "api.v3.consumer-groups.get", AdminRead;
    "DELETE" "/v3/clusters/{cluster}/consumer-groups/{group}" => "api.v3.consumer-groups.*",
        "api.v3.consumer-groups.delete", AdminWrite;
    "POST" "/v3/clusters/{cluster}/consumer-groups/{group}/offsets:reset" =>
        "api.v3.consumer-groups.*", "api.v3.consumer-groups.reset-offsets", AdminWrite;
    "POST" "/v3/clusters/{cluster}/topics/{topic}/records:delete" => "api.v3.records.*",
        "api.v3.records.delete", AdminWrite;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}/consumers" => "api.v3.consumers.*",
        "api.v3.consumers.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}/consumers/{consumer}" =>
        "api.v3.consumers.*", "api.v3.consumers.get", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}/consumers/{consumer}/assignments" =>
        "api.v3.consumer-assignments.*", "api.v3.consumer-assignments.list", AdminRead;
    "GET"
    "/v3/clusters/{cluster}/consumer-groups/{group}/consumers/{consumer}/assignments/{topic}/partitions/{partition}"
        => "api.v3.consumer-assignments.*", "api.v3.consumer-assignments.get", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}/lags" => "api.v3.consumer-lags.*",
        "api.v3.consumer-lags.list", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}/lags/{topic}/partitions/{partition}"
        => "api.v3.consumer-lags.*", "api.v3.consumer-lags.get", AdminRead;
    "GET" "/v3/clusters/{cluster}/consumer-groups/{group}/lag-summary" =>
        "api.v3.consumer-group-lag-summary.*", "api.v3.consumer-group-lag-summary.get",
        AdminRead;
    "GET" "/v3/clusters/{cluster}/acls" => "api.v3.acls.*", "api.v3.acls.list", AdminRead;
    "POST" "/v3/clusters/{cluster}/acls" => "api.v3.acls.*", "api.v3.acls.create", AdminWrite;
    "DELETE" "/v3/clusters/{cluster}/acls" => "api.v3.acls.*", "api.v3.acls.delete",
        AdminWrite;
    "POST" "/v3/clusters/{cluster}/acls:batch" => "api.v3.acls.*", "api.v3.acls.batch-create",
        AdminWrite;
    "POST" "/v3/clusters/{cluster}/topics/{topic}/records" => "api.v3.produce.*",
        "api.v3.produce.produce-to-topic", Produce;
    "POST" "/v3/clusters/{cluster}/topics/{topic}/records:batch" => "api.v3.produce.*",
        "api.v3.produce.produce-batch", Produce;
}

/// The operation `method` and `path` name, if the table has it. A template's literal
/// segments (including `-`) win over parameters, whatever the table order.
pub fn find(method: &str, path: &str) -> Option<&'static Operation> {
    // Empty segments (`//`, a trailing `/`) are dropped, so that a path spelled differently
    // cannot slip past the lists under another name.
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    OPERATIONS
        .iter()
        .filter(|op| op.method == method)
        .filter_map(|op| {
            let parts: Vec<&str> = op.template.split('/').filter(|s| !s.is_empty()).collect();
            if parts.len() != segments.len() {
                return None;
            }
            let mut literals = 0;
            for (part, segment) in parts.iter().zip(&segments) {
                if !is_parameter(part) {
                    if part != segment {
                        return None;
                    }
                    literals += 1;
                }
            }
            Some((literals, op))
        })
        .max_by_key(|(literals, _)| *literals)
        .map(|(_, op)| op)
}

fn is_parameter(part: &str) -> bool {
    part.starts_with('{') && part.ends_with('}')
}

/// The permission a request needs when the table does not have its route: v3 reads are
/// administrative reads, v3 writes administrative writes; anything else needs none beyond
/// authentication (unknown paths answer 404 anyway).
pub fn fallback_permission(method: &str, path: &str) -> Option<Permission> {
    if path != "/v3" && !path.starts_with("/v3/") {
        return None;
    }
    match method {
        "GET" | "HEAD" | "OPTIONS" => Some(AdminRead),
        _ => Some(AdminWrite),
    }
}

/// The embedded format a v2 media type names, as Confluent's resource names spell it.
pub fn format_of(media_type: Option<&str>) -> &'static str {
    let media_type = media_type.unwrap_or_default().to_ascii_lowercase();
    if media_type.contains("vnd.kafka.jsonschema.") {
        "json-schema"
    } else if media_type.contains("vnd.kafka.json.") {
        "json"
    } else if media_type.contains("vnd.kafka.avro.") {
        "avro"
    } else if media_type.contains("vnd.kafka.protobuf.") {
        "protobuf"
    } else {
        "binary"
    }
}

/// `api.endpoints.allowlist` and `api.endpoints.blocklist`: resource names matched exactly
/// (a class name covers its operations), as Confluent does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessLists {
    pub allow: Vec<String>,
    pub block: Vec<String>,
}

impl AccessLists {
    /// Whether the lists turn `op` (named `name` once `{format}` is filled) off: with an
    /// allowlist, unless it lists the class or the name; with a blocklist, if it lists either.
    pub fn blocks(&self, op: &Operation, name: &str) -> bool {
        let listed = |list: &[String]| list.iter().any(|item| item == op.class || item == name);
        (!self.allow.is_empty() && !listed(&self.allow)) || listed(&self.block)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_v2_route_of_the_contract_has_an_operation() {
        for route in kafka_rest_api::v2::routes::ROUTES {
            if route.path.starts_with("/health/") {
                continue;
            }
            assert!(
                find(route.method, route.path).is_some(),
                "{} {} has no resource name",
                route.method,
                route.path
            );
        }
    }

    #[test]
    fn every_v3_route_of_the_contract_has_an_operation() {
        let missing: Vec<String> = kafka_rest_api::v3::routes::ROUTES
            .iter()
            .map(|route| (route.method, format!("/v3{}", route.path)))
            .filter(|(method, path)| find(method, path).is_none())
            .map(|(method, path)| format!("{method} {path}"))
            .collect();
        assert!(missing.is_empty(), "no resource name: {missing:#?}");
    }

    #[test]
    fn paths_find_their_operation_literals_first() {
        let name = |method, path| find(method, path).map(|op| op.name);
        assert_eq!(name("GET", "/topics"), Some("api.v2.topics.list"));
        assert_eq!(name("GET", "/topics/t1"), Some("api.v2.topics.get"));
        assert_eq!(
            name("POST", "/topics/t1/partitions/0"),
            Some("api.v2.produce-to-partition.{format}")
        );
        assert_eq!(name("PUT", "/topics/t1"), None);
        assert_eq!(name("GET", "/nowhere"), None);
        assert_eq!(
            name("GET", "/v3/clusters/c1/topics/-/configs"),
            Some("api.v3.topic-configs.list-all")
        );
        assert_eq!(
            name("GET", "/v3/clusters/c1/topics/t1/configs"),
            Some("api.v3.topic-configs.list")
        );
        assert_eq!(
            name("GET", "/v3/clusters/c1/brokers/-/configs"),
            Some("api.v3.brokers-configs.list")
        );
        assert_eq!(
            name("POST", "/v3/clusters/c1/topics/t1/records:batch"),
            Some("api.v3.produce.produce-batch")
        );
        assert_eq!(
            name("GET", "/v3/clusters/c1/topics/-/partitions/-/reassignment"),
            Some("api.v3.partition-reassignments.list")
        );
        assert_eq!(name("GET", "//topics/"), Some("api.v2.topics.list"));
        assert_eq!(name("GET", "/"), Some("api.v2.root.get"));
    }

    #[test]
    fn v3_writes_are_admin_writes_except_produce() {
        for op in OPERATIONS
            .iter()
            .filter(|op| op.template.starts_with("/v3/"))
        {
            let write = op.method != "GET";
            let produce = op.class == "api.v3.produce.*";
            assert_eq!(
                op.permission == AdminWrite,
                write && !produce,
                "{} {}",
                op.method,
                op.template
            );
        }
        assert_eq!(
            fallback_permission("POST", "/v3/clusters/c/new-thing"),
            Some(AdminWrite)
        );
        assert_eq!(
            fallback_permission("GET", "/v3/clusters/c/new-thing"),
            Some(AdminRead)
        );
        assert_eq!(fallback_permission("POST", "/v3x"), None);
    }

    #[test]
    fn lists_match_class_or_operation_names_exactly() {
        let list = find("GET", "/topics").expect("op");
        let get = find("GET", "/topics/t").expect("op");
        let lists = |allow: &[&str], block: &[&str]| AccessLists {
            allow: allow.iter().map(|s| s.to_string()).collect(),
            block: block.iter().map(|s| s.to_string()).collect(),
        };
        assert!(!lists(&[], &[]).blocks(list, list.name));
        assert!(!lists(&["api.v2.topics.list"], &[]).blocks(list, list.name));
        assert!(lists(&["api.v2.topics.list"], &[]).blocks(get, get.name));
        assert!(!lists(&["api.v2.topics.*"], &[]).blocks(get, get.name));
        assert!(lists(&["api.v2.topics.*"], &["api.v2.topics.get"]).blocks(get, get.name));
        assert!(lists(&[], &["api.v2.topics.*"]).blocks(list, list.name));
        // No globbing: a prefix is not a class name.
        assert!(!lists(&[], &["api.v2.*"]).blocks(list, list.name));
    }

    #[test]
    fn formats_are_named_as_confluent_names_them() {
        assert_eq!(
            format_of(Some("application/vnd.kafka.binary.v2+json")),
            "binary"
        );
        assert_eq!(
            format_of(Some("application/vnd.kafka.json.v2+json")),
            "json"
        );
        assert_eq!(
            format_of(Some("application/vnd.kafka.jsonschema.v2+json")),
            "json-schema"
        );
        assert_eq!(
            format_of(Some("application/vnd.kafka.avro.v2+json")),
            "avro"
        );
        assert_eq!(
            format_of(Some("application/vnd.kafka.protobuf.v2+json")),
            "protobuf"
        );
        assert_eq!(format_of(None), "binary");
    }
}
