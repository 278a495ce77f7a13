"""A real client flow through the generated Python SDK (`kafka_rest_client`) against a running proxy.

`cargo xtask sdk-test --flows` runs this with the SDK installed into a venv, after creating
the three topics it names (there is no create-topic endpoint). It lists and reads topics,
produces json, binary and avro records (the last with a value schema), then reads each topic
back through a consumer instance of the matching format: create, subscribe, read until the
records arrive (bounded), commit, check the committed offsets, delete. Every value is asserted.

Inputs, from the environment:
  KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
  FLOW_RUN           a token unique to this run (group names and values carry it)
  FLOW_TOPIC_JSON, FLOW_TOPIC_BINARY, FLOW_TOPIC_AVRO   empty topics with one partition
"""

import base64
import json
import os
import sys
import time
import urllib.request

import kafka_rest_client
from kafka_rest_client.models import (
    CreateConsumerRequest,
    ProduceRecord,
    ProduceRecordHeader,
    ProduceRequest,
    SubscriptionRequest,
)

V2 = "application/vnd.kafka.v2+json"
JSON = "application/vnd.kafka.json.v2+json"
BINARY = "application/vnd.kafka.binary.v2+json"
AVRO = "application/vnd.kafka.avro.v2+json"

# How long one topic may take to deliver its records to a new consumer (group join included).
READ_DEADLINE_S = 60.0

AVRO_SCHEMA = json.dumps(
    {
        "type": "record",
        "name": "User",
        "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}],
    }
)


def env(name):
    value = os.environ.get(name)
    if not value:
        sys.exit(f"flow.py: {name} is not set")
    return value


def b64(data):
    return base64.b64encode(data).decode("ascii")


def step(message):
    print(f"[python flow] {message}", flush=True)


def expect(actual, expected, what):
    if actual != expected:
        raise AssertionError(f"{what}: expected {expected!r}, got {actual!r}")


def check_offsets(response, count, what):
    """Every record went to partition 0, at consecutive offsets, without error."""
    expect(len(response.offsets), count, f"{what}: offset entries")
    for i, entry in enumerate(response.offsets):
        expect(entry.error_code, None, f"{what}: error_code of record {i}")
        expect(entry.error, None, f"{what}: error of record {i}")
        expect(entry.partition, 0, f"{what}: partition of record {i}")
    first = response.offsets[0].offset
    expect(
        [e.offset for e in response.offsets],
        list(range(first, first + count)),
        f"{what}: offsets",
    )


def committed_offsets(base_url, group, instance, topic):
    """GET .../offsets carries its partitions in the body, which the SDK's urllib3 client
    drops (see README, "Known limits"), so this one call is plain HTTP."""
    body = json.dumps({"partitions": [{"topic": topic, "partition": 0}]}).encode()
    request = urllib.request.Request(
        f"{base_url}/consumers/{group}/instances/{instance}/offsets",
        data=body,
        method="GET",
        headers={"Content-Type": V2, "Accept": V2},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)["offsets"]


def avro_framed(schema_id, name, age):
    """The Confluent wire format of a `User` record: magic byte 0, the schema id (4 bytes, big
    endian), then Avro's binary encoding (a string is its zigzag varint length and UTF-8
    bytes, an int its zigzag varint)."""

    def varint(n):
        n = (n << 1) ^ (n >> 63)
        out = bytearray()
        while True:
            byte = n & 0x7F
            n >>= 7
            if n:
                out.append(byte | 0x80)
            else:
                out.append(byte)
                return bytes(out)

    text = name.encode()
    return b"\x00" + schema_id.to_bytes(4, "big") + varint(len(text)) + text + varint(age)


def consume(client, base_url, run, topic, fmt, accept, expected, label=None):
    """Reads `expected` (a list of (key, value) pairs) back from `topic` through a new
    consumer instance of format `fmt`, commits, checks the commit and deletes the instance."""
    consumers = kafka_rest_client.ConsumersApi(client)
    label = label or fmt
    group = f"flow-{run}-{label}"
    created = consumers.create_consumer(
        group,
        CreateConsumerRequest.from_dict(
            {
                "name": f"{fmt}-reader",
                "format": fmt,
                "auto.offset.reset": "earliest",
                "auto.commit.enable": "false",
            }
        ),
    )
    instance = created.instance_id
    expect(instance, f"{fmt}-reader", f"{fmt}: instance_id")
    if not created.base_uri.endswith(f"/consumers/{group}/instances/{instance}"):
        raise AssertionError(f"{fmt}: unexpected base_uri {created.base_uri}")
    step(f"{label}: consumer {group}/{instance} created")
    try:
        read_and_commit(consumers, base_url, group, instance, topic, label, accept, expected)
    finally:
        consumers.delete_consumer(group, instance)
    try:
        consumers.get_subscription(group, instance)
        raise AssertionError(f"{label}: the deleted instance still answers")
    except kafka_rest_client.ApiException as err:
        expect(err.status, 404, f"{label}: status after delete")
    step(f"{label}: consumer deleted")


def read_and_commit(consumers, base_url, group, instance, topic, fmt, accept, expected):

    consumers.subscribe(group, instance, SubscriptionRequest(topics=[topic]))
    expect(consumers.get_subscription(group, instance).topics, [topic], f"{fmt}: subscription")

    records = []
    deadline = time.monotonic() + READ_DEADLINE_S
    while len(records) < len(expected):
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{fmt}: {len(records)} of {len(expected)} records after {READ_DEADLINE_S:.0f} s"
            )
        records += consumers.read_records(
            group, instance, timeout=1000, _headers={"Accept": accept}
        )
    expect(len(records), len(expected), f"{fmt}: records read")
    for i, (record, (key, value)) in enumerate(zip(records, expected)):
        expect(record.topic, topic, f"{fmt}: topic of record {i}")
        expect(record.partition, 0, f"{fmt}: partition of record {i}")
        expect(record.key, key, f"{fmt}: key of record {i}")
        expect(record.value, value, f"{fmt}: value of record {i}")
        if record.timestamp is None or record.timestamp <= 0:
            raise AssertionError(f"{fmt}: record {i} has no timestamp")
    step(f"{fmt}: read {len(records)} record(s) back")

    expect(consumers.commit_offsets(group, instance), [], f"{fmt}: commit answer")
    committed = committed_offsets(base_url, group, instance, topic)
    expect(
        [(c["topic"], c["partition"], c["offset"]) for c in committed],
        [(topic, 0, records[-1].offset + 1)],
        f"{fmt}: committed offsets",
    )
    step(f"{fmt}: committed offset {records[-1].offset + 1}")


def stateless_read(client, topic, accept, expected, fmt):
    """Reads `expected` back from partition 0 of `topic` with stateless reads (no consumer
    instance), paging from the offset after the last record each answer held."""
    partitions = kafka_rest_client.PartitionsApi(client)
    records = []
    offset = 0
    deadline = time.monotonic() + READ_DEADLINE_S
    while len(records) < len(expected):
        if time.monotonic() > deadline:
            raise AssertionError(f"{fmt}: stateless reads got {len(records)} of {len(expected)}")
        page = partitions.read_partition_records(
            topic, 0, offset=offset, timeout=1000, count=1, _headers={"Accept": accept}
        )
        records += page
        if page:
            offset = page[-1].offset + 1
    expect([r.offset for r in records], list(range(len(expected))), f"{fmt}: stateless offsets")
    expect(
        [(r.key, r.value) for r in records],
        [tuple(pair) for pair in expected],
        f"{fmt}: stateless records",
    )
    step(f"{fmt}: read {len(records)} record(s) back with stateless reads, one per call")


def main():
    base_url = env("KAFKA_REST_URL").rstrip("/")
    run = env("FLOW_RUN")
    json_topic = env("FLOW_TOPIC_JSON")
    binary_topic = env("FLOW_TOPIC_BINARY")
    avro_topic = env("FLOW_TOPIC_AVRO")

    client = kafka_rest_client.ApiClient(kafka_rest_client.Configuration(host=base_url))
    topics = kafka_rest_client.TopicsApi(client)
    produce = kafka_rest_client.ProduceApi(client)

    names = topics.list_topics()
    for topic in (json_topic, binary_topic, avro_topic):
        if topic not in names:
            raise AssertionError(f"list_topics does not list {topic}")
    step(f"list_topics: {len(names)} topics, ours among them")

    topic = topics.get_topic(json_topic)
    expect(topic.name, json_topic, "get_topic: name")
    expect([p.partition for p in topic.partitions], [0], "get_topic: partitions")
    expect(topic.partitions[0].replicas[0].leader, True, "get_topic: leader replica")
    if "cleanup.policy" not in topic.configs:
        raise AssertionError("get_topic: configs lack cleanup.policy")
    step(f"get_topic {json_topic}: 1 partition, {len(topic.configs)} configs")

    # json: any JSON value, keys too.
    json_records = [
        ("user-1", {"name": "testUser", "run": run, "tags": ["a", "b"], "n": 1}),
        (None, [1, 2.5, "three", None, True]),
    ]
    answer = produce.produce_to_topic(
        json_topic,
        ProduceRequest(records=[ProduceRecord(key=k, value=v) for k, v in json_records]),
        _content_type=JSON,
    )
    check_offsets(answer, 2, "json produce")
    expect((answer.key_schema_id, answer.value_schema_id), (None, None), "json: schema ids")
    step("json: produced 2 records")

    # binary: base64 keys and values, arbitrary bytes, and a header.
    binary_records = [
        (b64(b"key-1"), b64(b"Kafka")),
        (None, b64(bytes(range(256)) + run.encode())),
    ]
    answer = produce.produce_to_topic(
        binary_topic,
        ProduceRequest(
            records=[
                ProduceRecord(
                    key=k,
                    value=v,
                    headers=[ProduceRecordHeader(name="trace", value=b64(b"123"))],
                )
                for k, v in binary_records
            ]
        ),
        _content_type=BINARY,
    )
    check_offsets(answer, 2, "binary produce")
    step("binary: produced 2 records")

    # avro: the schema as text first, then its id.
    first = {"name": f"testUser-{run}", "age": 42}
    answer = produce.produce_to_topic(
        avro_topic,
        ProduceRequest(value_schema=AVRO_SCHEMA, records=[ProduceRecord(value=first)]),
        _content_type=AVRO,
    )
    check_offsets(answer, 1, "avro produce with value_schema")
    schema_id = answer.value_schema_id
    if not isinstance(schema_id, int):
        raise AssertionError(f"avro: value_schema_id is {schema_id!r}")
    second = {"name": "second", "age": -1}
    answer = produce.produce_to_topic(
        avro_topic,
        ProduceRequest(value_schema_id=schema_id, records=[ProduceRecord(value=second)]),
        _content_type=AVRO,
    )
    check_offsets(answer, 1, "avro produce with value_schema_id")
    expect(answer.value_schema_id, schema_id, "avro: schema id of the second produce")
    step(f"avro: produced 2 records with schema id {schema_id}")

    stateless_read(client, json_topic, JSON, json_records, "json")
    stateless_read(client, binary_topic, BINARY, binary_records, "binary")

    consume(client, base_url, run, json_topic, "json", JSON, json_records)
    consume(client, base_url, run, binary_topic, "binary", BINARY, binary_records)
    try:
        consume(client, base_url, run, avro_topic, "avro", AVRO, [(None, first), (None, second)])
    except kafka_rest_client.ApiException as err:
        # Reading the schema formats is not implemented in the proxy yet (its answer is 501).
        # Until it is, the flow checks what the avro produce wrote, byte for byte, through a
        # binary consumer; once avro reads work, the branch above asserts the values instead.
        if err.status != 501:
            raise
        step("avro: the proxy answers 501 to avro reads; checking the wire format with a binary consumer")
        framed = [
            (None, b64(avro_framed(schema_id, first["name"], first["age"]))),
            (None, b64(avro_framed(schema_id, second["name"], second["age"]))),
        ]
        consume(client, base_url, run, avro_topic, "binary", BINARY, framed, label="avro-as-binary")
    step("passed")


if __name__ == "__main__":
    main()
