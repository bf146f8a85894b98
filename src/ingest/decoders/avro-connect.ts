import { Type, types } from 'avsc';

/**
 * How an Avro writer schema and its decoded values are made to look like what Kafka Connect's JSON
 * converter writes, so that Debezium events read through a Schema Registry go through the very
 * mapping code the JSON path uses (DebeziumRecord) and the same row gives the same patch:
 * - the schema: Connect's logical names come from the `connect.name` and `connect.parameters`
 *   properties the Avro converters (Confluent's, Apicurio's) write, else from the Avro logical
 *   type (`date`, `timestamp-millis`, `timestamp-micros`, `decimal` with its scale);
 * - the values: bytes (decimals) as base64 text, longs as numbers (a long beyond 2^53 keeps its
 *   exact text aside), nullable unions as the value or null, records as plain objects.
 */

/** A writer schema compiled for reading: the avsc type and the Connect-shaped schema of the envelope. */
export interface AvroReader {
  type: Type;
  connectSchema: object;
}

// TRICKY: avsc reads a long into a double and throws when that would round; a customer id beyond
// 2^53 must keep every digit, so longs are read as bigint and turned into numbers afterwards.
const exactLong = types.LongType.__with({
  fromBuffer: (buffer: Buffer) => buffer.readBigInt64LE(),
  toBuffer: (value: bigint | number) => {
    const buffer = Buffer.alloc(8);
    buffer.writeBigInt64LE(BigInt(value));
    return buffer;
  },
  fromJSON: (value: unknown) => BigInt(value as number),
  toJSON: (value: bigint) => Number(value),
  isValid: (value: unknown) => typeof value === 'bigint' || Number.isInteger(value),
  compare: (a: bigint, b: bigint) => (a === b ? 0 : a < b ? -1 : 1),
});

/** Compiles a writer schema's text; throws with avsc's reason when it is not a valid Avro schema. */
export function compileAvro(schemaText: string): AvroReader {
  const schema = JSON.parse(schemaText) as unknown;
  // Unions of null and one type (Debezium's optional columns) read as the value or null.
  const type = Type.forSchema(schema as never, { registry: { long: exactLong }, wrapUnions: 'auto' });
  return { type, connectSchema: connectSchemaOf(schema) };
}

/** Connect logical name and parameters from an Avro logical type, for producers other than Connect. */
const AVRO_LOGICAL_NAMES: Record<string, string> = {
  date: 'org.apache.kafka.connect.data.Date',
  'timestamp-millis': 'org.apache.kafka.connect.data.Timestamp',
  'timestamp-micros': 'io.debezium.time.MicroTimestamp',
  decimal: 'org.apache.kafka.connect.data.Decimal',
};

type Json = Record<string, unknown>;

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The envelope's `before` and `after` columns as the JSON converter's schema lists them
 * (`{fields: [{field: 'before', fields: [{field, name, parameters}]}, ...]}`); named types defined
 * in `before` and referred to by name in `after` are followed.
 */
function connectSchemaOf(schema: unknown): object {
  const named = new Map<string, Json>();
  collectNamed(schema, undefined, named);
  const resolve = (node: unknown, namespace: string | undefined): unknown => {
    if (typeof node !== 'string') return node;
    return named.get(node) ?? (namespace !== undefined ? named.get(`${namespace}.${node}`) : undefined) ?? node;
  };
  const nonNull = (node: unknown, namespace: string | undefined): unknown => {
    if (Array.isArray(node)) {
      const branches = node.filter((branch) => branch !== 'null');
      return branches.length === 1 ? resolve(branches[0], namespace) : undefined;
    }
    return resolve(node, namespace);
  };
  const fields: Json[] = [];
  const namespace = isObject(schema) && typeof schema.namespace === 'string' ? schema.namespace : undefined;
  if (isObject(schema) && Array.isArray(schema.fields)) {
    for (const part of schema.fields as unknown[]) {
      if (!isObject(part) || (part.name !== 'before' && part.name !== 'after')) continue;
      const row = nonNull(part.type, namespace);
      if (!isObject(row) || !Array.isArray(row.fields)) continue;
      const rowNamespace = typeof row.namespace === 'string' ? row.namespace : namespace;
      const columns: Json[] = [];
      for (const column of row.fields as unknown[]) {
        if (!isObject(column) || typeof column.name !== 'string') continue;
        const type = nonNull(column.type, rowNamespace);
        if (!isObject(type)) continue;
        const logical = logicalOf(type);
        if (logical !== undefined) columns.push({ field: column.name, ...logical });
      }
      fields.push({ field: part.name, fields: columns });
    }
  }
  return { type: 'struct', fields };
}

function logicalOf(type: Json): { name: string; parameters?: Json } | undefined {
  if (typeof type['connect.name'] === 'string') {
    const parameters = isObject(type['connect.parameters']) ? type['connect.parameters'] : undefined;
    return { name: type['connect.name'], ...(parameters ? { parameters } : {}) };
  }
  // Debezium's VariableScaleDecimal is a record of that full name, with or without connect.name.
  const fullName = typeof type.name === 'string' ? (type.name.includes('.') || typeof type.namespace !== 'string' ? type.name : `${type.namespace}.${type.name}`) : undefined;
  if (fullName === 'io.debezium.data.VariableScaleDecimal') return { name: fullName };
  const name = typeof type.logicalType === 'string' ? AVRO_LOGICAL_NAMES[type.logicalType] : undefined;
  if (name === undefined) return undefined;
  return type.logicalType === 'decimal' ? { name, parameters: { scale: String(type.scale ?? 0) } } : { name };
}

function collectNamed(node: unknown, namespace: string | undefined, into: Map<string, Json>): void {
  if (Array.isArray(node)) {
    for (const branch of node) collectNamed(branch, namespace, into);
    return;
  }
  if (!isObject(node)) return;
  const ownNamespace = typeof node.namespace === 'string' ? node.namespace : namespace;
  if (typeof node.name === 'string' && (node.type === 'record' || node.type === 'enum' || node.type === 'fixed')) {
    const full = node.name.includes('.') || ownNamespace === undefined ? node.name : `${ownNamespace}.${node.name}`;
    into.set(full, node);
    into.set(node.name, node);
  }
  if (Array.isArray(node.fields)) for (const field of node.fields as unknown[]) if (isObject(field)) collectNamed(field.type, ownNamespace, into);
  if (node.items !== undefined) collectNamed(node.items, ownNamespace, into);
  if (node.values !== undefined) collectNamed(node.values, ownNamespace, into);
  if (isObject(node.type) || Array.isArray(node.type)) collectNamed(node.type, ownNamespace, into);
}

/** A decoded Avro value in the JSON converter's shape; longs beyond 2^53 become (rounded) numbers. */
export function toJsonShape(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return typeof value === 'bigint' ? Number(value) : value;
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (Array.isArray(value)) return value.map(toJsonShape);
  const copy: Json = {};
  for (const key of Object.keys(value)) {
    // defineProperty: a map key or field named __proto__ stays a plain key, never a prototype.
    Object.defineProperty(copy, key, { value: toJsonShape((value as Json)[key]), enumerable: true, writable: true, configurable: true });
  }
  return copy;
}
