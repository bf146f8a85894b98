import 'reflect-metadata';
import { ConfigError, loadConfig } from './config/app-config';
import { createLogger } from './common/logger';
import { createApp, listeningPorts } from './app.factory';
import { loadEnvFileOrExit } from './config/env-file';

// Before anything reads the environment: settings in .env, under those already set.
loadEnvFileOrExit();

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const app = await createApp(config, logger, { port: config.http.port, host: config.http.host });
  // Nest runs the shutdown hooks on SIGTERM/SIGINT (stop consuming, finish the transaction in
  // hand, leave in-flight tasks recorded); this bounds them, so a stuck dependency cannot keep a
  // stopping instance alive forever.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      setTimeout(() => {
        logger.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful shutdown timed out; exiting');
        process.exit(1);
      }, config.shutdownTimeoutMs).unref();
    });
  }
  const ports = listeningPorts(app);
  logger.info({ port: ports.http, managementPort: ports.management, topics: config.kafka.sourceTopics.map((t) => t.topic) }, 'caac-profile-sync started');
}

main().catch((error: Error) => {
  process.stderr.write(`caac-profile-sync failed to start: ${error.message}\n`);
  process.exit(1);
});
