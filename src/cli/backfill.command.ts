import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { parse } from 'csv-parse';
import type { MessageProducer, OutgoingMessage } from '../kafka/kafka.adapter';
import { decodeProfileChangeV1, type ProfileChangeDecoderOptions } from '../ingest/decoders/profile-change.v1.decoder';
import { parseBackfillMapping, rowToEvent } from './backfill-mapping';
import type { CliContext } from './cli-context';
import { progressBar } from './progress';

/** Events per producer request: large enough to stream fast, well under a request's size limit. */
const BACKFILL_SEND_CHUNK = 500;
/** Bad rows listed one per line; beyond this only counted, so a wrong mapping cannot flood the screen. */
export const BACKFILL_BAD_ROWS_LISTED = 1_000;

export interface BackfillOptions {
  mapping: string;
  /** The source topic; default: the one profile-change.v1 topic of SOURCE_TOPICS. */
  topic?: string;
  /** `occurred_at` of rows when the mapping names no column for it; default: the file's modification time. */
  occurredAt?: string;
  dryRun?: boolean;
}

export interface BackfillSummary {
  topic: string;
  rows: number;
  published: number;
  bad: Array<{ line: number; reason: string }>;
  badCount: number;
}

/**
 * A CRM CSV (header row first) becomes `profile-change.v1` events on the source topic, so the
 * service's dedupe and no-op dropping apply as to any other event. Each event is checked with the
 * service's own decoder first; a row it refuses is reported with its line number and nothing is
 * published for it.
 */
export async function backfill(context: CliContext, file: string, options: BackfillOptions): Promise<BackfillSummary> {
  const topic = options.topic ?? defaultTopic(context);
  const mapping = parseBackfillMapping(JSON.parse(await readFile(options.mapping, 'utf8')), options.mapping);
  const fallbackOccurredAt = options.occurredAt ?? (await stat(file)).mtime.toISOString();
  const decoderOptions: ProfileChangeDecoderOptions = context.eventRules();
  const size = (await stat(file)).size;

  const producer: MessageProducer | undefined = options.dryRun ? undefined : await context.kafka().createProducer();
  const summary: BackfillSummary = { topic, rows: 0, published: 0, bad: [], badCount: 0 };
  const bar = progressBar(options.dryRun ? 'checking' : 'publishing', size);
  let pending: OutgoingMessage[] = [];
  const flush = async () => {
    if (pending.length === 0) return;
    await producer?.send(topic, pending);
    summary.published += pending.length;
    pending = [];
  };
  try {
    const source = createReadStream(file);
    source.on('data', (chunk) => bar.increment(chunk.length));
    const refuse = (line: number, reason: string) => {
      summary.badCount++;
      if (summary.bad.length < BACKFILL_BAD_ROWS_LISTED) summary.bad.push({ line, reason });
    };
    // A malformed row (wrong number of cells, a broken quote) is reported and skipped, not fatal.
    const parser = source.pipe(parse({ columns: true, bom: true, skip_empty_lines: true, trim: true, info: true, skip_records_with_error: true }));
    parser.on('skip', (error: Error & { lines?: number }) => {
      summary.rows++;
      refuse(error.lines ?? 0, error.message);
    });
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      summary.rows++;
      const outcome = rowToEvent(record, mapping, fallbackOccurredAt);
      const reason = 'error' in outcome ? outcome.error : checkEvent(outcome.event, decoderOptions);
      if (reason !== undefined || 'error' in outcome) {
        refuse(info.lines, reason ?? 'refused');
        continue;
      }
      if (options.dryRun) {
        summary.published++;
        continue;
      }
      pending.push({ key: outcome.key, value: JSON.stringify(outcome.event) });
      if (pending.length >= BACKFILL_SEND_CHUNK) await flush();
    }
    await flush();
    summary.bad.sort((a, b) => a.line - b.line);
  } finally {
    bar.stop();
    await producer?.disconnect();
  }
  return summary;
}

/** Undefined when the service would take the event; else why not. */
function checkEvent(event: Record<string, unknown>, options: ProfileChangeDecoderOptions): string | undefined {
  const result = decodeProfileChangeV1(Buffer.from(JSON.stringify(event)), Date.now(), options);
  return result.kind === 'error' ? result.message : result.kind === 'skip' ? result.reason : undefined;
}

function defaultTopic(context: CliContext): string {
  const topics = context.topics().sourceTopics.filter((source) => source.format === 'profile-change.v1');
  if (topics.length !== 1) {
    throw new Error(`--topic is needed: SOURCE_TOPICS has ${topics.length} profile-change.v1 topics (${topics.map((t) => t.topic).join(', ') || 'none'})`);
  }
  return topics[0]!.topic;
}
