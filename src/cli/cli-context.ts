import type { DataSource } from 'typeorm';
import { loadConfig, type AppConfig } from '../config/app-config';
import { createLogger, type Logger } from '../common/logger';
import { KafkaAdapter } from '../kafka/kafka.adapter';
import { createDataSource } from '../store/data-source';

/**
 * What a command needs, built from the same environment as the service (`.env`, DESIGN §4.5), so
 * the command line reaches the same brokers, with the same TLS and SASL, and the same database.
 * Connections open on first use and close in `close()`.
 */
export class CliContext {
  readonly config: AppConfig;
  /** Warnings and errors of the libraries, on stderr: stdout is the command's own output. */
  readonly logger: Logger;
  private kafkaAdapter: KafkaAdapter | undefined;
  private database: DataSource | undefined;

  constructor(env: NodeJS.ProcessEnv) {
    this.config = loadConfig(env);
    this.logger = createLogger({ level: 'warn', name: 'caac-sync-cli', destination: process.stderr });
  }

  kafka(): KafkaAdapter {
    this.kafkaAdapter ??= new KafkaAdapter(
      { brokers: this.config.kafka.brokers, clientId: `${this.config.kafka.clientId}-cli`, security: this.config.kafka.security },
      this.logger,
    );
    return this.kafkaAdapter;
  }

  async dataSource(): Promise<DataSource> {
    if (!this.database) {
      this.database = createDataSource({ url: this.config.database.url, poolMax: 2, applicationName: 'caac-sync-cli' });
      await this.database.initialize();
    }
    return this.database;
  }

  async close(): Promise<void> {
    await this.database?.destroy();
  }
}
