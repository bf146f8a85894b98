import { SchemaNotFoundError, SchemaRegistryUnavailableError } from './schema-registry.errors';

/** What the Confluent-compatible API calls a schema's type; absent in its answers means AVRO. */
export type SchemaType = 'AVRO' | 'JSON' | 'PROTOBUF';

export interface RegisteredSchema {
  id: number;
  schemaType: SchemaType;
  /** The schema's text as registered (Avro JSON, JSON Schema). */
  schema: string;
}

export interface SchemaRegistryOptions {
  /** The Confluent-compatible API's base, e.g. http://127.0.0.1:8081/apis/ccompat/v7 (Apicurio). */
  url: string;
  username?: string;
  password?: string;
  /** One request's bound [SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS]. */
  requestTimeoutMs?: number;
  /** Writer schemas kept [SCHEMA_REGISTRY_CACHE_ENTRIES]. */
  cacheEntries?: number;
}

/** A registry that does not answer within this long counts as down for that request. */
export const SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS = 5_000;
/**
 * Writer schemas kept, least recently used first out. A topic carries one schema per table
 * version, so a few per topic are in use at once; the bound keeps a producer that registers a
 * schema per message (a known anti-pattern) from growing memory without end.
 */
export const SCHEMA_REGISTRY_CACHE_ENTRIES = 1_000;
/** Registry answers larger than this are refused: a schema is kilobytes, not megabytes. */
const MAX_ANSWER_BYTES = 4 * 1024 * 1024;

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';

/**
 * A Confluent-compatible Schema Registry client: writer schemas fetched by id, kept in a bounded
 * LRU cache (a schema id names immutable content, so an entry never goes stale), and concurrent
 * fetches of one id share one request. Failures are classified where they enter: a 404 with error
 * code 40403 is SchemaNotFoundError (deterministic), anything else SchemaRegistryUnavailableError
 * (transient). TLS is https in the URL; basic auth when a username is given.
 */
export class SchemaRegistryClient {
  private readonly base: string;
  private readonly headers: Record<string, string>;
  private readonly timeoutMs: number;
  private readonly maxEntries: number;
  // A Map iterates in insertion order: re-inserting on use makes the first key the least recent.
  private readonly cache = new Map<number, RegisteredSchema>();
  private readonly inFlight = new Map<number, Promise<RegisteredSchema>>();

  constructor(options: SchemaRegistryOptions) {
    this.base = options.url.replace(/\/+$/, '');
    this.headers = { accept: CONTENT_TYPE };
    if (options.username !== undefined) {
      const token = Buffer.from(`${options.username}:${options.password ?? ''}`, 'utf8').toString('base64');
      this.headers.authorization = `Basic ${token}`;
    }
    this.timeoutMs = options.requestTimeoutMs ?? SCHEMA_REGISTRY_REQUEST_TIMEOUT_MS;
    this.maxEntries = options.cacheEntries ?? SCHEMA_REGISTRY_CACHE_ENTRIES;
  }

  /** The schema already fetched for `id`, without a request; undefined when not cached. */
  cached(id: number): RegisteredSchema | undefined {
    const hit = this.cache.get(id);
    if (hit !== undefined) {
      this.cache.delete(id);
      this.cache.set(id, hit);
    }
    return hit;
  }

  /** The writer schema of `id`, from the cache or the registry (one request for concurrent callers). */
  async schemaById(id: number): Promise<RegisteredSchema> {
    const hit = this.cached(id);
    if (hit !== undefined) return hit;
    let pending = this.inFlight.get(id);
    if (pending === undefined) {
      pending = this.fetchSchema(id).finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  /** Registers `schema` under `subject` (or finds it there) and returns its id. */
  async register(subject: string, schema: string, schemaType: SchemaType): Promise<number> {
    const body = JSON.stringify(schemaType === 'AVRO' ? { schema } : { schema, schemaType });
    const answer = await this.request('POST', `/subjects/${encodeURIComponent(subject)}/versions`, body);
    if (answer.status !== 200) throw unavailable(`registering under subject ${subject}`, answer.status);
    const id = (answer.json as { id?: unknown }).id;
    if (typeof id !== 'number') throw new SchemaRegistryUnavailableError('the registry answered a registration without an id', 'bad_answer');
    return id;
  }

  /** Whether the registry answers its API (for readiness); throws SchemaRegistryUnavailableError if not. */
  async ping(): Promise<void> {
    const answer = await this.request('GET', '/subjects');
    if (answer.status !== 200) throw unavailable('listing subjects', answer.status);
  }

  private async fetchSchema(id: number): Promise<RegisteredSchema> {
    const answer = await this.request('GET', `/schemas/ids/${id}`);
    if (answer.status === 404 && (answer.json as { error_code?: unknown } | undefined)?.error_code === 40403) {
      throw new SchemaNotFoundError(id);
    }
    if (answer.status !== 200) throw unavailable(`fetching schema id ${id}`, answer.status);
    const { schema, schemaType = 'AVRO' } = (answer.json ?? {}) as { schema?: unknown; schemaType?: unknown };
    if (typeof schema !== 'string' || (schemaType !== 'AVRO' && schemaType !== 'JSON' && schemaType !== 'PROTOBUF')) {
      throw new SchemaRegistryUnavailableError(`the registry's answer for schema id ${id} has no schema`, 'bad_answer');
    }
    const registered: RegisteredSchema = { id, schemaType, schema };
    if (this.cache.size >= this.maxEntries) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(id, registered);
    return registered;
  }

  private async request(method: 'GET' | 'POST', path: string, body?: string): Promise<{ status: number; json: unknown }> {
    let response: Response;
    try {
      response = await fetch(this.base + path, {
        method,
        headers: body === undefined ? this.headers : { ...this.headers, 'content-type': CONTENT_TYPE },
        body,
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      const timedOut = (error as Error).name === 'TimeoutError' || (error as Error).name === 'AbortError';
      throw new SchemaRegistryUnavailableError(
        timedOut ? `the Schema Registry did not answer within ${this.timeoutMs} ms` : 'the Schema Registry is unreachable',
        timedOut ? 'timeout' : 'unreachable',
      );
    }
    const length = Number(response.headers.get('content-length') ?? '0');
    if (length > MAX_ANSWER_BYTES) {
      await response.body?.cancel();
      throw new SchemaRegistryUnavailableError(`the Schema Registry's answer is over ${MAX_ANSWER_BYTES} bytes`, 'bad_answer');
    }
    const text = await response.text().catch(() => '');
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, json };
  }
}

function unavailable(what: string, status: number): SchemaRegistryUnavailableError {
  const reason = status === 401 || status === 403 ? 'auth_failed' : `http_${status}`;
  return new SchemaRegistryUnavailableError(`the Schema Registry answered ${status} ${what}`, reason);
}
