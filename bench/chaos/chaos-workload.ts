import { randomUUID } from 'node:crypto';
import { seededRandom } from '../../scripts/crm/crm-generator';

/**
 * The chaos run's workload and its reference model, written for the runner alone: it does not use
 * the service's decoders, merge or normalisation. Each good event's effect on CAAC is computed here,
 * in CAAC's terms (field -> value, null = cleared), and the newest source time wins per field.
 *
 * Two kinds of contacts: `C-nnnnn` are fed by `profile-change.v1` events, `D-nnnnn` by Debezium
 * envelopes of the CRM's `customers` table (config/customers.mapping.json), produced synthetically in
 * Debezium's format rather than through Kafka Connect.
 */

export interface WorkloadMessage {
  topic: 'profile' | 'debezium';
  partition: number;
  key: string | null;
  value: Buffer | null;
  /** A bad event: it must end on the dead-letter topic, whole, and change nothing. */
  bad: boolean;
}

/** One field's story in the model: the newest value and every value it had before. */
export interface FieldHistory {
  ts: number;
  value: unknown;
  /** JSON of values set at older source times: seeing one of these in CAAC is a stale overwrite. */
  older: Set<string>;
}

export interface Workload {
  seed: number;
  messages: WorkloadMessage[];
  /** customer_id -> field -> history. A contact is here once one good event named it. */
  model: Map<string, Map<string, FieldHistory>>;
  /** Distinct bad events (base64 of their bytes): each must be dead-lettered. */
  badValues: Set<string>;
  /** customer_ids whose rows the sandbox rejects for the whole run: their patches are dead letters. */
  rejected: Set<string>;
  counts: { events: number; duplicates: number; bad: number; debezium: number; profileChange: number; nulls: number; keyChanges: number };
}

export interface WorkloadOptions {
  seed: number;
  events: number;
  contacts: number;
  profilePartitions: number;
  debeziumPartitions: number;
  /** Share of contacts fed by Debezium rather than profile-change events. */
  debeziumShare?: number;
  badRate?: number;
  duplicateRate?: number;
}

/** The sandbox rejects every row of these contacts (a row rule), so their changes are dead letters. */
export const REJECTED_CUSTOMER_PATTERN = '^C-\\d*77$';
const REJECTED = new RegExp(REJECTED_CUSTOMER_PATTERN);
export const REJECTION_REASON = 'blocked by the brand';

const BASE_TIME = Date.parse('2026-11-01T00:00:00.000Z');
const TIME_STEP_MS = 7; // distinct source times: equal times (the offset tie-break) are not this run's subject
const PROFILE_MOBILE_BASE = 60_000_000;
const DEBEZIUM_MOBILE_BASE = 10_000_000;
const DUPLICATE_REACH = 5_000; // a duplicate arrives up to this many messages later (redelivery, replays)

const NAMES = ['Amy Lin', 'Ben Chen', 'Chia Wu', 'Dana Ho', 'Eli Tsai', null];
const CITIES = ['Taipei', 'Tainan', 'Kaohsiung', 'Hsinchu', null];
const GENDERS = ['male', 'female', 'other', null];
const TIERS = ['gold', 'silver', 'bronze', null];
const FIRST = ['Amy', 'Ben', 'Chen', 'Dana', null];
const DEBEZIUM_GENDERS: Array<[string | null, string | null]> = [['M', 'male'], ['F', 'female'], ['O', 'other'], [null, null]];
const DEBEZIUM_TIERS = ['Gold', 'SILVER', 'bronze', null];

type Random = () => number;

export function generateWorkload(options: WorkloadOptions): Workload {
  const random = seededRandom(options.seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const debeziumContacts = Math.floor(options.contacts * (options.debeziumShare ?? 0.3));
  const profileContacts = options.contacts - debeziumContacts;

  // Distinct source times, shuffled: arrival order is not source-time order.
  const times = Array.from({ length: options.events }, (_, i) => BASE_TIME + i * TIME_STEP_MS);
  for (let i = times.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [times[i], times[j]] = [times[j]!, times[i]!];
  }

  const model: Workload['model'] = new Map();
  const rejected = new Set<string>();
  const badValues = new Set<string>();
  const counts: Workload['counts'] = { events: 0, duplicates: 0, bad: 0, debezium: 0, profileChange: 0, nulls: 0, keyChanges: 0 };
  const lastRow = new Map<string, Record<string, unknown>>();
  const ordered: Array<{ at: number; message: WorkloadMessage }> = [];

  const apply = (customerId: string, ts: number, fields: Record<string, unknown>): void => {
    const contact = model.get(customerId) ?? new Map<string, FieldHistory>();
    model.set(customerId, contact);
    for (const [field, value] of Object.entries(fields)) {
      if (value === null) counts.nulls++;
      const known = contact.get(field);
      if (!known) contact.set(field, { ts, value, older: new Set() });
      else if (known.ts < ts) {
        known.older.add(JSON.stringify(known.value));
        known.ts = ts;
        known.value = value;
      } else known.older.add(JSON.stringify(value));
    }
  };

  for (let i = 0; i < options.events; i++) {
    const ts = times[i]!;
    const useDebezium = debeziumContacts > 0 && random() < debeziumContacts / options.contacts;
    let message: WorkloadMessage;
    if (random() < (options.badRate ?? 0.03)) {
      const value = useDebezium ? badDebeziumEvent(random, i) : badProfileChange(random, i);
      message = { topic: useDebezium ? 'debezium' : 'profile', partition: 0, key: null, value, bad: true };
      badValues.add(value.toString('base64'));
      counts.bad++;
    } else if (useDebezium) {
      const n = Math.floor(random() * debeziumContacts);
      const customerId = `D-${String(n).padStart(5, '0')}`;
      const row = debeziumRow(random, pick, customerId, n, ts);
      const before = lastRow.get(customerId);
      const roll = random();
      if (roll < 0.02) {
        // A delete: the mapping's policy is `ignore`, so it changes nothing.
        message = debeziumMessage(customerId, { before: before ?? row, after: null, op: 'd', ts });
      } else if (roll < 0.03) {
        message = { topic: 'debezium', partition: 0, key: customerId, value: null, bad: false }; // tombstone: skipped
      } else if (before && roll < 0.6) {
        // An update with a complete `before`: only the columns that differ form the patch.
        message = debeziumMessage(customerId, { before, after: row, op: 'u', ts });
        apply(customerId, ts, changedFields(before, row));
        lastRow.set(customerId, row);
      } else {
        // TRICKY: no snapshot reads (`r`) here. A read's time raises the partition's stamp floor for
        // every later change (the coalescer's snapshot floor), which is right for a real snapshot
        // at the start and wrong for reads scattered through a shuffled stream; the model has no floor.
        message = debeziumMessage(customerId, { before: null, after: row, op: 'c', ts });
        apply(customerId, ts, caacFields(row));
        lastRow.set(customerId, row);
      }
      counts.debezium++;
    } else {
      const n = Math.floor(random() * profileContacts);
      const customerId = `C-${String(n).padStart(5, '0')}`;
      if (REJECTED.test(customerId)) rejected.add(customerId);
      const { event, fields, keyChange } = profileChange(random, pick, customerId, n, ts, i);
      if (keyChange) counts.keyChanges++;
      message = { topic: 'profile', partition: 0, key: null, value: Buffer.from(JSON.stringify(event)), bad: false };
      apply(customerId, ts, fields);
      counts.profileChange++;
    }
    message.partition = Math.floor(random() * (message.topic === 'profile' ? options.profilePartitions : options.debeziumPartitions));
    ordered.push({ at: i, message });
    counts.events++;
    if (random() < (options.duplicateRate ?? 0.1)) {
      // The same bytes again, later and maybe on another partition: a redelivery or a replay.
      const partitions = message.topic === 'profile' ? options.profilePartitions : options.debeziumPartitions;
      ordered.push({ at: i + 0.5 + Math.floor(random() * DUPLICATE_REACH), message: { ...message, partition: Math.floor(random() * partitions) } });
      counts.duplicates++;
    }
  }
  ordered.sort((a, b) => a.at - b.at);
  return { seed: options.seed, messages: ordered.map((entry) => entry.message), model, badValues, rejected, counts };
}

function profileChange(
  random: Random,
  pick: <T>(items: readonly T[]) => T,
  customerId: string,
  n: number,
  ts: number,
  i: number,
): { event: Record<string, unknown>; fields: Record<string, unknown>; keyChange: boolean } {
  const profile: Record<string, unknown> = {};
  const fields: Record<string, unknown> = {};
  let keyChange = false;
  if (random() < 0.5) fields.display_name = profile.display_name = pick(NAMES);
  if (random() < 0.3) fields.city = profile.city = pick(CITIES);
  if (random() < 0.2) fields.gender = profile.gender = pick(GENDERS);
  if (random() < 0.15) {
    // A key field changes on a contact keyed by customer_id: e-mail re-typed, in any case and spacing.
    const variant = Math.floor(random() * 3);
    profile.display_email = [` C${n}@Example.com `, `c${n}@example.com`, `c${n}.new@example.com`][variant];
    fields.display_email = variant === 2 ? `c${n}.new@example.com` : `c${n}@example.com`;
    keyChange = true;
  }
  if (random() < 0.1) {
    // Mobile numbers are unique per contact in CAAC: C- contacts take 0960-..., D- contacts 0910-....
    const local = `09${String(PROFILE_MOBILE_BASE + n)}`;
    profile.display_mobile = local.replace(/^(\d{4})(\d{3})/, '$1-$2-');
    fields.display_mobile = `+886${local.slice(1)}`;
    keyChange = true;
  }
  if (random() < 0.25) {
    const tier = pick(TIERS);
    const points = random() < 0.2 ? null : Math.floor(random() * 500);
    profile.custom = { tier, points };
    fields.cl_custom_tier = tier;
    fields.cl_custom_points = points;
  }
  if (Object.keys(profile).length === 0) fields.display_name = profile.display_name = `Name ${i}`;
  const event = { event_id: randomUUID(), occurred_at: new Date(ts).toISOString(), key: { customer_id: customerId }, profile };
  return { event, fields, keyChange };
}

function debeziumRow(random: Random, pick: <T>(items: readonly T[]) => T, customerId: string, n: number, ts: number): Record<string, unknown> {
  const emailVariant = Math.floor(random() * 3);
  return {
    customer_id: customerId,
    first_name: pick(FIRST),
    last_name: random() < 0.9 ? 'Lin' : 'Lin-Wang',
    email: [` D${n}@Example.com `, `d${n}@example.com`, `d${n}.alt@example.com`][emailVariant],
    mobile: `09${String(DEBEZIUM_MOBILE_BASE + n)}`.replace(/^(\d{4})(\d{3})/, '$1-$2-'),
    birthday: random() < 0.8 ? 7_000 + Math.floor(random() * 9_000) : null,
    gender: pick(DEBEZIUM_GENDERS)[0],
    tier: pick(DEBEZIUM_TIERS),
    points: random() < 0.9 ? Math.floor(random() * 1_000) : null,
    opt_in_sms: random() < 0.5,
    updated_at: ts * 1_000,
  };
}

/** A customers row in CAAC's terms, per config/customers.mapping.json (customer_id is the key). */
function caacFields(row: Record<string, unknown>): Record<string, unknown> {
  const gender = DEBEZIUM_GENDERS.find(([column]) => column === row.gender)?.[1] ?? null;
  return {
    cl_custom_first_name: row.first_name,
    cl_custom_last_name: row.last_name,
    display_email: String(row.email).trim().toLowerCase(),
    display_mobile: `+886${String(row.mobile).replace(/-/g, '').slice(1)}`,
    birthday: row.birthday === null ? null : new Date(Number(row.birthday) * 86_400_000).toISOString().slice(0, 10),
    gender,
    member_level: row.tier === null ? null : String(row.tier).toLowerCase(),
    cl_custom_points: row.points,
    cl_custom_opt_in_sms: row.opt_in_sms ? 'true' : 'false',
  };
}

const COLUMN_FIELD: Record<string, string> = {
  first_name: 'cl_custom_first_name',
  last_name: 'cl_custom_last_name',
  email: 'display_email',
  mobile: 'display_mobile',
  birthday: 'birthday',
  gender: 'gender',
  tier: 'member_level',
  points: 'cl_custom_points',
  opt_in_sms: 'cl_custom_opt_in_sms',
};

/** The fields of the columns whose raw values differ between `before` and `after` (unmapped columns ignored). */
function changedFields(before: Record<string, unknown>, after: Record<string, unknown>): Record<string, unknown> {
  const mapped = caacFields(after);
  const changed: Record<string, unknown> = {};
  for (const [column, field] of Object.entries(COLUMN_FIELD)) if (before[column] !== after[column]) changed[field] = mapped[field];
  return changed;
}

function debeziumMessage(
  customerId: string,
  change: { before: Record<string, unknown> | null; after: Record<string, unknown> | null; op: string; ts: number },
): WorkloadMessage {
  const envelope = {
    before: change.before,
    after: change.after,
    source: { connector: 'postgresql', db: 'crm', schema: 'public', table: 'customers', ts_ms: change.ts, snapshot: change.op === 'r' ? 'true' : 'false' },
    op: change.op,
    ts_ms: change.ts + 5,
  };
  return { topic: 'debezium', partition: 0, key: customerId, value: Buffer.from(JSON.stringify(envelope)), bad: false };
}

function badProfileChange(random: Random, i: number): Buffer {
  const event = (overrides: Record<string, unknown>) =>
    JSON.stringify({ event_id: randomUUID(), occurred_at: '2026-11-28T10:15:30.123Z', key: { customer_id: 'C-00001' }, profile: { display_name: 'x' }, ...overrides });
  const kinds = [
    () => `{"event_id": "broken ${i}`,
    () => event({ key: { customer_id: 'C-00001', display_email: 'a@b.co' } }),
    () => event({ profile: { favourite_colour: 'blue' } }),
    () => event({ profile: { display_email: 'not-an-email' } }),
    () => event({ profile: { age: 31 } }),
    () => event({ occurred_at: 'yesterday' }),
  ];
  return Buffer.from(kinds[(i + Math.floor(random() * kinds.length)) % kinds.length]!());
}

function badDebeziumEvent(random: Random, i: number): Buffer {
  return Buffer.from(random() < 0.5 ? `{"before": null, "after": {"customer_id": "D-${i}"` : `not json at all ${i}`);
}
