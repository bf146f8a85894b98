import type { DataSource } from 'typeorm';
import { ConfigError, isLoopbackHost, loadKafkaConnection, loadVariables, type KafkaSecurityConfig } from '../config/app-config';
import { parseSourceTopics, type SourceTopic } from '../config/source-topic';
import { createLogger, type Logger } from '../common/logger';
import { KafkaAdapter } from '../kafka/kafka.adapter';
import { createDataSource } from '../store/data-source';

/**
 * What a command needs, from the same environment as the service (`.env`, DESIGN §4.5), so the
 * command line reaches the same brokers, with the same TLS and SASL, and the same database. Each
 * part is validated when a command first asks for it, and only it: `cli export` on a laptop needs
 * the service's URL and ADMIN_TOKEN, not the CAAC key or DATABASE_URL. Connections open on first
 * use and close in `close()`.
 */
export class CliContext {
  /** Warnings and errors of the libraries, on stderr: stdout is the command's own output. */
  readonly logger: Logger;
  private kafkaAdapter: KafkaAdapter | undefined;
  private database: DataSource | undefined;
  private connection: { brokers: string[]; clientId: string; security: KafkaSecurityConfig } | undefined;

  constructor(private readonly env: NodeJS.ProcessEnv) {
    this.logger = createLogger({ level: 'warn', name: 'caac-sync-cli', destination: process.stderr });
  }

  /** ADMIN_TOKEN (or ADMIN_TOKEN_FILE): for the commands that call the running service. */
  adminToken(): string {
    return loadVariables(this.env, ['ADMIN_TOKEN']).ADMIN_TOKEN;
  }

  /** The Kafka connection: brokers, client id, TLS and SASL. */
  kafkaConnection(): { brokers: string[]; clientId: string; security: KafkaSecurityConfig } {
    this.connection ??= loadKafkaConnection(this.env);
    return this.connection;
  }

  /** The service's topics and consumer group: SOURCE_TOPICS, DLQ_TOPIC, KAFKA_GROUP_ID. */
  topics(): { sourceTopics: SourceTopic[]; dlqTopic: string; groupId: string } {
    const e = loadVariables(this.env, ['SOURCE_TOPICS', 'DLQ_TOPIC', 'KAFKA_GROUP_ID']);
    const parsed = parseSourceTopics(e.SOURCE_TOPICS);
    if (parsed.problems.length > 0) throw new ConfigError(parsed.problems.map((problem) => `SOURCE_TOPICS: ${problem}`));
    return { sourceTopics: parsed.topics, dlqTopic: e.DLQ_TOPIC, groupId: e.KAFKA_GROUP_ID };
  }

  /** The rules ingest checks events by, so a command refuses what the service would. */
  eventRules(): { defaultPhoneRegion: string; maxMessageBytes: number; maxFutureSkewMs: number } {
    const e = loadVariables(this.env, ['DEFAULT_PHONE_REGION', 'INGEST_MAX_MESSAGE_BYTES', 'MAX_FUTURE_SKEW_MS']);
    return { defaultPhoneRegion: e.DEFAULT_PHONE_REGION, maxMessageBytes: e.INGEST_MAX_MESSAGE_BYTES, maxFutureSkewMs: e.MAX_FUTURE_SKEW_MS };
  }

  kafka(): KafkaAdapter {
    if (!this.kafkaAdapter) {
      const connection = this.kafkaConnection();
      this.kafkaAdapter = new KafkaAdapter({ brokers: connection.brokers, clientId: `${connection.clientId}-cli`, security: connection.security }, this.logger);
    }
    return this.kafkaAdapter;
  }

  async dataSource(): Promise<DataSource> {
    if (!this.database) {
      this.database = createDataSource({ url: loadVariables(this.env, ['DATABASE_URL']).DATABASE_URL, poolMax: 2, applicationName: 'caac-sync-cli' });
      await this.database.initialize();
    }
    return this.database;
  }

  async close(): Promise<void> {
    await this.database?.destroy();
  }
}

/**
 * The running service's base URL from `--url`. ADMIN_TOKEN travels in a header: over plain http
 * anyone on the way reads it, so http is taken only for a loopback host, or when the operator says
 * the network is trusted (`--insecure`).
 */
export function serviceUrl(raw: string, insecure: boolean): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`--url ${raw} is not a URL, e.g. https://caac-sync.internal:3000`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`--url must be an http(s) URL, not ${url.protocol}`);
  if (url.protocol === 'http:' && !isLoopbackHost(url.hostname) && !insecure) {
    throw new Error(`--url ${url.origin} is plain http to another machine: ADMIN_TOKEN would cross the network in clear; use https://, or --insecure on a network you trust`);
  }
  return raw.replace(/\/+$/, '');
}
