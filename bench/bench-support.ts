import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { createDataSource, runMigrations } from '../src/store/data-source';
import { seededRandom } from '../scripts/crm/crm-generator';

export const REPO = resolve(__dirname, '..');
export const KAFKA_BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
export const ADMIN_DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * The service's command as `npm run start:prod` runs it (package.json), V8 flags included, so a
 * benchmark measures the memory of the service as shipped; BENCH_NODE_ARGS adds flags (profiling).
 */
export function serviceCommand(): string[] {
  const scripts = (JSON.parse(readFileSync(resolve(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const [node, ...args] = scripts['start:prod']!.split(' ').filter(Boolean);
  if (node !== 'node') throw new Error(`start:prod must run node directly, got: ${scripts['start:prod']}`);
  const extra = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  return [...extra, ...args.map((arg) => (arg.startsWith('-') ? arg : resolve(REPO, arg)))];
}

/** Starts the local broker and makes sure Postgres answers, unless KAFKA_BROKERS / DATABASE_URL were given. */
export function startInfrastructure(): void {
  startPostgres();
  if (!process.env.KAFKA_BROKERS) execFileSync('bash', [resolve(REPO, 'docker/kafka.sh'), 'start'], { stdio: 'inherit', timeout: 300_000 });
}

/** Makes sure the machine's Postgres answers, unless DATABASE_URL was given. */
export function startPostgres(): void {
  if (!process.env.DATABASE_URL) execFileSync('bash', [resolve(REPO, 'docker/postgres.sh'), 'ensure'], { stdio: 'inherit' });
}

async function createDatabase(name: string): Promise<string> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A new database with the service's schema, and a connection pool of `poolMax` to it. */
export async function createMigratedDatabase(name: string, poolMax: number): Promise<{ url: string; dataSource: DataSource }> {
  const url = await createDatabase(name);
  const dataSource = createDataSource({ url, poolMax });
  await dataSource.initialize();
  await runMigrations(dataSource);
  return { url, dataSource };
}

export async function dropDatabase(name: string): Promise<void> {
  const admin = new Client({ connectionString: ADMIN_DATABASE_URL });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}

/** Peak resident set size of a process so far (Linux VmHWM), in MB. */
export function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Math.round(Number(match[1]) / 1024) : NaN;
}

/** Samples `Zipf(s)` ranks in [0, n): a few contacts get most of the changes, like real CRMs. */
export function zipfSampler(n: number, s: number, random: () => number): () => number {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) cdf[i] = total += 1 / Math.pow(i + 1, s);
  return () => {
    const target = random() * total;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid]! < target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

/**
 * The benchmarks' `profile-change.v1` stream: `events` changes over `contacts` customers (Zipf
 * s = 1.0), a display name on each, a city (sometimes cleared) on a third, custom fields on a fifth.
 * The same seed gives the same contacts and fields in every run.
 */
export function* profileChangeEvents(events: number, contacts: number): Generator<{ key: string; value: string }> {
  const random = seededRandom(7);
  const contact = zipfSampler(contacts, 1.0, random);
  const base = Date.parse('2026-11-01T00:00:00Z');
  for (let i = 0; i < events; i++) {
    const id = `C-${String(contact()).padStart(6, '0')}`;
    const profile: Record<string, unknown> = { display_name: `Customer ${i % 9973}` };
    if (i % 3 === 0) profile.city = ['Taipei', 'Tainan', null][(i / 3) % 3];
    if (i % 5 === 0) profile.custom = { points: i % 1000, tier: i % 2 ? 'gold' : 'silver' };
    const event = { event_id: randomUUID(), occurred_at: new Date(base + i).toISOString(), key: { customer_id: id }, profile };
    yield { key: id, value: JSON.stringify(event) };
  }
}
