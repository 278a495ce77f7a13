// Package flow runs real client flows through the generated Go SDKs (kafkarest for v2,
// kafkarestv3 for v3) against a running proxy.
//
// `cargo xtask sdk-test --flows` runs `go test` here after creating the topic it names (the v2
// API cannot create topics); go.mod points both SDK modules at their generated folders.
// TestV2Flow lists and reads the topic, produces two json records and reads them back through a
// binary consumer instance (the json the proxy wrote, byte for byte). TestV3Flow lists the
// clusters, creates a topic with a config, reads it back, sets and reads another config, lists the
// partitions and deletes the topic. Every value is asserted; what Kafka holds is checked through
// the v2 answers, which the proxy reads from Kafka itself, as the Go module has no native client.
//
// Inputs, from the environment:
//
//	KAFKA_REST_URL     the proxy, e.g. http://127.0.0.1:8082
//	FLOW_RUN           a token unique to this run (group and topic names carry it)
//	FLOW_TOPIC_JSON    an empty topic with one partition
package flow

import (
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	kafkarest "github.com/kafka-rest/kafka-rest-go"
	kafkarestv3 "github.com/kafka-rest/kafka-rest-v3-go"
)

// How long records, a new topic or a deleted one may take to show in the proxy's answers.
const deadline = 30 * time.Second

func env(t *testing.T, name string) string {
	t.Helper()
	value := os.Getenv(name)
	if value == "" {
		t.Fatalf("%s is not set", name)
	}
	return value
}

func expect[T any](t *testing.T, actual, expected T, what string) {
	t.Helper()
	if !reflect.DeepEqual(actual, expected) {
		t.Fatalf("%s: expected %#v, got %#v", what, expected, actual)
	}
}

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		var apiErr interface{ Body() []byte }
		if errors.As(err, &apiErr) {
			t.Fatalf("%s: %v: %s", what, err, apiErr.Body())
		}
		t.Fatalf("%s: %v", what, err)
	}
}

func baseURL(t *testing.T) string {
	return strings.TrimRight(env(t, "KAFKA_REST_URL"), "/")
}

func v2Client(t *testing.T) *kafkarest.APIClient {
	cfg := kafkarest.NewConfiguration()
	cfg.Servers = kafkarest.ServerConfigurations{{URL: baseURL(t)}}
	return kafkarest.NewAPIClient(cfg)
}

func TestV2Flow(t *testing.T) {
	ctx := context.Background()
	run := env(t, "FLOW_RUN")
	topic := env(t, "FLOW_TOPIC_JSON")
	client := v2Client(t)

	topics, _, err := client.TopicsAPI.ListTopics(ctx).Execute()
	must(t, err, "list topics")
	found := false
	for _, name := range topics {
		found = found || name == topic
	}
	expect(t, found, true, "list topics: contains "+topic)
	described, _, err := client.TopicsAPI.GetTopic(ctx, topic).Execute()
	must(t, err, "get topic")
	expect(t, described.Name, topic, "get topic: name")
	expect(t, len(described.Partitions), 1, "get topic: partitions")
	expect(t, described.Partitions[0].Partition, int32(0), "get topic: partition id")

	// The SDK sends the first content type of the operation, the json embedded format.
	records := []kafkarest.ProduceRecord{
		{Key: "k-" + run, Value: map[string]interface{}{"n": 1}},
		{Value: "second-" + run},
	}
	produced, _, err := client.ProduceAPI.ProduceToTopic(ctx, topic).
		ProduceRequest(*kafkarest.NewProduceRequest(records)).Execute()
	must(t, err, "produce")
	expect(t, len(produced.Offsets), 2, "produce: offsets")
	for i, offset := range produced.Offsets {
		expect(t, offset.ErrorCode.Get(), (*int32)(nil), "produce: error_code")
		expect(t, *offset.Partition.Get(), int32(0), "produce: partition")
		expect(t, *offset.Offset.Get(), int64(i), "produce: offset")
	}

	// The SDK asks for the binary embedded format first, so the consumer is a binary one: it
	// answers the bytes the json produce wrote.
	group := "sdkflow-go-" + run
	request := kafkarest.NewCreateConsumerRequest()
	request.Format = *kafkarest.NewNullableString(kafkarest.PtrString("binary"))
	request.AutoOffsetReset = *kafkarest.NewNullableString(kafkarest.PtrString("earliest"))
	consumer, _, err := client.ConsumersAPI.CreateConsumer(ctx, group).
		CreateConsumerRequest(*request).Execute()
	must(t, err, "create consumer")
	defer func() {
		_, err := client.ConsumersAPI.DeleteConsumer(ctx, group, consumer.InstanceId).Execute()
		must(t, err, "delete consumer")
	}()
	subscription := kafkarest.NewSubscriptionRequest()
	subscription.Topics = []string{topic}
	_, err = client.ConsumersAPI.Subscribe(ctx, group, consumer.InstanceId).
		SubscriptionRequest(*subscription).Execute()
	must(t, err, "subscribe")

	var read []kafkarest.ConsumerRecord
	until := time.Now().Add(deadline)
	for len(read) < 2 {
		if time.Now().After(until) {
			t.Fatalf("read: %d of 2 records within %s", len(read), deadline)
		}
		batch, _, err := client.ConsumersAPI.ReadRecords(ctx, group, consumer.InstanceId).
			Timeout(1000).Execute()
		must(t, err, "read records")
		read = append(read, batch...)
	}
	b64 := func(text string) interface{} { return base64.StdEncoding.EncodeToString([]byte(text)) }
	expect(t, len(read), 2, "read: records")
	expect(t, read[0].Key, b64(`"k-`+run+`"`), "read: key 0")
	expect(t, read[0].Value, b64(`{"n":1}`), "read: value 0")
	expect(t, read[1].Key, interface{}(nil), "read: key 1")
	expect(t, read[1].Value, b64(`"second-`+run+`"`), "read: value 1")
	for i, record := range read {
		expect(t, record.Topic, topic, "read: topic")
		expect(t, record.Partition, int32(0), "read: partition")
		expect(t, record.Offset, int64(i), "read: offset")
	}
}

func TestV3Flow(t *testing.T) {
	ctx := context.Background()
	run := env(t, "FLOW_RUN")
	topic := "sdkflow-v3-" + run
	cfg := kafkarestv3.NewConfiguration()
	cfg.Servers = kafkarestv3.ServerConfigurations{{URL: baseURL(t) + "/v3"}}
	client := kafkarestv3.NewAPIClient(cfg)
	v2 := v2Client(t)

	clusters, _, err := client.ClusterAPI.ListKafkaClusters(ctx).Execute()
	must(t, err, "list clusters")
	expect(t, clusters.Kind, "KafkaClusterList", "clusters: kind")
	expect(t, len(clusters.Data), 1, "clusters: count")
	clusterID := clusters.Data[0].ClusterId
	if clusterID == "" {
		t.Fatal("clusters: empty cluster_id")
	}

	request := kafkarestv3.CreateTopicRequestData{
		TopicName:         topic,
		PartitionsCount:   kafkarestv3.PtrInt32(2),
		ReplicationFactor: kafkarestv3.PtrInt32(1),
		Configs: []kafkarestv3.CreateTopicConfig{{
			Name:  "cleanup.policy",
			Value: *kafkarestv3.NewNullableString(kafkarestv3.PtrString("compact")),
		}},
	}
	created, _, err := client.TopicAPI.CreateKafkaTopic(ctx, clusterID).
		CreateTopicRequestData(request).Execute()
	must(t, err, "create topic")
	expect(t, created.Kind, "KafkaTopic", "create: kind")
	expect(t, created.TopicName, topic, "create: topic_name")
	expect(t, created.ClusterId, clusterID, "create: cluster_id")
	expect(t, created.PartitionsCount, int32(2), "create: partitions_count")
	expect(t, created.ReplicationFactor, int32(1), "create: replication_factor")
	expect(t, created.IsInternal, false, "create: is_internal")

	// exists answers whether the topic is known to v3 (true) and to v2 (the second value).
	exists := func() (bool, bool) {
		_, v3Answer, v3Err := client.TopicAPI.GetKafkaTopic(ctx, clusterID, topic).Execute()
		_, v2Answer, v2Err := v2.TopicsAPI.GetTopic(ctx, topic).Execute()
		for _, pair := range []struct {
			answer *http.Response
			err    error
		}{{v3Answer, v3Err}, {v2Answer, v2Err}} {
			if pair.err != nil && (pair.answer == nil || pair.answer.StatusCode != 404) {
				must(t, pair.err, "get topic")
			}
		}
		return v3Err == nil, v2Err == nil
	}
	waitFor := func(want bool, what string) {
		until := time.Now().Add(deadline)
		for {
			inV3, inV2 := exists()
			if inV3 == want && inV2 == want {
				return
			}
			if time.Now().After(until) {
				t.Fatalf("%s: not seen within %s", what, deadline)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	waitFor(true, "created topic")

	read, _, err := client.TopicAPI.GetKafkaTopic(ctx, clusterID, topic).Execute()
	must(t, err, "get topic")
	expect(t, read.TopicName, topic, "read: topic_name")
	expect(t, read.PartitionsCount, int32(2), "read: partitions_count")

	policy, _, err := client.ConfigsAPI.GetKafkaTopicConfig(ctx, clusterID, topic, "cleanup.policy").Execute()
	must(t, err, "get cleanup.policy")
	expect(t, policy.Kind, "KafkaTopicConfig", "cleanup.policy: kind")
	expect(t, policy.GetValue(), "compact", "cleanup.policy: value")
	expect(t, policy.IsDefault, false, "cleanup.policy: is_default")
	expect(t, policy.Source, kafkarestv3.CONFIGSOURCE_DYNAMIC_TOPIC_CONFIG, "cleanup.policy: source")

	update := kafkarestv3.UpdateConfigRequestData{
		Value: *kafkarestv3.NewNullableString(kafkarestv3.PtrString("123456")),
	}
	_, err = client.ConfigsAPI.UpdateKafkaTopicConfig(ctx, clusterID, topic, "retention.ms").
		UpdateConfigRequestData(update).Execute()
	must(t, err, "set retention.ms")
	retention, _, err := client.ConfigsAPI.GetKafkaTopicConfig(ctx, clusterID, topic, "retention.ms").Execute()
	must(t, err, "get retention.ms")
	expect(t, retention.GetValue(), "123456", "retention.ms: value")
	expect(t, retention.Source, kafkarestv3.CONFIGSOURCE_DYNAMIC_TOPIC_CONFIG, "retention.ms: source")

	// The second view: the v2 API describes the topic from Kafka's own answer.
	described, _, err := v2.TopicsAPI.GetTopic(ctx, topic).Execute()
	must(t, err, "v2 get topic")
	expect(t, *described.Configs["cleanup.policy"], "compact", "v2: cleanup.policy")
	expect(t, *described.Configs["retention.ms"], "123456", "v2: retention.ms")
	expect(t, len(described.Partitions), 2, "v2: partitions")

	partitions, _, err := client.PartitionAPI.ListKafkaPartitions(ctx, clusterID, topic).Execute()
	must(t, err, "list partitions")
	expect(t, partitions.Kind, "KafkaPartitionList", "partitions: kind")
	ids := []int32{}
	for _, p := range partitions.Data {
		ids = append(ids, p.PartitionId)
		expect(t, p.TopicName, topic, "partition: topic_name")
		if p.Leader.Get() == nil {
			t.Fatalf("partition %d: no leader", p.PartitionId)
		}
	}
	expect(t, ids, []int32{0, 1}, "partitions: ids")

	_, err = client.TopicAPI.DeleteKafkaTopic(ctx, clusterID, topic).Execute()
	must(t, err, "delete topic")
	waitFor(false, "deleted topic gone")
}
