import { randomUUID } from 'node:crypto';
import type { MessageProducer, OutgoingMessage, ReadMessage } from '../kafka/kafka.adapter';
import { KEY_TYPES, type FieldValue, type KeyType, type StampedPatch } from '../profile';
import { PendingChangeRepository, type StagedChange } from '../store/pending-change.repository';
import type { CliContext } from './cli-context';
import { failedAt, REPLAY_HEADER, replayAction, type ReplayFilter } from './dead-letter-replay';
import { progressBar } from './progress';

/** Events per producer request, and pending changes per transaction. */
const REPLAY_CHUNK = 500;
/** Reading the dead-letter topic to its end must finish in this time; a stuck broker fails the run. */
const REPLAY_READ_TIMEOUT_MS = 600_000;

export interface ReplayOptions {
  filter: ReplayFilter;
  dryRun: boolean;
}

export interface ReplaySummary {
  run: string;
  dryRun: boolean;
  read: number;
  republished: number;
  requeued: number;
  duplicates: number;
  skipped: Record<string, number>;
  /** Letters taken, by `stage/class/source topic`. */
  matched: Record<string, number>;
}

/**
 * Reads the dead-letter topic once, to its end as it is when the run starts, and sends every
 * matching letter back at most once: ingest letters as their original bytes to their source
 * topic with the replay headers, import letters as pending changes. `dryRun` only counts.
 */
export async function replayDeadLetters(context: CliContext, options: ReplayOptions): Promise<ReplaySummary> {
  const { sourceTopics: sources, dlqTopic } = context.topics();
  const summary: ReplaySummary = { run: `${new Date().toISOString()}/${randomUUID().slice(0, 8)}`, dryRun: options.dryRun, read: 0, republished: 0, requeued: 0, duplicates: 0, skipped: {}, matched: {} };
  const sourceTopics = new Set(sources.map((source) => source.topic));
  const seen = new Set<string>();
  const kafka = context.kafka();
  const total = (await kafka.consumerLag(`${context.kafkaConnection().clientId}-cli-none`, [dlqTopic]).catch(() => [])).reduce((sum, p) => sum + Number(p.lag), 0);
  const bar = progressBar(options.dryRun ? 'counting' : 'replaying', total);
  const producer: MessageProducer | undefined = options.dryRun ? undefined : await kafka.createProducer();
  const outgoing = new Map<string, OutgoingMessage[]>();
  let requeue: StagedChange[] = [];
  const send = async (topic: string) => {
    const messages = outgoing.get(topic) ?? [];
    if (messages.length === 0) return;
    await producer!.send(topic, messages);
    summary.republished += messages.length;
    outgoing.set(topic, []);
  };
  const stage = async () => {
    if (requeue.length === 0) return;
    const changes = requeue;
    requeue = [];
    const dataSource = await context.dataSource();
    await dataSource.transaction((db) => new PendingChangeRepository().merge(db, changes));
    summary.requeued += changes.length;
  };
  try {
    await kafka.readToEnd(
      dlqTopic,
      async (letter) => {
        summary.read++;
        bar.increment();
        const action = replayAction(letter, options.filter, sourceTopics);
        if (action.kind === 'skip') {
          summary.skipped[action.reason] = (summary.skipped[action.reason] ?? 0) + 1;
          return;
        }
        if (seen.has(action.identity)) {
          summary.duplicates++;
          return;
        }
        seen.add(action.identity);
        const what = [letter.headers['caac-sync.errors.stage'], letter.headers['caac-sync.errors.class'], letter.headers['caac-sync.errors.topic'] ?? '-'].join('/');
        summary.matched[what] = (summary.matched[what] ?? 0) + 1;
        if (options.dryRun) return;
        if (action.kind === 'republish') {
          const headers = { [REPLAY_HEADER.run]: summary.run, [REPLAY_HEADER.letter]: `${dlqTopic}/${letter.partition}/${letter.offset}` };
          const list = outgoing.get(action.topic) ?? [];
          list.push({ key: letter.key, value: letter.value, headers });
          outgoing.set(action.topic, list);
          if (list.length >= REPLAY_CHUNK) await send(action.topic);
        } else {
          const change = importLetterChange(letter);
          if (!change) {
            summary.skipped.malformed = (summary.skipped.malformed ?? 0) + 1;
            return;
          }
          requeue.push(change);
          if (requeue.length >= REPLAY_CHUNK) await stage();
        }
      },
      REPLAY_READ_TIMEOUT_MS,
    );
    for (const topic of outgoing.keys()) await send(topic);
    await stage();
  } finally {
    bar.stop();
    await producer?.disconnect();
  }
  return summary;
}

/**
 * An import letter (`{ key: { <type>: <value> }, profile: <row> }`) as a pending change. The row
 * lost its fields' source times, so each field is stamped with the time the import failed.
 * TRICKY: a CRM change older than that failure but staged after it loses to the re-queued value;
 * a change newer than the failure always wins, as for any other merge.
 */
export function importLetterChange(letter: ReadMessage): StagedChange | undefined {
  let body: { key?: Record<string, unknown>; profile?: Record<string, unknown> };
  try {
    body = JSON.parse(letter.value!.toString('utf8'));
  } catch {
    return undefined;
  }
  const [keyType, keyValue] = Object.entries(body.key ?? {})[0] ?? [];
  if (!KEY_TYPES.includes(keyType as KeyType) || typeof keyValue !== 'string' || typeof body.profile !== 'object' || body.profile === null) return undefined;
  const ts = failedAt(letter);
  const fields: StampedPatch = Object.create(null) as StampedPatch;
  for (const [field, value] of Object.entries(body.profile)) {
    if (field !== keyType) fields[field] = { value: value as FieldValue | null, ts, seq: 0 };
  }
  if (Object.keys(fields).length === 0) return undefined;
  return { keyType: keyType as KeyType, keyValue, fields };
}
