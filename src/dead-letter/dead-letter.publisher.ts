import { createHash } from 'node:crypto';
import { failureKind } from '../common/failure-kind';
import { withTimeout } from '../common/with-timeout';
import type { MessageProducer, OutgoingMessage } from '../kafka/kafka.adapter';
import { DEAD_LETTER_HEADER, deadLetterHeaders, type DeadLetter } from './dead-letter';

/** What the dead-letter topic takes, read or set when the service starts (see dead-letter-topic.ts). */
export interface DeadLetterLimits {
  /** A letter's value is cut to this many bytes (DLQ_MAX_VALUE_BYTES). */
  maxValueBytes: number;
  /** The topic's `max.message.bytes`: the largest record batch one partition takes in one request. */
  maxMessageBytes: number;
}

/** A v2 record batch's own header, in bytes. */
const BATCH_OVERHEAD_BYTES = 61;
/** Per record beyond its key, value and headers (length, attributes, deltas, counts as varints), generously. */
const RECORD_OVERHEAD_BYTES = 32;
/** Per header beyond its name and value (two lengths as varints), generously. */
const HEADER_OVERHEAD_BYTES = 8;
/**
 * Left free under the topic's limit: the sizes above are estimates, and this keeps them safe (an
 * eighth of the limit for a topic smaller than 128 KiB, so a small topic still takes letters).
 */
const SEND_HEADROOM_BYTES = 16 * 1024;
/** Records per produce request: bounds one request's work, and what a refused request costs to split. */
const SEND_MAX_RECORDS = 500;
/**
 * One produce request may take this long, kafkajs's own retries included. TRICKY: letters are sent
 * inside an open Postgres transaction (ingest, the outbox relay), which holds row locks and the
 * vacuum horizon while it waits: a topic without a leader must fail the transaction (it is retried
 * whole) well before the server's idle_in_transaction_session_timeout (60 s) ends the session.
 */
export const DEAD_LETTER_SEND_TIMEOUT_MS = 20_000;

/**
 * Writes dead letters to the dead-letter topic so that every one fits (invariant 8): a value larger
 * than the cap (or than what the topic takes beside the key and headers) is cut, with headers giving
 * the original size and SHA-256; letters go out in requests that stay under the topic's
 * `max.message.bytes` (all of one request may land on one partition). Should the broker still refuse
 * a request as too large (the topic's limit lowered since start), the request is split in halves,
 * and a single refused letter is sent as a stub: no key, an empty value and the same headers, so the
 * event can still be found by its topic, partition and offset. Any other failure (an outage)
 * rejects, so the caller retries: nothing is dropped.
 */
export class DeadLetterPublisher {
  /** The most bytes one request (and so one record) may take. */
  private readonly requestBudget: number;

  constructor(
    private readonly producer: MessageProducer,
    private readonly topic: string,
    private readonly limits: DeadLetterLimits,
    private readonly sendTimeoutMs = DEAD_LETTER_SEND_TIMEOUT_MS,
  ) {
    this.requestBudget = limits.maxMessageBytes - BATCH_OVERHEAD_BYTES - Math.min(SEND_HEADROOM_BYTES, Math.floor(limits.maxMessageBytes / 8));
  }

  async publish(letters: DeadLetter[]): Promise<void> {
    await this.publishRecords(letters.map((letter) => ({ key: letter.key, value: letter.value, headers: deadLetterHeaders(letter) })));
  }

  /** Records whose headers are already the dead-letter headers (the outbox stores them so). */
  async publishRecords(records: OutgoingMessage[]): Promise<void> {
    let request: OutgoingMessage[] = [];
    let bytes = 0;
    for (const original of records) {
      const record = this.fit(original);
      const size = recordBytes(record);
      if (request.length > 0 && (request.length >= SEND_MAX_RECORDS || bytes + size > this.requestBudget)) {
        await this.send(request);
        request = [];
        bytes = 0;
      }
      request.push(record);
      bytes += size;
    }
    if (request.length > 0) await this.send(request);
  }

  /** The record with its value cut so that it is at most the cap and the whole record fits a request. */
  private fit(record: OutgoingMessage): OutgoingMessage {
    const value = toBuffer(record.value);
    if (value === null) return record;
    if (value.length <= this.limits.maxValueBytes && recordBytes(record) <= this.requestBudget) return record;
    const headers = { ...record.headers, ...cutHeaders(value) };
    const room = this.requestBudget - recordBytes({ key: record.key, value: null, headers });
    return { key: record.key, value: value.subarray(0, Math.max(0, Math.min(this.limits.maxValueBytes, room))), headers };
  }

  private async send(records: OutgoingMessage[]): Promise<void> {
    try {
      await this.produce(records);
    } catch (error) {
      if (failureKind(error) !== 'deterministic') throw error;
      if (records.length > 1) {
        const half = Math.ceil(records.length / 2);
        await this.send(records.slice(0, half));
        await this.send(records.slice(half));
        return;
      }
      const [record] = records as [OutgoingMessage];
      // A stub refused too cannot be made smaller: rejecting keeps the letter, and the caller retries.
      if (record.key === null && toBuffer(record.value)?.length === 0) throw error;
      await this.produce([stub(record)]);
    }
  }

  /** A timed-out request may still land later: a letter twice, never none (they are at least once). */
  private produce(records: OutgoingMessage[]): Promise<void> {
    return withTimeout(this.producer.send(this.topic, records), this.sendTimeoutMs, 'the dead-letter topic');
  }
}

/** The headers saying a value was cut, from the original bytes. */
function cutHeaders(original: Buffer): Record<string, string> {
  return {
    [DEAD_LETTER_HEADER.valueTruncated]: 'true',
    [DEAD_LETTER_HEADER.valueOriginalBytes]: String(original.length),
    [DEAD_LETTER_HEADER.valueSha256]: createHash('sha256').update(original).digest('hex'),
  };
}

/** The letter with no key and an empty value; the cut headers describe the original value. */
function stub(record: OutgoingMessage): OutgoingMessage {
  const value = toBuffer(record.value);
  const described = record.headers?.[DEAD_LETTER_HEADER.valueTruncated] === 'true' || value === null ? {} : cutHeaders(value);
  return { key: null, value: Buffer.alloc(0), headers: { ...record.headers, ...described } };
}

/** An upper estimate of the record's size in a record batch. */
function recordBytes(record: OutgoingMessage): number {
  let bytes = RECORD_OVERHEAD_BYTES + byteLength(record.key) + byteLength(record.value);
  for (const [name, value] of Object.entries(record.headers ?? {})) {
    bytes += HEADER_OVERHEAD_BYTES + Buffer.byteLength(name) + Buffer.byteLength(value);
  }
  return bytes;
}

function byteLength(data: Buffer | string | null): number {
  return data === null ? 0 : Buffer.isBuffer(data) ? data.length : Buffer.byteLength(data);
}

function toBuffer(data: Buffer | string | null): Buffer | null {
  return data === null ? null : Buffer.isBuffer(data) ? data : Buffer.from(data);
}
