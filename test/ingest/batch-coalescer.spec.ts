import { coalesceBatch } from '../../src/ingest/batch-coalescer';
import type { DecodeResult } from '../../src/ingest/decoders/decode-result';

const NOW = Date.parse('2026-11-28T12:00:00.000Z');

/** Messages whose value is the decode result itself, so the decoder is a JSON.parse. */
function aMessage(offset: number, result: DecodeResult) {
  return { offset: String(offset), key: Buffer.from(`k${offset}`), value: Buffer.from(JSON.stringify(result)) };
}
const decode = (value: Buffer | null) => JSON.parse(value!.toString()) as DecodeResult;
const aChange = (id: string, patch: Record<string, unknown>, sourceTs: number, eventId?: string): DecodeResult =>
  ({ kind: 'change', change: { key: { type: 'customer_id', value: id }, patch, sourceTs, ...(eventId ? { eventId } : {}) } }) as DecodeResult;

describe(coalesceBatch.name, () => {
  it('merges one contact per key, newest field wins, and stamps fields with source time and offset', () => {
    const sut = coalesceBatch(
      'crm.changes',
      0,
      [
        aMessage(10, aChange('C-1', { city: 'Taipei', gender: 'male' }, 2_000)),
        aMessage(11, aChange('C-1', { city: 'Tainan' }, 1_000)),
        aMessage(12, aChange('C-1', { gender: null }, 3_000)),
        aMessage(13, aChange('C-2', { display_name: 'Ben' }, 1_500)),
      ],
      decode,
      NOW,
    );

    expect(sut.changes.map((c) => [c.keyValue, { ...c.fields }])).toEqual([
      ['C-1', { city: { value: 'Taipei', ts: 2_000, seq: 10 }, gender: { value: null, ts: 3_000, seq: 12 } }],
      ['C-2', { display_name: { value: 'Ben', ts: 1_500, seq: 13 } }],
    ]);
    expect(sut.counts).toEqual({ consumed: 4, staged: 2, coalesced: 2, duplicate: 0, skipped: 0, deadLettered: 0, keyChanged: 0 });
  });

  it('gives each contact the source of its newest stamp, not of the last message', () => {
    const sut = coalesceBatch(
      'crm.changes',
      3,
      [
        aMessage(20, aChange('C-1', { city: 'Taipei' }, 2_000)),
        aMessage(21, aChange('C-1', { gender: 'male' }, 3_000)),
        aMessage(22, aChange('C-1', { city: 'Tainan' }, 1_000)),
        aMessage(23, aChange('C-2', { city: 'Keelung' }, 1_000)),
        aMessage(24, aChange('C-2', { city: 'Hsinchu' }, 1_000)),
      ],
      decode,
      NOW,
    );

    expect(sut.changes.map((c) => [c.keyValue, c.source])).toEqual([
      ['C-1', { topic: 'crm.changes', partition: 3, offset: '21', ts: 3_000 }],
      ['C-2', { topic: 'crm.changes', partition: 3, offset: '24', ts: 1_000 }],
    ]);
  });

  it('counts a repeated event id once, skips what the decoder skips, and dead-letters errors with their place', () => {
    const sut = coalesceBatch(
      'crm.changes',
      2,
      [
        aMessage(1, aChange('C-1', { city: 'Taipei' }, 1_000, 'E-1')),
        aMessage(2, aChange('C-1', { city: 'Taipei' }, 1_000, 'E-1')),
        aMessage(3, { kind: 'skip', reason: 'tombstone' }),
        aMessage(4, { kind: 'error', stage: 'validate', errorClass: 'InvalidField', message: 'display_email: not an e-mail address' }),
      ],
      decode,
      NOW,
    );

    expect(sut.counts).toEqual({ consumed: 4, staged: 1, coalesced: 0, duplicate: 1, skipped: 1, deadLettered: 1, keyChanged: 0 });
    expect(sut.deadLetters).toEqual([
      {
        stage: 'validate',
        key: Buffer.from('k4'),
        value: aMessage(4, { kind: 'error', stage: 'validate', errorClass: 'InvalidField', message: 'display_email: not an e-mail address' }).value,
        errorClass: 'InvalidField',
        message: 'display_email: not an e-mail address',
        topic: 'crm.changes',
        partition: 2,
        offset: '4',
        at: NOW,
      },
    ]);
  });
});

describe(`${coalesceBatch.name} with key changes`, () => {
  it('stages a change sent under a new key like any other, and counts and lists it without the old key value', () => {
    const moved = {
      kind: 'change',
      change: { key: { type: 'customer_id', value: 'C-9' }, patch: { city: 'Taipei' }, sourceTs: 1_000, keyChanged: { from: 'display_email' } },
    } as DecodeResult;

    const sut = coalesceBatch('crm.customers', 1, [aMessage(5, aChange('C-1', { city: 'Tainan' }, 1_000)), aMessage(6, moved)], decode, NOW);

    expect(sut.changes.map((c) => c.keyValue)).toEqual(['C-1', 'C-9']);
    expect(sut.counts).toEqual({ consumed: 2, staged: 2, coalesced: 0, duplicate: 0, skipped: 0, deadLettered: 0, keyChanged: 1 });
    expect(sut.keyChanges).toEqual([{ offset: '6', from: 'display_email', to: 'customer_id' }]);
  });

  it('hands the decoder the clock time it was given', () => {
    const seen: number[] = [];

    coalesceBatch('crm.customers', 0, [aMessage(1, aChange('C-1', { city: 'Tainan' }, 1_000))], (value, now) => (seen.push(now), decode(value)), NOW);

    expect(seen).toEqual([NOW]);
  });
});

describe(`${coalesceBatch.name} after snapshot reads`, () => {
  const read = (id: string, city: string, ts: number): DecodeResult =>
    ({ kind: 'change', change: { key: { type: 'customer_id', value: id }, patch: { city }, sourceTs: ts, snapshot: true } }) as DecodeResult;

  it('stamps a change that follows a snapshot read after it, even when its own time is earlier', () => {
    // The snapshot read C-1 at t=5,000; an update committed at t=4,000 (while the snapshot ran)
    // follows it in the partition and must win.
    const sut = coalesceBatch('crm.customers', 0, [aMessage(1, read('C-1', 'Taipei', 5_000)), aMessage(2, aChange('C-1', { city: 'Tainan' }, 4_000))], decode, NOW);

    expect({ ...sut.changes[0]!.fields }).toEqual({ city: { value: 'Tainan', ts: 5_001, seq: 2 } });
    expect(sut.floor).toBe(5_000);
  });

  it('carries the floor from earlier batches and leaves later changes their own time', () => {
    const sut = coalesceBatch('crm.customers', 0, [aMessage(7, aChange('C-2', { city: 'Tainan' }, 4_000)), aMessage(8, aChange('C-3', { city: 'Hsinchu' }, 9_000))], decode, NOW, 6_000);

    expect(sut.changes.map((c) => c.fields.city!.ts)).toEqual([6_001, 9_000]);
    expect(sut.floor).toBe(6_000);
  });
});
