// A real admin flow through the generated v3 TypeScript SDK (typescript-fetch) against a running
// proxy.
//
// `cargo xtask sdk-test --flows` compiles this file together with the v3 SDK's sources (tsc
// --strict, the versions pinned in package-lock.json) and runs it with Node.js. It lists the
// clusters, creates a topic with a config, reads the topic and the config back, sets another
// config and reads it, lists the partitions, produces records through the streamed `records`
// call and `records:batch`, deletes the topic and checks that it is gone. Every value is
// asserted. Node.js has no native Kafka client here, so what Kafka holds is checked through a
// second view: the v2 API's topic answer, which reads Kafka's configs itself, and the v2
// stateless read of the partition, which returns exactly the records Kafka holds from an offset.
// Kafka's brokers apply a config a moment after its controller accepted it, so each read of a
// config just written (through v3, then through v2) polls until it shows the new value, within
// CONFIG_DEADLINE_MS, and only then asserts every field.
//
// Inputs, from the environment:
//   KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
//   FLOW_RUN           a token unique to this run (the topic name carries it)

import { deepStrictEqual, ok, strictEqual } from "node:assert";

import {
  ClusterApi,
  ConfigSource,
  Configuration,
  ConfigsApi,
  PartitionApi,
  ProduceBatchRequestEntry,
  RecordsApi,
  ResponseError,
  TopicApi,
  TopicData,
} from "../../../generated/sdk-v3/typescript/src";

/** How long a created or deleted topic may take to show (or stop showing) in the answers. */
const VISIBLE_DEADLINE_MS = 15_000;
/**
 * How long a config written through the proxy may take to show in its reads, and the pause between
 * two reads. The controller accepts a change (and the proxy answers) before the brokers, which
 * answer the reads, have applied it, so a read at once may still show the old value.
 */
const CONFIG_DEADLINE_MS = 15_000;
const CONFIG_POLL_MS = 100;

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`flow_v3.ts: ${name} is not set`);
  }
  return value;
}

function step(message: string): void {
  console.log(`[typescript v3 flow] ${message}`);
}

interface V2Topic {
  name: string;
  configs: Record<string, string>;
  partitions: Array<{ partition: number }>;
}

/** The v2 API's view of the topic (its configs come from Kafka), or null when it is unknown. */
async function v2Topic(baseUrl: string, topic: string): Promise<V2Topic | null> {
  const answer = await fetch(`${baseUrl}/topics/${topic}`, {
    headers: { Accept: "application/vnd.kafka.v2+json" },
  });
  if (answer.status === 404) {
    return null;
  }
  strictEqual(answer.status, 200, `v2 topic: status`);
  return (await answer.json()) as V2Topic;
}

/** A record as the v2 stateless read returns it: offset, and key and value as text. */
type HeldRecord = [number, string | null, string | null];

/**
 * The records Kafka holds in the partition from `offset`, through the v2 stateless read (binary
 * format, so the bytes are exact).
 */
async function v2PartitionRecords(
  baseUrl: string,
  topic: string,
  partition: number,
  offset: number,
  timeoutMs: number,
): Promise<HeldRecord[]> {
  const answer = await fetch(
    `${baseUrl}/topics/${topic}/partitions/${partition}/records?offset=${offset}&timeout=${timeoutMs}`,
    { headers: { Accept: "application/vnd.kafka.binary.v2+json" } },
  );
  strictEqual(answer.status, 200, `v2 records of partition ${partition}: status`);
  const records = (await answer.json()) as Array<{
    offset: number;
    key: string | null;
    value: string | null;
  }>;
  const text = (data: string | null) =>
    data === null ? null : Buffer.from(data, "base64").toString("utf-8");
  return records.map((r) => [r.offset, text(r.key), text(r.value)]);
}

/** Polls `condition` until it answers a value that is not null, within the deadline. */
async function waitFor<T>(condition: () => Promise<T | null>, what: string): Promise<T> {
  const deadline = Date.now() + VISIBLE_DEADLINE_MS;
  for (;;) {
    const value = await condition();
    if (value !== null) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`${what}: not seen within ${VISIBLE_DEADLINE_MS} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/**
 * Polls `read` until `valueOf` its answer is `expected`, within the config deadline, and returns
 * that answer. `read` may answer null while the proxy does not know the topic yet; past the
 * deadline, the failure names the last value seen.
 */
async function waitForValue<T>(
  read: () => Promise<T | null>,
  valueOf: (answer: T) => unknown,
  expected: unknown,
  what: string,
): Promise<T> {
  const deadline = Date.now() + CONFIG_DEADLINE_MS;
  for (;;) {
    const answer = await read();
    if (answer !== null && valueOf(answer) === expected) {
      return answer;
    }
    if (Date.now() > deadline) {
      const seen = answer === null ? "a 404 (topic not known)" : JSON.stringify(valueOf(answer));
      throw new Error(
        `${what}: expected ${JSON.stringify(expected)} within ${CONFIG_DEADLINE_MS} ms, ` +
          `last seen ${seen}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, CONFIG_POLL_MS));
  }
}

async function main(): Promise<void> {
  const baseUrl = env("KAFKA_REST_URL").replace(/\/+$/, "");
  const run = env("FLOW_RUN");
  const topic = `sdkflow-v3-${run}`;
  const config = new Configuration({ basePath: `${baseUrl}/v3` });
  const clusters = new ClusterApi(config);
  const topics = new TopicApi(config);
  const configs = new ConfigsApi(config);
  const partitions = new PartitionApi(config);

  const listed = await clusters.listKafkaClusters();
  strictEqual(listed.kind, "KafkaClusterList", "clusters: kind");
  strictEqual(listed.data.length, 1, "clusters: count");
  const clusterId = listed.data[0].clusterId;
  ok(clusterId.length > 0, "clusters: empty cluster_id");
  strictEqual(listed.data[0].kind, "KafkaCluster", "cluster: kind");
  step(`cluster ${clusterId}`);

  const created = await topics.createKafkaTopic({
    clusterId,
    createTopicRequestData: {
      topicName: topic,
      partitionsCount: 2,
      replicationFactor: 1,
      configs: [{ name: "cleanup.policy", value: "compact" }],
    },
  });
  strictEqual(created.kind, "KafkaTopic", "create: kind");
  strictEqual(created.topicName, topic, "create: topic_name");
  strictEqual(created.clusterId, clusterId, "create: cluster_id");
  strictEqual(created.partitionsCount, 2, "create: partitions_count");
  strictEqual(created.replicationFactor, 1, "create: replication_factor");
  strictEqual(created.isInternal, false, "create: is_internal");
  step(`created ${topic}`);

  const readTopic = async (): Promise<TopicData | null> => {
    try {
      return await topics.getKafkaTopic({ clusterId, topicName: topic });
    } catch (err) {
      if (err instanceof ResponseError && err.response.status === 404) {
        return null;
      }
      throw err;
    }
  };
  const read = await waitFor(readTopic, "created topic");
  strictEqual(read.topicName, topic, "read: topic_name");
  strictEqual(read.partitionsCount, 2, "read: partitions_count");
  strictEqual(read.replicationFactor, 1, "read: replication_factor");

  /** A 404 of the proxy (the topic not known yet) as null; any other error is thrown. */
  const unlessUnknown = async <T>(call: () => Promise<T>): Promise<T | null> => {
    try {
      return await call();
    } catch (err) {
      if (err instanceof ResponseError && err.response.status === 404) {
        return null;
      }
      throw err;
    }
  };
  const readConfig = (name: string) =>
    unlessUnknown(() => configs.getKafkaTopicConfig({ clusterId, topicName: topic, name }));

  // The topic and its configs reach a broker together, but with several brokers the config read
  // may be answered by one that has not caught up with the one that showed the topic, so both
  // reads of cleanup.policy wait for it.
  const policy = await waitForValue(
    () => readConfig("cleanup.policy"),
    (c) => c.value,
    "compact",
    "cleanup.policy: value",
  );
  strictEqual(policy.kind, "KafkaTopicConfig", "cleanup.policy: kind");
  strictEqual(policy.topicName, topic, "cleanup.policy: topic_name");
  strictEqual(policy.value, "compact", "cleanup.policy: value");
  strictEqual(policy.isDefault, false, "cleanup.policy: is_default");
  strictEqual(policy.source, ConfigSource.DynamicTopicConfig, "cleanup.policy: source");
  const listedConfigs = await waitForValue(
    () => unlessUnknown(() => configs.listKafkaTopicConfigs({ clusterId, topicName: topic })),
    (list) => list.data.find((c) => c.name === "cleanup.policy")?.value,
    "compact",
    "config list: cleanup.policy",
  );
  const listedPolicy = listedConfigs.data.find((c) => c.name === "cleanup.policy");
  strictEqual(listedPolicy?.value, "compact", "config list: cleanup.policy");
  step("read back cleanup.policy=compact");

  await configs.updateKafkaTopicConfig({
    clusterId,
    topicName: topic,
    name: "retention.ms",
    updateConfigRequestData: { value: "123456" },
  });
  // The PUT answered once the controller accepted the change; the broker that answers the read
  // applies it a moment later, so the read waits for the new value before every field is checked.
  const retention = await waitForValue(
    () => readConfig("retention.ms"),
    (c) => c.value,
    "123456",
    "retention.ms: value",
  );
  strictEqual(retention.value, "123456", "retention.ms: value");
  strictEqual(retention.isDefault, false, "retention.ms: is_default");
  strictEqual(retention.source, ConfigSource.DynamicTopicConfig, "retention.ms: source");
  step("set and read retention.ms=123456");

  // The second view: the v2 API describes the topic from Kafka's own answer. It may come from
  // another broker than the v3 read, which may not have applied the change yet either.
  const v2 = await waitForValue(
    () => v2Topic(baseUrl, topic),
    (t) => t.configs["retention.ms"],
    "123456",
    "v2: retention.ms",
  );
  strictEqual(v2.name, topic, "v2: name");
  strictEqual(v2.configs["cleanup.policy"], "compact", "v2: cleanup.policy");
  strictEqual(v2.configs["retention.ms"], "123456", "v2: retention.ms");
  deepStrictEqual(
    v2.partitions.map((p) => p.partition),
    [0, 1],
    "v2: partitions",
  );

  const parts = await partitions.listKafkaPartitions({ clusterId, topicName: topic });
  strictEqual(parts.kind, "KafkaPartitionList", "partitions: kind");
  deepStrictEqual(
    parts.data.map((p) => p.partitionId),
    [0, 1],
    "partitions: ids",
  );
  for (const p of parts.data) {
    strictEqual(p.topicName, topic, `partition ${p.partitionId}: topic_name`);
    ok(p.leader !== null, `partition ${p.partitionId}: no leader`);
  }
  step("listed partitions 0 and 1");

  // Produce: three records, each its own streamed `records` call (the first with a timestamp),
  // then a batch of three good entries and one bad one. The topic is compacted, so every record
  // has a key.
  const records = new RecordsApi(config);
  const timestamp = new Date("2021-02-05T19:14:42.123Z");
  for (let i = 0; i < 3; i++) {
    const result = await records.produceRecord({
      clusterId,
      topicName: topic,
      produceRequest: {
        partitionId: 0,
        key: { type: "STRING", data: `stream-key-${i}` },
        value: { type: "STRING", data: `stream-value-${i}` },
        timestamp: i === 0 ? timestamp : undefined,
      },
    });
    strictEqual(result.errorCode, 200, `produce ${i}: error_code (${result.message})`);
    strictEqual(result.clusterId, clusterId, `produce ${i}: cluster_id`);
    strictEqual(result.topicName, topic, `produce ${i}: topic_name`);
    strictEqual(result.partitionId, 0, `produce ${i}: partition_id`);
    strictEqual(result.offset, i, `produce ${i}: offset`);
    strictEqual(result.value?.type, "STRING", `produce ${i}: value type`);
    strictEqual(result.value?.size, `stream-value-${i}`.length, `produce ${i}: value size`);
    if (i === 0) {
      strictEqual(result.timestamp?.toISOString(), timestamp.toISOString(), "produce 0: timestamp");
    }
  }
  step("produced 3 records with the streamed records call");

  const entry = (id: string, valueBase64: string): ProduceBatchRequestEntry => ({
    id,
    partitionId: 0,
    key: { type: "STRING", data: `batch-key-${id}` },
    value: { type: "BINARY", data: valueBase64 },
  });
  const b64 = (text: string) => Buffer.from(text, "utf-8").toString("base64");
  const batch = await records.produceRecordsBatch({
    clusterId,
    topicName: topic,
    produceBatchRequest: {
      entries: [
        entry("a", b64("batch-value-a")),
        entry("bad", "not base64!"),
        entry("b", b64("batch-value-b")),
        entry("c", b64("batch-value-c")),
      ],
    },
  });
  deepStrictEqual(
    batch.successes.map((s) => [s.id, s.partitionId, s.offset]),
    [
      ["a", 0, 3],
      ["b", 0, 4],
      ["c", 0, 5],
    ],
    "batch: successes",
  );
  deepStrictEqual(
    batch.failures.map((f) => [f.id, f.errorCode]),
    [["bad", 400]],
    "batch: failures",
  );
  step("produced a batch: 3 acknowledged, the bad entry refused with 400");

  // What Kafka holds: exactly these six records at offsets 0-5 of partition 0, nothing after
  // them, and nothing on partition 1.
  const expected: HeldRecord[] = [0, 1, 2].map(
    (i): HeldRecord => [i, `stream-key-${i}`, `stream-value-${i}`],
  );
  for (const [i, x] of ["a", "b", "c"].entries()) {
    expected.push([3 + i, `batch-key-${x}`, `batch-value-${x}`]);
  }
  const held: HeldRecord[] = [];
  const deadline = Date.now() + VISIBLE_DEADLINE_MS;
  // One read may answer with part of the records; the next goes on from the last offset.
  while (held.length < expected.length && Date.now() < deadline) {
    held.push(...(await v2PartitionRecords(baseUrl, topic, 0, held.length, 1000)));
  }
  deepStrictEqual(held, expected, "partition 0 read back through v2");
  deepStrictEqual(
    await v2PartitionRecords(baseUrl, topic, 0, 6, 300),
    [],
    "partition 0 after offset 5",
  );
  deepStrictEqual(await v2PartitionRecords(baseUrl, topic, 1, 0, 300), [], "partition 1");
  step("read back the 6 records through the v2 stateless read");

  await topics.deleteKafkaTopic({ clusterId, topicName: topic });
  await waitFor(
    async () => ((await readTopic()) === null ? true : null),
    "deleted topic gone from v3",
  );
  await waitFor(
    async () => ((await v2Topic(baseUrl, topic)) === null ? true : null),
    "deleted topic gone from v2",
  );
  step("deleted the topic");
  step("passed");
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
