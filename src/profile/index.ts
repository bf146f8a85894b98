export * from './contact-key';
export * from './field-catalogue';
export * from './field-hash';
export * from './field-rules';
export * from './patch';
export * from './patch-merge';
export * from './phone.normaliser';
