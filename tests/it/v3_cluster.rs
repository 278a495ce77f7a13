//! The v3 administration service against the real cluster, and the v3 cluster and broker
//! endpoints: the librdkafka calls of `src/admin/ffi/` (describe cluster, describe and
//! incrementally alter configs, create, grow and delete topics), each checked with a native
//! admin client.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_rest::fuzzing::{
    Admin, AdminError, AdminSettings, AlterOp, BlockingCalls, ConfigResource, FfiError, NewTopic,
};
use rdkafka::admin::ResourceSpecifier;
use rdkafka::error::RDKafkaErrorCode;

use crate::common::{self, Stack};
use crate::require_stack;

/// The administration service as the proxy builds it, in front of the stack.
pub fn admin_service(stack: &Stack) -> Admin {
    let kafka = BTreeMap::from([("bootstrap.servers".to_string(), stack.bootstrap.clone())]);
    Admin::new(
        AdminSettings {
            kafka,
            timeout: Duration::from_secs(30),
            cluster_id_ttl: Duration::from_secs(10),
        },
        BlockingCalls::new(8),
    )
    .expect("admin service")
}

fn kafka_code(err: &AdminError) -> Option<RDKafkaErrorCode> {
    match err {
        AdminError::Call {
            source: FfiError::Kafka { code, .. },
            ..
        } => Some(*code),
        _ => None,
    }
}

#[tokio::test]
async fn the_service_describes_the_cluster_the_native_client_sees() {
    let stack = require_stack!();
    let admin = admin_service(&stack);
    let cluster = admin.cluster().await.expect("cluster");
    assert!(!cluster.cluster_id.is_empty());
    let md = common::admin(&stack)
        .inner()
        .fetch_metadata(None, Duration::from_secs(5))
        .expect("metadata");
    let mut native: Vec<(i32, String, u16)> = md
        .brokers()
        .iter()
        .map(|b| (b.id(), b.host().to_string(), b.port() as u16))
        .collect();
    native.sort();
    let ours: Vec<(i32, String, u16)> = cluster
        .brokers
        .iter()
        .map(|b| (b.id, b.host.clone(), b.port))
        .collect();
    assert_eq!(ours, native);
    let controller = cluster.controller.expect("a controller");
    assert!(native.iter().any(|b| b.0 == controller), "{controller}");
    assert_eq!(
        admin
            .check_cluster(&cluster.cluster_id)
            .await
            .expect("same"),
        cluster.cluster_id
    );
    assert!(matches!(
        admin.check_cluster("not-this-cluster").await,
        Err(AdminError::ClusterNotFound { .. })
    ));
}

#[tokio::test]
async fn the_service_creates_alters_grows_and_deletes_a_topic_as_kafka_reports() {
    let stack = require_stack!();
    let admin = admin_service(&stack);
    let topic = common::rand_topic("v3-service");
    let new = NewTopic {
        name: topic.clone(),
        partitions: Some(2),
        replication_factor: Some(1),
        configs: vec![("cleanup.policy".into(), Some("compact".into()))],
        ..NewTopic::default()
    };
    admin
        .create_topic(new.clone(), true)
        .await
        .expect("validated");
    assert_eq!(common::native_topic_shape(&stack, &topic), None);
    admin
        .create_topic(new.clone(), false)
        .await
        .expect("created");
    assert_eq!(common::native_topic_shape(&stack, &topic), Some((2, 1)));
    let configs = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
    assert_eq!(
        configs["cleanup.policy"],
        (Some("compact".to_string()), false)
    );

    let again = admin.create_topic(new, false).await.expect_err("exists");
    assert_eq!(
        kafka_code(&again),
        Some(RDKafkaErrorCode::TopicAlreadyExists)
    );
    assert_eq!(
        again.kafka_code().map(|(_, m)| m),
        Some(format!("Topic '{topic}' already exists."))
    );

    let resource = ConfigResource::Topic(topic.clone());
    admin
        .alter_configs(
            &resource,
            vec![("retention.ms".into(), AlterOp::Set("3600000".into()))],
            false,
        )
        .await
        .expect("set");
    let configs = common::topic_configs_when(&stack, &topic, |c| {
        c["retention.ms"].0.as_deref() == Some("3600000")
    })
    .await;
    assert_eq!(
        configs["retention.ms"],
        (Some("3600000".to_string()), false)
    );
    let ours = admin
        .config(&resource, "retention.ms")
        .await
        .expect("config");
    assert_eq!(ours.source, "DYNAMIC_TOPIC_CONFIG");
    assert_eq!(ours.synonyms[0].source, "DYNAMIC_TOPIC_CONFIG");
    admin
        .alter_configs(
            &resource,
            vec![
                ("retention.ms".into(), AlterOp::Delete),
                ("cleanup.policy".into(), AlterOp::Set("delete".into())),
            ],
            false,
        )
        .await
        .expect("delete and set");
    let configs = common::topic_configs_when(&stack, &topic, |c| {
        c["retention.ms"].1 && c["cleanup.policy"].0.as_deref() == Some("delete")
    })
    .await;
    assert!(configs["retention.ms"].1, "{:?}", configs["retention.ms"]);
    assert_eq!(
        configs["cleanup.policy"],
        (Some("delete".to_string()), false)
    );
    let unknown = admin
        .alter_configs(
            &resource,
            vec![("no.such.config".into(), AlterOp::Set("1".into()))],
            false,
        )
        .await
        .expect_err("unknown config");
    assert!(
        matches!(unknown, AdminError::UnknownConfig { .. }),
        "{unknown:?}"
    );

    let grown = admin.set_partitions_count(&topic, 4).await.expect("grown");
    assert_eq!(grown.partitions.len(), 4);
    assert_eq!(common::native_topic_shape(&stack, &topic), Some((4, 1)));
    let lower = admin
        .set_partitions_count(&topic, 3)
        .await
        .expect_err("lower");
    assert_eq!(
        kafka_code(&lower),
        Some(RDKafkaErrorCode::InvalidPartitions)
    );

    admin.delete_topic(&topic).await.expect("deleted");
    assert_eq!(common::native_topic_shape(&stack, &topic), None);
    let gone = admin.delete_topic(&topic).await.expect_err("gone");
    assert_eq!(
        kafka_code(&gone),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition)
    );
}

#[tokio::test]
async fn the_service_reads_broker_and_cluster_wide_configs() {
    let stack = require_stack!();
    let admin = admin_service(&stack);
    let cluster = admin.cluster().await.expect("cluster");
    let broker = cluster.brokers[0].id;
    let configs = admin
        .configs(&ConfigResource::Broker(broker))
        .await
        .expect("broker configs");
    assert!(configs.iter().any(|c| c.name == "log.cleaner.backoff.ms"));
    // librdkafka cannot name the cluster-wide resource: it is read from a broker's synonyms
    // and cannot be changed.
    let wide = admin
        .configs(&ConfigResource::BrokerDefault)
        .await
        .expect("cluster-wide configs");
    let from_synonyms: Vec<String> = configs
        .iter()
        .flat_map(|c| c.synonyms.iter())
        .filter(|s| s.source == "DYNAMIC_DEFAULT_BROKER_CONFIG")
        .map(|s| s.name.clone())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let listed: Vec<String> = wide.iter().map(|c| c.name.clone()).collect();
    assert_eq!(listed, from_synonyms);
    assert!(wide
        .iter()
        .all(|c| c.source == "DYNAMIC_DEFAULT_BROKER_CONFIG"));
    let refused = admin
        .alter_configs(
            &ConfigResource::BrokerDefault,
            vec![(
                "log.cleaner.backoff.ms".into(),
                AlterOp::Set("15001".into()),
            )],
            false,
        )
        .await
        .expect_err("read-only");
    assert!(
        matches!(refused, AdminError::ClusterConfigsReadOnly),
        "{refused:?}"
    );
    assert!(matches!(
        admin.configs(&ConfigResource::Broker(424242)).await,
        Err(AdminError::BrokerNotFound { broker: 424242 })
    ));
}

#[tokio::test]
async fn the_cluster_and_its_brokers_through_v3() {
    let stack = require_stack!();
    let proxy = common::TestProxy::start(&stack).await;
    let cid = crate::v3_topics::cluster_id(&proxy).await;
    let base = format!("{}/v3/clusters/{cid}", proxy.base);
    let cluster = admin_service(&stack).cluster().await.expect("cluster");
    let controller = cluster.controller.expect("a controller");
    let expected = serde_json::json!({
        "kind": "KafkaCluster",
        "metadata": {"self": base, "resource_name": format!("crn:///kafka={cid}")},
        "cluster_id": cid,
        "controller": {"related": format!("{base}/brokers/{controller}")},
        "acls": {"related": format!("{base}/acls")},
        "brokers": {"related": format!("{base}/brokers")},
        "broker_configs": {"related": format!("{base}/broker-configs")},
        "consumer_groups": {"related": format!("{base}/consumer-groups")},
        "topics": {"related": format!("{base}/topics")},
        "partition_reassignments": {"related": format!("{base}/topics/-/partitions/-/reassignment")},
    });
    let (status, content_type, list) =
        common::v3_call("GET", &proxy.url("/v3/clusters"), None).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(
        list,
        serde_json::json!({
            "kind": "KafkaClusterList",
            "metadata": {"self": proxy.url("/v3/clusters"), "next": null},
            "data": [expected.clone()],
        })
    );
    let (status, _, one) = common::v3_call("GET", &base, None).await;
    assert_eq!((status, one), (200, expected));

    let (status, _, brokers) = common::v3_call("GET", &format!("{base}/brokers"), None).await;
    assert_eq!(status, 200, "{brokers}");
    let expected: Vec<serde_json::Value> = cluster
        .brokers
        .iter()
        .map(|b| {
            let url = format!("{base}/brokers/{}", b.id);
            serde_json::json!({
                "kind": "KafkaBroker",
                "metadata": {"self": url, "resource_name": format!("crn:///kafka={cid}/broker={}", b.id)},
                "cluster_id": cid,
                "broker_id": b.id,
                "host": b.host,
                "port": b.port,
                "rack": b.rack,
                "configs": {"related": format!("{url}/configs")},
                "partition_replicas": {"related": format!("{url}/partition-replicas")},
            })
        })
        .collect();
    assert_eq!(brokers["kind"], "KafkaBrokerList");
    assert_eq!(brokers["data"], serde_json::Value::Array(expected.clone()));
    let first = cluster.brokers[0].id;
    let (status, _, one) = common::v3_call("GET", &format!("{base}/brokers/{first}"), None).await;
    assert_eq!((status, &one), (200, &expected[0]));

    let missing = common::v3_call("GET", &proxy.url("/v3/clusters/nope"), None).await;
    assert_eq!(
        (missing.0, missing.2),
        (
            404,
            serde_json::json!({"error_code": 404, "message": "Cluster nope cannot be found."})
        )
    );
    let nowhere = common::v3_call("GET", &proxy.url("/v3/nowhere"), None).await;
    assert_eq!(
        (nowhere.0, nowhere.1.as_str(), nowhere.2),
        (
            404,
            "application/json",
            serde_json::json!({"error_code": 404, "message": "HTTP 404 Not Found"})
        )
    );
    let resp = reqwest::Client::new()
        .put(proxy.url("/v3/clusters"))
        .send()
        .await
        .expect("PUT");
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(
        resp.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    let body: serde_json::Value = resp.json().await.expect("JSON");
    assert_eq!(
        body,
        serde_json::json!({"error_code": 405, "message": "HTTP 405 Method Not Allowed"})
    );
}
