import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Profile API endpoints the client calls, as metric labels. */
const CAAC_ENDPOINTS = ['import', 'import_status', 'export', 'export_status', 'export_list'] as const;
/** Why an importer cannot import, as the `reason` label of importer_unhealthy. */
export const IMPORTER_UNHEALTHY_REASONS = ['refused', 'stalled'] as const;

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

  readonly ingestAbsentColumns = new Gauge({
    name: `${METRIC_PREFIX}ingest_absent_columns`,
    help: "1 for each key or mapped column of a Debezium mapping that the topic's events lack (a typo in the mapping, or a column the connector does not send), by topic, column and role",
    labelNames: ['topic', 'column', 'role'] as const,
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
    help: 'Contacts with changes waiting for an import, by key type: a true count kept by Postgres triggers, the same on every instance',
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
    help: 'Staged fields not sent because CAAC already had the value (unchanged), a newer one (stale), or another key of the same contact carries a newer one (cross_key)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly importFieldsRejected = new Counter({
    name: `${METRIC_PREFIX}import_fields_rejected_total`,
    help: "Fields CAAC refused by name in a row (e.g. a display_mobile another contact holds): each dead-lettered alone while the row's other fields were sent again, by field",
    labelNames: ['field'] as const,
    registers: [this.registry],
  });

  // Set from the latest reconciled export (DESIGN §4.6 drift): where CAAC differs from what was sent.
  readonly driftFields = new Gauge({
    name: `${METRIC_PREFIX}drift_fields`,
    help: 'Fields of the latest reconciled export whose CAAC value differs from the one last sent, by field',
    labelNames: ['field'] as const,
    registers: [this.registry],
  });

  readonly driftContacts = new Gauge({
    name: `${METRIC_PREFIX}drift_contacts`,
    help: 'Contacts of the latest reconciled export with at least one drifted field',
    registers: [this.registry],
  });

  readonly reconciledExports = new Counter({
    name: `${METRIC_PREFIX}reconciled_exports_total`,
    help: 'Complete exports learned into what the importer believes CAAC holds',
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

  // --- Operations: what an on-call engineer alerts on (lag, backlog age, API latency, health). ---
  // Gauges read from Postgres or Kafka are refreshed per scrape by OpsMetricsCollector, from
  // bounded, cheap queries; the rest are observed where the thing happens.

  readonly consumerLag = new Gauge({
    name: `${METRIC_PREFIX}consumer_lag_messages`,
    help: 'Per source partition: the high watermark minus the next offset stored in Postgres (messages not yet staged); watermarks cached a few seconds',
    labelNames: ['topic', 'partition'] as const,
    registers: [this.registry],
  });

  readonly pendingOldestAgeSeconds = new Gauge({
    name: `${METRIC_PREFIX}pending_oldest_age_seconds`,
    help: 'Age of the oldest pending contact by key type (0 when none), by the database clock; above the flush interval the importer is behind',
    labelNames: ['key_type'] as const,
    registers: [this.registry],
  });

  readonly flushIntervalSeconds = new Gauge({
    name: `${METRIC_PREFIX}flush_interval_seconds`,
    help: 'FLUSH_INTERVAL_MS of this instance, in seconds: the backlog age alert compares the oldest pending contact with it',
    registers: [this.registry],
  });

  readonly importInFlightAgeSeconds = new Gauge({
    name: `${METRIC_PREFIX}import_in_flight_age_seconds`,
    help: 'Age of the open import batch of the account since it was last sent (or claimed), 0 when none is open',
    registers: [this.registry],
  });

  readonly importTaskSeconds = new Histogram({
    name: `${METRIC_PREFIX}import_task_duration_seconds`,
    help: 'Import tasks from sending the request to CAAC reporting them done, by whether the task succeeded',
    labelNames: ['success'] as const,
    buckets: [1, 2, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  readonly caacRequestSeconds = new Histogram({
    name: `${METRIC_PREFIX}caac_request_duration_seconds`,
    help: 'Profile API requests from sending to the whole answer, by endpoint and HTTP status (requests without an answer are not here)',
    labelNames: ['endpoint', 'status'] as const,
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly caacRateLimited = new Counter({
    name: `${METRIC_PREFIX}caac_rate_limited_total`,
    help: 'Profile API answers 429 (rate limited), by endpoint; the import pace is meant to keep this at 0',
    labelNames: ['endpoint'] as const,
    registers: [this.registry],
  });

  readonly caacTokenWaitSeconds = new Histogram({
    name: `${METRIC_PREFIX}caac_token_wait_seconds`,
    help: 'Time a Profile API call waited for a token of its bucket (import: the 15/min pace; status: polls and exports)',
    labelNames: ['bucket'] as const,
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 2, 4, 8, 15, 30, 60],
    registers: [this.registry],
  });

  readonly deadLetterOutboxUnpublished = new Gauge({
    name: `${METRIC_PREFIX}dead_letter_outbox_unpublished`,
    help: 'Dead letters in the Postgres outbox not yet on the dead-letter topic',
    registers: [this.registry],
  });

  readonly deadLetterOutboxOldestAgeSeconds = new Gauge({
    name: `${METRIC_PREFIX}dead_letter_outbox_oldest_age_seconds`,
    help: 'Age of the oldest unpublished dead letter in the outbox, 0 when none',
    registers: [this.registry],
  });

  readonly deadLetterRelayFailures = new Counter({
    name: `${METRIC_PREFIX}dead_letter_relay_failures_total`,
    help: 'Rounds of the dead-letter relay that failed (the topic or Postgres refused); the letters stay in the outbox',
    registers: [this.registry],
  });

  readonly adminAuthFailures = new Counter({
    name: `${METRIC_PREFIX}admin_auth_failures_total`,
    help: 'Requests to /admin refused for a missing or wrong bearer token',
    registers: [this.registry],
  });

  readonly importerUnhealthy = new Gauge({
    name: `${METRIC_PREFIX}importer_unhealthy`,
    help: '1 for the reason the importer of this instance cannot import (refused: CAAC refuses requests as a whole; stalled: its loop has not turned), 0 otherwise',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  readonly healthCheckUp = new Gauge({
    name: `${METRIC_PREFIX}health_check_up`,
    help: 'Each health check as last evaluated (1 up, 0 down), by probe (live, ready) and check; a scrape evaluates them',
    labelNames: ['probe', 'check'] as const,
    registers: [this.registry],
  });

  readonly metricsCollectFailures = new Counter({
    name: `${METRIC_PREFIX}metrics_collect_failures_total`,
    help: 'Reads of Postgres or Kafka for gauges that failed or timed out, by source; those gauges keep their last value until a read succeeds',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });

  // --- Exports. ---

  /**
   * Request time (epoch ms, this process's clock) of the newest export delivered to every sink: set
   * from Postgres at each scrape (so every instance agrees, standbys included), and by the export
   * runner as it finishes one.
   */
  newestExportAt: number | undefined;

  readonly exportNewestAge = (() => {
    const metrics = this;
    return new Gauge({
      name: `${METRIC_PREFIX}export_newest_complete_age_seconds`,
      help: 'Seconds since the newest complete export of the account was requested (its data is up to 24 h older), read from Postgres so every instance agrees; absent before the first',
      registers: [this.registry],
      collect() {
        if (metrics.newestExportAt === undefined) this.reset();
        else this.set(Math.max(0, (Date.now() - metrics.newestExportAt) / 1000));
      },
    });
  })();

  readonly exportLastFailed = new Gauge({
    name: `${METRIC_PREFIX}export_last_failed`,
    help: '1 when the newest export of the account that ended did so without delivering (failed or expired), 0 when it was delivered or none has ended; read from Postgres, so every instance agrees',
    registers: [this.registry],
  });

  readonly exportMaxStalenessSeconds = new Gauge({
    name: `${METRIC_PREFIX}export_max_staleness_seconds`,
    help: 'EXPORT_MAX_STALENESS_MS of this instance, in seconds: the stale-export alert compares the newest complete export with it',
    registers: [this.registry],
  });

  readonly exports = new Counter({
    name: `${METRIC_PREFIX}exports_total`,
    help: 'Export jobs by outcome (done, failed, expired, held, superseded) and attempts that failed and were retried (retried)',
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

  readonly exportHeld = new Gauge({
    name: `${METRIC_PREFIX}export_held`,
    help: '1 while an export of the account waits as held (it would delete more of the mirror than EXPORT_MAX_DELETE_RATIO), else 0; read from Postgres, so every instance agrees',
    registers: [this.registry],
  });

  readonly exportKeptOnRefusal = new Counter({
    name: `${METRIC_PREFIX}export_kept_on_refusal_total`,
    help: 'Contacts whose export row was refused and that kept their previous row in the mirror',
    registers: [this.registry],
  });

  readonly exportMalformedRows = new Counter({
    name: `${METRIC_PREFIX}export_malformed_rows_total`,
    help: 'Export file rows that could not be read as a contact and went to the dead-letter topic',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
    // Known label values start at 0, so that rates and alerts see a series before the first event.
    for (const endpoint of CAAC_ENDPOINTS) this.caacRateLimited.inc({ endpoint }, 0);
    for (const reason of IMPORTER_UNHEALTHY_REASONS) this.importerUnhealthy.set({ reason }, 0);
    for (const source of ['postgres', 'kafka'] as const) this.metricsCollectFailures.inc({ source }, 0);
  }

  /** One Profile API answer: counted by status, timed, and 429s counted apart. */
  observeCaacResponse(endpoint: string, status: number, durationMs: number): void {
    this.caacResponses.inc({ endpoint, status: String(status) });
    this.caacRequestSeconds.observe({ endpoint, status: String(status) }, durationMs / 1000);
    if (status === 429) this.caacRateLimited.inc({ endpoint });
  }
}
