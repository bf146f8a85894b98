import { createHash } from 'node:crypto';
import { DEAD_LETTER_HEADER, type DeadLetterStage } from '../dead-letter/dead-letter';
import type { ReadMessage } from '../kafka/kafka.adapter';

/** Headers a replayed event carries, so the source topic shows which events came back and from where. */
export const REPLAY_HEADER = {
  /** The replay run: one id per `dlq:replay` invocation. */
  run: 'caac-sync.replay.run',
  /** The dead letter it came from: `<dlq topic>/<partition>/<offset>`. */
  letter: 'caac-sync.replay.letter',
} as const;

/** Which letters a run takes; an absent criterion takes every letter. */
export interface ReplayFilter {
  stages?: readonly string[];
  classes?: readonly string[];
  sourceTopics?: readonly string[];
  /** Failure time bounds, epoch ms, inclusive `since`, exclusive `until`. */
  since?: number;
  until?: number;
}

/** What is done with one letter. */
export type ReplayAction =
  | { kind: 'republish'; identity: string; topic: string }
  | { kind: 'requeue'; identity: string }
  | { kind: 'skip'; reason: 'filtered' | 'truncated' | 'not-a-source-topic' | 'not-replayable' | 'malformed' };

/** When the letter's failure was seen: its timestamp header, else the record's own time. */
export function failedAt(letter: ReadMessage): number {
  const at = Date.parse(letter.headers[DEAD_LETTER_HEADER.timestamp] ?? '');
  return Number.isFinite(at) ? at : letter.timestamp;
}

/**
 * Decides what a replay does with one letter. Ingest letters (`decode`, `validate`) go back to
 * their source topic as the original bytes; `import` letters hold a patch, not a source event, and
 * are re-queued as pending changes; `export` letters report, they have nothing to send again.
 * The identity is the source event's position (or, for an import letter, its content), so a
 * letter dead-lettered twice (letters are at least once) is replayed once per run.
 */
export function replayAction(letter: ReadMessage, filter: ReplayFilter, sourceTopics: ReadonlySet<string>): ReplayAction {
  const stage = letter.headers[DEAD_LETTER_HEADER.stage] as DeadLetterStage | undefined;
  const topic = letter.headers[DEAD_LETTER_HEADER.topic];
  const at = failedAt(letter);
  if (
    (filter.stages && !filter.stages.includes(stage ?? '')) ||
    (filter.classes && !filter.classes.includes(letter.headers[DEAD_LETTER_HEADER.errorClass] ?? '')) ||
    (filter.sourceTopics && !filter.sourceTopics.includes(topic ?? '')) ||
    (filter.since !== undefined && at < filter.since) ||
    (filter.until !== undefined && at >= filter.until)
  ) {
    return { kind: 'skip', reason: 'filtered' };
  }
  if (stage === 'import') {
    if (letter.value === null) return { kind: 'skip', reason: 'malformed' };
    return { kind: 'requeue', identity: `import:${createHash('sha256').update(letter.value).digest('hex')}` };
  }
  if (stage !== 'decode' && stage !== 'validate') return { kind: 'skip', reason: 'not-replayable' };
  // A cut value is not the event any more: sending it again would only fail differently.
  if (letter.headers[DEAD_LETTER_HEADER.valueTruncated] === 'true') return { kind: 'skip', reason: 'truncated' };
  if (topic === undefined || !sourceTopics.has(topic)) return { kind: 'skip', reason: 'not-a-source-topic' };
  const partition = letter.headers[DEAD_LETTER_HEADER.partition];
  const offset = letter.headers[DEAD_LETTER_HEADER.offset];
  if (partition === undefined || offset === undefined) return { kind: 'skip', reason: 'malformed' };
  return { kind: 'republish', identity: `${topic}/${partition}/${offset}`, topic };
}
