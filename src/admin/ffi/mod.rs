//! The librdkafka admin calls that rust-rdkafka does not wrap (or wraps without what the v3 API
//! needs: the broker's error messages, config synonyms and sources, the cluster-default broker
//! resource, incremental config changes, the cluster description), called through
//! `rdkafka::bindings`; and `produce`, the producer pool's enqueue of one record, which is
//! rust-rdkafka's without a heap copy of the topic name per record.
//!
//! This is the only module of the crate allowed `unsafe` (the workspace denies it everywhere
//! else); besides librdkafka it holds the one call into glibc (`memory`). Each `unsafe` block
//! says in a `// SAFETY:` comment why it is sound; every object librdkafka allocates for a call
//! is owned by an RAII wrapper of this module that frees it.
//! One file per area: `cluster.rs`, `configs.rs`, `topics.rs` (and the consumer group, lag and
//! ACL files of those services). Every call here blocks its thread until Kafka answers or its
//! deadline passes, so callers run them on the blocking pool (`crate::blocking`); this module
//! knows nothing about that pool, HTTP or the proxy's error codes (`produce::send` does not
//! block: it only enqueues).
#![allow(unsafe_code)]

pub mod acls {
    //! librdkafka's ACL admin calls, which rust-rdkafka does not wrap: describe the ACLs a filter
    //! matches (`DescribeAcls`), create ACLs (`CreateAcls`) and delete the ACLs a filter matches,
    //! answering which were deleted (`DeleteAcls`).
    //!
    //! Every call blocks until Kafka answers or its deadline passes. Validation of what a client may ask (no ANY in a new
    //! ACL, ...) is `src/admin/acls.rs`'s; this module only translates.

    use std::ffi::{c_char, CString};
    use std::time::Instant;

    use rdkafka::bindings as rd;

    use super::groups::result_error;
    use super::{c_string, call, owned, owned_ptr, slice, CallOptions, FfiError, NativeClient};
    use crate::admin::acls::{Acl, AclFilter, AclOperation, PatternType, Permission, ResourceType};

    owned_ptr!(
        /// One ACL binding or binding filter built for a request.
        Binding,
        rd::rd_kafka_AclBinding_t,
        rd::rd_kafka_AclBinding_destroy
    );

    /// The parts of a binding or filter, as C values.
    struct Parts {
        restype: rd::rd_kafka_ResourceType_t,
        name: Option<CString>,
        pattern: rd::rd_kafka_ResourcePatternType_t,
        principal: Option<CString>,
        host: Option<CString>,
        operation: rd::rd_kafka_AclOperation_t,
        permission: rd::rd_kafka_AclPermissionType_t,
    }

    fn opt_c(value: Option<&str>) -> Result<Option<CString>, FfiError> {
        value.map(c_string).transpose()
    }

    fn opt_ptr(value: &Option<CString>) -> *const c_char {
        value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr())
    }

    impl Parts {
        fn new(
            resource_type: ResourceType,
            name: Option<&str>,
            pattern_type: PatternType,
            principal: Option<&str>,
            host: Option<&str>,
            operation: AclOperation,
            permission: Permission,
        ) -> Result<Parts, FfiError> {
            Ok(Parts {
                restype: to_restype(resource_type)?,
                name: opt_c(name)?,
                pattern: to_pattern(pattern_type),
                principal: opt_c(principal)?,
                host: opt_c(host)?,
                operation: to_operation(operation),
                permission: to_permission(permission),
            })
        }

        /// A binding (`filter == false`) or a binding filter built from the parts.
        fn build(&self, filter: bool) -> Result<Binding, FfiError> {
            let mut errstr = [0 as c_char; 512];
            // SAFETY: every string pointer is null or a valid C string owned by `self`, which
            // librdkafka copies; `errstr` is a writable buffer of the given length.
            let binding = unsafe {
                let new = if filter {
                    rd::rd_kafka_AclBindingFilter_new
                } else {
                    rd::rd_kafka_AclBinding_new
                };
                new(
                    self.restype,
                    opt_ptr(&self.name),
                    self.pattern,
                    opt_ptr(&self.principal),
                    opt_ptr(&self.host),
                    self.operation,
                    self.permission,
                    errstr.as_mut_ptr(),
                    errstr.len(),
                )
            };
            // SAFETY: the binding (if any) is ours; on failure librdkafka wrote a NUL-terminated
            // message into `errstr`.
            unsafe { Binding::from_raw(binding) }.ok_or_else(|| {
                FfiError::Invalid(unsafe { owned(errstr.as_ptr()) }.unwrap_or_default())
            })
        }
    }

    fn filter_binding(filter: &AclFilter) -> Result<Binding, FfiError> {
        Parts::new(
            filter.resource_type,
            filter.resource_name.as_deref(),
            filter.pattern_type,
            filter.principal.as_deref(),
            filter.host.as_deref(),
            filter.operation,
            filter.permission,
        )?
        .build(true)
    }

    /// The ACLs Kafka holds that match `filter`.
    pub fn describe_acls(
        client: &NativeClient,
        filter: &AclFilter,
        deadline: Instant,
    ) -> Result<Vec<Acl>, FfiError> {
        let binding = filter_binding(filter)?;
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBEACLS,
            deadline,
            CallOptions::default(),
            // SAFETY: client, filter, options and queue are live; librdkafka copies the filter.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DescribeAcls(rk, binding.ptr(), options, queue)
            },
        )?;
        // SAFETY: the event is live and owns the bindings read here.
        unsafe {
            let result = rd::rd_kafka_event_DescribeAcls_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid("not a DescribeAcls result".to_string()));
            }
            let mut count = 0usize;
            let acls = rd::rd_kafka_DescribeAcls_result_acls(result, &mut count);
            Ok(slice(acls, count)
                .iter()
                .map(|&acl| read_acl(acl))
                .collect())
        }
    }

    /// Creates `acls` in one request; the first ACL Kafka refused is the error of the call.
    pub fn create_acls(
        client: &NativeClient,
        acls: &[Acl],
        deadline: Instant,
    ) -> Result<(), FfiError> {
        if acls.is_empty() {
            return Ok(());
        }
        let bindings = acls
            .iter()
            .map(|acl| {
                Parts::new(
                    acl.resource_type,
                    Some(&acl.resource_name),
                    acl.pattern_type,
                    Some(&acl.principal),
                    Some(&acl.host),
                    acl.operation,
                    acl.permission,
                )?
                .build(false)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*mut rd::rd_kafka_AclBinding_t> =
            bindings.iter().map(|b| b.ptr()).collect();
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEACLS,
            deadline,
            CallOptions::default(),
            // SAFETY: `ptrs` holds live bindings (owned by `bindings`), copied by librdkafka.
            |rk, options, queue| unsafe {
                rd::rd_kafka_CreateAcls(rk, ptrs.as_mut_ptr(), ptrs.len(), options, queue)
            },
        )?;
        // SAFETY: the event is live and owns the results read here.
        unsafe {
            let result = rd::rd_kafka_event_CreateAcls_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid("not a CreateAcls result".to_string()));
            }
            let mut count = 0usize;
            let results = rd::rd_kafka_CreateAcls_result_acls(result, &mut count);
            for &one in slice(results, count) {
                if let Some(error) = result_error(rd::rd_kafka_acl_result_error(one)) {
                    return Err(error);
                }
            }
        }
        Ok(())
    }

    /// Deletes the ACLs that match `filter`, answering the ACLs Kafka deleted.
    pub fn delete_acls(
        client: &NativeClient,
        filter: &AclFilter,
        deadline: Instant,
    ) -> Result<Vec<Acl>, FfiError> {
        let binding = filter_binding(filter)?;
        let mut ptrs = [binding.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEACLS,
            deadline,
            CallOptions::default(),
            // SAFETY: a one-element array of a live filter, copied by librdkafka.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DeleteAcls(rk, ptrs.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: the event is live and owns the responses and bindings read here.
        unsafe {
            let result = rd::rd_kafka_event_DeleteAcls_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid("not a DeleteAcls result".to_string()));
            }
            let mut count = 0usize;
            let responses = rd::rd_kafka_DeleteAcls_result_responses(result, &mut count);
            let mut deleted = Vec::new();
            for &response in slice(responses, count) {
                if let Some(error) =
                    result_error(rd::rd_kafka_DeleteAcls_result_response_error(response))
                {
                    return Err(error);
                }
                let mut matching = 0usize;
                let acls =
                    rd::rd_kafka_DeleteAcls_result_response_matching_acls(response, &mut matching);
                deleted.extend(slice(acls, matching).iter().map(|&acl| read_acl(acl)));
            }
            Ok(deleted)
        }
    }

    /// One binding, copied.
    ///
    /// # Safety
    /// `acl` is a live binding.
    unsafe fn read_acl(acl: *const rd::rd_kafka_AclBinding_t) -> Acl {
        // SAFETY: `acl` is live (the caller's promise); its strings are copied at once.
        unsafe {
            Acl {
                resource_type: from_restype(rd::rd_kafka_AclBinding_restype(acl)),
                resource_name: owned(rd::rd_kafka_AclBinding_name(acl)).unwrap_or_default(),
                pattern_type: from_pattern(rd::rd_kafka_AclBinding_resource_pattern_type(acl)),
                principal: owned(rd::rd_kafka_AclBinding_principal(acl)).unwrap_or_default(),
                host: owned(rd::rd_kafka_AclBinding_host(acl)).unwrap_or_default(),
                operation: from_operation(rd::rd_kafka_AclBinding_operation(acl)),
                permission: from_permission(rd::rd_kafka_AclBinding_permission_type(acl)),
            }
        }
    }

    fn to_restype(value: ResourceType) -> Result<rd::rd_kafka_ResourceType_t, FfiError> {
        use rd::rd_kafka_ResourceType_t::*;
        Ok(match value {
            ResourceType::Unknown => RD_KAFKA_RESOURCE_UNKNOWN,
            ResourceType::Any => RD_KAFKA_RESOURCE_ANY,
            ResourceType::Topic => RD_KAFKA_RESOURCE_TOPIC,
            ResourceType::Group => RD_KAFKA_RESOURCE_GROUP,
            // librdkafka names Kafka's CLUSTER resource type (code 4) BROKER.
            ResourceType::Cluster => RD_KAFKA_RESOURCE_BROKER,
            ResourceType::TransactionalId => RD_KAFKA_RESOURCE_TRANSACTIONAL_ID,
            ResourceType::DelegationToken | ResourceType::User => {
                return Err(FfiError::Invalid(format!(
                    "librdkafka has no {} resource type",
                    value.name()
                )))
            }
        })
    }

    fn from_restype(value: rd::rd_kafka_ResourceType_t) -> ResourceType {
        use rd::rd_kafka_ResourceType_t::*;
        match value {
            RD_KAFKA_RESOURCE_ANY => ResourceType::Any,
            RD_KAFKA_RESOURCE_TOPIC => ResourceType::Topic,
            RD_KAFKA_RESOURCE_GROUP => ResourceType::Group,
            RD_KAFKA_RESOURCE_BROKER => ResourceType::Cluster,
            RD_KAFKA_RESOURCE_TRANSACTIONAL_ID => ResourceType::TransactionalId,
            _ => ResourceType::Unknown,
        }
    }

    fn to_pattern(value: PatternType) -> rd::rd_kafka_ResourcePatternType_t {
        use rd::rd_kafka_ResourcePatternType_t::*;
        match value {
            PatternType::Unknown => RD_KAFKA_RESOURCE_PATTERN_UNKNOWN,
            PatternType::Any => RD_KAFKA_RESOURCE_PATTERN_ANY,
            PatternType::Match => RD_KAFKA_RESOURCE_PATTERN_MATCH,
            PatternType::Literal => RD_KAFKA_RESOURCE_PATTERN_LITERAL,
            PatternType::Prefixed => RD_KAFKA_RESOURCE_PATTERN_PREFIXED,
        }
    }

    fn from_pattern(value: rd::rd_kafka_ResourcePatternType_t) -> PatternType {
        use rd::rd_kafka_ResourcePatternType_t::*;
        match value {
            RD_KAFKA_RESOURCE_PATTERN_ANY => PatternType::Any,
            RD_KAFKA_RESOURCE_PATTERN_MATCH => PatternType::Match,
            RD_KAFKA_RESOURCE_PATTERN_LITERAL => PatternType::Literal,
            RD_KAFKA_RESOURCE_PATTERN_PREFIXED => PatternType::Prefixed,
            _ => PatternType::Unknown,
        }
    }

    fn to_operation(value: AclOperation) -> rd::rd_kafka_AclOperation_t {
        use rd::rd_kafka_AclOperation_t::*;
        match value {
            AclOperation::Unknown => RD_KAFKA_ACL_OPERATION_UNKNOWN,
            AclOperation::Any => RD_KAFKA_ACL_OPERATION_ANY,
            AclOperation::All => RD_KAFKA_ACL_OPERATION_ALL,
            AclOperation::Read => RD_KAFKA_ACL_OPERATION_READ,
            AclOperation::Write => RD_KAFKA_ACL_OPERATION_WRITE,
            AclOperation::Create => RD_KAFKA_ACL_OPERATION_CREATE,
            AclOperation::Delete => RD_KAFKA_ACL_OPERATION_DELETE,
            AclOperation::Alter => RD_KAFKA_ACL_OPERATION_ALTER,
            AclOperation::Describe => RD_KAFKA_ACL_OPERATION_DESCRIBE,
            AclOperation::ClusterAction => RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION,
            AclOperation::DescribeConfigs => RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS,
            AclOperation::AlterConfigs => RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS,
            AclOperation::IdempotentWrite => RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE,
        }
    }

    fn from_operation(value: rd::rd_kafka_AclOperation_t) -> AclOperation {
        use rd::rd_kafka_AclOperation_t::*;
        match value {
            RD_KAFKA_ACL_OPERATION_ANY => AclOperation::Any,
            RD_KAFKA_ACL_OPERATION_ALL => AclOperation::All,
            RD_KAFKA_ACL_OPERATION_READ => AclOperation::Read,
            RD_KAFKA_ACL_OPERATION_WRITE => AclOperation::Write,
            RD_KAFKA_ACL_OPERATION_CREATE => AclOperation::Create,
            RD_KAFKA_ACL_OPERATION_DELETE => AclOperation::Delete,
            RD_KAFKA_ACL_OPERATION_ALTER => AclOperation::Alter,
            RD_KAFKA_ACL_OPERATION_DESCRIBE => AclOperation::Describe,
            RD_KAFKA_ACL_OPERATION_CLUSTER_ACTION => AclOperation::ClusterAction,
            RD_KAFKA_ACL_OPERATION_DESCRIBE_CONFIGS => AclOperation::DescribeConfigs,
            RD_KAFKA_ACL_OPERATION_ALTER_CONFIGS => AclOperation::AlterConfigs,
            RD_KAFKA_ACL_OPERATION_IDEMPOTENT_WRITE => AclOperation::IdempotentWrite,
            _ => AclOperation::Unknown,
        }
    }

    fn to_permission(value: Permission) -> rd::rd_kafka_AclPermissionType_t {
        use rd::rd_kafka_AclPermissionType_t::*;
        match value {
            Permission::Unknown => RD_KAFKA_ACL_PERMISSION_TYPE_UNKNOWN,
            Permission::Any => RD_KAFKA_ACL_PERMISSION_TYPE_ANY,
            Permission::Deny => RD_KAFKA_ACL_PERMISSION_TYPE_DENY,
            Permission::Allow => RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW,
        }
    }

    fn from_permission(value: rd::rd_kafka_AclPermissionType_t) -> Permission {
        use rd::rd_kafka_AclPermissionType_t::*;
        match value {
            RD_KAFKA_ACL_PERMISSION_TYPE_ANY => Permission::Any,
            RD_KAFKA_ACL_PERMISSION_TYPE_DENY => Permission::Deny,
            RD_KAFKA_ACL_PERMISSION_TYPE_ALLOW => Permission::Allow,
            _ => Permission::Unknown,
        }
    }
}

pub mod cluster {
    //! DescribeCluster: the cluster id, the controller and every broker with its rack (the
    //! metadata rust-rdkafka reads has no racks and no controller).

    use std::time::Instant;

    use rdkafka::bindings as rd;

    use super::{call, owned, slice, CallOptions, FfiError, NativeClient};

    /// One broker as DescribeCluster reports it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Node {
        pub id: i32,
        pub host: String,
        pub port: u16,
        pub rack: Option<String>,
    }

    /// The cluster as DescribeCluster reports it; nodes in Kafka's order.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ClusterDescription {
        pub cluster_id: String,
        pub controller: Option<Node>,
        pub nodes: Vec<Node>,
    }

    /// Copies one node.
    ///
    /// # Safety
    /// `node` points to a live node.
    unsafe fn node(node: *const rd::rd_kafka_Node_t) -> Node {
        // SAFETY: the caller guarantees a live node; its strings live as long as it does.
        unsafe {
            Node {
                id: rd::rd_kafka_Node_id(node),
                host: owned(rd::rd_kafka_Node_host(node)).unwrap_or_default(),
                port: rd::rd_kafka_Node_port(node),
                rack: owned(rd::rd_kafka_Node_rack(node)),
            }
        }
    }

    /// Describes the cluster (blocking until Kafka answers or `deadline`).
    pub fn describe_cluster(
        client: &NativeClient,
        deadline: Instant,
    ) -> Result<ClusterDescription, FfiError> {
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECLUSTER,
            deadline,
            CallOptions::default(),
            // SAFETY: `rk`, `options` and `queue` are live for the call (see `call`).
            |rk, options, queue| unsafe { rd::rd_kafka_DescribeCluster(rk, options, queue) },
        )?;
        // SAFETY: `event` is live; the result and everything read from it live as long as it does,
        // and every value is copied out before it is dropped.
        unsafe {
            let result = rd::rd_kafka_event_DescribeCluster_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "DescribeCluster answered with an event of another type".into(),
                ));
            }
            let mut count = 0;
            let nodes = rd::rd_kafka_DescribeCluster_result_nodes(result, &mut count);
            let nodes = slice(nodes, count).iter().map(|&n| node(n)).collect();
            let controller = rd::rd_kafka_DescribeCluster_result_controller(result);
            let controller = (!controller.is_null()).then(|| node(controller));
            let cluster_id =
                owned(rd::rd_kafka_DescribeCluster_result_cluster_id(result)).unwrap_or_default();
            Ok(ClusterDescription {
                cluster_id,
                controller,
                nodes,
            })
        }
    }
}

pub mod configs {
    //! DescribeConfigs with every entry's source and synonyms, and IncrementalAlterConfigs (SET and
    //! DELETE of single entries), for topics and brokers. librdkafka cannot name the cluster-wide
    //! broker resource (a broker resource with an empty name): it refuses to build one, so that
    //! resource is read from a broker's synonyms by the service and cannot be changed.

    use std::time::Instant;

    use rdkafka::bindings as rd;

    use super::{
        c_string, call, check_error_object, owned, owned_ptr, slice, CallOptions, FfiError,
        NativeClient,
    };

    /// A resource whose configs are described or changed.
    #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
    pub enum ConfigResource {
        Topic(String),
        Broker(i32),
        /// The dynamic configs every broker of the cluster shares (`broker-configs`).
        BrokerDefault,
    }

    impl ConfigResource {
        fn native(&self) -> Result<(rd::rd_kafka_ResourceType_t, String), FfiError> {
            use rd::rd_kafka_ResourceType_t::*;
            match self {
                ConfigResource::Topic(name) => Ok((RD_KAFKA_RESOURCE_TOPIC, name.clone())),
                ConfigResource::Broker(id) => Ok((RD_KAFKA_RESOURCE_BROKER, id.to_string())),
                ConfigResource::BrokerDefault => Err(FfiError::Invalid(
                    "librdkafka cannot name the cluster-wide broker config resource".into(),
                )),
            }
        }
    }

    /// Where a config value comes from, by Kafka's `ConfigSource` name.
    pub fn source_name(source: rd::rd_kafka_ConfigSource_t) -> &'static str {
        use rd::rd_kafka_ConfigSource_t::*;
        match source {
            RD_KAFKA_CONFIG_SOURCE_DYNAMIC_TOPIC_CONFIG => "DYNAMIC_TOPIC_CONFIG",
            RD_KAFKA_CONFIG_SOURCE_DYNAMIC_BROKER_CONFIG => "DYNAMIC_BROKER_CONFIG",
            RD_KAFKA_CONFIG_SOURCE_DYNAMIC_DEFAULT_BROKER_CONFIG => "DYNAMIC_DEFAULT_BROKER_CONFIG",
            RD_KAFKA_CONFIG_SOURCE_STATIC_BROKER_CONFIG => "STATIC_BROKER_CONFIG",
            RD_KAFKA_CONFIG_SOURCE_DEFAULT_CONFIG => "DEFAULT_CONFIG",
            RD_KAFKA_CONFIG_SOURCE_GROUP_CONFIG => "DYNAMIC_GROUP_CONFIG",
            RD_KAFKA_CONFIG_SOURCE_UNKNOWN_CONFIG | RD_KAFKA_CONFIG_SOURCE__CNT => "UNKNOWN",
        }
    }

    /// One synonym of a config entry: a value the entry's value may come from.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ConfigSynonym {
        pub name: String,
        pub value: Option<String>,
        pub source: &'static str,
    }

    /// One config entry of a resource. `value` is `None` for sensitive entries.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ConfigEntry {
        pub name: String,
        pub value: Option<String>,
        pub source: &'static str,
        pub is_default: bool,
        pub is_read_only: bool,
        pub is_sensitive: bool,
        pub synonyms: Vec<ConfigSynonym>,
    }

    /// One change of an incremental alter.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum AlterOp {
        /// Set the entry to this value.
        Set(String),
        /// Remove the entry's own value, so that its default applies again.
        Delete,
    }

    owned_ptr!(
        /// A config resource of a request.
        NativeResource,
        rd::rd_kafka_ConfigResource_t,
        rd::rd_kafka_ConfigResource_destroy
    );

    fn new_resource(resource: &ConfigResource) -> Result<NativeResource, FfiError> {
        let (kind, name) = resource.native()?;
        let name = c_string(&name)?;
        // SAFETY: `name` is a valid C string, copied by librdkafka; the resource is ours.
        unsafe { NativeResource::from_raw(rd::rd_kafka_ConfigResource_new(kind, name.as_ptr())) }
            .ok_or_else(|| {
                FfiError::Invalid(format!("librdkafka refused the resource {resource:?}"))
            })
    }

    /// Copies one config entry (with its synonyms, when `synonyms`).
    ///
    /// # Safety
    /// `entry` points to a live config entry.
    unsafe fn entry(entry: *const rd::rd_kafka_ConfigEntry_t, synonyms: bool) -> ConfigEntry {
        // SAFETY: the caller guarantees a live entry; its strings and synonyms live as long as it.
        unsafe {
            let mut count = 0;
            let synonyms = if synonyms {
                let list = rd::rd_kafka_ConfigEntry_synonyms(entry, &mut count);
                slice(list, count)
                    .iter()
                    .map(|&s| ConfigSynonym {
                        name: owned(rd::rd_kafka_ConfigEntry_name(s)).unwrap_or_default(),
                        value: owned(rd::rd_kafka_ConfigEntry_value(s)),
                        source: source_name(rd::rd_kafka_ConfigEntry_source(s)),
                    })
                    .collect()
            } else {
                Vec::new()
            };
            ConfigEntry {
                name: owned(rd::rd_kafka_ConfigEntry_name(entry)).unwrap_or_default(),
                value: owned(rd::rd_kafka_ConfigEntry_value(entry)),
                source: source_name(rd::rd_kafka_ConfigEntry_source(entry)),
                is_default: rd::rd_kafka_ConfigEntry_is_default(entry) != 0,
                is_read_only: rd::rd_kafka_ConfigEntry_is_read_only(entry) != 0,
                is_sensitive: rd::rd_kafka_ConfigEntry_is_sensitive(entry) != 0,
                synonyms,
            }
        }
    }

    /// The error of one resource of a result.
    ///
    /// # Safety
    /// `resource` points to a live result resource.
    unsafe fn resource_error(
        resource: *const rd::rd_kafka_ConfigResource_t,
    ) -> Result<(), FfiError> {
        // SAFETY: the caller guarantees a live resource; its string lives as long as it does.
        let (code, message) = unsafe {
            (
                rd::rd_kafka_ConfigResource_error(resource),
                owned(rd::rd_kafka_ConfigResource_error_string(resource)),
            )
        };
        if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            Ok(())
        } else {
            Err(FfiError::kafka(code.into(), message))
        }
    }

    /// Describes the configs of one resource (blocking until Kafka answers or `deadline`), in
    /// Kafka's order. librdkafka sends a broker resource to that broker, so describing several
    /// brokers takes one call each.
    pub fn describe_configs(
        client: &NativeClient,
        resource: &ConfigResource,
        deadline: Instant,
    ) -> Result<Vec<ConfigEntry>, FfiError> {
        let native = new_resource(resource)?;
        let mut resources = [native.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS,
            deadline,
            CallOptions::default(),
            // SAFETY: the array holds one live resource, which librdkafka copies; `rk`, `options`
            // and `queue` are live for the call.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DescribeConfigs(rk, resources.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: `event` is live; everything read from it is copied before it is dropped.
        unsafe {
            let result = rd::rd_kafka_event_DescribeConfigs_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "DescribeConfigs answered with an event of another type".into(),
                ));
            }
            let mut count = 0;
            let list = rd::rd_kafka_DescribeConfigs_result_resources(result, &mut count);
            let Some(&described) = slice(list, count).first() else {
                return Ok(Vec::new());
            };
            resource_error(described)?;
            let mut count = 0;
            let entries = rd::rd_kafka_ConfigResource_configs(described, &mut count);
            Ok(slice(entries, count)
                .iter()
                .map(|&e| entry(e, true))
                .collect())
        }
    }

    /// Applies `changes` to one resource with IncrementalAlterConfigs (blocking until Kafka answers
    /// or `deadline`); with `validate_only` Kafka checks them without applying them.
    pub fn incremental_alter_configs(
        client: &NativeClient,
        resource: &ConfigResource,
        changes: &[(String, AlterOp)],
        validate_only: bool,
        deadline: Instant,
    ) -> Result<(), FfiError> {
        use rd::rd_kafka_AlterConfigOpType_t::*;
        let native = new_resource(resource)?;
        for (name, op) in changes {
            let name = c_string(name)?;
            let (kind, value) = match op {
                AlterOp::Set(value) => (RD_KAFKA_ALTER_CONFIG_OP_TYPE_SET, Some(c_string(value)?)),
                AlterOp::Delete => (RD_KAFKA_ALTER_CONFIG_OP_TYPE_DELETE, None),
            };
            let value_ptr = value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
            // SAFETY: `native` is live; name and value are valid C strings (or null for DELETE),
            // copied by librdkafka; the returned error object is freed by `check_error_object`.
            unsafe {
                check_error_object(rd::rd_kafka_ConfigResource_add_incremental_config(
                    native.ptr(),
                    name.as_ptr(),
                    kind,
                    value_ptr,
                ))?;
            }
        }
        let mut resources = [native.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_INCREMENTALALTERCONFIGS,
            deadline,
            CallOptions { validate_only },
            // SAFETY: the array holds one live resource, which librdkafka copies; `rk`, `options`
            // and `queue` are live for the call.
            |rk, options, queue| unsafe {
                rd::rd_kafka_IncrementalAlterConfigs(rk, resources.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: `event` is live; everything read from it is copied before it is dropped.
        unsafe {
            let result = rd::rd_kafka_event_IncrementalAlterConfigs_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "IncrementalAlterConfigs answered with an event of another type".into(),
                ));
            }
            let mut count = 0;
            let list = rd::rd_kafka_IncrementalAlterConfigs_result_resources(result, &mut count);
            for &altered in slice(list, count) {
                resource_error(altered)?;
            }
        }
        Ok(())
    }
}

pub mod groups {
    //! librdkafka's consumer group admin calls, which rust-rdkafka does not wrap: list the groups
    //! (`ListConsumerGroups`), describe them (`DescribeConsumerGroups`: state, type, coordinator,
    //! members and their assignments) and delete one (`DeleteGroups`).
    //!
    //! Also the helpers the group, offset and ACL calls share beyond `mod.rs`'s: reading an error
    //! object a result owns, and reading a topic partition list a result owns. What the results mean
    //! for a client is decided in `src/admin/groups.rs`; this module only translates.

    use std::ffi::c_char;
    use std::time::Instant;

    use rdkafka::bindings as rd;
    use rdkafka::error::RDKafkaErrorCode;

    use super::{c_string, call, owned, owned_ptr, slice, CallOptions, FfiError, NativeClient};
    use crate::admin::groups::{
        ConsumerGroup, Coordinator, GroupConsumer, GroupState, GroupType, TopicPartition,
    };

    /// The error an error object of a result holds (`None` for none, or for no error); the object
    /// belongs to the result and is not freed here.
    ///
    /// # Safety
    /// `error` is null or a live error object.
    pub(super) unsafe fn result_error(error: *const rd::rd_kafka_error_t) -> Option<FfiError> {
        if error.is_null() {
            return None;
        }
        // SAFETY: non-null and live, as the caller promises; the string is copied at once.
        let (code, message) = unsafe {
            (
                rd::rd_kafka_error_code(error),
                owned(rd::rd_kafka_error_string(error)),
            )
        };
        if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            return None;
        }
        Some(FfiError::kafka(code.into(), message))
    }

    /// The partitions of a topic partition list a result owns, with their offsets and error codes.
    ///
    /// # Safety
    /// `list` is null or a live list.
    pub(super) unsafe fn read_partitions(
        list: *const rd::rd_kafka_topic_partition_list_t,
    ) -> Vec<(TopicPartition, i64, rd::rd_kafka_resp_err_t)> {
        // SAFETY: a live list (the caller's promise) holds `cnt` initialized elements at `elems`.
        let Some(list) = (unsafe { list.as_ref() }) else {
            return Vec::new();
        };
        // SAFETY: as above.
        let elems = unsafe { slice(list.elems, usize::try_from(list.cnt).unwrap_or(0)) };
        elems
            .iter()
            .map(|elem| {
                let partition = TopicPartition {
                    // SAFETY: every element of a live list has a NUL-terminated topic name.
                    topic: unsafe { owned(elem.topic) }.unwrap_or_default(),
                    partition: elem.partition,
                };
                (partition, elem.offset, elem.err)
            })
            .collect()
    }

    /// The ids of every consumer group Kafka lists; groups that some broker failed to list are
    /// left out, as Java's `listConsumerGroups().valid()` does.
    pub fn list_group_ids(
        client: &NativeClient,
        deadline: Instant,
    ) -> Result<Vec<String>, FfiError> {
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPS,
            deadline,
            CallOptions::default(),
            // SAFETY: `call` hands over a live client, options and queue.
            |rk, options, queue| unsafe { rd::rd_kafka_ListConsumerGroups(rk, options, queue) },
        )?;
        // SAFETY: the event is live; the result and the listings it holds live as long as it, and
        // everything read is copied before `event` drops.
        unsafe {
            let result = rd::rd_kafka_event_ListConsumerGroups_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid("not a ListConsumerGroups result".into()));
            }
            let mut count = 0usize;
            let listings = rd::rd_kafka_ListConsumerGroups_result_valid(result, &mut count);
            Ok(slice(listings, count)
                .iter()
                .filter_map(|&listing| owned(rd::rd_kafka_ConsumerGroupListing_group_id(listing)))
                .collect())
        }
    }

    /// One group's outcome in a describe: the group, `None` when Kafka does not know it, or its
    /// own error.
    pub type Described = Result<Option<ConsumerGroup>, FfiError>;

    /// Describes the groups `ids`, one outcome per group in Kafka's order. A group Kafka does not
    /// know is `Ok(None)`: an explicit GROUP_ID_NOT_FOUND, or the dead, simple placeholder the
    /// classic protocol describes for it.
    pub fn describe_groups(
        client: &NativeClient,
        ids: &[String],
        deadline: Instant,
    ) -> Result<Vec<(String, Described)>, FfiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let c_ids = ids
            .iter()
            .map(|id| c_string(id))
            .collect::<Result<Vec<_>, _>>()?;
        let mut ptrs: Vec<*const c_char> = c_ids.iter().map(|id| id.as_ptr()).collect();
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DESCRIBECONSUMERGROUPS,
            deadline,
            CallOptions::default(),
            // SAFETY: `ptrs` holds `ptrs.len()` valid C strings (kept alive by `c_ids`), which
            // librdkafka copies before returning; client, options and queue are live.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DescribeConsumerGroups(
                    rk,
                    ptrs.as_mut_ptr(),
                    ptrs.len(),
                    options,
                    queue,
                )
            },
        )?;
        // SAFETY: the event is live; every description read below belongs to it and is copied
        // before `event` drops.
        unsafe {
            let result = rd::rd_kafka_event_DescribeConsumerGroups_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "not a DescribeConsumerGroups result".into(),
                ));
            }
            let mut count = 0usize;
            let descriptions =
                rd::rd_kafka_DescribeConsumerGroups_result_groups(result, &mut count);
            Ok(slice(descriptions, count)
                .iter()
                .map(|&description| {
                    let id = owned(rd::rd_kafka_ConsumerGroupDescription_group_id(description))
                        .unwrap_or_default();
                    (id, describe_one(description))
                })
                .collect())
        }
    }

    /// One group description, copied.
    ///
    /// # Safety
    /// `description` is a live description.
    unsafe fn describe_one(
        description: *const rd::rd_kafka_ConsumerGroupDescription_t,
    ) -> Described {
        // SAFETY: `description` is live (the caller's promise), and so is everything it holds:
        // its error, coordinator node, members, their assignments and strings.
        unsafe {
            if let Some(error) =
                result_error(rd::rd_kafka_ConsumerGroupDescription_error(description))
            {
                return match error {
                    FfiError::Kafka {
                        code: RDKafkaErrorCode::GroupIdNotFound,
                        ..
                    } => Ok(None),
                    error => Err(error),
                };
            }
            let is_simple =
                rd::rd_kafka_ConsumerGroupDescription_is_simple_consumer_group(description) != 0;
            let state = group_state(rd::rd_kafka_ConsumerGroupDescription_state(description));
            if is_simple && state == GroupState::Dead {
                return Ok(None);
            }
            let node = rd::rd_kafka_ConsumerGroupDescription_coordinator(description);
            let coordinator = (!node.is_null()).then(|| Coordinator {
                broker_id: rd::rd_kafka_Node_id(node),
                host: owned(rd::rd_kafka_Node_host(node)).unwrap_or_default(),
                port: rd::rd_kafka_Node_port(node),
            });
            let members = rd::rd_kafka_ConsumerGroupDescription_member_count(description);
            let consumers = (0..members)
                .map(|index| rd::rd_kafka_ConsumerGroupDescription_member(description, index))
                .filter(|member| !member.is_null())
                .map(|member| {
                    let assignment = rd::rd_kafka_MemberDescription_assignment(member);
                    let assignments = if assignment.is_null() {
                        Vec::new()
                    } else {
                        read_partitions(rd::rd_kafka_MemberAssignment_partitions(assignment))
                            .into_iter()
                            .map(|(tp, _, _)| tp)
                            .collect()
                    };
                    GroupConsumer {
                        consumer_id: owned(rd::rd_kafka_MemberDescription_consumer_id(member))
                            .unwrap_or_default(),
                        instance_id: owned(rd::rd_kafka_MemberDescription_group_instance_id(
                            member,
                        )),
                        client_id: owned(rd::rd_kafka_MemberDescription_client_id(member))
                            .unwrap_or_default(),
                        host: owned(rd::rd_kafka_MemberDescription_host(member))
                            .unwrap_or_default(),
                        assignments,
                    }
                })
                .collect();
            Ok(Some(ConsumerGroup {
                group_id: owned(rd::rd_kafka_ConsumerGroupDescription_group_id(description))
                    .unwrap_or_default(),
                is_simple,
                partition_assignor: owned(
                    rd::rd_kafka_ConsumerGroupDescription_partition_assignor(description),
                )
                .unwrap_or_default(),
                state,
                group_type: group_type(rd::rd_kafka_ConsumerGroupDescription_type(description)),
                coordinator,
                consumers,
            }))
        }
    }

    fn group_state(state: rd::rd_kafka_consumer_group_state_t) -> GroupState {
        use rd::rd_kafka_consumer_group_state_t::*;
        match state {
            RD_KAFKA_CONSUMER_GROUP_STATE_PREPARING_REBALANCE => GroupState::PreparingRebalance,
            RD_KAFKA_CONSUMER_GROUP_STATE_COMPLETING_REBALANCE => GroupState::CompletingRebalance,
            RD_KAFKA_CONSUMER_GROUP_STATE_STABLE => GroupState::Stable,
            RD_KAFKA_CONSUMER_GROUP_STATE_DEAD => GroupState::Dead,
            RD_KAFKA_CONSUMER_GROUP_STATE_EMPTY => GroupState::Empty,
            _ => GroupState::Unknown,
        }
    }

    fn group_type(kind: rd::rd_kafka_consumer_group_type_t) -> GroupType {
        use rd::rd_kafka_consumer_group_type_t::*;
        match kind {
            RD_KAFKA_CONSUMER_GROUP_TYPE_CONSUMER => GroupType::Consumer,
            RD_KAFKA_CONSUMER_GROUP_TYPE_CLASSIC => GroupType::Classic,
            _ => GroupType::Unknown,
        }
    }

    owned_ptr!(
        /// One group of a DeleteGroups request.
        DeleteGroup,
        rd::rd_kafka_DeleteGroup_t,
        rd::rd_kafka_DeleteGroup_destroy
    );

    /// Deletes the consumer group `id`; Kafka refuses a group with members (NON_EMPTY_GROUP) and
    /// one it does not know (GROUP_ID_NOT_FOUND).
    pub fn delete_group(
        client: &NativeClient,
        id: &str,
        deadline: Instant,
    ) -> Result<(), FfiError> {
        let c_id = c_string(id)?;
        // SAFETY: `c_id` is a valid C string librdkafka copies into the new object we own.
        let request = unsafe { DeleteGroup::from_raw(rd::rd_kafka_DeleteGroup_new(c_id.as_ptr())) }
            .ok_or_else(|| FfiError::Invalid("librdkafka could not build DeleteGroups".into()))?;
        let mut requests = [request.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETEGROUPS,
            deadline,
            CallOptions::default(),
            // SAFETY: a one-element array of a live request (owned by `request`), which
            // librdkafka copies before returning; client, options and queue are live.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DeleteGroups(rk, requests.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: the event is live and owns the group results read here.
        unsafe {
            let result = rd::rd_kafka_event_DeleteGroups_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid("not a DeleteGroups result".into()));
            }
            let mut count = 0usize;
            let groups = rd::rd_kafka_DeleteGroups_result_groups(result, &mut count);
            for &group in slice(groups, count) {
                if let Some(error) = result_error(rd::rd_kafka_group_result_error(group)) {
                    return Err(error);
                }
            }
        }
        Ok(())
    }
}

pub mod offsets {
    //! librdkafka's offset admin calls that rust-rdkafka does not wrap: the committed offsets of a
    //! consumer group (`ListConsumerGroupOffsets`), changing them (`AlterConsumerGroupOffsets`),
    //! and the earliest, latest or by-timestamp offsets of partitions with an isolation level
    //! (`ListOffsets`).
    //!
    //! Every call blocks until Kafka answers or its deadline passes; what the offsets mean is
    //! `src/admin/`'s.

    use std::time::Instant;

    use rdkafka::bindings as rd;

    use super::groups::{read_partitions, result_error};
    use super::{c_string, call, owned, owned_ptr, slice, CallOptions, FfiError, NativeClient};
    use crate::admin::groups::TopicPartition;

    /// Which offset of a partition `ListOffsets` asks for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub enum OffsetSpec {
        Earliest,
        Latest,
        /// The first offset whose timestamp is at or after this many milliseconds since the epoch.
        Timestamp(i64),
    }

    impl OffsetSpec {
        fn raw(self) -> i64 {
            match self {
                OffsetSpec::Earliest => {
                    rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_EARLIEST as i64
                }
                OffsetSpec::Latest => rd::rd_kafka_OffsetSpec_t::RD_KAFKA_OFFSET_SPEC_LATEST as i64,
                OffsetSpec::Timestamp(ms) => ms,
            }
        }
    }

    owned_ptr!(
        /// A topic partition list built for a request.
        PartitionList,
        rd::rd_kafka_topic_partition_list_t,
        rd::rd_kafka_topic_partition_list_destroy
    );

    impl PartitionList {
        /// A list of `(partition, offset)`; librdkafka copies the topic names.
        fn build(entries: &[(TopicPartition, i64)]) -> Result<PartitionList, FfiError> {
            let size = std::ffi::c_int::try_from(entries.len()).unwrap_or(std::ffi::c_int::MAX);
            // SAFETY: creates an empty list that the wrapper owns.
            let list =
                unsafe { PartitionList::from_raw(rd::rd_kafka_topic_partition_list_new(size)) }
                    .ok_or_else(|| {
                        FfiError::Invalid("librdkafka could not create a list".into())
                    })?;
            for (tp, offset) in entries {
                let topic = c_string(&tp.topic)?;
                // SAFETY: the list is live; `topic` is a valid C string that librdkafka copies;
                // the element returned belongs to the list and is written before the next add.
                unsafe {
                    let elem = rd::rd_kafka_topic_partition_list_add(
                        list.ptr(),
                        topic.as_ptr(),
                        tp.partition,
                    );
                    if let Some(elem) = elem.as_mut() {
                        elem.offset = *offset;
                    }
                }
            }
            Ok(list)
        }

        fn raw(&self) -> *mut rd::rd_kafka_topic_partition_list_t {
            self.ptr()
        }
    }

    owned_ptr!(
        /// One group of a ListConsumerGroupOffsets request.
        ListRequest,
        rd::rd_kafka_ListConsumerGroupOffsets_t,
        rd::rd_kafka_ListConsumerGroupOffsets_destroy
    );

    owned_ptr!(
        /// One group of an AlterConsumerGroupOffsets request.
        AlterRequest,
        rd::rd_kafka_AlterConsumerGroupOffsets_t,
        rd::rd_kafka_AlterConsumerGroupOffsets_destroy
    );

    /// The committed offsets of group `group`, every partition it has one for. A partition
    /// without a committed offset is left out.
    pub fn list_group_offsets(
        client: &NativeClient,
        group: &str,
        deadline: Instant,
    ) -> Result<Vec<(TopicPartition, i64)>, FfiError> {
        let c_group = c_string(group)?;
        // SAFETY: `c_group` is a valid C string copied into the new request object, which the
        // wrapper owns; a null partition list means all partitions.
        let request = unsafe {
            ListRequest::from_raw(rd::rd_kafka_ListConsumerGroupOffsets_new(
                c_group.as_ptr(),
                std::ptr::null(),
            ))
        }
        .ok_or_else(|| {
            FfiError::Invalid("librdkafka could not build ListConsumerGroupOffsets".into())
        })?;
        let mut requests = [request.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTCONSUMERGROUPOFFSETS,
            deadline,
            CallOptions::default(),
            // SAFETY: a one-element array of a live request, copied by librdkafka before it
            // returns; client, options and queue are live.
            |rk, options, queue| unsafe {
                rd::rd_kafka_ListConsumerGroupOffsets(rk, requests.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: the event is live and owns the group results and partition lists read here.
        unsafe {
            let result = rd::rd_kafka_event_ListConsumerGroupOffsets_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "not a ListConsumerGroupOffsets result".into(),
                ));
            }
            let mut count = 0usize;
            let groups = rd::rd_kafka_ListConsumerGroupOffsets_result_groups(result, &mut count);
            let mut offsets = Vec::new();
            for &group in slice(groups, count) {
                if let Some(error) = result_error(rd::rd_kafka_group_result_error(group)) {
                    return Err(error);
                }
                for (tp, offset, err) in
                    read_partitions(rd::rd_kafka_group_result_partitions(group))
                {
                    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && offset >= 0 {
                        offsets.push((tp, offset));
                    }
                }
            }
            Ok(offsets)
        }
    }

    /// Sets the committed offsets of group `group`; Kafka refuses this while the group has
    /// members. The first partition error is the error of the whole call.
    pub fn alter_group_offsets(
        client: &NativeClient,
        group: &str,
        offsets: &[(TopicPartition, i64)],
        deadline: Instant,
    ) -> Result<(), FfiError> {
        let c_group = c_string(group)?;
        let list = PartitionList::build(offsets)?;
        // SAFETY: the group name and the list are live; librdkafka copies both into the request,
        // which the wrapper owns.
        let request = unsafe {
            AlterRequest::from_raw(rd::rd_kafka_AlterConsumerGroupOffsets_new(
                c_group.as_ptr(),
                list.raw(),
            ))
        }
        .ok_or_else(|| {
            FfiError::Invalid("librdkafka could not build AlterConsumerGroupOffsets".into())
        })?;
        let mut requests = [request.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_ALTERCONSUMERGROUPOFFSETS,
            deadline,
            CallOptions::default(),
            // SAFETY: a one-element array of a live request, copied by librdkafka.
            |rk, options, queue| unsafe {
                rd::rd_kafka_AlterConsumerGroupOffsets(rk, requests.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: the event is live and owns the results read here.
        unsafe {
            let result = rd::rd_kafka_event_AlterConsumerGroupOffsets_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "not an AlterConsumerGroupOffsets result".into(),
                ));
            }
            let mut count = 0usize;
            let groups = rd::rd_kafka_AlterConsumerGroupOffsets_result_groups(result, &mut count);
            for &group in slice(groups, count) {
                if let Some(error) = result_error(rd::rd_kafka_group_result_error(group)) {
                    return Err(error);
                }
                for (_, _, err) in read_partitions(rd::rd_kafka_group_result_partitions(group)) {
                    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                        return Err(FfiError::kafka(err.into(), None));
                    }
                }
            }
        }
        Ok(())
    }

    /// The offsets `spec` names for each partition, read with READ_COMMITTED isolation when
    /// `read_committed` (the last stable offset instead of the high watermark). A timestamp after
    /// the last record answers -1, as Kafka does.
    pub fn list_offsets(
        client: &NativeClient,
        partitions: &[TopicPartition],
        spec: OffsetSpec,
        read_committed: bool,
        deadline: Instant,
    ) -> Result<Vec<(TopicPartition, i64)>, FfiError> {
        if partitions.is_empty() {
            return Ok(Vec::new());
        }
        let entries: Vec<(TopicPartition, i64)> = partitions
            .iter()
            .map(|tp| (tp.clone(), spec.raw()))
            .collect();
        let list = PartitionList::build(&entries)?;
        let isolation = if read_committed {
            rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_COMMITTED
        } else {
            rd::rd_kafka_IsolationLevel_t::RD_KAFKA_ISOLATION_LEVEL_READ_UNCOMMITTED
        };
        let mut refused = None;
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_LISTOFFSETS,
            deadline,
            CallOptions::default(),
            |rk, options, queue| {
                // SAFETY: `call` created the options as a mutable object it owns and keeps alive
                // during this closure; setting the isolation level before the request is sent is
                // what librdkafka expects. The error object returned (if any) is ours to free.
                let error = unsafe {
                    rd::rd_kafka_AdminOptions_set_isolation_level(options.cast_mut(), isolation)
                };
                // SAFETY: as above, `error` is null or ours.
                match unsafe { super::check_error_object(error) } {
                    // SAFETY: client, list, options and queue are live; librdkafka copies the list.
                    Ok(()) => unsafe { rd::rd_kafka_ListOffsets(rk, list.raw(), options, queue) },
                    // Options made for ListOffsets always take an isolation level; if they did
                    // not, nothing is sent and the error is answered when the wait ends.
                    Err(e) => refused = Some(e),
                }
            },
        );
        if let Some(e) = refused {
            return Err(e);
        }
        let event = event?;
        // SAFETY: the event is live and owns the result infos and partitions read here.
        unsafe {
            let result = rd::rd_kafka_event_ListOffsets_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid("not a ListOffsets result".into()));
            }
            let mut count = 0usize;
            let infos = rd::rd_kafka_ListOffsets_result_infos(result, &mut count);
            let mut offsets = Vec::with_capacity(count);
            for &info in slice(infos, count) {
                let Some(tp) = rd::rd_kafka_ListOffsetsResultInfo_topic_partition(info).as_ref()
                else {
                    continue;
                };
                if tp.err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    return Err(FfiError::kafka(tp.err.into(), None));
                }
                let topic = TopicPartition {
                    topic: owned(tp.topic).unwrap_or_default(),
                    partition: tp.partition,
                };
                offsets.push((topic, tp.offset));
            }
            Ok(offsets)
        }
    }
}

pub mod topics {
    //! CreateTopics, DeleteTopics and CreatePartitions for one topic each, answering the broker's
    //! own error message (rust-rdkafka keeps only the code), which the v3 API returns to clients.

    use std::collections::BTreeMap;
    use std::ffi::c_char;
    use std::time::Instant;

    use rdkafka::bindings as rd;

    use super::{
        c_string, call, owned, owned_ptr, slice, topic_result, CallOptions, FfiError, NativeClient,
    };

    /// A topic to create. Without `assignments`, `None` counts take the brokers' defaults
    /// (`num.partitions`, `default.replication.factor`); with them, they define both.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct NewTopic {
        pub name: String,
        pub partitions: Option<i32>,
        pub replication_factor: Option<i16>,
        /// Partition -> broker ids, in partition order.
        pub assignments: BTreeMap<i32, Vec<i32>>,
        /// Topic configs; a `None` value is left to the default.
        pub configs: Vec<(String, Option<String>)>,
    }

    owned_ptr!(
        NativeNewTopic,
        rd::rd_kafka_NewTopic_t,
        rd::rd_kafka_NewTopic_destroy
    );
    owned_ptr!(
        NativeDeleteTopic,
        rd::rd_kafka_DeleteTopic_t,
        rd::rd_kafka_DeleteTopic_destroy
    );
    owned_ptr!(
        NativeNewPartitions,
        rd::rd_kafka_NewPartitions_t,
        rd::rd_kafka_NewPartitions_destroy
    );

    /// The message librdkafka wrote into `errstr`.
    fn errstr_message(errstr: &[c_char]) -> String {
        // SAFETY: librdkafka NUL-terminates what it writes into the (zeroed) buffer.
        unsafe { owned(errstr.as_ptr()) }.unwrap_or_default()
    }

    /// The outcome of the one topic of a topic call's result.
    ///
    /// # Safety
    /// `results` and `count` are what a topic call's result returned, valid while its event lives.
    unsafe fn single_outcome(
        results: *mut *const rd::rd_kafka_topic_result_t,
        count: usize,
    ) -> Result<(), FfiError> {
        // SAFETY: the caller guarantees `count` live results at `results`.
        match unsafe { slice(results, count) }.first() {
            // SAFETY: a live result of the array.
            Some(&result) => unsafe { topic_result(result) }.1,
            None => Ok(()),
        }
    }

    /// Creates one topic (blocking until Kafka answers or `deadline`); with `validate_only` Kafka
    /// checks it without creating it.
    pub fn create_topic(
        client: &NativeClient,
        topic: &NewTopic,
        validate_only: bool,
        deadline: Instant,
    ) -> Result<(), FfiError> {
        let name = c_string(&topic.name)?;
        let mut errstr = [0 as c_char; 512];
        let (partitions, replication) = if topic.assignments.is_empty() {
            (
                topic.partitions.unwrap_or(-1),
                topic.replication_factor.map_or(-1, i32::from),
            )
        } else {
            let count = i32::try_from(topic.assignments.len()).unwrap_or(i32::MAX);
            (count, -1)
        };
        // SAFETY: `name` is a valid C string (copied); `errstr` is a writable buffer of its size.
        let native = unsafe {
            NativeNewTopic::from_raw(rd::rd_kafka_NewTopic_new(
                name.as_ptr(),
                partitions,
                replication,
                errstr.as_mut_ptr(),
                errstr.len(),
            ))
        }
        .ok_or_else(|| FfiError::Invalid(errstr_message(&errstr)))?;
        for (partition, brokers) in &topic.assignments {
            let mut brokers = brokers.clone();
            // SAFETY: `native` is live; `brokers` holds `len` ids (copied by librdkafka).
            let err = unsafe {
                rd::rd_kafka_NewTopic_set_replica_assignment(
                    native.ptr(),
                    *partition,
                    brokers.as_mut_ptr(),
                    brokers.len(),
                    errstr.as_mut_ptr(),
                    errstr.len(),
                )
            };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(FfiError::Invalid(errstr_message(&errstr)));
            }
        }
        for (key, value) in &topic.configs {
            let key = c_string(key)?;
            let value = value.as_deref().map(c_string).transpose()?;
            let value_ptr = value.as_ref().map_or(std::ptr::null(), |v| v.as_ptr());
            // SAFETY: `native` is live; key and value are valid C strings (or null), copied.
            let err =
                unsafe { rd::rd_kafka_NewTopic_set_config(native.ptr(), key.as_ptr(), value_ptr) };
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                return Err(FfiError::kafka(err.into(), None));
            }
        }
        let mut topics = [native.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATETOPICS,
            deadline,
            CallOptions { validate_only },
            // SAFETY: the array holds one live new topic, which librdkafka copies; `rk`, `options`
            // and `queue` are live for the call.
            |rk, options, queue| unsafe {
                rd::rd_kafka_CreateTopics(rk, topics.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: `event` is live while its results are read.
        unsafe {
            let result = rd::rd_kafka_event_CreateTopics_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "CreateTopics answered with an event of another type".into(),
                ));
            }
            let mut count = 0;
            let results = rd::rd_kafka_CreateTopics_result_topics(result, &mut count);
            single_outcome(results, count)
        }
    }

    /// Deletes one topic (blocking until Kafka answers or `deadline`).
    pub fn delete_topic(
        client: &NativeClient,
        topic: &str,
        deadline: Instant,
    ) -> Result<(), FfiError> {
        let name = c_string(topic)?;
        // SAFETY: `name` is a valid C string, copied by librdkafka.
        let native =
            unsafe { NativeDeleteTopic::from_raw(rd::rd_kafka_DeleteTopic_new(name.as_ptr())) }
                .ok_or_else(|| {
                    FfiError::Invalid(format!("librdkafka refused to delete {topic:?}"))
                })?;
        let mut topics = [native.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETETOPICS,
            deadline,
            CallOptions::default(),
            // SAFETY: the array holds one live delete-topic object, which librdkafka copies; `rk`,
            // `options` and `queue` are live for the call.
            |rk, options, queue| unsafe {
                rd::rd_kafka_DeleteTopics(rk, topics.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: `event` is live while its results are read.
        unsafe {
            let result = rd::rd_kafka_event_DeleteTopics_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "DeleteTopics answered with an event of another type".into(),
                ));
            }
            let mut count = 0;
            let results = rd::rd_kafka_DeleteTopics_result_topics(result, &mut count);
            single_outcome(results, count)
        }
    }

    /// Grows `topic` to `total` partitions (blocking until Kafka answers or `deadline`).
    pub fn create_partitions(
        client: &NativeClient,
        topic: &str,
        total: usize,
        deadline: Instant,
    ) -> Result<(), FfiError> {
        let name = c_string(topic)?;
        let mut errstr = [0 as c_char; 512];
        // SAFETY: `name` is a valid C string (copied); `errstr` is a writable buffer of its size.
        let native = unsafe {
            NativeNewPartitions::from_raw(rd::rd_kafka_NewPartitions_new(
                name.as_ptr(),
                total,
                errstr.as_mut_ptr(),
                errstr.len(),
            ))
        }
        .ok_or_else(|| FfiError::Invalid(errstr_message(&errstr)))?;
        let mut parts = [native.ptr()];
        let event = call(
            client,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEPARTITIONS,
            deadline,
            CallOptions::default(),
            // SAFETY: the array holds one live new-partitions object, which librdkafka copies;
            // `rk`, `options` and `queue` are live for the call.
            |rk, options, queue| unsafe {
                rd::rd_kafka_CreatePartitions(rk, parts.as_mut_ptr(), 1, options, queue)
            },
        )?;
        // SAFETY: `event` is live while its results are read.
        unsafe {
            let result = rd::rd_kafka_event_CreatePartitions_result(event.ptr());
            if result.is_null() {
                return Err(FfiError::Invalid(
                    "CreatePartitions answered with an event of another type".into(),
                ));
            }
            let mut count = 0;
            let results = rd::rd_kafka_CreatePartitions_result_topics(result, &mut count);
            single_outcome(results, count)
        }
    }
}

use std::ffi::{c_char, c_int, CStr, CString};
use std::time::{Duration, Instant};

use rdkafka::bindings as rd;
use rdkafka::client::{Client, DefaultClientContext};
use rdkafka::error::RDKafkaErrorCode;

/// The librdkafka client an admin call goes through (the admin client's inner client).
pub type NativeClient = Client<DefaultClientContext>;

/// Why a librdkafka admin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FfiError {
    /// Kafka (or librdkafka on its behalf) answered with an error code; `message` is the
    /// broker's own text when it sent one, else librdkafka's description of the code.
    #[error("{message}")]
    Kafka {
        code: RDKafkaErrorCode,
        message: String,
    },
    /// No result arrived by the call's deadline.
    #[error("no answer from Kafka within {0:?}")]
    TimedOut(Duration),
    /// librdkafka refused to build the request (an argument it rejects, such as a name with a
    /// NUL byte or a replica assignment of the wrong shape).
    #[error("{0}")]
    Invalid(String),
}

impl FfiError {
    fn kafka(code: RDKafkaErrorCode, message: Option<String>) -> FfiError {
        FfiError::Kafka {
            code,
            message: message
                .filter(|m| !m.is_empty())
                .unwrap_or_else(|| code.to_string()),
        }
    }
}

/// A C string for librdkafka, or [`FfiError::Invalid`] when `s` holds a NUL byte.
fn c_string(s: &str) -> Result<CString, FfiError> {
    CString::new(s).map_err(|_| FfiError::Invalid(format!("{s:?} contains a NUL byte")))
}

/// Copies a string librdkafka owns; `None` for a null pointer.
///
/// # Safety
/// `ptr` is null or points to a NUL-terminated string that stays valid during this call.
unsafe fn owned(ptr: *const c_char) -> Option<String> {
    if ptr.is_null() {
        None
    } else {
        // SAFETY: non-null, and the caller guarantees a valid NUL-terminated string.
        Some(
            unsafe { CStr::from_ptr(ptr) }
                .to_string_lossy()
                .into_owned(),
        )
    }
}

/// The elements of an array librdkafka returns as a pointer and a count.
///
/// # Safety
/// `ptr` is null (then `count` is ignored) or points to `count` readable elements that stay
/// valid for `'a`.
unsafe fn slice<'a, T>(ptr: *mut T, count: usize) -> &'a [T] {
    if ptr.is_null() || count == 0 {
        &[]
    } else {
        // SAFETY: the caller guarantees `count` valid elements at `ptr`.
        unsafe { std::slice::from_raw_parts(ptr, count) }
    }
}

/// Milliseconds left until `deadline` for a librdkafka timeout: at least 1 (0 means "do not
/// wait" to some calls), at most `c_int::MAX`.
fn millis_left(deadline: Instant) -> c_int {
    let left = deadline
        .saturating_duration_since(Instant::now())
        .as_millis();
    c_int::try_from(left).unwrap_or(c_int::MAX).max(1)
}

/// A librdkafka object with its destructor: freed when dropped.
macro_rules! owned_ptr {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $destroy:path) => {
        $(#[$doc])*
        struct $name(std::ptr::NonNull<$ty>);

        impl $name {
            /// Takes ownership of `ptr`; `None` when it is null.
            ///
            /// # Safety
            /// `ptr` is null or an object the caller owns and that nothing else frees.
            unsafe fn from_raw(ptr: *mut $ty) -> Option<Self> {
                std::ptr::NonNull::new(ptr).map($name)
            }

            fn ptr(&self) -> *mut $ty {
                self.0.as_ptr()
            }
        }

        impl Drop for $name {
            fn drop(&mut self) {
                // SAFETY: the pointer is owned by this wrapper (see `from_raw`) and freed once.
                unsafe { $destroy(self.0.as_ptr()) }
            }
        }
    };
}
pub(crate) use owned_ptr;

owned_ptr!(
    /// A queue of its own per call, so that the call's result event comes to nobody else.
    Queue,
    rd::rd_kafka_queue_t,
    rd::rd_kafka_queue_destroy
);
owned_ptr!(
    /// A call's result event.
    Event,
    rd::rd_kafka_event_t,
    rd::rd_kafka_event_destroy
);
owned_ptr!(
    /// A call's options (timeouts, validate-only).
    Options,
    rd::rd_kafka_AdminOptions_t,
    rd::rd_kafka_AdminOptions_destroy
);
owned_ptr!(
    /// An error object some setters return.
    ErrorObject,
    rd::rd_kafka_error_t,
    rd::rd_kafka_error_destroy
);

/// Turns an error object a setter returned (null for success) into a result, freeing it.
///
/// # Safety
/// `error` is null or an error object the caller owns.
unsafe fn check_error_object(error: *mut rd::rd_kafka_error_t) -> Result<(), FfiError> {
    // SAFETY: the caller hands over ownership of `error`.
    let Some(error) = (unsafe { ErrorObject::from_raw(error) }) else {
        return Ok(());
    };
    // SAFETY: `error` is a live error object; its string lives as long as it does.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_error_code(error.ptr()),
            owned(rd::rd_kafka_error_string(error.ptr())),
        )
    };
    Err(FfiError::kafka(code.into(), message))
}

/// What a call asks of its options besides the deadline.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallOptions {
    /// Ask Kafka to check the request without applying it.
    pub validate_only: bool,
}

/// Runs one admin request and waits (blocking this thread) for its result event, at most until
/// `deadline`. `start` is handed the client, the options and the queue, and must enqueue exactly
/// one request on that queue. The event is checked for a request-level error; per-resource
/// errors are for the caller to read.
fn call(
    client: &NativeClient,
    op: rd::rd_kafka_admin_op_t,
    deadline: Instant,
    extra: CallOptions,
    start: impl FnOnce(
        *mut rd::rd_kafka_t,
        *const rd::rd_kafka_AdminOptions_t,
        *mut rd::rd_kafka_queue_t,
    ),
) -> Result<Event, FfiError> {
    let rk = client.native_ptr();
    // SAFETY: `rk` is the live handle of `client`, which outlives this call.
    let queue = unsafe { Queue::from_raw(rd::rd_kafka_queue_new(rk)) }
        .ok_or_else(|| FfiError::Invalid("librdkafka could not create a queue".into()))?;
    // SAFETY: as above; the options are owned by the wrapper.
    let options = unsafe { Options::from_raw(rd::rd_kafka_AdminOptions_new(rk, op)) }
        .ok_or_else(|| FfiError::Invalid(format!("librdkafka has no admin operation {op:?}")))?;
    let mut errstr = [0 as c_char; 512];
    let timeout = millis_left(deadline);
    // SAFETY: `options` is live; `errstr` is a writable buffer of the given size.
    let mut err = unsafe {
        rd::rd_kafka_AdminOptions_set_request_timeout(
            options.ptr(),
            timeout,
            errstr.as_mut_ptr(),
            errstr.len(),
        )
    };
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR
        && matches!(
            op,
            rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATETOPICS
                | rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_DELETETOPICS
                | rd::rd_kafka_admin_op_t::RD_KAFKA_ADMIN_OP_CREATEPARTITIONS
        )
    {
        // The broker waits for the change to be applied (up to the same deadline) before it
        // answers, so a topic created or grown is there when the client gets its answer.
        // SAFETY: as above.
        err = unsafe {
            rd::rd_kafka_AdminOptions_set_operation_timeout(
                options.ptr(),
                timeout,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
    }
    if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && extra.validate_only {
        // SAFETY: as above.
        err = unsafe {
            rd::rd_kafka_AdminOptions_set_validate_only(
                options.ptr(),
                1,
                errstr.as_mut_ptr(),
                errstr.len(),
            )
        };
    }
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        // SAFETY: librdkafka wrote a NUL-terminated message into `errstr`.
        let message = unsafe { owned(errstr.as_ptr()) }.unwrap_or_default();
        return Err(FfiError::Invalid(message));
    }
    start(rk, options.ptr(), queue.ptr());
    // librdkafka answers a request that timed out with an error event of its own by the
    // request timeout; the extra second only covers scheduling.
    let wait = deadline + Duration::from_secs(1);
    // SAFETY: `queue` is live; the event returned (if any) is ours to destroy.
    let event = unsafe { Event::from_raw(rd::rd_kafka_queue_poll(queue.ptr(), millis_left(wait))) }
        .ok_or(FfiError::TimedOut(
            deadline.saturating_duration_since(Instant::now()),
        ))?;
    // SAFETY: `event` is live; its error string lives as long as it does.
    let (code, message) = unsafe {
        (
            rd::rd_kafka_event_error(event.ptr()),
            owned(rd::rd_kafka_event_error_string(event.ptr())),
        )
    };
    if code != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        return Err(FfiError::kafka(code.into(), message));
    }
    Ok(event)
}

/// The name, error code and error message of one topic result of a topic admin call.
///
/// # Safety
/// `result` points to a live topic result.
unsafe fn topic_result(
    result: *const rd::rd_kafka_topic_result_t,
) -> (String, Result<(), FfiError>) {
    // SAFETY: the caller guarantees a live result; its strings live as long as it does.
    let (name, code, message) = unsafe {
        (
            owned(rd::rd_kafka_topic_result_name(result)).unwrap_or_default(),
            rd::rd_kafka_topic_result_error(result),
            owned(rd::rd_kafka_topic_result_error_string(result)),
        )
    };
    let outcome = if code == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(FfiError::kafka(code.into(), message))
    };
    (name, outcome)
}

pub mod memory {
    //! Gives the memory the start-up freed back to the operating system: the one call into the
    //! C library that is not librdkafka's, kept here with the crate's other `unsafe` code.
    //!
    //! glibc's allocator keeps freed memory in its heaps for the next allocation and returns it
    //! to the system only from the top of a heap. The start-up builds large values that it then
    //! drops (the served OpenAPI documents are parsed and rendered, Swagger UI's pages
    //! assembled, the Kafka clients configured); their pages stayed resident for the life of the
    //! process, about 5 MiB of an idle proxy's RSS. `malloc_trim(0)` once, when the start-up is
    //! done, releases them (measured: anonymous RSS 14.4 MiB before, 9.5 MiB after). While
    //! serving, freed memory is reused at once; the one exception is what closed consumer
    //! instances leave, which the consumer manager hands back after every 64 closed. A no-op
    //! where the C library is not glibc (decision 66).

    /// Releases the free memory of every malloc heap to the operating system.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    pub fn release_freed() {
        // SAFETY: `malloc_trim` takes no pointer and only walks glibc's own heap structures
        // under their locks; it is safe to call from any thread at any time.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    /// Elsewhere, nothing to do.
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    pub fn release_freed() {}
}

pub mod produce {
    //! Enqueueing one record on a producer: rust-rdkafka's `BaseProducer::send` without its
    //! per-record heap copy of the topic name (a `CString`). The name goes to librdkafka from a
    //! buffer on the stack, or the topic as a handle looked up once ([`Topic`]) by senders of
    //! many records; everything else is passed as rust-rdkafka passes it (librdkafka
    //! copies key and value, `RD_KAFKA_MSG_F_COPY`, and owns the headers, built here, once it
    //! took the record). The delivery report comes back through the producer context's `delivery` with
    //! the `opaque` given here, exactly as for `send`: this function converts it with the
    //! context's own `IntoOpaque` type.

    use std::ffi::{c_void, CString};
    use std::ptr;

    use rdkafka::bindings as rd;
    use rdkafka::error::RDKafkaErrorCode;
    use rdkafka::producer::{Producer, ProducerContext, ThreadedProducer};
    use rdkafka::util::IntoOpaque;

    use crate::records::Header;

    /// Topic names up to this length (Kafka allows 249) go through the stack.
    const STACK_NAME: usize = 256;

    /// librdkafka's handle of one topic on one producer, looked up once: a record sent with
    /// it skips the lookup of the topic by name (a read lock and a search of the producer's
    /// topics) that each record sent by name pays. It must be dropped before its producer:
    /// the holder keeps the producer alive.
    pub struct Topic {
        handle: ptr::NonNull<rd::rd_kafka_topic_t>,
    }

    // SAFETY: a topic handle is reference-counted by librdkafka, which allows producing with
    // it and destroying it from any thread.
    unsafe impl Send for Topic {}
    // SAFETY: as above; `&Topic` only ever reaches `rd_kafka_producev`.
    unsafe impl Sync for Topic {}

    impl Topic {
        /// The handle of topic `name` on `producer`; `None` for a name librdkafka refuses
        /// (with a NUL byte, or empty).
        pub fn new<C: ProducerContext + 'static>(
            producer: &ThreadedProducer<C>,
            name: &str,
        ) -> Option<Topic> {
            let name = CString::new(name).ok()?;
            // SAFETY: the client pointer is live for the borrow of `producer` and the name is
            // NUL-terminated; with a null configuration librdkafka uses the producer's default
            // topic configuration, as a record sent by name does. It returns null or a handle
            // with one application reference, released by `drop`.
            let handle = unsafe {
                rd::rd_kafka_topic_new(
                    producer.client().native_ptr(),
                    name.as_ptr(),
                    ptr::null_mut(),
                )
            };
            ptr::NonNull::new(handle).map(|handle| Topic { handle })
        }
    }

    impl Drop for Topic {
        fn drop(&mut self) {
            // SAFETY: the handle came from `rd_kafka_topic_new` and this is its only release;
            // records still queued with it hold references of their own.
            unsafe { rd::rd_kafka_topic_destroy(self.handle.as_ptr()) };
        }
    }

    /// Where a record goes: a topic by name, or by a handle looked up before, which must be
    /// a handle of the producer the record is sent with (librdkafka would otherwise queue
    /// the record on another client's partition).
    #[derive(Clone, Copy)]
    pub enum Target<'a> {
        Name(&'a str),
        Handle(&'a Topic),
    }

    /// One record to enqueue. `partition: None` lets the partitioner choose; `timestamp: None`
    /// is the time of enqueueing.
    pub struct Record<'a> {
        pub topic: Target<'a>,
        pub partition: Option<i32>,
        pub key: Option<&'a [u8]>,
        pub value: Option<&'a [u8]>,
        pub headers: &'a [Header],
        pub timestamp: Option<i64>,
    }

    /// Enqueues `record` on `producer`; `opaque` comes back in the context's delivery report.
    /// On refusal (`QueueFull`, an unknown partition, ...) the opaque is handed back with the
    /// error code, and librdkafka kept nothing.
    pub fn send<C: ProducerContext + 'static>(
        producer: &ThreadedProducer<C>,
        record: Record<'_>,
        opaque: C::DeliveryOpaque,
    ) -> Result<(), (RDKafkaErrorCode, C::DeliveryOpaque)> {
        // Zeroed only when a name is copied into it (a handle needs no buffer).
        let mut stack: [u8; STACK_NAME];
        let heap: CString;
        let (tag, topic): (rd::rd_kafka_vtype_t, *const c_void) = match record.topic {
            Target::Handle(topic) => (
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_RKT,
                topic.handle.as_ptr().cast_const().cast(),
            ),
            Target::Name(topic) if topic.len() < STACK_NAME && !topic.contains('\0') => {
                stack = [0u8; STACK_NAME];
                stack[..topic.len()].copy_from_slice(topic.as_bytes());
                (
                    rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TOPIC,
                    stack.as_ptr().cast(),
                )
            }
            Target::Name(topic) => {
                heap = match CString::new(topic) {
                    Ok(name) => name,
                    Err(_) => return Err((RDKafkaErrorCode::InvalidArgument, opaque)),
                };
                (
                    rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TOPIC,
                    heap.as_ptr().cast(),
                )
            }
        };
        let bytes = |b: Option<&[u8]>| {
            b.map_or((ptr::null_mut(), 0), |b| {
                (b.as_ptr() as *mut c_void, b.len())
            })
        };
        let (value_ptr, value_len) = bytes(record.value);
        let (key_ptr, key_len) = bytes(record.key);
        let headers = headers(record.headers);
        let opaque_ptr = opaque.into_ptr();
        // SAFETY: `rd_kafka_producev` reads its variadic arguments in (type, value...) pairs
        // up to `RD_KAFKA_VTYPE_END`, each value of the C type its tag names, as below (the
        // same sequence as rust-rdkafka's `BaseProducer::send`, with a topic handle in place
        // of the name when there is one). The client pointer is live for the borrow of
        // `producer`; a topic name is NUL-terminated (the stack buffer is zeroed past it) and
        // outlives the call, a topic handle is live for the borrow of `record` and is one of
        // this producer's (`Target`'s contract);
        // key and value are copied by librdkafka (`RD_KAFKA_MSG_F_COPY`) before it returns.
        // The headers, when there are any, become librdkafka's only on success; on failure
        // they are still ours and destroyed below.
        let err = unsafe {
            rd::rd_kafka_producev(
                producer.client().native_ptr(),
                tag,
                topic,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION,
                record.partition.unwrap_or(rdkafka::producer::PARTITION_UA),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
                rd::RD_KAFKA_MSG_F_COPY,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE,
                value_ptr,
                value_len,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY,
                key_ptr,
                key_len,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_OPAQUE,
                opaque_ptr,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TIMESTAMP,
                record.timestamp.unwrap_or(0),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_HEADERS,
                headers,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_END,
            )
        };
        if err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
            // librdkafka owns the headers now and frees them with the message.
            return Ok(());
        }
        if !headers.is_null() {
            // SAFETY: made by `headers` below and refused with the record: still only ours.
            unsafe { rd::rd_kafka_headers_destroy(headers) };
        }
        // SAFETY: `opaque_ptr` came from `into_ptr` above and librdkafka refused the record,
        // so it kept no copy of it: converting it back is its only use.
        let opaque = unsafe { C::DeliveryOpaque::from_ptr(opaque_ptr) };
        Err((err.into(), opaque))
    }

    /// librdkafka's copy of `headers` (null for none), to be owned by the record it is given
    /// with, or destroyed.
    fn headers(headers: &[Header]) -> *mut rd::rd_kafka_headers_t {
        if headers.is_empty() {
            return ptr::null_mut();
        }
        // SAFETY: `rd_kafka_headers_new` allocates a header list (never null: librdkafka
        // aborts on out of memory); `rd_kafka_header_add` copies the name and value of each
        // header from the given pointer and length, both live for the call. Its only error is
        // a read-only list, which this new list is not.
        unsafe {
            let list = rd::rd_kafka_headers_new(headers.len());
            for header in headers {
                let (value, len) = header
                    .value
                    .as_deref()
                    .map_or((ptr::null(), 0), |v| (v.as_ptr().cast::<c_void>(), v.len()));
                rd::rd_kafka_header_add(
                    list,
                    header.name.as_ptr().cast(),
                    isize::try_from(header.name.len()).unwrap_or(isize::MAX),
                    value,
                    isize::try_from(len).unwrap_or(isize::MAX),
                );
            }
            list
        }
    }
}
