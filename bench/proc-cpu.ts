import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU time of processes from /proc/<pid>/stat (Linux), in clock ticks: what a process used so far,
 * whoever measures. A benchmark takes the difference of two readings over its phase.
 */
export const CLOCK_TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

interface Ticks {
  /** utime + stime: the process itself. */
  self: number;
  /** cutime + cstime: its children that exited and were waited for. */
  children: number;
  ppid: number;
}

function readTicks(pid: number): Ticks | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  // TRICKY: the command name (field 2) may hold spaces and parentheses; fields count from the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const at = (field: number) => Number(fields[field - 3]);
  return { self: at(14) + at(15), children: at(16) + at(17), ppid: at(4) };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

const pids = () => readdirSync('/proc').filter((name) => /^\d+$/.test(name)).map(Number);

/** CPU seconds of one process (itself, not its children). */
export function processCpuS(pid: number): number {
  return (readTicks(pid)?.self ?? NaN) / CLOCK_TICKS_PER_S;
}

/**
 * CPU seconds of the whole Postgres cluster: every live postgres process, plus the postmaster's
 * exited children (backends that ended, which the postmaster waited for). Take deltas: a backend
 * that ends between two readings moves from the first sum to the second, losing nothing.
 */
export function postgresCpuS(): number {
  const all = pids()
    .filter((pid) => readText(`/proc/${pid}/comm`).trim() === 'postgres')
    .map((pid) => ({ pid, ticks: readTicks(pid) }))
    .filter((p): p is { pid: number; ticks: Ticks } => p.ticks !== undefined);
  const ids = new Set(all.map((p) => p.pid));
  const postmasters = all.filter((p) => !ids.has(p.ticks.ppid));
  const ticks = all.reduce((sum, p) => sum + p.ticks.self, 0) + postmasters.reduce((sum, p) => sum + p.ticks.children, 0);
  return ticks / CLOCK_TICKS_PER_S;
}

/**
 * The backends connected to one database, by the title Postgres gives them
 * ("postgres: 15/main: <user> <database> <client> <state>"): CPU seconds of each, by pid. Only
 * live backends are seen, so a caller samples often and keeps each pid's last reading.
 */
export function databaseBackendsCpuS(database: string): Map<number, number> {
  const backends = new Map<number, number>();
  for (const pid of pids()) {
    if (readText(`/proc/${pid}/comm`).trim() !== 'postgres') continue;
    if (!readText(`/proc/${pid}/cmdline`).includes(` ${database} `)) continue;
    const ticks = readTicks(pid);
    if (ticks) backends.set(pid, ticks.self / CLOCK_TICKS_PER_S);
  }
  return backends;
}

/** The Kafka broker's JVM (`kafka.Kafka` in its command line), preferring the one of `port`. */
export function kafkaBrokerPid(port: string): number | undefined {
  const brokers = pids().filter((pid) => {
    const cmdline = readText(`/proc/${pid}/cmdline`);
    return readText(`/proc/${pid}/comm`).trim() === 'java' && cmdline.includes('kafka.Kafka');
  });
  return brokers.find((pid) => readText(`/proc/${pid}/cmdline`).includes(`data-${port}`)) ?? brokers[0];
}
