import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric name starts with this (DESIGN §4.6). */
export const METRIC_PREFIX = 'caac_sync_';

/**
 * The service's Prometheus metrics, one registry per process (per app in tests). Labels never carry
 * contact keys, api keys or tokens: only topics, stages, outcomes and kinds.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly ingestEvents = new Counter({
    name: `${METRIC_PREFIX}ingest_events_total`,
    help: 'Events read from source topics, by topic and outcome (consumed; of those: staged, coalesced, duplicate, skipped, dead_lettered; redelivered ones below the stored offset)',
    labelNames: ['topic', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly ingestBatchSeconds = new Histogram({
    name: `${METRIC_PREFIX}ingest_batch_duration_seconds`,
    help: 'Time to make one Kafka batch durable in Postgres',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly ingestBatchSize = new Histogram({
    name: `${METRIC_PREFIX}ingest_batch_messages`,
    help: 'Messages per Kafka batch',
    buckets: [1, 10, 100, 500, 1000, 2500, 5000, 10000],
    registers: [this.registry],
  });

  readonly ingestRetries = new Counter({
    name: `${METRIC_PREFIX}ingest_batch_retries_total`,
    help: 'Kafka batches retried because Postgres or the dead-letter topic failed',
    registers: [this.registry],
  });

  readonly deadLetters = new Counter({
    name: `${METRIC_PREFIX}dead_letters_total`,
    help: 'Messages written to the dead-letter topic, by stage',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });

  readonly pendingContacts = new Gauge({
    name: `${METRIC_PREFIX}pending_contacts`,
    help: 'Contacts with changes waiting for an import, by key type',
    labelNames: ['key_type'] as const,
    registers: [this.registry],
  });

  readonly imports = new Counter({
    name: `${METRIC_PREFIX}imports_total`,
    help: 'Import batches by outcome (submitted, done, done_with_rejections, task_failed, retrying, outcome_unknown, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly importRows = new Counter({
    name: `${METRIC_PREFIX}import_rows_total`,
    help: 'Profiles sent in accepted import requests',
    registers: [this.registry],
  });

  readonly importFieldsDropped = new Counter({
    name: `${METRIC_PREFIX}import_fields_dropped_total`,
    help: 'Staged fields not sent because CAAC already had the value (unchanged) or a newer one (stale)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly importerLeader = new Gauge({
    name: `${METRIC_PREFIX}importer_leader`,
    help: '1 while this instance is the importer of its CAAC account',
    registers: [this.registry],
  });

  readonly caacResponses = new Counter({
    name: `${METRIC_PREFIX}caac_responses_total`,
    help: 'Profile API answers by endpoint and HTTP status',
    labelNames: ['endpoint', 'status'] as const,
    registers: [this.registry],
  });

  readonly caacBreakerOpen = new Gauge({
    name: `${METRIC_PREFIX}caac_breaker_state`,
    help: 'Profile API circuit breaker: 0 closed, 0.5 half open, 1 open',
    registers: [this.registry],
  });

  /** Request time (epoch ms) of the newest export delivered to every sink; set by the export runner. */
  newestExportAt: number | undefined;

  readonly exportNewestAge = (() => {
    const metrics = this;
    return new Gauge({
      name: `${METRIC_PREFIX}export_newest_complete_age_seconds`,
      help: 'Seconds since the newest complete export was requested (its data is up to 24 h older); absent before the first',
      registers: [this.registry],
      collect() {
        if (metrics.newestExportAt === undefined) this.reset();
        else this.set((Date.now() - metrics.newestExportAt) / 1000);
      },
    });
  })();

  readonly exports = new Counter({
    name: `${METRIC_PREFIX}exports_total`,
    help: 'Export jobs by outcome (done, failed, expired) and attempts that failed and were retried (retried)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly exportRows = new Counter({
    name: `${METRIC_PREFIX}export_rows_total`,
    help: 'Exported contacts delivered, by sink (table, topic) and tombstones sent (topic_tombstone)',
    labelNames: ['sink'] as const,
    registers: [this.registry],
  });

  readonly exportBytes = new Counter({
    name: `${METRIC_PREFIX}export_bytes_total`,
    help: 'Bytes of export files downloaded',
    registers: [this.registry],
  });

  readonly exportMalformedRows = new Counter({
    name: `${METRIC_PREFIX}export_malformed_rows_total`,
    help: 'Export file rows that could not be read as a contact and went to the dead-letter topic',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }
}
