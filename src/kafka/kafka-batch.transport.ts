import { type ArgumentsHost, Catch, type RpcExceptionFilter } from '@nestjs/common';
import { type CustomTransportStrategy, Server } from '@nestjs/microservices';
import { lastValueFrom, type Observable, throwError } from 'rxjs';
import type { BatchConsumer, BatchContext, ConsumedBatch } from './batch-consumer';

/** The pattern of the one handler this transport feeds: a partition's batch, to be made durable. */
export const INGEST_BATCH_PATTERN = 'caac-sync.ingest.batch';

/**
 * The batch consumer as a Nest transport strategy (`app.connectMicroservice({ strategy })`): Nest
 * starts it with the application and stops it on close, and the handler is bound with
 * `@EventPattern(INGEST_BATCH_PATTERN)`. Nest's own Kafka transport hands over one message at a
 * time and commits on its own; this one hands over whole batches and leaves offsets to the
 * handler's transaction, with the lanes and pausing of BatchConsumer exactly as they are.
 */
export class KafkaBatchTransport extends Server implements CustomTransportStrategy {
  private consumer: BatchConsumer | undefined;

  /** `create` builds the consumer when Nest starts the transport, after the application's bootstrap hooks. */
  constructor(private readonly create: () => BatchConsumer) {
    super();
  }

  listen(callback: (error?: unknown) => void): void {
    const handler = this.getHandlerByPattern(INGEST_BATCH_PATTERN);
    if (!handler) {
      callback(new Error(`no handler is bound to ${INGEST_BATCH_PATTERN}`));
      return;
    }
    const consumer = this.create();
    this.consumer = consumer;
    consumer
      .start(async (batch: ConsumedBatch, context: BatchContext) => {
        // Resolving means the batch is durable (BatchConsumer's contract): wait for the handler's
        // whole result, and let its error through as it is, so the partition is read again.
        await lastValueFrom(this.transformToObservable(await handler(batch, context)), { defaultValue: undefined });
      })
      .then(() => callback(), callback);
  }

  /** Stops fetching and waits for the batches in hand to finish their transactions. */
  async close(): Promise<void> {
    await this.consumer?.stop();
  }

  on(): never {
    throw new Error('KafkaBatchTransport has no events to listen to');
  }

  unwrap<T>(): T {
    return this.consumer as T;
  }
}

/**
 * Hands a handler's error to the transport unchanged. Nest's default filter would replace it
 * with `{ status: 'error', message: 'Internal server error' }`, hiding what failed from the
 * consumer's log and its retry decision.
 */
@Catch()
export class PassThroughRpcFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => exception);
  }
}
