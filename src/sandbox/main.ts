import { loadSandboxConfig, type SandboxConfig } from './sandbox.config';
import { createSandboxLogger } from './sandbox.logger';
import { startSandbox } from './sandbox.server';

/** `npm run sandbox`: the CAAC Profile API sandbox, configured by SANDBOX_* variables. */
async function main(): Promise<void> {
  let config: SandboxConfig;
  try {
    config = loadSandboxConfig(process.env);
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  }
  const logger = createSandboxLogger(config.logLevel);
  const sandbox = await startSandbox(config);
  logger.info(
    { url: sandbox.url, testApi: config.testApi, ratePerWindow: config.ratePerWindow, rateWindowMs: config.rateWindowMs, maxRows: config.maxRows },
    'CAAC sandbox listening',
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'CAAC sandbox stopping');
    void sandbox.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((error: Error) => {
  process.stderr.write(`CAAC sandbox failed to start: ${error.message}\n`);
  process.exit(1);
});
