import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { SchemaRegistryClient } from '../../src/schema-registry/schema-registry.client';

const run = promisify(execFile);
const REPO = resolve(__dirname, '../..');
/** The first start downloads Apicurio Registry from Maven Central (about 100 MB), then starts in ~10 s. */
const REGISTRY_START_TIMEOUT_MS = 300_000;

/**
 * The local Schema Registry's Confluent-compatible API, started through docker/registry.sh when it
 * is not already running (idempotent; only the tests that need a registry call this).
 * SCHEMA_REGISTRY_URL given explicitly wins.
 */
export async function testRegistryUrl(): Promise<string> {
  if (process.env.TEST_SCHEMA_REGISTRY_URL) return process.env.TEST_SCHEMA_REGISTRY_URL;
  await run('bash', [resolve(REPO, 'docker/registry.sh'), 'start'], { timeout: REGISTRY_START_TIMEOUT_MS });
  const url = `http://127.0.0.1:${process.env.REGISTRY_LOCAL_PORT ?? '8081'}/apis/ccompat/v7`;
  process.env.TEST_SCHEMA_REGISTRY_URL = url;
  return url;
}

/** Registers an Avro schema under `subject` in the test registry and returns its id. */
export async function registerAvro(subject: string, schema: unknown): Promise<number> {
  return new SchemaRegistryClient({ url: await testRegistryUrl() }).register(subject, JSON.stringify(schema), 'AVRO');
}
