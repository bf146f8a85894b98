import { seededRandom } from './profile-events';

const FIRST = ['Amy', 'Ben', 'Chen', 'Dana', null];
const TIERS = ['Gold', 'SILVER', 'bronze', null];
const GENDERS: Array<[string | null, string | null]> = [['M', 'male'], ['F', 'female'], ['O', 'other'], [null, null]];

export interface DebeziumStream {
  messages: Array<{ partition: number; key: string; value: Buffer }>;
  /** customer_id -> the contact CAAC should hold (cleared fields absent). */
  expected: Map<string, Record<string, unknown>>;
}

/**
 * Insert events (op c, full rows, no schema wrapper) for `customers` rows, out of
 * source-time order across partitions; the newest row of each customer is what CAAC should hold,
 * mapped by config/customers.mapping.json (computed here, independently of the decoder).
 */
export function generateDebeziumStream(options: { seed: number; events: number; customers: number; partitions: number }): DebeziumStream {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const newest = new Map<string, { ts: number; contact: Record<string, unknown> }>();
  const messages: DebeziumStream['messages'] = [];
  const base = Date.parse('2026-11-02T00:00:00.000Z');
  // Distinct source times in shuffled order: arrival order is not source-time order.
  const times = Array.from({ length: options.events }, (_, i) => base + i * 11);
  for (let i = times.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [times[i], times[j]] = [times[j]!, times[i]!];
  }
  for (let i = 0; i < options.events; i++) {
    const n = Math.floor(random() * options.customers);
    const customerId = `D-${String(n).padStart(5, '0')}`;
    const ts = times[i]!;
    const [gender, caacGender] = pick(GENDERS);
    const tier = pick(TIERS);
    const firstName = pick(FIRST);
    const birthdayDays = random() < 0.8 ? 7000 + Math.floor(random() * 9000) : null;
    const points = random() < 0.9 ? Math.floor(random() * 1000) : null;
    const optIn = random() < 0.5;
    const emailVariant = Math.floor(random() * 3);
    const row = {
      customer_id: customerId,
      first_name: firstName,
      last_name: 'Lin',
      email: [` D${n}@Example.com `, `d${n}@example.com`, `d${n}.alt@example.com`][emailVariant],
      mobile: `09${String(10_000_000 + n)}`.replace(/^(\d{4})(\d{3})/, '$1-$2-'),
      birthday: birthdayDays,
      gender,
      tier,
      points,
      opt_in_sms: optIn,
      updated_at: ts * 1000,
    };
    const envelope = { before: null, after: row, source: { connector: 'postgresql', db: 'crm', schema: 'public', table: 'customers', ts_ms: ts, snapshot: 'false' }, op: 'c', ts_ms: ts + 5 };
    messages.push({ partition: Math.floor(random() * options.partitions), key: customerId, value: Buffer.from(JSON.stringify(envelope)) });

    const contact: Record<string, unknown> = {
      customer_id: customerId,
      cl_custom_last_name: 'Lin',
      display_email: emailVariant === 2 ? `d${n}.alt@example.com` : `d${n}@example.com`,
      display_mobile: `+8869${String(10_000_000 + n)}`,
      cl_custom_opt_in_sms: optIn ? 'true' : 'false',
    };
    if (firstName !== null) contact.cl_custom_first_name = firstName;
    if (birthdayDays !== null) contact.birthday = new Date(birthdayDays * 86_400_000).toISOString().slice(0, 10);
    if (caacGender !== null) contact.gender = caacGender;
    if (tier !== null) contact.member_level = tier.toLowerCase();
    if (points !== null) contact.cl_custom_points = points;
    const known = newest.get(customerId);
    if (!known || known.ts < ts) newest.set(customerId, { ts, contact });
  }
  return { messages, expected: new Map([...newest].map(([id, { contact }]) => [id, contact])) };
}
