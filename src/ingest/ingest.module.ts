import { Module } from '@nestjs/common';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CONSUMER_STATUS } from '../ops/kafka.health';
import { ChangeConsumer } from './change-consumer.service';
import { IngestBatchController } from './ingest-batch.controller';
import { SchemasController } from './schemas.controller';
import { TopicDecoders } from './topic-decoders';

@Module({
  controllers: [SchemasController, IngestBatchController],
  providers: [
    { provide: TopicDecoders, inject: [APP_CONFIG], useFactory: (config: AppConfig) => new TopicDecoders(config) },
    ChangeConsumer,
    { provide: CONSUMER_STATUS, useExisting: ChangeConsumer },
  ],
  exports: [CONSUMER_STATUS, ChangeConsumer, TopicDecoders],
})
export class IngestModule {}
