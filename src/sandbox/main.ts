import pino from 'pino';
import { loadSandboxConfig } from './sandbox.config';
import { startSandbox } from './sandbox.server';

/** `npm run sandbox`: the CAAC Profile API sandbox, configured by SANDBOX_* variables. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadSandboxConfig(process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = pino({ name: 'caac-sandbox', base: undefined });
  const sandbox = await startSandbox(config);
  logger.info({ url: sandbox.url, testApi: config.testApi, ratePerWindow: config.ratePerWindow, rateWindowMs: config.rateWindowMs }, 'CAAC sandbox listening');
  const stop = () => {
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: Error) => {
  process.stderr.write(`sandbox failed to start: ${error.message}\n`);
  process.exit(1);
});
