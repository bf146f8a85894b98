import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { HttpError } from './http-error';
import { writeReply, type Reply } from './reply';
import { createSandboxLogger } from './sandbox.logger';
import { ProfileApiRoutes, type SandboxRequest } from './sandbox.routes';
import { SandboxState } from './sandbox-state';
import { loadSandboxConfig, type SandboxConfig } from './sandbox.config';
import { SleepTimers } from './sleep-timers';
import { TEST_API_PREFIX, TestApiRoutes } from './test-api.routes';

export interface RunningSandbox {
  /** e.g. http://127.0.0.1:4010 */
  url: string;
  port: number;
  config: SandboxConfig;
  /** Stops listening, ends every open (also hung) request and every timer. */
  close(): Promise<void>;
}

const PROFILE_API_PREFIX = '/cdh/';

/** Routes one request and answers it; a request to a Profile API path is logged with its outcome. */
class SandboxHttpHandler {
  private readonly profileApi: ProfileApiRoutes;
  private readonly testApi: TestApiRoutes;

  constructor(
    private readonly state: SandboxState,
    sleeps: SleepTimers,
    private readonly logger: Logger,
  ) {
    this.profileApi = new ProfileApiRoutes(state, sleeps, logger);
    this.testApi = new TestApiRoutes(state);
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const url = requestUrl(req.url);
    if (!url) {
      writeReply(res, errorReply(new HttpError(400, 'malformed request target')));
      return;
    }
    const entry = url.pathname.startsWith(PROFILE_API_PREFIX) ? this.state.log.arrive(req.method ?? 'GET', url.pathname, at) : undefined;
    this.state.tasks.settle(at);
    const request: SandboxRequest = { req, res, url, at, entry };
    let reply: Reply;
    try {
      reply = (await this.route(request)) ?? errorReply(HttpError.notFound('Not Found'));
    } catch (error) {
      if (!(error instanceof HttpError)) this.logger.error({ err: error, path: url.pathname }, 'request failed');
      reply = errorReply(error);
    }
    if (reply.kind === 'none') return;
    const written = writeReply(res, reply);
    if (written && entry) entry.status = reply.status;
    this.logger.debug({ method: req.method, path: url.pathname, status: written ? reply.status : 0 }, 'request');
  }

  private async route(request: SandboxRequest): Promise<Reply | undefined> {
    const path = request.url.pathname;
    if (path === TEST_API_PREFIX || path.startsWith(`${TEST_API_PREFIX}/`)) {
      return this.state.config.testApi ? this.testApi.handle(request) : undefined;
    }
    return this.profileApi.handle(request);
  }
}

/** The request target as a URL; only origin-form targets ("/path?query") are served. */
function requestUrl(target: string | undefined): URL | undefined {
  if (!target?.startsWith('/') || target.startsWith('//')) return undefined;
  try {
    return new URL(target, 'http://sandbox.invalid');
  } catch {
    return undefined;
  }
}

function errorReply(error: unknown): Exclude<Reply, { kind: 'none' }> {
  if (error instanceof HttpError) return { kind: 'json', status: error.status, body: { detail: error.detail }, headers: error.headers };
  return { kind: 'json', status: 500, body: { detail: 'internal error' } };
}

/** How long an idle client connection stays open. */
const KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Starts the sandbox: `loadSandboxConfig({})` defaults with `overrides` on top; `port: 0` takes any free port. */
export async function startSandbox(overrides: Partial<SandboxConfig> = {}): Promise<RunningSandbox> {
  const config: SandboxConfig = { ...loadSandboxConfig({}), ...overrides };
  const logger = createSandboxLogger(config.logLevel);
  const state = new SandboxState(config, logger);
  const sleeps = new SleepTimers();
  const handler = new SandboxHttpHandler(state, sleeps, logger);
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res) => void handler.handle(req, res));
  // TRICKY: Node closes an idle keep-alive connection after 5 s, the very pace at which clients
  // poll tasks, so a client could send its next request on a socket the server is closing
  // (ECONNRESET). Servers in front of real APIs keep idle connections for a minute or more.
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = KEEP_ALIVE_TIMEOUT_MS + 1_000;
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('clientError', (_error, socket) => {
    const body = JSON.stringify({ detail: 'malformed HTTP request' });
    if (socket.writable) socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nconnection: close\r\ncontent-length: ${body.length}\r\n\r\n${body}`);
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as { port: number }).port;
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${port}`;
  state.publicUrl = config.publicUrl ?? url;
  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    config,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        state.tasks.clear();
        sleeps.clear();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return closing;
    },
  };
}
