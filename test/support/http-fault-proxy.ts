import { createServer, request as httpRequest, type Server } from 'node:http';

/**
 * An HTTP proxy in front of a real server that can answer one path itself, like a misconfigured
 * gateway or proxy on the way to CAAC: a 404 page for the import path, while the server behind it
 * is fine. Everything else is passed through, headers and body as they are.
 */
export class HttpFaultProxy {
  private server: Server | undefined;
  /** While set, a request to `fault.path` gets `fault.status` with `fault.body` (text/html). */
  fault: { method: string; path: string; status: number; body: string } | undefined;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    const target = new URL(this.target);
    const server = createServer((req, res) => {
      const fault = this.fault;
      if (fault && req.method === fault.method && req.url?.split('?')[0] === fault.path) {
        req.resume();
        res.writeHead(fault.status, { 'content-type': 'text/html' }).end(fault.body);
        return;
      }
      const upstream = httpRequest(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
