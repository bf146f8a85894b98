import { Writable } from 'node:stream';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { createLogger } from '../../src/common/logger';

const EMAILS = ['amy.lin@example.com', 'bo.chen@example.org', 'chia@example.net'];

/** A logger writing into memory; `lines()` are the JSON lines written so far. */
function aCapturedLogger() {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  const sut = createLogger({ level: 'info', destination });
  return { sut, text: () => chunks.join(''), lines: () => chunks.join('').trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>) };
}

/** A staging statement refused by Postgres, as TypeORM throws it: statement, parameters and all. */
function aRefusedStagingStatement(): QueryFailedError {
  const driver = Object.assign(new DatabaseError(`invalid input syntax for type json: "${EMAILS[0]}"`, 200, 'error'), {
    severity: 'ERROR',
    code: '22P02',
    detail: `Token "${EMAILS[1]}" is invalid.`,
    where: `JSON data, line 1: [{"k":"${EMAILS[2]}"...`,
    schema: 'public',
    table: 'pending_change',
    column: 'fields',
    constraint: undefined,
    routine: 'json_errsave_error',
  });
  const rows = EMAILS.map((email) => ({ t: 'display_email', k: email, f: {} }));
  return new QueryFailedError('INSERT INTO pending_change AS p (key_type, key_value, fields) SELECT ...', [JSON.stringify(rows)], driver);
}

describe(createLogger.name, () => {
  it('writes a refused statement without its parameters, query text or quoted values, keeping what says what went wrong', () => {
    const { sut, text, lines } = aCapturedLogger();

    sut.warn({ err: aRefusedStagingStatement(), topic: 'crm.profile-changes' }, 'could not stage batch; retrying');

    for (const email of EMAILS) expect(text()).not.toContain(email);
    expect(text()).not.toContain('INSERT INTO');
    const [line] = lines();
    expect(line).toMatchObject({
      msg: 'could not stage batch; retrying',
      err: {
        type: 'QueryFailedError',
        message: 'invalid input syntax for type json: "…"',
        code: '22P02',
        schema: 'public',
        table: 'pending_change',
        column: 'fields',
        routine: 'json_errsave_error',
        severity: 'ERROR',
      },
    });
    for (const hidden of ['query', 'parameters', 'driverError', 'detail', 'where']) expect(line!.err).not.toHaveProperty(hidden);
  });

  it('does the same for an error passed as the first argument, and for a cause', () => {
    const { sut, text, lines } = aCapturedLogger();

    sut.error(aRefusedStagingStatement(), 'importer step failed');
    sut.warn({ err: new Error('could not relay', { cause: aRefusedStagingStatement() }) }, 'wrapped');

    for (const email of EMAILS) expect(text()).not.toContain(email);
    expect(lines().map((line) => (line.err as { code?: string; cause?: { code?: string } }).code ?? (line.err as { cause: { code: string } }).cause.code)).toEqual([
      '22P02',
      '22P02',
    ]);
  });

  it('keeps an ordinary error whole', () => {
    const { sut, lines } = aCapturedLogger();

    sut.warn({ err: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', port: 5432 }) }, 'down');

    expect(lines()[0]!.err).toMatchObject({ type: 'Error', message: 'connect ECONNREFUSED 127.0.0.1:5432', code: 'ECONNREFUSED', port: 5432, stack: expect.stringContaining('ECONNREFUSED') });
  });

  it('never writes the SASL password, the TLS key, the api key or the admin token, wherever they sit', () => {
    const { sut, text } = aCapturedLogger();
    const secrets = ['sasl-PASSWORD-1', 'tls-KEY-PEM-2', 'api-KEY-3', 'admin-TOKEN-4'];
    const config = {
      kafka: { security: { ssl: { ca: 'CA', key: secrets[1] }, sasl: { mechanism: 'plain', username: 'u', password: secrets[0] } } },
      caac: { apiKey: secrets[2] },
      adminToken: secrets[3],
    };

    sut.info({ config }, 'configuration');
    sut.info({ sasl: config.kafka.security.sasl }, 'sasl');
    sut.info({ req: { headers: { authorization: `Bearer ${secrets[3]}`, apikey: secrets[2] } } }, 'request');

    for (const secret of secrets) expect(text()).not.toContain(secret);
    expect(text()).toContain('[redacted]');
  });
});
