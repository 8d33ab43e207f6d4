// The construct library: `import { ElasticMemcachedCluster } from 'astaire-aws'`.
export * from './elastic-memcached-cluster';
export * from './astaire-stack';
export * from './workflow';
export * from './alarms';
export * from './dashboard';
export * from './agent-document';
export * from './agent-package';
export { StateNames, type StateName, ResyncDocumentParameters } from './state-names';
