/**
 * bench:scale — the importer's tables at a large brand's size: 10,000,000 contacts known to the
 * importer (contact_state) and 1,000,000 pending. Prints one JSON line last.
 *
 *   npm run bench:scale
 *   BENCH_KNOWN=1000000 BENCH_PENDING=100000 BENCH_CYCLES=5 npm run bench:scale   # a quicker run
 *
 * 1. Load: the known contacts are recorded by ContactStateRepository.recordImported, as finished
 *    imports record them, and the pending changes staged by PendingChangeRepository.merge, as
 *    ingest stages them: the rows have exactly the service's shape.
 * 2. Ingest: the service (`start:prod`, importer off) stages BENCH_INGEST_EVENTS profile-change
 *    events over the known contacts into that database: events/s and peak RSS at that size.
 * 3. Drain: the real ImportScheduler claims full batches and records their imports until nothing is
 *    pending; claim time per full batch. The Profile API is an in-process stand-in that accepts every
 *    import and reports it done at once: at the real 15 imports a minute, this phase alone would
 *    take hours, and it measures the tables, not the API.
 * 4. Churn: BENCH_CYCLES cycles, each staging changes to BENCH_CYCLE_CONTACTS known contacts and
 *    draining them, with autovacuum as Postgres is configured; then dead tuples and growth.
 *
 * Postgres: a cluster of the run's own with Postgres's default settings (autovacuum on, as on any
 * server nobody changed), in `.cache/scale/`, removed at the end; DATABASE_URL (an admin URL)
 * measures a server of yours as it is configured instead. The line says which settings it ran under.
 */
import { Client } from 'pg';
import { OwnPostgres } from './chaos/chaos-infrastructure';
import { freePort } from '../test/support/free-port';
import type { DataSource } from 'typeorm';
import type { CaacClient } from '../src/caac/caac.client';
import type { ImportRow, ImportTask } from '../src/caac/caac.types';
import type { Clock } from '../src/common/clock';
import { createLogger } from '../src/common/logger';
import { loadConfig } from '../src/config/app-config';
import { ContactStateRepository } from '../src/importer/contact-state.repository';
import { ImportScheduler } from '../src/importer/import-scheduler.service';
import { Metrics } from '../src/telemetry/metrics';
import type { StampedPatch } from '../src/profile';
import { PendingChangeRepository, type StagedChange } from '../src/store/pending-change.repository';
import {
  ADMIN_DATABASE_URL,
  createMigratedDatabase,
  dropDatabase,
  KAFKA_BROKERS,
  percentile,
  produceTopic,
  profileChangeEvents,
  runServiceIngest,
  startInfrastructure,
} from './bench-support';

const KNOWN = Number(process.env.BENCH_KNOWN ?? 10_000_000);
const PENDING = Number(process.env.BENCH_PENDING ?? 1_000_000);
const INGEST_EVENTS = Number(process.env.BENCH_INGEST_EVENTS ?? 1_000_000);
const CYCLES = Number(process.env.BENCH_CYCLES ?? 20);
const CYCLE_CONTACTS = Number(process.env.BENCH_CYCLE_CONTACTS ?? 200_000);
const DRIFT_POLICY = process.env.BENCH_DRIFT_POLICY ?? 'report';
const PARTITIONS = 4;
const RUN = `${Date.now()}`;
const TOPIC = `bench.scale.${RUN}`;
const DATABASE = `caac_sync_bench_scale_${RUN}`;
const KEY_TYPE = 'customer_id';
/** Contacts per write while loading: an import's worth. */
const LOAD_CHUNK = 10_000;
/** Source times: known values are older than every change staged later. */
const KNOWN_TS = Date.parse('2026-10-01T00:00:00Z');
const CHANGE_TS = Date.parse('2026-10-15T00:00:00Z');

const log = (message: string) => process.stderr.write(`bench:scale ${new Date().toISOString().slice(11, 19)} ${message}\n`);

/** The key of known contact `i`: the key profileChangeEvents gives the same contact. */
const keyOf = (i: number) => `C-${String(i).padStart(6, '0')}`;

/** The fields of contact `i` as the benchmarks' event stream gives them: a name on each, a city on a third, two custom fields on a fifth. */
function knownFields(i: number, ts: number): StampedPatch {
  const fields: StampedPatch = { display_name: { value: `Customer ${i % 9973}`, ts, seq: 0 } };
  if (i % 3 === 0) fields.city = { value: ['Taipei', 'Tainan', 'Kaohsiung'][(i / 3) % 3]!, ts, seq: 0 };
  if (i % 5 === 0) {
    fields.cl_custom_points = { value: i % 1000, ts, seq: 0 };
    fields.cl_custom_tier = { value: i % 2 ? 'gold' : 'silver', ts, seq: 0 };
  }
  return fields;
}

/** Contact `n` of a spread-out walk over the known contacts (a stride coprime with 10^k). */
const spread = (n: number, offset: number) => (offset + n * 7_919) % KNOWN;

/** A change to known contact `i`: a new name, and for one in ten the name it already has (a no-op CAAC need not see). */
function changeOf(i: number, round: number): StagedChange {
  const value = i % 10 === 0 ? `Customer ${i % 9973}` : `Customer ${i % 9973} (${round})`;
  return { keyType: KEY_TYPE, keyValue: keyOf(i), fields: { display_name: { value, ts: CHANGE_TS + round * 86_400_000 + (i % 86_400_000), seq: 0 } } };
}

/** Stamps differ per load chunk, so batches look like real ones; two writers keep both cores busy. */
async function loadKnown(dataSource: DataSource): Promise<void> {
  const state = new ContactStateRepository({ keepSentValues: DRIFT_POLICY === 'crm-wins' });
  let next = 0;
  const writer = async () => {
    for (;;) {
      const from = next;
      next += LOAD_CHUNK;
      if (from >= KNOWN) return;
      const contacts: Array<{ keyValue: string; fields: StampedPatch }> = [];
      for (let i = from; i < Math.min(KNOWN, from + LOAD_CHUNK); i++) contacts.push({ keyValue: keyOf(i), fields: knownFields(i, KNOWN_TS + i) });
      await dataSource.transaction((db) => state.recordImported(db, KEY_TYPE, contacts, KNOWN_TS + from, String(1 + from / LOAD_CHUNK)));
      if (from % 1_000_000 === 0) log(`known ${from}`);
    }
  };
  await Promise.all([writer(), writer()]);
}

async function stageChanges(dataSource: DataSource, contacts: number, round: number): Promise<void> {
  const pending = new PendingChangeRepository();
  for (let from = 0; from < contacts; from += LOAD_CHUNK) {
    const changes: StagedChange[] = [];
    for (let n = from; n < Math.min(contacts, from + LOAD_CHUNK); n++) changes.push(changeOf(spread(n, round * 104_729), round));
    changes.sort((a, b) => (a.keyValue < b.keyValue ? -1 : 1));
    await dataSource.transaction((db) => pending.merge(db, changes));
  }
}

/** The Profile API, answered at once: every import accepted, every task done and successful. */
class InstantCaac {
  imports = 0;
  async importProfiles(_keyType: string, rows: readonly ImportRow[]): Promise<{ taskId: string }> {
    this.imports++;
    this.rows.set(`task-${this.imports}`, rows.length);
    return { taskId: `task-${this.imports}` };
  }
  async getImportTask(taskId: string): Promise<ImportTask> {
    const rows = this.rows.get(taskId) ?? 0;
    return { taskId, status: 'done', result: { success: true, totalNum: rows, createdNum: 0, updatedNum: rows, failedNum: 0, errors: [] } };
  }
  private readonly rows = new Map<string, number>();
}

/** Real time, but the scheduler's waits (task polls) end at once. */
const instantClock: Clock = {
  now: () => Date.now(),
  sleep: (_ms, signal) => (signal?.aborted ? Promise.reject(signal.reason) : new Promise((resolve) => setImmediate(resolve))),
};

interface DrainResult {
  fullClaimsMs: number[];
  recordMs: number[];
  batches: number;
  rows: number;
}

/** Claims and records batches until nothing is pending. */
async function drain(scheduler: ImportScheduler): Promise<DrainResult> {
  const result: DrainResult = { fullClaimsMs: [], recordMs: [], batches: 0, rows: 0 };
  const signal = new AbortController().signal;
  for (;;) {
    const claimed = performance.now();
    const batch = await scheduler.claim(KEY_TYPE);
    const claimMs = performance.now() - claimed;
    if (!batch) {
      const left = await scheduler.readyKeyType();
      if (left === undefined) return result;
      continue; // every contact of that claim was a no-op; more wait
    }
    if (batch.rows === 10_000) result.fullClaimsMs.push(claimMs);
    const sent = performance.now();
    await scheduler.advance(batch, signal);
    result.recordMs.push(performance.now() - sent);
    result.batches++;
    result.rows += batch.rows;
  }
}

interface TableFigures {
  bytes: number;
  live: number;
  dead: number;
  autovacuums: number;
}

async function tables(db: Client): Promise<Record<string, TableFigures>> {
  const { rows } = await db.query(
    `SELECT relname, pg_total_relation_size(relid)::bigint AS bytes, n_live_tup AS live, n_dead_tup AS dead, autovacuum_count AS autovacuums
       FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname`,
  );
  return Object.fromEntries(
    rows.map((row: { relname: string; bytes: string; live: string; dead: string; autovacuums: string }) => [
      row.relname,
      { bytes: Number(row.bytes), live: Number(row.live), dead: Number(row.dead), autovacuums: Number(row.autovacuums) },
    ]),
  );
}

const ms = (value: number) => Number(value.toFixed(1));
const summary = (values: number[]) => ({ n: values.length, p50: ms(percentile(values, 50)), p99: ms(percentile(values, 99)), max: ms(Math.max(...values)) });

/** The settings that decide how the tables age: a run says which it had. */
async function postgresSettings(db: Client): Promise<Record<string, string>> {
  const { rows } = await db.query(
    `SELECT name, current_setting(name) AS value FROM pg_settings
      WHERE name IN ('autovacuum', 'autovacuum_naptime', 'autovacuum_vacuum_scale_factor', 'shared_buffers', 'max_wal_size', 'fsync', 'server_version')
      ORDER BY name`,
  );
  return Object.fromEntries(rows.map((row: { name: string; value: string }) => [row.name, row.value]));
}

async function main(): Promise<void> {
  startInfrastructure();
  const own = process.env.DATABASE_URL ? undefined : new OwnPostgres(await freePort(), 'scale');
  if (own) {
    log(`starting a Postgres cluster of the run's own with default settings in ${own.dir}`);
    await own.start();
  }
  const adminUrl = own?.adminUrl ?? ADMIN_DATABASE_URL;
  const { url, dataSource } = await createMigratedDatabase(DATABASE, 4, adminUrl);
  const db = new Client({ connectionString: url });
  await db.connect();
  try {
    const postgres = await postgresSettings(db);
    log(`postgres: ${JSON.stringify(postgres)}`);
    const loading = performance.now();
    log(`loading ${KNOWN} known contacts and ${PENDING} pending (drift policy ${DRIFT_POLICY})`);
    await loadKnown(dataSource);
    await stageChanges(dataSource, PENDING, 1);
    await db.query('ANALYZE');
    const loadS = (performance.now() - loading) / 1000;
    const loaded = await tables(db);
    const contactState = loaded.contact_state!;
    const fields = await db.query(
      `SELECT avg(pg_column_size(fields))::float AS bytes, avg((SELECT count(*) FROM jsonb_object_keys(fields)))::float AS n FROM contact_state TABLESAMPLE SYSTEM (1)`,
    );
    log(`loaded in ${loadS.toFixed(0)} s: contact_state ${(contactState.bytes / 1e9).toFixed(2)} GB`);

    log(`ingest: ${INGEST_EVENTS} events over the known contacts`);
    await produceTopic(TOPIC, PARTITIONS, profileChangeEvents(INGEST_EVENTS, KNOWN), INGEST_EVENTS, log);
    const ingest = await runServiceIngest({ url, sourceTopics: `${TOPIC}:profile-change.v1`, events: INGEST_EVENTS, run: RUN });
    const pendingAfterIngest = Number((await db.query(`SELECT count(*)::int AS n FROM pending_change`)).rows[0].n);

    const config = loadConfig({
      KAFKA_BROKERS,
      DATABASE_URL: url,
      SOURCE_TOPICS: `${TOPIC}:profile-change.v1`,
      CAAC_BASE_URL: 'http://127.0.0.1:9',
      CAAC_API_KEY: 'bench',
      ADMIN_TOKEN: 'bench-admin-token-0123456789',
      FLUSH_INTERVAL_MS: '0',
      DRIFT_POLICY,
      LOG_LEVEL: 'silent',
    });
    const caac = new InstantCaac();
    const scheduler = new ImportScheduler(config, createLogger({ level: 'silent' }), instantClock, dataSource, caac as unknown as CaacClient, new Metrics());
    await scheduler.takeOver();

    log(`drain: ${pendingAfterIngest} pending contacts`);
    const first = await drain(scheduler);
    log(`drained ${first.rows} rows in ${first.batches} batches; claim p99 ${percentile(first.fullClaimsMs, 99).toFixed(0)} ms`);
    const beforeChurn = await tables(db);

    const churn: DrainResult = { fullClaimsMs: [], recordMs: [], batches: 0, rows: 0 };
    const perCycle = [];
    for (let cycle = 1; cycle <= CYCLES; cycle++) {
      await stageChanges(dataSource, CYCLE_CONTACTS, cycle + 1);
      const drained = await drain(scheduler);
      churn.fullClaimsMs.push(...drained.fullClaimsMs);
      churn.recordMs.push(...drained.recordMs);
      churn.batches += drained.batches;
      churn.rows += drained.rows;
      const now = await tables(db);
      perCycle.push({ cycle, contact_state_mb: Math.round(now.contact_state!.bytes / 1e6), pending_change_mb: Math.round(now.pending_change!.bytes / 1e6) });
      log(
        `cycle ${cycle}: claim p99 ${percentile(drained.fullClaimsMs, 99).toFixed(0)} ms, contact_state ${(now.contact_state!.bytes / 1e9).toFixed(2)} GB ` +
          `(${now.contact_state!.dead} dead), pending_change ${(now.pending_change!.bytes / 1e6).toFixed(0)} MB (${now.pending_change!.dead} dead)`,
      );
    }
    const after = await tables(db);
    const growth = (name: string) => {
      const before = beforeChurn[name]!;
      const end = after[name]!;
      return { mb_before: Math.round(before.bytes / 1e6), mb_after: Math.round(end.bytes / 1e6), growth_pct: Number(((end.bytes / before.bytes - 1) * 100).toFixed(1)), dead_tuples: end.dead, autovacuums: end.autovacuums };
    };

    process.stdout.write(
      JSON.stringify({
        case: 'scale',
        known: KNOWN,
        pending: PENDING,
        drift_policy: DRIFT_POLICY,
        postgres: { own_cluster: own !== undefined, ...postgres },
        load_s: Math.round(loadS),
        fields_per_contact: Number(Number(fields.rows[0].n).toFixed(2)),
        bytes_per_known_contact: Object.fromEntries(
          Object.entries(loaded)
            .filter(([, figures]) => figures.bytes >= 1_000_000)
            .map(([name, figures]) => [name, Math.round(figures.bytes / KNOWN)]),
        ),
        contact_state_fields_bytes: Math.round(Number(fields.rows[0].bytes)),
        pending_change_bytes_per_pending: Math.round(loaded.pending_change!.bytes / PENDING),
        ingest: { events: INGEST_EVENTS, events_per_s: Math.round(ingest.eventsPerS), peak_rss_mb: ingest.peakRssMb, pending_after: pendingAfterIngest },
        claim_ms_full_batches: summary(first.fullClaimsMs),
        record_ms: summary(first.recordMs),
        churn: {
          cycles: CYCLES,
          cycle_contacts: CYCLE_CONTACTS,
          batches: churn.batches,
          claim_ms_full_batches: summary(churn.fullClaimsMs),
          contact_state: growth('contact_state'),
          pending_change: growth('pending_change'),
          import_batch: growth('import_batch'),
          per_cycle: perCycle,
        },
        imports: caac.imports,
      }) + '\n',
    );
  } finally {
    await db.end();
    await dataSource.destroy();
    if (!process.env.BENCH_KEEP_DATABASE) {
      await dropDatabase(DATABASE, adminUrl);
      if (own) {
        await own.stop();
        own.remove();
      }
    }
  }
  process.exit(0);
}

main().catch((error) => {
  process.stderr.write(`bench:scale failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
