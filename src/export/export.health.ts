import { Inject, Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { Metrics } from '../telemetry/metrics';
import { ExportRunner } from './export-runner.service';

/**
 * The export's state for readiness details: the running export, the held one, and the age of the
 * newest complete one. Reported, never fatal: a stale or failed export does not stop ingest or imports.
 */
@Injectable()
export class ExportHealth {
  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly indicator: HealthIndicatorService,
    private readonly runner: ExportRunner,
    private readonly metrics: Metrics,
  ) {}

  check(key = 'export'): HealthIndicatorResult {
    const running = this.runner.running();
    const held = this.runner.held();
    const newestAt = this.metrics.newestExportAt;
    const ageMs = newestAt === undefined ? null : Date.now() - newestAt;
    return this.indicator.check(key).up({
      running: running ? { id: running.id, status: running.status, task_id: running.taskId, step: running.step } : null,
      // Held for an operator: nothing was deleted; POST /admin/exports/:id/allow-deletions lets it go on.
      held: held ? { id: held.id, deletions: held.deletions, reason: held.heldReason } : null,
      newest_complete_age_ms: ageMs,
      stale: ageMs !== null && ageMs > this.config.export.maxStalenessMs,
      schedule: this.config.export.schedule ?? null,
    });
  }
}
