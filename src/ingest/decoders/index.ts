export * from './debezium-mapping';
export * from './debezium.decoder';
export * from './decode-result';
export * from './json-message';
export * from './profile-change.v1.decoder';
