// A real admin flow through the generated v3 Java SDK (io.kafkarest.v3.client, native HTTP
// client) against a running proxy.
//
// `cargo xtask sdk-test --flows` compiles the SDK with Maven from its generated pom (in a copy
// outside the repository), compiles this file with javac against the SDK's classes and
// dependencies, and runs it. It lists the clusters, creates a topic with a config, reads the
// topic and the config back, sets another config and reads it, lists the partitions, deletes the
// topic and checks that it is gone. Every value is asserted. There is no native Kafka client on
// this class path, so what Kafka holds is checked through a second view: the v2 API's topic
// answer, which reads Kafka's configs itself.
//
// Inputs, from the environment:
//   KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
//   FLOW_RUN           a token unique to this run (the topic name carries it)

import io.kafkarest.v3.client.ApiClient;
import io.kafkarest.v3.client.ApiException;
import io.kafkarest.v3.client.api.ClusterApi;
import io.kafkarest.v3.client.api.ConfigsApi;
import io.kafkarest.v3.client.api.PartitionApi;
import io.kafkarest.v3.client.api.TopicApi;
import io.kafkarest.v3.client.model.ClusterDataList;
import io.kafkarest.v3.client.model.ConfigSource;
import io.kafkarest.v3.client.model.CreateTopicConfig;
import io.kafkarest.v3.client.model.CreateTopicRequestData;
import io.kafkarest.v3.client.model.PartitionData;
import io.kafkarest.v3.client.model.PartitionDataList;
import io.kafkarest.v3.client.model.TopicConfigData;
import io.kafkarest.v3.client.model.TopicData;
import io.kafkarest.v3.client.model.UpdateConfigRequestData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

public final class FlowV3 {
    /** How long a created or deleted topic may take to show (or stop showing) in the answers. */
    private static final long VISIBLE_DEADLINE_MS = 15_000;

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

    /** The v2 API's view of the topic: its configs come from Kafka. */
    private static JsonNode v2Topic(String baseUrl, String topic) throws Exception {
        HttpRequest request = HttpRequest.newBuilder(URI.create(baseUrl + "/topics/" + topic))
                .header("Accept", "application/vnd.kafka.v2+json")
                .build();
        HttpResponse<String> answer =
                HttpClient.newHttpClient().send(request, HttpResponse.BodyHandlers.ofString());
        expect(answer.statusCode(), 200, "v2 topic: status");
        return new ObjectMapper().readTree(answer.body());
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

        TopicConfigData policy = configs.getKafkaTopicConfig(clusterId, topic, "cleanup.policy");
        expect(policy.getKind(), "KafkaTopicConfig", "cleanup.policy: kind");
        expect(policy.getTopicName(), topic, "cleanup.policy: topic_name");
        expect(policy.getValue(), "compact", "cleanup.policy: value");
        expect(policy.getIsDefault(), false, "cleanup.policy: is_default");
        expect(policy.getSource(), ConfigSource.DYNAMIC_TOPIC_CONFIG, "cleanup.policy: source");
        step("read back cleanup.policy=compact");

        configs.updateKafkaTopicConfig(
                clusterId, topic, "retention.ms", new UpdateConfigRequestData().value("123456"));
        TopicConfigData retention = configs.getKafkaTopicConfig(clusterId, topic, "retention.ms");
        expect(retention.getValue(), "123456", "retention.ms: value");
        expect(retention.getIsDefault(), false, "retention.ms: is_default");
        expect(retention.getSource(), ConfigSource.DYNAMIC_TOPIC_CONFIG, "retention.ms: source");
        step("set and read retention.ms=123456");

        JsonNode v2 = v2Topic(baseUrl, topic);
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

        topics.deleteKafkaTopic(clusterId, topic);
        waitFor(topics, clusterId, topic, false);
        step("deleted the topic");
        step("passed");
    }
}
