//! ACLs for the v3 API: search with a filter, create (one or a batch), and delete by filter
//! answering what was deleted.
//!
//! Owns the plain domain values of an ACL, in Kafka's names and in the order Confluent sorts
//! them (the enums are declared in Kafka's order, and [`Acl`]'s fields in Confluent's sort
//! order, so the derived `Ord` is that sort), and Confluent's validation of what a client may
//! ask: no ANY or UNKNOWN in a new ACL, no UNKNOWN in a filter. The librdkafka calls are
//! `ffi::acls`; HTTP is `src/api/v3/` and `src/error.rs`.

use crate::admin::ffi::acls as ffi_acls;
use crate::admin::{Admin, AdminError};

/// Declares a Kafka ACL enum with its wire names; variants in Kafka's (and Confluent's)
/// order, which is the sort order of ACL lists.
macro_rules! kafka_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $wire:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The Kafka name (`TOPIC`, `LITERAL`, `READ`, `ALLOW`, ...).
            pub fn name(self) -> &'static str {
                match self { $($name::$variant => $wire),+ }
            }

            /// The value of a Kafka name, in any letter case.
            pub fn parse(name: &str) -> Option<$name> {
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(name))
            }
        }
    };
}

kafka_enum!(
    /// What kind of resource an ACL protects.
    ResourceType {
        Unknown => "UNKNOWN",
        Any => "ANY",
        Topic => "TOPIC",
        Group => "GROUP",
        Cluster => "CLUSTER",
        TransactionalId => "TRANSACTIONAL_ID",
        DelegationToken => "DELEGATION_TOKEN",
        User => "USER",
    }
);

kafka_enum!(
    /// How an ACL's resource name matches resources.
    PatternType {
        Unknown => "UNKNOWN",
        Any => "ANY",
        Match => "MATCH",
        Literal => "LITERAL",
        Prefixed => "PREFIXED",
    }
);

kafka_enum!(
    /// The operation an ACL allows or denies.
    AclOperation {
        Unknown => "UNKNOWN",
        Any => "ANY",
        All => "ALL",
        Read => "READ",
        Write => "WRITE",
        Create => "CREATE",
        Delete => "DELETE",
        Alter => "ALTER",
        Describe => "DESCRIBE",
        ClusterAction => "CLUSTER_ACTION",
        DescribeConfigs => "DESCRIBE_CONFIGS",
        AlterConfigs => "ALTER_CONFIGS",
        IdempotentWrite => "IDEMPOTENT_WRITE",
    }
);

kafka_enum!(
    /// Whether an ACL allows or denies.
    Permission {
        Unknown => "UNKNOWN",
        Any => "ANY",
        Deny => "DENY",
        Allow => "ALLOW",
    }
);

/// One ACL. Field order is the sort order of ACL lists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Acl {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    pub principal: String,
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

/// Which ACLs a search or a delete matches; `None` strings match anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: Permission,
}

/// What can go wrong with an ACL request.
#[derive(Debug, thiserror::Error)]
pub enum AclError {
    /// A value Confluent refuses (ANY in a new ACL, UNKNOWN in a filter); the message is
    /// Confluent's.
    #[error("{message}")]
    Invalid { message: String },
    #[error(transparent)]
    Admin(#[from] AdminError),
}

fn invalid(message: impl Into<String>) -> AclError {
    AclError::Invalid {
        message: message.into(),
    }
}

/// Confluent's checks of a new ACL.
pub fn check_new(acl: &Acl) -> Result<(), AclError> {
    if matches!(acl.resource_type, ResourceType::Any | ResourceType::Unknown) {
        return Err(invalid("resource_type cannot be ANY"));
    }
    if matches!(
        acl.pattern_type,
        PatternType::Any | PatternType::Match | PatternType::Unknown
    ) {
        return Err(invalid(format!(
            "pattern_type cannot be {}",
            acl.pattern_type.name()
        )));
    }
    if matches!(acl.operation, AclOperation::Any | AclOperation::Unknown) {
        return Err(invalid("operation cannot be ANY"));
    }
    if matches!(acl.permission, Permission::Any | Permission::Unknown) {
        return Err(invalid("permission cannot be ANY"));
    }
    check_supported(acl.resource_type)
}

/// Confluent's checks of a search or delete filter.
pub fn check_filter(filter: &AclFilter) -> Result<(), AclError> {
    if filter.resource_type == ResourceType::Unknown {
        return Err(invalid("resource_type cannot be ANY"));
    }
    if filter.pattern_type == PatternType::Unknown {
        return Err(invalid("pattern_type cannot be UNKNOWN"));
    }
    if filter.operation == AclOperation::Unknown {
        return Err(invalid("operation cannot be ANY"));
    }
    if filter.permission == Permission::Unknown {
        return Err(invalid("permission cannot be ANY"));
    }
    check_supported(filter.resource_type)
}

/// librdkafka cannot express ACLs on delegation tokens or users (`docs/decisions.md` §45, "ACLs
/// on delegation tokens and users").
fn check_supported(resource_type: ResourceType) -> Result<(), AclError> {
    if matches!(
        resource_type,
        ResourceType::DelegationToken | ResourceType::User
    ) {
        return Err(invalid(format!(
            "resource_type {} is not supported",
            resource_type.name()
        )));
    }
    Ok(())
}

/// The ACLs that match `filter`, sorted.
pub async fn search_acls(admin: &Admin, filter: AclFilter) -> Result<Vec<Acl>, AclError> {
    check_filter(&filter)?;
    let mut acls = admin
        .ffi_call("describe ACLs", move |client, deadline| {
            ffi_acls::describe_acls(client, &filter, deadline)
        })
        .await?;
    acls.sort();
    Ok(acls)
}

/// Creates `acls` (one request), after checking every one of them.
pub async fn create_acls(admin: &Admin, acls: Vec<Acl>) -> Result<(), AclError> {
    for acl in &acls {
        check_new(acl)?;
    }
    admin
        .ffi_call("create ACLs", move |client, deadline| {
            ffi_acls::create_acls(client, &acls, deadline)
        })
        .await?;
    Ok(())
}

/// Deletes the ACLs that match `filter`; answers them, sorted.
pub async fn delete_acls(admin: &Admin, filter: AclFilter) -> Result<Vec<Acl>, AclError> {
    check_filter(&filter)?;
    let mut acls = admin
        .ffi_call("delete ACLs", move |client, deadline| {
            ffi_acls::delete_acls(client, &filter, deadline)
        })
        .await?;
    acls.sort();
    Ok(acls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl() -> Acl {
        Acl {
            resource_type: ResourceType::Topic,
            resource_name: "t".to_string(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: AclOperation::Read,
            permission: Permission::Allow,
        }
    }

    fn message(result: Result<(), AclError>) -> String {
        match result {
            Err(AclError::Invalid { message }) => message,
            other => panic!("expected an invalid ACL, got {other:?}"),
        }
    }

    #[test]
    fn a_new_acl_refuses_any_and_unknown_with_confluents_messages() {
        assert!(check_new(&acl()).is_ok());
        let cases: Vec<(Acl, &str)> = vec![
            (
                Acl {
                    resource_type: ResourceType::Any,
                    ..acl()
                },
                "resource_type cannot be ANY",
            ),
            (
                Acl {
                    resource_type: ResourceType::Unknown,
                    ..acl()
                },
                "resource_type cannot be ANY",
            ),
            (
                Acl {
                    pattern_type: PatternType::Any,
                    ..acl()
                },
                "pattern_type cannot be ANY",
            ),
            (
                Acl {
                    pattern_type: PatternType::Match,
                    ..acl()
                },
                "pattern_type cannot be MATCH",
            ),
            (
                Acl {
                    pattern_type: PatternType::Unknown,
                    ..acl()
                },
                "pattern_type cannot be UNKNOWN",
            ),
            (
                Acl {
                    operation: AclOperation::Any,
                    ..acl()
                },
                "operation cannot be ANY",
            ),
            (
                Acl {
                    operation: AclOperation::Unknown,
                    ..acl()
                },
                "operation cannot be ANY",
            ),
            (
                Acl {
                    permission: Permission::Any,
                    ..acl()
                },
                "permission cannot be ANY",
            ),
            (
                Acl {
                    permission: Permission::Unknown,
                    ..acl()
                },
                "permission cannot be ANY",
            ),
        ];
        for (acl, expected) in cases {
            assert_eq!(message(check_new(&acl)), expected, "{acl:?}");
        }
    }

    #[test]
    fn a_filter_accepts_any_and_refuses_unknown() {
        let filter = AclFilter {
            resource_type: ResourceType::Any,
            resource_name: None,
            pattern_type: PatternType::Any,
            principal: None,
            host: None,
            operation: AclOperation::Any,
            permission: Permission::Any,
        };
        assert!(check_filter(&filter).is_ok());
        let unknown_pattern = AclFilter {
            pattern_type: PatternType::Unknown,
            ..filter.clone()
        };
        assert_eq!(
            message(check_filter(&unknown_pattern)),
            "pattern_type cannot be UNKNOWN"
        );
        let unknown_type = AclFilter {
            resource_type: ResourceType::Unknown,
            ..filter
        };
        assert_eq!(
            message(check_filter(&unknown_type)),
            "resource_type cannot be ANY"
        );
    }

    #[test]
    fn names_parse_in_any_case_and_acls_sort_in_kafkas_enum_order() {
        assert_eq!(ResourceType::parse("topic"), Some(ResourceType::Topic));
        assert_eq!(PatternType::parse("PREFIXED"), Some(PatternType::Prefixed));
        assert_eq!(
            AclOperation::parse("idempotent_write"),
            Some(AclOperation::IdempotentWrite)
        );
        assert_eq!(Permission::parse("nope"), None);
        let mut acls = [
            Acl {
                permission: Permission::Allow,
                ..acl()
            },
            Acl {
                permission: Permission::Deny,
                ..acl()
            },
            Acl {
                resource_type: ResourceType::Group,
                ..acl()
            },
        ];
        acls.sort();
        let order: Vec<_> = acls
            .iter()
            .map(|a| (a.resource_type, a.permission))
            .collect();
        assert_eq!(
            order,
            [
                (ResourceType::Topic, Permission::Deny),
                (ResourceType::Topic, Permission::Allow),
                (ResourceType::Group, Permission::Allow),
            ]
        );
    }
}
