import Ajv2020 from 'ajv/dist/2020';
import type { ErrorObject } from 'ajv';
import addFormats from 'ajv-formats';
import {
  CUSTOM_FIELDS_MAX,
  CUSTOM_NAME_MAX_LENGTH,
  KEY_TYPES,
  KNOWN_FIELDS,
  TEXT_MAX_LENGTH,
  checkSourceTime,
  customField,
  emptyRecord,
  hasField,
  textProblem,
  toContactKey,
  toPhoneRegion,
  validateField,
} from '../../profile';
import type { FieldError, FieldValue, KeyType, Patch, PhoneRegion } from '../../profile';
import { didYouMean } from '../../common/did-you-mean';
import profileChangeAvroSchema from '../schemas/profile-change.v1.avro.json';
import profileChangeSchema from '../schemas/profile-change.v1.json';
import type { ProfileChangeV1 } from '../schemas/profile-change.v1.types';
import { decodeError, describeFieldErrors } from './decode-result';
import type { DecodeResult, Decoder } from './decode-result';
import { DEFAULT_MAX_MESSAGE_BYTES, readJsonMessage } from './json-message';
import type { JsonLimits } from './json-message';

/** The published JSON Schema of `profile-change.v1` (draft 2020-12), to serve over HTTP. */
export const PROFILE_CHANGE_V1_SCHEMA: Readonly<Record<string, unknown>> = profileChangeSchema;

/**
 * The same event as an Avro schema, for `profile-change.v1-avro` topics and their producers; a test
 * holds it to the JSON Schema. Decoded events are checked against the JSON Schema all the same.
 */
export const PROFILE_CHANGE_V1_AVRO_SCHEMA: Readonly<Record<string, unknown>> = profileChangeAvroSchema;

export interface ProfileChangeDecoderOptions {
  /** Region for mobile numbers without a country code, e.g. `TW` (DEFAULT_PHONE_REGION). */
  defaultPhoneRegion: string;
  /** Larger messages are dead-lettered unread [DEFAULT_MAX_MESSAGE_BYTES, 1 MiB]. */
  maxMessageBytes?: number;
  /** An `occurred_at` further ahead of now is dead-lettered (MAX_FUTURE_SKEW_MS). */
  maxFutureSkewMs: number;
}

/**
 * The event is envelope -> profile -> custom -> scalar values; one spare level lets a wrongly
 * typed value get a type error instead of a nesting error. Anything deeper is hostile or broken.
 */
export const PROFILE_CHANGE_MAX_DEPTH = 5;

// Keys that mean something to JavaScript objects have no business in an event.
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

// Compiled once per process: validation is on the ingest hot path.
const ajv = new Ajv2020({ allErrors: true, strict: true, unicodeRegExp: false });
addFormats(ajv, ['date-time', 'date']);
const validateEvent = ajv.compile<ProfileChangeV1>(profileChangeSchema);

/**
 * A decoder for `profile-change.v1` events (DESIGN 4.1), with its options checked once.
 * Throws only for bad options (an unknown phone region); bad events become `error` results.
 */
export function createProfileChangeDecoder(options: ProfileChangeDecoderOptions): Decoder {
  const region = toPhoneRegion(options.defaultPhoneRegion);
  const limits: JsonLimits = {
    maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
    maxDepth: PROFILE_CHANGE_MAX_DEPTH,
    forbiddenKeys: FORBIDDEN_KEYS,
  };
  const { maxFutureSkewMs } = options;
  return (value, now) => decode(value, now, region, limits, maxFutureSkewMs);
}

// Decoders built for an options object, so that the per-call form costs one lookup.
const decoderCache = new WeakMap<ProfileChangeDecoderOptions, Decoder>();

/**
 * Decodes one Kafka value as a `profile-change.v1` event: a tombstone (null) is skipped; an event
 * that fails any check (size, UTF-8, JSON, nesting, schema, key, field rules) is an error as a
 * whole; an event with an empty profile is skipped. Pass the same options object each time (the
 * decoder built for it is reused), or use createProfileChangeDecoder.
 */
export function decodeProfileChangeV1(value: Buffer | null, now: number, options: ProfileChangeDecoderOptions): DecodeResult {
  let decoder = decoderCache.get(options);
  if (decoder === undefined) {
    decoder = createProfileChangeDecoder(options);
    decoderCache.set(options, decoder);
  }
  return decoder(value, now);
}

function decode(value: Buffer | null, now: number, region: PhoneRegion, limits: JsonLimits, maxFutureSkewMs: number): DecodeResult {
  if (value === null) return { kind: 'skip', reason: 'tombstone (null value)' };
  const read = readJsonMessage(value, limits);
  if (!read.ok) return decodeError(read.stage, read.errorClass, read.message);
  const event = read.json;
  if (!validateEvent(event)) {
    return decodeError('validate', 'SchemaViolation', describeFieldErrors(schemaErrors(validateEvent.errors ?? [], event)));
  }

  const sourceTs = Date.parse(event.occurred_at);
  if (!Number.isFinite(sourceTs)) {
    return decodeError('validate', 'SchemaViolation', 'occurred_at: is not a representable date-time');
  }
  const time = checkSourceTime(sourceTs, now, maxFutureSkewMs);
  if (!time.ok) return decodeError('validate', 'InvalidSourceTime', `occurred_at: ${time.reason}`);

  // Every key the schema allows must be a key type of the domain: one added to the schema alone fails to compile here.
  const keyType: KeyType = Object.keys(event.key)[0] as keyof ProfileChangeV1['key'];
  const keyResult = toContactKey(keyType, event.key[keyType], region);
  if (!keyResult.ok) return decodeError('validate', 'InvalidKey', `key.${keyType}: ${keyResult.reason}`);
  const key = keyResult.key;

  const patch: Patch = emptyRecord<FieldValue | null>();
  let errors: FieldError[] | undefined;
  let fields = 0;
  const { profile } = event;
  for (const field of Object.keys(profile) as (keyof ProfileChangeV1['profile'])[]) {
    if (field === 'custom') continue;
    const result = validateField(field, profile[field], { defaultPhoneRegion: region });
    if (!result.ok) {
      (errors ??= []).push({ field: `profile.${field}`, reason: result.reason });
    } else if (field === key.type) {
      // The key field travels with every import item anyway; only a contradiction matters.
      if (result.value !== key.value) {
        (errors ??= []).push({ field: `profile.${field}`, reason: `differs from key.${key.type}` });
      }
    } else {
      patch[field] = result.value;
      fields++;
    }
  }
  const custom = profile.custom;
  if (custom !== undefined) {
    for (const name of Object.keys(custom)) {
      const field = customField(name);
      const result = validateField(field, custom[name], { defaultPhoneRegion: region });
      if (!result.ok) (errors ??= []).push({ field: `profile.custom.${name}`, reason: result.reason });
      else {
        patch[field] = result.value;
        fields++;
      }
    }
  }
  if (errors !== undefined) return decodeError('validate', 'InvalidField', describeFieldErrors(errors));
  if (fields === 0) return { kind: 'skip', reason: 'the profile sets no field' };
  return { kind: 'change', change: { key, patch, sourceTs, eventId: event.event_id } };
}

const FORMAT_REASONS: Readonly<Record<string, string>> = {
  'date-time': 'must be an ISO-8601 date-time with a time zone',
  date: 'must be a real date written YYYY-MM-DD',
};

/** Turns ajv's errors into one reason per field, in the event's own terms. */
function schemaErrors(errors: readonly ErrorObject[], event: unknown): FieldError[] {
  const result: FieldError[] = [];
  for (const error of errors) {
    // The branches of anyOf and the pattern under propertyNames repeat what their parent says.
    if (error.schemaPath.includes('/anyOf/') || error.schemaPath.includes('/propertyNames/')) continue;
    // The storable-text rule names its types only for strict mode; the field's own type speaks.
    if (error.keyword === 'type' && error.schemaPath.startsWith('#/$defs/storable/')) continue;
    const at = error.instancePath.slice(1).replaceAll('/', '.');
    const under = (name: string): string => (at ? `${at}.${name}` : name);
    switch (error.keyword) {
      case 'required':
        result.push({ field: under(error.params.missingProperty as string), reason: 'is required' });
        break;
      case 'additionalProperties': {
        const name = error.params.additionalProperty as string;
        const reason =
          at === 'key'
            ? `is not an import key${didYouMean(name, KEY_TYPES)}`
            : at === 'profile'
              ? `is not a CAAC field${didYouMean(name, KNOWN_FIELDS.keys())} (custom fields go under profile.custom)`
              : 'is not allowed';
        result.push({ field: under(name), reason });
        break;
      }
      case 'false schema':
        result.push({ field: at, reason: 'is read-only in CAAC' });
        break;
      case 'minProperties':
      case 'maxProperties':
        result.push(at === 'key' ? keyCountError(event) : { field: at, reason: `at most ${CUSTOM_FIELDS_MAX} custom fields` });
        break;
      case 'propertyNames':
        result.push({
          field: under(error.params.propertyName as string),
          reason: `custom field names must be 1 to ${CUSTOM_NAME_MAX_LENGTH} characters of a-z, 0-9 and _`,
        });
        break;
      case 'anyOf': {
        const value = valueAt(event, error.instancePath);
        const problem = typeof value === 'string' ? textProblem(value) : undefined;
        result.push({ field: at, reason: problem ?? `must be a string (at most ${TEXT_MAX_LENGTH} characters), a number or null` });
        break;
      }
      case 'pattern': {
        // Besides event_id, patterns keep text storable; say which character, as the field rules do.
        const value = valueAt(event, error.instancePath);
        const problem = at === 'event_id' ? 'must be a ULID or a UUID' : typeof value === 'string' ? textProblem(value) : undefined;
        result.push({ field: at, reason: problem ?? error.message ?? 'is invalid' });
        break;
      }
      case 'format':
        result.push({ field: at, reason: FORMAT_REASONS[error.params.format as string] ?? 'has the wrong format' });
        break;
      case 'enum':
        result.push({ field: at, reason: `must be one of ${(error.params.allowedValues as unknown[]).map(String).join(', ')}` });
        break;
      case 'type':
        result.push({ field: at || '(event)', reason: `must be ${([] as unknown[]).concat(error.params.type).join(' or ')}` });
        break;
      default:
        result.push({ field: at || '(event)', reason: error.message ?? 'is invalid' });
    }
  }
  // A custom value's anyOf and its storable-text pattern can both say the same thing.
  const seen = new Set<string>();
  return result.filter((error) => {
    const id = `${error.field}\u0000${error.reason}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/** The value at an ajv instance path (`/profile/custom/tier`); only called for a failing event. */
function valueAt(event: unknown, instancePath: string): unknown {
  let node = event;
  for (const segment of instancePath.split('/').slice(1)) {
    const name = segment.replaceAll('~1', '/').replaceAll('~0', '~');
    if (typeof node !== 'object' || node === null || !hasField(node, name)) return undefined;
    node = (node as Record<string, unknown>)[name];
  }
  return node;
}

function keyCountError(event: unknown): FieldError {
  const names = Object.keys((event as { key: object }).key);
  return {
    field: 'key',
    reason:
      names.length === 0
        ? 'exactly one import key is required, got none'
        : `exactly one import key is required, got ${names.length} (${names.join(', ')})`,
  };
}
