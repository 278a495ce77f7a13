"""A real admin flow through the generated v3 Python SDK (`kafka_rest_v3`) against a running proxy.

`cargo xtask sdk-test --flows` runs this in the same venv as flow.py, with the v3 SDK installed
next to the v2 one. It lists the clusters, creates a topic with a config, reads the topic and the
config back, sets another config and reads it, lists the partitions, produces records through the
streamed `records` call and `records:batch`, deletes the topic and checks that it is gone. Every
value is asserted. The venv holds no native Kafka client, so what Kafka holds is checked through a
second view: the v2 API's topic answer, which reads Kafka's configs itself, and the v2 stateless
read of the partition, which returns exactly the records Kafka holds from an offset. Kafka's
brokers apply a config a moment after its controller accepted it, so each read of a config just
written (through v3, then through v2) polls until it shows the new value, within
CONFIG_DEADLINE_S, and only then asserts every field.

Inputs, from the environment:
  KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
  FLOW_RUN           a token unique to this run (the topic name carries it)
"""

import base64
import json
import os
import sys
import time
import urllib.error
import urllib.request

import kafka_rest_v3
from kafka_rest_v3.models import (
    CreateTopicConfig,
    CreateTopicRequestData,
    ProduceBatchRequest,
    ProduceBatchRequestEntry,
    ProduceRequest,
    ProduceRequestData,
    UpdateConfigRequestData,
)

# How long a created or deleted topic may take to show (or stop showing) in the proxy's answers.
VISIBLE_DEADLINE_S = 15.0
# How long a config written through the proxy may take to show in its reads, and the pause between
# two reads. The controller accepts a change (and the proxy answers) before the brokers, which
# answer the reads, have applied it, so a read at once may still show the old value.
CONFIG_DEADLINE_S = 15.0
CONFIG_POLL_S = 0.1


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


def v2_partition_records(base_url, topic, partition, offset, timeout_ms):
    """The records Kafka holds in the partition from `offset`, as (offset, key, value) with the
    key and value as text, through the v2 stateless read (binary format, so the bytes are exact)."""
    request = urllib.request.Request(
        f"{base_url}/topics/{topic}/partitions/{partition}/records"
        f"?offset={offset}&timeout={timeout_ms}",
        headers={"Accept": "application/vnd.kafka.binary.v2+json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        records = json.loads(answer.read())

    def text(data):
        return None if data is None else base64.b64decode(data).decode("utf-8")

    return [(r["offset"], text(r["key"]), text(r["value"])) for r in records]


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


def wait_for_value(read, value_of, expected, what):
    """Polls `read` until `value_of` its answer is `expected`, within the config deadline, and
    returns that answer. `read` may answer None while the proxy does not know the topic yet; past
    the deadline, the failure names the last value seen."""
    deadline = time.monotonic() + CONFIG_DEADLINE_S
    while True:
        answer = read()
        if answer is not None and value_of(answer) == expected:
            return answer
        if time.monotonic() > deadline:
            seen = "a 404 (topic not known)" if answer is None else repr(value_of(answer))
            raise AssertionError(
                f"{what}: expected {expected!r} within {CONFIG_DEADLINE_S}s, last seen {seen}"
            )
        time.sleep(CONFIG_POLL_S)


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

    def read_config(name):
        """The topic's config `name`, or None when the proxy answers 404 (topic not known yet)."""
        try:
            return configs.get_kafka_topic_config(cluster_id, topic, name)
        except kafka_rest_v3.ApiException as err:
            if err.status == 404:
                return None
            raise

    def read_configs():
        """The topic's configs by name, or None when the proxy answers 404."""
        try:
            listed = configs.list_kafka_topic_configs(cluster_id, topic)
        except kafka_rest_v3.ApiException as err:
            if err.status == 404:
                return None
            raise
        return {c.name: c.value for c in listed.data}

    # The topic and its configs reach a broker together, but with several brokers the config read
    # may be answered by one that has not caught up with the one that showed the topic, so both
    # reads of cleanup.policy wait for it.
    policy = wait_for_value(
        lambda: read_config("cleanup.policy"), lambda c: c.value, "compact", "cleanup.policy: value"
    )
    expect(policy.kind, "KafkaTopicConfig", "cleanup.policy: kind")
    expect(policy.topic_name, topic, "cleanup.policy: topic_name")
    expect(policy.value, "compact", "cleanup.policy: value")
    expect(policy.is_default, False, "cleanup.policy: is_default")
    expect(policy.source.value, "DYNAMIC_TOPIC_CONFIG", "cleanup.policy: source")
    by_name = wait_for_value(
        read_configs, lambda c: c.get("cleanup.policy"), "compact", "config list: cleanup.policy"
    )
    expect(by_name.get("cleanup.policy"), "compact", "config list: cleanup.policy")
    step("read back cleanup.policy=compact")

    configs.update_kafka_topic_config(
        cluster_id, topic, "retention.ms", UpdateConfigRequestData(value="123456")
    )
    # The PUT answered once the controller accepted the change; the broker that answers the read
    # applies it a moment later, so the read waits for the new value before every field is checked.
    retention = wait_for_value(
        lambda: read_config("retention.ms"), lambda c: c.value, "123456", "retention.ms: value"
    )
    expect(retention.value, "123456", "retention.ms: value")
    expect(retention.is_default, False, "retention.ms: is_default")
    expect(retention.source.value, "DYNAMIC_TOPIC_CONFIG", "retention.ms: source")
    step("set and read retention.ms=123456")

    # The second view: the v2 API describes the topic from Kafka's own answer. It may come from
    # another broker than the v3 read, which may not have applied the change yet either.
    v2 = wait_for_value(
        lambda: v2_topic(base_url, topic),
        lambda t: t["configs"].get("retention.ms"),
        "123456",
        "v2: retention.ms",
    )
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

    # Produce: three records, each its own streamed `records` call, then a batch of three good
    # entries and one bad one. The topic is compacted, so every record has a key.
    records = kafka_rest_v3.RecordsApi(client)
    for i in range(3):
        result = records.produce_record(
            cluster_id,
            topic,
            ProduceRequest(
                partition_id=0,
                key=ProduceRequestData(type="STRING", data=f"stream-key-{i}"),
                value=ProduceRequestData(type="STRING", data=f"stream-value-{i}"),
            ),
        )
        expect(result.error_code, 200, f"produce {i}: error_code ({result.message})")
        expect(result.cluster_id, cluster_id, f"produce {i}: cluster_id")
        expect(result.topic_name, topic, f"produce {i}: topic_name")
        expect(result.partition_id, 0, f"produce {i}: partition_id")
        expect(result.offset, i, f"produce {i}: offset")
        expect(result.value.type, "STRING", f"produce {i}: value type")
        expect(result.value.size, len(f"stream-value-{i}"), f"produce {i}: value size")
    step("produced 3 records with the streamed records call")

    def entry(entry_id, value_base64):
        return ProduceBatchRequestEntry(
            id=entry_id,
            partition_id=0,
            key=ProduceRequestData(type="STRING", data=f"batch-key-{entry_id}"),
            value=ProduceRequestData(type="BINARY", data=value_base64),
        )

    def b64(text):
        return base64.b64encode(text.encode("utf-8")).decode("ascii")

    batch = records.produce_records_batch(
        cluster_id,
        topic,
        ProduceBatchRequest(
            entries=[
                entry("a", b64("batch-value-a")),
                entry("bad", "not base64!"),
                entry("b", b64("batch-value-b")),
                entry("c", b64("batch-value-c")),
            ]
        ),
    )
    expect(
        [(s.id, s.partition_id, s.offset) for s in batch.successes],
        [("a", 0, 3), ("b", 0, 4), ("c", 0, 5)],
        "batch: successes",
    )
    expect([(f.id, f.error_code) for f in batch.failures], [("bad", 400)], "batch: failures")
    step("produced a batch: 3 acknowledged, the bad entry refused with 400")

    # What Kafka holds: exactly these six records at offsets 0-5 of partition 0, nothing after
    # them, and nothing on partition 1.
    expected = [(i, f"stream-key-{i}", f"stream-value-{i}") for i in range(3)] + [
        (3 + i, f"batch-key-{x}", f"batch-value-{x}") for i, x in enumerate("abc")
    ]
    held = []
    deadline = time.monotonic() + VISIBLE_DEADLINE_S
    # One read may answer with part of the records; the next goes on from the last offset.
    while len(held) < len(expected) and time.monotonic() < deadline:
        held += v2_partition_records(base_url, topic, 0, len(held), 1000)
    expect(held, expected, "partition 0 read back through v2")
    expect(v2_partition_records(base_url, topic, 0, 6, 300), [], "partition 0 after offset 5")
    expect(v2_partition_records(base_url, topic, 1, 0, 300), [], "partition 1")
    step("read back the 6 records through the v2 stateless read")

    topics.delete_kafka_topic(cluster_id, topic)
    wait_for(lambda: read_topic() is None, "deleted topic gone from v3")
    wait_for(lambda: v2_topic(base_url, topic) is None, "deleted topic gone from v2")
    step("deleted the topic")
    step("passed")


if __name__ == "__main__":
    main()
