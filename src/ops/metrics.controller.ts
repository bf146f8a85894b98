import { Controller, Get, Header } from '@nestjs/common';
import { Metrics } from '../telemetry/metrics';
import { OpsMetricsCollector } from './ops-metrics.collector';

@Controller('metrics')
export class MetricsController {
  constructor(
    private readonly metrics: Metrics,
    private readonly collector: OpsMetricsCollector,
  ) {}

  @Get()
  @Header('Content-Type', 'text/plain; version=0.0.4; charset=utf-8')
  async scrape(): Promise<string> {
    await this.collector.collect();
    return this.metrics.registry.metrics();
  }
}
