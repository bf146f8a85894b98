import { readFileSync } from 'node:fs';
import type { CliContext } from './cli-context';
import { MappingCheck, type MappingCheckReport } from './mapping-check';

/** Messages read by default: enough to meet every column a table has, quick on any topic. */
export const MAPPING_CHECK_SAMPLE_DEFAULT = 1_000;
/** At most this many: the check reads the sample into memory-light counters, but a topic can be huge. */
export const MAPPING_CHECK_SAMPLE_MAX = 100_000;

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
    const rules = context.eventRules();
    check = new MappingCheck(topic, mappingFile, json, { defaultPhoneRegion: rules.defaultPhoneRegion, maxFutureSkewMs: rules.maxFutureSkewMs });
  } catch (error) {
    throw new MappingFileError((error as Error).message);
  }
  const kafka = context.kafka();
  const [missing] = await kafka.missingTopics([topic]);
  if (missing !== undefined) throw new MappingFileError(`topic ${topic} does not exist on ${context.kafkaConnection().brokers.join(',')}`);
  await kafka.readToEnd(topic, (message) => check.add(message.value), timeoutMs, sample);
  return check.report();
}
