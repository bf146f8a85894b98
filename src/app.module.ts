import { type DynamicModule, Global, type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from './config/app-config';
import { systemClock, CLOCK } from './common/clock';
import type { Logger } from './common/logger';
import { LOGGER } from './common/nest-logger';
import { KeyedHash } from './common/keyed-hash';
import { KafkaAdapter } from './kafka/kafka.adapter';
import { CaacModule } from './caac/caac.module';
import { DeadLetterModule } from './dead-letter/dead-letter.module';
import { ErasureModule } from './erasure/erasure.module';
import { IngestModule } from './ingest/ingest.module';
import { Metrics } from './telemetry/metrics';
import { OpsModule } from './ops/ops.module';
import { ReconcileModule } from './reconcile/reconcile.module';
import { StoreModule } from './store/store.module';
import { AccessLogModule } from './http/access-log.module';
import { AdminAuditMiddleware } from './http/admin-audit.middleware';
import { ManagementServer } from './http/management-server';

/** What every part of the service may inject: configuration, logger, clock, keyed hashes, the Kafka adapter. */
@Global()
@Module({})
class CoreModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: CoreModule,
      providers: [
        { provide: APP_CONFIG, useValue: config },
        { provide: LOGGER, useValue: logger },
        { provide: CLOCK, useValue: systemClock },
        { provide: KeyedHash, useValue: new KeyedHash(config.auditHashKey) },
        { provide: Metrics, useFactory: () => new Metrics() },
        {
          provide: KafkaAdapter,
          useFactory: () => new KafkaAdapter({ brokers: config.kafka.brokers, clientId: config.kafka.clientId, security: config.kafka.security }, logger),
        },
      ],
      exports: [APP_CONFIG, LOGGER, CLOCK, KeyedHash, Metrics, KafkaAdapter],
    };
  }
}

@Module({})
export class AppModule implements NestModule {
  static forRoot(config: AppConfig, logger: Logger): DynamicModule {
    return {
      module: AppModule,
      imports: [CoreModule.forRoot(config, logger), AccessLogModule.forRoot(logger), StoreModule, CaacModule, IngestModule, DeadLetterModule, OpsModule, ReconcileModule, ErasureModule],
      providers: [AdminAuditMiddleware, ManagementServer],
    };
  }

  configure(consumer: MiddlewareConsumer): void {
    consumer.apply(AdminAuditMiddleware).forRoutes({ path: 'admin/*path', method: RequestMethod.ALL });
  }
}
