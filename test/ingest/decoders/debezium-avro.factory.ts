import { compileAvro } from '../../../src/ingest/decoders/avro-connect';
import { frame } from '../../../src/schema-registry/wire-format';
import type { DebeziumPayload } from './debezium.factory';

/**
 * The Avro schema Debezium 3.x's Postgres connector registers through an Avro converter
 * (Confluent's AvroData, which Apicurio's converter follows) for the CRM table `public.customers`
 * on topic `crm.public.customers`: the envelope record with before/after as an optional `Value`
 * record (defined in `before`, named in `after`), Connect logical types as `connect.name` (and
 * `connect.parameters`) on the primitive, optional columns as ["null", type] with default null.
 */
export interface AvroColumn {
  name: string;
  type: unknown;
  optional?: boolean;
}

const logical = (type: string, name: string, extra: Record<string, unknown> = {}) => ({ type, ...extra, 'connect.version': 1, 'connect.name': name });

/** The columns of docker/crm/schema.sql as Debezium sees them (plus created_at of the JSON factory). */
export function customersAvroColumns(): AvroColumn[] {
  return [
    { name: 'customer_id', type: 'string', optional: false },
    { name: 'first_name', type: 'string' },
    { name: 'last_name', type: 'string' },
    { name: 'email', type: 'string' },
    { name: 'mobile', type: 'string' },
    { name: 'birthday', type: logical('int', 'io.debezium.time.Date') },
    { name: 'gender', type: 'string' },
    { name: 'tier', type: 'string' },
    { name: 'points', type: 'int' },
    { name: 'opt_in_sms', type: 'boolean' },
    { name: 'updated_at', type: logical('long', 'io.debezium.time.MicroTimestamp') },
    { name: 'created_at', type: logical('long', 'io.debezium.time.MicroTimestamp') },
  ];
}

/** Kafka Connect's Decimal as the Avro converter writes it (bytes, Avro `decimal` and Connect's parameters). */
export const avroDecimal = (scale: number, precision: number) => ({
  type: 'bytes',
  scale,
  precision,
  'connect.version': 1,
  'connect.parameters': { scale: String(scale), 'connect.decimal.precision': String(precision) },
  'connect.name': 'org.apache.kafka.connect.data.Decimal',
  logicalType: 'decimal',
});

/** Debezium's numeric without a fixed scale (decimal.handling.mode precise). */
export const avroVariableScaleDecimal = () => ({
  type: 'record',
  name: 'VariableScaleDecimal',
  namespace: 'io.debezium.data',
  fields: [
    { name: 'scale', type: 'int' },
    { name: 'value', type: 'bytes' },
  ],
  'connect.doc': 'Variable scaled decimal',
  'connect.version': 1,
  'connect.name': 'io.debezium.data.VariableScaleDecimal',
});

export function customersAvroSchema(columns: AvroColumn[] = customersAvroColumns()): Record<string, unknown> {
  const nullable = (type: unknown) => ['null', type];
  return {
    type: 'record',
    name: 'Envelope',
    namespace: 'crm.public.customers',
    fields: [
      {
        name: 'before',
        type: nullable({
          type: 'record',
          name: 'Value',
          fields: columns.map((column) =>
            column.optional === false ? { name: column.name, type: column.type } : { name: column.name, type: nullable(column.type), default: null },
          ),
          'connect.name': 'crm.public.customers.Value',
        }),
        default: null,
      },
      { name: 'after', type: nullable('Value'), default: null },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          namespace: 'io.debezium.connector.postgresql',
          fields: [
            { name: 'version', type: 'string' },
            { name: 'connector', type: 'string' },
            { name: 'name', type: 'string' },
            { name: 'ts_ms', type: 'long' },
            {
              name: 'snapshot',
              type: [
                logical('string', 'io.debezium.data.Enum', {
                  'connect.parameters': { allowed: 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental' },
                  'connect.default': 'false',
                }),
                'null',
              ],
              default: 'false',
            },
            { name: 'db', type: 'string' },
            { name: 'sequence', type: nullable('string'), default: null },
            { name: 'ts_us', type: nullable('long'), default: null },
            { name: 'ts_ns', type: nullable('long'), default: null },
            { name: 'schema', type: 'string' },
            { name: 'table', type: 'string' },
            { name: 'txId', type: nullable('long'), default: null },
            { name: 'lsn', type: nullable('long'), default: null },
            { name: 'xmin', type: nullable('long'), default: null },
          ],
          'connect.name': 'io.debezium.connector.postgresql.Source',
        },
      },
      {
        name: 'transaction',
        type: nullable({
          type: 'record',
          name: 'block',
          namespace: 'event',
          fields: [
            { name: 'id', type: 'string' },
            { name: 'total_order', type: 'long' },
            { name: 'data_collection_order', type: 'long' },
          ],
          'connect.version': 1,
          'connect.name': 'event.block',
        }),
        default: null,
      },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: nullable('long'), default: null },
      { name: 'ts_us', type: nullable('long'), default: null },
      { name: 'ts_ns', type: nullable('long'), default: null },
    ],
    'connect.version': 2,
    'connect.name': 'crm.public.customers.Envelope',
  };
}

/**
 * A Debezium payload (the JSON factory's shape) as Avro binary under `schema`: columns the schema
 * lacks are dropped, columns it has and the row lacks are null, base64 text in `bytes` columns is
 * passed as the bytes it encodes. Longs beyond 2^53 may be given as bigint.
 */
export function toAvro(schema: Record<string, unknown>, payload: DebeziumPayload): Buffer {
  // The service's own reader type writes too: its longs take integers beyond 2^53 (ts_ns).
  return compileAvro(JSON.stringify(schema)).type.toBuffer(toAvroValue(schema, payload));
}

/** toAvro framed in Confluent's wire format under `schemaId`. */
export function framedAvro(schemaId: number, schema: Record<string, unknown>, payload: DebeziumPayload): Buffer {
  return frame(schemaId, toAvro(schema, payload));
}

function toAvroValue(schema: Record<string, unknown>, payload: DebeziumPayload): Record<string, unknown> {
  const value = (((schema.fields as Array<{ name: string; type: unknown }>)[0]!.type as unknown[])[1] as { fields: Array<{ name: string; type: unknown }> }).fields;
  const row = (source: Record<string, unknown> | null) => {
    if (source === null) return null;
    const out: Record<string, unknown> = {};
    for (const column of value) {
      const raw = source[column.name] ?? null;
      const type = Array.isArray(column.type) ? column.type[1] : column.type;
      out[column.name] = toBytesWhereNeeded(raw, type);
    }
    return out;
  };
  return {
    before: row(payload.before),
    after: row(payload.after),
    source: payload.source,
    transaction: payload.transaction,
    op: payload.op,
    ts_ms: payload.ts_ms,
    ts_us: payload.ts_us,
    ts_ns: payload.ts_ns,
  };
}

function toBytesWhereNeeded(raw: unknown, type: unknown): unknown {
  if (raw === null) return null;
  const t = type as { type?: string; fields?: unknown } | string;
  if (typeof t === 'object' && t.type === 'bytes' && typeof raw === 'string') return Buffer.from(raw, 'base64');
  if (typeof t === 'object' && t.type === 'record' && typeof raw === 'object') {
    const { scale, value } = raw as { scale: number; value: string };
    return { scale, value: Buffer.from(value, 'base64') };
  }
  return raw;
}
