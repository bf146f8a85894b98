import type { IncomingMessage } from 'node:http';
import { HttpError } from './http-error';

export const EMPTY_BODY = Symbol('empty body');

function tooLarge(maxBytes: number): HttpError {
  // The connection is closed after the answer: the rest of the body is never read.
  return new HttpError(413, `the request body is larger than ${maxBytes} bytes`, { connection: 'close' });
}

/**
 * Reads a JSON body of at most `maxBytes`, refusing a larger one (413) as soon as its declared or
 * received size says so, without reading the rest. An empty body gives EMPTY_BODY; text that is
 * not JSON gives 400.
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge(maxBytes);
  const body = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    // TRICKY: an async iterator over req would destroy the socket on an early exit, and with it
    // the chance to answer 413; pausing keeps the socket for the answer.
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= maxBytes) {
        chunks.push(chunk);
        return;
      }
      stop();
      req.pause();
      reject(tooLarge(maxBytes));
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error) => {
      stop();
      reject(error);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
  const text = body.toString('utf8');
  if (text.trim() === '') return EMPTY_BODY;
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new HttpError(400, `the request body is not valid JSON: ${(error as Error).message}`);
  }
}
