import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import pino from 'pino';
import { CaacClient, type CaacClientOptions, type CaacClientSeams } from '../../src/caac/caac.client';
import type { Clock } from '../../src/common/clock';
import type { Logger } from '../../src/common/logger';
import type { FakeClock } from './fake-clock';

export interface ReceivedRequest {
  /** The test clock's time when the request arrived. */
  at: number;
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
}

export type Answer = { status: number; body?: unknown; headers?: Record<string, string> } | 'hang' | 'destroy';

/**
 * A tiny HTTP server standing in for CAAC in unit tests: answers what the test scripts and records
 * what it received. `hang` never answers (the server ends it at close); `destroy` drops the socket.
 */
export class ScriptedServer {
  readonly received: ReceivedRequest[] = [];
  answer: (request: ReceivedRequest, index: number) => Answer | Promise<Answer> = () => ({ status: 404, body: { detail: 'Not Found' } });
  url = '';
  private readonly sockets = new Set<Socket>();
  private readonly server = createServer((req, res) => void this.handle(req, res));

  constructor(private readonly clock: Clock) {
    this.server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Answers each request with the next of `answers`; the last one repeats. */
  script(...answers: Answer[]): void {
    this.answer = (_request, index) => answers[Math.min(index, answers.length - 1)]!;
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request: ReceivedRequest = { at: this.clock.now(), method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
    const index = this.received.push(request) - 1;
    const answer = await this.answer(request, index);
    if (answer === 'hang') return;
    if (answer === 'destroy') {
      res.socket?.destroy();
      return;
    }
    const text = answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
    res.writeHead(answer.status, { 'content-type': typeof answer.body === 'string' ? 'text/plain' : 'application/json', ...answer.headers });
    res.end(text);
  }
}

/** A logger whose lines are kept in `lines`, to check what was logged. */
export function memoryLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: 'debug', base: undefined }, { write: (line: string) => void lines.push(line) });
  return { logger, lines };
}

export const TEST_API_KEY = 'k3y-UNIQUE-5ecr3t-91f7c2';

export function clientOptions(baseUrl: string, overrides: Partial<CaacClientOptions> = {}): CaacClientOptions {
  return {
    baseUrl,
    apiKey: TEST_API_KEY,
    importRate: { requests: 15, windowMs: 60_000, burst: 1 },
    statusRate: { requests: 600, windowMs: 60_000, burst: 100 },
    requestTimeoutMs: 2_000,
    retry: { maxAttempts: 1, baseDelayMs: 100, maxDelayMs: 1_000 },
    breaker: { errorThresholdPercentage: 50, volumeThreshold: 1_000, resetTimeoutMs: 60_000, rollingCountTimeoutMs: 60_000 },
    ...overrides,
  };
}

export function aClient(clock: Clock, options: CaacClientOptions, seams: CaacClientSeams = {}, logger: Logger = memoryLogger().logger): CaacClient {
  return new CaacClient(options, clock, logger, { random: () => 0.5, ...seams });
}

/**
 * Awaits `work` while moving the fake clock forward `stepMs` at a time, giving real I/O a turn
 * between steps. Bounded: gives up after `maxSteps`.
 */
export async function drive<T>(clock: FakeClock, work: Promise<T>, { stepMs = 10, maxSteps = 5_000 } = {}): Promise<T> {
  let settled = false;
  work.then(
    () => (settled = true),
    () => (settled = true),
  );
  for (let step = 0; step < maxSteps && !settled; step++) {
    await new Promise<void>((resolve) => setTimeout(resolve, 1));
    if (!settled) await clock.advance(stepMs);
  }
  if (!settled) throw new Error(`still pending after ${maxSteps} steps of ${stepMs} ms`);
  return work;
}

/** What a rejection was, or fails when `work` resolved. */
export async function rejection(work: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  try {
    await work;
  } catch (error) {
    return error as Error & Record<string, unknown>;
  }
  throw new Error('expected a rejection');
}
