/**
 * bench:contact-story — the admin contact story (GET /admin/contacts/:keyType/:keyValue) at a large
 * brand's size: 1,000,000 exported contacts in caac_contact, two keys each in contact_identity and
 * contact_state, 1 % pending, 1 % drifted, 10,000 dead letters. Prints one JSON line last.
 *
 *   npm run bench:contact-story
 *   BENCH_CONTACTS=100000 npm run bench:contact-story   # a quicker run
 *
 * Every statement the story runs is EXPLAINed as the code runs it (its own SQL and parameters,
 * captured on the way to Postgres): the line says which access each table got. Then the story of
 * BENCH_LOOKUPS random keys is read by ContactStoryRepository.find, the whole of the route's
 * database work (the route adds only JSON), and timed. For comparison, the lookup the story used
 * before (caac_contact scanned by a jsonb expression) is EXPLAINed and timed once, and the
 * importer's claim-time lookup of a contact's other keys (ContactIdentityRepository, 2,000 contacts
 * a statement as the claim reads them) is timed on the same tables.
 */
import { Pool } from 'pg';
import type { EntityManager } from 'typeorm';
import { CaacContactRepository } from '../src/export/caac-contact.repository';
import { ContactIdentityRepository } from '../src/importer/contact-identity.repository';
import { ContactStoryRepository } from '../src/reconcile/contact-story.repository';
import { createMigratedDatabase, dropDatabase, percentile, startPostgres } from './bench-support';

const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 1_000_000);
const LOOKUPS = Number(process.env.BENCH_LOOKUPS ?? 1_000);
const CLAIM_LOOKUPS = 20;
const DATABASE = `caac_sync_bench_story_${Date.now()}`;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

/** "table: access" for every node of a plan that reads a table. */
function accesses(node: PlanNode, found: string[] = []): string[] {
  if (node['Relation Name']) found.push(`${node['Relation Name']}: ${node['Node Type']}${node['Index Name'] ? ` (${node['Index Name']})` : ''}`);
  for (const child of node.Plans ?? []) accesses(child, found);
  return found;
}

async function main(): Promise<void> {
  startPostgres();
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 4);
  const pool = new Pool({ connectionString: url, max: 2 });
  try {
    await new CaacContactRepository(pool, 'be0c57').ensureSchema('default');
    const loadStarted = Date.now();
    await dataSource.query(`SET statement_timeout = 0`);
    await dataSource.query(
      `INSERT INTO caac_contact (contact_id, fields, export_id, exported_at)
       SELECT 'cid-' || i, jsonb_build_object('customer_id', 'C-' || i, 'display_email', 'p' || i || '@example.com', 'display_name', 'Name ' || i, 'city', 'Taipei'), 1, now()
         FROM generate_series(1, $1) i`,
      [CONTACTS],
    );
    await dataSource.query(
      `INSERT INTO contact_identity (key_type, key_value, contact_id, export_id)
       SELECT k.key_type, CASE k.key_type WHEN 'customer_id' THEN 'C-' || i ELSE 'p' || i || '@example.com' END, 'cid-' || i, 1
         FROM generate_series(1, $1) i CROSS JOIN (VALUES ('customer_id'), ('display_email')) k(key_type)`,
      [CONTACTS],
    );
    await dataSource.query(
      `INSERT INTO contact_state (key_type, key_value, fields)
       SELECT k.key_type, CASE k.key_type WHEN 'customer_id' THEN 'C-' || i ELSE 'p' || i || '@example.com' END,
              jsonb_build_object('display_name', left(md5(i::text), 16) || ' 1000 1 1000 1', 'city', 'Yk3sq8Ly6m1C0bQx 1000 1 1000 1')
         FROM generate_series(1, $1) i CROSS JOIN (VALUES ('customer_id'), ('display_email')) k(key_type)`,
      [CONTACTS],
    );
    await dataSource.query(
      `INSERT INTO pending_change (key_type, key_value, fields) SELECT 'customer_id', 'C-' || i, jsonb_build_object('city', jsonb_build_object('v', 'Tainan', 'ts', 2000, 'seq', 5))
         FROM generate_series(1, $1, 100) i`,
      [CONTACTS],
    );
    await dataSource.query(
      `INSERT INTO contact_drift (export_id, key_type, key_value, field, caac_value) SELECT 1, 'customer_id', 'C-' || i, 'display_name', 'Edited' FROM generate_series(1, $1, 100) i`,
      [CONTACTS],
    );
    await dataSource.query(
      `INSERT INTO dead_letter_outbox (stage, message_key, headers) SELECT 'import', convert_to('customer_id:C-' || i, 'UTF8'), '{}' FROM generate_series(1, $1, greatest(1, $1 / 10000)) i`,
      [CONTACTS],
    );
    await dataSource.query(`ANALYZE`);
    const loadMs = Date.now() - loadStarted;

    const sut = new ContactStoryRepository();
    // Every statement the story runs, EXPLAINed with its own parameters before it runs.
    const plans = new Map<string, string[]>();
    await dataSource.transaction(async (tx) => {
      const explaining = new Proxy(tx, {
        get(target, property, receiver) {
          if (property !== 'query') return Reflect.get(target, property, receiver);
          return async (sql: string, parameters?: unknown[]) => {
            if (/^\s*(SELECT|WITH)/i.test(sql) && !sql.includes('to_regclass')) {
              const [{ 'QUERY PLAN': plan }] = await target.query(`EXPLAIN (FORMAT JSON) ${sql}`, parameters);
              plans.set(sql.replace(/\s+/g, ' ').trim().slice(0, 60), accesses((plan as Array<{ Plan: PlanNode }>)[0]!.Plan));
            }
            return target.query(sql, parameters);
          };
        },
      }) as EntityManager;
      const found = await (sut as unknown as { read(db: EntityManager, keyType: string, keyValue: string): Promise<unknown> }).read(explaining, 'customer_id', `C-${Math.ceil(CONTACTS / 2) + 1}`);
      if (!found) throw new Error('the story of a loaded contact came back empty');
    });
    const seqScans = [...plans.values()].flat().filter((access) => access.includes('Seq Scan') && !access.startsWith('import_batch'));

    const times: number[] = [];
    for (let n = 0; n < LOOKUPS; n++) {
      const i = 1 + Math.floor(Math.random() * CONTACTS);
      const started = process.hrtime.bigint();
      const story = await sut.find(dataSource.manager, n % 2 === 0 ? 'customer_id' : 'display_email', n % 2 === 0 ? `C-${i}` : `p${i}@example.com`);
      times.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (!story || story.caac.length !== 1) throw new Error(`contact ${i}: expected one CAAC row`);
    }

    // The importer's claim looks up the other keys of every contact it claims, 2,000 (CLAIM_CHUNK) a statement.
    const identity = new ContactIdentityRepository();
    const claimTimes: number[] = [];
    for (let n = 0; n < CLAIM_LOOKUPS; n++) {
      const keys = Array.from({ length: 2_000 }, () => `C-${1 + Math.floor(Math.random() * CONTACTS)}`);
      const started = process.hrtime.bigint();
      const found = await identity.newestThroughOtherKeys(dataSource.manager, 'customer_id', keys);
      claimTimes.push(Number(process.hrtime.bigint() - started) / 1e6);
      if (found.size === 0) throw new Error('the claim lookup found no other keys');
    }

    // The lookup the story made before: caac_contact by a jsonb expression.
    const before = `SELECT contact_id FROM caac_contact WHERE (CASE WHEN $1 = 'display_email' THEN lower(btrim(fields->>$1)) ELSE fields->>$1 END) = $2`;
    const [{ 'QUERY PLAN': beforePlan }] = await dataSource.query(`EXPLAIN (FORMAT JSON) ${before}`, ['customer_id', 'C-7']);
    const beforeStarted = Date.now();
    await dataSource.query(before, ['customer_id', 'C-7']);
    const beforeMs = Date.now() - beforeStarted;

    for (const [statement, access] of plans) console.error(`${statement} … -> ${access.join(', ')}`);
    console.log(
      JSON.stringify({
        bench: 'contact-story',
        contacts: CONTACTS,
        load_ms: loadMs,
        lookups: LOOKUPS,
        story_ms: { p50: round(percentile(times, 50)), p99: round(percentile(times, 99)), max: round(Math.max(...times)) },
        claim_other_keys_ms_per_2000: { p50: round(percentile(claimTimes, 50)), max: round(Math.max(...claimTimes)) },
        plans: Object.fromEntries(plans),
        seq_scans_of_large_tables: seqScans,
        before: { access: accesses((beforePlan as Array<{ Plan: PlanNode }>)[0]!.Plan), ms: beforeMs },
      }),
    );
  } finally {
    await pool.end();
    await dataSource.destroy();
    await dropDatabase(DATABASE);
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
