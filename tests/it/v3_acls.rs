//! The v3 ACL endpoints against the real cluster (the local stack runs Kafka's standard KRaft
//! authorizer): ACLs created through the proxy are the ones Kafka lists, deleted ones are gone,
//! and refused requests answer Confluent's status and body.
//!
//! rust-rdkafka cannot list ACLs, so Kafka's list is read with a DescribeAcls request of an
//! admin client of the test's own (the service's librdkafka call, on a connection apart from
//! the proxy's); the proxy keeps no ACL state, so what that request answers is what Kafka holds.

use std::time::{Duration, Instant};

use kafka_rest::fuzzing::admin_acls::{
    self, Acl, AclFilter, AclOperation, PatternType, Permission, ResourceType,
};
use serde_json::{json, Value};

use crate::common::{self, Stack, TestProxy};
use crate::require_stack;
use crate::v3_cluster::admin_service;

/// Every ACL of `principal`, as Kafka lists them, sorted.
async fn kafka_acls(stack: &Stack, principal: &str) -> Vec<Acl> {
    let filter = AclFilter {
        resource_type: ResourceType::Any,
        resource_name: None,
        pattern_type: PatternType::Any,
        principal: Some(principal.to_string()),
        host: None,
        operation: AclOperation::Any,
        permission: Permission::Any,
    };
    admin_acls::search_acls(&admin_service(stack), filter)
        .await
        .expect("describe ACLs")
}

/// Waits until Kafka lists exactly `expected` for `principal` (ACL changes reach every
/// broker's authorizer through the metadata log, a moment after the answer).
async fn wait_for(stack: &Stack, principal: &str, expected: &[Acl]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let found = kafka_acls(stack, principal).await;
        if found == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Kafka lists {found:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn acl(principal: &str, resource_type: ResourceType, name: &str, operation: AclOperation) -> Acl {
    Acl {
        resource_type,
        resource_name: name.to_string(),
        pattern_type: PatternType::Literal,
        principal: principal.to_string(),
        host: "*".to_string(),
        operation,
        permission: Permission::Allow,
    }
}

fn body(acl: &Acl) -> Value {
    json!({
        "resource_type": acl.resource_type.name(),
        "resource_name": acl.resource_name,
        "pattern_type": acl.pattern_type.name(),
        "principal": acl.principal,
        "host": acl.host,
        "operation": acl.operation.name(),
        "permission": acl.permission.name(),
    })
}

/// The ACL as the proxy answers it.
fn answered(acls_url: &str, cluster: &str, acl: &Acl) -> Value {
    let principal = acl.principal.replace(':', "%3A");
    json!({
        "kind": "KafkaAcl",
        "metadata": {
            "self": format!(
                "{acls_url}?resource_type={}&resource_name={}&pattern_type={}&principal={principal}&host=*&operation={}&permission={}",
                acl.resource_type.name(),
                acl.resource_name,
                acl.pattern_type.name(),
                acl.operation.name(),
                acl.permission.name(),
            ),
        },
        "cluster_id": cluster,
        "resource_type": acl.resource_type.name(),
        "resource_name": acl.resource_name,
        "pattern_type": acl.pattern_type.name(),
        "principal": acl.principal,
        "host": acl.host,
        "operation": acl.operation.name(),
        "permission": acl.permission.name(),
    })
}

#[tokio::test]
async fn acls_created_are_the_ones_kafka_lists_and_deleted_ones_are_gone() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cluster = common::cluster_id(&stack);
    let acls_url = proxy.url(&format!("/v3/clusters/{cluster}/acls"));
    let principal = format!("User:{}", common::rand_group("alice"));
    let topic_write = acl(
        &principal,
        ResourceType::Topic,
        "orders",
        AclOperation::Write,
    );
    let topic_read = acl(
        &principal,
        ResourceType::Topic,
        "orders",
        AclOperation::Read,
    );
    let group_read = acl(
        &principal,
        ResourceType::Group,
        "billing",
        AclOperation::Read,
    );
    let cluster_describe = acl(
        &principal,
        ResourceType::Cluster,
        "kafka-cluster",
        AclOperation::Describe,
    );

    let created = reqwest::Client::new()
        .post(&acls_url)
        .header("content-type", "application/json")
        .body(body(&topic_write).to_string())
        .send()
        .await
        .expect("POST");
    let status = created.status().as_u16();
    let location = created
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    assert_eq!(created.bytes().await.expect("body").len(), 0);
    // `Location` is the search URL that finds the new ACL, as Confluent answers it.
    let self_url = answered(&acls_url, &cluster, &topic_write)["metadata"]["self"].clone();
    assert_eq!((status, location.map(Value::from)), (201, Some(self_url)));
    let batch = json!({"data": [body(&group_read), body(&topic_read), body(&cluster_describe)]});
    let (status, _, answer) =
        common::v3_call("POST", &format!("{acls_url}:batch"), Some(batch)).await;
    assert_eq!((status, answer), (204, Value::Null));
    // Sorted as Confluent sorts: resource type (TOPIC, GROUP, CLUSTER), name, ..., operation.
    let all = [&topic_read, &topic_write, &group_read, &cluster_describe].map(Clone::clone);
    wait_for(&stack, &principal, &all).await;

    let search = format!("{acls_url}?principal={}", principal.replace(':', "%3A"));
    let (status, _, answer) = common::v3_call("GET", &search, None).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({
                "kind": "KafkaAclList",
                "metadata": {
                    "self": format!(
                        "{acls_url}?resource_type=ANY&resource_name=&pattern_type=ANY&principal={}&host=&operation=ANY&permission=ANY",
                        principal.replace(':', "%3A")
                    ),
                    "next": null,
                },
                "data": all.iter().map(|a| answered(&acls_url, &cluster, a)).collect::<Vec<_>>(),
            })
        )
    );

    // Delete the topic ACLs: the answer is what was deleted, and Kafka lists the rest.
    let delete = format!(
        "{acls_url}?resource_type=TOPIC&pattern_type=ANY&operation=ANY&permission=ANY&principal={}",
        principal.replace(':', "%3A")
    );
    let (status, _, answer) = common::v3_call("DELETE", &delete, None).await;
    assert_eq!(
        (status, answer),
        (
            200,
            json!({"data": [
                answered(&acls_url, &cluster, &topic_read),
                answered(&acls_url, &cluster, &topic_write),
            ]})
        )
    );
    wait_for(
        &stack,
        &principal,
        &[group_read.clone(), cluster_describe.clone()],
    )
    .await;

    let everything = format!(
        "{acls_url}?resource_type=ANY&pattern_type=ANY&operation=ANY&permission=ANY&principal={}",
        principal.replace(':', "%3A")
    );
    let (status, _, answer) = common::v3_call("DELETE", &everything, None).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"].as_array().map(Vec::len), Some(2));
    wait_for(&stack, &principal, &[]).await;
    proxy.stop().await;
}

#[tokio::test]
async fn refused_acl_requests_answer_confluents_status_and_body() {
    let stack = require_stack!();
    let proxy = TestProxy::start(&stack).await;
    let cluster = common::cluster_id(&stack);
    let acls_url = proxy.url(&format!("/v3/clusters/{cluster}/acls"));
    let principal = format!("User:{}", common::rand_group("mallory"));
    let good = body(&acl(
        &principal,
        ResourceType::Topic,
        "t",
        AclOperation::Read,
    ));
    let with = |field: &str, value: &str| {
        let mut b = good.clone();
        b[field] = json!(value);
        b
    };
    let bad = |message: &str| json!({"error_code": 400, "message": message});
    let cases = [
        (
            with("resource_type", "ANY"),
            bad("resource_type cannot be ANY"),
        ),
        (
            with("resource_type", "UNKNOWN"),
            bad("resource_type cannot be ANY"),
        ),
        (
            with("pattern_type", "MATCH"),
            bad("pattern_type cannot be MATCH"),
        ),
        (
            with("pattern_type", "ANY"),
            bad("pattern_type cannot be ANY"),
        ),
        (with("operation", "ANY"), bad("operation cannot be ANY")),
        (
            with("permission", "UNKNOWN"),
            bad("permission cannot be ANY"),
        ),
        (
            with("resource_type", "DELEGATION_TOKEN"),
            bad("resource_type DELEGATION_TOKEN is not supported"),
        ),
    ];
    for (request, expected) in cases {
        let (status, _, answer) = common::v3_call("POST", &acls_url, Some(request.clone())).await;
        assert_eq!((status, answer), (400, expected.clone()), "{request}");
        let batch = json!({"data": [good.clone(), request.clone()]});
        let (status, _, answer) =
            common::v3_call("POST", &format!("{acls_url}:batch"), Some(batch)).await;
        assert_eq!((status, answer), (400, expected), "batch with {request}");
    }
    // Nothing of a refused batch was created.
    assert_eq!(kafka_acls(&stack, &principal).await, []);

    for (query, message) in [
        ("resource_type=UNKNOWN", "resource_type cannot be ANY"),
        ("pattern_type=UNKNOWN", "pattern_type cannot be UNKNOWN"),
        ("operation=UNKNOWN", "operation cannot be ANY"),
        ("permission=UNKNOWN", "permission cannot be ANY"),
    ] {
        let (status, _, answer) =
            common::v3_call("GET", &format!("{acls_url}?{query}"), None).await;
        assert_eq!((status, answer), (400, bad(message)), "{query}");
    }
    let (status, _, answer) = common::v3_call("POST", &acls_url, None).await;
    assert_eq!(
        (status, answer),
        (
            422,
            json!({"error_code": 42206, "message": "Payload error. Request body is empty. Data is required."})
        )
    );
    proxy.stop().await;
}
