import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/app-config';

const SECRET_KEY = 'ck_live_DO-NOT-LEAK-1234567890';
const SECRET_TOKEN = 'admin-token-DO-NOT-LEAK-42';

function aValidEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: '127.0.0.1:9092',
    SOURCE_TOPICS: 'crm.profile-changes:profile-change.v1',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/caac',
    CAAC_BASE_URL: 'http://127.0.0.1:4010',
    CAAC_API_KEY: SECRET_KEY,
    ADMIN_TOKEN: SECRET_TOKEN,
    ...overrides,
  };
}

function problemsOf(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).not.toContain(SECRET_KEY);
    expect(message).not.toContain(SECRET_TOKEN);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe(loadConfig.name, () => {
  it('applies the documented defaults to a minimal valid environment', () => {
    const sut = loadConfig(aValidEnv());

    expect(sut.kafka).toEqual({
      brokers: ['127.0.0.1:9092'],
      security: { ssl: false },
      groupId: 'caac-sync',
      clientId: 'caac-sync',
      sessionTimeoutMs: 30_000,
      sourceTopics: [{ topic: 'crm.profile-changes', format: 'profile-change.v1' }],
      dlqTopic: 'caac-sync.dlq',
      dlqPartitions: 1,
      dlqReplicationFactor: undefined,
      dlqMaxValueBytes: 262_144,
      maxBytesPerPartition: 4 * 1_048_576,
      maxBatchEvents: 5_000,
      maxMessageBytes: 1_048_576,
      partitionsConcurrency: 2,
      pauseAfterMs: 1_000,
      startWithoutStoredOffset: 'committed',
    });
    expect(sut.database).toEqual({ url: 'postgres://postgres@127.0.0.1:5432/caac', poolMax: 10, migrateOnStart: false });
    expect(sut.caac).toMatchObject({ importRatePerWindow: 15, importMaxRows: 10_000, rateWindowMs: 60_000, taskTimeoutMs: 21_600_000, refusedRetryMs: 60_000, exportMaxLagMs: 86_400_000 });
    expect(sut.flushIntervalMs).toBe(30_000);
    expect(sut.deadLetterRetentionMs).toBe(604_800_000);
    expect(sut.maxFutureSkewMs).toBe(86_400_000);
    expect(sut.defaultPhoneRegion).toBe('TW');
    expect(sut.http).toEqual({ host: '0.0.0.0', port: 3000, docsEnabled: true });
    expect(sut.health).toEqual({ partitionStuckMs: 120_000, ingestStallMs: 300_000, importerStallMs: 900_000 });
    expect(sut.export).toEqual({
      schedule: undefined,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/caac',
      tableEnabled: true,
      topic: undefined,
      maxStalenessMs: 86_400_000,
      driftPolicy: 'report',
      pollMs: 2_000,
      kafkaBatchBytes: 524_288,
      maxDeleteRatio: 0.2,
      topicReplicationFactor: undefined,
    });
  });

  it('reads the export settings', () => {
    const sut = loadConfig(
      aValidEnv({
        EXPORT_SCHEDULE: '0 3 * * *',
        EXPORT_DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/brand',
        EXPORT_TOPIC: 'caac.contacts',
        EXPORT_TOPIC_REPLICATION_FACTOR: '3',
        EXPORT_TABLE_ENABLED: 'false',
        EXPORT_MAX_DELETE_RATIO: '1',
      }),
    );

    expect(sut.export).toMatchObject({
      maxDeleteRatio: 1,
      schedule: '0 3 * * *',
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/brand',
      topic: 'caac.contacts',
      topicReplicationFactor: 3,
      tableEnabled: false,
    });
  });

  it('keeps the readiness threshold of an old export apart from the trust window of CAAC\'s export lag', () => {
    const sut = loadConfig(aValidEnv({ CAAC_BASE_URL: 'https://api.user360.cresclab.com', EXPORT_MAX_STALENESS_MS: '3600000', CAAC_EXPORT_MAX_LAG_MS: '172800000' }));

    expect([sut.export.maxStalenessMs, sut.caac.exportMaxLagMs]).toEqual([3_600_000, 172_800_000]);
  });

  it('takes an export lag under 24 h only against a loopback sandbox', () => {
    const sandbox = loadConfig(aValidEnv({ CAAC_BASE_URL: 'http://localhost:4010', CAAC_EXPORT_MAX_LAG_MS: '6000' }));
    const problems = problemsOf(aValidEnv({ CAAC_BASE_URL: 'https://api.user360.cresclab.com', CAAC_EXPORT_MAX_LAG_MS: '3600000' }));

    expect(sandbox.caac.exportMaxLagMs).toBe(6_000);
    expect(problems).toEqual([
      "CAAC_EXPORT_MAX_LAG_MS: must be at least 86400000 (24 h, the Profile API's export lag) unless CAAC_BASE_URL is a loopback sandbox",
    ]);
  });

  it.each(['KAFKA_BROKERS', 'SOURCE_TOPICS', 'DATABASE_URL', 'CAAC_BASE_URL', 'CAAC_API_KEY', 'ADMIN_TOKEN'])(
    'names %s when it is missing',
    (name) => {
      const problems = problemsOf(aValidEnv({ [name]: undefined }));

      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(new RegExp(`^${name}: is required`));
    },
  );

  it.each([
    ['KAFKA_BROKERS', 'localhost', /^KAFKA_BROKERS: must be a comma-separated host:port list/],
    ['DATABASE_URL', 'mysql://root@localhost/db', /^DATABASE_URL: must be a postgres:\/\/ connection URL/],
    ['CAAC_BASE_URL', 'not a url', /^CAAC_BASE_URL: must be an http\(s\) URL/],
    ['CAAC_IMPORT_RATE_PER_MIN', '16', /^CAAC_IMPORT_RATE_PER_MIN: must be at most 15/],
    ['CAAC_IMPORT_MAX_ROWS', '10001', /^CAAC_IMPORT_MAX_ROWS: must be at most 10000/],
    ['CAAC_IMPORT_MAX_ROWS', 'ten', /^CAAC_IMPORT_MAX_ROWS: must be a whole number/],
    ['FLUSH_INTERVAL_MS', '-1', /^FLUSH_INTERVAL_MS: must be at least 0/],
    ['CAAC_TASK_TIMEOUT_MS', '500', /^CAAC_TASK_TIMEOUT_MS: must be at least 1000/],
    ['IMPORT_REFUSED_RETRY_MS', 'soon', /^IMPORT_REFUSED_RETRY_MS: must be a whole number/],
    ['MAX_FUTURE_SKEW_MS', '1.5', /^MAX_FUTURE_SKEW_MS: must be a whole number/],
    ['MAX_FUTURE_SKEW_MS', '10', /^MAX_FUTURE_SKEW_MS: must be at least 1000/],
    ['HTTP_PORT', '70000', /^HTTP_PORT: must be at most 65535/],
    ['HEALTH_PARTITION_STUCK_MS', '999', /^HEALTH_PARTITION_STUCK_MS: must be at least 1000/],
    ['HEALTH_INGEST_STALL_MS', 'never', /^HEALTH_INGEST_STALL_MS: must be a whole number/],
    ['HEALTH_IMPORTER_STALL_MS', '0', /^HEALTH_IMPORTER_STALL_MS: must be at least 1000/],
    ['INGEST_PAUSE_AFTER_MS', '10', /^INGEST_PAUSE_AFTER_MS: must be at least 50/],
    ['INGEST_START_WITHOUT_STORED_OFFSET', 'latest', /^INGEST_START_WITHOUT_STORED_OFFSET: must be committed or earliest/],
    ['MIGRATE_ON_START', 'maybe', /^MIGRATE_ON_START: must be true or false/],
    ['DEFAULT_PHONE_REGION', 'XX', /^DEFAULT_PHONE_REGION: must be an ISO 3166 region code/],
    ['ADMIN_TOKEN', 'short', /^ADMIN_TOKEN: must be at least 16 characters/],
    ['ADMIN_TOKEN', 'change-me-to-a-long-random-token', /^ADMIN_TOKEN: is the placeholder of .env.example or docker-compose.yml; set a long random token/],
    ['ADMIN_TOKEN', 'change-me-local-admin-token', /^ADMIN_TOKEN: is the placeholder of .env.example or docker-compose.yml/],
    ['CAAC_BASE_URL', 'http://api.user360.cresclab.com', /^CAAC_BASE_URL: must be an https:\/\/ URL unless its host is a loopback address/],
    ['CAAC_BASE_URL', 'http://10.0.0.7:4010', /^CAAC_BASE_URL: must be an https:\/\/ URL unless its host is a loopback address/],
    ['KAFKA_SSL', 'sometimes', /^KAFKA_SSL: must be true or false/],
    ['KAFKA_SASL_MECHANISM', 'gssapi', /^KAFKA_SASL_MECHANISM: must be plain, scram-sha-256 or scram-sha-512/],
    ['KAFKA_SASL_USERNAME', 'caac-sync', /^KAFKA_SASL_USERNAME: is set but KAFKA_SASL_MECHANISM is not/],
    ['KAFKA_SSL_CA_FILE', '/etc/hostname', /^KAFKA_SSL_CA_FILE: is set but KAFKA_SSL is not true/],
    ['DLQ_TOPIC', 'bad topic!', /^DLQ_TOPIC: must be a valid Kafka topic name/],
    ['DLQ_PARTITIONS', '0', /^DLQ_PARTITIONS: must be at least 1/],
    ['DLQ_REPLICATION_FACTOR', 'three', /^DLQ_REPLICATION_FACTOR: must be a whole number/],
    ['EXPORT_TOPIC_REPLICATION_FACTOR', '0', /^EXPORT_TOPIC_REPLICATION_FACTOR: must be at least 1/],
    ['DLQ_MAX_VALUE_BYTES', '100', /^DLQ_MAX_VALUE_BYTES: must be at least 1024/],
    ['SOURCE_TOPICS', 'crm.changes:avro', /^SOURCE_TOPICS: "crm.changes:avro": format must be one of/],
    ['SOURCE_TOPICS', 'crm.customers:debezium', /^SOURCE_TOPICS: .*needs a mapping file/],
    ['SOURCE_TOPICS', 'a:debezium:/nonexistent/mapping.json', /^SOURCE_TOPICS: mapping file \/nonexistent\/mapping.json .* does not exist/],
    ['CAAC_EXPORT_MAX_LAG_MS', '999', /^CAAC_EXPORT_MAX_LAG_MS: must be at least 1000/],
    ['EXPORT_SCHEDULE', 'every night', /^EXPORT_SCHEDULE: must be a cron expression/],
    ['EXPORT_DATABASE_URL', 'mysql://root@localhost/db', /^EXPORT_DATABASE_URL: must be a postgres:\/\/ connection URL/],
    ['EXPORT_TOPIC', 'crm.profile-changes', /^EXPORT_TOPIC: must not also be a source topic or the dead-letter topic/],
    ['EXPORT_TABLE_ENABLED', 'false', /^EXPORT_TABLE_ENABLED: an export needs a sink/],
    ['EXPORT_MAX_STALENESS_MS', '999', /^EXPORT_MAX_STALENESS_MS: must be at least 1000/],
    ['DRIFT_POLICY', 'caac-wins', /^DRIFT_POLICY: /],
    ['EXPORT_MAX_DELETE_RATIO', '20%', /^EXPORT_MAX_DELETE_RATIO: must be a number from 0 to 1/],
    ['EXPORT_MAX_DELETE_RATIO', '1.5', /^EXPORT_MAX_DELETE_RATIO: must be a number from 0 to 1 \(1 turns the guard off\)/],
  ])('explains a malformed %s (%s)', (name, value, expected) => {
    const problems = problemsOf(aValidEnv({ [name]: value }));

    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(expected);
  });

  it.each(['http://127.0.0.1:4010', 'http://localhost:4010', 'http://[::1]:4010', 'https://api.user360.cresclab.com'])(
    'takes %s as CAAC_BASE_URL: https, or plain http that never leaves the machine',
    (url) => {
      expect(loadConfig(aValidEnv({ CAAC_BASE_URL: url })).caac.baseUrl).toBe(url);
    },
  );

  describe('secure Kafka', () => {
    const SASL_PASSWORD = 'sasl-password-DO-NOT-LEAK-99';
    const pemFiles = () => {
      const dir = mkdtempSync(join(tmpdir(), 'caac-config-tls-'));
      const file = (name: string, text: string) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      return { ca: file('ca.pem', 'CA PEM'), cert: file('client.pem', 'CERT PEM'), key: file('client.key', 'KEY PEM') };
    };

    it('is plaintext without SASL by default', () => {
      expect(loadConfig(aValidEnv()).kafka.security).toEqual({ ssl: false });
    });

    it('reads the CA, the client certificate and its key, and takes SCRAM credentials', () => {
      const files = pemFiles();

      const sut = loadConfig(
        aValidEnv({
          KAFKA_SSL: 'true',
          KAFKA_SSL_CA_FILE: files.ca,
          KAFKA_SSL_CERT_FILE: files.cert,
          KAFKA_SSL_KEY_FILE: files.key,
          KAFKA_SASL_MECHANISM: 'scram-sha-512',
          KAFKA_SASL_USERNAME: 'caac-sync',
          KAFKA_SASL_PASSWORD: SASL_PASSWORD,
        }),
      );

      expect(sut.kafka.security).toEqual({
        ssl: { ca: 'CA PEM', cert: 'CERT PEM', key: 'KEY PEM' },
        sasl: { mechanism: 'scram-sha-512', username: 'caac-sync', password: SASL_PASSWORD },
      });
    });

    it("trusts Node's own CAs when KAFKA_SSL has no CA file (a managed Kafka with a public certificate)", () => {
      expect(loadConfig(aValidEnv({ KAFKA_SSL: 'yes' })).kafka.security).toEqual({ ssl: {} });
    });

    it('names each missing or unreadable piece, never the password', () => {
      const problems = problemsOf(
        aValidEnv({
          KAFKA_SSL: 'true',
          KAFKA_SSL_CA_FILE: '/nonexistent/ca.pem',
          KAFKA_SSL_CERT_FILE: pemFiles().cert,
          KAFKA_SASL_MECHANISM: 'scram-sha-256',
          KAFKA_SASL_PASSWORD: SASL_PASSWORD,
        }),
      );

      expect(problems).toEqual([
        'KAFKA_SSL_CA_FILE: cannot read /nonexistent/ca.pem (ENOENT)',
        'KAFKA_SSL_CERT_FILE: a client certificate and KAFKA_SSL_KEY_FILE go together',
        'KAFKA_SASL_USERNAME: is required with KAFKA_SASL_MECHANISM',
      ]);
      expect(problems.join('\n')).not.toContain(SASL_PASSWORD);
    });

    it('refuses PLAIN without TLS: it would send the password in clear', () => {
      const problems = problemsOf(aValidEnv({ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'caac-sync', KAFKA_SASL_PASSWORD: SASL_PASSWORD }));

      expect(problems).toEqual(['KAFKA_SASL_MECHANISM: plain sends the password in clear; it needs KAFKA_SSL=true']);
    });
  });

  it('serves health, metrics and docs on MANAGEMENT_PORT when set, on MANAGEMENT_HOST or else HTTP_HOST', () => {
    expect(loadConfig(aValidEnv({ MANAGEMENT_PORT: '9464', HTTP_HOST: '127.0.0.1' })).http).toEqual({
      host: '127.0.0.1',
      port: 3000,
      management: { host: '127.0.0.1', port: 9464 },
      docsEnabled: true,
    });
    expect(loadConfig(aValidEnv({ MANAGEMENT_PORT: '9464', MANAGEMENT_HOST: '0.0.0.0', DOCS_ENABLED: 'false' })).http).toEqual({
      host: '0.0.0.0',
      port: 3000,
      management: { host: '0.0.0.0', port: 9464 },
      docsEnabled: false,
    });
  });

  it('refuses a management port equal to HTTP_PORT, out of range, or a management host without a port', () => {
    expect(problemsOf(aValidEnv({ MANAGEMENT_PORT: '3000' }))).toEqual([
      'MANAGEMENT_PORT: must differ from HTTP_PORT (leave it unset to serve everything on HTTP_PORT)',
    ]);
    expect(problemsOf(aValidEnv({ MANAGEMENT_PORT: '70000' }))).toEqual(['MANAGEMENT_PORT: must be at most 65535']);
    expect(problemsOf(aValidEnv({ MANAGEMENT_HOST: '0.0.0.0' }))).toEqual(['MANAGEMENT_HOST: needs MANAGEMENT_PORT']);
    expect(problemsOf(aValidEnv({ DOCS_ENABLED: 'maybe' }))).toEqual(['DOCS_ENABLED: must be true or false']);
  });

  it('derives the audit hash key from ADMIN_TOKEN unless AUDIT_HASH_KEY is set, and refuses a short one', () => {
    const derived = loadConfig(aValidEnv()).auditHashKey;

    expect([derived === SECRET_TOKEN, derived.includes(SECRET_TOKEN), derived === loadConfig(aValidEnv()).auditHashKey]).toEqual([false, false, true]);
    expect(loadConfig(aValidEnv({ ADMIN_TOKEN: 'another-admin-token-0123' })).auditHashKey).not.toBe(derived);
    expect(loadConfig(aValidEnv({ AUDIT_HASH_KEY: 'an-audit-key-of-16+chars' })).auditHashKey).toBe('an-audit-key-of-16+chars');
    expect(problemsOf(aValidEnv({ AUDIT_HASH_KEY: 'short' }))).toEqual(['AUDIT_HASH_KEY: must be at least 16 characters']);
  });

  it('takes DEAD_LETTER_RETENTION_MS and refuses one below a second', () => {
    expect(loadConfig(aValidEnv({ DEAD_LETTER_RETENTION_MS: '86400000' })).deadLetterRetentionMs).toBe(86_400_000);
    expect(problemsOf(aValidEnv({ DEAD_LETTER_RETENTION_MS: '10' }))).toEqual(['DEAD_LETTER_RETENTION_MS: must be at least 1000']);
  });

  it('starts a partition without a stored offset at the committed offset by default, and takes earliest', () => {
    expect(loadConfig(aValidEnv({ INGEST_START_WITHOUT_STORED_OFFSET: 'earliest' })).kafka.startWithoutStoredOffset).toBe('earliest');
  });

  it('reports drift by default and takes crm-wins', () => {
    expect(loadConfig(aValidEnv({})).export.driftPolicy).toBe('report');
    expect(loadConfig(aValidEnv({ DRIFT_POLICY: 'crm-wins' })).export.driftPolicy).toBe('crm-wins');
  });

  it('takes the dead-letter topic settings', () => {
    const sut = loadConfig(aValidEnv({ DLQ_PARTITIONS: '6', DLQ_REPLICATION_FACTOR: '3', DLQ_MAX_VALUE_BYTES: '65536' }));

    expect(sut.kafka).toMatchObject({ dlqPartitions: 6, dlqReplicationFactor: 3, dlqMaxValueBytes: 65_536 });
  });

  it('lists every problem at once, one line each', () => {
    const problems = problemsOf({ HTTP_PORT: 'x' });

    expect(problems.map((problem) => problem.split(':')[0]).sort()).toEqual(
      ['ADMIN_TOKEN', 'CAAC_API_KEY', 'CAAC_BASE_URL', 'DATABASE_URL', 'HTTP_PORT', 'KAFKA_BROKERS', 'SOURCE_TOPICS'].sort(),
    );
  });

  it('never echoes a secret, even when it is the bad value', () => {
    problemsOf(aValidEnv({ ADMIN_TOKEN: 'short-secret', CAAC_BASE_URL: SECRET_KEY }));
  });

  it('parses several source topics with their formats and mapping files', () => {
    const dir = mkdtempSync(join(tmpdir(), 'caac-config-'));
    const mapping = join(dir, 'customers.mapping.json');
    writeFileSync(mapping, '{}');

    const sut = loadConfig(aValidEnv({ SOURCE_TOPICS: `crm.profile-changes:profile-change.v1, crm.public.customers:debezium:${mapping}` }));

    expect(sut.kafka.sourceTopics).toEqual([
      { topic: 'crm.profile-changes', format: 'profile-change.v1' },
      { topic: 'crm.public.customers', format: 'debezium', mappingFile: mapping },
    ]);
  });

  describe('Schema Registry', () => {
    const REGISTRY_PASSWORD = 'sr-password-DO-NOT-LEAK';

    function aMappingFile(): string {
      const file = join(mkdtempSync(join(tmpdir(), 'caac-config-')), 'customers.mapping.json');
      writeFileSync(file, '{}');
      return file;
    }

    it('reads the registry formats with their settings and defaults', () => {
      const mapping = aMappingFile();
      const sut = loadConfig(
        aValidEnv({
          SOURCE_TOPICS: `crm.public.customers:debezium-avro:${mapping},crm.json:debezium-json-sr:${mapping},p.avro:profile-change.v1-avro,p.json:profile-change.v1-json-sr`,
          SCHEMA_REGISTRY_URL: 'https://registry.example.com/apis/ccompat/v7/',
          SCHEMA_REGISTRY_USERNAME: 'caac-sync',
          SCHEMA_REGISTRY_PASSWORD: REGISTRY_PASSWORD,
        }),
      );

      expect(sut.kafka.sourceTopics).toEqual([
        { topic: 'crm.public.customers', format: 'debezium-avro', mappingFile: mapping },
        { topic: 'crm.json', format: 'debezium-json-sr', mappingFile: mapping },
        { topic: 'p.avro', format: 'profile-change.v1-avro' },
        { topic: 'p.json', format: 'profile-change.v1-json-sr' },
      ]);
      expect(sut.kafka.schemaRegistry).toEqual({
        url: 'https://registry.example.com/apis/ccompat/v7',
        username: 'caac-sync',
        password: REGISTRY_PASSWORD,
        requestTimeoutMs: 5_000,
        cacheEntries: 1_000,
      });
    });

    it('has no registry settings when SCHEMA_REGISTRY_URL is not set', () => {
      expect(loadConfig(aValidEnv()).kafka.schemaRegistry).toBeUndefined();
    });

    it('stops start-up when a registry format has no SCHEMA_REGISTRY_URL, naming both', () => {
      expect(problemsOf(aValidEnv({ SOURCE_TOPICS: 'p.avro:profile-change.v1-avro' }))).toEqual([
        'SCHEMA_REGISTRY_URL: is required by SOURCE_TOPICS (p.avro:profile-change.v1-avro read through a Schema Registry)',
      ]);
    });

    it('needs a mapping file for debezium-avro', () => {
      expect(problemsOf(aValidEnv({ SOURCE_TOPICS: 'c:debezium-avro', SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081' }))).toEqual([
        'SOURCE_TOPICS: "c:debezium-avro": a debezium-avro topic needs a mapping file (topic:debezium-avro:path/to/mapping.json)',
      ]);
    });

    it.each([
      ['SCHEMA_REGISTRY_URL', 'ftp://registry', /^SCHEMA_REGISTRY_URL: must be an http\(s\) URL/],
      ['SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS', '10', /^SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS: must be at least 100/],
      ['SCHEMA_REGISTRY_CACHE_ENTRIES', '0', /^SCHEMA_REGISTRY_CACHE_ENTRIES: must be at least 1/],
    ])('refuses %s=%s', (name, value, expected) => {
      const problems = problemsOf(aValidEnv({ [name]: value }));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(expected);
    });

    it('refuses a password without a username, without echoing it', () => {
      const problems = problemsOf(aValidEnv({ SCHEMA_REGISTRY_URL: 'http://127.0.0.1:8081', SCHEMA_REGISTRY_PASSWORD: REGISTRY_PASSWORD }));
      expect(problems).toEqual(['SCHEMA_REGISTRY_PASSWORD: needs SCHEMA_REGISTRY_USERNAME (basic auth)']);
      expect(problems.join('\n')).not.toContain(REGISTRY_PASSWORD);
    });
  });
});
