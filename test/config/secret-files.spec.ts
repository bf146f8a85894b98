import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig, loadKafkaConnection, loadVariables } from '../../src/config/app-config';

const SECRET_KEY = 'ck_live_FROM-A-FILE-1234567890';
const SECRET_TOKEN = 'admin-token-FROM-A-FILE-42';

const dir = mkdtempSync(join(tmpdir(), 'caac-config-secrets-'));
/** A mounted secret: the value and a trailing newline, as `kubectl create secret --from-file` and editors leave it. */
function aSecretFile(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

function aValidEnv(overrides: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  return {
    KAFKA_BROKERS: '127.0.0.1:9092',
    SOURCE_TOPICS: 'crm.profile-changes:profile-change.v1',
    DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/caac',
    CAAC_BASE_URL: 'http://127.0.0.1:4010',
    CAAC_API_KEY: 'ck_live_from-the-environment-00',
    ADMIN_TOKEN: 'admin-token-from-the-environment',
    ...overrides,
  };
}

/** The problems of a refused configuration; fails if the message holds `secret`. */
function problemsOf(load: () => unknown, secret: string): string[] {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).message).not.toContain(secret);
    return (error as ConfigError).problems;
  }
  throw new Error('expected the configuration to be refused');
}

describe('secrets read from <NAME>_FILE', () => {
  it('reads every secret from its file, trimmed', () => {
    const sut = loadConfig(
      aValidEnv({
        CAAC_API_KEY: undefined,
        CAAC_API_KEY_FILE: aSecretFile('caac-api-key', `${SECRET_KEY}\n`),
        ADMIN_TOKEN: undefined,
        ADMIN_TOKEN_FILE: aSecretFile('admin-token', `  ${SECRET_TOKEN}\r\n`),
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: 'caac-sync',
        KAFKA_SASL_PASSWORD_FILE: aSecretFile('sasl-password', 'sasl secret with spaces\n'),
        AUDIT_HASH_KEY_FILE: aSecretFile('audit-key', 'audit-key-of-sixteen-chars\n'),
        DATABASE_URL: undefined,
        DATABASE_URL_FILE: aSecretFile('database-url', 'postgres://caac:pw@db:5432/caac\n'),
        EXPORT_DATABASE_URL_FILE: aSecretFile('export-database-url', 'postgres://brand:pw@db:5432/brand\n'),
      }),
    );

    expect([sut.caac.apiKey, sut.adminToken, sut.kafka.security.sasl?.password, sut.auditHashKey, sut.database.url, sut.export.databaseUrl]).toEqual([
      SECRET_KEY,
      SECRET_TOKEN,
      'sasl secret with spaces',
      'audit-key-of-sixteen-chars',
      'postgres://caac:pw@db:5432/caac',
      'postgres://brand:pw@db:5432/brand',
    ]);
  });

  it('refuses a secret given both ways, naming the variable and never either value', () => {
    const problems = problemsOf(() => loadConfig(aValidEnv({ CAAC_API_KEY: SECRET_KEY, CAAC_API_KEY_FILE: aSecretFile('both', 'ck_live_OTHER-VALUE-0000') })), SECRET_KEY);

    expect(problems).toEqual(['CAAC_API_KEY_FILE: CAAC_API_KEY is set too; set one of them']);
  });

  it('names an unreadable or empty file by its variable and path', () => {
    const problems = problemsOf(
      () =>
        loadConfig(
          aValidEnv({ ADMIN_TOKEN: undefined, ADMIN_TOKEN_FILE: '/nonexistent/admin-token', CAAC_API_KEY: undefined, CAAC_API_KEY_FILE: aSecretFile('empty', '\n') }),
        ),
      SECRET_TOKEN,
    );

    expect(problems).toEqual([`CAAC_API_KEY_FILE: ${join(dir, 'empty')} is empty`, 'ADMIN_TOKEN_FILE: cannot read /nonexistent/admin-token (ENOENT)']);
  });

  it('checks a secret read from a file like one from the environment, never echoing it', () => {
    const problems = problemsOf(() => loadConfig(aValidEnv({ ADMIN_TOKEN: undefined, ADMIN_TOKEN_FILE: aSecretFile('short-token', 'short-SECRET\n') })), 'short-SECRET');

    expect(problems).toEqual(['ADMIN_TOKEN: must be at least 16 characters']);
  });
});

describe(loadVariables.name, () => {
  it('checks only the variables asked for: the admin token alone needs nothing else', () => {
    expect(loadVariables({ ADMIN_TOKEN_FILE: aSecretFile('token-alone', `${SECRET_TOKEN}\n`) }, ['ADMIN_TOKEN'])).toEqual({ ADMIN_TOKEN: SECRET_TOKEN });
  });

  it('names a missing variable it was asked for', () => {
    expect(problemsOf(() => loadVariables({}, ['ADMIN_TOKEN']), SECRET_TOKEN)).toEqual(['ADMIN_TOKEN: is required (bearer token for /admin, at least 16 characters)']);
  });
});

describe(loadKafkaConnection.name, () => {
  it('reads the brokers, client id and SASL password file without the rest of the service settings', () => {
    const sut = loadKafkaConnection({ KAFKA_BROKERS: 'b1:9092,b2:9092', KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'cli', KAFKA_SASL_PASSWORD_FILE: aSecretFile('cli-sasl', 'pw\n') });

    expect(sut).toEqual({ brokers: ['b1:9092', 'b2:9092'], clientId: 'caac-sync', security: { ssl: false, sasl: { mechanism: 'scram-sha-256', username: 'cli', password: 'pw' } } });
  });
});
