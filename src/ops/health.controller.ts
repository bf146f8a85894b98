import { Controller, Get, ServiceUnavailableException } from '@nestjs/common';
import { LivenessProbe, type LivenessResult } from './liveness.probe';
import { ReadinessProbe, type ReadinessResult } from './readiness.probe';

/**
 * Probes for an orchestrator. A failing probe answers 503 with the failing checks and a reason
 * category for each (never a driver's message): liveness asks for a restart, readiness for
 * traffic and attention to stop.
 */
@Controller('health')
export class HealthController {
  constructor(
    private readonly liveness: LivenessProbe,
    private readonly readiness: ReadinessProbe,
  ) {}

  /** The process does its work: restart it when this fails. Waits on no dependency. */
  @Get('live')
  live(): LivenessResult {
    const result = this.liveness.check();
    if (result.status !== 'ok') throw new ServiceUnavailableException(result);
    return result;
  }

  /** Postgres, the broker, the consumer's group and partitions, the importer; see ReadinessProbe. */
  @Get('ready')
  async ready(): Promise<ReadinessResult> {
    const result = await this.readiness.check();
    if (result.status !== 'ok') throw new ServiceUnavailableException(result);
    return result;
  }
}
