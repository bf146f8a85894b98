import { cdcSlotState } from './cdc-slot';
import type { CliContext } from './cli-context';

/** A status call that takes longer than this fails: the service is up or it is not. */
const STATUS_HTTP_TIMEOUT_MS = 10_000;
/** The last imports shown. */
const STATUS_IMPORTS_SHOWN = 5;

export interface StatusReport {
  service: string;
  ready: boolean;
  backlog: Array<{ key_type: string; pending_contacts: number; oldest_age_ms: number | null }>;
  lag: Array<{ topic: string; partition: number; lag: number }>;
  consumer: unknown;
  importer: { role?: string; inFlight?: unknown; breaker?: unknown; refused?: unknown } | null;
  imports: Array<Record<string, unknown>>;
  /** The last export, when the service has the export API; null when none ran or there is none. */
  lastExport: Record<string, unknown> | null;
  warnings: string[];
}

/**
 * The running service's state as an operator needs it: readiness, backlog by key type, consumer lag
 * per source partition (from the broker), the in-flight import and the last ones, the last export.
 * The service answers over its admin API (`url`, ADMIN_TOKEN); the lag comes from Kafka directly.
 */
export async function status(context: CliContext, url: string, cdc?: { databaseUrl: string; slot: string }): Promise<StatusReport> {
  const adminToken = context.adminToken();
  const { groupId, sourceTopics } = context.topics();
  const get = async (path: string, admin = true): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(`${url}${path}`, {
      headers: admin ? { authorization: `Bearer ${adminToken}` } : {},
      signal: AbortSignal.timeout(STATUS_HTTP_TIMEOUT_MS),
    });
    return { status: response.status, body: await response.json().catch(() => null) };
  };
  const warnings: string[] = [];
  const [health, backlog, imports, exports, lag] = await Promise.all([
    get('/health/ready', false),
    get('/admin/backlog'),
    get(`/admin/imports?limit=${STATUS_IMPORTS_SHOWN}`),
    get('/admin/exports?limit=1'),
    context.kafka().consumerLag(groupId, sourceTopics.map((source) => source.topic)),
  ]);
  if (backlog.status === 401) throw new Error(`${url} refused ADMIN_TOKEN (401): is this the service of this environment?`);
  if (backlog.status !== 200) throw new Error(`${url}/admin/backlog answered ${backlog.status}`);
  const details = ((health.body as { details?: Record<string, { status: string } & Record<string, unknown>> } | null)?.details ?? {});
  const importer = details.importer ?? null;
  if (health.status !== 200) warnings.push(`not ready: ${Object.entries(details).filter(([, d]) => d.status !== 'up').map(([name, d]) => `${name} (${String(d.message ?? 'down')})`).join(', ') || health.status}`);
  if (cdc) {
    const slot = await cdcSlotState(cdc.databaseUrl, cdc.slot).catch((error: Error) => {
      warnings.push(`could not check the CDC replication slot ${cdc.slot}: ${error.message}`);
      return undefined;
    });
    if (slot && !slot.active) {
      warnings.push(
        `the CDC replication slot ${slot.slot} is inactive and holds ${Math.round(slot.retainedWalBytes / 1_048_576)} MiB of WAL on the CRM database, ` +
          'more every minute: start the connector, or drop the slot (docker/connect.sh reset)',
      );
    }
  }
  const exportList = exports.status === 200 ? ((exports.body as { exports?: Array<Record<string, unknown>> }).exports ?? []) : [];
  return {
    service: url,
    ready: health.status === 200,
    backlog: (backlog.body as { key_types: StatusReport['backlog'] }).key_types,
    lag: lag.map((p) => ({ topic: p.topic, partition: p.partition, lag: Number(p.lag) })),
    consumer: details.kafka?.consumer ?? null,
    importer: importer && { role: importer.role as string, inFlight: importer.inFlight, breaker: importer.breaker, refused: importer.refused },
    imports: (imports.body as { imports?: Array<Record<string, unknown>> } | null)?.imports ?? [],
    lastExport: exportList[0] ?? null,
    warnings,
  };
}

/** The report as lines for a terminal. */
export function formatStatus(report: StatusReport): string[] {
  const lines = [`service   ${report.service}  ${report.ready ? 'ready' : 'NOT READY'}`];
  lines.push('backlog   ' + (report.backlog.filter((b) => b.pending_contacts > 0).map((b) => `${b.key_type}: ${b.pending_contacts} (oldest ${b.oldest_age_ms === null ? '-' : `${Math.round(b.oldest_age_ms / 1000)} s`})`).join(', ') || 'empty'));
  const lagByTopic = new Map<string, number>();
  for (const p of report.lag) lagByTopic.set(p.topic, (lagByTopic.get(p.topic) ?? 0) + p.lag);
  lines.push('lag       ' + ([...lagByTopic].map(([topic, lag]) => `${topic}: ${lag}`).join(', ') || '-'));
  lines.push(`importer  ${report.importer?.role ?? '-'}; in flight: ${report.importer?.inFlight ? JSON.stringify(report.importer.inFlight) : 'none'}`);
  lines.push('imports   ' + (report.imports.length === 0 ? 'none yet' : ''));
  for (const batch of report.imports) lines.push(`  #${String(batch.id)} ${String(batch.status)} ${String(batch.key_type)} rows=${String(batch.rows)} finished=${String(batch.finished_at ?? '-')}`);
  lines.push(`export    ${report.lastExport ? JSON.stringify(report.lastExport) : 'none'}`);
  for (const warning of report.warnings) lines.push(`WARNING   ${warning}`);
  return lines;
}
