module github.com/kafka-rest/kafka-rest-go

go 1.23

require (
)
