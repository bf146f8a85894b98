import type { DataSource } from 'typeorm';
import { createDataSource } from '../store/data-source';

/**
 * The Postgres pool of health and metrics, apart from the pipeline's: a probe storm (a scrape loop,
 * an Ingress sending every request to the pod) then waits on these connections only, and ingest
 * and imports keep theirs.
 */
export const PROBE_DATA_SOURCE = Symbol('ProbeDataSource');

/** Connections of the probe pool: the probes' few reads are cached and single-flight. */
export const PROBE_POOL_MAX = 2;
/**
 * The server cancels a probe's statement after this, so a slow one is ended, not left running
 * behind a caller that stopped waiting; every probe read is an index probe or a counter sum.
 */
export const PROBE_STATEMENT_TIMEOUT_MS = 1_500;
/** A probe waits this long for a connection, free or new, before it counts Postgres as down. */
export const PROBE_CONNECT_TIMEOUT_MS = 2_000;
/** Probe answers read from Postgres are shared for this long (see CachedRead). */
export const PROBE_CACHE_MS = 5_000;

export async function createProbeDataSource(url: string): Promise<DataSource> {
  const dataSource = createDataSource({
    url,
    poolMax: PROBE_POOL_MAX,
    applicationName: 'caac-sync-probe',
    statementTimeoutMs: PROBE_STATEMENT_TIMEOUT_MS,
    connectTimeoutMs: PROBE_CONNECT_TIMEOUT_MS,
  });
  await dataSource.initialize();
  return dataSource;
}
