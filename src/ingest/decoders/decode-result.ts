import { truncate } from '../../common/truncate';
import type { ContactKey, FieldError, KeyType, Patch } from '../../profile';

/** One contact's change, decoded, validated and normalised, ready to be stamped and staged. */
export interface DecodedChange {
  key: ContactKey;
  /** Flat CAAC fields; `null` clears. Never empty. */
  patch: Patch;
  /** Source time in epoch milliseconds (`occurred_at`, or Debezium `source.ts_ms`). */
  sourceTs: number;
  /** The producer's id of the change, when the format has one. */
  eventId?: string;
  /**
   * A Debezium snapshot read (op "r"): its source time is when the snapshot read the row, not when
   * the row changed, so a change committed while the snapshot ran can carry an earlier time.
   */
  snapshot?: boolean;
  /**
   * A Debezium update that moved the row to another contact key: the patch is the whole mapped
   * row under the new key. `from` is the old key's type (`null`: the row had no usable key); the
   * old key's value is personal data and is not carried.
   */
  keyChanged?: { from: KeyType | null };
}

/** Where a bad event failed: its bytes or JSON (`decode`), or its content (`validate`). */
export type DecodeStage = 'decode' | 'validate';

/**
 * Stable error classes, for the dead-letter header `caac-sync.errors.class` and for metrics.
 * Decide on these, never on the message text.
 */
export type DecodeErrorClass =
  | 'MessageTooLarge'
  | 'InvalidUtf8'
  | 'InvalidJson'
  | 'NestingTooDeep'
  | 'ForbiddenKey'
  | 'SchemaViolation'
  | 'InvalidKey'
  | 'InvalidField'
  | 'InvalidEnvelope'
  | 'InvalidSourceTime'
  | 'DeleteRejected'
  /** Not a Schema Registry frame: no magic byte 0, or shorter than its header. */
  | 'InvalidFrame'
  /** The registry says the frame's schema id does not exist (404, error code 40403). */
  | 'UnknownSchema'
  /** The bytes do not decode with their writer schema, or the schema is not one this format reads. */
  | 'SchemaMismatch';

export type DecodeResult =
  | { kind: 'change'; change: DecodedChange }
  | { kind: 'skip'; reason: string }
  | { kind: 'error'; stage: DecodeStage; errorClass: DecodeErrorClass; message: string; schemaId?: number };

/**
 * A decoder for one topic: the raw Kafka value and the service clock's now (epoch ms, to judge
 * source times against) in, one outcome out. Never throws.
 */
export type Decoder = (value: Buffer | null, now: number) => DecodeResult;

/**
 * Dead-letter headers and logs carry the message; a bad event must not inflate them, so a
 * message is cut at this many characters.
 */
export const ERROR_MESSAGE_MAX_LENGTH = 1_000;

/** At most this many field errors are listed in one message; the rest are counted. */
export const ERROR_LIST_MAX = 10;

export function decodeError(stage: DecodeStage, errorClass: DecodeErrorClass, message: string, schemaId?: number): DecodeResult {
  const error = { kind: 'error', stage, errorClass, message: truncate(message, ERROR_MESSAGE_MAX_LENGTH) } as const;
  return schemaId === undefined ? error : { ...error, schemaId };
}


/** `display_email: is not an e-mail address; gender: must be one of ...` (capped). */
export function describeFieldErrors(errors: readonly FieldError[]): string {
  const listed = errors.slice(0, ERROR_LIST_MAX).map((e) => (e.field ? `${e.field}: ${e.reason}` : e.reason));
  const rest = errors.length - listed.length;
  return listed.join('; ') + (rest > 0 ? `; and ${rest} more` : '');
}
