/**
 * The formats a source topic can carry (DESIGN §4.1). The `-avro` and `-json-sr` ones are framed
 * in Confluent's wire format (magic byte, schema id) and need SCHEMA_REGISTRY_URL.
 */
export const SOURCE_FORMATS = [
  'profile-change.v1',
  'debezium',
  'debezium-avro',
  'debezium-json-sr',
  'profile-change.v1-avro',
  'profile-change.v1-json-sr',
] as const;
export type SourceFormat = (typeof SOURCE_FORMATS)[number];

/** Formats read through a Schema Registry. */
export function isRegistryFormat(format: SourceFormat): boolean {
  return format.endsWith('-avro') || format.endsWith('-json-sr');
}

/** Formats of Debezium events, which take a mapping file. */
export function isDebeziumFormat(format: SourceFormat): boolean {
  return format.startsWith('debezium');
}

export interface SourceTopic {
  topic: string;
  format: SourceFormat;
  /** Path of the Debezium mapping file; required for the `debezium` formats, absent otherwise. */
  mappingFile?: string;
}

// Kafka's own rule for topic names.
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * Parses SOURCE_TOPICS: comma-separated `topic:format[:mapping-file]`. Returns the topics, or the
 * problems found, one message per bad entry.
 */
export function parseSourceTopics(value: string): { topics: SourceTopic[]; problems: string[] } {
  const topics: SourceTopic[] = [];
  const problems: string[] = [];
  const entries = value
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length === 0) problems.push('needs at least one `topic:format[:mapping-file]` entry');
  for (const entry of entries) {
    const [topic, format, ...rest] = entry.split(':');
    const mappingFile = rest.length > 0 ? rest.join(':') : undefined;
    if (!topic || !TOPIC_NAME.test(topic)) {
      problems.push(`"${entry}": "${topic ?? ''}" is not a valid Kafka topic name`);
      continue;
    }
    if (!format || !(SOURCE_FORMATS as readonly string[]).includes(format)) {
      problems.push(`"${entry}": format must be one of ${SOURCE_FORMATS.join(', ')}`);
      continue;
    }
    if (isDebeziumFormat(format as SourceFormat) && !mappingFile) {
      problems.push(`"${entry}": a ${format} topic needs a mapping file (topic:${format}:path/to/mapping.json)`);
      continue;
    }
    if (!isDebeziumFormat(format as SourceFormat) && mappingFile) {
      problems.push(`"${entry}": only debezium topics take a mapping file`);
      continue;
    }
    if (topics.some((known) => known.topic === topic)) {
      problems.push(`"${entry}": topic ${topic} is listed twice`);
      continue;
    }
    topics.push({ topic, format: format as SourceFormat, ...(mappingFile ? { mappingFile } : {}) });
  }
  return { topics, problems };
}
