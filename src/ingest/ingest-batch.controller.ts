import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, EventPattern, Payload } from '@nestjs/microservices';
import type { BatchContext, ConsumedBatch } from '../kafka/batch-consumer';
import { INGEST_BATCH_PATTERN, PassThroughRpcFilter } from '../kafka/kafka-batch.transport';
import { ChangeConsumer } from './change-consumer.service';

/** Binds the ingest of a partition's batch to the Kafka batch transport, the Nest way. */
@Controller()
@UseFilters(PassThroughRpcFilter)
export class IngestBatchController {
  constructor(private readonly consumer: ChangeConsumer) {}

  /** Resolves once the batch and its offset are durable in Postgres; rejects to read it again. */
  @EventPattern(INGEST_BATCH_PATTERN)
  stage(@Payload() batch: ConsumedBatch, @Ctx() context: BatchContext): Promise<void> {
    return this.consumer.stageWithRetry(batch, context);
  }
}
