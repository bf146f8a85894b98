import { TimeoutError } from '../../src/common/with-timeout';
import { failureReason } from '../../src/ops/failure-reason';

const anError = (fields: Record<string, unknown>) => Object.assign(new Error('failed at 10.1.2.3:5432 as user svc_caac'), fields);

describe(failureReason.name, () => {
  it.each([
    ['a bounded check that ran out of time', new TimeoutError('Postgres', 2_000), 'timeout'],
    ['a refused connection', anError({ code: 'ECONNREFUSED' }), 'unreachable'],
    ['an unknown host', anError({ code: 'ENOTFOUND' }), 'unreachable'],
    ['Postgres shutting down (57P01)', anError({ code: '57P01' }), 'unreachable'],
    ['Postgres refusing the connection (08006)', anError({ code: '08006' }), 'unreachable'],
    ['a wrong Postgres password (28P01)', anError({ code: '28P01' }), 'auth_failed'],
    ['a SASL failure of the broker', anError({ name: 'KafkaJSSASLAuthenticationError' }), 'auth_failed'],
    ['a broker that cannot be reached', anError({ name: 'KafkaJSConnectionError' }), 'unreachable'],
    ['a broker request timeout', anError({ name: 'KafkaJSRequestTimeoutError' }), 'timeout'],
    ['a connection cut mid-query', new Error('Connection terminated unexpectedly'), 'unreachable'],
    ['anything else', anError({ code: '42P01' }), 'error'],
    ['a thrown non-error', 'boom', 'error'],
  ])('calls %s %s', (_, error, expected) => {
    expect(failureReason(error)).toBe(expected);
  });
});
