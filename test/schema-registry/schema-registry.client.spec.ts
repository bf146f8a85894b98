import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SchemaRegistryClient } from '../../src/schema-registry/schema-registry.client';
import { SchemaNotFoundError, SchemaRegistryUnavailableError } from '../../src/schema-registry/schema-registry.errors';

/** A stand-in registry answering GET /schemas/ids/{id} as a handler says; it records each request. */
class FakeRegistry {
  readonly requests: Array<{ method: string; url: string; authorization?: string }> = [];
  private server!: Server;
  answer: (id: number, response: ServerResponse) => void = (id, response) => {
    response.setHeader('content-type', 'application/vnd.schemaregistry.v1+json');
    response.end(JSON.stringify({ schema: `{"type":"record","name":"R${id}","fields":[]}` }));
  };

  async start(): Promise<string> {
    this.server = createServer((request: IncomingMessage, response: ServerResponse) => {
      this.requests.push({ method: request.method!, url: request.url!, ...(request.headers.authorization ? { authorization: request.headers.authorization } : {}) });
      const id = Number(/\/schemas\/ids\/(\d+)$/.exec(request.url!)?.[1]);
      this.answer(id, response);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/apis/ccompat/v7`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe(SchemaRegistryClient.name, () => {
  let registry: FakeRegistry;
  let url: string;

  beforeEach(async () => {
    registry = new FakeRegistry();
    url = await registry.start();
  });

  afterEach(() => registry.stop());

  it('fetches a writer schema by id (no schemaType means Avro) and serves it from the cache afterwards', async () => {
    const sut = new SchemaRegistryClient({ url });
    const expected = { id: 3, schemaType: 'AVRO', schema: '{"type":"record","name":"R3","fields":[]}' };

    await expect(sut.schemaById(3)).resolves.toEqual(expected);
    await expect(sut.schemaById(3)).resolves.toEqual(expected);
    expect(registry.requests).toEqual([{ method: 'GET', url: '/apis/ccompat/v7/schemas/ids/3' }]);
  });

  it('makes one request for concurrent fetches of one id', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const answer = registry.answer;
    registry.answer = (id, response) => void gate.then(() => answer(id, response));
    const sut = new SchemaRegistryClient({ url });

    const fetches = [sut.schemaById(5), sut.schemaById(5), sut.schemaById(5)];
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();

    await expect(Promise.all(fetches)).resolves.toHaveLength(3);
    expect(registry.requests).toHaveLength(1);
  });

  it('keeps at most cacheEntries schemas, dropping the least recently used', async () => {
    const sut = new SchemaRegistryClient({ url, cacheEntries: 2 });
    await sut.schemaById(1);
    await sut.schemaById(2);
    await sut.schemaById(1); // 2 is now the least recently used
    await sut.schemaById(3);

    expect(sut.cached(1)).toBeDefined();
    expect(sut.cached(2)).toBeUndefined();
    expect(sut.cached(3)).toBeDefined();
  });

  it('reads a JSON Schema as such', async () => {
    registry.answer = (_id, response) => response.end(JSON.stringify({ schema: '{"type":"object"}', schemaType: 'JSON' }));
    await expect(new SchemaRegistryClient({ url }).schemaById(4)).resolves.toEqual({ id: 4, schemaType: 'JSON', schema: '{"type":"object"}' });
  });

  it('says a schema does not exist only on 404 with error code 40403 (deterministic)', async () => {
    registry.answer = (id, response) => {
      response.statusCode = 404;
      response.end(JSON.stringify({ error_code: 40403, message: `Schema ${id} not found` }));
    };
    await expect(new SchemaRegistryClient({ url }).schemaById(99)).rejects.toEqual(new SchemaNotFoundError(99));
  });

  it.each([
    [404, { error_code: 404, message: 'HTTP 404 Not Found' }, 'http_404'],
    [500, { error_code: 50001, message: 'store error' }, 'http_500'],
    [401, {}, 'auth_failed'],
  ])('counts %s as the registry being unavailable (transient)', async (status, body, reason) => {
    registry.answer = (_id, response) => {
      response.statusCode = status;
      response.end(JSON.stringify(body));
    };
    const failure = new SchemaRegistryClient({ url }).schemaById(1);
    await expect(failure).rejects.toBeInstanceOf(SchemaRegistryUnavailableError);
    await expect(failure).rejects.toMatchObject({ reason });
  });

  it('counts a registry that does not answer in time as unavailable, and does not cache the failure', async () => {
    const answer = registry.answer;
    registry.answer = () => undefined; // hangs
    const sut = new SchemaRegistryClient({ url, requestTimeoutMs: 100 });

    await expect(sut.schemaById(1)).rejects.toMatchObject({ name: 'SchemaRegistryUnavailableError', reason: 'timeout' });
    registry.answer = answer;
    await expect(sut.schemaById(1)).resolves.toMatchObject({ id: 1 });
  });

  it('counts a registry nobody listens for as unreachable', async () => {
    await registry.stop();
    await expect(new SchemaRegistryClient({ url }).schemaById(1)).rejects.toMatchObject({ reason: 'unreachable' });
    registry = new FakeRegistry();
    url = await registry.start();
  });

  it('sends basic auth when a username is given, and never puts the password in an error', async () => {
    registry.answer = (_id, response) => {
      response.statusCode = 401;
      response.end('{}');
    };
    const sut = new SchemaRegistryClient({ url, username: 'caac-sync', password: 's3cret-DO-NOT-LEAK' });

    const error = (await sut.schemaById(1).catch((e: unknown) => e)) as Error;
    expect(registry.requests[0]!.authorization).toBe(`Basic ${Buffer.from('caac-sync:s3cret-DO-NOT-LEAK').toString('base64')}`);
    expect(error.message).toBe('the Schema Registry answered 401 fetching schema id 1');
    expect(JSON.stringify(error)).not.toContain('s3cret');
  });
});
