import { Inject, Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CLOCK, type Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { CaacClient } from '../caac/caac.client';
import type { ImportTaskResult } from '../caac/caac.types';
import type { DeadLetter } from '../dead-letter/dead-letter';
import { DeadLetterOutboxRepository } from '../dead-letter/dead-letter-outbox.repository';
import { Metrics } from '../ops/metrics';
import { KEY_TYPES, withoutUnchanged, type KeyType, type StampedPatch } from '../profile';
import { PendingChangeQueue, PendingChangeRepository } from '../store/pending-change.repository';
import { ContactStateRepository } from './contact-state.repository';
import { ImportBatchRepository, type ImportBatch, type ImportItem } from './import-batch.repository';
import { IMPORT_BODY_BUDGET_BYTES, rowBytes, toImportRow } from './import-request';

/** How often an idle importer looks at the backlog. */
const IDLE_POLL_MS = 250;
/** Contacts taken from pending per statement while filling a batch. */
const CLAIM_CHUNK = 2_000;
/** Task status polling: first look soon (tasks take a second or more), then back off. */
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 5_000;
/** A batch that failed as a whole is sent again this many times before its contacts are dead-lettered. */
export const IMPORT_MAX_ATTEMPTS = 5;
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;


/**
 * Turns pending changes into Profile API imports under the API's rules (invariant 6): one import
 * of the account at a time (the next batch is claimed only when the last has ended), batches of one
 * key type filled up to the row and body limits, a partial batch only once its oldest contact has
 * waited the flush interval. The request rate is the CAAC client's token bucket. A batch that must
 * be sent again is sent before anything newer, so older values never overwrite newer ones in CAAC
 * (invariant 7). Runs only in the leader (see ImporterLeader).
 */
@Injectable()
export class ImportScheduler {
  private readonly batches: ImportBatchRepository;
  private readonly queue = new PendingChangeQueue();
  private readonly pending = new PendingChangeRepository();
  private readonly state = new ContactStateRepository();
  private readonly outbox: DeadLetterOutboxRepository;
  private current: { batchId: string; status: string; taskId: string | null } | undefined;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly dataSource: DataSource,
    private readonly client: CaacClient,
    private readonly metrics: Metrics,
  ) {
    this.batches = new ImportBatchRepository(dataSource);
    this.outbox = new DeadLetterOutboxRepository(dataSource);
  }

  get account(): string {
    return this.config.caac.account;
  }

  /** The batch in hand, for readiness details. */
  inFlight(): { batchId: string; status: string; taskId: string | null } | null {
    return this.current ?? null;
  }

  /** Works until `signal` aborts (leadership lost or shutdown); an in-flight task stays recorded. */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const worked = await this.step(signal);
        failures = 0;
        if (!worked) await this.clock.sleep(IDLE_POLL_MS, signal);
      } catch (error) {
        if (signal.aborted) break;
        failures++;
        const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(failures, 6));
        this.logger.error({ err: error, retryInMs: delay }, 'importer step failed');
        await this.clock.sleep(delay, signal).catch(() => undefined);
      }
    }
    this.current = undefined;
  }

  /** One decision: advance the open batch, or claim a new one when the rules allow. */
  async step(signal: AbortSignal): Promise<boolean> {
    const [open] = await this.batches.open(this.account);
    if (open) {
      await this.advance(open, signal);
      return true;
    }
    const keyType = await this.readyKeyType();
    if (!keyType) return false;
    const batch = await this.claim(keyType);
    if (batch) await this.advance(batch, signal);
    return true;
  }

  /** The key type to import now: a full batch's worth waiting, or the flush interval passed. */
  async readyKeyType(): Promise<KeyType | undefined> {
    const maxRows = this.config.caac.importMaxRows;
    const backlog = await this.queue.backlog(this.dataSource.manager, KEY_TYPES, maxRows);
    for (const entry of backlog) this.metrics.pendingContacts.set({ key_type: entry.keyType }, entry.contacts);
    const waiting = backlog.filter((entry) => entry.contacts > 0).sort((a, b) => (b.oldestAgeMs ?? 0) - (a.oldestAgeMs ?? 0));
    const full = waiting.find((entry) => entry.contacts >= maxRows);
    if (full) return full.keyType;
    return waiting.find((entry) => (entry.oldestAgeMs ?? 0) >= this.config.flushIntervalMs)?.keyType;
  }

  /**
   * Moves up to a batch of the oldest pending contacts of one key type into a new import batch, in
   * one transaction. Fields CAAC already has, and fields older than what it has, are dropped
   * (invariants 2 and 5); contacts left with nothing are not in the batch, and the claim keeps
   * filling so batches stay full. Returns nothing when every claimed contact was a no-op.
   */
  async claim(keyType: KeyType): Promise<ImportBatch | undefined> {
    const maxRows = this.config.caac.importMaxRows;
    const result = await this.dataSource.transaction(async (db) => {
      const items: ImportItem[] = [];
      let bytes = 0;
      let unchanged = 0;
      let stale = 0;
      for (;;) {
        const claimed = await this.queue.take(db, keyType, Math.min(CLAIM_CHUNK, maxRows - items.length));
        if (claimed.length === 0) break;
        const imported = await this.state.find(db, keyType, claimed.map((change) => change.keyValue));
        const putBack = [];
        const confirmed = [];
        for (const change of claimed) {
          const kept = withoutUnchanged(change.fields, imported.get(change.keyValue) ?? {});
          unchanged += kept.unchanged.length;
          stale += kept.stale.length;
          if (kept.unchanged.length > 0) {
            // TRICKY: CAAC already holds these values, but this change is newer than the import
            // that put them there. Record its stamp, or a late older value of the field would
            // look newer than what CAAC holds and overwrite it (invariant 7).
            confirmed.push({ keyValue: change.keyValue, fields: pick(change.fields, kept.unchanged) });
          }
          if (Object.keys(kept.patch).length === 0) continue;
          const item = { keyValue: change.keyValue, fields: kept.patch };
          const size = rowBytes(toImportRow(keyType, item));
          if (items.length >= maxRows || bytes + size > IMPORT_BODY_BUDGET_BYTES) {
            putBack.push({ keyType, keyValue: change.keyValue, fields: change.fields, firstStagedAt: change.firstStagedAt });
            continue;
          }
          items.push(item);
          bytes += size;
        }
        await this.state.recordImported(db, keyType, confirmed);
        if (putBack.length > 0) {
          await this.pending.merge(db, putBack);
          break;
        }
        if (items.length >= maxRows) break;
      }
      this.metrics.importFieldsDropped.inc({ reason: 'unchanged' }, unchanged);
      this.metrics.importFieldsDropped.inc({ reason: 'stale' }, stale);
      if (items.length === 0) return undefined;
      return this.batches.create(db, this.account, keyType, items);
    });
    if (result) this.logger.info({ batchId: result.id, keyType, rows: result.rows }, 'import batch claimed');
    return result;
  }

  /** Drives one batch as far as it can go now: send it, or wait for its task, to its end. */
  async advance(batch: ImportBatch, signal: AbortSignal): Promise<void> {
    this.current = { batchId: batch.id, status: batch.status, taskId: batch.taskId };
    if (batch.status === 'submitted' && batch.taskId) return this.awaitTask(batch, batch.taskId, signal);
    if (batch.status === 'retrying' && batch.nextAttemptAt) {
      const wait = batch.nextAttemptAt.getTime() - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait, signal);
    }
    if (batch.status === 'submitting') {
      // TRICKY: the last attempt may have been accepted without us learning its task_id (a crash
      // or a lost response). Sending the same rows again is safe: CAAC answers 409 while that
      // import runs, the client waits it out, and re-applying the same values changes nothing.
      this.logger.warn({ batchId: batch.id }, 'import outcome unknown; sending the batch again');
    }
    await this.submit(batch, signal);
  }

  private async submit(batch: ImportBatch, signal: AbortSignal): Promise<void> {
    const items = await this.batches.items(batch.id);
    const rows = items.map((item) => toImportRow(batch.keyType, item));
    await this.batches.markSubmitting(batch.id);
    this.current = { batchId: batch.id, status: 'submitting', taskId: null };
    let taskId: string;
    try {
      ({ taskId } = await this.client.importProfiles(batch.keyType, rows, signal));
    } catch (error) {
      if (signal.aborted) throw error;
      return this.submitFailed(batch, items, error as Error & { code?: string });
    }
    await this.batches.markSubmitted(batch.id, taskId);
    this.metrics.imports.inc({ outcome: 'submitted' });
    this.metrics.importRows.inc(rows.length);
    this.logger.info({ batchId: batch.id, taskId, rows: rows.length, attempt: batch.attempts + 1 }, 'import submitted');
    await this.awaitTask({ ...batch, attempts: batch.attempts + 1 }, taskId, signal);
  }

  private async submitFailed(batch: ImportBatch, items: ImportItem[], error: Error & { code?: string }): Promise<void> {
    const attempts = batch.attempts + 1;
    if (error.code === 'permanent') {
      this.logger.error({ batchId: batch.id, err: error }, 'import refused; dead-lettering its contacts');
      await this.endFailed(batch, items, 'ImportRejected', error.message);
      return;
    }
    // Anything else is worth another attempt. An unknown outcome included: the same rows go again
    // once CAAC no longer answers 409 for the import that may be running.
    const delay = this.backoff(attempts);
    this.metrics.imports.inc({ outcome: error.code === 'outcome_unknown' ? 'outcome_unknown' : 'retrying' });
    this.logger.warn({ batchId: batch.id, code: error.code, err: error, retryInMs: delay }, 'import not accepted; will retry');
    await this.batches.markRetrying(batch.id, delay, error.message);
  }

  /** Polls the task through the client's status limiter until it is done, then records the outcome. */
  private async awaitTask(batch: ImportBatch, taskId: string, signal: AbortSignal): Promise<void> {
    this.current = { batchId: batch.id, status: 'submitted', taskId };
    let delay = POLL_FIRST_MS;
    for (;;) {
      await this.clock.sleep(delay, signal);
      delay = Math.min(POLL_MAX_MS, Math.round(delay * 1.5));
      let task;
      try {
        task = await this.client.getImportTask(taskId, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        const { code, status } = error as { code?: string; status?: number };
        if (code === 'permanent' && status === 404) {
          // The task is unknown to CAAC: its outcome cannot be learnt, so the batch goes again.
          // (Any other answer, a malformed one included, is read again: sending the batch again
          // on an API change would repeat imports.)
          this.logger.warn({ batchId: batch.id, taskId, err: error }, 'import task not found; sending the batch again');
          await this.batches.markRetrying(batch.id, 0, (error as Error).message);
          return;
        }
        this.logger.warn({ batchId: batch.id, taskId, err: error }, 'could not read import task; polling on');
        continue;
      }
      if (task.status !== 'done') continue;
      return this.finish(batch, taskId, task.result ?? { success: false });
    }
  }

  private async finish(batch: ImportBatch, taskId: string, result: ImportTaskResult): Promise<void> {
    const items = await this.batches.items(batch.id);
    const counts = {
      totalNum: result.totalNum,
      createdNum: result.createdNum,
      updatedNum: result.updatedNum,
      failedNum: result.failedNum,
    };
    if (result.success) {
      await this.dataSource.transaction(async (db) => {
        await this.state.recordImported(db, batch.keyType, items);
        await this.batches.markEnded(db, batch.id, 'done', counts);
      });
      this.metrics.imports.inc({ outcome: 'done' });
      this.logger.info({ batchId: batch.id, taskId, ...counts }, 'import done');
      return;
    }

    // TRICKY: a row error that names a field is about the data (CAAC will refuse it again: dead
    // letter); one that names no field is about the task (an internal error: send the row again).
    // Without a row list, which rows failed is unknown, so the whole batch goes again.
    const errors = result.errors;
    const permanent = new Map<number, string[]>();
    const retryable = new Set<number>();
    for (const error of errors ?? []) {
      if (!items[error.index]) continue;
      if (error.field) permanent.set(error.index, [...(permanent.get(error.index) ?? []), describeRowError(error)]);
      else retryable.add(error.index);
    }
    for (const index of permanent.keys()) retryable.delete(index);
    const nothingApplied = !errors || retryable.size + permanent.size === 0 || (retryable.size === items.length);
    if (nothingApplied) {
      const reason = errors?.length ? describeRowError(errors[0]!) : 'import task failed without row errors';
      if (batch.attempts < IMPORT_MAX_ATTEMPTS) {
        const delay = this.backoff(batch.attempts);
        this.metrics.imports.inc({ outcome: 'task_failed' });
        this.logger.warn({ batchId: batch.id, taskId, attempt: batch.attempts, retryInMs: delay }, 'import task failed; will retry');
        await this.batches.markRetrying(batch.id, delay, reason);
        return;
      }
      await this.endFailed(batch, items, 'ImportFailed', `${reason} (after ${batch.attempts} attempts)`, taskId);
      return;
    }

    const applied = items.filter((_, index) => !permanent.has(index) && !retryable.has(index));
    const letters = [...permanent].map(([index, reasons]) => this.importLetter(batch, items[index]!, 'RowRejected', reasons.join('; '), taskId));
    // Rows that failed for the task's sake go back under whatever is pending for their contacts;
    // newer pending values win field by field, so the retry can never overwrite them (invariant 7).
    const requeued = [...retryable].map((index) => ({ keyType: batch.keyType, keyValue: items[index]!.keyValue, fields: items[index]!.fields }));
    await this.dataSource.transaction(async (db) => {
      await this.state.recordImported(db, batch.keyType, applied);
      await this.outbox.add(db, letters);
      await this.pending.merge(db, requeued);
      await this.batches.markEnded(db, batch.id, 'done', {
        ...counts,
        error: `${permanent.size} rows rejected, ${requeued.length} rows sent again`,
      });
    });
    this.metrics.imports.inc({ outcome: 'done_with_rejections' });
    if (letters.length > 0) this.metrics.deadLetters.inc({ stage: 'import' }, letters.length);
    this.logger.warn({ batchId: batch.id, taskId, rejected: permanent.size, requeued: requeued.length }, 'import done with failed rows');
  }

  private async endFailed(batch: ImportBatch, items: ImportItem[], errorClass: string, reason: string, taskId?: string): Promise<void> {
    const letters = items.map((item) => this.importLetter(batch, item, errorClass, reason, taskId));
    await this.dataSource.transaction(async (db) => {
      await this.outbox.add(db, letters);
      await this.batches.markEnded(db, batch.id, 'failed', { failedNum: items.length, totalNum: items.length, error: reason });
    });
    this.metrics.imports.inc({ outcome: 'failed' });
    this.metrics.deadLetters.inc({ stage: 'import' }, letters.length);
  }

  private importLetter(batch: ImportBatch, item: ImportItem, errorClass: string, message: string, taskId?: string): DeadLetter {
    return {
      stage: 'import',
      key: `${batch.keyType}:${item.keyValue}`,
      value: JSON.stringify({ key: { [batch.keyType]: item.keyValue }, profile: toImportRow(batch.keyType, item), batch_id: batch.id }),
      errorClass,
      message,
      ...(taskId ? { taskId } : {}),
      at: this.clock.now(),
    };
  }

  /** Exponential backoff with full jitter, bounded. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.max(0, attempt - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}

function pick(fields: StampedPatch, names: string[]): StampedPatch {
  const picked = Object.create(null) as StampedPatch;
  for (const name of names) picked[name] = fields[name]!;
  return picked;
}

function describeRowError(error: { field?: string; reason: string }): string {
  return error.field ? `${error.field}: ${error.reason}` : error.reason;
}

