import type { EntityManager } from 'typeorm';
import type { KeyType } from '../profile';
import { decodeStateEntry, type StoredStateEntry } from '../importer/state-entry';

/** Dead letters shown per contact: the newest; a contact with more has a deeper problem than a list shows. */
export const STORY_DEAD_LETTERS_MAX = 50;
/**
 * A story's statements together may take this long: each is an index lookup (milliseconds); more
 * means a lock or an overloaded database, which the caller hears as a 503, never as an empty answer.
 */
export const STORY_STATEMENT_TIMEOUT_MS = 5_000;

/** The story could not be read in time (a lock, an overloaded database): nothing may be concluded from it. */
export class StoryTimeoutError extends Error {
  readonly code = 'story_timeout';
  constructor() {
    super(`the contact's story could not be read within ${STORY_STATEMENT_TIMEOUT_MS} ms; try again`);
    this.name = 'StoryTimeoutError';
  }
}

/** Postgres's query_canceled: what a statement_timeout raises. */
const QUERY_CANCELED = '57014';

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
  /**
   * The CAAC contacts the latest reconciled export tied this key to, with their other keys. More
   * than one: the key is ambiguous (not used across keys). `untied`: the service has since sent it
   * as a field of another key, so it ties nothing until an export shows where it belongs.
   */
  identity: { contacts: Array<{ contactId: string; exportId: string; keys: Array<{ keyType: string; keyValue: string }> }>; untied: boolean };
  drift: Array<{ exportId: string; field: string; sentValue: unknown; sentAt: Date | null; caacValue: string | null }>;
  deadLetters: Array<{ id: string; stage: string; errorClass: string | null; message: string | null; taskId: string | null; createdAt: Date; publishedAt: Date | null }>;
}

type StoredStamped = Record<string, { v: unknown; ts: number | string; seq: number | string }>;
type StoredState = Record<string, StoredStateEntry>;

function stamped(fields: StoredStamped): Record<string, { value: unknown; ts: number; seq: number }> {
  return Object.fromEntries(Object.entries(fields).map(([field, { v, ts, seq }]) => [field, { value: v, ts: Number(ts), seq: Number(seq) }]));
}

/**
 * Reads one contact's way through the service: pending change, batches in flight, what was sent
 * per field (and by which import), the CAAC contacts the last export tied the key to with their
 * rows in caac_contact, drift, dead letters. Reads only, in one transaction under a statement
 * timeout (a timeout throws StoryTimeoutError: never read as "nothing known"); every part is an
 * index lookup by key (caac_contact through contact_identity and its primary key).
 */
export class ContactStoryRepository {
  async find(db: EntityManager, keyType: KeyType, keyValue: string): Promise<ContactStory | undefined> {
    try {
      return await db.transaction(async (tx) => {
        await tx.query(`SET LOCAL statement_timeout = ${STORY_STATEMENT_TIMEOUT_MS}`);
        return await this.read(tx, keyType, keyValue);
      });
    } catch (error) {
      if ((error as { driverError?: { code?: string }; code?: string }).driverError?.code === QUERY_CANCELED || (error as { code?: string }).code === QUERY_CANCELED) {
        throw new StoryTimeoutError();
      }
      throw error;
    }
  }

  private async read(db: EntityManager, keyType: KeyType, keyValue: string): Promise<ContactStory | undefined> {
    const pendingRows: Array<{
      fields: StoredStamped;
      first_staged_at: Date;
      updated_at: Date;
      source_topic: string | null;
      source_partition: number | null;
      source_offset: string | null;
    }> = await db.query(
      `SELECT fields, first_staged_at, updated_at, source_topic, source_partition, source_offset::text AS source_offset
         FROM pending_change WHERE key_type = $1 AND key_value = $2`,
      [keyType, keyValue],
    );
    const inFlightRows: Array<{ id: string; status: string; task_id: string | null; fields: StoredStamped }> = await db.query(
      `SELECT b.id::text AS id, b.status, b.task_id, i.fields FROM import_batch b JOIN import_batch_item i ON i.batch_id = b.id AND i.key_value = $2
        WHERE b.key_type = $1 AND b.status IN ('claimed', 'submitting', 'submitted', 'retrying') ORDER BY b.id`,
      [keyType, keyValue],
    );
    const stateRows: Array<{ fields: StoredState }> = await db.query(`SELECT fields FROM contact_state WHERE key_type = $1 AND key_value = $2`, [keyType, keyValue]);
    const identityRows: Array<{ contact_id: string; export_id: string; keys: Array<{ key_type: string; key_value: string }>; untied: boolean }> = await db.query(
      `SELECT i.contact_id, i.export_id::text AS export_id,
              (SELECT coalesce(jsonb_agg(jsonb_build_object('key_type', o.key_type, 'key_value', o.key_value) ORDER BY o.key_type, o.key_value), '[]')
                 FROM contact_identity o WHERE o.contact_id = i.contact_id) AS keys,
              EXISTS (SELECT 1 FROM contact_identity_untied u WHERE u.key_type = i.key_type AND u.key_value = i.key_value) AS untied
         FROM contact_identity i WHERE i.key_type = $1 AND i.key_value = $2 ORDER BY i.contact_id`,
      [keyType, keyValue],
    );
    // TRICKY: caac_contact lives in the service's database only when EXPORT_DATABASE_URL is unset.
    const [{ present }]: Array<{ present: boolean }> = await db.query(`SELECT to_regclass('caac_contact') IS NOT NULL AS present`);
    const caacRows: Array<{ contact_id: string; fields: Record<string, string>; export_id: string; exported_at: Date }> =
      present && identityRows.length > 0
        ? await db.query(
            `SELECT contact_id, fields, export_id::text AS export_id, exported_at FROM caac_contact WHERE contact_id = ANY($1::text[]) ORDER BY contact_id`,
            [identityRows.map((row) => row.contact_id)],
          )
        : [];
    const driftRows: Array<{ export_id: string; field: string; sent_value: unknown; sent_at: Date | null; caac_value: string | null }> = await db.query(
      `SELECT export_id::text AS export_id, field, sent_value, sent_at, caac_value FROM contact_drift WHERE key_type = $1 AND key_value = $2 ORDER BY field`,
      [keyType, keyValue],
    );
    // Import dead letters are keyed `keyType:keyValue`; ingest ones by the message's own key.
    const letterRows: Array<{ id: string; stage: string; headers: Record<string, string>; created_at: Date; published_at: Date | null }> = await db.query(
      `SELECT id::text AS id, stage, headers, created_at, published_at FROM dead_letter_outbox
        WHERE message_key = convert_to($1 || ':' || $2, 'UTF8') OR message_key = convert_to($2, 'UTF8')
        ORDER BY id DESC LIMIT ${STORY_DEAD_LETTERS_MAX}`,
      [keyType, keyValue],
    );
    const state = stateRows[0]?.fields ?? {};
    const known = [pendingRows, inFlightRows, stateRows, identityRows, caacRows, driftRows, letterRows].some((rows) => rows.length > 0);
    if (!known) return undefined;

    const entries = Object.entries(state).map(([field, stored]) => [field, decodeStateEntry(stored)] as const);
    const batchIds = [...new Set(entries.flatMap(([, entry]) => (entry.batchId === undefined ? [] : [entry.batchId])))];
    const batches: Array<{ id: string; task_id: string | null; finished_at: Date | null }> =
      batchIds.length === 0 ? [] : await db.query(`SELECT id::text AS id, task_id, finished_at FROM import_batch WHERE id = ANY($1::bigint[])`, [batchIds]);
    const batchById = new Map(batches.map((batch) => [batch.id, batch]));

    const sent: ContactStory['sent'] = {};
    for (const [field, entry] of entries) {
      const batch = entry.batchId === undefined ? undefined : batchById.get(entry.batchId);
      sent[field] = {
        ...('v' in entry.extras ? { value: entry.extras.v } : {}),
        hash: entry.hash,
        ts: entry.ts,
        importedAt: entry.at === undefined ? null : new Date(entry.at),
        learnedFromExport: entry.extras.l === true,
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
      identity: {
        contacts: identityRows.map((row) => ({
          contactId: row.contact_id,
          exportId: row.export_id,
          keys: row.keys.map((key) => ({ keyType: key.key_type, keyValue: key.key_value })),
        })),
        untied: identityRows.some((row) => row.untied),
      },
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
