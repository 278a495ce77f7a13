/* tslint:disable */
/* eslint-disable */
export * from './BrokersApi';
export * from './ConsumersApi';
export * from './HealthApi';
export * from './PartitionsApi';
export * from './ProduceApi';
export * from './RootApi';
export * from './TopicsApi';
