import { NestFactory } from '@nestjs/core';
import type { INestApplication } from '@nestjs/common';
import type { AppConfig } from './config/app-config';
import type { Logger } from './common/logger';
import { NestPinoLogger } from './common/nest-logger';
import { AppModule } from './app.module';
import { hardenHttpServer } from './http/http-server';
import { serveOpenApi } from './http/openapi';

/** Builds the whole service; `main.ts` and the end-to-end tests start it the same way. */
export async function createApp(config: AppConfig, logger: Logger): Promise<INestApplication> {
  const app = await NestFactory.create(AppModule.forRoot(config, logger), {
    logger: new NestPinoLogger(logger),
    abortOnError: false,
    bodyParser: true,
  });
  app.enableShutdownHooks();
  hardenHttpServer(app);
  serveOpenApi(app);
  return app;
}
