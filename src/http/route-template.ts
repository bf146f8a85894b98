import type { IncomingMessage } from 'node:http';

/** What a request that matched no route is logged as: its path may be anything a caller typed. */
export const UNMATCHED_ROUTE = '(no route)';

/**
 * The route a request matched, as its template (`/admin/contacts/:keyType/:keyValue`), never the
 * URL: a path parameter or a query string may hold an e-mail address or a phone number. Express
 * sets `route` once it has matched, and keeps it until the response has finished.
 */
export function routeTemplate(req: IncomingMessage): string {
  const route = (req as IncomingMessage & { route?: { path?: unknown } }).route;
  return typeof route?.path === 'string' ? route.path : UNMATCHED_ROUTE;
}

/** The path parameters of the matched route (Express's `params`), empty before routing. */
export function routeParams(req: IncomingMessage): Record<string, string> {
  const params = (req as IncomingMessage & { params?: Record<string, unknown> }).params;
  if (params === undefined || params === null) return {};
  return Object.fromEntries(Object.entries(params).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
}
