import { TimeoutError } from '../common/with-timeout';

/**
 * Why a dependency check failed, as a category: what an operator needs to act, without the
 * driver's own text (host names, user names, addresses) reaching whoever can call the probe.
 */
export type FailureReason = 'timeout' | 'unreachable' | 'auth_failed' | 'error';

/** Network error codes of Node and the drivers that mean "could not get there". */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'EAI_AGAIN', 'ETIMEDOUT']);
/** Postgres SQLSTATEs: 28xxx bad credentials; 57P0x the server is shutting down or gone; 08xxx connection. */
const PG_AUTH = /^28/;
const PG_UNREACHABLE = /^(57P0|08)/;

export function failureReason(error: unknown): FailureReason {
  if (error instanceof TimeoutError) return 'timeout';
  const { code, name, message } = (error ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (UNREACHABLE_CODES.has(code) || PG_UNREACHABLE.test(code)) return 'unreachable';
    if (PG_AUTH.test(code)) return 'auth_failed';
  }
  if (typeof name === 'string') {
    if (name === 'KafkaJSSASLAuthenticationError') return 'auth_failed';
    if (name === 'KafkaJSConnectionError' || name === 'KafkaJSBrokerNotFound' || name === 'KafkaJSNumberOfRetriesExceeded') return 'unreachable';
    if (name === 'KafkaJSRequestTimeoutError') return 'timeout';
  }
  // pg reports a connection cut mid-query only in its message.
  if (typeof message === 'string' && /Connection terminated|connection timeout|ECONNREFUSED/i.test(message)) return 'unreachable';
  return 'error';
}
