import { execFile } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const REPO = resolve(__dirname, '../..');
const POSTGRES_ROOT = '/usr/lib/postgresql';
const PG_WAIT_S = 60; // pg_ctl -t: start, stop and restart are bounded
const KAFKA_START_TIMEOUT_MS = 300_000; // the first start of a new broker directory fetches the jars
const KAFKA_STOP_TIMEOUT_MS = 60_000;

/**
 * A Postgres cluster of a run's own (initdb into `.cache/<folder>/`, its own port), so that the
 * run can restart it without touching a Postgres anyone else uses, and measure Postgres with its
 * default settings. Root cannot run Postgres: as root, the cluster belongs to the `postgres` OS user
 * and every pg_ctl call runs as that user. `settings` are added to the server's command line.
 */
export class OwnPostgres {
  readonly dir: string;
  private readonly bin: string;
  private readonly asUser: string[];

  constructor(
    readonly port: number,
    folder = 'chaos',
    private readonly settings: Record<string, string> = {},
  ) {
    this.dir = resolve(REPO, `.cache/${folder}/postgres-${port}`);
    const versions = readdirSync(POSTGRES_ROOT).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    if (versions.length === 0) throw new Error(`no Postgres server under ${POSTGRES_ROOT}`);
    this.bin = resolve(POSTGRES_ROOT, versions[0]!, 'bin');
    this.asUser = userInfo().uid === 0 ? ['runuser', '-u', 'postgres', '--'] : [];
  }

  get adminUrl(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  async start(): Promise<void> {
    if (!existsSync(resolve(this.dir, 'PG_VERSION'))) {
      rmSync(this.dir, { recursive: true, force: true });
      mkdirSync(this.dir, { recursive: true });
      if (this.asUser.length > 0) chownOwnedByPostgres(this.dir);
      await this.pg('initdb', ['-D', this.dir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    }
    await this.pg('pg_ctl', ['-D', this.dir, '-l', resolve(this.dir, 'server.log'), '-w', '-t', String(PG_WAIT_S), '-o', this.options(), 'start']);
  }

  /** Stop as a crash would (`immediate`: no checkpoint, recovery at start), then start again. */
  async restart(downMs: number): Promise<void> {
    await this.pg('pg_ctl', ['-D', this.dir, '-m', 'immediate', '-w', '-t', String(PG_WAIT_S), 'stop']);
    await new Promise((done) => setTimeout(done, downMs));
    await this.pg('pg_ctl', ['-D', this.dir, '-l', resolve(this.dir, 'server.log'), '-w', '-t', String(PG_WAIT_S), '-o', this.options(), 'start']);
  }

  async stop(): Promise<void> {
    if (!existsSync(resolve(this.dir, 'postmaster.pid'))) return;
    await this.pg('pg_ctl', ['-D', this.dir, '-m', 'fast', '-w', '-t', String(PG_WAIT_S), 'stop']).catch(() => undefined);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  private options(): string {
    const settings = Object.entries(this.settings).map(([name, value]) => ` -c ${name}=${value}`).join('');
    return `-p ${this.port} -c listen_addresses=127.0.0.1 -k ${this.dir}${settings}`;
  }

  private async pg(tool: string, args: string[]): Promise<void> {
    const [command, ...rest] = [...this.asUser, resolve(this.bin, tool), ...args];
    await run(command!, rest, { timeout: (PG_WAIT_S + 30) * 1_000 });
  }
}

function chownOwnedByPostgres(dir: string): void {
  const { uid, gid } = postgresIds();
  chownSync(dir, uid, gid);
}

function postgresIds(): { uid: number; gid: number } {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((entry) => entry.startsWith('postgres:'));
  if (!line) throw new Error('running as root needs a `postgres` OS user to own the cluster');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

/** A Kafka broker of the run's own (docker/kafka.sh on its own port and directory), restartable. */
export class OwnBroker {
  readonly dir: string;

  constructor(readonly port: number) {
    this.dir = resolve(REPO, '.cache/chaos/kafka');
  }

  get brokers(): string {
    return `127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    await this.script('start', KAFKA_START_TIMEOUT_MS);
  }

  /** A graceful stop (SIGTERM, bounded by the script), down for a while, then a start. */
  async restart(downMs: number): Promise<void> {
    await this.script('stop', KAFKA_STOP_TIMEOUT_MS);
    await new Promise((done) => setTimeout(done, downMs));
    await this.script('start', KAFKA_START_TIMEOUT_MS);
  }

  async stop(): Promise<void> {
    await this.script('stop', KAFKA_STOP_TIMEOUT_MS).catch(() => undefined);
  }

  remove(): void {
    rmSync(resolve(this.dir, `data-${this.port}`), { recursive: true, force: true });
  }

  private async script(command: string, timeout: number): Promise<void> {
    await run('bash', [resolve(REPO, 'docker/kafka.sh'), command], {
      timeout,
      env: { ...process.env, KAFKA_LOCAL_PORT: String(this.port), KAFKA_LOCAL_DIR: this.dir },
    });
  }
}
