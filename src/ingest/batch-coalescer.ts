import { mergeStampedInto, stamp, type KeyType } from '../profile';
import type { DeadLetter } from '../dead-letter/dead-letter';
import type { Decoder } from './decoders/decode-result';
import type { ChangeSource, StagedChange } from '../store/pending-change.repository';

export interface RawMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
}

/** A change that moved its row to another contact key; the contact under the old key stays in CAAC. */
export interface KeyChange {
  offset: string;
  /** The old key's type (`null`: the row had no usable key); never its value, which is personal data. */
  from: KeyType | null;
  to: KeyType;
}

export interface CoalescedBatch {
  changes: StagedChange[];
  /** The partition's snapshot source-time floor after this batch (see below). */
  floor: number;
  deadLetters: DeadLetter[];
  keyChanges: KeyChange[];
  counts: {
    consumed: number;
    staged: number;
    coalesced: number;
    duplicate: number;
    skipped: number;
    deadLettered: number;
    /** Of the staged and coalesced: changes sent whole under a new contact key. */
    keyChanged: number;
  };
}

/**
 * Decodes one partition's messages and merges them per contact, field by field, in memory, so the
 * database sees each contact of the batch once. Every change is stamped with its source time and
 * its offset, so merging here and merging in Postgres give the same result (invariant 2). `floor`
 * is the partition's latest snapshot-read time so far; the returned floor is stored with the offset.
 * `now` is the service clock's time, against which decoders judge source times.
 */
export function coalesceBatch(
  topic: string,
  partition: number,
  messages: RawMessage[],
  decode: Decoder,
  now: number,
  floor = 0,
): CoalescedBatch {
  const byContact = new Map<string, StagedChange & { source: ChangeSource }>();
  const deadLetters: DeadLetter[] = [];
  const keyChanges: KeyChange[] = [];
  const counts = { consumed: messages.length, staged: 0, coalesced: 0, duplicate: 0, skipped: 0, deadLettered: 0, keyChanged: 0 };
  // An event id seen twice in one batch is a producer's retry: it costs nothing, and is counted.
  const eventIds = new Set<string>();

  for (const message of messages) {
    const result = decode(message.value, now);
    if (result.kind === 'skip') {
      counts.skipped++;
      continue;
    }
    if (result.kind === 'error') {
      counts.deadLettered++;
      deadLetters.push({
        stage: result.stage,
        key: message.key,
        value: message.value,
        errorClass: result.errorClass,
        message: result.message,
        topic,
        partition,
        offset: message.offset,
        ...(result.schemaId !== undefined ? { schemaId: result.schemaId } : {}),
        at: now,
      });
      continue;
    }
    const { key, patch, eventId, snapshot, keyChanged } = result.change;
    let { sourceTs } = result.change;
    // TRICKY: a snapshot read's time is when the row was read, which can be later than a change
    // committed while the snapshot ran; that change comes after the read in this partition, so it
    // is stamped after every snapshot read seen here, or the older snapshot value would win.
    if (snapshot) floor = Math.max(floor, sourceTs);
    else if (sourceTs <= floor) sourceTs = floor + 1;
    if (eventId !== undefined) {
      if (eventIds.has(eventId)) {
        counts.duplicate++;
        continue;
      }
      eventIds.add(eventId);
    }
    if (keyChanged !== undefined) {
      counts.keyChanged++;
      keyChanges.push({ offset: message.offset, from: keyChanged.from, to: key.type });
    }
    const stamped = stamp(patch, { ts: sourceTs, seq: Number(message.offset) });
    const id = `${key.type}\u0000${key.value}`;
    const known = byContact.get(id);
    // The source is the message of the newest stamp, as the newest field wins: "where did this value come from".
    const source = { topic, partition, offset: message.offset, ts: sourceTs };
    if (known) {
      mergeStampedInto(known.fields, stamped);
      if (sourceTs > known.source.ts || (sourceTs === known.source.ts && Number(message.offset) > Number(known.source.offset))) known.source = source;
      counts.coalesced++;
    } else {
      byContact.set(id, { keyType: key.type, keyValue: key.value, fields: stamped, source });
      counts.staged++;
    }
  }
  return { changes: [...byContact.values()], floor, deadLetters, keyChanges, counts };
}
