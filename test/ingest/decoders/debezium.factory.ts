import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';
import type { DebeziumMapping } from '../../../src/ingest/decoders/debezium-mapping';

/**
 * Change events for the CRM table `public.customers`, shaped as Debezium 3.x's Postgres connector
 * writes them with the JSON converter (`schemas.enable` true wraps them in schema/payload).
 */

/** A richer mapping than the shipped config/customers.mapping.json: it also maps updated_at, to cover timestamp conversion. */
export const EXAMPLE_MAPPING_FILE = join(__dirname, 'customers.mapping.fixture.json');

export function exampleMappingJson(): Record<string, unknown> {
  return JSON.parse(readFileSync(EXAMPLE_MAPPING_FILE, 'utf8')) as Record<string, unknown>;
}

export function customersMapping(overrides: Record<string, unknown> = {}): DebeziumMapping {
  return parseDebeziumMapping({ ...exampleMappingJson(), ...overrides }, 'customers.mapping.json');
}

export type CustomerRow = Record<string, unknown>;

/** 2025-11-28T10:15:30.123Z, the commit time of the change in the source database. */
export const SOURCE_TS_MS = 1_764_324_930_123;

export function aCustomerRow(overrides: CustomerRow = {}): CustomerRow {
  return {
    customer_id: 'C-1001',
    first_name: 'Amy',
    last_name: 'Lin',
    email: 'Amy@Example.com',
    mobile: '0912-345-678',
    birthday: 7395, // DATE 1990-04-01 as days since the epoch
    gender: 'F',
    tier: 'Gold',
    points: 120,
    opt_in_sms: true,
    updated_at: 1_764_324_930_123_456, // TIMESTAMP as MicroTimestamp
    created_at: 1_700_000_000_000_000, // not mapped
    ...overrides,
  };
}

export function aSource(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '3.0.7.Final',
    connector: 'postgresql',
    name: 'crm',
    ts_ms: SOURCE_TS_MS,
    snapshot: 'false',
    db: 'crm',
    sequence: '["24023928","24023984"]',
    ts_us: SOURCE_TS_MS * 1_000,
    ts_ns: SOURCE_TS_MS * 1_000_000,
    schema: 'public',
    table: 'customers',
    txId: 771,
    lsn: 24_023_984,
    xmin: null,
    ...overrides,
  };
}

export interface DebeziumPayload {
  before: CustomerRow | null;
  after: CustomerRow | null;
  source: Record<string, unknown>;
  transaction: null;
  op: string;
  ts_ms: number;
  ts_us: number;
  ts_ns: number;
}

export function aDebeziumEvent(overrides: Partial<DebeziumPayload> = {}): DebeziumPayload {
  return {
    before: null,
    after: aCustomerRow(),
    source: aSource(),
    transaction: null,
    op: 'c',
    ts_ms: SOURCE_TS_MS + 333,
    ts_us: (SOURCE_TS_MS + 333) * 1_000,
    ts_ns: (SOURCE_TS_MS + 333) * 1_000_000,
    ...overrides,
  };
}

export const anInsert = (after: CustomerRow = aCustomerRow()): DebeziumPayload => aDebeziumEvent({ op: 'c', after });

export const aSnapshotRead = (after: CustomerRow = aCustomerRow()): DebeziumPayload =>
  aDebeziumEvent({ op: 'r', after, source: aSource({ snapshot: 'true' }) });

export const anUpdate = (before: CustomerRow | null, after: CustomerRow): DebeziumPayload =>
  aDebeziumEvent({ op: 'u', before, after });

export const aDelete = (before: CustomerRow | null): DebeziumPayload => aDebeziumEvent({ op: 'd', before, after: null });

const column = (field: string, type: string, optional: boolean, logical?: { name: string; version: number }) => ({
  type,
  optional,
  ...(logical ?? {}),
  field,
});

function rowSchema(field: 'before' | 'after') {
  return {
    type: 'struct',
    fields: [
      column('customer_id', 'string', false),
      column('first_name', 'string', true),
      column('last_name', 'string', true),
      column('email', 'string', true),
      column('mobile', 'string', true),
      column('birthday', 'int32', true, { name: 'io.debezium.time.Date', version: 1 }),
      column('gender', 'string', true),
      column('tier', 'string', true),
      column('points', 'int32', true),
      column('opt_in_sms', 'boolean', true),
      column('updated_at', 'int64', true, { name: 'io.debezium.time.MicroTimestamp', version: 1 }),
      column('created_at', 'int64', true, { name: 'io.debezium.time.MicroTimestamp', version: 1 }),
    ],
    optional: true,
    name: 'crm.public.customers.Value',
    field,
  };
}

/** The JSON converter's schema for the customers envelope. */
export function customersEnvelopeSchema() {
  return {
    type: 'struct',
    fields: [
      rowSchema('before'),
      rowSchema('after'),
      {
        type: 'struct',
        fields: [
          column('version', 'string', false),
          column('connector', 'string', false),
          column('name', 'string', false),
          column('ts_ms', 'int64', false),
          {
            type: 'string',
            optional: true,
            name: 'io.debezium.data.Enum',
            version: 1,
            parameters: { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
            default: 'false',
            field: 'snapshot',
          },
          column('db', 'string', false),
          column('sequence', 'string', true),
          column('ts_us', 'int64', true),
          column('ts_ns', 'int64', true),
          column('schema', 'string', false),
          column('table', 'string', false),
          column('txId', 'int64', true),
          column('lsn', 'int64', true),
          column('xmin', 'int64', true),
        ],
        optional: false,
        name: 'io.debezium.connector.postgresql.Source',
        version: 1,
        field: 'source',
      },
      {
        type: 'struct',
        fields: [column('id', 'string', false), column('total_order', 'int64', false), column('data_collection_order', 'int64', false)],
        optional: true,
        name: 'event.block',
        version: 1,
        field: 'transaction',
      },
      column('op', 'string', false),
      column('ts_ms', 'int64', true),
      column('ts_us', 'int64', true),
      column('ts_ns', 'int64', true),
    ],
    optional: false,
    name: 'crm.public.customers.Envelope',
    version: 2,
  };
}

export function withSchema(payload: DebeziumPayload | null) {
  return { schema: customersEnvelopeSchema(), payload };
}

export function toMessage(event: unknown): Buffer {
  return Buffer.from(JSON.stringify(event), 'utf8');
}
