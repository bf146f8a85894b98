import type { DataSource } from 'typeorm';

/** The tables whose dead rows only autovacuum reclaims: the service churns them and never vacuums them itself. */
export const CHURNED_TABLES = ['pending_change', 'import_batch_item', 'pending_contact_count', 'contact_state'] as const;

/** Postgres's spellings of a false boolean in a setting or storage parameter. */
const OFF = new Set(['off', 'false', 'no', '0']);

/**
 * What an operator must hear when dead rows of the churned tables will not be reclaimed: autovacuum
 * off for the whole server, or for some of those tables (`autovacuum_enabled = false`). Undefined
 * when autovacuum runs on all of them. `reloptions`: each table's storage parameters (`name=value`).
 */
export function autovacuumWarning(server: string, reloptions: Record<string, string[] | null>): string | undefined {
  const disabled = CHURNED_TABLES.filter((table) =>
    (reloptions[table] ?? []).some((option) => {
      const [name, value = ''] = option.split('=');
      return name === 'autovacuum_enabled' && OFF.has(value.toLowerCase());
    }),
  );
  const off = OFF.has(server.toLowerCase());
  if (!off && disabled.length === 0) return undefined;
  const tables = off ? CHURNED_TABLES.join(', ') : disabled.join(', ');
  return (
    `autovacuum is off ${off ? 'on this Postgres server' : `for ${tables}`}: ${tables} keep every dead row version of every ` +
    'import and claim until someone runs VACUUM, so they grow without end and claims slow down; ' +
    (off ? 'turn autovacuum on (the server default), or run VACUUM on them on a schedule' : 'reset autovacuum_enabled on them')
  );
}

/** Reads the server's autovacuum setting and the churned tables' storage parameters; see autovacuumWarning. */
export async function checkAutovacuum(dataSource: DataSource): Promise<string | undefined> {
  const [server]: Array<{ autovacuum: string }> = await dataSource.query(`SELECT current_setting('autovacuum') AS autovacuum`);
  const tables: Array<{ relname: string; reloptions: string[] | null }> = await dataSource.query(
    `SELECT c.relname, c.reloptions FROM pg_class c
      WHERE c.relname = ANY($1::text[]) AND c.relkind = 'r' AND c.relnamespace = current_schema()::regnamespace`,
    [CHURNED_TABLES],
  );
  return autovacuumWarning(server!.autovacuum, Object.fromEntries(tables.map((table) => [table.relname, table.reloptions])));
}
