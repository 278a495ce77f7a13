# flake8: noqa

# import apis into api package
from kafka_rest_client.api.brokers_api import BrokersApi
from kafka_rest_client.api.consumers_api import ConsumersApi
from kafka_rest_client.api.health_api import HealthApi
from kafka_rest_client.api.partitions_api import PartitionsApi
from kafka_rest_client.api.produce_api import ProduceApi
from kafka_rest_client.api.root_api import RootApi
from kafka_rest_client.api.topics_api import TopicsApi

