import { readFileSync } from 'node:fs';
import type { AppConfig } from '../config/app-config';
import type { Decoder } from './decoders/decode-result';
import { createDebeziumDecoder, type AbsentColumn } from './decoders/debezium.decoder';
import type { Logger } from '../common/logger';
import type { Metrics } from '../telemetry/metrics';
import { parseDebeziumMapping } from './decoders/debezium-mapping';
import { createProfileChangeDecoder } from './decoders/profile-change.v1.decoder';

/**
 * One decoder per source topic, built once at start. A Debezium mapping file that cannot be read
 * or is invalid stops start-up with a message naming the file and each problem.
 */
export class TopicDecoders {
  private readonly decoders = new Map<string, Decoder>();

  constructor(config: AppConfig, logger?: Logger, metrics?: Metrics) {
    const options = {
      defaultPhoneRegion: config.defaultPhoneRegion,
      maxMessageBytes: config.kafka.maxMessageBytes,
      maxFutureSkewMs: config.maxFutureSkewMs,
    };
    for (const source of config.kafka.sourceTopics) {
      if (source.format === 'profile-change.v1') {
        this.decoders.set(source.topic, createProfileChangeDecoder(options));
      } else {
        const file = source.mappingFile!;
        let json: unknown;
        try {
          json = JSON.parse(readFileSync(file, 'utf8'));
        } catch (error) {
          throw new Error(`SOURCE_TOPICS: mapping file ${file} for topic ${source.topic} is not readable JSON: ${(error as Error).message}`);
        }
        const mapping = parseDebeziumMapping(json, file);
        const onAbsentColumn = (absent: AbsentColumn) => {
          // Once per topic and column (the decoder reports each once): a mapping typo stays
          // silent otherwise, a key column's typo dead-letters every event.
          metrics?.ingestAbsentColumns.set({ topic: source.topic, column: absent.column, role: absent.role }, 1);
          logger?.warn(
            { topic: source.topic, mapping: file, column: absent.column, role: absent.role, ...(absent.suggestion ? { didYouMean: absent.suggestion } : {}) },
            `${absent.role} column "${absent.column}" of the mapping is not in the topic's events` +
              (absent.suggestion ? ` (did you mean "${absent.suggestion}"?)` : '') +
              (absent.role === 'key' ? ': events without another key column are dead-lettered' : ': its field is never sent'),
          );
        };
        this.decoders.set(source.topic, createDebeziumDecoder(mapping, { ...options, onAbsentColumn }));
      }
    }
  }

  forTopic(topic: string): Decoder {
    const decode = this.decoders.get(topic);
    if (!decode) throw new Error(`no decoder for topic ${topic}`);
    return decode;
  }
}
