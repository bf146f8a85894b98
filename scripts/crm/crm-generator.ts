/**
 * A stand-in for a brand's CRM: the `customers` table (docker/crm/schema.sql) filled and changed
 * the way a real one is, so the Debezium chain (docker/connect.sh) has realistic rows to capture:
 * e-mails in mixed case with stray spaces, mobiles in several local formats, CJK names, columns
 * cleared to NULL, deletes and late inserts. Everything is deterministic for a given seed and
 * table state, so a failing run can be replayed.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';

export const CRM_DATABASE_URL_DEFAULT = 'postgres://postgres@127.0.0.1:5432/crm';
export const CRM_SCHEMA_FILE = resolve(__dirname, '../../docker/crm/schema.sql');

/** Rows per INSERT statement when seeding; keeps each statement's arrays well under 1 MB. */
export const SEED_CHUNK_ROWS = 5_000;
const CUSTOMER_ID_DIGITS = 6;

export interface Customer {
  customer_id: string;
  first_name: string | null;
  last_name: string | null;
  email: string | null;
  mobile: string | null;
  /** YYYY-MM-DD */
  birthday: string | null;
  gender: 'M' | 'F' | 'O' | null;
  tier: string | null;
  points: number;
  opt_in_sms: boolean;
}

export const CUSTOMER_COLUMNS = [
  'customer_id',
  'first_name',
  'last_name',
  'email',
  'mobile',
  'birthday',
  'gender',
  'tier',
  'points',
  'opt_in_sms',
] as const satisfies ReadonlyArray<keyof Customer>;

/** Columns a CRM user may blank out (the others are NOT NULL). */
export const NULLABLE_COLUMNS = ['first_name', 'last_name', 'email', 'mobile', 'birthday', 'gender', 'tier'] as const;

export interface SeedSummary {
  command: 'seed';
  requested: number;
  inserted: number;
  total: number;
  seed: number;
  ms: number;
}

export type ChurnOperation =
  | { op: 'update'; customer_id: string; set: Partial<Customer> }
  | { op: 'delete'; customer_id: string }
  | { op: 'insert'; customer_id: string; row: Customer };

export interface ChurnSummary {
  command: 'churn';
  requested: number;
  updates: number;
  /** Updates that set at least one column to NULL. */
  nulls: number;
  /** Updates that changed only the case or spacing of an e-mail address. */
  email_respellings: number;
  deletes: number;
  inserts: number;
  total: number;
  seed: number;
  ms: number;
  /** What was done, in order (not printed by the command line). */
  operations: ChurnOperation[];
}

/** mulberry32: small, fast and good enough to make test data reproducible. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Random = () => number;
const pick = <T>(random: Random, items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
const chance = (random: Random, p: number): boolean => random() < p;
const int = (random: Random, min: number, max: number): number => min + Math.floor(random() * (max - min + 1));

const FIRST_NAMES = ['Amy', 'Jason', 'Mei-Ling', 'Wei', 'Yu-Ting', 'Kevin', 'Hsin-Yi', 'Chris', '美玲', '志明', '怡君', 'Ken'];
const LAST_NAMES = ['Lin', 'Chen', 'Huang', 'Chang', 'Lee', 'Wang', 'Wu', 'Liu', '林', '陳', '黃', 'Tsai'];
const DOMAINS = ['example.com', 'example.org', 'mail.example.tw', 'Example.NET'];
const TIERS = ['Gold', 'SILVER', 'bronze', 'Platinum', 'gold'];
const GENDERS = ['M', 'F', 'O'] as const;

export function customerId(n: number): string {
  return `C-${String(n).padStart(CUSTOMER_ID_DIGITS, '0')}`;
}

/** A Taiwanese mobile number (09xxxxxxxx) written the way a person might type it. */
export function formatMobile(random: Random, digits = `09${String(int(random, 0, 99_999_999)).padStart(8, '0')}`): string {
  const national = digits.slice(1); // 9xxxxxxxx
  const formats = [
    () => `${digits.slice(0, 4)}-${digits.slice(4, 7)}-${digits.slice(7)}`,
    () => `${digits.slice(0, 4)} ${digits.slice(4, 7)} ${digits.slice(7)}`,
    () => `+886${national}`,
    () => digits,
    () => `+886 ${national.slice(0, 3)} ${national.slice(3, 6)} ${national.slice(6)}`,
  ];
  return pick(random, formats)();
}

/** The same address with its case and surrounding spaces changed, as people re-type it. */
export function respellEmail(random: Random, email: string): string {
  const trimmed = email.trim();
  const variants = [
    () => trimmed.toUpperCase(),
    () => trimmed.toLowerCase(),
    () => ` ${trimmed} `,
    () => `${trimmed.charAt(0).toUpperCase()}${trimmed.slice(1)}  `,
    () => `\t${trimmed.replace(/@(.*)$/, (_m, domain: string) => `@${domain.toUpperCase()}`)}`,
  ];
  for (let i = 0; i < 5; i++) {
    const candidate = pick(random, variants)();
    if (candidate !== email) return candidate;
  }
  return `  ${trimmed}`;
}

function anEmail(random: Random, first: string | null, last: string | null, n: number): string {
  const ascii = (s: string | null) => (s && /^[\x20-\x7e]+$/.test(s) ? s.replace(/[^A-Za-z]/g, '') : '');
  const local = [ascii(first), ascii(last)].filter(Boolean).join('.') || 'customer';
  const address = `${local}${n}@${pick(random, DOMAINS)}`;
  return chance(random, 0.3) ? respellEmail(random, address) : address;
}

function aBirthday(random: Random): string {
  const year = int(random, 1950, 2008);
  const month = int(random, 1, 12);
  const day = int(random, 1, 28);
  return `${year}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Customer number `n` for `seed`: the same row whatever else is generated around it. */
export function aCustomer(seed: number, n: number): Customer {
  const random = seededRandom((seed * 1_000_003 + n) >>> 0);
  const first = chance(random, 0.95) ? pick(random, FIRST_NAMES) : null;
  const last = chance(random, 0.95) ? pick(random, LAST_NAMES) : null;
  return {
    customer_id: customerId(n),
    first_name: first,
    last_name: last,
    email: chance(random, 0.9) ? anEmail(random, first, last, n) : null,
    mobile: chance(random, 0.85) ? formatMobile(random) : null,
    birthday: chance(random, 0.8) ? aBirthday(random) : null,
    gender: chance(random, 0.85) ? pick(random, GENDERS) : null,
    tier: chance(random, 0.7) ? pick(random, TIERS) : null,
    points: int(random, 0, 5_000),
    opt_in_sms: chance(random, 0.6),
  };
}

/** Creates the database of `url` if it does not exist (connecting to `postgres` on that server). */
export async function ensureCrmDatabase(url: string): Promise<void> {
  const parsed = new URL(url);
  const database = decodeURIComponent(parsed.pathname.slice(1));
  if (!database) throw new Error(`the CRM database URL names no database: ${url}`);
  parsed.pathname = '/postgres';
  const admin = new Client({ connectionString: parsed.toString(), connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    const found = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (found.rowCount === 0) {
      try {
        await admin.query(`CREATE DATABASE "${database.replace(/"/g, '""')}"`);
      } catch (error) {
        // Another process created it between the check and here: that is what we wanted.
        if ((error as { code?: string }).code !== '42P04') throw error;
      }
    }
  } finally {
    await admin.end();
  }
}

/** Applies docker/crm/schema.sql (idempotent). */
export async function applyCrmSchema(client: Client): Promise<void> {
  await client.query(readFileSync(CRM_SCHEMA_FILE, 'utf8'));
}

async function countCustomers(client: Client): Promise<number> {
  const { rows } = await client.query<{ n: string }>('SELECT count(*) AS n FROM customers');
  return Number(rows[0]!.n);
}

async function insertCustomers(client: Client, rows: readonly Customer[]): Promise<number> {
  let inserted = 0;
  for (let i = 0; i < rows.length; i += SEED_CHUNK_ROWS) {
    const chunk = rows.slice(i, i + SEED_CHUNK_ROWS);
    const columns = CUSTOMER_COLUMNS.map((column) => chunk.map((row) => row[column]));
    // Existing customers are kept as they are, so seeding again (or with a larger N) only adds.
    const result = await client.query(
      `INSERT INTO customers (${CUSTOMER_COLUMNS.join(', ')})
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[],
                            $7::text[], $8::text[], $9::integer[], $10::boolean[])
       ON CONFLICT (customer_id) DO NOTHING`,
      columns,
    );
    inserted += result.rowCount ?? 0;
  }
  return inserted;
}

/**
 * Inserts customers C-000001 .. C-<n> as generated for `seed`; customers already there are left
 * alone. The table must exist (applyCrmSchema).
 */
export async function seedCustomers(client: Client, n: number, seed: number): Promise<SeedSummary> {
  const started = Date.now();
  const rows = Array.from({ length: n }, (_, i) => aCustomer(seed, i + 1));
  const inserted = await insertCustomers(client, rows);
  return { command: 'seed', requested: n, inserted, total: await countCustomers(client), seed, ms: Date.now() - started };
}

const CHURN_DELETE_RATE = 0.04;
const CHURN_INSERT_RATE = 0.04;
const CHURN_RESPELL_RATE = 0.1; // of updates: only the e-mail's case or spacing changes
const CHURN_NULL_RATE = 0.2; // of updates: one nullable column cleared

export function aChange(random: Random, row: Customer): Partial<Customer> {
  const set: Partial<Customer> = {};
  const columns = ['first_name', 'last_name', 'email', 'mobile', 'birthday', 'gender', 'tier', 'points', 'opt_in_sms'] as const;
  const count = int(random, 1, 3);
  for (let i = 0; i < count; i++) {
    const column = pick(random, columns);
    switch (column) {
      case 'first_name':
        set.first_name = pick(random, FIRST_NAMES);
        break;
      case 'last_name':
        set.last_name = pick(random, LAST_NAMES);
        break;
      case 'email':
        set.email = anEmail(random, row.first_name, row.last_name, int(random, 1, 999_999));
        break;
      case 'mobile':
        set.mobile = formatMobile(random);
        break;
      case 'birthday':
        set.birthday = aBirthday(random);
        break;
      case 'gender':
        set.gender = pick(random, GENDERS);
        break;
      case 'tier':
        set.tier = pick(random, TIERS);
        break;
      case 'points':
        set.points = Math.max(0, row.points + int(random, -200, 500));
        break;
      case 'opt_in_sms':
        set.opt_in_sms = !row.opt_in_sms;
        break;
    }
  }
  if (chance(random, CHURN_NULL_RATE)) set[pick(random, NULLABLE_COLUMNS)] = null;
  return set;
}

async function updateCustomer(client: Client, customer: string, set: Partial<Customer>): Promise<void> {
  const columns = Object.keys(set) as Array<keyof Customer>;
  const assignments = columns.map((column, i) => `${column} = $${i + 2}`);
  await client.query(`UPDATE customers SET ${[...assignments, 'updated_at = now()'].join(', ')} WHERE customer_id = $1`, [
    customer,
    ...columns.map((column) => set[column]),
  ]);
}

/**
 * Makes `m` changes, each its own transaction (so each has its own commit time in the change
 * events): mostly updates of one to three columns (some clearing a column, some only re-spelling an
 * e-mail), a few deletes and a few inserts of new customers. Deterministic for a given seed and
 * table contents.
 */
export async function churn(client: Client, m: number, seed: number): Promise<ChurnSummary> {
  const started = Date.now();
  const random = seededRandom(seed);
  const { rows } = await client.query<Customer>(
    `SELECT ${CUSTOMER_COLUMNS.map((c) => (c === 'birthday' ? "to_char(birthday, 'YYYY-MM-DD') AS birthday" : c)).join(', ')}
     FROM customers ORDER BY customer_id`,
  );
  const live = new Map(rows.map((row) => [row.customer_id, row]));
  const ids = rows.map((row) => row.customer_id);
  const { rows: top } = await client.query<{ n: number | null }>(
    `SELECT max(substring(customer_id FROM 3)::integer) AS n FROM customers WHERE customer_id ~ '^C-[0-9]+$'`,
  );
  let next = (top[0]?.n ?? 0) + 1;
  const summary: ChurnSummary = {
    command: 'churn',
    requested: m,
    updates: 0,
    nulls: 0,
    email_respellings: 0,
    deletes: 0,
    inserts: 0,
    total: 0,
    seed,
    ms: 0,
    operations: [],
  };

  for (let i = 0; i < m; i++) {
    const roll = random();
    if (ids.length === 0 || roll < CHURN_INSERT_RATE) {
      const row = { ...aCustomer(seed, next), customer_id: customerId(next) };
      next++;
      await insertCustomers(client, [row]);
      live.set(row.customer_id, row);
      ids.push(row.customer_id);
      summary.inserts++;
      summary.operations.push({ op: 'insert', customer_id: row.customer_id, row: { ...row } }); // a copy: later updates change the live row
      continue;
    }
    const index = Math.floor(random() * ids.length);
    const id = ids[index]!;
    const row = live.get(id)!;
    if (roll < CHURN_INSERT_RATE + CHURN_DELETE_RATE) {
      await client.query('DELETE FROM customers WHERE customer_id = $1', [id]);
      ids.splice(index, 1);
      live.delete(id);
      summary.deletes++;
      summary.operations.push({ op: 'delete', customer_id: id });
      continue;
    }
    const respell = row.email !== null && chance(random, CHURN_RESPELL_RATE);
    const set: Partial<Customer> = respell ? { email: respellEmail(random, row.email!) } : aChange(random, row);
    await updateCustomer(client, id, set);
    Object.assign(row, set);
    summary.updates++;
    if (respell) summary.email_respellings++;
    if (Object.values(set).some((value) => value === null)) summary.nulls++;
    summary.operations.push({ op: 'update', customer_id: id, set });
  }
  summary.total = await countCustomers(client);
  summary.ms = Date.now() - started;
  return summary;
}
