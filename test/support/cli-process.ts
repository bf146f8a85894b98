import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { TEST_ADMIN_TOKEN, TEST_API_KEY } from './service';

const CLI = resolve(__dirname, '../../dist/cli/main.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the built command line (`dist/cli/main.js`) as an operator would, with the service's environment. */
export function runCli(args: string[], env: Record<string, string>, timeoutMs = 120_000, cwd?: string): Promise<CliRun> {
  return new Promise((done, fail) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        timeout: timeoutMs,
        ...(cwd ? { cwd } : {}),
        maxBuffer: 16 * 1_048_576,
        env: {
          PATH: process.env.PATH,
          KAFKA_BROKERS: process.env.TEST_KAFKA_BROKERS!,
          CAAC_BASE_URL: 'http://127.0.0.1:4010',
          CAAC_API_KEY: TEST_API_KEY,
          ADMIN_TOKEN: TEST_ADMIN_TOKEN,
          KAFKAJS_NO_PARTITIONER_WARNING: '1',
          ...env,
        },
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') return fail(new Error(`the CLI did not finish: ${error.message}\n${stderr}`));
        done({ code: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}
