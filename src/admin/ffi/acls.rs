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
        unsafe { Binding::from_raw(binding) }
            .ok_or_else(|| FfiError::Invalid(unsafe { owned(errstr.as_ptr()) }.unwrap_or_default()))
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
pub fn create_acls(client: &NativeClient, acls: &[Acl], deadline: Instant) -> Result<(), FfiError> {
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
    let mut ptrs: Vec<*mut rd::rd_kafka_AclBinding_t> = bindings.iter().map(|b| b.ptr()).collect();
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
