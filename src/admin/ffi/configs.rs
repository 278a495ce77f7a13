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
        .ok_or_else(|| FfiError::Invalid(format!("librdkafka refused the resource {resource:?}")))
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
unsafe fn resource_error(resource: *const rd::rd_kafka_ConfigResource_t) -> Result<(), FfiError> {
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
