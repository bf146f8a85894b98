import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { CaacError } from '../../src/caac/caac.errors';
import type { CaacClient } from '../../src/caac/caac.client';
import type { ImportRow, ImportTask, ImportTaskResult } from '../../src/caac/caac.types';
import type { Clock } from '../../src/common/clock';
import { createLogger } from '../../src/common/logger';
import { IMPORT_MAX_ATTEMPTS, ImportScheduler, ROW_FAILURE_MAX } from '../../src/importer/import-scheduler.service';
import { StaleTransitionError } from '../../src/importer/import-batch.repository';
import { OneOpenBatchFenced1795930000000 } from '../../src/migrations/1795930000000-one-open-batch-fenced';
import { Metrics } from '../../src/telemetry/metrics';
import { fieldHash } from '../../src/profile';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import { freshDatabase, migratedDataSource, migrateToJustBefore } from '../support/database';
import { testConfig } from '../support/service';
import { asEntryObjects, type EntryObject } from '../support/contact-state-entries';

/** Real time, but every sleep ends at once (and is recorded): the database decides what is due. */
class InstantClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private readonly offsetMs = 0) {}
  now(): number {
    return Date.now() + this.offsetMs;
  }
  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    this.sleeps.push(ms);
    return new Promise((resolve) => setImmediate(resolve));
  }
}

/** A CAAC client whose answers each test scripts. */
class ScriptedCaac {
  readonly sent: Array<{ keyType: string; rows: ImportRow[] }> = [];
  readonly polled: string[] = [];
  importAnswers: Array<() => Promise<{ taskId: string }>> = [];
  taskAnswer: (taskId: string) => Promise<ImportTask> = async (taskId) => doneTask(taskId, { success: true });
  private tasks = 0;

  async importProfiles(keyType: string, rows: readonly ImportRow[]): Promise<{ taskId: string }> {
    this.sent.push({ keyType, rows: [...rows] });
    const next = this.importAnswers.shift();
    return next ? next() : { taskId: `task-${++this.tasks}` };
  }

  async getImportTask(taskId: string): Promise<ImportTask> {
    this.polled.push(taskId);
    return this.taskAnswer(taskId);
  }
}

function doneTask(taskId: string, result: ImportTaskResult): ImportTask {
  return { taskId, status: 'done', result };
}

const transient = () => Promise.reject(new CaacError('transient', 'POST /cdh/v1/member/import -> 503', { status: 503 }));

function aPatch(fields: Record<string, string>, ts = 1_000): Record<string, { v: string; ts: number; seq: number }> {
  return Object.fromEntries(Object.entries(fields).map(([name, v]) => [name, { v, ts, seq: 0 }]));
}

async function stage(db: Client, contacts: Record<string, Record<string, string>>): Promise<void> {
  for (const [key, fields] of Object.entries(contacts)) {
    await db.query(`INSERT INTO pending_change (key_type, key_value, fields, first_staged_at) VALUES ('customer_id', $1, $2, now() - interval '1 minute')`, [
      key,
      JSON.stringify(aPatch(fields)),
    ]);
  }
}

async function batches(db: Client): Promise<Array<Record<string, unknown>>> {
  const { rows } = await db.query(
    `SELECT id::text AS id, status, task_id, rows, attempts, task_failures, transport_failures FROM import_batch ORDER BY id`,
  );
  return rows;
}

async function deadLetters(db: Client): Promise<Array<{ key: string; errorClass: string; message: string }>> {
  const { rows } = await db.query(`SELECT convert_from(message_key, 'UTF8') AS key, headers FROM dead_letter_outbox ORDER BY id`);
  return rows.map((row: { key: string; headers: Record<string, string> }) => ({
    key: row.key,
    errorClass: row.headers['caac-sync.errors.class']!,
    message: row.headers['caac-sync.errors.message']!,
  }));
}

async function imported(db: Client): Promise<string[]> {
  const { rows } = await db.query(`SELECT key_value FROM contact_state ORDER BY key_value`);
  return rows.map((row: { key_value: string }) => row.key_value);
}

async function pending(db: Client): Promise<Array<{ key_value: string; row_failures: number }>> {
  const { rows } = await db.query(`SELECT key_value, row_failures FROM pending_change ORDER BY key_value`);
  return rows;
}

describe(ImportScheduler.name, () => {
  let db: Client;
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  let caac: ScriptedCaac;
  let clock: InstantClock;
  let metrics: Metrics;
  const signal = new AbortController().signal;

  function aScheduler(env: Record<string, string> = {}, schedulerClock: Clock = clock): ImportScheduler {
    const config = testConfig({ DATABASE_URL: 'postgres://unused@127.0.0.1/unused', SOURCE_TOPICS: 'unused:profile-change.v1', FLUSH_INTERVAL_MS: '0', ...env });
    return new ImportScheduler(config, createLogger({ level: 'silent' }), schedulerClock, dataSource, caac as unknown as CaacClient, metrics);
  }

  beforeAll(async () => {
    const database = await migratedDataSource('import_scheduler', 4);
    db = database.client;
    dataSource = database.dataSource;
    drop = database.drop;
  });

  afterAll(async () => {
    await drop?.();
  });

  beforeEach(async () => {
    await db.query(`TRUNCATE pending_change, contact_state, import_batch, import_batch_item, dead_letter_outbox, importer_epoch`);
    caac = new ScriptedCaac();
    clock = new InstantClock();
    metrics = new Metrics();
  });

  describe('submitFailed', () => {
    it('spends no task budget on transport trouble, however long it lasts', async () => {
      await stage(db, { 'C-1': { city: 'Taipei' } });
      const sut = aScheduler();
      await sut.takeOver();
      const outage = 3 * IMPORT_MAX_ATTEMPTS;
      caac.importAnswers = Array.from({ length: outage }, () => transient);
      caac.taskAnswer = async (taskId) => doneTask(taskId, { success: false, totalNum: 1, failedNum: 1 });

      for (let i = 0; i < outage; i++) await sut.step(signal);
      await expect(batches(db)).resolves.toEqual([
        { id: expect.any(String), status: 'retrying', task_id: null, rows: 1, attempts: outage, task_failures: 0, transport_failures: outage },
      ]);

      // The outage ends; the first task then fails as a whole: one failed task, not the last straw.
      await sut.step(signal);

      await expect(batches(db)).resolves.toEqual([
        { id: expect.any(String), status: 'retrying', task_id: null, rows: 1, attempts: outage + 1, task_failures: 1, transport_failures: 0 },
      ]);
      await expect(deadLetters(db)).resolves.toEqual([]);
      const failures = await metrics.importTransportFailures.get();
      expect(failures.values).toEqual([{ labels: { code: 'transient' }, value: outage }]);
      await expect(metrics.importTransportFailing.get()).resolves.toMatchObject({ values: [{ value: 0 }] });
    });

    it('dead-letters a batch only after IMPORT_MAX_ATTEMPTS failed tasks', async () => {
      await stage(db, { 'C-1': { city: 'Taipei' } });
      const sut = aScheduler();
      await sut.takeOver();
      caac.taskAnswer = async (taskId) => doneTask(taskId, { success: false, totalNum: 1, failedNum: 1 });

      for (let i = 1; i < IMPORT_MAX_ATTEMPTS; i++) await sut.step(signal);
      await expect(batches(db)).resolves.toMatchObject([{ status: 'retrying', task_failures: IMPORT_MAX_ATTEMPTS - 1 }]);
      await sut.step(signal);

      await expect(batches(db)).resolves.toMatchObject([{ status: 'failed', task_failures: IMPORT_MAX_ATTEMPTS - 1, attempts: IMPORT_MAX_ATTEMPTS }]);
      await expect(deadLetters(db)).resolves.toEqual([
        { key: 'customer_id:C-1', errorClass: 'ImportFailed', message: `import task failed without row errors (after ${IMPORT_MAX_ATTEMPTS} failed tasks)` },
      ]);
    });

    it('halves a batch refused as too large, puts the other half back in its place, and claims smaller batches from then on', async () => {
      await stage(db, { 'C-1': { city: 'a' }, 'C-2': { city: 'b' }, 'C-3': { city: 'c' }, 'C-4': { city: 'd' } });
      const sut = aScheduler();
      await sut.takeOver();
      const tooLarge = () => Promise.reject(new CaacError('permanent', 'POST /cdh/v1/member/import -> 413', { status: 413, reason: 'too_large' }));
      caac.importAnswers = [tooLarge];

      await sut.step(signal);

      const [batch] = await batches(db);
      expect(batch).toMatchObject({ status: 'retrying', rows: 2, task_failures: 0, transport_failures: 0 });
      const { rows: items } = await db.query(`SELECT key_value FROM import_batch_item ORDER BY key_value`);
      expect(items).toEqual([{ key_value: 'C-1' }, { key_value: 'C-2' }]);
      await expect(pending(db)).resolves.toEqual([
        { key_value: 'C-3', row_failures: 0 },
        { key_value: 'C-4', row_failures: 0 },
      ]);
      const { rows: placed } = await db.query(
        `SELECT bool_and(abs(extract(epoch FROM p.first_staged_at - b.created_at)) < 0.001) AS in_place FROM pending_change p, import_batch b`,
      );
      expect(placed).toEqual([{ in_place: true }]);
      expect(sut.claimBodyBudgetBytes).toBe(JSON.stringify({ city: 'a', customer_id: 'C-1' }).length + JSON.stringify({ city: 'b', customer_id: 'C-2' }).length + 2);

      // The half is sent and done; the other half then goes in batches within the learned budget.
      await sut.step(signal);
      await sut.step(signal);
      expect(caac.sent.map((request) => request.rows.map((row) => row.customer_id))).toEqual([['C-1', 'C-2', 'C-3', 'C-4'], ['C-1', 'C-2'], ['C-3', 'C-4']]);
      await expect(imported(db)).resolves.toEqual(['C-1', 'C-2', 'C-3', 'C-4']);
      await expect(deadLetters(db)).resolves.toEqual([]);
    });

    it('dead-letters a single contact that is too large, and nothing else', async () => {
      await stage(db, { 'C-1': { city: 'a' } });
      const sut = aScheduler();
      await sut.takeOver();
      caac.importAnswers = [() => Promise.reject(new CaacError('permanent', 'POST /cdh/v1/member/import -> 413', { status: 413, reason: 'too_large' }))];

      await sut.step(signal);

      await expect(batches(db)).resolves.toMatchObject([{ status: 'failed', rows: 1 }]);
      await expect(deadLetters(db)).resolves.toEqual([{ key: 'customer_id:C-1', errorClass: 'ImportTooLarge', message: 'POST /cdh/v1/member/import -> 413' }]);
    });

    it('stops importing on a request refused as a whole, dead-letters nothing, and recovers when it is accepted', async () => {
      await stage(db, { 'C-1': { city: 'a' } });
      const sut = aScheduler({ IMPORT_REFUSED_RETRY_MS: '45000' });
      await sut.takeOver();
      caac.importAnswers = [() => Promise.reject(new CaacError('permanent', 'POST /cdh/v1/member/import -> 404: Not Found', { status: 404 }))];

      await sut.step(signal);

      await expect(batches(db)).resolves.toMatchObject([{ status: 'retrying', task_failures: 0, transport_failures: 0 }]);
      const { rows } = await db.query(`SELECT (extract(epoch FROM next_attempt_at - now()) * 1000)::int AS wait_ms FROM import_batch`);
      expect(rows[0].wait_ms).toBeGreaterThan(40_000);
      expect(rows[0].wait_ms).toBeLessThanOrEqual(45_000);
      expect(sut.refusal()).toEqual({ status: 404, code: 'permanent', message: 'POST /cdh/v1/member/import -> 404: Not Found', since: expect.any(String) });
      await expect(metrics.importRefused.get()).resolves.toMatchObject({ values: [{ labels: { status: '404' }, value: 1 }] });
      await expect(deadLetters(db)).resolves.toEqual([]);

      await sut.step(signal);

      expect(clock.sleeps[0]).toBeGreaterThan(40_000);
      expect(sut.refusal()).toBeNull();
      await expect(metrics.importRefused.get()).resolves.toMatchObject({ values: [] });
      await expect(batches(db)).resolves.toMatchObject([{ status: 'done' }]);
      await expect(imported(db)).resolves.toEqual(['C-1']);
    });
  });

  describe('inFlight', () => {
    it('names the batch while its task runs, and nothing once the import has ended', async () => {
      await stage(db, { 'C-1': { city: 'Taipei' } });
      const sut = aScheduler();
      await sut.takeOver();
      const seen: Array<ReturnType<ImportScheduler['inFlight']>> = [];
      caac.taskAnswer = async (taskId) => {
        seen.push(sut.inFlight());
        return doneTask(taskId, { success: true, totalNum: 1, createdNum: 1, failedNum: 0 });
      };

      await sut.step(signal);

      expect(seen).toEqual([{ batchId: expect.any(String), status: 'submitted', taskId: 'task-1' }]);
      expect(sut.inFlight()).toBeNull();
      await expect(sut.step(signal)).resolves.toBe(false);
      expect(sut.inFlight()).toBeNull();
    });
  });

  describe('finish', () => {
    it('does not record rows as applied when CAAC counts more failures than it lists; they go again', async () => {
      await stage(db, { 'C-1': { city: 'a' }, 'C-2': { city: 'b' }, 'C-3': { city: 'c' } });
      const sut = aScheduler();
      await sut.takeOver();
      caac.taskAnswer = async (taskId) =>
        doneTask(taskId, { success: false, totalNum: 3, failedNum: 2, errors: [{ index: 0, key: 'C-1', field: 'city', reason: 'not allowed' }] });

      await sut.step(signal);

      await expect(batches(db)).resolves.toMatchObject([{ status: 'done' }]);
      await expect(imported(db)).resolves.toEqual([]);
      await expect(pending(db)).resolves.toEqual([
        { key_value: 'C-2', row_failures: 1 },
        { key_value: 'C-3', row_failures: 1 },
      ]);
      await expect(deadLetters(db)).resolves.toEqual([{ key: 'customer_id:C-1', errorClass: 'RowRejected', message: 'city: not allowed' }]);
    });

    it('dead-letters only the field CAAC names, and sends the row\'s other fields again under what is pending', async () => {
      await db.query(`INSERT INTO pending_change (key_type, key_value, fields, first_staged_at) VALUES ('customer_id', 'C-1', $1, now() - interval '1 minute')`, [
        JSON.stringify({ display_mobile: { v: '+886912345678', ts: 1_000, seq: 0 }, member_level: { v: 'gold', ts: 1_000, seq: 0 }, city: { v: 'Taipei', ts: 1_000, seq: 0 } }),
      ]);
      const sut = aScheduler();
      await sut.takeOver();
      caac.taskAnswer = async (taskId) =>
        doneTask(taskId, {
          success: false,
          totalNum: 1,
          failedNum: 1,
          errors: [{ index: 0, key: 'C-1', field: 'display_mobile', reason: 'display_mobile +886912345678 already belongs to another contact' }],
        });
      await sut.step(signal);
      // A newer city arrives while the rest waits: it wins over the one sent again (invariant 7).
      await db.query(`UPDATE pending_change SET fields = caac_sync_merge_fields(fields, $1) WHERE key_value = 'C-1'`, [
        JSON.stringify({ city: { v: 'Tainan', ts: 2_000, seq: 0 } }),
      ]);

      await expect(dataSource.query(`SELECT status, last_error FROM import_batch`)).resolves.toEqual([{ status: 'done', last_error: '1 rows dead-lettered, 1 rows sent again' }]);
      const { rows } = await db.query(`SELECT key_value, fields, row_failures FROM pending_change`);
      expect(rows).toEqual([
        { key_value: 'C-1', fields: { member_level: { v: 'gold', ts: 1_000, seq: 0 }, city: { v: 'Tainan', ts: 2_000, seq: 0 } }, row_failures: 0 },
      ]);
      await expect(deadLetters(db)).resolves.toEqual([
        { key: 'customer_id:C-1', errorClass: 'FieldRejected', message: 'display_mobile: display_mobile +886912345678 already belongs to another contact' },
      ]);
      const { rows: letter } = await db.query(`SELECT convert_from(message, 'UTF8')::jsonb AS value FROM dead_letter_outbox`);
      expect(letter[0].value.profile).toEqual({ customer_id: 'C-1', display_mobile: '+886912345678' });
      await expect(metrics.importFieldsRejected.get()).resolves.toMatchObject({ values: [{ labels: { field: 'display_mobile' }, value: 1 }] });
      await expect(imported(db)).resolves.toEqual([]);
      expect(sut.inFlight()).toBeNull();

      caac.taskAnswer = async (taskId) => doneTask(taskId, { success: true, totalNum: 1, updatedNum: 1, failedNum: 0 });
      await sut.step(signal);

      expect(caac.sent.at(-1)!.rows).toEqual([{ customer_id: 'C-1', member_level: 'gold', city: 'Tainan' }]);
      await expect(imported(db)).resolves.toEqual(['C-1']);
    });

    it('dead-letters the whole row when CAAC names its key, as it cannot be sent without it', async () => {
      await stage(db, { 'C-1': { city: 'Taipei', member_level: 'gold' } });
      const sut = aScheduler();
      await sut.takeOver();
      caac.taskAnswer = async (taskId) =>
        doneTask(taskId, { success: false, totalNum: 1, failedNum: 1, errors: [{ index: 0, key: 'C-1', field: 'customer_id', reason: 'blocked' }] });

      await sut.step(signal);

      await expect(pending(db)).resolves.toEqual([]);
      await expect(deadLetters(db)).resolves.toEqual([{ key: 'customer_id:C-1', errorClass: 'RowRejected', message: 'customer_id: blocked' }]);
      await expect(metrics.importFieldsRejected.get()).resolves.toMatchObject({ values: [] });
    });

    it('dead-letters a row that keeps failing without a field after ROW_FAILURE_MAX attempts', async () => {
      // Each batch holds C-1 and another contact that goes through, so the task never fails as a whole.
      const sut = aScheduler();
      await sut.takeOver();
      caac.taskAnswer = async (taskId) => {
        const rows = caac.sent.at(-1)!.rows;
        const index = rows.findIndex((row) => row.customer_id === 'C-1');
        return doneTask(taskId, { success: false, totalNum: rows.length, failedNum: 1, errors: [{ index, key: 'C-1', reason: 'internal error' }] });
      };
      await stage(db, { 'C-1': { city: 'a' } });

      for (let i = 1; i < ROW_FAILURE_MAX; i++) {
        await stage(db, { [`D-${i}`]: { city: 'b' } });
        await sut.step(signal);
      }
      await expect(pending(db)).resolves.toEqual([{ key_value: 'C-1', row_failures: ROW_FAILURE_MAX - 1 }]);
      await stage(db, { 'D-last': { city: 'b' } });
      await sut.step(signal);

      await expect(pending(db)).resolves.toEqual([]);
      await expect(deadLetters(db)).resolves.toEqual([
        { key: 'customer_id:C-1', errorClass: 'RowFailed', message: `internal error (after ${ROW_FAILURE_MAX} attempts)` },
      ]);
      await expect(imported(db)).resolves.toEqual(['D-1', 'D-2', 'D-3', 'D-4', 'D-last']);
      expect(caac.sent.map((request) => request.rows.length)).toEqual(Array.from({ length: ROW_FAILURE_MAX }, () => 2));
      await expect(sut.step(signal)).resolves.toBe(false);
    });
  });

  describe('recording what CAAC holds', () => {
    async function recorded(): Promise<Record<string, Record<string, unknown>>> {
      const { rows } = await db.query(`SELECT fields FROM contact_state WHERE key_type = 'customer_id' AND key_value = 'C-1'`);
      return rows[0].fields;
    }

    it('packs each entry into one string, the value sent beside it only under DRIFT_POLICY=crm-wins', async () => {
      await stage(db, { 'C-1': { city: 'Taipei' } });
      const sut = aScheduler({ DRIFT_POLICY: 'crm-wins' });
      await sut.takeOver();
      await sut.step(signal);

      const [batch] = await batches(db);
      const { city } = (await recorded()) as unknown as { city: [string, unknown] };
      expect(city).toEqual([expect.stringMatching(new RegExp(`^${fieldHash('Taipei')} 1000 0 \\d+ ${batch!.id}$`)), { v: 'Taipei' }]);
    });

    async function spelledOut(): Promise<Record<string, EntryObject>> {
      return asEntryObjects((await recorded()) as never);
    }

    it('keeps the hash, stamp and batch of each field sent, and not the value, under DRIFT_POLICY=report', async () => {
      await stage(db, { 'C-1': { city: 'Taipei' } });
      const sut = aScheduler({ DRIFT_POLICY: 'report' });
      await sut.takeOver();

      await sut.step(signal);

      const [batch] = await batches(db);
      await expect(spelledOut()).resolves.toEqual({ city: { h: fieldHash('Taipei'), ts: 1_000, seq: 0, at: expect.any(Number), b: batch!.id } });
    });

    it('keeps the value sent as well under DRIFT_POLICY=crm-wins, which sends it again after drift', async () => {
      await stage(db, { 'C-1': { city: 'Taipei' } });
      const sut = aScheduler({ DRIFT_POLICY: 'crm-wins' });
      await sut.takeOver();

      await sut.step(signal);

      const [batch] = await batches(db);
      await expect(spelledOut()).resolves.toEqual({ city: { h: fieldHash('Taipei'), ts: 1_000, seq: 0, at: expect.any(Number), v: 'Taipei', b: batch!.id } });
    });
  });

  describe('fencing', () => {
    it("makes a deposed leader's late finish() change nothing, and stops it", async () => {
      await stage(db, { 'C-1': { city: 'a' } });
      const deposed = aScheduler();
      let answer!: (task: ImportTask) => void;
      let polled!: () => void;
      const firstPoll = new Promise<void>((resolve) => (polled = resolve));
      caac.taskAnswer = (taskId) => {
        polled();
        return new Promise<ImportTask>((resolve) => (answer = resolve)).then(() => doneTask(taskId, { success: true, totalNum: 1 }));
      };
      const running = deposed.run(signal);
      await firstPoll;
      const before = await batches(db);

      const successor = aScheduler();
      await successor.takeOver();
      answer(doneTask('task-1', { success: true }));

      await expect(running).resolves.toBeUndefined(); // it stopped by itself, without an abort
      await expect(batches(db)).resolves.toEqual(before);
      expect(before).toMatchObject([{ status: 'submitted', task_id: 'task-1' }]);
      await expect(imported(db)).resolves.toEqual([]);
      await expect(db.query(`SELECT count(*)::int AS n FROM import_batch_item`)).resolves.toMatchObject({ rows: [{ n: 1 }] });

      // The successor polls the same task and records it.
      caac.taskAnswer = async (taskId) => doneTask(taskId, { success: true, totalNum: 1 });
      await successor.step(signal);
      expect(caac.polled.at(-1)).toBe('task-1');
      expect(caac.sent).toHaveLength(1);
      await expect(batches(db)).resolves.toMatchObject([{ status: 'done', task_id: 'task-1' }]);
      await expect(imported(db)).resolves.toEqual(['C-1']);
    });

    it('refuses every state change decided under an older epoch', async () => {
      await stage(db, { 'C-1': { city: 'a' } });
      const deposed = aScheduler();
      await deposed.takeOver();
      await aScheduler().takeOver();

      await expect(deposed.step(signal)).rejects.toBeInstanceOf(StaleTransitionError);
      await expect(batches(db)).resolves.toEqual([]);
      await expect(pending(db)).resolves.toEqual([{ key_value: 'C-1', row_failures: 0 }]);
      expect(caac.sent).toEqual([]);
    });
  });

  describe('clocks and deadlines', () => {
    it('waits for next_attempt_at by the database clock, whatever the service clock says', async () => {
      await stage(db, { 'C-1': { city: 'a' } });
      const skewed = new InstantClock(-3_600_000); // the service's clock an hour behind the database's
      const sut = aScheduler({}, skewed);
      await sut.takeOver();
      caac.importAnswers = [transient];
      await sut.step(signal);
      await db.query(`UPDATE import_batch SET next_attempt_at = now() + interval '20 seconds'`);

      await sut.step(signal);

      expect(skewed.sleeps[0]).toBeGreaterThan(15_000);
      expect(skewed.sleeps[0]).toBeLessThanOrEqual(20_000);
    });

    it('sends a task again when it is not done within CAAC_TASK_TIMEOUT_MS of its sending, and counts it', async () => {
      await stage(db, { 'C-1': { city: 'a' } });
      const sut = aScheduler({ CAAC_TASK_TIMEOUT_MS: '3600000' });
      await sut.takeOver();
      caac.taskAnswer = async (taskId) => {
        // Two hours pass, by the database's clock.
        await db.query(`UPDATE import_batch SET submitted_at = now() - interval '2 hours'`);
        return { taskId, status: 'processing' };
      };

      await sut.step(signal);

      await expect(batches(db)).resolves.toMatchObject([{ status: 'retrying', task_id: null, task_failures: 0 }]);
      await expect(metrics.importTaskTimeouts.get()).resolves.toMatchObject({ values: [{ value: 1 }] });
      caac.taskAnswer = async (taskId) => doneTask(taskId, { success: true, totalNum: 1 });
      await sut.step(signal);
      expect(caac.sent.map((request) => request.rows)).toEqual([[{ city: 'a', customer_id: 'C-1' }], [{ city: 'a', customer_id: 'C-1' }]]);
      await expect(batches(db)).resolves.toMatchObject([{ status: 'done', task_id: 'task-2' }]);
    });
  });
});

describe(`${ImportScheduler.name} after a crash left two open batches`, () => {
  it('polls the batch in flight, not the older claimed one, whose contacts the migration returned to pending', async () => {
    const database = await freshDatabase('import_scheduler_fold');
    const dataSource = createDataSource({ url: database.url, poolMax: 2 });
    await dataSource.initialize();
    try {
      const reapplied = await migrateToJustBefore(dataSource, OneOpenBatchFenced1795930000000);
      const insert = `INSERT INTO import_batch (account, key_type, status, rows, task_id) VALUES ('default', 'customer_id', $1, 1, $2) RETURNING id`;
      const [{ id: claimed }] = await dataSource.query(insert, ['claimed', null]);
      const [{ id: submitted }] = await dataSource.query(insert, ['submitted', 'task-in-flight']);
      const item = `INSERT INTO import_batch_item (batch_id, key_value, fields) VALUES ($1, $2, $3)`;
      await dataSource.query(item, [claimed, 'C-1', JSON.stringify(aPatch({ city: 'a' }))]);
      await dataSource.query(item, [submitted, 'C-2', JSON.stringify(aPatch({ city: 'b' }))]);
      await expect(runMigrations(dataSource)).resolves.toEqual(reapplied);

      const caac = new ScriptedCaac();
      const config = testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: 'unused:profile-change.v1', FLUSH_INTERVAL_MS: '600000' });
      const sut = new ImportScheduler(config, createLogger({ level: 'silent' }), new InstantClock(), dataSource, caac as unknown as CaacClient, new Metrics());
      await sut.takeOver();

      await sut.step(new AbortController().signal);

      expect(caac.polled).toEqual(['task-in-flight']);
      expect(caac.sent).toEqual([]);
      await expect(dataSource.query(`SELECT status FROM import_batch ORDER BY id`)).resolves.toEqual([{ status: 'requeued' }, { status: 'done' }]);
      await expect(dataSource.query(`SELECT key_value FROM pending_change`)).resolves.toEqual([{ key_value: 'C-1' }]);
      await expect(dataSource.query(`SELECT key_value FROM contact_state`)).resolves.toEqual([{ key_value: 'C-2' }]);
    } finally {
      await dataSource.destroy();
      await database.drop();
    }
  });
});
