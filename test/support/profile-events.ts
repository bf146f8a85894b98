import { randomUUID } from 'node:crypto';
import { seededRandom } from '../../scripts/crm/crm-generator';

/** A `profile-change.v1` event (DESIGN §4.1) with partial overrides. */
export function aProfileChange(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    event_id: randomUUID(),
    occurred_at: '2026-11-28T10:15:30.123Z',
    key: { customer_id: 'C-1001' },
    profile: { display_name: 'Amy Lin' },
    ...overrides,
  };
}

/** Seeded, so a failing random stream can be replayed by its seed. */
export { seededRandom };

export interface GeneratedStream {
  /** Messages in send order, each with the partition it goes to. */
  messages: Array<{ partition: number; key: string | null; value: Buffer; bad: boolean }>;
  /** customer_id -> field -> expected final value (null = cleared); fields never set are absent. */
  expected: Map<string, Record<string, unknown>>;
  badCount: number;
}

const CITIES = ['Taipei', 'Tainan', 'Kaohsiung', 'Hsinchu', null];
const GENDERS = ['male', 'female', 'other', null];
const TIERS = ['gold', 'silver', 'bronze', null];

/**
 * A random stream over `contacts` contacts: every event has its own source time, events arrive
 * out of source-time order and across partitions (no message key), some are exact duplicates sent
 * again, some set fields to null, and some are bad. The reference model is newest source time per
 * field, computed independently of the service's code.
 */
export function generateStream(options: {
  seed: number;
  events: number;
  contacts: number;
  partitions: number;
  badRate?: number;
  duplicateRate?: number;
}): GeneratedStream {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const base = Date.parse('2026-11-01T00:00:00.000Z');
  // Distinct source times, shuffled: arrival order is not source-time order.
  const times = Array.from({ length: options.events }, (_, i) => base + i * 7);
  for (let i = times.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [times[i], times[j]] = [times[j]!, times[i]!];
  }

  const newest = new Map<string, Record<string, { ts: number; value: unknown }>>();
  const messages: GeneratedStream['messages'] = [];
  let badCount = 0;
  for (let i = 0; i < options.events; i++) {
    const partition = Math.floor(random() * options.partitions);
    if (random() < (options.badRate ?? 0.05)) {
      badCount++;
      messages.push({ partition, key: null, value: aBadEvent(random, i), bad: true });
      continue;
    }
    const customerId = `C-${String(Math.floor(random() * options.contacts)).padStart(5, '0')}`;
    const profile: Record<string, unknown> = {};
    if (random() < 0.6) profile.display_name = `Name ${Math.floor(random() * 1000)}`;
    if (random() < 0.4) profile.city = pick(CITIES);
    if (random() < 0.3) profile.gender = pick(GENDERS);
    if (random() < 0.3) profile.custom = { tier: pick(TIERS), points: Math.floor(random() * 500) };
    if (Object.keys(profile).length === 0) profile.display_name = `Name ${i}`;
    const ts = times[i]!;
    const event = aProfileChange({ occurred_at: new Date(ts).toISOString(), key: { customer_id: customerId }, profile });
    const value = Buffer.from(JSON.stringify(event));
    messages.push({ partition, key: null, value, bad: false });
    if (random() < (options.duplicateRate ?? 0.1)) {
      messages.push({ partition: Math.floor(random() * options.partitions), key: null, value, bad: false });
    }

    const fields = newest.get(customerId) ?? {};
    const flat: Record<string, unknown> = { ...profile };
    delete flat.custom;
    if (profile.custom) {
      for (const [name, v] of Object.entries(profile.custom as Record<string, unknown>)) flat[`cl_custom_${name}`] = v;
    }
    for (const [field, v] of Object.entries(flat)) {
      if (!fields[field] || fields[field]!.ts < ts) fields[field] = { ts, value: v };
    }
    newest.set(customerId, fields);
  }

  const expected = new Map<string, Record<string, unknown>>();
  for (const [customerId, fields] of newest) {
    expected.set(customerId, Object.fromEntries(Object.entries(fields).map(([field, { value }]) => [field, value])));
  }
  return { messages, expected, badCount };
}

function aBadEvent(random: () => number, i: number): Buffer {
  const kinds = [
    () => Buffer.from('{"event_id": "broken'),
    () => Buffer.from(JSON.stringify(aProfileChange({ key: { customer_id: 'C-1', display_email: 'a@b.co' } }))),
    () => Buffer.from(JSON.stringify(aProfileChange({ profile: { favourite_colour: 'blue' } }))),
    () => Buffer.from(JSON.stringify(aProfileChange({ profile: { display_email: 'not-an-email' } }))),
    () => Buffer.from(JSON.stringify(aProfileChange({ profile: { age: 31 } }))),
    () => Buffer.from(JSON.stringify(aProfileChange({ occurred_at: 'yesterday' }))),
  ];
  return kinds[(i + Math.floor(random() * kinds.length)) % kinds.length]!();
}
