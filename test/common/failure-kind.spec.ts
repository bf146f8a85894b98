import { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError, KafkaJSRequestTimeoutError } from 'kafkajs';
import { DatabaseError } from 'pg';
import { QueryFailedError } from 'typeorm';
import { describeFailure, failureKind, RecordRejectedError, sqlState } from '../../src/common/failure-kind';
import { recordRejection } from '../../src/kafka/kafka.adapter';

/** An error as pg raises it for a statement Postgres refused. */
function aDatabaseError(code: string, fields: Partial<DatabaseError> = {}): DatabaseError {
  const error = new DatabaseError('invalid input syntax for type integer: "amy@example.com"', 100, 'error');
  return Object.assign(error, { severity: 'ERROR', code, detail: 'Key (key_value)=(amy@example.com) is bad.', ...fields });
}

/** The same error as TypeORM hands it over, with the statement and its parameters. */
function aQueryFailedError(code: string, fields: Partial<DatabaseError> = {}): QueryFailedError {
  return new QueryFailedError('INSERT INTO pending_change ...', ['[{"k":"amy@example.com"}]'], aDatabaseError(code, fields));
}

/** A broker error as the kafkajs producer rejects it: the protocol error wrapped by the retrier. */
function aKafkaProducerError(type: string, retriable: boolean): Error {
  const protocol = new KafkaJSProtocolError({ message: `broker says ${type}`, type, code: 10, retriable } as never);
  return retriable
    ? new KafkaJSNumberOfRetriesExceeded(protocol, { retryCount: 5, retryTime: 1000 })
    : Object.assign(new KafkaJSNonRetriableError(protocol), { cause: protocol });
}

/** What the Kafka adapter lets through: the refusal of a record, or the library's error as it is. */
const throughAdapter = (error: Error) => recordRejection(error) ?? error;

describe(failureKind.name, () => {
  describe('deterministic: Postgres refused the values', () => {
    it.each([
      ['22P02', 'invalid text representation'],
      ['22021', 'character not in repertoire'],
      ['22003', 'numeric value out of range'],
      ['22P05', 'untranslatable character (\\u0000 in jsonb)'],
      ['22001', 'string data right truncation'],
      ['23502', 'not null violation'],
      ['23514', 'check violation'],
      ['54000', 'program limit exceeded (a value too large)'],
      ['0A000', 'feature not supported'],
    ])('SQLSTATE %s (%s), from pg and through TypeORM', (code) => {
      expect([failureKind(aDatabaseError(code)), failureKind(aQueryFailedError(code))]).toEqual(['deterministic', 'deterministic']);
    });
  });

  describe('transient: the moment, or something an operator fixes', () => {
    it.each([
      ['08006', 'connection failure'],
      ['08001', 'cannot connect'],
      ['57P01', 'admin shutdown'],
      ['57P03', 'cannot connect now (starting up)'],
      ['57014', 'query canceled (statement timeout)'],
      ['40001', 'serialization failure'],
      ['40P01', 'deadlock detected'],
      ['53300', 'too many connections'],
      ['53100', 'disk full'],
      ['55P03', 'lock not available'],
      ['42501', 'insufficient privilege'],
      ['42P01', 'undefined table'],
      ['XX000', 'internal error'],
      ['P0001', 'raise exception'],
    ])('SQLSTATE %s (%s)', (code) => {
      expect([failureKind(aDatabaseError(code)), failureKind(aQueryFailedError(code))]).toEqual(['transient', 'transient']);
    });

    it.each([
      ['a connection dropped mid-statement', new Error('Connection terminated unexpectedly')],
      ['a refused connection', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED', errno: -111 })],
      ['a broken pipe (a five-letter code that is not a SQLSTATE)', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' })],
      ['a TypeORM timeout', new QueryFailedError('SELECT 1', [], new Error('Query read timeout'))],
      ['something unknown', new TypeError('cannot read properties of undefined')],
      ['not even an Error', 'boom'],
    ])('%s', (_, error) => {
      expect(failureKind(error)).toBe('transient');
    });
  });

  describe('Kafka, through the adapter', () => {
    it.each(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'INVALID_TIMESTAMP'])('a record refused as %s is deterministic', (type) => {
      const error = throughAdapter(aKafkaProducerError(type, false));
      expect(error).toBeInstanceOf(RecordRejectedError);
      expect(failureKind(error)).toBe('deterministic');
    });

    it.each([
      ['leader not available, retries exhausted', aKafkaProducerError('LEADER_NOT_AVAILABLE', true)],
      ['not enough replicas, retries exhausted', aKafkaProducerError('NOT_ENOUGH_REPLICAS', true)],
      ['broker not available', aKafkaProducerError('BROKER_NOT_AVAILABLE', false)],
      ['topic authorization failed (an operator fixes it)', aKafkaProducerError('TOPIC_AUTHORIZATION_FAILED', false)],
      ['a lost connection', new KafkaJSConnectionError('Connection error: ECONNREFUSED', { broker: '127.0.0.1:9092', code: 'ECONNREFUSED' } as never)],
      ['a request timeout', new KafkaJSRequestTimeoutError('Request Produce(key: 0, version: 7) timed out', {} as never)],
    ])('%s is transient', (_, error) => {
      expect(failureKind(throughAdapter(error))).toBe('transient');
    });
  });
});

describe(sqlState.name, () => {
  it('reads the SQLSTATE of pg and TypeORM errors and nothing else', () => {
    expect([sqlState(aDatabaseError('22P02')), sqlState(aQueryFailedError('23505')), sqlState(Object.assign(new Error('x'), { code: 'EPIPE' }))]).toEqual([
      '22P02',
      '23505',
      undefined,
    ]);
  });
});

describe(describeFailure.name, () => {
  it('names the SQLSTATE and where, never the value', () => {
    const error = aQueryFailedError('23514', { table: 'pending_change', column: 'key_value', constraint: 'key_value_check' } as Partial<DatabaseError>);
    expect(describeFailure(error)).toBe('Postgres refused the data: SQLSTATE 23514 (check_violation) table pending_change column key_value constraint key_value_check');
  });

  it('gives an unnamed SQLSTATE by its code, and a refused record by its reason', () => {
    expect([describeFailure(aDatabaseError('22P04')), describeFailure(new RecordRejectedError('MESSAGE_TOO_LARGE', 'x'))]).toEqual([
      'Postgres refused the data: SQLSTATE 22P04',
      'Kafka refused the record: MESSAGE_TOO_LARGE',
    ]);
  });
});
