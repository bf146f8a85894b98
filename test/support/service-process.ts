import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freePort } from './free-port';
import { TEST_ADMIN_TOKEN, TEST_API_KEY } from './service';
import { waitFor } from './wait-for';

const MAIN = resolve(__dirname, '../../dist/main.js');

/**
 * The service as its own process (built `dist/main.js`), so a test can SIGKILL it like an
 * orchestrator or the kernel would, and start it again.
 */
export class ServiceProcess {
  private child: ChildProcess | undefined;
  private output = '';
  port = 0;

  constructor(private readonly env: Record<string, string>) {}

  async start(): Promise<void> {
    this.port = await freePort();
    this.output = '';
    const child = spawn(process.execPath, [MAIN], {
      env: {
        PATH: process.env.PATH,
        KAFKA_BROKERS: process.env.TEST_KAFKA_BROKERS!,
        CAAC_API_KEY: TEST_API_KEY,
        ADMIN_TOKEN: TEST_ADMIN_TOKEN,
        HTTP_HOST: '127.0.0.1',
        HTTP_PORT: String(this.port),
        LOG_LEVEL: 'warn',
        KAFKAJS_NO_PARTITIONER_WARNING: '1',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    child.stderr!.on('data', (chunk: Buffer) => (this.output = (this.output + chunk.toString()).slice(-20_000)));
    this.child = child;
    await waitFor(
      'the service to be ready',
      async () => {
        if (child.exitCode !== null) throw new Error(`service exited with ${child.exitCode}:\n${this.output}`);
        const response = await fetch(`http://127.0.0.1:${this.port}/health/ready`).catch(() => undefined);
        return response?.status === 200 ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 200 },
    );
  }

  /** SIGKILL: no shutdown hook runs, open transactions and connections are simply cut. */
  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((done) => child.once('exit', () => done()));
    child.kill('SIGKILL');
    await exited;
  }

  /** SIGTERM and wait for a graceful exit (bounded). */
  async stop(timeoutMs = 30_000): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((done) => child.once('exit', (code) => done(code)));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    try {
      return await exited;
    } finally {
      clearTimeout(timer);
    }
  }

  logs(): string {
    return this.output;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }
}
