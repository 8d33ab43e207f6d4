export * from './errors';
export * from './hash';
export * from './placement';
export * from './plan';
export * from './routing';
export * from './topology';
export * from './resync-report';
export * from './tombstone';
