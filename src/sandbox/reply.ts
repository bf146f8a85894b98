import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';

/** What a route answers: a JSON or CSV response, or nothing at all (a hang or a dropped socket). */
export type Reply =
  | { kind: 'json'; status: number; body: unknown; headers?: Record<string, string> }
  | { kind: 'csv'; status: number; body: string }
  | { kind: 'csv-stream'; status: number; body: Readable }
  | { kind: 'none' };

export const json = (status: number, body: unknown, headers?: Record<string, string>): Reply => ({ kind: 'json', status, body, headers });
export const NO_REPLY: Reply = { kind: 'none' };

/** Writes the reply; false when the client is gone and nothing could be written. */
export function writeReply(res: ServerResponse, reply: Exclude<Reply, { kind: 'none' }>): boolean {
  if (res.headersSent || res.destroyed) {
    if (reply.kind === 'csv-stream') reply.body.destroy();
    return false;
  }
  if (reply.kind === 'csv-stream') {
    // Chunked: the length of a streamed file is not known before its last row.
    res.writeHead(reply.status, { 'content-type': 'text/csv; charset=utf-8' });
    res.on('close', () => reply.body.destroy());
    reply.body.on('error', () => res.destroy());
    reply.body.pipe(res);
    return true;
  }
  if (reply.kind === 'csv') {
    res.writeHead(reply.status, { 'content-type': 'text/csv; charset=utf-8', 'content-length': Buffer.byteLength(reply.body) });
    res.end(reply.body);
    return true;
  }
  const text = JSON.stringify(reply.body);
  res.writeHead(reply.status, { ...reply.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
  return true;
}
