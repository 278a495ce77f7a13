// Package flow runs real client flows through the generated Go SDKs (kafkarest for v2,
// kafkarestv3 for v3) against a running proxy.
//
// `cargo xtask sdk-test --flows` runs `go test` here after creating the topic it names (the v2
// API cannot create topics); go.mod points both SDK modules at their generated folders.
// TestV2Flow lists and reads the topic, produces two json records and reads them back through a
// binary consumer instance (the json the proxy wrote, byte for byte). TestV3Flow lists the
// clusters, creates a topic with a config, reads it back, sets and reads another config, lists the
// partitions, produces records through the streamed `records` call and `records:batch`, reads
// them back through the v2 SDK's stateless partition read, and deletes the topic. Every value is
// asserted; what Kafka holds is checked through the v2 answers, which the proxy reads from Kafka
// itself, as the Go module has no native client. Kafka's brokers apply a config a moment after its
// controller accepted it, so each read of a config just written (through v3, then through v2)
// polls until it shows the new value, within configDeadline, and only then asserts every field.
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
	"fmt"
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

// How long a config written through the proxy may take to show in its reads, and the pause between
// two reads. The controller accepts a change (and the proxy answers) before the brokers, which
// answer the reads, have applied it, so a read at once may still show the old value.
const (
	configDeadline = 15 * time.Second
	configPoll     = 100 * time.Millisecond
)

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

// waitForValue polls read until it answers expected as its value, within configDeadline, and
// returns the answer. read answers found false while the proxy does not know the topic yet (404);
// past the deadline, the failure names the last value seen.
func waitForValue[T any](
	t *testing.T, read func() (answer T, value string, found bool), expected, what string,
) T {
	t.Helper()
	until := time.Now().Add(configDeadline)
	for {
		answer, value, found := read()
		if found && value == expected {
			return answer
		}
		if time.Now().After(until) {
			seen := "a 404 (topic not known)"
			if found {
				seen = fmt.Sprintf("%q", value)
			}
			t.Fatalf("%s: expected %q within %s, last seen %s", what, expected, configDeadline, seen)
		}
		time.Sleep(configPoll)
	}
}

// unknown says whether a call failed with a 404 of the proxy (the topic not known yet); any other
// failure ends the test.
func unknown(t *testing.T, answer *http.Response, err error, what string) bool {
	t.Helper()
	if err != nil && answer != nil && answer.StatusCode == 404 {
		return true
	}
	must(t, err, what)
	return false
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

	// readConfig reads the topic's config name for waitForValue.
	readConfig := func(name string) func() (*kafkarestv3.TopicConfigData, string, bool) {
		return func() (*kafkarestv3.TopicConfigData, string, bool) {
			config, answer, err :=
				client.ConfigsAPI.GetKafkaTopicConfig(ctx, clusterID, topic, name).Execute()
			if unknown(t, answer, err, "get "+name) {
				return nil, "", false
			}
			return config, config.GetValue(), true
		}
	}

	// The topic and its configs reach a broker together, but with several brokers the config read
	// may be answered by one that has not caught up with the one that showed the topic, so the
	// read of cleanup.policy waits for it.
	policy := waitForValue(t, readConfig("cleanup.policy"), "compact", "cleanup.policy: value")
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
	// The PUT answered once the controller accepted the change; the broker that answers the read
	// applies it a moment later, so the read waits for the new value before every field is checked.
	retention := waitForValue(t, readConfig("retention.ms"), "123456", "retention.ms: value")
	expect(t, retention.GetValue(), "123456", "retention.ms: value")
	expect(t, retention.IsDefault, false, "retention.ms: is_default")
	expect(t, retention.Source, kafkarestv3.CONFIGSOURCE_DYNAMIC_TOPIC_CONFIG, "retention.ms: source")

	// The second view: the v2 API describes the topic from Kafka's own answer. It may come from
	// another broker than the v3 read, which may not have applied the change yet either.
	described := waitForValue(t, func() (*kafkarest.Topic, string, bool) {
		described, answer, err := v2.TopicsAPI.GetTopic(ctx, topic).Execute()
		if unknown(t, answer, err, "v2 get topic") {
			return nil, "", false
		}
		if value := described.Configs["retention.ms"]; value != nil {
			return described, *value, true
		}
		return described, "(absent)", true
	}, "123456", "v2: retention.ms")
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

	// Produce: three records, each its own streamed `records` call (the first with a timestamp),
	// then a batch of three good entries and one bad one. The topic is compacted, so every record
	// has a key.
	data := func(type_ string, value string) kafkarestv3.NullableProduceRequestData {
		d := kafkarestv3.NewProduceRequestData()
		d.SetType(type_)
		d.SetData(value)
		return *kafkarestv3.NewNullableProduceRequestData(d)
	}
	partition0 := *kafkarestv3.NewNullableInt32(kafkarestv3.PtrInt32(0))
	timestamp := time.Date(2021, 2, 5, 19, 14, 42, 123_000_000, time.UTC)
	// side checks the key or value of a produce result: its type and the bytes written.
	side := func(actual kafkarestv3.NullableProduceResponseData, type_ string, size int, what string) {
		t.Helper()
		if actual.Get() == nil {
			t.Fatalf("%s: missing", what)
		}
		expect(t, actual.Get().Type, type_, what+" type")
		expect(t, actual.Get().Size, int64(size), what+" size")
	}
	for i := 0; i < 3; i++ {
		request := kafkarestv3.ProduceRequest{
			PartitionId: partition0,
			Key:         data("STRING", fmt.Sprintf("stream-key-%d", i)),
			Value:       data("STRING", fmt.Sprintf("stream-value-%d", i)),
		}
		if i == 0 {
			request.Timestamp = *kafkarestv3.NewNullableTime(&timestamp)
		}
		result, _, err := client.RecordsAPI.ProduceRecord(ctx, clusterID, topic).
			ProduceRequest(request).Execute()
		what := fmt.Sprintf("produce %d: ", i)
		must(t, err, what+"call")
		expect(t, result.ErrorCode, int32(200), what+"error_code ("+result.GetMessage()+")")
		expect(t, result.ClusterId, kafkarestv3.PtrString(clusterID), what+"cluster_id")
		expect(t, result.TopicName, kafkarestv3.PtrString(topic), what+"topic_name")
		expect(t, result.PartitionId, kafkarestv3.PtrInt32(0), what+"partition_id")
		expect(t, result.Offset, kafkarestv3.PtrInt64(int64(i)), what+"offset")
		side(result.Key, "STRING", len(fmt.Sprintf("stream-key-%d", i)), what+"key")
		side(result.Value, "STRING", len(fmt.Sprintf("stream-value-%d", i)), what+"value")
		if i == 0 {
			got := result.Timestamp.Get()
			if got == nil || !got.Equal(timestamp) {
				t.Fatalf("%stimestamp: expected %v, got %v", what, timestamp, got)
			}
		}
	}
	t.Log("produced 3 records with the streamed records call")

	b64 := func(text string) string { return base64.StdEncoding.EncodeToString([]byte(text)) }
	entry := func(id string, valueBase64 string) kafkarestv3.ProduceBatchRequestEntry {
		return kafkarestv3.ProduceBatchRequestEntry{
			Id:          id,
			PartitionId: partition0,
			Key:         data("STRING", "batch-key-"+id),
			Value:       data("BINARY", valueBase64),
		}
	}
	batch, _, err := client.RecordsAPI.ProduceRecordsBatch(ctx, clusterID, topic).
		ProduceBatchRequest(*kafkarestv3.NewProduceBatchRequest([]kafkarestv3.ProduceBatchRequestEntry{
			entry("a", b64("batch-value-a")),
			entry("bad", "not base64!"),
			entry("b", b64("batch-value-b")),
			entry("c", b64("batch-value-c")),
		})).Execute()
	must(t, err, "produce batch")
	type placed struct {
		id        string
		partition int32
		offset    int64
	}
	successes := []placed{}
	for _, s := range batch.Successes {
		successes = append(successes, placed{s.Id, s.PartitionId, s.Offset})
		expect(t, s.ClusterId, clusterID, "batch "+s.Id+": cluster_id")
		expect(t, s.TopicName, topic, "batch "+s.Id+": topic_name")
		side(s.Key, "STRING", len("batch-key-"+s.Id), "batch "+s.Id+": key")
		side(s.Value, "BINARY", len("batch-value-"+s.Id), "batch "+s.Id+": value")
	}
	expect(t, successes, []placed{{"a", 0, 3}, {"b", 0, 4}, {"c", 0, 5}}, "batch: successes")
	type failed struct {
		id   string
		code int32
	}
	failures := []failed{}
	for _, f := range batch.Failures {
		failures = append(failures, failed{f.Id, f.ErrorCode})
		if f.Message == "" {
			t.Fatalf("batch %s: empty message", f.Id)
		}
	}
	expect(t, failures, []failed{{"bad", 400}}, "batch: failures")
	t.Log("produced a batch: 3 acknowledged, the bad entry refused with 400")

	// What Kafka holds: exactly these six records at offsets 0-5 of partition 0, nothing after
	// them, and nothing on partition 1, through the v2 SDK's stateless read. The SDK asks for the
	// binary embedded format first, so keys and values are the bytes Kafka holds, in base64.
	type held struct {
		offset     int64
		key, value string
	}
	readPartition := func(partition int32, offset int64, timeoutMs int64) []held {
		t.Helper()
		records, answer, err := v2.PartitionsAPI.ReadPartitionRecords(ctx, topic, partition).
			Offset(offset).Timeout(timeoutMs).Execute()
		must(t, err, fmt.Sprintf("v2 read of partition %d", partition))
		expect(t, answer.Header.Get("Content-Type"), "application/vnd.kafka.binary.v2+json",
			"v2 read: content type")
		out := []held{}
		for _, r := range records {
			text := func(data interface{}, what string) string {
				encoded, ok := data.(string)
				if !ok {
					t.Fatalf("v2 read: %s at offset %d: not a base64 string: %#v", what, r.Offset, data)
				}
				decoded, err := base64.StdEncoding.DecodeString(encoded)
				must(t, err, "v2 read: "+what)
				return string(decoded)
			}
			expect(t, r.Topic, topic, "v2 read: topic")
			expect(t, r.Partition, partition, "v2 read: partition")
			if r.Offset == 0 {
				expect(t, r.Timestamp.Get(), kafkarestv3.PtrInt64(timestamp.UnixMilli()),
					"v2 read: timestamp of offset 0")
			}
			out = append(out, held{r.Offset, text(r.Key, "key"), text(r.Value, "value")})
		}
		return out
	}
	expected := []held{}
	for i := 0; i < 3; i++ {
		expected = append(expected,
			held{int64(i), fmt.Sprintf("stream-key-%d", i), fmt.Sprintf("stream-value-%d", i)})
	}
	for i, x := range []string{"a", "b", "c"} {
		expected = append(expected, held{int64(3 + i), "batch-key-" + x, "batch-value-" + x})
	}
	got := []held{}
	until := time.Now().Add(deadline)
	// One read may answer with part of the records; the next goes on from the last offset.
	for len(got) < len(expected) && time.Now().Before(until) {
		got = append(got, readPartition(0, int64(len(got)), 1000)...)
	}
	expect(t, got, expected, "partition 0 read back through v2")
	expect(t, readPartition(0, 6, 300), []held{}, "partition 0 after offset 5")
	expect(t, readPartition(1, 0, 300), []held{}, "partition 1")
	t.Log("read back the 6 records through the v2 stateless read")

	_, err = client.TopicAPI.DeleteKafkaTopic(ctx, clusterID, topic).Execute()
	must(t, err, "delete topic")
	waitFor(false, "deleted topic gone")
}
