/**
 * npm run chaos — one long, hostile run with every promise checked at the end (RELIABILITY.md):
 * its own Postgres and Kafka broker (both restarted mid-run), the CAAC sandbox at the API's real
 * 60 s window, two service instances SIGKILLed at random points, a seeded workload of
 * profile-change.v1 and Debezium events, sandbox faults, and an export in the middle.
 *
 *   npm run chaos                          the full run (200,000 events over 50,000 contacts, 22 kills)
 *   npm run chaos -- --short               the short mode that `npm test` runs (test/chaos)
 *   npm run chaos -- --seed=42             replay a run: the workload and the schedule follow the seed
 *
 * Prints progress on stderr, then a table and one JSON line on stdout; exits 1 when a promise broke.
 */
import { CHAOS_MODES, type ChaosMode } from './chaos-modes';
import { formatResult, passed, runChaos } from './chaos-runner';

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const mode: ChaosMode = args.includes('--short') ? 'short' : 'full';
  const seedArg = args.find((arg) => arg.startsWith('--seed='));
  const seed = seedArg ? Number(seedArg.slice('--seed='.length)) : Math.floor(Math.random() * 1_000_000);
  if (!Number.isSafeInteger(seed)) throw new Error(`--seed must be an integer, got ${seedArg}`);
  const started = Date.now();
  const result = await runChaos({ ...CHAOS_MODES[mode], seed, log: (line) => process.stderr.write(`[chaos +${Math.round((Date.now() - started) / 1_000)}s] ${line}\n`) });
  process.stdout.write(`${formatResult(result)}\n`);
  process.exitCode = passed(result) ? 0 : 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`chaos run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = 2;
});
