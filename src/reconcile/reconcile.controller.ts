import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { BadRequestException, Controller, Get, Inject, NotFoundException, Param, Query, ServiceUnavailableException, UseGuards } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { KeyedHash } from '../common/keyed-hash';
import { AdminTokenGuard } from '../http/admin-token.guard';
import { isKeyType, KEY_TYPES, normaliseKeyValue, type PhoneRegion } from '../profile';
import { ContactStoryRepository, StoryTimeoutError } from './contact-story.repository';
import { ReconcileRepository } from './reconcile.repository';

/** Drift rows per page by default, and at most: a page stays a small response. */
const DRIFT_PAGE_DEFAULT = 100;
const DRIFT_PAGE_MAX = 1_000;

/** What a drift cursor's signature is for: a cursor of another route must not pass here. */
const DRIFT_CURSOR = 'drift-cursor';
const BAD_CURSOR = 'cursor must be a next_cursor this route returned';

/**
 * A drift page's cursor: the export and the last row's id, signed (KeyedHash.sign), so it holds no
 * key (it travels in URLs and access logs) and a forged or garbled one is a 400, never a query.
 */
function encodeCursor(hash: KeyedHash, exportId: string, rowId: string): string {
  return hash.sign(DRIFT_CURSOR, `${exportId}-${rowId}`);
}

function decodeCursor(hash: KeyedHash, exportId: string, cursor: string | undefined): string | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  if (!/^\d{1,18}-\d{1,18}\.[A-Za-z0-9_-]{1,64}$/.test(cursor)) throw new BadRequestException(BAD_CURSOR);
  const text = hash.verify(DRIFT_CURSOR, cursor);
  const [cursorExport, rowId] = (text ?? '').split('-');
  if (text === undefined || cursorExport !== exportId || rowId === undefined) throw new BadRequestException(BAD_CURSOR);
  return rowId;
}

/**
 * Admin routes of reconcile (DESIGN §4.6): an export's drift, and one contact's story, which
 * answers "why does CAAC show this?" from the service's own tables.
 */
@Controller('admin')
@ApiTags('admin')
@ApiBearerAuth('admin-token')
@UseGuards(AdminTokenGuard)
export class ReconcileController {
  private readonly reconcile = new ReconcileRepository();
  private readonly stories = new ContactStoryRepository();

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
    private readonly hash: KeyedHash,
  ) {}

  /** The drifted fields of an export, a page at a time; only the latest reconciled export keeps them. */
  @Get('exports/:id/drift')
  async drift(@Param('id') id: string, @Query('limit') limitText?: string, @Query('cursor') cursorText?: string) {
    if (!/^\d{1,18}$/.test(id)) throw new BadRequestException('export id must be a positive whole number');
    const limit = limitText === undefined ? DRIFT_PAGE_DEFAULT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > DRIFT_PAGE_MAX) throw new BadRequestException(`limit must be a whole number from 1 to ${DRIFT_PAGE_MAX}`);
    const cursor = decodeCursor(this.hash, id, cursorText);
    const jobs: Array<{ reconciled_at: Date | null; reconcile: Record<string, unknown> | null; newest: string | null }> = await this.dataSource.query(
      `SELECT reconciled_at, reconcile,
              (SELECT max(export_id)::text FROM contact_drift) AS newest
         FROM export_job WHERE id = $1`,
      [id],
    );
    const job = jobs[0];
    if (!job) throw new NotFoundException(`export ${id} does not exist`);
    if (job.reconciled_at === null) throw new NotFoundException(`export ${id} has not been reconciled (it is not complete, or reconcile has not reached it yet)`);
    const rows = await this.reconcile.driftPage(this.dataSource.manager, id, limit + 1, cursor);
    if (!rows) throw new BadRequestException(`${BAD_CURSOR}; this one is of drift rows export ${id} no longer keeps`);
    const page = rows.slice(0, limit);
    return {
      export_id: id,
      reconciled_at: job.reconciled_at,
      summary: job.reconcile,
      // Drift rows are kept for the latest reconciled export only.
      rows_kept: job.newest === null || job.newest === id,
      drift: page.map((row) => ({ key_type: row.keyType, key_value: row.keyValue, field: row.field, sent_value: row.sentValue, sent_at: row.sentAt, caac_value: row.caacValue })),
      next_cursor: rows.length > limit ? encodeCursor(this.hash, id, page[page.length - 1]!.id) : null,
    };
  }

  /** One contact's story: pending change, in flight, sent per field, CAAC's export row, drift, dead letters. */
  @Get('contacts/:keyType/:keyValue')
  async contact(@Param('keyType') keyType: string, @Param('keyValue') rawKeyValue: string) {
    if (!isKeyType(keyType)) throw new BadRequestException(`keyType must be one of ${KEY_TYPES.join(', ')}`);
    const normalised = normaliseKeyValue(keyType, rawKeyValue, this.config.defaultPhoneRegion as PhoneRegion);
    if (!normalised.ok) throw new BadRequestException(`${keyType} ${normalised.reason}`);
    const story = await this.stories.find(this.dataSource.manager, keyType, normalised.value).catch((error: unknown) => {
      // A story not read in time says nothing about the contact: not a 404, and not an empty story.
      if (error instanceof StoryTimeoutError) throw new ServiceUnavailableException(error.message);
      throw error;
    });
    if (!story) {
      throw new NotFoundException(`the service has never seen the contact ${keyType} ${normalised.value}: no pending change, import, export match, drift or dead letter`);
    }
    return {
      key_type: keyType,
      key_value: normalised.value,
      pending: story.pending && {
        fields: story.pending.fields,
        source: story.pending.source,
        first_staged_at: story.pending.firstStagedAt,
        updated_at: story.pending.updatedAt,
      },
      in_flight: story.inFlight.map((batch) => ({ batch_id: batch.batchId, status: batch.status, task_id: batch.taskId, fields: batch.fields })),
      sent: Object.fromEntries(
        Object.entries(story.sent).map(([field, entry]) => [
          field,
          {
            ...('value' in entry ? { value: entry.value } : {}),
            source_ts: entry.ts,
            imported_at: entry.importedAt,
            learned_from_export: entry.learnedFromExport,
            batch_id: entry.batchId,
            task_id: entry.taskId,
            batch_finished_at: entry.batchFinishedAt,
          },
        ]),
      ),
      caac: story.caac.map((row) => ({ contact_id: row.contactId, fields: row.fields, export_id: row.exportId, exported_at: row.exportedAt })),
      identity: {
        contacts: story.identity.contacts.map((contact) => ({
          contact_id: contact.contactId,
          export_id: contact.exportId,
          keys: contact.keys.map((key) => ({ key_type: key.keyType, key_value: key.keyValue })),
        })),
        ambiguous: story.identity.contacts.length > 1,
        untied: story.identity.untied,
      },
      drift: story.drift.map((row) => ({ export_id: row.exportId, field: row.field, sent_value: row.sentValue, sent_at: row.sentAt, caac_value: row.caacValue })),
      dead_letters: story.deadLetters.map((letter) => ({
        id: letter.id,
        stage: letter.stage,
        error_class: letter.errorClass,
        message: letter.message,
        task_id: letter.taskId,
        created_at: letter.createdAt,
        published_at: letter.publishedAt,
      })),
    };
  }
}
