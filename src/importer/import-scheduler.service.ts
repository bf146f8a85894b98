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
import { Metrics } from '../telemetry/metrics';
import { KEY_TYPES, withoutOlderThan, withoutUnchanged, type KeyType, type StampedPatch } from '../profile';
import { PendingChangeQueue, PendingChangeRepository, type StagedChange } from '../store/pending-change.repository';
import { ContactIdentityRepository } from './contact-identity.repository';
import { ContactStateRepository } from './contact-state.repository';
import { ImportBatchRepository, StaleTransitionError, type Expected, type Fence, type ImportBatch, type ImportItem } from './import-batch.repository';
import { IMPORT_BODY_BUDGET_BYTES, rowBytes, toImportRow } from './import-request';

/** How often an idle importer looks at the backlog. */
const IDLE_POLL_MS = 250;
/** Contacts taken from pending per statement while filling a batch. */
const CLAIM_CHUNK = 2_000;
/** Task status polling: first look soon (tasks take a second or more), then back off. */
const POLL_FIRST_MS = 500;
const POLL_MAX_MS = 5_000;
/**
 * A batch whose task failed as a whole (CAAC ran it and said it failed) is sent again until this
 * many tasks have failed, then its contacts are dead-lettered. Requests that never became a task
 * (429, 5xx, busy, an unknown outcome, an open breaker) do not count: they wait out the trouble.
 */
export const IMPORT_MAX_ATTEMPTS = 5;
/**
 * A contact whose row failed without naming a field (or whose outcome CAAC left unknown) this many
 * times is dead-lettered: such a failure may be about the row itself, and must not repeat forever.
 */
export const ROW_FAILURE_MAX = 5;
/** Backoff of a batch sent again: from a second, doubling, each wait at most a minute. */
const RETRY_BASE_MS = 1_000;
const RETRY_MAX_MS = 60_000;

/** Why import requests are refused as a whole, while they are (see ImportScheduler.refusal). */
export interface ImportRefusal {
  status: number | null;
  code: string;
  message: string;
  since: string;
}

type SubmitError = Error & { code?: string; reason?: string; status?: number; retryAfterMs?: number };

/**
 * Turns pending changes into Profile API imports under the API's rules (invariant 6): one import
 * of the account at a time (the next batch is claimed only when the last has ended), batches of one
 * key type filled up to the row and body limits, a partial batch only once its oldest contact has
 * waited the flush interval. The request rate is the CAAC client's token bucket. A batch that must
 * be sent again is sent before anything newer, so older values never overwrite newer ones in CAAC
 * (invariant 7). Runs only in the leader (see ImporterLeader), under a leadership epoch that fences
 * every state change: once another instance has taken over, this one's writes change nothing.
 *
 * Failures are told apart by who failed: a task CAAC ran and failed spends the batch's budget
 * (IMPORT_MAX_ATTEMPTS); transport trouble waits with backoff for as long as it lasts; a 413
 * halves the batch; any other refusal of the request as a whole stops importing, reported in
 * readiness, and is asked again every IMPORT_REFUSED_RETRY_MS, dead-lettering nothing.
 */
@Injectable()
export class ImportScheduler {
  private readonly batches: ImportBatchRepository;
  private readonly queue = new PendingChangeQueue();
  private readonly pending = new PendingChangeRepository();
  private readonly state: ContactStateRepository;
  private readonly identity = new ContactIdentityRepository();
  private readonly outbox: DeadLetterOutboxRepository;
  private current: { batchId: string; status: string; taskId: string | null } | undefined;
  private fence: Fence | undefined;
  private refused: ImportRefusal | undefined;
  /** Epoch ms by which the loop should have turned again (its planned wait plus the stall limit); none while not running. */
  private turnDeadline = Infinity;
  /** Body bytes a claim may fill: lowered when a 413 shows the way to CAAC takes less. */
  private bodyBudgetBytes = IMPORT_BODY_BUDGET_BYTES;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly dataSource: DataSource,
    private readonly client: CaacClient,
    private readonly metrics: Metrics,
  ) {
    this.batches = new ImportBatchRepository(dataSource);
    // Only crm-wins sends a drifted field's last value again; under report the value is not kept.
    this.state = new ContactStateRepository({ keepSentValues: config.export.driftPolicy === 'crm-wins' });
    this.outbox = new DeadLetterOutboxRepository(dataSource);
  }

  get account(): string {
    return this.config.caac.account;
  }

  /** The batch in hand, for readiness details. */
  inFlight(): { batchId: string; status: string; taskId: string | null } | null {
    return this.current ?? null;
  }

  /** Why CAAC refuses import requests as a whole, while it does; null when it does not. */
  refusal(): ImportRefusal | null {
    return this.refused ?? null;
  }

  /** How long the loop has been overdue to turn (0: it turns), for liveness: a wedged importer needs a restart. */
  stalledForMs(): number {
    return Math.max(0, this.clock.now() - this.turnDeadline);
  }

  /** The loop turned; the next turn is due after `plannedWaitMs` and the stall limit. */
  private turned(plannedWaitMs = 0): void {
    this.turnDeadline = this.clock.now() + plannedWaitMs + this.config.health.importerStallMs;
  }

  /** The body budget of the next claims, for tests and readiness. */
  get claimBodyBudgetBytes(): number {
    return this.bodyBudgetBytes;
  }

  /**
   * Begins this instance's leadership of the account: a new epoch, under which every state change
   * from now on is decided. Call only while holding the account's lock (ImporterLeader does).
   */
  async takeOver(): Promise<Fence> {
    this.fence = await this.batches.beginEpoch(this.account);
    this.logger.info({ account: this.account, epoch: this.fence.epoch }, 'importer epoch begun');
    return this.fence;
  }

  /**
   * Works until `signal` aborts (leadership lost or shutdown), or until a write finds that another
   * instance has taken over; an in-flight task stays recorded.
   */
  async run(signal: AbortSignal): Promise<void> {
    let failures = 0;
    this.fence = undefined;
    while (!signal.aborted) {
      this.turned(IDLE_POLL_MS);
      try {
        if (!this.fence) await this.takeOver();
        const worked = await this.step(signal);
        failures = 0;
        if (!worked) await this.clock.sleep(IDLE_POLL_MS, signal);
      } catch (error) {
        if (signal.aborted) break;
        const fence = this.fence as Fence | undefined;
        if (error instanceof StaleTransitionError && fence && !(await this.holdsFence(fence))) {
          this.logger.error({ epoch: fence.epoch, err: error }, 'another instance leads the importer now; stopping');
          break;
        }
        failures++;
        const delay = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** Math.min(failures, 6));
        this.logger.error({ err: error, retryInMs: delay }, 'importer step failed');
        this.turned(delay);
        await this.clock.sleep(delay, signal).catch(() => undefined);
      }
    }
    this.current = undefined;
    this.fence = undefined;
    this.turnDeadline = Infinity;
    // A refusal is the leader's to report; the next leader learns it again from its own request.
    this.refused = undefined;
    this.metrics.importRefused.reset();
  }

  /** One decision: advance the open batch, or claim a new one when the rules allow. */
  async step(signal: AbortSignal): Promise<boolean> {
    const [open] = await this.batches.open(this.account);
    if (open) {
      await this.advance(open, signal);
      return true;
    }
    // Nothing is open: whatever batch was in hand has ended (readiness and `cli status` read this).
    this.current = undefined;
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
    const waiting = backlog.filter((entry) => entry.contacts > 0).sort((a, b) => (b.oldestAgeMs ?? 0) - (a.oldestAgeMs ?? 0));
    const full = waiting.find((entry) => entry.contacts >= maxRows);
    if (full) return full.keyType;
    return waiting.find((entry) => (entry.oldestAgeMs ?? 0) >= this.config.flushIntervalMs)?.keyType;
  }

  /**
   * Moves up to a batch of the oldest pending contacts of one key type into a new import batch, in
   * one transaction. Fields CAAC already has, and fields older than what it has, are dropped
   * (invariants 2 and 5), and so are fields that another key of the same CAAC contact carries
   * newer, sent or pending (invariant 7 across key types, as far as the last export tied the
   * keys); contacts left with nothing are not in the batch, and the claim keeps filling so
   * batches stay full. Returns nothing when every claimed contact was a no-op.
   */
  async claim(keyType: KeyType): Promise<ImportBatch | undefined> {
    const fence = this.requireFence();
    const maxRows = this.config.caac.importMaxRows;
    const budget = this.bodyBudgetBytes;
    const result = await this.dataSource.transaction(async (db) => {
      const items: ImportItem[] = [];
      let bytes = 0;
      let unchanged = 0;
      let stale = 0;
      let crossKey = 0;
      for (;;) {
        const claimed = await this.queue.take(db, keyType, Math.min(CLAIM_CHUNK, maxRows - items.length));
        if (claimed.length === 0) break;
        const keyValues = claimed.map((change) => change.keyValue);
        const imported = await this.state.find(db, keyType, keyValues);
        const throughOtherKeys = await this.identity.newestThroughOtherKeys(db, keyType, keyValues);
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
          const newest = throughOtherKeys.get(change.keyValue);
          const fresh = newest ? withoutOlderThan(kept.patch, newest) : { patch: kept.patch, stale: [] };
          crossKey += fresh.stale.length;
          if (Object.keys(fresh.patch).length === 0) continue;
          const item = { keyValue: change.keyValue, fields: fresh.patch, rowFailures: change.rowFailures };
          const size = rowBytes(toImportRow(keyType, item));
          // A contact larger than the whole budget still goes, alone: only CAAC can say it is too large.
          if (items.length >= maxRows || (items.length > 0 && bytes + size > budget)) {
            putBack.push({ keyType, keyValue: change.keyValue, fields: change.fields, firstStagedAt: change.firstStagedAt, rowFailures: change.rowFailures });
            continue;
          }
          items.push(item);
          bytes += size;
        }
        await this.state.recordImported(db, keyType, confirmed, this.clock.now());
        if (putBack.length > 0) {
          await this.pending.merge(db, putBack);
          break;
        }
        if (items.length >= maxRows) break;
      }
      this.metrics.importFieldsDropped.inc({ reason: 'unchanged' }, unchanged);
      this.metrics.importFieldsDropped.inc({ reason: 'stale' }, stale);
      this.metrics.importFieldsDropped.inc({ reason: 'cross_key' }, crossKey);
      if (items.length === 0) return undefined;
      const batch = await this.batches.create(db, fence, keyType, items);
      await this.identity.untieMoved(db, keyType, batch.id, items);
      return batch;
    });
    if (result) this.logger.info({ batchId: result.id, keyType, rows: result.rows }, 'import batch claimed');
    return result;
  }

  /** Drives one batch as far as it can go now: send it, or wait for its task, to its end. */
  async advance(batch: ImportBatch, signal: AbortSignal): Promise<void> {
    this.current = { batchId: batch.id, status: batch.status, taskId: batch.taskId };
    if (batch.status === 'submitted' && batch.taskId) return this.awaitTask(batch, batch.taskId, signal);
    // The wait was computed by the database, which set next_attempt_at: no clock difference stretches it.
    if (batch.status === 'retrying' && batch.waitMs > 0) {
      this.turned(batch.waitMs);
      await this.clock.sleep(batch.waitMs, signal);
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
    const fence = this.requireFence();
    const items = await this.batches.items(batch.id);
    const rows = items.map((item) => toImportRow(batch.keyType, item));
    await this.batches.markSubmitting(fence, batch.id, { status: batch.status });
    const sending: ImportBatch = { ...batch, status: 'submitting', taskId: null, attempts: batch.attempts + 1 };
    this.current = { batchId: batch.id, status: 'submitting', taskId: null };
    let taskId: string;
    try {
      ({ taskId } = await this.client.importProfiles(batch.keyType, rows, signal));
    } catch (error) {
      if (signal.aborted) throw error;
      return this.submitFailed(sending, items, error as SubmitError);
    }
    await this.batches.markSubmitted(fence, batch.id, taskId);
    this.accepted();
    this.metrics.imports.inc({ outcome: 'submitted' });
    this.metrics.importRows.inc(rows.length);
    this.logger.info({ batchId: batch.id, taskId, rows: rows.length, attempt: sending.attempts }, 'import submitted');
    await this.awaitTask({ ...sending, status: 'submitted', taskId, transportFailures: 0 }, taskId, signal);
  }

  /**
   * The request did not become a task. Decided on the error's kind: a body too large halves the
   * batch; any other refusal of the request as a whole (400, 401, 403, 404, 422) is a configuration
   * problem, not the data's, and stops importing; everything else is transport trouble.
   */
  private async submitFailed(batch: ImportBatch, items: ImportItem[], error: SubmitError): Promise<void> {
    if (error.code === 'permanent' && (error.reason === 'too_large' || error.reason === 'refused_locally')) {
      return this.split(batch, items, error);
    }
    if (error.code === 'permanent' || error.code === 'auth') return this.refuse(batch, error);
    // Transport trouble: 429, 5xx, busy, an unknown outcome (the same rows go again once CAAC no
    // longer answers 409 for the import that may be running), an open breaker, the network. It
    // spends no budget and waits, each wait bounded, for as long as it lasts.
    const failures = batch.transportFailures + 1;
    // Bounded: a longer Retry-After is kept by the client's import bucket, which it drained until then.
    const delay = Math.min(RETRY_MAX_MS, Math.max(error.retryAfterMs ?? 0, this.backoff(failures)));
    const code = error.code ?? 'unknown';
    this.metrics.imports.inc({ outcome: 'transport_failed' });
    this.metrics.importTransportFailures.inc({ code });
    this.metrics.importTransportFailing.set(failures);
    this.logger.warn({ batchId: batch.id, code, failuresInARow: failures, err: error, retryInMs: delay }, 'import not accepted; will retry');
    await this.batches.markRetrying(this.dataSource.manager, this.requireFence(), batch.id, { status: 'submitting' }, {
      delayMs: delay,
      error: error.message,
      kind: 'transport',
    });
  }

  /**
   * 413 (or a batch over a limit the client refuses to send): the first half stays in the batch and
   * goes again at once; the other half goes back under whatever is pending for its contacts (newer
   * values win field by field, invariant 7) at the batch's place in the queue, and later claims
   * stay under the size that is being tried. Only a single contact too large is dead-lettered.
   */
  private async split(batch: ImportBatch, items: ImportItem[], error: SubmitError): Promise<void> {
    const from: Expected = { status: 'submitting' };
    if (items.length <= 1) {
      this.logger.error({ batchId: batch.id, err: error }, 'a single contact is too large to import; dead-lettering it');
      await this.endFailed(batch, items, 'ImportTooLarge', error.message, from);
      return;
    }
    const keep = items.slice(0, Math.ceil(items.length / 2));
    const back = items.slice(keep.length);
    if (error.reason === 'too_large') {
      const keptBytes = keep.reduce((sum, item) => sum + rowBytes(toImportRow(batch.keyType, item)), 0);
      this.bodyBudgetBytes = Math.min(this.bodyBudgetBytes, keptBytes);
    }
    const fence = this.requireFence();
    await this.dataSource.transaction(async (db) => {
      await this.batches.shrink(db, fence, batch.id, from, keep.map((item) => item.keyValue));
      await this.batches.markRetrying(db, fence, batch.id, from, { delayMs: 0, error: error.message, kind: 'none' });
      await this.pending.merge(
        db,
        back.map((item) => ({ keyType: batch.keyType, keyValue: item.keyValue, fields: item.fields, firstStagedAt: batch.createdAt, rowFailures: item.rowFailures ?? 0 })),
      );
    });
    this.metrics.imports.inc({ outcome: 'split' });
    this.metrics.importSplits.inc();
    this.logger.warn(
      { batchId: batch.id, kept: keep.length, returned: back.length, bodyBudgetBytes: this.bodyBudgetBytes, err: error },
      'import request too large; halving the batch',
    );
  }

  /** The request was refused as a whole: nothing is dead-lettered; ask again rarely, reported as unhealthy. */
  private async refuse(batch: ImportBatch, error: SubmitError): Promise<void> {
    const delay = this.config.caac.refusedRetryMs;
    this.refused = { status: error.status ?? null, code: error.code ?? 'unknown', message: error.message, since: new Date(this.clock.now()).toISOString() };
    this.metrics.importRefused.reset();
    this.metrics.importRefused.set({ status: String(error.status ?? error.code) }, 1);
    this.metrics.imports.inc({ outcome: 'refused' });
    this.logger.error({ batchId: batch.id, code: error.code, status: error.status, err: error, retryInMs: delay }, 'import request refused as a whole; importing stops until it is accepted');
    await this.batches.markRetrying(this.dataSource.manager, this.requireFence(), batch.id, { status: 'submitting' }, {
      delayMs: delay,
      error: error.message,
      kind: 'none',
    });
  }

  private accepted(): void {
    this.metrics.importTransportFailing.set(0);
    if (!this.refused) return;
    this.logger.info({ refusedSince: this.refused.since }, 'import requests are accepted again');
    this.refused = undefined;
    this.metrics.importRefused.reset();
  }

  /**
   * Polls the task through the client's status limiter until it is done, then records the outcome.
   * A task not done within CAAC_TASK_TIMEOUT_MS of its sending (by the database's clock) has an
   * unknown outcome: its rows go again, which is safe, and the timeout is counted for alerting.
   */
  private async awaitTask(batch: ImportBatch, taskId: string, signal: AbortSignal): Promise<void> {
    this.current = { batchId: batch.id, status: 'submitted', taskId };
    const from: Expected = { status: 'submitted', taskId };
    let delay = POLL_FIRST_MS;
    for (;;) {
      this.turned(delay);
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
          await this.batches.markRetrying(this.dataSource.manager, this.requireFence(), batch.id, from, {
            delayMs: 0,
            error: (error as Error).message,
            kind: 'transport',
          });
          return;
        }
        this.logger.warn({ batchId: batch.id, taskId, err: error }, 'could not read import task; polling on');
      }
      if (task?.status === 'done') {
        const result = task.result ?? { success: false };
        this.metrics.importTaskSeconds.observe({ success: String(result.success) }, (await this.batches.sinceSubmittedMs(batch.id)) / 1000);
        return this.finish(batch, taskId, result);
      }
      const sinceMs = await this.batches.sinceSubmittedMs(batch.id);
      if (sinceMs >= this.config.caac.taskTimeoutMs) {
        const message = `import task ${taskId} not done ${sinceMs} ms after it was sent (CAAC_TASK_TIMEOUT_MS ${this.config.caac.taskTimeoutMs}); outcome unknown`;
        this.logger.error({ batchId: batch.id, taskId, sinceMs }, 'import task timed out; sending the batch again');
        this.metrics.importTaskTimeouts.inc();
        this.metrics.imports.inc({ outcome: 'task_timeout' });
        await this.batches.markRetrying(this.dataSource.manager, this.requireFence(), batch.id, from, { delayMs: 0, error: message, kind: 'transport' });
        return;
      }
    }
  }

  private async finish(batch: ImportBatch, taskId: string, result: ImportTaskResult): Promise<void> {
    const fence = this.requireFence();
    const from: Expected = { status: 'submitted', taskId };
    const items = await this.batches.items(batch.id);
    const counts = {
      totalNum: result.totalNum,
      createdNum: result.createdNum,
      updatedNum: result.updatedNum,
      failedNum: result.failedNum,
    };

    // TRICKY: a row error that names a field is about the data (CAAC will refuse it again: dead
    // letter); one that names no field is about the task (an internal error: send the row again,
    // up to ROW_FAILURE_MAX times). Without a row list, which rows failed is unknown.
    const permanent = new Map<number, Array<{ field: string; reason: string }>>();
    const retryable = new Map<number, string>();
    for (const error of result.errors ?? []) {
      if (!items[error.index]) continue;
      if (error.field) permanent.set(error.index, [...(permanent.get(error.index) ?? []), { field: error.field, reason: describeRowError(error) }]);
      else retryable.set(error.index, describeRowError(error));
    }
    for (const index of permanent.keys()) retryable.delete(index);
    const listed = permanent.size + retryable.size;
    const failedNum = result.failedNum ?? 0;

    if (result.success && listed === 0 && failedNum <= 0) {
      await this.dataSource.transaction(async (db) => {
        await this.batches.markEnded(db, fence, batch.id, from, 'done', counts);
        await this.state.recordImported(db, batch.keyType, items, this.clock.now(), batch.id);
      });
      this.current = undefined;
      this.metrics.imports.inc({ outcome: 'done' });
      this.logger.info({ batchId: batch.id, taskId, ...counts }, 'import done');
      return;
    }

    if (!result.success && (listed === 0 || retryable.size === items.length)) {
      // The task failed as a whole: the one failure that spends the batch's budget.
      const reason = result.errors?.length ? describeRowError(result.errors[0]!) : 'import task failed without row errors';
      const failures = batch.taskFailures + 1;
      if (failures < IMPORT_MAX_ATTEMPTS) {
        const delay = this.backoff(failures);
        this.metrics.imports.inc({ outcome: 'task_failed' });
        this.logger.warn({ batchId: batch.id, taskId, taskFailures: failures, retryInMs: delay }, 'import task failed; will retry');
        await this.batches.markRetrying(this.dataSource.manager, fence, batch.id, from, { delayMs: delay, error: reason, kind: 'task' });
        return;
      }
      await this.endFailed(batch, items, 'ImportFailed', `${reason} (after ${failures} failed tasks)`, from, taskId);
      return;
    }

    // TRICKY: CAAC counted more failed rows than it listed (it truncated the list): which of the
    // unlisted rows failed is unknown, so none of them is recorded as applied (a later identical
    // value would be dropped as unchanged, a lost change); they go again, which is safe.
    const unknown = failedNum > listed ? items.map((_, index) => index).filter((index) => !permanent.has(index) && !retryable.has(index)) : [];
    const again = new Map<number, string>(retryable);
    for (const index of unknown) again.set(index, `row outcome unknown: CAAC reported ${failedNum} failed rows and listed ${listed}`);
    const applied = items.filter((_, index) => !permanent.has(index) && !again.has(index));
    const letters: DeadLetter[] = [];
    const requeued: StagedChange[] = [];
    for (const [index, rejections] of permanent) {
      const item = items[index]!;
      const reasons = rejections.map((rejection) => rejection.reason).join('; ');
      const { refused, rest } = splitRefused(item.fields, rejections.map((rejection) => rejection.field));
      if (!refused || Object.keys(rest).length === 0) {
        // The key itself, a field the row did not carry, or every field the row had: the row as a whole.
        letters.push(this.importLetter(batch, item, 'RowRejected', reasons, taskId));
        continue;
      }
      // CAAC refused these fields only (an e-mail or mobile another contact holds, a value it will
      // not take): they alone are dead-lettered, and the row's other fields go again in a later
      // import, under whatever is pending for the contact (invariants 2 and 7).
      letters.push(this.importLetter(batch, { ...item, fields: refused }, 'FieldRejected', reasons, taskId));
      requeued.push({ keyType: batch.keyType, keyValue: item.keyValue, fields: rest, rowFailures: item.rowFailures ?? 0 });
      for (const field of Object.keys(refused)) this.metrics.importFieldsRejected.inc({ field });
    }
    for (const [index, reason] of again) {
      const item = items[index]!;
      const rowFailures = (item.rowFailures ?? 0) + 1;
      if (rowFailures >= ROW_FAILURE_MAX) {
        letters.push(this.importLetter(batch, item, 'RowFailed', `${reason} (after ${rowFailures} attempts)`, taskId));
        continue;
      }
      // Back under whatever is pending for the contact: newer pending values win field by field,
      // so the retry can never overwrite them (invariant 7).
      requeued.push({ keyType: batch.keyType, keyValue: item.keyValue, fields: item.fields, rowFailures });
    }
    await this.dataSource.transaction(async (db) => {
      await this.batches.markEnded(db, fence, batch.id, from, 'done', {
        ...counts,
        error: `${letters.length} rows dead-lettered, ${requeued.length} rows sent again`,
      });
      await this.state.recordImported(db, batch.keyType, applied, this.clock.now(), batch.id);
      await this.outbox.add(db, letters);
      await this.pending.merge(db, requeued);
    });
    this.current = undefined;
    this.metrics.imports.inc({ outcome: 'done_with_rejections' });
    if (letters.length > 0) this.metrics.deadLetters.inc({ stage: 'import' }, letters.length);
    this.logger.warn(
      { batchId: batch.id, taskId, rejected: permanent.size, unknown: unknown.length, deadLettered: letters.length, requeued: requeued.length, fieldsRejected: letters.filter((letter) => letter.errorClass === 'FieldRejected').length },
      'import done with failed rows',
    );
  }

  private async endFailed(batch: ImportBatch, items: ImportItem[], errorClass: string, reason: string, from: Expected, taskId?: string): Promise<void> {
    const fence = this.requireFence();
    const letters = items.map((item) => this.importLetter(batch, item, errorClass, reason, taskId));
    await this.dataSource.transaction(async (db) => {
      await this.batches.markEnded(db, fence, batch.id, from, 'failed', { failedNum: items.length, totalNum: items.length, error: reason });
      await this.outbox.add(db, letters);
    });
    this.current = undefined;
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

  private requireFence(): Fence {
    if (!this.fence) throw new Error('the importer has no leadership epoch: takeOver() first');
    return this.fence;
  }

  private async holdsFence(fence: Fence): Promise<boolean> {
    return this.batches.holdsEpoch(fence).catch(() => true);
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

/**
 * The row's fields parted into those CAAC refused by name and the rest; `refused` is undefined when
 * a named field is not one of the row's fields (the import key, or a field CAAC added).
 */
function splitRefused(fields: StampedPatch, names: string[]): { refused: StampedPatch | undefined; rest: StampedPatch } {
  if (!names.every((name) => Object.hasOwn(fields, name))) return { refused: undefined, rest: fields };
  const refusedNames = new Set(names);
  const rest = pick(fields, Object.keys(fields).filter((name) => !refusedNames.has(name)));
  return { refused: pick(fields, [...refusedNames]), rest };
}

function describeRowError(error: { field?: string; reason: string }): string {
  return error.field ? `${error.field}: ${error.reason}` : error.reason;
}

