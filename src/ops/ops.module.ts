import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ExportModule } from '../export/export.module';
import { ImporterModule } from '../importer/importer.module';
import { IngestModule } from '../ingest/ingest.module';
import { HealthController } from './health.controller';
import { MetricsController } from './metrics.controller';
import { KafkaHealth } from './kafka.health';
import { PostgresHealth } from './postgres.health';

@Module({
  imports: [TerminusModule.forRoot({ logger: false }), IngestModule, ImporterModule, ExportModule],
  controllers: [HealthController, MetricsController],
  providers: [PostgresHealth, KafkaHealth],
})
export class OpsModule {}
