import { Global, Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CLOCK, type Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { Metrics } from '../telemetry/metrics';
import { CaacClient } from './caac.client';

/** Bounded retries of one call: with full jitter the last wait is at most RETRY_MAX_DELAY_MS. */
const RETRY_MAX_ATTEMPTS = 6;
const RETRY_BASE_DELAY_MS = 500;
const RETRY_MAX_DELAY_MS = 30_000;
/** The breaker opens when half of at least 5 calls in 30 s failed on CAAC's side (CAAC_BREAKER_RESET_MS to a retry). */
const BREAKER = { errorThresholdPercentage: 50, volumeThreshold: 5, rollingCountTimeoutMs: 30_000 };

@Global()
@Module({
  providers: [
    {
      provide: CaacClient,
      inject: [APP_CONFIG, CLOCK, LOGGER, Metrics],
      useFactory: (config: AppConfig, clock: Clock, logger: Logger, metrics: Metrics) => {
        const client = new CaacClient(
          {
            baseUrl: config.caac.baseUrl,
            apiKey: config.caac.apiKey,
            importRate: { requests: config.caac.importRatePerWindow, windowMs: config.caac.rateWindowMs, burst: 1 },
            statusRate: { requests: config.caac.statusRatePerMin, windowMs: 60_000 },
            maxRows: config.caac.importMaxRows,
            requestTimeoutMs: config.caac.requestTimeoutMs,
            retry: { maxAttempts: RETRY_MAX_ATTEMPTS, baseDelayMs: RETRY_BASE_DELAY_MS, maxDelayMs: RETRY_MAX_DELAY_MS },
            breaker: { ...BREAKER, resetTimeoutMs: config.caac.breakerResetMs },
          },
          clock,
          logger,
        );
        client.on('response', ({ endpoint, status, durationMs }) => metrics.observeCaacResponse(endpoint, status, durationMs));
        client.on('waited', ({ bucket, waitMs }) => metrics.caacTokenWaitSeconds.observe({ bucket }, waitMs / 1000));
        client.on('breaker', (state) => metrics.caacBreakerOpen.set(state === 'open' ? 1 : state === 'half_open' ? 0.5 : 0));
        return client;
      },
    },
  ],
  exports: [CaacClient],
})
export class CaacModule {}

