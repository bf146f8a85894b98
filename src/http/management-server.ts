import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { HTTP_HEADERS_TIMEOUT_MS, HTTP_KEEP_ALIVE_TIMEOUT_MS, HTTP_REQUEST_TIMEOUT_MS } from './http-server';

/** The routes of the management port: probes, metrics and the OpenAPI document (/docs, /docs-json). */
const MANAGEMENT_PATH = /^\/(health|metrics|docs)(?=[/?-]|$)/;

export function isManagementPath(url: string): boolean {
  return MANAGEMENT_PATH.test(url);
}

/**
 * The second listener of MANAGEMENT_PORT: the same application, so probes and metrics read the
 * same state, with a gate in front of the routes that serves management routes only there and
 * every other route only on HTTP_PORT. An orchestrator and Prometheus can then reach health and
 * metrics on a port opened to the cluster while admin stays on one that is not.
 */
@Injectable()
export class ManagementServer implements BeforeApplicationShutdown {
  private server: Server | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly adapter: HttpAdapterHost,
  ) {}

  /** The port listened on; undefined when MANAGEMENT_PORT is not set (or not yet listening). */
  port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  /**
   * Express middleware: a management route asked on HTTP_PORT, or any other route on the
   * management port, is a 404, as if it did not exist there. Without MANAGEMENT_PORT it passes all.
   */
  gate(): (req: IncomingMessage, res: ServerResponse, next: () => void) => void {
    return (req, res, next) => {
      if (!this.config.http.management) return next();
      const onManagement = this.server !== undefined && req.socket.localPort === this.port();
      if (onManagement === isManagementPath(req.url ?? '/')) return next();
      res.statusCode = 404;
      res.setHeader('Content-Type', 'application/json; charset=utf-8');
      res.end(JSON.stringify({ statusCode: 404, error: 'Not Found', message: 'not served on this port' }));
    };
  }

  /** Starts listening on MANAGEMENT_PORT, when set; resolves with the port. */
  async listen(): Promise<number | undefined> {
    const management = this.config.http.management;
    if (!management) return undefined;
    const server = createServer(this.adapter.httpAdapter.getInstance());
    server.requestTimeout = HTTP_REQUEST_TIMEOUT_MS;
    server.headersTimeout = HTTP_HEADERS_TIMEOUT_MS;
    server.keepAliveTimeout = HTTP_KEEP_ALIVE_TIMEOUT_MS;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(management.port, management.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return this.port();
  }

  async beforeApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
  }
}
