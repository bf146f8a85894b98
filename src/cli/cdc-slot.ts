import { Client } from 'pg';

/** A check of the CRM's Postgres must not hold up `status`. */
const CDC_SLOT_CHECK_TIMEOUT_MS = 5_000;

export interface CdcSlotState {
  slot: string;
  active: boolean;
  /** WAL the slot keeps from being removed, in bytes. */
  retainedWalBytes: number;
}

/**
 * The CDC connector's replication slot on the CRM's Postgres, or undefined when there is none.
 * TRICKY: an inactive slot keeps every WAL segment from its restart point on, forever: a stopped
 * connector (or a demo left behind) fills the CRM database's disk.
 */
export async function cdcSlotState(crmDatabaseUrl: string, slot: string): Promise<CdcSlotState | undefined> {
  const client = new Client({ connectionString: crmDatabaseUrl, connectionTimeoutMillis: CDC_SLOT_CHECK_TIMEOUT_MS, statement_timeout: CDC_SLOT_CHECK_TIMEOUT_MS, application_name: 'caac-sync-cli' });
  await client.connect();
  try {
    const { rows } = await client.query<{ active: boolean; retained: string | null }>(
      `SELECT active, pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text AS retained FROM pg_replication_slots WHERE slot_name = $1`,
      [slot],
    );
    const row = rows[0];
    return row && { slot, active: row.active, retainedWalBytes: Number(row.retained ?? 0) };
  } finally {
    await client.end();
  }
}
