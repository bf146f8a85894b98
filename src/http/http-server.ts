import type { Server } from 'node:http';
import type { INestApplication } from '@nestjs/common';

// Node's defaults let a client hold a request open for five minutes (requestTimeout 300 s) and send
// headers for a minute. Every route here answers from memory or one short query, so a request
// that takes longer is a slow or hostile client, not work in progress.

/** A whole request (headers and body) must arrive within this. */
export const HTTP_REQUEST_TIMEOUT_MS = 30_000;
/** The request headers must arrive within this (Slowloris). */
export const HTTP_HEADERS_TIMEOUT_MS = 10_000;
/**
 * An idle keep-alive connection is closed after this. It must outlast a load balancer's own idle
 * timeout (60 s on most), or the balancer reuses a socket the service has just closed: a 502.
 */
export const HTTP_KEEP_ALIVE_TIMEOUT_MS = 65_000;

/** Server timeouts, and no `X-Powered-By` header telling a scanner which framework to try. */
export function hardenHttpServer(app: INestApplication): void {
  const server = app.getHttpServer() as Server;
  server.requestTimeout = HTTP_REQUEST_TIMEOUT_MS;
  server.headersTimeout = HTTP_HEADERS_TIMEOUT_MS;
  server.keepAliveTimeout = HTTP_KEEP_ALIVE_TIMEOUT_MS;
  (app.getHttpAdapter().getInstance() as { disable(setting: string): void }).disable('x-powered-by');
}
