"""A real admin flow through the generated v3 Python SDK (`kafka_rest_v3`) against a running proxy.

`cargo xtask sdk-test --flows` runs this in the same venv as flow.py, with the v3 SDK installed
next to the v2 one. It lists the clusters, creates a topic with a config, reads the topic and the
config back, sets another config and reads it, lists the partitions, deletes the topic and checks
that it is gone. Every value is asserted. The venv holds no native Kafka client, so what Kafka holds
is checked through a second view: the v2 API's topic answer, which reads Kafka's configs itself.

Inputs, from the environment:
  KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
  FLOW_RUN           a token unique to this run (the topic name carries it)
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

import kafka_rest_v3
from kafka_rest_v3.models import CreateTopicConfig, CreateTopicRequestData, UpdateConfigRequestData

# How long a created or deleted topic may take to show (or stop showing) in the proxy's answers.
VISIBLE_DEADLINE_S = 15.0


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"flow_v3.py: {name} is not set")
    return value


def step(message):
    print(f"[python v3 flow] {message}", flush=True)


def expect(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def v2_topic(base_url, topic):
    """The v2 API's view of the topic (its configs come from Kafka), or None when it is unknown."""
    request = urllib.request.Request(
        f"{base_url}/topics/{topic}", headers={"Accept": "application/vnd.kafka.v2+json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as err:
        if err.code == 404:
            return None
        raise


def wait_for(condition, what):
    """Polls `condition` until it returns a true value, within the deadline."""
    deadline = time.monotonic() + VISIBLE_DEADLINE_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {VISIBLE_DEADLINE_S}s")
        time.sleep(0.2)


def main():
    base_url = env("KAFKA_REST_URL").rstrip("/")
    run = env("FLOW_RUN")
    topic = f"sdkflow-v3-{run}"
    client = kafka_rest_v3.ApiClient(kafka_rest_v3.Configuration(host=f"{base_url}/v3"))
    clusters = kafka_rest_v3.ClusterApi(client)
    topics = kafka_rest_v3.TopicApi(client)
    configs = kafka_rest_v3.ConfigsApi(client)
    partitions = kafka_rest_v3.PartitionApi(client)

    listed = clusters.list_kafka_clusters()
    expect(listed.kind, "KafkaClusterList", "clusters: kind")
    expect(len(listed.data), 1, "clusters: count")
    cluster_id = listed.data[0].cluster_id
    if not cluster_id:
        raise AssertionError("clusters: empty cluster_id")
    expect(listed.data[0].kind, "KafkaCluster", "cluster: kind")
    step(f"cluster {cluster_id}")

    created = topics.create_kafka_topic(
        cluster_id,
        CreateTopicRequestData(
            topic_name=topic,
            partitions_count=2,
            replication_factor=1,
            configs=[CreateTopicConfig(name="cleanup.policy", value="compact")],
        ),
    )
    expect(created.kind, "KafkaTopic", "create: kind")
    expect(created.topic_name, topic, "create: topic_name")
    expect(created.cluster_id, cluster_id, "create: cluster_id")
    expect(created.partitions_count, 2, "create: partitions_count")
    expect(created.replication_factor, 1, "create: replication_factor")
    expect(created.is_internal, False, "create: is_internal")
    step(f"created {topic}")

    def read_topic():
        try:
            return topics.get_kafka_topic(cluster_id, topic)
        except kafka_rest_v3.ApiException as err:
            if err.status == 404:
                return None
            raise

    read = wait_for(read_topic, "created topic")
    expect(read.topic_name, topic, "read: topic_name")
    expect(read.partitions_count, 2, "read: partitions_count")
    expect(read.replication_factor, 1, "read: replication_factor")

    policy = configs.get_kafka_topic_config(cluster_id, topic, "cleanup.policy")
    expect(policy.kind, "KafkaTopicConfig", "cleanup.policy: kind")
    expect(policy.topic_name, topic, "cleanup.policy: topic_name")
    expect(policy.value, "compact", "cleanup.policy: value")
    expect(policy.is_default, False, "cleanup.policy: is_default")
    expect(policy.source.value, "DYNAMIC_TOPIC_CONFIG", "cleanup.policy: source")
    listed_configs = configs.list_kafka_topic_configs(cluster_id, topic)
    by_name = {c.name: c.value for c in listed_configs.data}
    expect(by_name.get("cleanup.policy"), "compact", "config list: cleanup.policy")
    step("read back cleanup.policy=compact")

    configs.update_kafka_topic_config(
        cluster_id, topic, "retention.ms", UpdateConfigRequestData(value="123456")
    )
    retention = configs.get_kafka_topic_config(cluster_id, topic, "retention.ms")
    expect(retention.value, "123456", "retention.ms: value")
    expect(retention.is_default, False, "retention.ms: is_default")
    expect(retention.source.value, "DYNAMIC_TOPIC_CONFIG", "retention.ms: source")
    step("set and read retention.ms=123456")

    # The second view: the v2 API describes the topic from Kafka's own answer.
    v2 = wait_for(lambda: v2_topic(base_url, topic), "the topic through v2")
    expect(v2["name"], topic, "v2: name")
    expect(v2["configs"].get("cleanup.policy"), "compact", "v2: cleanup.policy")
    expect(v2["configs"].get("retention.ms"), "123456", "v2: retention.ms")
    expect([p["partition"] for p in v2["partitions"]], [0, 1], "v2: partitions")

    parts = partitions.list_kafka_partitions(cluster_id, topic)
    expect(parts.kind, "KafkaPartitionList", "partitions: kind")
    expect([p.partition_id for p in parts.data], [0, 1], "partitions: ids")
    for p in parts.data:
        expect(p.topic_name, topic, f"partition {p.partition_id}: topic_name")
        if p.leader is None:
            raise AssertionError(f"partition {p.partition_id}: no leader")
    step("listed partitions 0 and 1")

    topics.delete_kafka_topic(cluster_id, topic)
    wait_for(lambda: read_topic() is None, "deleted topic gone from v3")
    wait_for(lambda: v2_topic(base_url, topic) is None, "deleted topic gone from v2")
    step("deleted the topic")
    step("passed")


if __name__ == "__main__":
    main()
