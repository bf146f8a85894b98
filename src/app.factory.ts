import type { Server } from 'node:http';
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
import { ManagementServer } from './http/management-server';
import { HttpExceptionsFilter } from './http/exception.filter';
import { JsonBodyInterceptor } from './http/json-body.interceptor';

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
  app.useGlobalFilters(new HttpExceptionsFilter(logger));
  app.useGlobalInterceptors(new JsonBodyInterceptor());
  hardenHttpServer(app);
  // Before any route, the OpenAPI document's included: it decides which port serves what.
  app.use(app.get(ManagementServer).gate());
  if (config.http.docsEnabled) serveOpenApi(app);
  app.connectMicroservice({ strategy: new KafkaBatchTransport(() => app.get(ChangeConsumer).createBatchConsumer()) });
  // The bootstrap hooks first (source topics checked, dead-letter producer ready), then the HTTP
  // ports, then the consumer: a second instance on a busy port dies before it joins the group,
  // instead of making the group rebalance twice on its way in and out.
  try {
    await app.init();
    if (listen) await listenApp(app, config, listen.port, listen.host);
    await app.startAllMicroservices();
  } catch (error) {
    // What started before the failure (loops, timers, connections, a port) stops with it.
    await app.close().catch(() => undefined);
    throw error;
  }
  return app;
}

/** Listens on HTTP_PORT and, when set, MANAGEMENT_PORT. */
async function listenApp(app: INestApplication, config: AppConfig, port = config.http.port, host = config.http.host): Promise<void> {
  await app.listen(port, host);
  await app.get(ManagementServer).listen();
}

/** The ports a listening application is bound to (HTTP_PORT 0 and MANAGEMENT_PORT 0 pick free ones). */
export function listeningPorts(app: INestApplication): { http: number | undefined; management?: number } {
  const address = (app.getHttpServer() as Server).address();
  const management = app.get(ManagementServer).port();
  return { http: typeof address === 'object' && address ? address.port : undefined, ...(management === undefined ? {} : { management }) };
}
