// A real flow through the generated v3 Java SDK (io.kafkarest.v3.client, native HTTP client)
// against a running proxy.
//
// `cargo xtask sdk-test --flows` compiles the SDK with Maven from its generated pom (in a copy
// outside the repository), compiles this file with javac against the SDK's classes and
// dependencies, and runs it. It lists the clusters, creates a topic with a config, reads the
// topic and the config back, sets another config and reads it, lists the partitions, produces
// records through the streamed `records` call and `records:batch`, deletes the topic and checks
// that it is gone. Every value is asserted. There is no native Kafka client on this class path,
// so what Kafka holds is checked through a second view: the v2 API's topic answer, which reads
// Kafka's configs itself, and the v2 stateless read of the partition, which returns exactly the
// records Kafka holds from an offset. Kafka's brokers apply a config a moment after its controller
// accepted it, so each read of a config just written (through v3, then through v2) polls until it
// shows the new value, within CONFIG_DEADLINE_MS, and only then asserts every field.
//
// Inputs, from the environment:
//   KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
//   FLOW_RUN           a token unique to this run (the topic name carries it)

import io.kafkarest.v3.client.ApiClient;
import io.kafkarest.v3.client.ApiException;
import io.kafkarest.v3.client.api.ClusterApi;
import io.kafkarest.v3.client.api.ConfigsApi;
import io.kafkarest.v3.client.api.PartitionApi;
import io.kafkarest.v3.client.api.RecordsApi;
import io.kafkarest.v3.client.api.TopicApi;
import io.kafkarest.v3.client.model.ClusterDataList;
import io.kafkarest.v3.client.model.ConfigSource;
import io.kafkarest.v3.client.model.CreateTopicConfig;
import io.kafkarest.v3.client.model.CreateTopicRequestData;
import io.kafkarest.v3.client.model.PartitionData;
import io.kafkarest.v3.client.model.PartitionDataList;
import io.kafkarest.v3.client.model.ProduceBatchFailure;
import io.kafkarest.v3.client.model.ProduceBatchRequest;
import io.kafkarest.v3.client.model.ProduceBatchRequestEntry;
import io.kafkarest.v3.client.model.ProduceBatchResponse;
import io.kafkarest.v3.client.model.ProduceBatchSuccess;
import io.kafkarest.v3.client.model.ProduceRequest;
import io.kafkarest.v3.client.model.ProduceRequestData;
import io.kafkarest.v3.client.model.ProduceResponse;
import io.kafkarest.v3.client.model.TopicConfigData;
import io.kafkarest.v3.client.model.TopicData;
import io.kafkarest.v3.client.model.UpdateConfigRequestData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.time.OffsetDateTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;

public final class FlowV3 {
    /** How long a created or deleted topic may take to show (or stop showing) in the answers. */
    private static final long VISIBLE_DEADLINE_MS = 15_000;
    /**
     * How long a config written through the proxy may take to show in its reads, and the pause
     * between two reads. The controller accepts a change (and the proxy answers) before the
     * brokers, which answer the reads, have applied it, so a read at once may still show the old
     * value.
     */
    private static final long CONFIG_DEADLINE_MS = 15_000;
    private static final long CONFIG_POLL_MS = 100;
    /** The timestamp the first produced record carries. */
    private static final OffsetDateTime TIMESTAMP =
            OffsetDateTime.parse("2021-02-05T19:14:42.123Z");

    private static String env(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) {
            throw new IllegalStateException(name + " is not set");
        }
        return value;
    }

    private static void step(String message) {
        System.out.println("[java v3 flow] " + message);
    }

    private static void expect(Object actual, Object expected, String what) {
        if (!Objects.equals(actual, expected)) {
            throw new AssertionError(what + ": expected " + expected + ", got " + actual);
        }
    }

    /** The topic, or null when the proxy answers 404. */
    private static TopicData readTopic(TopicApi topics, String clusterId, String topic)
            throws ApiException {
        try {
            return topics.getKafkaTopic(clusterId, topic, null);
        } catch (ApiException err) {
            if (err.getCode() == 404) {
                return null;
            }
            throw err;
        }
    }

    /** Polls until the topic is known (`present`) or unknown, within the deadline. */
    private static void waitFor(TopicApi topics, String clusterId, String topic, boolean present)
            throws ApiException, InterruptedException {
        long deadline = System.currentTimeMillis() + VISIBLE_DEADLINE_MS;
        while ((readTopic(topics, clusterId, topic) != null) != present) {
            if (System.currentTimeMillis() > deadline) {
                throw new AssertionError(
                        topic + (present ? " not seen" : " still seen") + " after "
                                + VISIBLE_DEADLINE_MS + " ms");
            }
            Thread.sleep(200);
        }
    }

    /** A read that may throw, for {@link #waitForValue}. */
    private interface Read<T> {
        /** The answer, or null while the proxy does not know the topic yet (404). */
        T read() throws Exception;
    }

    /**
     * Polls `read` until `valueOf` its answer is `expected`, within the config deadline, and
     * returns that answer. Past the deadline, the failure names the last value seen.
     */
    private static <T> T waitForValue(
            Read<T> read, Function<T, Object> valueOf, Object expected, String what)
            throws Exception {
        long deadline = System.currentTimeMillis() + CONFIG_DEADLINE_MS;
        for (;;) {
            T answer = read.read();
            if (answer != null && Objects.equals(valueOf.apply(answer), expected)) {
                return answer;
            }
            if (System.currentTimeMillis() > deadline) {
                String seen = answer == null
                        ? "a 404 (topic not known)"
                        : "'" + valueOf.apply(answer) + "'";
                throw new AssertionError(what + ": expected '" + expected + "' within "
                        + CONFIG_DEADLINE_MS + " ms, last seen " + seen);
            }
            Thread.sleep(CONFIG_POLL_MS);
        }
    }

    /** The topic's config `name`, or null when the proxy answers 404 (topic not known yet). */
    private static TopicConfigData readConfig(
            ConfigsApi configs, String clusterId, String topic, String name) throws ApiException {
        try {
            return configs.getKafkaTopicConfig(clusterId, topic, name);
        } catch (ApiException err) {
            if (err.getCode() == 404) {
                return null;
            }
            throw err;
        }
    }

    /** The v2 API's view of the topic (its configs come from Kafka), or null when it is unknown. */
    private static JsonNode v2Topic(String baseUrl, String topic) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/topics/" + topic))
                .header("Accept", "application/vnd.kafka.v2+json")
                .build();
        HttpResponse<String> answer =
                HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        if (answer.statusCode() == 404) {
            return null;
        }
        expect(answer.statusCode(), 200, "v2 topic: status");
        return new ObjectMapper().readTree(answer.body());
    }

    /**
     * The records Kafka holds in the partition from `offset`, as [offset, key, value] with the key
     * and value as text, through the v2 stateless read (binary format, so the bytes are exact).
     */
    private static List<List<Object>> v2PartitionRecords(
            String baseUrl, String topic, int partition, long offset, int timeoutMs)
            throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(
                        baseUrl + "/topics/" + topic + "/partitions/" + partition
                                + "/records?offset=" + offset + "&timeout=" + timeoutMs))
                .header("Accept", "application/vnd.kafka.binary.v2+json")
                .build();
        HttpResponse<String> answer =
                HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        expect(answer.statusCode(), 200, "v2 records of partition " + partition + ": status");
        JsonNode records = new ObjectMapper().readTree(answer.body());
        if (!records.isArray()) {
            throw new AssertionError("v2 records of partition " + partition + ": not an array: "
                    + answer.body());
        }
        List<List<Object>> held = new ArrayList<>();
        for (JsonNode r : records) {
            expect(r.path("topic").asText(), topic, "v2 record: topic");
            expect(r.path("partition").asInt(), partition, "v2 record: partition");
            if (r.path("offset").asLong() == 0) {
                expect(r.path("timestamp").asLong(), TIMESTAMP.toInstant().toEpochMilli(),
                        "v2 record: timestamp of offset 0");
            }
            held.add(Arrays.asList(
                    r.path("offset").asLong(), text(r.get("key")), text(r.get("value"))));
        }
        return held;
    }

    /** Base64 data of the v2 binary format as UTF-8 text; null stays null. */
    private static String text(JsonNode data) {
        if (data == null || data.isNull()) {
            return null;
        }
        return new String(Base64.getDecoder().decode(data.asText()), StandardCharsets.UTF_8);
    }

    private static String b64(String text) {
        return Base64.getEncoder().encodeToString(text.getBytes(StandardCharsets.UTF_8));
    }

    private static ProduceBatchRequestEntry entry(String id, String valueBase64) {
        return new ProduceBatchRequestEntry()
                .id(id)
                .partitionId(0)
                .key(new ProduceRequestData().type("STRING").data("batch-key-" + id))
                .value(new ProduceRequestData().type("BINARY").data(valueBase64));
    }

    public static void main(String[] args) throws Exception {
        String baseUrl = env("KAFKA_REST_URL").replaceAll("/+$", "");
        String topic = "sdkflow-v3-" + env("FLOW_RUN");
        ApiClient client = new ApiClient();
        client.updateBaseUri(baseUrl + "/v3");
        ClusterApi clusters = new ClusterApi(client);
        TopicApi topics = new TopicApi(client);
        ConfigsApi configs = new ConfigsApi(client);
        PartitionApi partitions = new PartitionApi(client);

        ClusterDataList listed = clusters.listKafkaClusters();
        expect(listed.getKind(), "KafkaClusterList", "clusters: kind");
        expect(listed.getData().size(), 1, "clusters: count");
        String clusterId = listed.getData().get(0).getClusterId();
        if (clusterId == null || clusterId.isEmpty()) {
            throw new AssertionError("clusters: empty cluster_id");
        }
        step("cluster " + clusterId);

        TopicData created = topics.createKafkaTopic(
                clusterId,
                new CreateTopicRequestData()
                        .topicName(topic)
                        .partitionsCount(2)
                        .replicationFactor(1)
                        .addConfigsItem(new CreateTopicConfig().name("cleanup.policy").value("compact")));
        expect(created.getKind(), "KafkaTopic", "create: kind");
        expect(created.getTopicName(), topic, "create: topic_name");
        expect(created.getClusterId(), clusterId, "create: cluster_id");
        expect(created.getPartitionsCount(), 2, "create: partitions_count");
        expect(created.getReplicationFactor(), 1, "create: replication_factor");
        expect(created.getIsInternal(), false, "create: is_internal");
        step("created " + topic);

        waitFor(topics, clusterId, topic, true);
        TopicData read = topics.getKafkaTopic(clusterId, topic, null);
        expect(read.getTopicName(), topic, "read: topic_name");
        expect(read.getPartitionsCount(), 2, "read: partitions_count");

        // The topic and its configs reach a broker together, but with several brokers the config
        // read may be answered by one that has not caught up with the one that showed the topic,
        // so the read of cleanup.policy waits for it.
        TopicConfigData policy = waitForValue(
                () -> readConfig(configs, clusterId, topic, "cleanup.policy"),
                TopicConfigData::getValue, "compact", "cleanup.policy: value");
        expect(policy.getKind(), "KafkaTopicConfig", "cleanup.policy: kind");
        expect(policy.getTopicName(), topic, "cleanup.policy: topic_name");
        expect(policy.getValue(), "compact", "cleanup.policy: value");
        expect(policy.getIsDefault(), false, "cleanup.policy: is_default");
        expect(policy.getSource(), ConfigSource.DYNAMIC_TOPIC_CONFIG, "cleanup.policy: source");
        step("read back cleanup.policy=compact");

        configs.updateKafkaTopicConfig(
                clusterId, topic, "retention.ms", new UpdateConfigRequestData().value("123456"));
        // The PUT answered once the controller accepted the change; the broker that answers the
        // read applies it a moment later, so the read waits for the new value before every field
        // is checked.
        TopicConfigData retention = waitForValue(
                () -> readConfig(configs, clusterId, topic, "retention.ms"),
                TopicConfigData::getValue, "123456", "retention.ms: value");
        expect(retention.getValue(), "123456", "retention.ms: value");
        expect(retention.getIsDefault(), false, "retention.ms: is_default");
        expect(retention.getSource(), ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms: source");
        step("set and read retention.ms=123456");

        // The second view: the v2 API describes the topic from Kafka's own answer. It may come
        // from another broker than the v3 read, which may not have applied the change yet either.
        JsonNode v2 = waitForValue(
                () -> v2Topic(baseUrl, topic),
                t -> t.path("configs").path("retention.ms").asText(), "123456",
                "v2: retention.ms");
        expect(v2.path("name").asText(), topic, "v2: name");
        expect(v2.path("configs").path("cleanup.policy").asText(), "compact", "v2: cleanup.policy");
        expect(v2.path("configs").path("retention.ms").asText(), "123456", "v2: retention.ms");
        expect(v2.path("partitions").size(), 2, "v2: partitions");

        PartitionDataList parts = partitions.listKafkaPartitions(clusterId, topic, null, null);
        expect(parts.getKind(), "KafkaPartitionList", "partitions: kind");
        List<Integer> ids = new ArrayList<>();
        for (PartitionData p : parts.getData()) {
            ids.add(p.getPartitionId());
            expect(p.getTopicName(), topic, "partition " + p.getPartitionId() + ": topic_name");
            if (p.getLeader() == null) {
                throw new AssertionError("partition " + p.getPartitionId() + ": no leader");
            }
        }
        expect(ids, List.of(0, 1), "partitions: ids");
        step("listed partitions 0 and 1");

        // Produce: three records, each its own streamed `records` call (the first with a
        // timestamp), then a batch of three good entries and one bad one. The topic is compacted,
        // so every record has a key.
        RecordsApi records = new RecordsApi(client);
        for (int i = 0; i < 3; i++) {
            ProduceRequest request = new ProduceRequest()
                    .partitionId(0)
                    .key(new ProduceRequestData().type("STRING").data("stream-key-" + i))
                    .value(new ProduceRequestData().type("STRING").data("stream-value-" + i));
            if (i == 0) {
                request.timestamp(TIMESTAMP);
            }
            ProduceResponse result = records.produceRecord(clusterId, topic, request);
            String at = "produce " + i + ": ";
            expect(result.getErrorCode(), 200, at + "error_code (" + result.getMessage() + ")");
            expect(result.getClusterId(), clusterId, at + "cluster_id");
            expect(result.getTopicName(), topic, at + "topic_name");
            expect(result.getPartitionId(), 0, at + "partition_id");
            expect(result.getOffset(), (long) i, at + "offset");
            if (result.getValue() == null) {
                throw new AssertionError(at + "no value");
            }
            expect(result.getValue().getType(), "STRING", at + "value type");
            expect(result.getValue().getSize(), (long) ("stream-value-" + i).length(),
                    at + "value size");
            if (result.getKey() == null) {
                throw new AssertionError(at + "no key");
            }
            expect(result.getKey().getType(), "STRING", at + "key type");
            expect(result.getKey().getSize(), (long) ("stream-key-" + i).length(),
                    at + "key size");
            if (i == 0) {
                if (result.getTimestamp() == null) {
                    throw new AssertionError(at + "no timestamp");
                }
                expect(result.getTimestamp().toInstant(), TIMESTAMP.toInstant(), at + "timestamp");
            }
        }
        step("produced 3 records with the streamed records call");

        ProduceBatchResponse batch = records.produceRecordsBatch(
                clusterId,
                topic,
                new ProduceBatchRequest()
                        .addEntriesItem(entry("a", b64("batch-value-a")))
                        .addEntriesItem(entry("bad", "not base64!"))
                        .addEntriesItem(entry("b", b64("batch-value-b")))
                        .addEntriesItem(entry("c", b64("batch-value-c"))));
        List<List<Object>> successes = new ArrayList<>();
        for (ProduceBatchSuccess s : batch.getSuccesses()) {
            successes.add(Arrays.asList(s.getId(), s.getPartitionId(), s.getOffset()));
            String at = "batch " + s.getId() + ": ";
            expect(s.getClusterId(), clusterId, at + "cluster_id");
            expect(s.getTopicName(), topic, at + "topic_name");
            if (s.getKey() == null) {
                throw new AssertionError(at + "no key");
            }
            expect(s.getKey().getType(), "STRING", at + "key type");
            expect(s.getKey().getSize(), (long) ("batch-key-" + s.getId()).length(),
                    at + "key size");
            if (s.getValue() == null) {
                throw new AssertionError(at + "no value");
            }
            expect(s.getValue().getType(), "BINARY", at + "value type");
            expect(s.getValue().getSize(), (long) ("batch-value-" + s.getId()).length(),
                    at + "value size");
        }
        expect(successes,
                List.of(List.of("a", 0, 3L), List.of("b", 0, 4L), List.of("c", 0, 5L)),
                "batch: successes");
        List<List<Object>> failures = new ArrayList<>();
        for (ProduceBatchFailure f : batch.getFailures()) {
            failures.add(Arrays.asList(f.getId(), f.getErrorCode()));
            if (f.getMessage() == null || f.getMessage().isEmpty()) {
                throw new AssertionError("batch " + f.getId() + ": empty message");
            }
        }
        expect(failures, List.of(List.of("bad", 400)), "batch: failures");
        step("produced a batch: 3 acknowledged, the bad entry refused with 400");

        // What Kafka holds: exactly these six records at offsets 0-5 of partition 0, nothing after
        // them, and nothing on partition 1.
        List<List<Object>> expected = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            expected.add(Arrays.asList((long) i, "stream-key-" + i, "stream-value-" + i));
        }
        String[] batchIds = {"a", "b", "c"};
        for (int i = 0; i < batchIds.length; i++) {
            expected.add(Arrays.asList(
                    3L + i, "batch-key-" + batchIds[i], "batch-value-" + batchIds[i]));
        }
        List<List<Object>> held = new ArrayList<>();
        long readDeadline = System.currentTimeMillis() + VISIBLE_DEADLINE_MS;
        // One read may answer with part of the records; the next goes on from the last offset.
        while (held.size() < expected.size() && System.currentTimeMillis() < readDeadline) {
            held.addAll(v2PartitionRecords(baseUrl, topic, 0, held.size(), 1000));
        }
        expect(held, expected, "partition 0 read back through v2");
        expect(v2PartitionRecords(baseUrl, topic, 0, 6, 300), List.of(),
                "partition 0 after offset 5");
        expect(v2PartitionRecords(baseUrl, topic, 1, 0, 300), List.of(), "partition 1");
        step("read back the 6 records through the v2 stateless read");

        topics.deleteKafkaTopic(clusterId, topic);
        waitFor(topics, clusterId, topic, false);
        step("deleted the topic");
        step("passed");
    }
}
