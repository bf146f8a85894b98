import { Controller, Get } from '@nestjs/common';
import { HealthCheck, HealthCheckService } from '@nestjs/terminus';
import { ExportHealth } from '../export/export.health';
import { ImporterHealth } from '../importer/importer.health';
import { KafkaHealth } from './kafka.health';
import { PostgresHealth } from './postgres.health';

@Controller('health')
export class HealthController {
  constructor(
    private readonly health: HealthCheckService,
    private readonly postgres: PostgresHealth,
    private readonly kafka: KafkaHealth,
    private readonly importer: ImporterHealth,
    private readonly exporter: ExportHealth,
  ) {}

  /** The process is up and its event loop turns; nothing external is checked. */
  @Get('live')
  live(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /**
   * Ready to do its work: Postgres answers and the Kafka consumer has joined its group. The
   * importer's role, breaker and in-flight batch, and the running export, are in the details,
   * never a reason to be unready.
   */
  @Get('ready')
  @HealthCheck()
  ready() {
    return this.health.check([() => this.postgres.check(), () => this.kafka.check(), () => this.importer.check(), () => this.exporter.check()]);
  }
}
