// A real client flow through the generated TypeScript SDK (typescript-fetch) against a running
// proxy.
//
// `cargo xtask sdk-test --flows` compiles this file together with the SDK's sources (tsc
// --strict, the versions pinned in package-lock.json) and runs it with Node.js, after creating
// the three topics it names (there is no create-topic endpoint). It lists and reads topics,
// produces json, binary and avro records (the last with a value schema), then reads each topic
// back through a consumer instance of the matching format: create, subscribe, read until the
// records arrive (bounded), commit, check the committed offsets, delete. Every value is
// asserted.
//
// Inputs, from the environment:
//   KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
//   FLOW_RUN           a token unique to this run (group names and values carry it)
//   FLOW_TOPIC_JSON, FLOW_TOPIC_BINARY, FLOW_TOPIC_AVRO   empty topics with one partition

import { deepStrictEqual, ok, strictEqual } from "node:assert";
import * as http from "node:http";

import {
  Configuration,
  ConsumerRecord,
  ConsumersApi,
  PartitionsApi,
  ProduceApi,
  ProduceResponse,
  ResponseError,
  TopicsApi,
} from "../../../generated/sdk/typescript/src";

const V2 = "application/vnd.kafka.v2+json";
const JSON_TYPE = "application/vnd.kafka.json.v2+json";
const BINARY = "application/vnd.kafka.binary.v2+json";
const AVRO = "application/vnd.kafka.avro.v2+json";

/** How long one topic may take to deliver its records to a new consumer (group join included). */
const READ_DEADLINE_MS = 60_000;

const AVRO_SCHEMA = JSON.stringify({
  type: "record",
  name: "User",
  fields: [
    { name: "name", type: "string" },
    { name: "age", type: "int" },
  ],
});

type Pair = [key: unknown, value: unknown];

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    throw new Error(`flow.ts: ${name} is not set`);
  }
  return value;
}

function b64(text: string | Uint8Array): string {
  return Buffer.from(text).toString("base64");
}

function step(message: string): void {
  console.log(`[typescript flow] ${message}`);
}

/** Every record went to partition 0, at consecutive offsets, without error. */
function checkOffsets(answer: ProduceResponse, count: number, what: string): void {
  strictEqual(answer.offsets.length, count, `${what}: offset entries`);
  answer.offsets.forEach((entry, i) => {
    strictEqual(entry.errorCode, null, `${what}: error_code of record ${i}`);
    strictEqual(entry.error, null, `${what}: error of record ${i}`);
    strictEqual(entry.partition, 0, `${what}: partition of record ${i}`);
  });
  const first = answer.offsets[0].offset as number;
  deepStrictEqual(
    answer.offsets.map((entry) => entry.offset),
    Array.from({ length: count }, (_, i) => first + i),
    `${what}: offsets`,
  );
}

/**
 * GET .../offsets carries its partitions in the body, which `fetch` refuses to send (see
 * README, "Known limits"), so this one call is plain HTTP.
 */
function committedOffsets(
  baseUrl: string,
  group: string,
  instance: string,
  topic: string,
): Promise<Array<{ topic: string; partition: number; offset: number }>> {
  const body = JSON.stringify({ partitions: [{ topic, partition: 0 }] });
  const url = new URL(`${baseUrl}/consumers/${group}/instances/${instance}/offsets`);
  return new Promise((resolve, reject) => {
    const request = http.request(
      url,
      {
        method: "GET",
        headers: { "Content-Type": V2, Accept: V2, "Content-Length": Buffer.byteLength(body) },
        timeout: 30_000,
      },
      (answer) => {
        let text = "";
        answer.setEncoding("utf8");
        answer.on("data", (chunk: string) => (text += chunk));
        answer.on("end", () => {
          if (answer.statusCode !== 200) {
            reject(new Error(`GET offsets answered ${answer.statusCode}: ${text}`));
          } else {
            resolve(JSON.parse(text).offsets);
          }
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * The Confluent wire format of a `User` record: magic byte 0, the schema id (4 bytes, big
 * endian), then Avro's binary encoding (a string is its zigzag varint length and UTF-8 bytes,
 * an int its zigzag varint).
 */
function avroFramed(schemaId: number, name: string, age: number): Buffer {
  const varint = (n: number): number[] => {
    let z = n >= 0 ? n * 2 : -n * 2 - 1;
    const out: number[] = [];
    while (z >= 0x80) {
      out.push((z % 0x80) | 0x80);
      z = Math.floor(z / 0x80);
    }
    out.push(z);
    return out;
  };
  const id = Buffer.alloc(4);
  id.writeUInt32BE(schemaId);
  const text = Buffer.from(name);
  return Buffer.concat([
    Buffer.from([0]),
    id,
    Buffer.from(varint(text.length)),
    text,
    Buffer.from(varint(age)),
  ]);
}

/**
 * Reads `expected` back from `topic` through a new consumer instance of format `format`,
 * commits, checks the commit and deletes the instance.
 */
async function consume(
  config: Configuration,
  baseUrl: string,
  run: string,
  topic: string,
  format: string,
  accept: string,
  expected: Pair[],
  label: string = format,
): Promise<void> {
  const consumers = new ConsumersApi(config);
  const groupName = `flow-${run}-${label}`;
  const created = await consumers.createConsumer({
    groupName,
    createConsumerRequest: {
      name: `${format}-reader`,
      format,
      autoOffsetReset: "earliest",
      autoCommitEnable: "false",
    },
  });
  const instance = created.instanceId;
  strictEqual(instance, `${format}-reader`, `${format}: instance_id`);
  ok(
    created.baseUri.endsWith(`/consumers/${groupName}/instances/${instance}`),
    `${format}: unexpected base_uri ${created.baseUri}`,
  );
  step(`${label}: consumer ${groupName}/${instance} created`);
  try {
    await readAndCommit(consumers, baseUrl, groupName, instance, topic, label, accept, expected);
  } finally {
    await consumers.deleteConsumer({ groupName, instance });
  }
  try {
    await consumers.getSubscription({ groupName, instance });
    throw new Error(`${label}: the deleted instance still answers`);
  } catch (err) {
    ok(err instanceof ResponseError, `${label}: ${err}`);
    strictEqual(err.response.status, 404, `${label}: status after delete`);
  }
  step(`${label}: consumer deleted`);
}

async function readAndCommit(
  consumers: ConsumersApi,
  baseUrl: string,
  groupName: string,
  instance: string,
  topic: string,
  format: string,
  accept: string,
  expected: Pair[],
): Promise<void> {

  await consumers.subscribe({
    groupName,
    instance,
    subscriptionRequest: { topics: [topic] },
  });
  const subscription = await consumers.getSubscription({ groupName, instance });
  deepStrictEqual(subscription.topics, [topic], `${format}: subscription`);

  const records: ConsumerRecord[] = [];
  const deadline = Date.now() + READ_DEADLINE_MS;
  while (records.length < expected.length) {
    if (Date.now() > deadline) {
      throw new Error(
        `${format}: ${records.length} of ${expected.length} records after ${READ_DEADLINE_MS / 1000} s`,
      );
    }
    records.push(
      ...(await consumers.readRecords(
        { groupName, instance, timeout: 1000 },
        { headers: { Accept: accept } },
      )),
    );
  }
  strictEqual(records.length, expected.length, `${format}: records read`);
  records.forEach((record, i) => {
    const [key, value] = expected[i];
    strictEqual(record.topic, topic, `${format}: topic of record ${i}`);
    strictEqual(record.partition, 0, `${format}: partition of record ${i}`);
    deepStrictEqual(record.key, key, `${format}: key of record ${i}`);
    deepStrictEqual(record.value, value, `${format}: value of record ${i}`);
    ok(record.timestamp !== null && record.timestamp > 0, `${format}: record ${i} has no timestamp`);
  });
  step(`${format}: read ${records.length} record(s) back`);

  deepStrictEqual(await consumers.commitOffsets({ groupName, instance }), [], `${format}: commit answer`);
  const last = records[records.length - 1].offset;
  const committed = await committedOffsets(baseUrl, groupName, instance, topic);
  deepStrictEqual(
    committed.map((c) => [c.topic, c.partition, c.offset]),
    [[topic, 0, last + 1]],
    `${format}: committed offsets`,
  );
  step(`${format}: committed offset ${last + 1}`);
}

// Reads `expected` back from partition 0 of `topic` with stateless reads (no consumer
// instance), paging from the offset after the last record each answer held.
async function statelessRead(
  config: Configuration,
  topic: string,
  accept: string,
  expected: Pair[],
  format: string,
): Promise<void> {
  const partitions = new PartitionsApi(config);
  const records: ConsumerRecord[] = [];
  let offset = 0;
  const deadline = Date.now() + READ_DEADLINE_MS;
  while (records.length < expected.length) {
    ok(Date.now() <= deadline, `${format}: stateless reads got ${records.length} of ${expected.length}`);
    const page = await partitions.readPartitionRecords(
      { topicName: topic, partitionId: 0, offset, timeout: 1000, count: 1 },
      { headers: { Accept: accept } },
    );
    records.push(...page);
    if (page.length > 0) {
      offset = page[page.length - 1].offset + 1;
    }
  }
  deepStrictEqual(
    records.map((r) => r.offset),
    expected.map((_, i) => i),
    `${format}: stateless offsets`,
  );
  deepStrictEqual(
    records.map((r) => [r.key, r.value]),
    expected,
    `${format}: stateless records`,
  );
  step(`${format}: read ${records.length} record(s) back with stateless reads, one per call`);
}

async function main(): Promise<void> {
  const baseUrl = env("KAFKA_REST_URL").replace(/\/+$/, "");
  const run = env("FLOW_RUN");
  const jsonTopic = env("FLOW_TOPIC_JSON");
  const binaryTopic = env("FLOW_TOPIC_BINARY");
  const avroTopic = env("FLOW_TOPIC_AVRO");

  const config = new Configuration({ basePath: baseUrl });
  const topics = new TopicsApi(config);
  const produce = new ProduceApi(config);

  const names = await topics.listTopics();
  for (const topic of [jsonTopic, binaryTopic, avroTopic]) {
    ok(names.includes(topic), `listTopics does not list ${topic}`);
  }
  step(`listTopics: ${names.length} topics, ours among them`);

  const topic = await topics.getTopic({ topicName: jsonTopic });
  strictEqual(topic.name, jsonTopic, "getTopic: name");
  deepStrictEqual(
    topic.partitions.map((p) => p.partition),
    [0],
    "getTopic: partitions",
  );
  strictEqual(topic.partitions[0].replicas[0].leader, true, "getTopic: leader replica");
  ok("cleanup.policy" in topic.configs, "getTopic: configs lack cleanup.policy");
  step(`getTopic ${jsonTopic}: 1 partition, ${Object.keys(topic.configs).length} configs`);

  // json: any JSON value, keys too. The format is chosen per call with Content-Type.
  const jsonRecords: Pair[] = [
    ["user-1", { name: "testUser", run, tags: ["a", "b"], n: 1 }],
    [null, [1, 2.5, "three", null, true]],
  ];
  let answer = await produce.produceToTopic(
    { topicName: jsonTopic, produceRequest: { records: jsonRecords.map(([key, value]) => ({ key, value })) } },
    { headers: { "Content-Type": JSON_TYPE } },
  );
  checkOffsets(answer, 2, "json produce");
  deepStrictEqual([answer.keySchemaId, answer.valueSchemaId], [null, null], "json: schema ids");
  step("json: produced 2 records");

  // binary: base64 keys and values, arbitrary bytes, and a header.
  const allBytes = Uint8Array.from({ length: 256 }, (_, i) => i);
  const binaryRecords: Pair[] = [
    [b64("key-1"), b64("Kafka")],
    [null, b64(Buffer.concat([allBytes, Buffer.from(run)]))],
  ];
  answer = await produce.produceToTopic(
    {
      topicName: binaryTopic,
      produceRequest: {
        records: binaryRecords.map(([key, value]) => ({
          key,
          value,
          headers: [{ name: "trace", value: b64("123") }],
        })),
      },
    },
    { headers: { "Content-Type": BINARY } },
  );
  checkOffsets(answer, 2, "binary produce");
  step("binary: produced 2 records");

  // avro: the schema as text first, then its id.
  const first = { name: `testUser-${run}`, age: 42 };
  answer = await produce.produceToTopic(
    { topicName: avroTopic, produceRequest: { valueSchema: AVRO_SCHEMA, records: [{ value: first }] } },
    { headers: { "Content-Type": AVRO } },
  );
  checkOffsets(answer, 1, "avro produce with value_schema");
  const schemaId = answer.valueSchemaId;
  ok(typeof schemaId === "number", `avro: value_schema_id is ${schemaId}`);
  const second = { name: "second", age: -1 };
  answer = await produce.produceToTopic(
    { topicName: avroTopic, produceRequest: { valueSchemaId: schemaId, records: [{ value: second }] } },
    { headers: { "Content-Type": AVRO } },
  );
  checkOffsets(answer, 1, "avro produce with value_schema_id");
  strictEqual(answer.valueSchemaId, schemaId, "avro: schema id of the second produce");
  step(`avro: produced 2 records with schema id ${schemaId}`);

  await statelessRead(config, jsonTopic, JSON_TYPE, jsonRecords, "json");
  await statelessRead(config, binaryTopic, BINARY, binaryRecords, "binary");

  await consume(config, baseUrl, run, jsonTopic, "json", JSON_TYPE, jsonRecords);
  await consume(config, baseUrl, run, binaryTopic, "binary", BINARY, binaryRecords);
  try {
    await consume(config, baseUrl, run, avroTopic, "avro", AVRO, [
      [null, first],
      [null, second],
    ]);
  } catch (err) {
    // Reading the schema formats is not implemented in the proxy yet (its answer is 501).
    // Until it is, the flow checks what the avro produce wrote, byte for byte, through a
    // binary consumer; once avro reads work, the branch above asserts the values instead.
    if (!(err instanceof ResponseError) || err.response.status !== 501) {
      throw err;
    }
    step("avro: the proxy answers 501 to avro reads; checking the wire format with a binary consumer");
    const id = schemaId as number;
    await consume(
      config,
      baseUrl,
      run,
      avroTopic,
      "binary",
      BINARY,
      [
        [null, b64(avroFramed(id, first.name, first.age))],
        [null, b64(avroFramed(id, second.name, second.age))],
      ],
      "avro-as-binary",
    );
  }
  step("passed");
}

main().catch(async (err: unknown) => {
  if (err instanceof ResponseError) {
    console.error(`[typescript flow] ${err.message}: ${err.response.status} ${await err.response.text()}`);
  } else {
    console.error(`[typescript flow] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  process.exit(1);
});
