import type { CliContext } from './cli-context';

/** An erasure touches a handful of rows per table; a minute covers a slow database and broker. */
const FORGET_HTTP_TIMEOUT_MS = 60_000;

/** The service's answer to POST /admin/contacts/:keyType/:keyValue/forget. */
export interface ForgetResult {
  keys: Array<{ key_type: string; key_value: string }>;
  contact_ids: string[];
  removed: Record<string, number>;
  export_topic_tombstones: number;
  open_import_batches: string[];
  export_running: boolean;
  complete: boolean;
  not_reached: string;
}

/**
 * Asks the running service to erase one person (POST .../forget): the service holds the export
 * database, the topic producer and the audit log, so the erasure is the same wherever it is asked.
 */
export async function forget(context: CliContext, url: string, keyType: string, keyValue: string): Promise<ForgetResult> {
  const path = `/admin/contacts/${encodeURIComponent(keyType)}/${encodeURIComponent(keyValue)}/forget`;
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${context.adminToken()}` },
    signal: AbortSignal.timeout(FORGET_HTTP_TIMEOUT_MS),
  });
  const body: unknown = await response.json().catch(() => null);
  if (response.status === 401) throw new Error(`${url} refused ADMIN_TOKEN (401): is this the service of this environment?`);
  if (response.status !== 200) {
    const message = (body as { message?: unknown } | null)?.message;
    throw new Error(`${url} answered ${response.status}: ${Array.isArray(message) ? message.join('; ') : String(message ?? 'no message')}`);
  }
  return body as ForgetResult;
}

/** The result as lines for a terminal. */
export function formatForget(result: ForgetResult): string[] {
  const [asked, ...others] = result.keys;
  const lines = [
    `forgot ${asked?.key_type} ${asked?.key_value}` +
      (others.length > 0 ? ` and, as the same CAAC contact (${result.contact_ids.join(', ')}), ${others.map((key) => `${key.key_type} ${key.key_value}`).join(', ')}` : ''),
    `removed   ${Object.entries(result.removed).map(([table, rows]) => `${table} ${rows}`).join(', ')}`,
    `tombstones on the export topic: ${result.export_topic_tombstones}`,
  ];
  if (result.open_import_batches.length > 0) lines.push(`INCOMPLETE open import batches ${result.open_import_batches.join(', ')} hold the person: run forget again once they have ended`);
  if (result.export_running) lines.push('INCOMPLETE an export is running and may bring the person back: run forget again once it has ended');
  lines.push(`not reached: ${result.not_reached}`);
  return lines;
}
