import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { BadRequestException, ConflictException, Controller, Get, HttpCode, NotFoundException, Param, Post, Query, UseGuards } from '@nestjs/common';
import { Inject } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { AdminTokenGuard } from '../http/admin-token.guard';
import { KEY_TYPES } from '../profile';
import { PendingChangeRepository } from '../store/pending-change.repository';
import { IMPORT_OUTCOMES, ImportBatchRepository, outcomeOf, type ImportBatch, type ImportOutcome } from './import-batch.repository';

const LIST_MAX = 500;

function present(batch: ImportBatch) {
  return {
    id: batch.id,
    status: outcomeOf(batch),
    key_type: batch.keyType,
    task_id: batch.taskId,
    rows: batch.rows,
    attempts: batch.attempts,
    task_failures: batch.taskFailures,
    transport_failures: batch.transportFailures,
    created_at: batch.createdAt,
    submitted_at: batch.submittedAt,
    finished_at: batch.finishedAt,
    next_attempt_at: batch.nextAttemptAt,
    result: { total_num: batch.totalNum, created_num: batch.createdNum, updated_num: batch.updatedNum, failed_num: batch.failedNum },
    last_error: batch.lastError,
  };
}

function batchId(id: string): string {
  if (!/^\d{1,18}$/.test(id)) throw new BadRequestException('import id must be a positive whole number');
  return id;
}

@Controller('admin')
@ApiTags('admin')
@ApiBearerAuth('admin-token')
@UseGuards(AdminTokenGuard)
export class ImportsController {
  private readonly batches: ImportBatchRepository;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    private readonly dataSource: DataSource,
  ) {
    this.batches = new ImportBatchRepository(dataSource);
  }

  /** Imports, newest first: `?status=failed&limit=50&before=<id>`. */
  @Get('imports')
  async list(@Query('status') status?: string, @Query('limit') limit = '50', @Query('before') before?: string) {
    if (status !== undefined && !IMPORT_OUTCOMES.includes(status as ImportOutcome)) {
      throw new BadRequestException(`status must be one of ${IMPORT_OUTCOMES.join(', ')}`);
    }
    const size = Number(limit);
    if (!Number.isInteger(size) || size < 1 || size > LIST_MAX) throw new BadRequestException(`limit must be a whole number from 1 to ${LIST_MAX}`);
    const batches = await this.batches.list({
      account: this.config.caac.account,
      limit: size,
      ...(status ? { status: status as ImportOutcome } : {}),
      ...(before ? { beforeId: batchId(before) } : {}),
    });
    return { imports: batches.map(present) };
  }

  @Get('imports/:id')
  async one(@Param('id') id: string) {
    const batch = await this.batches.find(batchId(id));
    if (!batch || batch.account !== this.config.caac.account) throw new NotFoundException(`no import ${id}`);
    return present(batch);
  }

  /**
   * Sends a failed import's contacts again: they are merged back under whatever is pending for them,
   * newest value per field winning, so a retry can never overwrite a newer change (invariant 7).
   */
  @Post('imports/:id/retry')
  @HttpCode(202) // accepted: the contacts go in a coming import
  async retry(@Param('id') id: string) {
    const batch = await this.batches.find(batchId(id));
    if (!batch || batch.account !== this.config.caac.account) throw new NotFoundException(`no import ${id}`);
    if (batch.status !== 'failed') throw new ConflictException(`import ${id} is ${batch.status}; only a failed import can be retried`);
    const items = await this.batches.items(batch.id);
    if (items.length === 0) throw new ConflictException(`import ${id} has no contacts left to retry (already retried)`);
    await this.dataSource.transaction(async (db) => {
      await new PendingChangeRepository().merge(
        db,
        items.map((item) => ({ keyType: batch.keyType, keyValue: item.keyValue, fields: item.fields })),
      );
      await db.query(`DELETE FROM import_batch_item WHERE batch_id = $1`, [batch.id]);
      await db.query(`UPDATE import_batch SET last_error = $2 WHERE id = $1`, [batch.id, `requeued ${items.length} contacts by admin`]);
    });
    return { id: batch.id, requeued: items.length };
  }

  /** Pending contacts by key type and the age of the oldest. */
  @Get('backlog')
  async backlog() {
    // The true count the triggers keep (as the pending_contacts metric), not a capped count.
    const entries = await new PendingChangeRepository().backlog(this.dataSource.manager, KEY_TYPES);
    return {
      flush_interval_ms: this.config.flushIntervalMs,
      key_types: entries.map((entry) => ({
        key_type: entry.keyType,
        pending_contacts: entry.contacts,
        oldest_age_ms: entry.contacts > 0 ? Math.round(entry.oldestAgeSeconds * 1000) : null,
      })),
    };
  }
}
