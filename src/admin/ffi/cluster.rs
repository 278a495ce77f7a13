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
