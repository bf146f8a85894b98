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
    help: 'Events read from source topics, by topic and outcome (consumed; of those: staged, coalesced, duplicate, skipped, dead_lettered; of dead_lettered: storage_rejected, refused by Postgres; of staged and coalesced: key_changed, rows sent whole under a new contact key; redelivered ones below the stored offset)',
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

  readonly ingestIsolations = new Counter({
    name: `${METRIC_PREFIX}ingest_isolations_total`,
    help: 'Kafka batches Postgres refused for their data (a deterministic failure), split to isolate and dead-letter the refused events',
    labelNames: ['topic'] as const,
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
    help: 'Import batches by outcome (submitted, done, done_with_rejections, task_failed, transport_failed, refused, split, task_timeout, failed)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly importTransportFailures = new Counter({
    name: `${METRIC_PREFIX}import_transport_failures_total`,
    help: 'Import requests that did not become a task (429, 5xx, busy, outcome_unknown, circuit_open, network), by error code; they wait with backoff and spend no task budget',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly importTransportFailing = new Gauge({
    name: `${METRIC_PREFIX}import_transport_failures_in_a_row`,
    help: 'Import requests of the open batch that failed in a row without becoming a task (0 once one is accepted)',
    registers: [this.registry],
  });

  readonly importRefused = new Gauge({
    name: `${METRIC_PREFIX}importer_refused`,
    help: '1 while import requests are refused as a whole (400, 401, 403, 404, 422: a configuration problem); importing is stopped and retried rarely, by HTTP status',
    labelNames: ['status'] as const,
    registers: [this.registry],
  });

  readonly importTaskTimeouts = new Counter({
    name: `${METRIC_PREFIX}import_task_timeouts_total`,
    help: 'Import tasks not done within CAAC_TASK_TIMEOUT_MS; their rows were sent again',
    registers: [this.registry],
  });

  readonly importSplits = new Counter({
    name: `${METRIC_PREFIX}import_splits_total`,
    help: 'Import batches halved after a 413 (body too large)',
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

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }
}
