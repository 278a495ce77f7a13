# flake8: noqa

# import apis into api package
from kafka_rest_v3.api.acl_api import ACLApi
from kafka_rest_v3.api.broker_api import BrokerApi
from kafka_rest_v3.api.cluster_api import ClusterApi
from kafka_rest_v3.api.configs_api import ConfigsApi
from kafka_rest_v3.api.consumer_group_api import ConsumerGroupApi
from kafka_rest_v3.api.partition_api import PartitionApi
from kafka_rest_v3.api.records_api import RecordsApi
from kafka_rest_v3.api.replica_api import ReplicaApi
from kafka_rest_v3.api.topic_api import TopicApi

