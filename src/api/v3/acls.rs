//! The `ACL` operations of the v3 API: search, create (one or a batch) and delete by filter.
//! Each handler checks the cluster, turns the query or body into `admin::acls` values, makes
//! one call and encodes the ACLs with their search URLs as `self`.

use kafka_rest_api::v3::{self, media, models};
use kafka_rest_api::{Lenient, RawBody, Vnd};
use poem::Request;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{paginate, set_location, Ctx, V3Service};
use crate::admin::acls::{
    self, Acl, AclFilter, AclOperation, PatternType, Permission, ResourceType,
};
use crate::error::ProxyError;

/// Percent-encodes a query value as Java's `URLEncoder` does, which Confluent's links use
/// (`User:alice` becomes `User%3Aalice`, `*` stays).
fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._*".contains(&b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The search URL of the ACLs with these fields: `<cluster>/acls?resource_type=...`.
fn search_url(ctx: &Ctx, fields: [(&str, &str); 7]) -> String {
    let query: Vec<String> = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", encode_query(value)))
        .collect();
    format!("{}?{}", ctx.url(&["acls"]), query.join("&"))
}

fn acl_url(ctx: &Ctx, acl: &Acl) -> String {
    search_url(
        ctx,
        [
            ("resource_type", acl.resource_type.name()),
            ("resource_name", &acl.resource_name),
            ("pattern_type", acl.pattern_type.name()),
            ("principal", &acl.principal),
            ("host", &acl.host),
            ("operation", acl.operation.name()),
            ("permission", acl.permission.name()),
        ],
    )
}

/// A Kafka name as the contract's enum of the same names.
fn to_model<T: DeserializeOwned>(name: &str) -> Result<T, ProxyError> {
    serde_json::from_value(serde_json::Value::String(name.to_string()))
        .map_err(ProxyError::internal)
}

/// The Kafka name of one of the contract's enums.
fn model_name<T: Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

fn acl_data(ctx: &Ctx, acl: Acl) -> Result<models::AclData, ProxyError> {
    Ok(models::AclData {
        kind: "KafkaAcl".to_string(),
        metadata: models::ResourceMetadata {
            self_: acl_url(ctx, &acl),
            resource_name: None,
        },
        cluster_id: ctx.cluster_id().to_string(),
        resource_type: to_model(acl.resource_type.name())?,
        pattern_type: to_model(acl.pattern_type.name())?,
        operation: to_model(acl.operation.name())?,
        permission: to_model(acl.permission.name())?,
        resource_name: acl.resource_name,
        principal: acl.principal,
        host: acl.host,
    })
}

/// One enum query parameter: its value in any letter case, `ANY` when absent.
fn query_enum<T>(
    field: &str,
    value: Option<&str>,
    parse: fn(&str) -> Option<T>,
    any: T,
) -> Result<T, ProxyError> {
    match value {
        None => Ok(any),
        Some(v) => parse(v).ok_or_else(|| ProxyError::GroupsBadRequest {
            message: format!("{field} {v} is invalid"),
        }),
    }
}

/// Filters of a search or delete; empty strings match anything, as in Confluent.
#[allow(clippy::too_many_arguments)]
fn filter(
    resource_type: Option<&str>,
    resource_name: Option<String>,
    pattern_type: Option<&str>,
    principal: Option<String>,
    host: Option<String>,
    operation: Option<&str>,
    permission: Option<&str>,
) -> Result<AclFilter, ProxyError> {
    let non_empty = |v: Option<String>| v.filter(|v| !v.is_empty());
    Ok(AclFilter {
        resource_type: query_enum(
            "resource_type",
            resource_type,
            ResourceType::parse,
            ResourceType::Any,
        )?,
        resource_name: non_empty(resource_name),
        pattern_type: query_enum(
            "pattern_type",
            pattern_type,
            PatternType::parse,
            PatternType::Any,
        )?,
        principal: non_empty(principal),
        host: non_empty(host),
        operation: query_enum(
            "operation",
            operation,
            AclOperation::parse,
            AclOperation::Any,
        )?,
        permission: query_enum("permission", permission, Permission::parse, Permission::Any)?,
    })
}

/// A new ACL of a request body.
fn new_acl(data: models::CreateAclRequestData) -> Result<Acl, ProxyError> {
    // The contract's enums name every Kafka value, some of which (`CREATE_TOKENS`,
    // `DESCRIBE_TOKENS`) the Kafka client cannot express: such a value is the client's `400`,
    // as an unsupported value is in Confluent, not a server error.
    fn unsupported(field: &str, value: String) -> ProxyError {
        ProxyError::GroupsBadRequest {
            message: format!("{field} {value} is not supported"),
        }
    }
    fn domain<M: Serialize, T>(
        field: &str,
        model: &M,
        parse: fn(&str) -> Option<T>,
    ) -> Result<T, ProxyError> {
        let name = model_name(model);
        parse(&name).ok_or_else(|| unsupported(field, name))
    }
    Ok(Acl {
        resource_type: domain("resource_type", &data.resource_type, ResourceType::parse)?,
        resource_name: data.resource_name,
        pattern_type: domain("pattern_type", &data.pattern_type, PatternType::parse)?,
        principal: data.principal,
        host: data.host,
        operation: domain("operation", &data.operation, AclOperation::parse)?,
        permission: domain("permission", &data.permission, Permission::parse)?,
    })
}

impl v3::AclApi for V3Service {
    type Error = ProxyError;

    async fn get_kafka_acls(
        &self,
        request: &Request,
        cluster_id: String,
        resource_type: Option<String>,
        resource_name: Option<String>,
        pattern_type: Option<String>,
        principal: Option<String>,
        host: Option<String>,
        operation: Option<String>,
        permission: Option<String>,
        page_size: Option<Lenient<i32>>,
        page_token: Option<String>,
    ) -> Result<v3::GetKafkaAclsResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let filter = filter(
            resource_type.as_deref(),
            resource_name,
            pattern_type.as_deref(),
            principal,
            host,
            operation.as_deref(),
            permission.as_deref(),
        )?;
        // `self` repeats the query, absent filters as `ANY` or empty (Confluent's links).
        let self_ = search_url(
            &ctx,
            [
                ("resource_type", filter.resource_type.name()),
                (
                    "resource_name",
                    filter.resource_name.as_deref().unwrap_or(""),
                ),
                ("pattern_type", filter.pattern_type.name()),
                ("principal", filter.principal.as_deref().unwrap_or("")),
                ("host", filter.host.as_deref().unwrap_or("")),
                ("operation", filter.operation.name()),
                ("permission", filter.permission.name()),
            ],
        );
        let found = acls::search_acls(&self.admin()?, filter).await?;
        let (page, mut metadata) = paginate(request, &ctx, found, page_size, page_token)?;
        metadata.self_ = self_;
        Ok(v3::GetKafkaAclsResponse::Ok(Vnd::new(
            models::AclDataList {
                kind: "KafkaAclList".to_string(),
                metadata,
                data: page
                    .into_iter()
                    .map(|acl| acl_data(&ctx, acl))
                    .collect::<Result<_, _>>()?,
            },
        )))
    }

    async fn create_kafka_acls(
        &self,
        request: &Request,
        cluster_id: String,
        body: RawBody<models::CreateAclRequestData, media::CreateKafkaAclsBody>,
    ) -> Result<v3::CreateKafkaAclsResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let acl = new_acl(
            self.body(body, |b: &[u8]| {
                serde_json::from_slice::<models::CreateAclRequestData>(b)
            })
            .await?,
        )?;
        let location = acl_url(&ctx, &acl);
        acls::create_acls(&self.admin()?, vec![acl]).await?;
        // Confluent's `Location` is the search URL that finds the new ACL.
        set_location(request, location);
        Ok(v3::CreateKafkaAclsResponse::Created)
    }

    async fn delete_kafka_acls(
        &self,
        request: &Request,
        cluster_id: String,
        resource_type: String,
        resource_name: Option<String>,
        pattern_type: String,
        principal: Option<String>,
        host: Option<String>,
        operation: String,
        permission: String,
    ) -> Result<v3::DeleteKafkaAclsResponse, ProxyError> {
        let ctx = self.ctx(request, &cluster_id).await?;
        let filter = filter(
            Some(&resource_type),
            resource_name,
            Some(&pattern_type),
            principal,
            host,
            Some(&operation),
            Some(&permission),
        )?;
        let deleted = acls::delete_acls(&self.admin()?, filter).await?;
        Ok(v3::DeleteKafkaAclsResponse::Ok(Vnd::new(
            models::DeleteAclsResponseData {
                data: deleted
                    .into_iter()
                    .map(|acl| acl_data(&ctx, acl))
                    .collect::<Result<_, _>>()?,
            },
        )))
    }

    async fn batch_create_kafka_acls(
        &self,
        request: &Request,
        cluster_id: String,
        body: RawBody<models::CreateAclRequestDataList, media::BatchCreateKafkaAclsBody>,
    ) -> Result<v3::BatchCreateKafkaAclsResponse, ProxyError> {
        self.ctx(request, &cluster_id).await?;
        let wanted = self
            .body(body, |b: &[u8]| {
                serde_json::from_slice::<models::CreateAclRequestDataList>(b)
            })
            .await?
            .data
            .into_iter()
            .map(new_acl)
            .collect::<Result<Vec<_>, _>>()?;
        acls::create_acls(&self.admin()?, wanted).await?;
        Ok(v3::BatchCreateKafkaAclsResponse::NoContent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acl_links_encode_the_query_as_confluent_does() {
        let ctx = Ctx::for_tests("http://h:8082", "c1");
        let acl = Acl {
            resource_type: ResourceType::Topic,
            resource_name: "orders".to_string(),
            pattern_type: PatternType::Literal,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: AclOperation::Read,
            permission: Permission::Allow,
        };
        assert_eq!(
            acl_url(&ctx, &acl),
            "http://h:8082/v3/clusters/c1/acls?resource_type=TOPIC&resource_name=orders\
             &pattern_type=LITERAL&principal=User%3Aalice&host=*&operation=READ&permission=ALLOW"
        );
    }

    #[test]
    fn a_token_operation_kafkas_client_cannot_express_is_a_bad_request() {
        let data = models::CreateAclRequestData {
            resource_type: models::AclResourceType::Topic,
            resource_name: "orders".to_string(),
            pattern_type: models::AclPatternType::Literal,
            principal: "User:alice".to_string(),
            host: "*".to_string(),
            operation: models::AclOperation::DescribeTokens,
            permission: models::AclPermission::Allow,
        };
        match new_acl(data) {
            Err(ProxyError::GroupsBadRequest { message }) => {
                assert_eq!(message, "operation DESCRIBE_TOKENS is not supported")
            }
            other => panic!("expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn the_contracts_enums_and_the_domains_share_kafkas_names() {
        for t in ResourceType::ALL {
            let model: models::AclResourceType = to_model(t.name()).expect("in the contract");
            assert_eq!(ResourceType::parse(&model_name(&model)), Some(*t));
        }
        for o in AclOperation::ALL {
            let model: models::AclOperation = to_model(o.name()).expect("in the contract");
            assert_eq!(AclOperation::parse(&model_name(&model)), Some(*o));
        }
        for p in PatternType::ALL {
            let model: models::AclPatternType = to_model(p.name()).expect("in the contract");
            assert_eq!(PatternType::parse(&model_name(&model)), Some(*p));
        }
        for p in Permission::ALL {
            let model: models::AclPermission = to_model(p.name()).expect("in the contract");
            assert_eq!(Permission::parse(&model_name(&model)), Some(*p));
        }
    }
}
