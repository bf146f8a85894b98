import { existsSync, readFileSync } from 'node:fs';
import type { CliContext } from './cli-context';
import { MappingCheck, type MappingCheckReport } from './mapping-check';

/** Messages read by default: enough to meet every column a table has, quick on any topic. */
export const MAPPING_CHECK_SAMPLE_DEFAULT = 1_000;
/** At most this many: the check reads the sample into memory-light counters, but a topic can be huge. */
export const MAPPING_CHECK_SAMPLE_MAX = 100_000;

/**
 * The environment mapping:check runs in: the service's (Kafka's brokers, TLS and SASL above all),
 * with the topic and mapping checked as the only source, and stand-ins for what it never uses (the
 * database, CAAC, the admin token), so that a mapping can be checked before the rest is set up.
 */
export function mappingCheckEnv(env: NodeJS.ProcessEnv, topic: string, mappingFile: string): NodeJS.ProcessEnv {
  const unused = {
    DATABASE_URL: 'postgres://unused@127.0.0.1:5432/unused',
    CAAC_BASE_URL: 'http://127.0.0.1:4010',
    CAAC_API_KEY: 'unused-by-mapping-check',
    ADMIN_TOKEN: 'unused-by-mapping-check',
  };
  // A mapping file that is not there is this command's own error (MappingFileError), not a setting's.
  const source = existsSync(mappingFile) ? `${topic}:debezium:${mappingFile}` : `${topic}:profile-change.v1`;
  return { ...unused, ...env, SOURCE_TOPICS: source, DLQ_TOPIC: env.DLQ_TOPIC && env.DLQ_TOPIC !== topic ? env.DLQ_TOPIC : `${topic}.mapping-check-unused` };
}

/** A mapping file that cannot be read or is not valid: its lines are the user's to fix. */
export class MappingFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MappingFileError';
  }
}

/**
 * Reads up to `sample` messages from the start of `topic`, in a consumer group of its own that is
 * deleted afterwards (the service's group and offsets are never touched), and checks the mapping
 * file against them (see MappingCheck).
 */
export async function checkMapping(context: CliContext, topic: string, mappingFile: string, sample: number, timeoutMs: number): Promise<MappingCheckReport> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(mappingFile, 'utf8'));
  } catch (error) {
    throw new MappingFileError(`mapping file ${mappingFile} is not readable JSON: ${(error as Error).message}`);
  }
  let check: MappingCheck;
  try {
    check = new MappingCheck(topic, mappingFile, json, { defaultPhoneRegion: context.config.defaultPhoneRegion, maxFutureSkewMs: context.config.maxFutureSkewMs });
  } catch (error) {
    throw new MappingFileError((error as Error).message);
  }
  const kafka = context.kafka();
  const [missing] = await kafka.missingTopics([topic]);
  if (missing !== undefined) throw new MappingFileError(`topic ${topic} does not exist on ${context.config.kafka.brokers.join(',')}`);
  await kafka.readToEnd(topic, (message) => check.add(message.value), timeoutMs, sample);
  return check.report();
}
