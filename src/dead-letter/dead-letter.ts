import { truncate } from '../common/truncate';

/** Where in the pipeline a message failed (DESIGN §4.4). */
export type DeadLetterStage = 'decode' | 'validate' | 'import' | 'export';

/** A message for the dead-letter topic: the failed bytes and why, never a secret. */
export interface DeadLetter {
  stage: DeadLetterStage;
  key: Buffer | string | null;
  value: Buffer | string | null;
  errorClass: string;
  message: string;
  topic?: string;
  partition?: number;
  offset?: string;
  taskId?: string;
  /** The Schema Registry id the failed message was framed with, when it had one. */
  schemaId?: number;
  /** When the failure was seen, epoch ms. */
  at: number;
}

/** Header names follow Kafka Connect's `__connect.errors.*` so existing tooling feels familiar. */
export const DEAD_LETTER_HEADER = {
  stage: 'caac-sync.errors.stage',
  errorClass: 'caac-sync.errors.class',
  message: 'caac-sync.errors.message',
  topic: 'caac-sync.errors.topic',
  partition: 'caac-sync.errors.partition',
  offset: 'caac-sync.errors.offset',
  taskId: 'caac-sync.errors.task_id',
  schemaId: 'caac-sync.errors.schema_id',
  timestamp: 'caac-sync.errors.timestamp',
  /** Set ("true") when the value is not the whole original: cut to the cap, or left out. */
  valueTruncated: 'caac-sync.errors.value.truncated',
  /** The original value's size in bytes, when it was cut. */
  valueOriginalBytes: 'caac-sync.errors.value.original_bytes',
  /** SHA-256 (hex) of the original value's bytes, when it was cut: finds the event again in its source topic. */
  valueSha256: 'caac-sync.errors.value.sha256',
} as const;

/** Kafka headers are small; a reason longer than this is cut, so one bad event cannot bloat the DLQ. */
export const DEAD_LETTER_MESSAGE_MAX_CHARS = 1_000;

export function deadLetterHeaders(letter: DeadLetter): Record<string, string> {
  const headers: Record<string, string> = {
    [DEAD_LETTER_HEADER.stage]: letter.stage,
    [DEAD_LETTER_HEADER.errorClass]: letter.errorClass,
    [DEAD_LETTER_HEADER.message]: truncate(letter.message, DEAD_LETTER_MESSAGE_MAX_CHARS),
    [DEAD_LETTER_HEADER.timestamp]: new Date(letter.at).toISOString(),
  };
  if (letter.topic !== undefined) headers[DEAD_LETTER_HEADER.topic] = letter.topic;
  if (letter.partition !== undefined) headers[DEAD_LETTER_HEADER.partition] = String(letter.partition);
  if (letter.offset !== undefined) headers[DEAD_LETTER_HEADER.offset] = letter.offset;
  if (letter.taskId !== undefined) headers[DEAD_LETTER_HEADER.taskId] = letter.taskId;
  if (letter.schemaId !== undefined) headers[DEAD_LETTER_HEADER.schemaId] = String(letter.schemaId);
  return headers;
}
