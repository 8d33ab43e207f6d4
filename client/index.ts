export * from './astaire-client';
export * from './errors';
export * from './parameter-store-source';
export * from './topology-source';
export * from './cluster-source';
