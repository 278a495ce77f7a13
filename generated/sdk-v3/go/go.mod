module github.com/kafka-rest/kafka-rest-v3-go

go 1.23

require (
)
