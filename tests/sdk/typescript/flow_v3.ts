// A real admin flow through the generated v3 TypeScript SDK (typescript-fetch) against a running
// proxy.
//
// `cargo xtask sdk-test --flows` compiles this file together with the v3 SDK's sources (tsc
// --strict, the versions pinned in package-lock.json) and runs it with Node.js. It lists the
// clusters, creates a topic with a config, reads the topic and the config back, sets another
// config and reads it, lists the partitions, deletes the topic and checks that it is gone. Every
// value is asserted. Node.js has no native Kafka client here, so what Kafka holds is checked
// through a second view: the v2 API's topic answer, which reads Kafka's configs itself.
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
  ResponseError,
  TopicApi,
  TopicData,
} from "../../../generated/sdk-v3/typescript/src";

/** How long a created or deleted topic may take to show (or stop showing) in the answers. */
const VISIBLE_DEADLINE_MS = 15_000;

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

  const policy = await configs.getKafkaTopicConfig({
    clusterId,
    topicName: topic,
    name: "cleanup.policy",
  });
  strictEqual(policy.kind, "KafkaTopicConfig", "cleanup.policy: kind");
  strictEqual(policy.topicName, topic, "cleanup.policy: topic_name");
  strictEqual(policy.value, "compact", "cleanup.policy: value");
  strictEqual(policy.isDefault, false, "cleanup.policy: is_default");
  strictEqual(policy.source, ConfigSource.DynamicTopicConfig, "cleanup.policy: source");
  const listedConfigs = await configs.listKafkaTopicConfigs({ clusterId, topicName: topic });
  const listedPolicy = listedConfigs.data.find((c) => c.name === "cleanup.policy");
  strictEqual(listedPolicy?.value, "compact", "config list: cleanup.policy");
  step("read back cleanup.policy=compact");

  await configs.updateKafkaTopicConfig({
    clusterId,
    topicName: topic,
    name: "retention.ms",
    updateConfigRequestData: { value: "123456" },
  });
  const retention = await configs.getKafkaTopicConfig({
    clusterId,
    topicName: topic,
    name: "retention.ms",
  });
  strictEqual(retention.value, "123456", "retention.ms: value");
  strictEqual(retention.isDefault, false, "retention.ms: is_default");
  strictEqual(retention.source, ConfigSource.DynamicTopicConfig, "retention.ms: source");
  step("set and read retention.ms=123456");

  // The second view: the v2 API describes the topic from Kafka's own answer.
  const v2 = await waitFor(() => v2Topic(baseUrl, topic), "the topic through v2");
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
