import { createHmac } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { validateCronExpression } from 'cron';
import { isSupportedCountry } from 'libphonenumber-js';
import { z } from 'zod';
import { PROFILE_API_MAX_ROWS } from '../caac/caac.client';
import { isRegistryFormat, parseSourceTopics, type SourceTopic } from './source-topic';

/** Profile API: import requests per minute per account. */
export const PROFILE_API_RATE_PER_MIN = 15;
/** Profile API: an export shows the account's contacts as of up to 24 h before it was requested. */
export const PROFILE_API_EXPORT_MAX_LAG_MS = 86_400_000;

const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .default(fallback ? 'true' : 'false')
    .transform((value) => value === 'true' || value === '1' || value === 'yes');

const int = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.coerce
    .number({ message: 'must be a whole number' })
    .int({ message: 'must be a whole number' })
    .min(min, { message: `must be at least ${min}` })
    .max(max, { message: `must be at most ${max}` })
    .default(fallback);

const required = (what: string) =>
  z.string({ message: `is required (${what})` }).trim().min(1, { message: `is required (${what})` });

const brokers = required('comma-separated host:port list').refine(
  (value) => value.split(',').every((broker) => /^[^\s:,]+:\d{1,5}$/.test(broker.trim())),
  { message: 'must be a comma-separated host:port list, e.g. 127.0.0.1:9092' },
);

const httpUrl = (what: string) =>
  required(what).refine(
    (value) => {
      try {
        return ['http:', 'https:'].includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be an http(s) URL (${what})` },
  );

const topicName = z.string().trim().regex(/^[a-zA-Z0-9._-]{1,249}$/, { message: 'must be a valid Kafka topic name' });

const cronExpression = z
  .string()
  .trim()
  .refine((value) => validateCronExpression(value).valid, { message: 'must be a cron expression, e.g. "0 3 * * *" (03:00 daily)' });

/** Hosts a plain-http URL may name: the request never leaves the machine. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

function isLoopbackUrl(value: string): boolean {
  try {
    return isLoopbackHost(new URL(value).hostname);
  } catch {
    return false;
  }
}

const caacUrl = httpUrl('the Profile API base URL').refine(
  (value) => {
    try {
      const url = new URL(value);
      return url.protocol !== 'http:' || isLoopbackHost(url.hostname);
    } catch {
      return true; // reported by httpUrl
    }
  },
  // The api key travels in a header: over plain http anyone on the path reads it.
  { message: 'must be an https:// URL unless its host is a loopback address (the api key travels in a header)' },
);

/**
 * Placeholders that this repository's examples ship (`.env.example`, `docker-compose.yml`): a
 * service started with one of them has an admin token everyone who read the repository knows.
 */
export const PLACEHOLDER_ADMIN_TOKENS = ['change-me-to-a-long-random-token', 'change-me-local-admin-token'];

const postgresUrl = required('postgres://user@host:port/database').refine(
  (value) => {
    try {
      return ['postgres:', 'postgresql:'].includes(new URL(value).protocol);
    } catch {
      return false;
    }
  },
  { message: 'must be a postgres:// connection URL' },
);

/** Every environment variable the service reads, with its default and its check (DESIGN §4.5). */
/** A topic's replication factor when the service creates it; absent: the broker's `default.replication.factor`. */
const replicationFactor = z.coerce
  .number({ message: 'must be a whole number' })
  .int({ message: 'must be a whole number' })
  .min(1, { message: 'must be at least 1' })
  .max(32, { message: 'must be at most 32' })
  .optional();

const envSchema = z.object({
  KAFKA_BROKERS: brokers,
  KAFKA_GROUP_ID: z.string().trim().min(1).default('caac-sync'),
  KAFKA_CLIENT_ID: z.string().trim().min(1).default('caac-sync'),
  // Kafka's group.min.session.timeout.ms defaults to 6 s; a dead member blocks its partitions this long.
  KAFKA_SESSION_TIMEOUT_MS: int(30_000, 6_000, 300_000),
  // TLS to the brokers; the CA file is needed only when the brokers' certificates are not signed by
  // a CA Node already trusts. A client certificate and key are for brokers that require mTLS.
  KAFKA_SSL: bool(false),
  KAFKA_SSL_CA_FILE: z.string().trim().min(1).optional(),
  KAFKA_SSL_CERT_FILE: z.string().trim().min(1).optional(),
  KAFKA_SSL_KEY_FILE: z.string().trim().min(1).optional(),
  KAFKA_SASL_MECHANISM: z
    .enum(['plain', 'scram-sha-256', 'scram-sha-512'], { message: 'must be plain, scram-sha-256 or scram-sha-512' })
    .optional(),
  KAFKA_SASL_USERNAME: z.string().trim().min(1).optional(),
  KAFKA_SASL_PASSWORD: z.string().min(1).optional(),
  SOURCE_TOPICS: required('topic:format[:mapping-file], comma separated'),
  // A Confluent-compatible Schema Registry, for the -avro and -json-sr source formats (Apicurio:
  // http(s)://host:port/apis/ccompat/v7). Basic auth when a username is given; TLS by https.
  SCHEMA_REGISTRY_URL: httpUrl('the Confluent-compatible API, e.g. http://127.0.0.1:8081/apis/ccompat/v7').optional(),
  SCHEMA_REGISTRY_USERNAME: z.string().trim().min(1).optional(),
  SCHEMA_REGISTRY_PASSWORD: z.string().min(1).optional(),
  SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS: int(5_000, 100, 120_000),
  SCHEMA_REGISTRY_CACHE_ENTRIES: int(1_000, 1, 1_000_000),
  DLQ_TOPIC: z
    .string()
    .trim()
    .regex(/^[a-zA-Z0-9._-]{1,249}$/, { message: 'must be a valid Kafka topic name' })
    .default('caac-sync.dlq'),
  // Used when the service creates the dead-letter topic; an existing topic is left as it is.
  DLQ_PARTITIONS: int(1, 1, 10_000),
  DLQ_REPLICATION_FACTOR: replicationFactor,
  // 256 KiB: a quarter of Kafka's default max.message.bytes (1 MiB), so a letter with its key and
  // headers fits a topic made with the broker's defaults, and many letters share one request. Far
  // more than anyone reads to diagnose an event; the SHA-256 and offset headers find the whole one.
  // At most 16 MiB: a topic made for larger records strains brokers, and letters do not need it.
  DLQ_MAX_VALUE_BYTES: int(262_144, 1_024, 16 * 1_048_576),
  // A week, like a dead-letter topic's usual retention: time to look at a letter, not to keep it.
  DEAD_LETTER_RETENTION_MS: int(7 * 86_400_000, 1_000),
  // 4 MiB: fetches, transactions and the broker's work per event shrink as fetches grow (a fetch
  // holds two partitions' worth), while memory grows with the events a fetch holds: small events
  // (~200 bytes) peak near 260 MB at this size. Large events (Debezium with the JSON converter's
  // schema, ~4.4 KB) go a third faster at 8 MiB, for about the same memory (docs/configuration.md).
  INGEST_MAX_BYTES_PER_PARTITION: int(4 * 1_048_576, 1_024),
  // Events staged in one transaction at most: ~5,000 is what 1 MiB of profile-change.v1 events
  // holds, and coalescing gains little beyond it while the batch's memory grows.
  INGEST_MAX_BATCH_EVENTS: int(5_000, 1, 1_000_000),
  INGEST_MAX_MESSAGE_BYTES: int(1_048_576, 1_024),
  INGEST_PARTITIONS_CONCURRENCY: int(2, 1, 64),
  INGEST_PAUSE_AFTER_MS: int(1_000, 50, 600_000),
  // Where a partition starts when Postgres holds no offset for it: the group's committed offset
  // (a new database joining a running deployment), or the earliest the broker holds (a database
  // restored or replaced: the topic is read again and duplicates cost nothing, invariant 4).
  INGEST_START_WITHOUT_STORED_OFFSET: z.enum(['committed', 'earliest'], { message: 'must be committed or earliest' }).default('committed'),
  DATABASE_URL: postgresUrl,
  DATABASE_POOL_MAX: int(10, 2, 200),
  MIGRATE_ON_START: bool(false),
  CAAC_BASE_URL: caacUrl,
  CAAC_API_KEY: required('the Profile API key'),
  CAAC_ACCOUNT: z
    .string()
    .trim()
    .regex(/^[a-zA-Z0-9._-]{1,64}$/, { message: 'must be 1-64 letters, digits, dots, dashes or underscores' })
    .default('default'),
  CAAC_IMPORT_RATE_PER_MIN: int(PROFILE_API_RATE_PER_MIN, 1, PROFILE_API_RATE_PER_MIN),
  CAAC_IMPORT_MAX_ROWS: int(PROFILE_API_MAX_ROWS, 1, PROFILE_API_MAX_ROWS),
  CAAC_RATE_WINDOW_MS: int(60_000, 100),
  CAAC_STATUS_RATE_PER_MIN: int(60, 1, 6_000),
  CAAC_REQUEST_TIMEOUT_MS: int(30_000, 100, 600_000),
  CAAC_BREAKER_RESET_MS: int(15_000, 100, 600_000),
  // A task not done by then has an unknown outcome and is sent again; CAAC tasks take seconds to minutes.
  CAAC_TASK_TIMEOUT_MS: int(21_600_000, 1_000, 7 * 86_400_000),
  // After a request-level refusal (400, 401, 403, 404, 422: the configuration, not the data) the
  // importer stops and asks again this rarely, so an operator can fix it without losing changes.
  IMPORT_REFUSED_RETRY_MS: int(60_000, 100, 86_400_000),
  FLUSH_INTERVAL_MS: int(30_000, 0, 86_400_000),
  // Producers' clocks run a little ahead of ours; a day covers any clock that is merely wrong.
  MAX_FUTURE_SKEW_MS: int(86_400_000, 1_000),
  IMPORTER_ENABLED: bool(true),
  DEFAULT_PHONE_REGION: z
    .string()
    .trim()
    .transform((value) => value.toUpperCase())
    .refine((value) => isSupportedCountry(value), { message: 'must be an ISO 3166 region code, e.g. TW' })
    .default('TW'),
  ADMIN_TOKEN: required('bearer token for /admin, at least 16 characters')
    .refine((value) => value.length >= 16, { message: 'must be at least 16 characters' })
    .refine((value) => !PLACEHOLDER_ADMIN_TOKENS.includes(value), {
      message: 'is the placeholder of .env.example or docker-compose.yml; set a long random token of your own (e.g. `openssl rand -hex 24`)',
    }),
  // The key of the audit lines' key hashes and of the cursors handed to clients (a secret).
  AUDIT_HASH_KEY: z.string().trim().min(16, { message: 'must be at least 16 characters' }).optional(),
  HTTP_HOST: z.string().trim().min(1).default('0.0.0.0'),
  HTTP_PORT: int(3000, 0, 65_535),
  // When set, health, metrics and /docs are served on this port only, and admin and schemas on
  // HTTP_PORT only: probes and scrapes can be opened to the cluster while admin is not.
  MANAGEMENT_PORT: z.coerce
    .number({ message: 'must be a whole number' })
    .int({ message: 'must be a whole number' })
    .min(0, { message: 'must be at least 0' })
    .max(65_535, { message: 'must be at most 65535' })
    .optional(),
  MANAGEMENT_HOST: z.string().trim().min(1).optional(),
  // The OpenAPI document and its UI at /docs; off for those who publish no route list.
  DOCS_ENABLED: bool(true),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  SHUTDOWN_TIMEOUT_MS: int(30_000, 1_000, 600_000),
  // Readiness fails when a partition's batch has been retrying, or the partition paused, this long:
  // well past a Postgres hiccup, well before the backlog ages past a few flush intervals.
  HEALTH_PARTITION_STUCK_MS: int(120_000, 1_000, 86_400_000),
  // Liveness fails when work waits (lag, or a batch in hand) and the consume loop has done nothing
  // (no batch handed over, no retry, nothing stored) this long: a restart is the only way out.
  HEALTH_INGEST_STALL_MS: int(300_000, 1_000, 86_400_000),
  // Liveness fails when the importer loop (of the leader) has not turned this long past the waits
  // it planned; longer than one import request's whole bounded retry (about 6 minutes).
  HEALTH_IMPORTER_STALL_MS: int(900_000, 1_000, 86_400_000),
  EXPORT_SCHEDULE: cronExpression.optional(),
  EXPORT_DATABASE_URL: postgresUrl.optional(),
  EXPORT_TABLE_ENABLED: bool(true),
  EXPORT_TOPIC: topicName.optional(),
  // Used when the service creates the export topic; an existing topic is left as it is.
  EXPORT_TOPIC_REPLICATION_FACTOR: replicationFactor,
  // Readiness and alerts call the newest complete export old past this (an operator's choice:
  // an hourly schedule wants to hear of a missed export within hours). Not reconcile's trust window.
  EXPORT_MAX_STALENESS_MS: int(86_400_000, 1_000),
  // Profile API: an export's data may be up to 24 h older than its request. Reconcile trusts an
  // export only for fields the service did not import within this long before it. A property of
  // the API, not a preference: less than 24 h only against a loopback sandbox (see loadConfig).
  CAAC_EXPORT_MAX_LAG_MS: int(PROFILE_API_EXPORT_MAX_LAG_MS, 1_000),
  // What a field CAAC holds differently from the value last sent does: reported, or sent again.
  DRIFT_POLICY: z.enum(['report', 'crm-wins']).default('report'),
  EXPORT_POLL_MS: int(2_000, 10, 600_000),
  // Kafka's default message.max.bytes is 1 MB per record batch; half of it leaves room for overhead.
  EXPORT_KAFKA_BATCH_BYTES: int(524_288, 1_024, 16_777_216),
  // A broken file looks exactly like a mass deletion: an export deleting more than this share of
  // the mirror waits for an operator (POST /admin/exports/:id/allow-deletions). 1 turns it off.
  EXPORT_MAX_DELETE_RATIO: z.coerce
    .number({ message: 'must be a number from 0 to 1' })
    .min(0, { message: 'must be a number from 0 to 1' })
    .max(1, { message: 'must be a number from 0 to 1 (1 turns the guard off)' })
    .default(0.2),
});

/** TLS and SASL of the Kafka connection; file contents are read once, at start. */
export interface KafkaSecurityConfig {
  /** False: plaintext. Otherwise TLS, with the CA and client certificate given (PEM). */
  ssl: false | { ca?: string; cert?: string; key?: string };
  /** Absent: no SASL. The password is a secret: never logged or echoed. */
  sasl?: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string };
}

export interface AppConfig {
  kafka: {
    brokers: string[];
    security: KafkaSecurityConfig;
    groupId: string;
    clientId: string;
    sessionTimeoutMs: number;
    sourceTopics: SourceTopic[];
    /** Absent unless SCHEMA_REGISTRY_URL is set; the password is a secret, never logged. */
    schemaRegistry?: { url: string; username?: string; password?: string; requestTimeoutMs: number; cacheEntries: number };
    dlqTopic: string;
    /** Partitions and replication factor of a dead-letter topic the service creates (absent: the broker's default). */
    dlqPartitions: number;
    dlqReplicationFactor: number | undefined;
    /** A dead letter's value is cut to this many bytes, with headers saying so. */
    dlqMaxValueBytes: number;
    maxBytesPerPartition: number;
    /** Events handed to one staging transaction at most; a larger fetch goes in parts. */
    maxBatchEvents: number;
    maxMessageBytes: number;
    /** Partitions whose batches are staged at the same time: decoding overlaps the database's work. */
    partitionsConcurrency: number;
    /** A partition whose batch takes longer than this to stage is paused, so the others flow on. */
    pauseAfterMs: number;
    /** Where a partition starts when Postgres holds no offset for it (INGEST_START_WITHOUT_STORED_OFFSET). */
    startWithoutStoredOffset: 'committed' | 'earliest';
  };
  database: { url: string; poolMax: number; migrateOnStart: boolean };
  caac: {
    baseUrl: string;
    apiKey: string;
    account: string;
    importRatePerWindow: number;
    importMaxRows: number;
    rateWindowMs: number;
    statusRatePerMin: number;
    requestTimeoutMs: number;
    /** How long the circuit breaker stays open before it lets one call try. */
    breakerResetMs: number;
    /** An import task not done this long after it was sent has an unknown outcome and is sent again. */
    taskTimeoutMs: number;
    /** How often a refused import request (400, 401, 403, 404, 422) is tried again. */
    refusedRetryMs: number;
    /** How stale an export's data may be (the API's lag): reconcile's trust window. */
    exportMaxLagMs: number;
  };
  flushIntervalMs: number;
  /** Published outbox rows (copies of dead letters, with personal data) are deleted after this. */
  deadLetterRetentionMs: number;
  /** A source time further ahead of this service's clock is dead-lettered (see checkSourceTime). */
  maxFutureSkewMs: number;
  /** False for an ingest-only instance: it stages changes and never runs for importer leader. */
  importerEnabled: boolean;
  defaultPhoneRegion: string;
  adminToken: string;
  /**
   * Key of the keyed hashes of personal data in audit lines, and of cursor signatures: AUDIT_HASH_KEY,
   * else derived from ADMIN_TOKEN (then a new token changes every hash).
   */
  auditHashKey: string;
  http: {
    host: string;
    port: number;
    /** Health, metrics and docs apart from admin, when set (0: any free port). */
    management?: { host: string; port: number };
    docsEnabled: boolean;
  };
  logLevel: string;
  shutdownTimeoutMs: number;
  health: {
    /** A partition retrying or paused this long makes the instance unready. */
    partitionStuckMs: number;
    /** Work waiting and no consume-loop activity this long makes the instance not live. */
    ingestStallMs: number;
    /** An importer loop that has not turned this long past its planned waits makes the instance not live. */
    importerStallMs: number;
  };
  export: {
    /** Cron expression of scheduled exports; undefined: on demand only. */
    schedule: string | undefined;
    /** Database of the caac_contact table (and the export's staging); the service's own by default. */
    databaseUrl: string;
    tableEnabled: boolean;
    topic: string | undefined;
    /** Of the export topic when the service creates it; undefined: the broker's default. */
    topicReplicationFactor: number | undefined;
    /** Readiness and alerts call the newest complete export old past this; not reconcile's trust window. */
    maxStalenessMs: number;
    /** Drift (CAAC differs from the value last sent): `report` only, or `crm-wins` queues the sent value again (only it keeps sent values in contact_state). */
    driftPolicy: 'report' | 'crm-wins';
    /** First wait between two polls of an export task; it doubles up to 30 s (EXPORT_POLL_MAX_MS). */
    pollMs: number;
    kafkaBatchBytes: number;
    /** An export deleting more than this share of the mirror is held; 1: never. */
    maxDeleteRatio: number;
  };
}

/**
 * Variables that hold secrets (or, for the database URLs, may: a password). Each may be given as
 * `<NAME>_FILE` instead, the path of a file holding the value, as Kubernetes, Docker and Vault
 * mount secrets.
 */
export const SECRET_VARIABLES = ['CAAC_API_KEY', 'ADMIN_TOKEN', 'KAFKA_SASL_PASSWORD', 'SCHEMA_REGISTRY_PASSWORD', 'AUDIT_HASH_KEY', 'DATABASE_URL', 'EXPORT_DATABASE_URL'] as const;

/**
 * `env` with every `<NAME>_FILE` of `names` read into `<NAME>`: read once, here, and trimmed (a
 * mounted secret often ends in a newline). A problem names the variable and the file, never what
 * the file holds; setting both forms is a problem, as nobody could tell which one is used.
 */
export function resolveSecretFiles(env: NodeJS.ProcessEnv, names: readonly string[], problems: string[]): NodeJS.ProcessEnv {
  const resolved = { ...env };
  for (const name of SECRET_VARIABLES) {
    if (!names.includes(name)) continue;
    const file = env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (env[name] !== undefined && env[name] !== '') {
      problems.push(`${name}_FILE: ${name} is set too; set one of them`);
      continue;
    }
    try {
      const value = readFileSync(file, 'utf8').trim();
      if (value === '') problems.push(`${name}_FILE: ${file} is empty`);
      else resolved[name] = value;
    } catch (error) {
      problems.push(`${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  return resolved;
}

/** Zod's problems as lines, but none for a secret whose `_FILE` was already reported. */
function issueLines(issues: Array<{ path: PropertyKey[]; message: string }>, problems: string[]): string[] {
  const fileProblem = (name: string) => problems.some((problem) => problem.startsWith(`${name}_FILE: `));
  return issues.filter((issue) => !fileProblem(String(issue.path[0]))).map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

type EnvName = keyof typeof envSchema.shape;
type Env = z.infer<typeof envSchema>;

/**
 * Validates only the variables `names` (with their `_FILE` forms): a command-line tool checks what
 * it uses, so `cli export` on a laptop needs the admin token, not the production CAAC key.
 */
export function loadVariables<K extends EnvName>(env: NodeJS.ProcessEnv, names: readonly K[]): Pick<Env, K> {
  const problems: string[] = [];
  const resolved = resolveSecretFiles(env, names, problems);
  const schema = envSchema.pick(Object.fromEntries(names.map((name) => [name, true])) as Partial<Record<EnvName, true>>);
  const present = Object.fromEntries(names.flatMap((name) => (resolved[name] === undefined || resolved[name] === '' ? [] : [[name, resolved[name]]])));
  const parsed = schema.safeParse(present);
  if (!parsed.success) problems.push(...issueLines(parsed.error.issues, problems));
  if (!parsed.success || problems.length > 0) throw new ConfigError(problems);
  return parsed.data as unknown as Pick<Env, K>;
}

/** The variables of a Kafka connection: brokers, client id, TLS and SASL. */
export const KAFKA_CONNECTION_VARIABLES = [
  'KAFKA_BROKERS',
  'KAFKA_CLIENT_ID',
  'KAFKA_SSL',
  'KAFKA_SSL_CA_FILE',
  'KAFKA_SSL_CERT_FILE',
  'KAFKA_SSL_KEY_FILE',
  'KAFKA_SASL_MECHANISM',
  'KAFKA_SASL_USERNAME',
  'KAFKA_SASL_PASSWORD',
] as const;

/** The Kafka connection alone, validated as the service validates it (for the command line). */
export function loadKafkaConnection(env: NodeJS.ProcessEnv): { brokers: string[]; clientId: string; security: KafkaSecurityConfig } {
  const e = loadVariables(env, KAFKA_CONNECTION_VARIABLES);
  const problems: string[] = [];
  const security = kafkaSecurity(e, problems);
  if (!security) throw new ConfigError(problems);
  return { brokers: e.KAFKA_BROKERS.split(',').map((broker) => broker.trim()), clientId: e.KAFKA_CLIENT_ID, security };
}

/** A configuration that cannot start the service; `problems` has one line per bad variable. */
export class ConfigError extends Error {
  readonly code = 'config_invalid';
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the environment once into a typed object. Throws a ConfigError naming every bad or
 * missing variable; values are never echoed, so secrets cannot leak through the message.
 */
export function loadConfig(env: NodeJS.ProcessEnv): AppConfig {
  const problems: string[] = [];
  const resolved = resolveSecretFiles(env, SECRET_VARIABLES, problems);
  const present = Object.fromEntries(
    Object.keys(envSchema.shape).flatMap((name) => (resolved[name] === undefined || resolved[name] === '' ? [] : [[name, resolved[name]]])),
  );
  const parsed = envSchema.safeParse(present);
  if (!parsed.success) problems.push(...issueLines(parsed.error.issues, problems));

  let sourceTopics: SourceTopic[] = [];
  if (parsed.success) {
    const topics = parseSourceTopics(parsed.data.SOURCE_TOPICS);
    sourceTopics = topics.topics;
    problems.push(...topics.problems.map((problem) => `SOURCE_TOPICS: ${problem}`));
    for (const source of sourceTopics) {
      if (source.mappingFile && !existsSync(source.mappingFile)) {
        problems.push(`SOURCE_TOPICS: mapping file ${source.mappingFile} for topic ${source.topic} does not exist`);
      }
    }
    const framed = sourceTopics.filter((source) => isRegistryFormat(source.format));
    if (framed.length > 0 && parsed.data.SCHEMA_REGISTRY_URL === undefined) {
      problems.push(
        `SCHEMA_REGISTRY_URL: is required by SOURCE_TOPICS (${framed.map((source) => `${source.topic}:${source.format}`).join(', ')} read through a Schema Registry)`,
      );
    }
    if (parsed.data.SCHEMA_REGISTRY_PASSWORD !== undefined && parsed.data.SCHEMA_REGISTRY_USERNAME === undefined) {
      problems.push('SCHEMA_REGISTRY_PASSWORD: needs SCHEMA_REGISTRY_USERNAME (basic auth)');
    }
    if (sourceTopics.some((source) => source.topic === parsed.data.DLQ_TOPIC)) {
      problems.push('DLQ_TOPIC: must not also be a source topic');
    }
    const exportTopic = parsed.data.EXPORT_TOPIC;
    if (exportTopic !== undefined && (exportTopic === parsed.data.DLQ_TOPIC || sourceTopics.some((source) => source.topic === exportTopic))) {
      problems.push('EXPORT_TOPIC: must not also be a source topic or the dead-letter topic');
    }
    const management = parsed.data.MANAGEMENT_PORT;
    if (management !== undefined && management !== 0 && management === parsed.data.HTTP_PORT) {
      problems.push('MANAGEMENT_PORT: must differ from HTTP_PORT (leave it unset to serve everything on HTTP_PORT)');
    }
    if (parsed.data.MANAGEMENT_HOST !== undefined && management === undefined) {
      problems.push('MANAGEMENT_HOST: needs MANAGEMENT_PORT');
    }
    if (parsed.data.CAAC_EXPORT_MAX_LAG_MS < PROFILE_API_EXPORT_MAX_LAG_MS && !isLoopbackUrl(parsed.data.CAAC_BASE_URL)) {
      // A shorter window against the real API makes reconcile read a stale export as the truth.
      problems.push(
        `CAAC_EXPORT_MAX_LAG_MS: must be at least ${PROFILE_API_EXPORT_MAX_LAG_MS} (24 h, the Profile API's export lag) unless CAAC_BASE_URL is a loopback sandbox`,
      );
    }
    if (!parsed.data.EXPORT_TABLE_ENABLED && exportTopic === undefined) {
      problems.push('EXPORT_TABLE_ENABLED: an export needs a sink; set EXPORT_TOPIC or leave the table on');
    }
  }
  const security = parsed.success ? kafkaSecurity(parsed.data, problems) : undefined;
  if (!parsed.success || problems.length > 0 || !security) throw new ConfigError(problems);

  const e = parsed.data;
  return {
    kafka: {
      brokers: e.KAFKA_BROKERS.split(',').map((broker) => broker.trim()),
      security,
      groupId: e.KAFKA_GROUP_ID,
      clientId: e.KAFKA_CLIENT_ID,
      sessionTimeoutMs: e.KAFKA_SESSION_TIMEOUT_MS,
      sourceTopics,
      ...(e.SCHEMA_REGISTRY_URL !== undefined
        ? {
            schemaRegistry: {
              url: e.SCHEMA_REGISTRY_URL.replace(/\/+$/, ''),
              ...(e.SCHEMA_REGISTRY_USERNAME !== undefined ? { username: e.SCHEMA_REGISTRY_USERNAME } : {}),
              ...(e.SCHEMA_REGISTRY_PASSWORD !== undefined ? { password: e.SCHEMA_REGISTRY_PASSWORD } : {}),
              requestTimeoutMs: e.SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS,
              cacheEntries: e.SCHEMA_REGISTRY_CACHE_ENTRIES,
            },
          }
        : {}),
      dlqTopic: e.DLQ_TOPIC,
      dlqPartitions: e.DLQ_PARTITIONS,
      dlqReplicationFactor: e.DLQ_REPLICATION_FACTOR,
      dlqMaxValueBytes: e.DLQ_MAX_VALUE_BYTES,
      maxBytesPerPartition: e.INGEST_MAX_BYTES_PER_PARTITION,
      maxBatchEvents: e.INGEST_MAX_BATCH_EVENTS,
      maxMessageBytes: e.INGEST_MAX_MESSAGE_BYTES,
      partitionsConcurrency: e.INGEST_PARTITIONS_CONCURRENCY,
      pauseAfterMs: e.INGEST_PAUSE_AFTER_MS,
      startWithoutStoredOffset: e.INGEST_START_WITHOUT_STORED_OFFSET,
    },
    database: { url: e.DATABASE_URL, poolMax: e.DATABASE_POOL_MAX, migrateOnStart: e.MIGRATE_ON_START },
    caac: {
      baseUrl: e.CAAC_BASE_URL.replace(/\/+$/, ''),
      apiKey: e.CAAC_API_KEY,
      account: e.CAAC_ACCOUNT,
      importRatePerWindow: e.CAAC_IMPORT_RATE_PER_MIN,
      importMaxRows: e.CAAC_IMPORT_MAX_ROWS,
      rateWindowMs: e.CAAC_RATE_WINDOW_MS,
      statusRatePerMin: e.CAAC_STATUS_RATE_PER_MIN,
      requestTimeoutMs: e.CAAC_REQUEST_TIMEOUT_MS,
      breakerResetMs: e.CAAC_BREAKER_RESET_MS,
      taskTimeoutMs: e.CAAC_TASK_TIMEOUT_MS,
      refusedRetryMs: e.IMPORT_REFUSED_RETRY_MS,
      exportMaxLagMs: e.CAAC_EXPORT_MAX_LAG_MS,
    },
    flushIntervalMs: e.FLUSH_INTERVAL_MS,
    deadLetterRetentionMs: e.DEAD_LETTER_RETENTION_MS,
    maxFutureSkewMs: e.MAX_FUTURE_SKEW_MS,
    importerEnabled: e.IMPORTER_ENABLED,
    defaultPhoneRegion: e.DEFAULT_PHONE_REGION,
    adminToken: e.ADMIN_TOKEN,
    auditHashKey: e.AUDIT_HASH_KEY ?? createHmac('sha256', e.ADMIN_TOKEN).update('caac-sync audit hash key').digest('hex'),
    http: {
      host: e.HTTP_HOST,
      port: e.HTTP_PORT,
      ...(e.MANAGEMENT_PORT === undefined ? {} : { management: { host: e.MANAGEMENT_HOST ?? e.HTTP_HOST, port: e.MANAGEMENT_PORT } }),
      docsEnabled: e.DOCS_ENABLED,
    },
    logLevel: e.LOG_LEVEL,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    health: {
      partitionStuckMs: e.HEALTH_PARTITION_STUCK_MS,
      ingestStallMs: e.HEALTH_INGEST_STALL_MS,
      importerStallMs: e.HEALTH_IMPORTER_STALL_MS,
    },
    export: {
      schedule: e.EXPORT_SCHEDULE,
      databaseUrl: e.EXPORT_DATABASE_URL ?? e.DATABASE_URL,
      tableEnabled: e.EXPORT_TABLE_ENABLED,
      topic: e.EXPORT_TOPIC,
      topicReplicationFactor: e.EXPORT_TOPIC_REPLICATION_FACTOR,
      maxStalenessMs: e.EXPORT_MAX_STALENESS_MS,
      driftPolicy: e.DRIFT_POLICY,
      pollMs: e.EXPORT_POLL_MS,
      kafkaBatchBytes: e.EXPORT_KAFKA_BATCH_BYTES,
      maxDeleteRatio: e.EXPORT_MAX_DELETE_RATIO,
    },
  };
}

/**
 * The Kafka connection's TLS and SASL from the KAFKA_SSL* and KAFKA_SASL_* variables; a problem is
 * pushed to `problems` (never a value: the key and the password are secrets).
 */
function kafkaSecurity(e: Pick<Env, (typeof KAFKA_CONNECTION_VARIABLES)[number]>, problems: string[]): KafkaSecurityConfig | undefined {
  const found = problems.length;
  const read = (name: 'KAFKA_SSL_CA_FILE' | 'KAFKA_SSL_CERT_FILE' | 'KAFKA_SSL_KEY_FILE'): string | undefined => {
    const file = e[name];
    if (file === undefined) return undefined;
    if (!e.KAFKA_SSL) {
      problems.push(`${name}: is set but KAFKA_SSL is not true`);
      return undefined;
    }
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      problems.push(`${name}: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'unreadable'})`);
      return undefined;
    }
  };
  const ca = read('KAFKA_SSL_CA_FILE');
  const cert = read('KAFKA_SSL_CERT_FILE');
  const key = read('KAFKA_SSL_KEY_FILE');
  if ((e.KAFKA_SSL_CERT_FILE === undefined) !== (e.KAFKA_SSL_KEY_FILE === undefined)) {
    problems.push('KAFKA_SSL_CERT_FILE: a client certificate and KAFKA_SSL_KEY_FILE go together');
  }

  const { KAFKA_SASL_MECHANISM: mechanism, KAFKA_SASL_USERNAME: username, KAFKA_SASL_PASSWORD: password } = e;
  if (mechanism === undefined) {
    if (username !== undefined) problems.push('KAFKA_SASL_USERNAME: is set but KAFKA_SASL_MECHANISM is not');
    if (password !== undefined) problems.push('KAFKA_SASL_PASSWORD: is set but KAFKA_SASL_MECHANISM is not');
  } else {
    if (username === undefined) problems.push(`KAFKA_SASL_USERNAME: is required with KAFKA_SASL_MECHANISM`);
    if (password === undefined) problems.push(`KAFKA_SASL_PASSWORD: is required with KAFKA_SASL_MECHANISM`);
    // SCRAM never sends the password; PLAIN sends it as it is, readable by anyone on the path.
    if (mechanism === 'plain' && !e.KAFKA_SSL) problems.push('KAFKA_SASL_MECHANISM: plain sends the password in clear; it needs KAFKA_SSL=true');
  }
  if (problems.length > found) return undefined;
  return {
    ssl: e.KAFKA_SSL ? { ...(ca !== undefined && { ca }), ...(cert !== undefined && { cert }), ...(key !== undefined && { key }) } : false,
    ...(mechanism !== undefined && { sasl: { mechanism, username: username!, password: password! } }),
  };
}

/** Nest injection token for the validated configuration. */
export const APP_CONFIG = Symbol('AppConfig');
