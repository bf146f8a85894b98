import type { DecodeErrorClass } from './decode-result';

/** Default for `maxMessageBytes`: Kafka's default `message.max.bytes` is about 1 MiB. */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export interface JsonLimits {
  /** Messages longer than this are rejected before any decoding. */
  maxMessageBytes: number;
  /** Objects and arrays nested deeper than this are rejected (the top level is depth 1). */
  maxDepth: number;
  /** Object keys rejected anywhere in the document. */
  forbiddenKeys: ReadonlySet<string>;
}

export type JsonReadResult =
  | { ok: true; json: unknown; text: string }
  | { ok: false; stage: 'decode' | 'validate'; errorClass: DecodeErrorClass; message: string };

// Reused: a fatal decoder throws on malformed UTF-8 instead of inserting U+FFFD.
const utf8 = new TextDecoder('utf-8', { fatal: true });

export type JsonReadFailure = Extract<JsonReadResult, { ok: false }>;

/**
 * Reads a Kafka value as one JSON document, defensively: size first (before any work), then
 * strict UTF-8, JSON, then a bounded walk that rejects deep nesting and forbidden keys such as
 * `__proto__`. JSON.parse itself never touches prototypes; the key check protects the code that
 * copies the data afterwards.
 */
export function readJsonMessage(value: Buffer, limits: JsonLimits): JsonReadResult {
  const read = readJsonText(value, limits);
  return read.ok ? parseJsonMessage(read.text, limits) : read;
}

/** The first two steps of readJsonMessage: the size limit, then strict UTF-8. */
export function readJsonText(value: Buffer, limits: JsonLimits): { ok: true; text: string } | JsonReadFailure {
  if (value.length > limits.maxMessageBytes) {
    return fail('decode', 'MessageTooLarge', `message is ${value.length} bytes, over the limit of ${limits.maxMessageBytes}`);
  }
  try {
    return { ok: true, text: utf8.decode(value) };
  } catch {
    return fail('decode', 'InvalidUtf8', 'message is not valid UTF-8');
  }
}

/** The last two steps of readJsonMessage: JSON.parse, then checkJsonStructure. */
export function parseJsonMessage(text: string, limits: JsonLimits): JsonReadResult {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return fail('decode', 'InvalidJson', `message is not JSON: ${(error as Error).message.slice(0, 200)}`);
  }
  return checkJsonStructure(json, limits) ?? { ok: true, json, text };
}

/**
 * The first nesting or forbidden-key problem in `json`, found in document order, or undefined.
 * `at` is the keys leading to `json` from the document's root, for a part parsed on its own: the
 * depth and the path in the message are those the whole document's walk would give.
 */
export function checkJsonStructure(json: unknown, limits: JsonLimits, at: readonly string[] = []): JsonReadFailure | undefined {
  const problem = findProblem(json, at.length + 1, limits);
  if (problem === undefined) return undefined;
  const path = '/' + [...at, ...problem.path.reverse()].join('/');
  return problem.forbiddenKey === undefined
    ? fail('decode', 'NestingTooDeep', `values nest deeper than ${limits.maxDepth} levels (at ${path})`)
    : fail('validate', 'ForbiddenKey', `key "${problem.forbiddenKey}" is not allowed (at ${path})`);
}

interface StructureProblem {
  forbiddenKey?: string;
  /** Path segments from the problem up to the root; built only on failure. */
  path: string[];
}

function findProblem(node: unknown, depth: number, limits: JsonLimits): StructureProblem | undefined {
  if (typeof node !== 'object' || node === null) return undefined;
  if (depth > limits.maxDepth) return { path: [] };
  if (Array.isArray(node)) {
    for (let i = 0; i < node.length; i++) {
      const problem = findProblem(node[i], depth + 1, limits);
      if (problem !== undefined) {
        problem.path.push(String(i));
        return problem;
      }
    }
    return undefined;
  }
  for (const key of Object.keys(node)) {
    if (limits.forbiddenKeys.has(key)) return { forbiddenKey: key, path: [] };
    const problem = findProblem((node as Record<string, unknown>)[key], depth + 1, limits);
    if (problem !== undefined) {
      problem.path.push(key);
      return problem;
    }
  }
  return undefined;
}

function fail(stage: 'decode' | 'validate', errorClass: DecodeErrorClass, message: string): JsonReadFailure {
  return { ok: false, stage, errorClass, message };
}
