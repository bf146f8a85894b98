import { readFileSync } from 'node:fs';
import type { AppConfig } from '../config/app-config';
import type { SourceTopic } from '../config/source-topic';
import { SchemaNotFoundError } from '../schema-registry/schema-registry.errors';
import { SchemaRegistryClient, type RegisteredSchema } from '../schema-registry/schema-registry.client';
import { readFrame } from '../schema-registry/wire-format';
import { DEFAULT_MAX_MESSAGE_BYTES } from './decoders/json-message';
import type { Decoder } from './decoders/decode-result';
import type { Logger } from '../common/logger';
import type { Metrics } from '../telemetry/metrics';
import { createDebeziumDecoder, createDebeziumRecordDecoder, type AbsentColumn } from './decoders/debezium.decoder';
import { parseDebeziumMapping, type DebeziumMapping } from './decoders/debezium-mapping';
import { createProfileChangeDecoder } from './decoders/profile-change.v1.decoder';
import { createFramedDecoder, debeziumFromAvro, profileChangeFromAvro, type SchemaLookup } from './decoders/registry-framed.decoder';

/**
 * One decoder per source topic, built once at start. A Debezium mapping file that cannot be read
 * or is invalid stops start-up with a message naming the file and each problem. Topics framed for
 * a Schema Registry have their batch's writer schemas fetched first (`prepare`), because decoding
 * is synchronous: a registry that cannot answer fails the batch as a whole (transient, retried by
 * the consumer with backoff), so no event is skipped or dead-lettered for an outage.
 */
export class TopicDecoders {
  private readonly decoders = new Map<string, Decoder>();
  private readonly framed = new Map<string, (lookup: SchemaLookup) => Decoder>();
  /** The registry client, when SCHEMA_REGISTRY_URL is set. */
  readonly registry: SchemaRegistryClient | undefined;

  constructor(config: AppConfig, seams: { logger?: Logger; metrics?: Metrics; registry?: SchemaRegistryClient } = {}) {
    const { logger, metrics, registry } = seams;
    const options = {
      defaultPhoneRegion: config.defaultPhoneRegion,
      maxMessageBytes: config.kafka.maxMessageBytes,
      maxFutureSkewMs: config.maxFutureSkewMs,
    };
    /** Once per topic and column (the decoder reports each once): a mapping typo stays silent otherwise. */
    const absentColumnsOf = (source: SourceTopic) => ({
      ...options,
      onAbsentColumn: (absent: AbsentColumn) => {
        metrics?.ingestAbsentColumns.set({ topic: source.topic, column: absent.column, role: absent.role }, 1);
        logger?.warn(
          { topic: source.topic, mapping: source.mappingFile, column: absent.column, role: absent.role, ...(absent.suggestion ? { didYouMean: absent.suggestion } : {}) },
          `${absent.role} column "${absent.column}" of the mapping is not in the topic's events` +
            (absent.suggestion ? ` (did you mean "${absent.suggestion}"?)` : '') +
            (absent.role === 'key' ? ': events without another key column are dead-lettered' : ': its field is never sent'),
        );
      },
    });
    const settings = config.kafka.schemaRegistry;
    this.registry = registry ?? (settings !== undefined ? new SchemaRegistryClient(settings) : undefined);
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    for (const source of config.kafka.sourceTopics) {
      switch (source.format) {
        case 'profile-change.v1':
          this.decoders.set(source.topic, createProfileChangeDecoder(options));
          break;
        case 'debezium':
          this.decoders.set(source.topic, createDebeziumDecoder(readMapping(source), absentColumnsOf(source)));
          break;
        case 'debezium-avro':
        case 'debezium-json-sr': {
          const mapping = readMapping(source);
          const encoding = source.format === 'debezium-avro' ? 'avro' : 'json';
          this.framed.set(
            source.topic,
            createFramedDecoder(encoding, maxMessageBytes, {
              avro: debeziumFromAvro(createDebeziumRecordDecoder(mapping, absentColumnsOf(source))),
              json: createDebeziumDecoder(mapping, absentColumnsOf(source)),
            }),
          );
          break;
        }
        case 'profile-change.v1-avro':
        case 'profile-change.v1-json-sr': {
          const json = createProfileChangeDecoder(options);
          const encoding = source.format === 'profile-change.v1-avro' ? 'avro' : 'json';
          this.framed.set(source.topic, createFramedDecoder(encoding, maxMessageBytes, { avro: profileChangeFromAvro(json), json }));
          break;
        }
      }
    }
  }

  /** Whether any source topic is read through the Schema Registry. */
  usesRegistry(): boolean {
    return this.framed.size > 0;
  }

  /**
   * The decoder for a batch of `topic`: for a registry-framed topic, the writer schemas its
   * messages name are fetched first (from the cache, else the registry; one request per id).
   * Throws SchemaRegistryUnavailableError (transient) when the registry cannot answer for one.
   */
  async prepare(topic: string, values: ReadonlyArray<Buffer | null>): Promise<Decoder> {
    const framed = this.framed.get(topic);
    if (framed === undefined) return this.forTopic(topic);
    const ids = new Set<number>();
    for (const value of values) {
      if (value === null) continue;
      const frame = readFrame(value);
      if (frame.ok) ids.add(frame.schemaId);
    }
    const schemas = new Map<number, RegisteredSchema | 'missing'>();
    await Promise.all(
      [...ids].map(async (id) => {
        try {
          schemas.set(id, await this.registry!.schemaById(id));
        } catch (error) {
          if (!(error instanceof SchemaNotFoundError)) throw error;
          schemas.set(id, 'missing');
        }
      }),
    );
    return framed((id) => schemas.get(id));
  }

  /** The decoder of a topic that needs no registry (see prepare for the others). */
  forTopic(topic: string): Decoder {
    const decode = this.decoders.get(topic);
    if (!decode) throw new Error(`no decoder for topic ${topic}${this.framed.has(topic) ? ' without its schemas (use prepare)' : ''}`);
    return decode;
  }
}

function readMapping(source: SourceTopic): DebeziumMapping {
  const file = source.mappingFile!;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`SOURCE_TOPICS: mapping file ${file} for topic ${source.topic} is not readable JSON: ${(error as Error).message}`);
  }
  return parseDebeziumMapping(json, file);
}

