import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { CONSUMER_STATUS } from './consumer-status';
import { Metrics } from '../telemetry/metrics';
import { ChangeConsumer } from './change-consumer.service';
import { IngestBatchController } from './ingest-batch.controller';
import { SchemasController } from './schemas.controller';
import { TopicDecoders } from './topic-decoders';

@Module({
  controllers: [SchemasController, IngestBatchController],
  providers: [
    {
      provide: TopicDecoders,
      inject: [APP_CONFIG, LOGGER, Metrics],
      useFactory: (config: AppConfig, logger: Logger, metrics: Metrics) => new TopicDecoders(config, { logger, metrics }),
    },
    ChangeConsumer,
    { provide: CONSUMER_STATUS, useExisting: ChangeConsumer },
  ],
  exports: [CONSUMER_STATUS, ChangeConsumer, TopicDecoders],
})
export class IngestModule {}
