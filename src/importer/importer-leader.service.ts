import { Inject, Injectable, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { Client } from 'pg';
import { DataSource } from 'typeorm';
import { CaacClient } from '../caac/caac.client';
import { APP_CONFIG, type AppConfig } from '../config/app-config';
import { CLOCK, type Clock } from '../common/clock';
import type { Logger } from '../common/logger';
import { LOGGER } from '../common/nest-logger';
import { withTimeout } from '../common/with-timeout';
import { Metrics } from '../telemetry/metrics';
import { PG_KEEPALIVE_INITIAL_DELAY_MS } from '../store/data-source';
import { ImportRequestLogRepository } from './import-request-log.repository';
import { ImportScheduler } from './import-scheduler.service';

/** A standby tries to become the importer this often; a leader checks its lock connection as often. */
const LEADER_CHECK_MS = 1_000;
const LOCK_CONNECT_TIMEOUT_MS = 5_000;

/**
 * One importer per CAAC account across every instance (invariant 6): the instance holding the
 * account's Postgres advisory lock runs the scheduler; the others stand by and take over within
 * about a second of the leader's connection dying, because Postgres frees the lock with it.
 *
 * The API's rate window outlives a leader: every import request is recorded in Postgres before it
 * is sent, and a new leader charges its client's bucket with the requests of the last window before
 * it imports anything, so fail-over never puts a 16th request in a rolling minute.
 */
@Injectable()
export class ImporterLeader implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private leading = false;
  private readonly requests: ImportRequestLogRepository;

  constructor(
    @Inject(APP_CONFIG) private readonly config: AppConfig,
    @Inject(LOGGER) private readonly logger: Logger,
    @Inject(CLOCK) private readonly clock: Clock,
    private readonly scheduler: ImportScheduler,
    private readonly metrics: Metrics,
    private readonly client: CaacClient,
    dataSource: DataSource,
  ) {
    this.requests = new ImportRequestLogRepository(dataSource, config.caac.account);
    this.client.recordImportRequestsWith(this.requests);
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** False in an ingest-only instance (IMPORTER_ENABLED=false): it never runs for leader. */
  get enabled(): boolean {
    return this.config.importerEnabled;
  }

  onApplicationBootstrap(): void {
    if (!this.enabled) return;
    this.loop = this.run();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      try {
        await this.tryToLead();
      } catch (error) {
        if (!this.stopping.signal.aborted) this.logger.warn({ err: error }, 'importer election failed; retrying');
      }
      await this.clock.sleep(LEADER_CHECK_MS, this.stopping.signal).catch(() => undefined);
    }
  }

  private async tryToLead(): Promise<void> {
    const lock = new Client({
      connectionString: this.config.database.url,
      connectionTimeoutMillis: LOCK_CONNECT_TIMEOUT_MS,
      application_name: 'caac-sync-importer-lock',
      // Leadership lasts as long as this connection: a silently dropped one must be found out.
      keepAlive: true,
      keepAliveInitialDelayMillis: PG_KEEPALIVE_INITIAL_DELAY_MS,
    });
    lock.on('error', () => undefined); // a dead connection shows up in the next check
    await lock.connect();
    try {
      const [{ locked }] = (
        await lock.query<{ locked: boolean }>(`SELECT pg_try_advisory_lock(hashtext('caac-sync.importer'), hashtext($1)) AS locked`, [
          this.config.caac.account,
        ])
      ).rows as [{ locked: boolean }];
      if (!locked) return;
      // TRICKY: before anything is imported. Ages come from the database's clock, which both
      // leaders' records share; a failure here gives the lock up and the election tries again.
      const ages = await this.requests.agesWithin(this.client.importWindowMs);
      this.client.seedImportRequests(ages);
      this.logger.info({ account: this.config.caac.account, recentImportRequests: ages.length, firstImportInMs: this.client.importWaitMs() }, 'import rate window taken over');
      await this.lead(lock);
    } finally {
      await lock.end().catch(() => undefined);
    }
  }

  private async lead(lock: Client): Promise<void> {
    const lost = new AbortController();
    const signal = AbortSignal.any([lost.signal, this.stopping.signal]);
    this.leading = true;
    this.metrics.importerLeader.set(1);
    this.logger.info({ account: this.config.caac.account }, 'importer leadership acquired');
    // The scheduler also stops by itself when a write finds that another instance took over.
    const work = this.scheduler.run(signal).finally(() => lost.abort());
    try {
      // TRICKY: leadership lasts exactly as long as the lock's connection; when a check fails the
      // lock may already belong to another instance, so the scheduler stops at once.
      while (!signal.aborted) {
        await this.clock.sleep(LEADER_CHECK_MS, signal).catch(() => undefined);
        if (signal.aborted) break;
        try {
          await withTimeout(lock.query('SELECT 1'), LOCK_CONNECT_TIMEOUT_MS, 'importer lock connection');
        } catch (error) {
          this.logger.error({ err: error }, 'importer lock connection lost; stepping down');
          lost.abort();
        }
      }
    } finally {
      lost.abort();
      await work;
      this.leading = false;
      this.metrics.importerLeader.set(0);
      this.logger.info('importer leadership released');
    }
  }
}
