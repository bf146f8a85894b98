import { Inject, Injectable, type BeforeApplicationShutdown } from '@nestjs/common';
import { Pool } from 'pg';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { KeyedHash } from '../common/keyed-hash';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { KafkaAdapter, type MessageProducer } from '../kafka/kafka.adapter';
import type { KeyType, PhoneRegion } from '../profile';
import { ERASURE_TARGETS, type ContactKey } from './erasure-targets';
import { ExportMirrorEraser } from './export-mirror.eraser';

/** Connections to the export database: erasures are rare and one at a time is plenty. */
const ERASURE_POOL_MAX = 1;

/** What one erasure removed, and what it could not reach yet. */
export interface ErasureReport {
  /** Every key erased: the one asked for and the other keys the export mirror lists for the same CAAC contact. */
  keys: ContactKey[];
  /** The CAAC contact ids the export mirror tied to the keys. */
  contactIds: string[];
  /** Rows removed per table (service database and export database). */
  removed: Record<string, number>;
  /** Tombstones written to EXPORT_TOPIC, one per contact id (none when no topic is configured). */
  tombstones: number;
  /** Open import batches holding the keys: left alone (see endedBatchItems); forget again once they end. */
  openBatches: string[];
  /** An export runs: its file may bring the contact back into the mirror; forget again once it ends. */
  exportRunning: boolean;
  /** False when something above waits: the same request later completes it. */
  complete: boolean;
}

/**
 * Erases one person from everything the service keeps (DESIGN §8): the staging and import tables,
 * dead letters, drift, the export mirror and, with a tombstone, the export topic. The person is the
 * key asked for and, when the export mirror ties it to a CAAC contact, that contact's other keys.
 * Idempotent: a second run finds nothing and removes nothing.
 *
 * Out of reach: CAAC itself (erase the person there too, or the next export brings them back), the
 * dead-letter topic (its own retention), the source topics, and backups.
 *
 * TRICKY: the tombstones go out before the mirror rows are deleted: the rows are how the contact
 * ids are found, so a failure in between leaves them for the next run to find.
 */
@Injectable()
export class ContactErasure implements BeforeApplicationShutdown {
  private exportPool: Pool | undefined;
  private producer: MessageProducer | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    private readonly dataSource: DataSource,
    private readonly kafka: KafkaAdapter,
    private readonly hash: KeyedHash,
  ) {}

  async forget(keyType: KeyType, keyValue: string): Promise<ErasureReport> {
    const mirror = new ExportMirrorEraser(this.pool(), this.config.defaultPhoneRegion as PhoneRegion);
    const contacts = await mirror.find({ keyType, keyValue });
    const keys = uniqueKeys([{ keyType, keyValue }, ...contacts.flatMap((contact) => contact.keys)]);
    const contactIds = [...new Set(contacts.map((contact) => contact.contactId))];

    const tombstones = await this.tombstone(contactIds);
    const removed: Record<string, number> = {};
    removed.caac_contact = await mirror.erase(contactIds);
    const waiting = await this.dataSource.transaction(async (db) => {
      for (const target of ERASURE_TARGETS) removed[target.table] = (removed[target.table] ?? 0) + (await target.erase(db, keys));
      const batches: Array<{ id: string }> = await db.query(
        `SELECT DISTINCT b.id::text AS id FROM import_batch_item i JOIN import_batch b ON b.id = i.batch_id
          WHERE b.status NOT IN ('done', 'failed') AND (b.key_type, i.key_value) IN (SELECT t, v FROM unnest($1::text[], $2::text[]) AS k(t, v))
          ORDER BY 1`,
        [keys.map((key) => key.keyType), keys.map((key) => key.keyValue)],
      );
      const exports: unknown[] = await db.query(`SELECT 1 FROM export_job WHERE status IN ('requested', 'running', 'downloading') LIMIT 1`);
      return { openBatches: batches.map((batch) => batch.id), exportRunning: exports.length > 0 };
    });

    const report: ErasureReport = { keys, contactIds, removed, tombstones, ...waiting, complete: waiting.openBatches.length === 0 && !waiting.exportRunning };
    this.logger.info(
      {
        audit: {
          erasure: {
            keys: keys.map((key) => ({ keyType: key.keyType, keyHash: this.hash.ofKey(key.keyType, key.keyValue) })),
            contacts: contactIds.length,
            removed,
            tombstones,
            openBatches: report.openBatches,
            exportRunning: report.exportRunning,
            complete: report.complete,
          },
        },
      },
      `erased ${keys.length} contact keys${report.complete ? '' : ' (incomplete: forget again later)'}`,
    );
    return report;
  }

  async beforeApplicationShutdown(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    await this.exportPool?.end().catch(() => undefined);
  }

  /** A tombstone per contact on the export topic, acknowledged by every in-sync replica. */
  private async tombstone(contactIds: string[]): Promise<number> {
    const topic = this.config.export.topic;
    if (topic === undefined || contactIds.length === 0) return 0;
    // A topic no export has made yet holds nobody: nothing to tombstone (sending would fail).
    if ((await this.kafka.missingTopics([topic])).length > 0) return 0;
    this.producer ??= await this.kafka.createProducer();
    await this.producer.send(topic, contactIds.map((contactId) => ({ key: contactId, value: null })));
    return contactIds.length;
  }

  private pool(): Pool {
    if (!this.exportPool) {
      this.exportPool = new Pool({ connectionString: this.config.export.databaseUrl, max: ERASURE_POOL_MAX, application_name: 'caac-sync-erasure' });
      this.exportPool.on('error', (error) => this.logger.warn({ err: error }, 'export database connection failed'));
    }
    return this.exportPool;
  }
}

function uniqueKeys(keys: ContactKey[]): ContactKey[] {
  const seen = new Map(keys.map((key) => [`${key.keyType}\0${key.keyValue}`, key]));
  return [...seen.values()];
}
