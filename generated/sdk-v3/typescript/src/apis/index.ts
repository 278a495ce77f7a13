/* tslint:disable */
/* eslint-disable */
export * from './ACLApi';
export * from './BrokerApi';
export * from './ClusterApi';
export * from './ConfigsApi';
export * from './ConsumerGroupApi';
export * from './PartitionApi';
export * from './RecordsApi';
export * from './ReplicaApi';
export * from './TopicApi';
