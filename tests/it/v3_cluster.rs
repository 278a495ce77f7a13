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
    let configs = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
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
    let configs = common::native_configs(&stack, ResourceSpecifier::Topic(&topic)).await;
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
