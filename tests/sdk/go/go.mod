module github.com/kafka-rest/kafka-rest/tests/sdk/go

go 1.23

require (
	github.com/kafka-rest/kafka-rest-go v0.0.0
	github.com/kafka-rest/kafka-rest-v3-go v0.0.0
)

replace github.com/kafka-rest/kafka-rest-go => ../../../generated/sdk/go

replace github.com/kafka-rest/kafka-rest-v3-go => ../../../generated/sdk-v3/go
