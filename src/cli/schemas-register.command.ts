import { PROFILE_CHANGE_V1_AVRO_SCHEMA, PROFILE_CHANGE_V1_SCHEMA } from '../ingest/decoders/profile-change.v1.decoder';
import { SchemaRegistryClient, type SchemaType } from '../schema-registry/schema-registry.client';

export type RegisteredFormat = 'avro' | 'json';

export interface SchemasRegisterOptions {
  /** The topic whose value subject (TopicNameStrategy: `<topic>-value`) gets the schema. */
  topic?: string;
  /** An explicit subject instead. */
  subject?: string;
  format: RegisteredFormat;
}

export interface SchemasRegisterResult {
  subject: string;
  schemaType: SchemaType;
  id: number;
}

/**
 * Registers `profile-change.v1` (Avro, or JSON Schema) in the Schema Registry of
 * SCHEMA_REGISTRY_URL (with SCHEMA_REGISTRY_USERNAME / SCHEMA_REGISTRY_PASSWORD), so a brand's
 * producers frame their events with its id. Registering the same schema again returns the same
 * id. Only the registry settings are read: a producer team needs no database or broker settings.
 */
export async function registerSchemas(env: NodeJS.ProcessEnv, options: SchemasRegisterOptions): Promise<SchemasRegisterResult> {
  const url = env.SCHEMA_REGISTRY_URL?.trim();
  if (!url) throw new Error('SCHEMA_REGISTRY_URL: is required (the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7)');
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    protocol = '';
  }
  if (protocol !== 'http:' && protocol !== 'https:') throw new Error('SCHEMA_REGISTRY_URL: must be an http(s) URL');
  const subject = options.subject ?? (options.topic !== undefined ? `${options.topic}-value` : undefined);
  if (subject === undefined) throw new Error('give --topic <topic> (subject <topic>-value) or --subject <subject>');
  const username = env.SCHEMA_REGISTRY_USERNAME?.trim() || undefined;
  const client = new SchemaRegistryClient({ url, ...(username ? { username, password: env.SCHEMA_REGISTRY_PASSWORD ?? '' } : {}) });
  const [schemaType, schema]: [SchemaType, unknown] =
    options.format === 'avro' ? ['AVRO', PROFILE_CHANGE_V1_AVRO_SCHEMA] : ['JSON', PROFILE_CHANGE_V1_SCHEMA];
  const id = await client.register(subject, JSON.stringify(schema), schemaType);
  return { subject, schemaType, id };
}
