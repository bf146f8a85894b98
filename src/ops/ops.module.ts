import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
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
import { ReadinessProbe } from './readiness.probe';
import { SchemaRegistryHealth } from './schema-registry.health';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), IngestModule, ImporterModule, ExportModule],
  controllers: [HealthController, MetricsController],
  providers: [BrokerProbe, PostgresHealth, KafkaHealth, ConsumerHealth, ConsumerLag, LivenessProbe, ReadinessProbe, SchemaRegistryHealth, OpsMetricsCollector, PendingCountCompactor],
})
export class OpsModule {}
