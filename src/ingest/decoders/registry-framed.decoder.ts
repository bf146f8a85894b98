import type { RegisteredSchema } from '../../schema-registry/schema-registry.client';
import { readFrame } from '../../schema-registry/wire-format';
import { compileAvro, toJsonShape, type AvroReader } from './avro-connect';
import { decodeError } from './decode-result';
import type { DecodeResult, Decoder } from './decode-result';
import type { DebeziumRecordDecoder } from './debezium.decoder';

/**
 * The writer schemas of one batch, fetched before it is decoded (decoding itself is synchronous):
 * a schema, `missing` when the registry says the id does not exist, undefined when not fetched.
 */
export type SchemaLookup = (schemaId: number) => RegisteredSchema | 'missing' | undefined;

/**
 * A framed message whose schema was not fetched for its batch. It cannot happen when the batch's
 * ids are fetched first (TopicDecoders.prepare); if it does, the batch fails as a whole and is
 * retried (transient), never dead-lettered.
 */
export class SchemaNotLoadedError extends Error {
  readonly code = 'schema_not_loaded';
  constructor(readonly schemaId: number) {
    super(`schema id ${schemaId} was not fetched before decoding`);
    this.name = 'SchemaNotLoadedError';
  }
}

/** Compiled writer schemas kept per decoder; like the registry client's cache, ids are immutable. */
const COMPILED_SCHEMAS_MAX = 1_000;

/** What a framed topic's body is after the frame: Avro binary, or JSON text (JSON Schema). */
export type FramedEncoding = 'avro' | 'json';

/**
 * A decoder for messages in Confluent's wire format (see readFrame). Deterministic failures are
 * dead-lettered with stage `decode` and the schema id: a message that is not a frame, an id the
 * registry says does not exist, a schema of the wrong type for the topic, bytes that do not decode
 * with their writer schema. `then` turns the decoded value into the outcome, exactly as the
 * unframed format would.
 */
export function createFramedDecoder(
  encoding: FramedEncoding,
  maxMessageBytes: number,
  then: { avro?: (value: unknown, reader: AvroReader, schemaId: number, now: number) => DecodeResult; json: Decoder },
): (lookup: SchemaLookup) => Decoder {
  const compiled = new Map<number, AvroReader | string>();
  const compile = (schema: RegisteredSchema): AvroReader | string => {
    let reader = compiled.get(schema.id);
    if (reader === undefined) {
      try {
        reader = compileAvro(schema.schema);
      } catch (error) {
        reader = `schema id ${schema.id} is not a valid Avro schema: ${(error as Error).message.slice(0, 200)}`;
      }
      if (compiled.size >= COMPILED_SCHEMAS_MAX) compiled.delete(compiled.keys().next().value!);
      compiled.set(schema.id, reader);
    }
    return reader;
  };
  return (lookup) => (value, now) => {
    if (value === null) return { kind: 'skip', reason: 'tombstone (null value)' };
    if (value.length > maxMessageBytes) {
      return decodeError('decode', 'MessageTooLarge', `message is ${value.length} bytes, over the limit of ${maxMessageBytes}`);
    }
    const frame = readFrame(value);
    if (!frame.ok) return decodeError('decode', 'InvalidFrame', frame.reason);
    const { schemaId, body } = frame;
    const schema = lookup(schemaId);
    if (schema === undefined) throw new SchemaNotLoadedError(schemaId);
    if (schema === 'missing') {
      return decodeError('decode', 'UnknownSchema', `schema id ${schemaId} does not exist in the Schema Registry (404, error code 40403)`, schemaId);
    }
    const expected = encoding === 'avro' ? 'AVRO' : 'JSON';
    if (schema.schemaType !== expected) {
      return decodeError('decode', 'SchemaMismatch', `schema id ${schemaId} is a ${schema.schemaType} schema; this topic reads ${expected}`, schemaId);
    }
    if (encoding === 'json') return withSchemaId(then.json(body, now), schemaId);
    const reader = compile(schema);
    if (typeof reader === 'string') return decodeError('decode', 'SchemaMismatch', reader, schemaId);
    let decoded: unknown;
    try {
      // fromBuffer refuses bytes left over or missing: the payload must be exactly one value.
      decoded = reader.type.fromBuffer(body);
    } catch (error) {
      return decodeError('decode', 'SchemaMismatch', `bytes do not decode with writer schema id ${schemaId}: ${(error as Error).message.slice(0, 200)}`, schemaId);
    }
    return withSchemaId(then.avro!(decoded, reader, schemaId, now), schemaId);
  };
}

function withSchemaId(result: DecodeResult, schemaId: number): DecodeResult {
  return result.kind === 'error' ? { ...result, schemaId } : result;
}

/** A Debezium event decoded from Avro, through the JSON path's mapping (DebeziumRecord). */
export function debeziumFromAvro(decodeRecord: DebeziumRecordDecoder) {
  return (value: unknown, reader: AvroReader, _schemaId: number, now: number): DecodeResult => {
    if (value === null) return { kind: 'skip', reason: 'tombstone (null payload)' };
    const event = value as Record<string, unknown>;
    return decodeRecord(
      {
        payload: toJsonShape(value),
        schema: reader.connectSchema,
        exactText: (side, column) => {
          const row = event[side] as Record<string, unknown> | null | undefined;
          const raw = row?.[column];
          return typeof raw === 'bigint' ? raw.toString() : undefined;
        },
      },
      now,
    );
  };
}

/**
 * A `profile-change.v1` event decoded from Avro, checked by the JSON decoder: the Avro schema's
 * maps keep "absent" apart from "null" (DESIGN §3 invariant 3), and the event meets exactly the
 * rules of its JSON form.
 */
export function profileChangeFromAvro(decodeJson: Decoder) {
  return (value: unknown, _reader: AvroReader, _schemaId: number, now: number): DecodeResult =>
    decodeJson(Buffer.from(JSON.stringify(toJsonShape(value)), 'utf8'), now);
}
