import type { EntityManager } from 'typeorm';
import type { KeyType } from '../profile';

/** Dead letters shown per contact: the newest; a contact with more has a deeper problem than a list shows. */
export const STORY_DEAD_LETTERS_MAX = 50;

/** Everything the service knows about one contact, from its own tables, as the admin route shows it. */
export interface ContactStory {
  pending: {
    fields: Record<string, { value: unknown; ts: number; seq: number }>;
    /** The message of the newest staged change; null when only put-backs or requeues staged it. */
    source: { topic: string; partition: number; offset: string } | null;
    firstStagedAt: Date;
    updatedAt: Date;
  } | null;
  inFlight: Array<{ batchId: string; status: string; taskId: string | null; fields: Record<string, { value: unknown; ts: number; seq: number }> }>;
  /** Per field; `value` only where it was kept (imported under DRIFT_POLICY=crm-wins), else the hash alone. */
  sent: Record<string, { value?: unknown; hash: string; ts: number; importedAt: Date | null; learnedFromExport: boolean; batchId: string | null; taskId: string | null; batchFinishedAt: Date | null }>;
  caac: Array<{ contactId: string; fields: Record<string, string>; exportId: string; exportedAt: Date }>;
  drift: Array<{ exportId: string; field: string; sentValue: unknown; sentAt: Date | null; caacValue: string | null }>;
  deadLetters: Array<{ id: string; stage: string; errorClass: string | null; message: string | null; taskId: string | null; createdAt: Date; publishedAt: Date | null }>;
}

type StoredStamped = Record<string, { v: unknown; ts: number | string; seq: number | string }>;
type StoredState = Record<string, { h: string; ts: number | string; seq: number | string; at?: number | string; v?: unknown; l?: boolean; b?: string }>;

function stamped(fields: StoredStamped): Record<string, { value: unknown; ts: number; seq: number }> {
  return Object.fromEntries(Object.entries(fields).map(([field, { v, ts, seq }]) => [field, { value: v, ts: Number(ts), seq: Number(seq) }]));
}

/**
 * Reads one contact's way through the service: pending change, batches in flight, what was sent
 * per field (and by which import), CAAC's row in the latest export, drift, dead letters. Reads
 * only; each part is one indexed lookup except the export table and the outbox, scanned by key.
 */
export class ContactStoryRepository {
  async find(db: EntityManager, keyType: KeyType, keyValue: string): Promise<ContactStory | undefined> {
    const [pendingRows, inFlightRows, stateRows, caacRows, driftRows, letterRows] = await Promise.all([
      db.query(
        `SELECT fields, first_staged_at, updated_at, source_topic, source_partition, source_offset::text AS source_offset
           FROM pending_change WHERE key_type = $1 AND key_value = $2`,
        [keyType, keyValue],
      ) as Promise<
        Array<{
          fields: StoredStamped;
          first_staged_at: Date;
          updated_at: Date;
          source_topic: string | null;
          source_partition: number | null;
          source_offset: string | null;
        }>
      >,
      db.query(
        `SELECT b.id::text AS id, b.status, b.task_id, i.fields FROM import_batch_item i JOIN import_batch b ON b.id = i.batch_id
          WHERE b.key_type = $1 AND i.key_value = $2 AND b.status NOT IN ('done', 'failed') ORDER BY b.id`,
        [keyType, keyValue],
      ) as Promise<Array<{ id: string; status: string; task_id: string | null; fields: StoredStamped }>>,
      db.query(`SELECT fields FROM contact_state WHERE key_type = $1 AND key_value = $2`, [keyType, keyValue]) as Promise<Array<{ fields: StoredState }>>,
      // TRICKY: caac_contact lives in the service's database only when EXPORT_DATABASE_URL is unset.
      db.query(
        `SELECT contact_id, fields, export_id::text AS export_id, exported_at FROM caac_contact
          WHERE to_regclass('caac_contact') IS NOT NULL AND (CASE WHEN $1 = 'display_email' THEN lower(btrim(fields->>$1)) ELSE fields->>$1 END) = $2`,
        [keyType, keyValue],
      ).catch(() => []) as Promise<Array<{ contact_id: string; fields: Record<string, string>; export_id: string; exported_at: Date }>>,
      db.query(
        `SELECT export_id::text AS export_id, field, sent_value, sent_at, caac_value FROM contact_drift WHERE key_type = $1 AND key_value = $2 ORDER BY field`,
        [keyType, keyValue],
      ) as Promise<Array<{ export_id: string; field: string; sent_value: unknown; sent_at: Date | null; caac_value: string | null }>>,
      // Import dead letters are keyed `keyType:keyValue`; ingest ones by the message's own key.
      db.query(
        `SELECT id::text AS id, stage, headers, created_at, published_at FROM dead_letter_outbox
          WHERE message_key = convert_to($1 || ':' || $2, 'UTF8') OR message_key = convert_to($2, 'UTF8')
          ORDER BY id DESC LIMIT ${STORY_DEAD_LETTERS_MAX}`,
        [keyType, keyValue],
      ) as Promise<Array<{ id: string; stage: string; headers: Record<string, string>; created_at: Date; published_at: Date | null }>>,
    ]);
    const state = stateRows[0]?.fields ?? {};
    if (pendingRows.length === 0 && inFlightRows.length === 0 && stateRows.length === 0 && letterRows.length === 0) return undefined;

    const batchIds = [...new Set(Object.values(state).flatMap((entry) => (entry.b === undefined ? [] : [String(entry.b)])))];
    const batches: Array<{ id: string; task_id: string | null; finished_at: Date | null }> =
      batchIds.length === 0 ? [] : await db.query(`SELECT id::text AS id, task_id, finished_at FROM import_batch WHERE id = ANY($1::bigint[])`, [batchIds]);
    const batchById = new Map(batches.map((batch) => [batch.id, batch]));

    const sent: ContactStory['sent'] = {};
    for (const [field, entry] of Object.entries(state)) {
      const batch = entry.b === undefined ? undefined : batchById.get(String(entry.b));
      sent[field] = {
        ...('v' in entry ? { value: entry.v } : {}),
        hash: entry.h,
        ts: Number(entry.ts),
        importedAt: entry.at === undefined ? null : new Date(Number(entry.at)),
        learnedFromExport: entry.l === true,
        batchId: batch?.id ?? null,
        taskId: batch?.task_id ?? null,
        batchFinishedAt: batch?.finished_at ?? null,
      };
    }
    const pending = pendingRows[0];
    return {
      pending: pending
        ? {
            fields: stamped(pending.fields),
            source:
              pending.source_topic === null ? null : { topic: pending.source_topic, partition: pending.source_partition!, offset: pending.source_offset! },
            firstStagedAt: pending.first_staged_at,
            updatedAt: pending.updated_at,
          }
        : null,
      inFlight: inFlightRows.map((row) => ({ batchId: row.id, status: row.status, taskId: row.task_id, fields: stamped(row.fields) })),
      sent,
      caac: caacRows.map((row) => ({ contactId: row.contact_id, fields: row.fields, exportId: row.export_id, exportedAt: row.exported_at })),
      drift: driftRows.map((row) => ({ exportId: row.export_id, field: row.field, sentValue: row.sent_value, sentAt: row.sent_at, caacValue: row.caac_value })),
      deadLetters: letterRows.map((row) => ({
        id: row.id,
        stage: row.stage,
        errorClass: row.headers['caac-sync.errors.class'] ?? null,
        message: row.headers['caac-sync.errors.message'] ?? null,
        taskId: row.headers['caac-sync.errors.task_id'] ?? null,
        createdAt: row.created_at,
        publishedAt: row.published_at,
      })),
    };
  }
}
