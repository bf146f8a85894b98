/**
 * Whether a failure of Postgres or Kafka is about the DATA (deterministic: the same input fails the
 * same way every time, so retrying it can only stall its partition) or about the MOMENT (transient:
 * a connection, a timeout, an outage; retrying with backoff is right). This is the one place where
 * that line is drawn (DESIGN §3, invariant 8); callers decide on the kind, never on a code.
 *
 * Deterministic:
 * - Postgres SQLSTATE class 22 (data exception: invalid text, out-of-range numbers, bad JSON,
 *   untranslatable characters), class 23 (integrity constraint: the statements are fixed and
 *   conflict-safe, so a violation is the values' fault), class 54 (program limit: a value or row
 *   too large), and class 0A (feature not supported: raised at run time by a fixed statement, it is
 *   about the values, e.g. a `\u0000` escape in jsonb on some versions).
 * - A record the Kafka broker refuses as such ({@link RecordRejectedError}: too large, invalid).
 *
 * Transient: everything else, deliberately including what an operator has to fix (permissions,
 * a missing table or topic, our own SQL): dead-lettering every event for those would lose a whole
 * stream to a configuration mistake, so they are retried (with backoff and bounded logging) until
 * fixed. Connections (08), shutdown and cancel (57), serialization and deadlocks (40), resources
 * (53), locks (55), network errors, timeouts, broker or leader not available all land here, and so
 * does any error this rule does not know.
 */
export type FailureKind = 'deterministic' | 'transient';

/** SQLSTATE classes (first two characters) that say the values themselves were refused. */
const DETERMINISTIC_SQLSTATE_CLASSES = new Set(['22', '23', '54', '0A']);

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * A record the Kafka broker refused for what it is, not for the moment (too large, invalid): the
 * Kafka adapter turns the client library's errors into this, so nothing outside `src/kafka/` needs
 * to know the library's error types. Sending the same record again fails the same way.
 */
export class RecordRejectedError extends Error {
  readonly code = 'record_rejected';
  constructor(
    /** The broker's error name, e.g. MESSAGE_TOO_LARGE. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'RecordRejectedError';
  }
}

/** The SQLSTATE of a Postgres error (pg's DatabaseError or TypeORM's QueryFailedError), if any. */
export function sqlState(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const own = (error as { code?: unknown }).code;
  if (typeof own === 'string' && SQLSTATE.test(own) && isDatabaseError(error)) return own;
  const driver = (error as { driverError?: unknown }).driverError;
  return driver !== undefined && driver !== error ? sqlState(driver) : undefined;
}

/** See the rule above. */
export function failureKind(error: unknown): FailureKind {
  if (error instanceof RecordRejectedError) return 'deterministic';
  const state = sqlState(error);
  if (state !== undefined && DETERMINISTIC_SQLSTATE_CLASSES.has(state.slice(0, 2))) return 'deterministic';
  return 'transient';
}

// TRICKY: Node's own socket errors have a `code` too, and `EPIPE` is five capital letters; a
// Postgres error is recognised by the fields pg gives it (severity), not by the shape of the code.
function isDatabaseError(error: object): boolean {
  const severity = (error as { severity?: unknown }).severity;
  return typeof severity === 'string' || 'driverError' in error;
}

/** Names of the SQLSTATEs a refused value most often brings (the rest are shown by code alone). */
const CONDITION_NAMES: Record<string, string> = {
  '22001': 'string_data_right_truncation',
  '22003': 'numeric_value_out_of_range',
  '22007': 'invalid_datetime_format',
  '22008': 'datetime_field_overflow',
  '22021': 'character_not_in_repertoire',
  '22023': 'invalid_parameter_value',
  '22P02': 'invalid_text_representation',
  '22P05': 'untranslatable_character',
  '23502': 'not_null_violation',
  '23505': 'unique_violation',
  '23514': 'check_violation',
  '54000': 'program_limit_exceeded',
  '0A000': 'feature_not_supported',
};

/**
 * A short reason for a refusal, safe to log and to put in a dead letter: the SQLSTATE, its name,
 * and the names of the table, column and constraint when Postgres gives them; never the server's
 * message or detail, which can quote the refused value (an e-mail address, say).
 */
export function describeFailure(error: unknown): string {
  if (error instanceof RecordRejectedError) return `Kafka refused the record: ${error.reason}`;
  const state = sqlState(error);
  if (state === undefined) return error instanceof Error ? error.name : 'unknown error';
  const source = error as { table?: unknown; column?: unknown; constraint?: unknown; driverError?: typeof error };
  const names = (field: 'table' | 'column' | 'constraint') => {
    const value = source[field] ?? (source.driverError as Record<string, unknown> | undefined)?.[field];
    return typeof value === 'string' && value !== '' ? ` ${field} ${value}` : '';
  };
  const condition = CONDITION_NAMES[state];
  return `Postgres refused the data: SQLSTATE ${state}${condition ? ` (${condition})` : ''}${names('table')}${names('column')}${names('constraint')}`;
}
