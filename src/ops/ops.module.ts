import { Inject, Module, type OnApplicationShutdown } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import type { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { ExportModule } from '../export/export.module';
import { ImporterModule } from '../importer/importer.module';
import { IngestModule } from '../ingest/ingest.module';
import { BrokerProbe } from './broker.probe';
import { ConsumerLag } from './consumer-lag';
import { HealthController } from './health.controller';
import { ConsumerHealth, KafkaHealth } from './kafka.health';
import { LivenessProbe } from './liveness.probe';
import { MetricsController } from './metrics.controller';
import { OpsMetricsCollector } from './ops-metrics.collector';
import { PendingCountCompactor } from './pending-count.compactor';
import { PostgresHealth } from './postgres.health';
import { createProbeDataSource, PROBE_DATA_SOURCE } from './probe-data-source';
import { ReadinessProbe } from './readiness.probe';
import { SchemaRegistryHealth } from './schema-registry.health';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), IngestModule, ImporterModule, ExportModule],
  controllers: [HealthController, MetricsController],
  providers: [
    { provide: PROBE_DATA_SOURCE, inject: [APP_CONFIG], useFactory: (config: AppConfig) => createProbeDataSource(config.database.url) },
    BrokerProbe,
    PostgresHealth,
    KafkaHealth,
    ConsumerHealth,
    ConsumerLag,
    LivenessProbe,
    ReadinessProbe,
    SchemaRegistryHealth,
    OpsMetricsCollector,
    PendingCountCompactor,
  ],
})
export class OpsModule implements OnApplicationShutdown {
  constructor(@Inject(PROBE_DATA_SOURCE) private readonly probeDataSource: DataSource) {}

  async onApplicationShutdown(): Promise<void> {
    if (this.probeDataSource.isInitialized) await this.probeDataSource.destroy();
  }
}
