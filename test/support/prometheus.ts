import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { freePort } from './free-port';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from './wait-for';

const run = promisify(execFile);
const REPO = resolve(__dirname, '../..');
export const ALERT_RULES = resolve(REPO, 'docker/prometheus/alerts.yml');
export const ALERT_RULE_TESTS = resolve(REPO, 'docker/prometheus/alerts.test.yml');
export const DASHBOARD = resolve(REPO, 'docker/grafana/dashboards/caac-sync.dashboard.json');
/** The first run installs Debian's prometheus package. */
const INSTALL_TIMEOUT_MS = 300_000;
const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;

/** The directory of `prometheus` and `promtool`, installed by the project's script when missing. */
export async function prometheusBin(): Promise<string> {
  const { stdout } = await run('bash', [resolve(REPO, 'docker/prometheus.sh'), 'ensure'], { timeout: INSTALL_TIMEOUT_MS });
  return stdout.trim().split('\n').pop()!;
}

export async function promtool(args: string[]): Promise<{ code: number; output: string }> {
  const bin = await prometheusBin();
  try {
    const { stdout, stderr } = await run(join(bin, 'promtool'), args, { timeout: 60_000 });
    return { code: 0, output: stdout + stderr };
  } catch (error) {
    const failed = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof failed.code === 'number' ? failed.code : 1, output: `${failed.stdout ?? ''}${failed.stderr ?? ''}` };
  }
}

export interface QueryResult {
  status: 'success' | 'error';
  error?: string;
  data?: { resultType: string; result: Array<{ metric: Record<string, string>; value?: [number, string] }> };
}

/**
 * A real Prometheus on a free loopback port with a temporary data directory, scraping `targets`
 * every second and evaluating `ruleFiles` every second. `stop` ends it and removes its data.
 */
export class RunningPrometheus {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly url: string,
    private readonly output: () => string,
  ) {}

  static async start(options: { targets: string[]; ruleFiles: string[] }): Promise<RunningPrometheus> {
    const bin = await prometheusBin();
    const dir = await mkdtemp(join(tmpdir(), 'caac-sync-prometheus-'));
    const config = [
      'global: { scrape_interval: 1s, evaluation_interval: 1s, scrape_timeout: 900ms }',
      `rule_files: [${options.ruleFiles.map((file) => JSON.stringify(file)).join(', ')}]`,
      'scrape_configs:',
      '  - job_name: caac-sync',
      `    static_configs: [{ targets: [${options.targets.map((target) => JSON.stringify(target)).join(', ')}] }]`,
    ].join('\n');
    await writeFile(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    let output = '';
    const child = spawn(
      join(bin, 'prometheus'),
      [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-10_000)));
    child.stderr!.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-10_000)));
    const prometheus = new RunningPrometheus(child, dir, `http://127.0.0.1:${port}`, () => output);
    try {
      await waitFor(
        'Prometheus to be ready',
        async () => {
          if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${output}`);
          const response = await fetch(`${prometheus.url}/-/ready`).catch(() => undefined);
          return response?.ok ? true : undefined;
        },
        { timeoutMs: START_TIMEOUT_MS, intervalMs: 200 },
      );
    } catch (error) {
      await prometheus.stop();
      throw error;
    }
    return prometheus;
  }

  async query(expr: string): Promise<QueryResult> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    return (await response.json()) as QueryResult;
  }

  async rules(): Promise<Array<{ name: string; health: string; lastError?: string; query: string }>> {
    const response = await fetch(`${this.url}/api/v1/rules`);
    const body = (await response.json()) as { data: { groups: Array<{ rules: Array<{ name: string; health: string; lastError?: string; query: string }> }> } };
    return body.data.groups.flatMap((group) => group.rules);
  }

  logs(): string {
    return this.output();
  }

  async stop(): Promise<void> {
    const child = this.child;
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((done) => child.once('exit', () => done()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}
