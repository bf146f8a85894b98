import { mkdirSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { createDataSource, runMigrations } from '../../src/store/data-source';
import { seededRandom } from '../../scripts/crm/crm-generator';
import { canListen, freePort } from '../../test/support/free-port';
import { apiRuleViolations, sandboxContacts, sandboxLog, setFaults } from '../../test/support/sandbox-client';
import { TEST_ADMIN_TOKEN } from '../../test/support/service';
import { ServiceProcess } from '../../test/support/service-process';
import { waitFor } from '../../test/support/wait-for';
import { genericSinkCost, type GenericSinkCost } from '../generic-sink';
import { OwnBroker, OwnPostgres, REPO } from './chaos-infrastructure';
import { generateWorkload, REJECTED_CUSTOMER_PATTERN, REJECTION_REASON, type Workload, type WorkloadMessage } from './chaos-workload';

/** The Profile API's rules (DESIGN §1), checked on the sandbox's request log at the end. */
const API_RATE_PER_WINDOW = 15;
const API_MAX_ROWS = 10_000;
const PROFILE_PARTITIONS = 4;
const DEBEZIUM_PARTITIONS = 2;
const PRODUCE_CHUNK = 500; // messages per produce call
const PRODUCE_ATTEMPTS = 5; // a send refused during a broker's start is sent again (duplicates are part of the workload)
const DLQ_READ_TIMEOUT_MS = 120_000;
const EXPORT_TIMEOUT_MS = 300_000;
const PG_DOWN_MS = 4_000;
const BROKER_DOWN_MS = 4_000;
const KILL_IMPORT_WAIT_MS = 5_000; // how long a kill meant for mid-import waits for an import to open

export type FaultKind = 'kill' | 'postgres_restart' | 'broker_restart' | 'sandbox_5xx' | 'sandbox_hang' | 'sandbox_drop' | 'sandbox_429' | 'sandbox_task_failure' | 'export';

export interface ChaosOptions {
  seed: number;
  events: number;
  contacts: number;
  /** SIGKILLs of either instance (at least). */
  kills: number;
  /** Sandbox faults of each kind. */
  sandboxFaultsEach: number;
  /** How long a sandbox fault holds (until a later one replaces it): long enough for several imports. */
  sandboxFaultHoldMs: number;
  /** The API's rate window for the sandbox, the service and the final check. 60 s is the real API. */
  windowMs: number;
  /** Pause after each step, drawn between these bounds: kills land mid-staging and mid-import. */
  stepPauseMs: [number, number];
  taskMinMs: number;
  convergeTimeoutMs: number;
  /** Progress lines (never the result): the CLI prints them, the test keeps them for a failure. */
  log: (line: string) => void;
}

export interface ChaosResult {
  lost: number;
  stale_overwrites: number;
  rule_violations: number;
  dead_letters_expected: number;
  dead_letters_found: number;
  dead_letters_unexpected: number;
  kills: number;
  kills_mid_import: number;
  kills_mid_staging: number;
  converge_s: number;
  faults: Record<string, number>;
  seed: number;
  events: number;
  messages: number;
  contacts: number;
  imports: number;
  /** The API a generic sink would spend on the same messages, next to what the service spent. */
  generic_sink: GenericSinkCost;
  /** Answers to import requests by HTTP status (0: no answer, a hang or a dropped answer): the faults hit. */
  import_answers: Record<string, number>;
  /** Answers to import-task polls by HTTP status. */
  poll_answers: Record<string, number>;
  /** Import tasks CAAC ended with `success: false`: a failed task (the fault) or rows it rejected. */
  failed_tasks: number;
  export_status: string;
  run_s: number;
  /** The first problems found, each naming a contact, a field or a request: where to look. */
  problems: string[];
}

interface Step {
  kind: FaultKind;
}

/** The seeded fault schedule: one action after each chunk of the workload, shuffled. */
export function faultSchedule(options: Pick<ChaosOptions, 'seed' | 'kills' | 'sandboxFaultsEach'>): Step[] {
  const random = seededRandom(options.seed ^ 0x5eed);
  const steps: Step[] = [];
  for (let i = 0; i < options.kills; i++) steps.push({ kind: 'kill' });
  for (const kind of ['sandbox_5xx', 'sandbox_hang', 'sandbox_drop', 'sandbox_429', 'sandbox_task_failure'] as const) {
    for (let i = 0; i < options.sandboxFaultsEach; i++) steps.push({ kind });
  }
  for (let i = steps.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [steps[i], steps[j]] = [steps[j]!, steps[i]!];
  }
  // The infrastructure restarts and the export land in the middle third, apart, while work is in flight.
  steps.splice(Math.floor(steps.length / 3), 0, { kind: 'postgres_restart' });
  steps.splice(Math.floor(steps.length / 2), 0, { kind: 'export' });
  steps.splice(Math.floor((steps.length * 2) / 3), 0, { kind: 'broker_restart' });
  return steps;
}

/** The sandbox fault settings of each kind (DESIGN §4.3), on top of the run's permanent row rule. */
function sandboxFault(kind: FaultKind, holdMs: number, random: () => number): Record<string, unknown> {
  switch (kind) {
    case 'sandbox_5xx':
      return { error_rate: { import: 0.4, import_status: 0.3 } };
    case 'sandbox_hang':
      return { hang_rate: { import: 0.3, import_status: 0.2 } };
    case 'sandbox_drop':
      return { drop_after_accept_rate: 0.5 };
    case 'sandbox_429':
      // A storm shorter than the hold: the service must also notice that it ended.
      return { storm_429: { rate: 1, until_ms: Math.floor(holdMs * (0.3 + 0.4 * random())) } };
    case 'sandbox_task_failure':
      return { task_failure_rate: 0.3, task_failure_with_errors: random() < 0.5 };
    default:
      return {};
  }
}

/**
 * The chaos run: its own Postgres and broker, the sandbox, two service instances, the seeded
 * workload produced in chunks with a seeded fault after each, then convergence and the comparison
 * of the sandbox with the workload's reference model, of the request log with the API's rules, and
 * of the dead-letter topic with the bad events and rejected rows.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const { log } = options;
  const random = seededRandom(options.seed ^ 0xc4a05);
  // fsync off: a process crash (what the run does) loses nothing with it; only the machine's crash would.
  const postgres = new OwnPostgres(await freePort(), 'chaos', { fsync: 'off', max_connections: '200' });
  const broker = new OwnBroker(await freePairOfPorts());
  const logDir = resolve(REPO, `.cache/chaos/logs-${options.seed}-${started}`);
  const services: ServiceProcess[] = [];
  let sandbox: RunningSandbox | undefined;
  let producer: Producer | undefined;
  const sharedBrokers = process.env.TEST_KAFKA_BROKERS;
  try {
    log(`generating ${options.events} events over ${options.contacts} contacts (seed ${options.seed})`);
    const workload = generateWorkload({
      seed: options.seed,
      events: options.events,
      contacts: options.contacts,
      profilePartitions: PROFILE_PARTITIONS,
      debeziumPartitions: DEBEZIUM_PARTITIONS,
    });

    log(`starting Postgres on ${postgres.port} and Kafka on ${broker.port}`);
    await Promise.all([postgres.start(), broker.start()]);
    const databaseUrl = await createChaosDatabase(postgres.adminUrl);
    const kafka = new Kafka({ clientId: 'caac-sync-chaos', brokers: [broker.brokers], logLevel: logLevel.NOTHING });
    const topics = { profile: `chaos.profile-changes`, debezium: `chaos.crm.public.customers`, dlq: `chaos.dlq` };
    await createTopics(kafka, topics);

    sandbox = await startSandbox({
      port: 0,
      testApi: true,
      rateWindowMs: options.windowMs,
      ratePerWindow: API_RATE_PER_WINDOW,
      maxRows: API_MAX_ROWS,
      taskMinMs: options.taskMinMs,
      seed: options.seed,
      logLevel: 'silent',
    });
    const baseline = { row_rules: [{ field: 'customer_id', matches: REJECTED_CUSTOMER_PATTERN, reason: REJECTION_REASON }], seed: options.seed };
    await setFaults(sandbox.url, baseline);

    // ServiceProcess takes the broker from here (put back at the end, for tests that run after).
    process.env.TEST_KAFKA_BROKERS = broker.brokers;
    const env = {
      DATABASE_URL: databaseUrl,
      SOURCE_TOPICS: `${topics.profile}:profile-change.v1,${topics.debezium}:debezium:${resolve(REPO, 'config/customers.mapping.json')}`,
      KAFKA_GROUP_ID: 'caac-sync-chaos',
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      DLQ_TOPIC: topics.dlq,
      CAAC_BASE_URL: sandbox.url,
      CAAC_RATE_WINDOW_MS: String(options.windowMs),
      CAAC_REQUEST_TIMEOUT_MS: '3000',
      CAAC_BREAKER_RESET_MS: '2000',
      FLUSH_INTERVAL_MS: '1000',
      LOG_LEVEL: 'warn',
    };
    services.push(new ServiceProcess(env), new ServiceProcess(env));
    await Promise.all(services.map((service) => service.start()));

    producer = kafka.producer({ allowAutoTopicCreation: false });
    await producer.connect();
    const steps = faultSchedule(options);
    const faults: Record<string, number> = { rejected_rows: 1 };
    let kills = 0;
    let killsMidImport = 0;
    let killsMidStaging = 0;
    let exportId: string | undefined;
    let faultUntil: number | undefined;
    const chunkSize = Math.ceil(workload.messages.length / steps.length);
    log(`${workload.messages.length} messages in ${steps.length} steps: ${steps.map((s) => s.kind).join(' ')}`);

    for (const [index, step] of steps.entries()) {
      await produceAll(producer, topics, workload.messages.slice(index * chunkSize, (index + 1) * chunkSize));
      // A sandbox fault holds for a while, across the steps that follow (kills, restarts): everything at once.
      if (faultUntil !== undefined && Date.now() >= faultUntil) {
        await setFaults(sandbox.url, baseline);
        faultUntil = undefined;
      }
      // Half the kills strike at once, while the chunk just produced is being staged; the others
      // wait (bounded) for an open import batch and kill the importer's leader, mid-import.
      const whileStaging = step.kind === 'kill' && random() < 0.5;
      const pause = between(random, options.stepPauseMs);
      if (!whileStaging) await sleep(pause);
      faults[step.kind] = (faults[step.kind] ?? 0) + 1;
      switch (step.kind) {
        case 'kill': {
          let victim = services[Math.floor(random() * services.length)]!;
          if (!whileStaging) {
            await untilImporting(databaseUrl, KILL_IMPORT_WAIT_MS);
            victim = (await leaderOf(services)) ?? victim;
          }
          await victim.kill();
          kills++;
          // Measured after the kill, so each count is a lower bound: what was still unstaged or open then was so at the kill.
          const moment = await inFlight(databaseUrl, kafka, topics);
          if (moment.importing) killsMidImport++;
          if (moment.staging) killsMidStaging++;
          await sleep(Math.floor(random() * 2_000));
          await victim.start();
          if (whileStaging) await sleep(pause);
          break;
        }
        case 'postgres_restart':
          await postgres.restart(PG_DOWN_MS);
          break;
        case 'broker_restart':
          await producer.disconnect();
          await broker.restart(BROKER_DOWN_MS);
          producer = kafka.producer({ allowAutoTopicCreation: false });
          await producer.connect();
          break;
        case 'export':
          exportId = await requestExport(services);
          break;
        default:
          await setFaults(sandbox.url, { ...baseline, ...sandboxFault(step.kind, options.sandboxFaultHoldMs, random) });
          faultUntil = Date.now() + options.sandboxFaultHoldMs;
      }
      log(`step ${index + 1}/${steps.length}: ${step.kind}`);
    }
    // The last sandbox fault holds its full time, like every other: then the last fault ends.
    if (faultUntil !== undefined) await sleep(Math.max(0, faultUntil - Date.now()));
    await setFaults(sandbox.url, baseline);
    const lastFaultAt = Date.now();
    log('every fault done; waiting for convergence');
    await converge(databaseUrl, kafka, topics, options.convergeTimeoutMs);
    const convergeS = (Date.now() - lastFaultAt) / 1_000;
    const exportStatus = exportId ? await exportOutcome(services, exportId) : 'not requested';

    log('comparing');
    const letters = await readDeadLetters(kafka, topics.dlq);
    const held = await sandboxContacts(sandbox.url);
    const requestLog = await sandboxLog(sandbox.url);
    const comparison = compareWithModel(workload, held);
    const violations = [
      ...apiRuleViolations(requestLog, { windowMs: options.windowMs, perWindow: API_RATE_PER_WINDOW, maxRows: API_MAX_ROWS }),
      ...requestLog.requests.filter((r) => r.status === 413).map((r) => `a request over 10 MB at ${r.at}`),
    ];
    const deadLetters = compareDeadLetters(workload, letters);
    const problems = [...violations, ...comparison.problems, ...deadLetters.problems].slice(0, 50);
    if (problems.length > 0) {
      mkdirSync(logDir, { recursive: true });
      services.forEach((service, i) => writeFileSync(resolve(logDir, `service-${i}.log`), service.logs()));
    }
    return {
      lost: comparison.lost,
      stale_overwrites: comparison.stale,
      rule_violations: violations.length,
      dead_letters_expected: deadLetters.expected,
      dead_letters_found: deadLetters.found,
      dead_letters_unexpected: deadLetters.unexpected,
      kills,
      kills_mid_import: killsMidImport,
      kills_mid_staging: killsMidStaging,
      converge_s: Math.round(convergeS * 10) / 10,
      faults,
      seed: options.seed,
      events: workload.counts.events,
      messages: workload.messages.length,
      contacts: options.contacts,
      imports: requestLog.tasks.filter((t) => t.kind === 'import').length,
      // A generic sink forwards every message with a value, bad ones and redeliveries included.
      generic_sink: genericSinkCost([workload.messages.filter((m) => m.value !== null).length], requestLog.tasks.filter((t) => t.kind === 'import').length),
      import_answers: countBy(requestLog.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/member/import')).map((r) => String(r.status))),
      poll_answers: countBy(requestLog.requests.filter((r) => r.method === 'GET' && r.path.includes('/member/import/')).map((r) => String(r.status))),
      failed_tasks: requestLog.tasks.filter((t) => t.kind === 'import' && t.success === false).length,
      export_status: exportStatus,
      run_s: Math.round((Date.now() - started) / 1_000),
      problems: problems.length > 0 ? [...problems, `service logs: ${logDir}`] : [],
    };
  } finally {
    await producer?.disconnect().catch(() => undefined);
    for (const service of services) await service.kill();
    await sandbox?.close();
    await broker.stop();
    await postgres.stop();
    broker.remove();
    postgres.remove();
    if (sharedBrokers === undefined) delete process.env.TEST_KAFKA_BROKERS;
    else process.env.TEST_KAFKA_BROKERS = sharedBrokers;
  }
}

function countBy(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values.sort()) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function between(random: () => number, [low, high]: [number, number]): number {
  return low + Math.floor(random() * (high - low));
}

function sleep(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}

/** A free port whose successor is free too: the broker's controller listens on port + 1. */
async function freePairOfPorts(): Promise<number> {
  return waitFor(
    'two free ports in a row',
    async () => {
      const port = await freePort();
      return (await canListen(port + 1)) ? port : undefined;
    },
    { timeoutMs: 10_000, intervalMs: 10 },
  );
}

async function withClient<T>(url: string, work: (client: Client) => Promise<T>): Promise<T> {
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

async function createChaosDatabase(adminUrl: string): Promise<string> {
  await withClient(adminUrl, (client) => client.query('CREATE DATABASE chaos'));
  const url = adminUrl.replace(/\/postgres$/, '/chaos');
  const dataSource = createDataSource({ url, poolMax: 1 });
  await dataSource.initialize();
  try {
    await runMigrations(dataSource);
  } finally {
    await dataSource.destroy();
  }
  return url;
}

async function createTopics(kafka: Kafka, topics: { profile: string; debezium: string; dlq: string }): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: [
        { topic: topics.profile, numPartitions: PROFILE_PARTITIONS },
        { topic: topics.debezium, numPartitions: DEBEZIUM_PARTITIONS },
        { topic: topics.dlq, numPartitions: 1 },
      ],
    });
  } finally {
    await admin.disconnect();
  }
}

async function produceAll(producer: Producer, topics: { profile: string; debezium: string }, messages: WorkloadMessage[]): Promise<void> {
  for (let i = 0; i < messages.length; i += PRODUCE_CHUNK) {
    const chunk = messages.slice(i, i + PRODUCE_CHUNK);
    const topicMessages = (['profile', 'debezium'] as const).map((kind) => ({
      topic: topics[kind],
      messages: chunk.filter((m) => m.topic === kind).map((m) => ({ partition: m.partition, key: m.key, value: m.value })),
    }));
    for (let attempt = 1; ; attempt++) {
      try {
        await producer.sendBatch({ acks: -1, topicMessages: topicMessages.filter((t) => t.messages.length > 0) });
        break;
      } catch (error) {
        if (attempt >= PRODUCE_ATTEMPTS) throw error;
        await sleep(1_000 * attempt);
      }
    }
  }
}

/** The instance that holds the importer's leadership, as its readiness details say. */
async function leaderOf(services: ServiceProcess[]): Promise<ServiceProcess | undefined> {
  for (const service of services) {
    const response = await fetch(service.url('/health/ready')).catch(() => undefined);
    const body = (await response?.json().catch(() => undefined)) as { details?: { importer?: { role?: string } } } | undefined;
    if (body?.details?.importer?.role === 'leader') return service;
  }
  return undefined;
}

async function untilImporting(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await withClient(url, async (client) => {
      const { rows } = await client.query(`SELECT count(*)::int AS open FROM import_batch WHERE status NOT IN ('done', 'failed')`);
      return rows[0].open as number;
    }).catch(() => 0);
    if (open > 0) return;
    await sleep(100);
  }
}

/** Whether an import batch is open and whether staging lags the topics, right before a kill. */
async function inFlight(url: string, kafka: Kafka, topics: { profile: string; debezium: string }): Promise<{ importing: boolean; staging: boolean }> {
  const high = await highWatermarkTotal(kafka, [topics.profile, topics.debezium]);
  return withClient(url, async (client) => {
    const { rows } = await client.query(
      `SELECT (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open,
              (SELECT coalesce(sum(next_offset), 0)::bigint::text FROM consumer_offset) AS consumed`,
    );
    return { importing: rows[0].open > 0, staging: BigInt(rows[0].consumed) < high };
  }).catch(() => ({ importing: false, staging: false }));
}

async function highWatermarkTotal(kafka: Kafka, topicNames: string[]): Promise<bigint> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    let total = 0n;
    for (const topic of topicNames) for (const offset of await admin.fetchTopicOffsets(topic)) total += BigInt(offset.high);
    return total;
  } finally {
    await admin.disconnect();
  }
}

/** Every message consumed and stored, nothing pending, no batch open, every dead letter relayed. */
async function converge(url: string, kafka: Kafka, topics: { profile: string; debezium: string }, timeoutMs: number): Promise<void> {
  const high = await highWatermarkTotal(kafka, [topics.profile, topics.debezium]);
  await waitFor(
    'convergence (all consumed, nothing pending, no open batch, outbox relayed)',
    async () => {
      const state = await withClient(url, async (client) => {
        const { rows } = await client.query(
          `SELECT (SELECT count(*) FROM pending_change)::int AS pending,
                  (SELECT count(*) FROM import_batch WHERE status NOT IN ('done', 'failed'))::int AS open,
                  (SELECT count(*) FROM dead_letter_outbox WHERE published_at IS NULL)::int AS unrelayed,
                  (SELECT coalesce(sum(next_offset), 0)::bigint::text FROM consumer_offset) AS consumed`,
        );
        return rows[0] as { pending: number; open: number; unrelayed: number; consumed: string };
      });
      return state.pending === 0 && state.open === 0 && state.unrelayed === 0 && BigInt(state.consumed) === high ? true : undefined;
    },
    { timeoutMs, intervalMs: 1_000 },
  );
}

async function requestExport(services: ServiceProcess[]): Promise<string | undefined> {
  for (const service of services) {
    const response = await fetch(service.url('/admin/exports'), {
      method: 'POST',
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    }).catch(() => undefined);
    if (response?.status === 202) return ((await response.json()) as { id: string }).id;
  }
  return undefined;
}

async function exportOutcome(services: ServiceProcess[], id: string): Promise<string> {
  return waitFor(
    `export ${id} to end`,
    async () => {
      for (const service of services) {
        const response = await fetch(service.url(`/admin/exports/${id}`), { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } }).catch(() => undefined);
        if (response?.status !== 200) continue;
        const job = (await response.json()) as { status: string };
        return ['done', 'failed', 'expired'].includes(job.status) ? job.status : undefined;
      }
      return undefined;
    },
    { timeoutMs: EXPORT_TIMEOUT_MS, intervalMs: 1_000 },
  );
}

export interface Letter {
  key: string | null;
  value: string;
  stage: string;
  reason: string;
}

/** The whole dead-letter topic, up to its end now. */
async function readDeadLetters(kafka: Kafka, topic: string): Promise<Letter[]> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map((await admin.fetchTopicOffsets(topic)).map((o) => [o.partition, BigInt(o.high)]));
  await admin.disconnect();
  const letters: Letter[] = [];
  if ([...ends.values()].every((end) => end === 0n)) return letters;
  const consumer = kafka.consumer({ groupId: `chaos-dlq-reader-${Date.now()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    const done = new Set<number>([...ends].filter(([, end]) => end === 0n).map(([p]) => p));
    await new Promise<void>((resolveRead, reject) => {
      const timer = setTimeout(() => reject(new Error(`read ${letters.length} dead letters within ${DLQ_READ_TIMEOUT_MS} ms, not the whole topic`)), DLQ_READ_TIMEOUT_MS);
      void consumer.run({
        eachMessage: async ({ partition, message }) => {
          const header = (name: string) => message.headers?.[`caac-sync.errors.${name}`]?.toString() ?? '';
          letters.push({ key: message.key?.toString() ?? null, value: message.value?.toString('base64') ?? '', stage: header('stage'), reason: header('message') });
          if (BigInt(message.offset) + 1n >= ends.get(partition)!) done.add(partition);
          if (done.size === ends.size) {
            clearTimeout(timer);
            resolveRead();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
  return letters;
}

/** Each bad event once (by its bytes), each rejected contact that had a change (by its key); nothing else. */
export function compareDeadLetters(workload: Workload, letters: Letter[]): { expected: number; found: number; unexpected: number; problems: string[] } {
  const rejectedKeys = new Set([...workload.rejected].filter((id) => workload.model.has(id)).map((id) => `customer_id:${id}`));
  const foundBad = new Set<string>();
  const foundRejected = new Set<string>();
  const unexpected: string[] = [];
  for (const letter of letters) {
    if (letter.stage === 'import' && letter.key !== null && rejectedKeys.has(letter.key) && letter.reason.includes(REJECTION_REASON)) foundRejected.add(letter.key);
    else if (letter.stage !== 'import' && workload.badValues.has(letter.value)) foundBad.add(letter.value);
    else unexpected.push(`unexpected dead letter: stage ${letter.stage}, key ${letter.key}, reason ${letter.reason}`);
  }
  const problems = [...unexpected];
  const missingBad = [...workload.badValues].filter((value) => !foundBad.has(value));
  const missingRejected = [...rejectedKeys].filter((key) => !foundRejected.has(key));
  for (const value of missingBad.slice(0, 10)) problems.push(`bad event never dead-lettered: ${Buffer.from(value, 'base64').toString().slice(0, 120)}`);
  for (const key of missingRejected.slice(0, 10)) problems.push(`rejected contact never dead-lettered: ${key}`);
  return {
    expected: workload.badValues.size + rejectedKeys.size,
    found: foundBad.size + foundRejected.size,
    unexpected: new Set(unexpected).size,
    problems,
  };
}

/**
 * Field by field, CAAC against the model: a value the field had at an older source time is a stale
 * overwrite; any other difference (missing, never sent, unknown) is a lost change.
 */
export function compareWithModel(workload: Workload, held: Map<string, Record<string, unknown>>): { lost: number; stale: number; problems: string[] } {
  let lost = 0;
  let stale = 0;
  const problems: string[] = [];
  for (const [customerId, fields] of workload.model) {
    const contact = held.get(customerId);
    if (workload.rejected.has(customerId)) {
      if (contact) {
        lost++;
        problems.push(`${customerId}: CAAC holds a contact whose every row it rejects`);
      }
      continue;
    }
    const expectsValues = [...fields.values()].some((history) => history.value !== null);
    if (!contact) {
      if (expectsValues) {
        lost += [...fields.values()].filter((history) => history.value !== null).length;
        problems.push(`${customerId}: missing from CAAC`);
      }
      continue;
    }
    for (const [field, history] of fields) {
      const actual = contact[field] ?? null;
      if (JSON.stringify(actual) === JSON.stringify(history.value)) continue;
      if (history.older.has(JSON.stringify(actual))) {
        stale++;
        problems.push(`${customerId}.${field}: CAAC holds the older ${JSON.stringify(actual)}, the newest is ${JSON.stringify(history.value)}`);
      } else {
        lost++;
        problems.push(`${customerId}.${field}: CAAC holds ${JSON.stringify(actual)}, the newest is ${JSON.stringify(history.value)}`);
      }
    }
    for (const field of Object.keys(contact)) {
      if (field !== 'customer_id' && !fields.has(field)) {
        lost++;
        problems.push(`${customerId}.${field}: CAAC holds ${JSON.stringify(contact[field])}, never sent`);
      }
    }
  }
  for (const customerId of held.keys()) {
    if (!workload.model.has(customerId)) {
      lost++;
      problems.push(`${customerId}: in CAAC, never in a good event`);
    }
  }
  return { lost, stale, problems: problems.slice(0, 30) };
}

/** The table and the JSON line: the table for people, the line for tools (last on stdout). */
export function formatResult(result: ChaosResult): string {
  const { problems, ...line } = result;
  const ok = (value: boolean) => (value ? 'ok' : 'FAIL');
  const rows: Array<[string, string, string]> = [
    ['lost changes', String(result.lost), ok(result.lost === 0)],
    ['stale overwrites', String(result.stale_overwrites), ok(result.stale_overwrites === 0)],
    ['API rule violations', String(result.rule_violations), ok(result.rule_violations === 0)],
    ['dead letters expected / found', `${result.dead_letters_expected} / ${result.dead_letters_found}`, ok(result.dead_letters_expected === result.dead_letters_found)],
    ['unexpected dead letters', String(result.dead_letters_unexpected), ok(result.dead_letters_unexpected === 0)],
    ['kills (mid-import / mid-staging)', `${result.kills} (${result.kills_mid_import} / ${result.kills_mid_staging})`, ''],
    ['faults', Object.entries(result.faults).map(([kind, n]) => `${kind}=${n}`).join(' '), ''],
    ['export', result.export_status, ''],
    ['events / messages / contacts', `${result.events} / ${result.messages} / ${result.contacts}`, ''],
    ['generic sink: imports (budget hours)', `${result.generic_sink.generic_imports} (${result.generic_sink.generic_budget_hours} h) against the service's ${result.generic_sink.service_imports} (${result.generic_sink.service_budget_hours} h)`, ''],
    ['import tasks (answers to import requests)', `${result.imports}, ${result.failed_tasks} failed (${Object.entries(result.import_answers).map(([status, n]) => `${status}: ${n}`).join(', ')})`, ''],
    ['answers to task polls', Object.entries(result.poll_answers).map(([status, n]) => `${status}: ${n}`).join(', '), ''],
    ['converged after the last fault', `${result.converge_s} s`, ''],
    ['run', `${result.run_s} s, seed ${result.seed}`, ''],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  const table = rows.map(([name, value, verdict]) => `${name.padEnd(width)}  ${value}${verdict ? `  ${verdict}` : ''}`).join('\n');
  const details = problems.length > 0 ? `\nfirst problems:\n${problems.map((p) => `  ${p}`).join('\n')}\n` : '';
  return `${table}\n${details}${JSON.stringify(line)}`;
}

export function passed(result: ChaosResult): boolean {
  return (
    result.lost === 0 &&
    result.stale_overwrites === 0 &&
    result.rule_violations === 0 &&
    result.dead_letters_unexpected === 0 &&
    result.dead_letters_expected === result.dead_letters_found
  );
}
