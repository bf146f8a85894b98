import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { AppConfig } from './config/app-config';
import type { Logger } from './common/logger';
import { NestPinoLogger } from './common/nest-logger';
import { AppModule } from './app.module';
import { hardenHttpServer } from './http/http-server';
import { ChangeConsumer } from './ingest/change-consumer.service';
import { KafkaBatchTransport } from './kafka/kafka-batch.transport';
import { serveOpenApi } from './http/openapi';

/**
 * Builds the whole service, listens on HTTP (when `listen` is given) and starts its Kafka consumer;
 * `main.ts` and the end-to-end tests start it the same way. A hybrid application: the consumer is a
 * Nest transport.
 */
export async function createApp(config: AppConfig, logger: Logger, listen?: { port: number; host: string }): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config, logger), {
    logger: new NestPinoLogger(logger),
    abortOnError: false,
    bodyParser: true,
  });
  app.enableShutdownHooks();
  hardenHttpServer(app);
  serveOpenApi(app);
  app.connectMicroservice({ strategy: new KafkaBatchTransport(() => app.get(ChangeConsumer).createBatchConsumer()) });
  // The bootstrap hooks first (source topics checked, dead-letter producer ready), then the HTTP
  // port, then the consumer: a second instance on a busy port dies before it joins the group,
  // instead of making the group rebalance twice on its way in and out.
  await app.init();
  if (listen) await app.listen(listen.port, listen.host);
  await app.startAllMicroservices();
  return app;
}
