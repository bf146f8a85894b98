import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The file of settings the service and the command line read, in the directory they start in. */
export const ENV_FILE = '.env';

/**
 * Loads `.env` from the working directory into `process.env`, when there is one, with Node's own
 * loader: a variable already set in the environment wins over the file (an orchestrator's or a
 * shell's setting is never overridden). Returns the file's path, or undefined when there is none.
 */
export function loadEnvFile(directory = process.cwd()): string | undefined {
  const path = resolve(directory, ENV_FILE);
  if (!existsSync(path)) return undefined;
  process.loadEnvFile(path);
  return path;
}

/** For entry points: loadEnvFile, or one line on stderr and exit 1 when `.env` cannot be read. */
export function loadEnvFileOrExit(): void {
  try {
    loadEnvFile();
  } catch (error) {
    process.stderr.write(`${ENV_FILE}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})\n`);
    process.exit(1);
  }
}
