import type { MigrationInterface, QueryRunner } from 'typeorm';

/** The merge function as first created; the PL/pgSQL rewrite (1795900000000) restores it on revert. */
export const MERGE_FIELDS_FUNCTION_V1 = `
      CREATE FUNCTION caac_sync_merge_fields(a jsonb, b jsonb) RETURNS jsonb
      LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
        SELECT coalesce(jsonb_object_agg(k, CASE
            WHEN bv IS NULL THEN av
            WHEN av IS NULL THEN bv
            WHEN ((bv->>'ts')::bigint, (bv->>'seq')::bigint, (bv->'v')::text COLLATE "C")
               > ((av->>'ts')::bigint, (av->>'seq')::bigint, (av->'v')::text COLLATE "C") THEN bv
            ELSE av END), '{}'::jsonb)
        FROM (SELECT coalesce(x.key, y.key) AS k, x.value AS av, y.value AS bv
              FROM jsonb_each(coalesce(a, '{}'::jsonb)) x
              FULL JOIN jsonb_each(coalesce(b, '{}'::jsonb)) y ON x.key = y.key) fields
      $$`;

/**
 * The staging area between Kafka and the Profile API, and the records of every import and export.
 * Postgres is the truth: consumed offsets live beside the changes they produced (invariant 1).
 */
export class InitialSchema1795860000000 implements MigrationInterface {
  name = 'InitialSchema1795860000000';

  async up(db: QueryRunner): Promise<void> {
    // Per-field "newest wins" merge of two stamped patches ({"field": {"v", "ts", "seq"}}): the
    // greater (ts, seq) wins; an exact tie is broken by the value's text, so the merge is
    // commutative, associative and idempotent (invariants 2-4). Used by every upsert into
    // pending_change, so concurrent writers to one contact converge.
    await db.query(MERGE_FIELDS_FUNCTION_V1);

    // One row per contact with changes not yet claimed by an import.
    await db.query(`
      CREATE TABLE pending_change (
        key_type        text        NOT NULL,
        key_value       text        NOT NULL,
        fields          jsonb       NOT NULL,
        first_staged_at timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (key_type, key_value)
      )`);
    await db.query(`CREATE INDEX pending_change_oldest ON pending_change (key_type, first_staged_at)`);

    // What CAAC holds, as far as this service knows: per field, the hash and stamp of the value last
    // imported successfully (invariants 2 and 5).
    await db.query(`
      CREATE TABLE contact_state (
        key_type   text        NOT NULL,
        key_value  text        NOT NULL,
        fields     jsonb       NOT NULL,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (key_type, key_value)
      )`);

    await db.query(`
      CREATE TABLE import_batch (
        id              bigserial   PRIMARY KEY,
        account         text        NOT NULL,
        key_type        text        NOT NULL,
        status          text        NOT NULL,
        task_id         text,
        rows            integer     NOT NULL,
        attempts        integer     NOT NULL DEFAULT 0,
        created_at      timestamptz NOT NULL DEFAULT now(),
        submitted_at    timestamptz,
        finished_at     timestamptz,
        next_attempt_at timestamptz,
        total_num       integer,
        created_num     integer,
        updated_num     integer,
        failed_num      integer,
        last_error      text,
        CONSTRAINT import_batch_status CHECK (status IN ('claimed', 'submitting', 'submitted', 'retrying', 'done', 'failed'))
      )`);
    // Invariant 6 in the schema: at most one import of an account between submission and its end.
    await db.query(`
      CREATE UNIQUE INDEX import_batch_one_in_flight ON import_batch (account)
      WHERE status IN ('submitting', 'submitted')`);
    await db.query(`CREATE INDEX import_batch_status_idx ON import_batch (account, status, id)`);
    await db.query(`CREATE UNIQUE INDEX import_batch_task_id ON import_batch (task_id) WHERE task_id IS NOT NULL`);

    await db.query(`
      CREATE TABLE import_batch_item (
        batch_id  bigint NOT NULL REFERENCES import_batch (id) ON DELETE CASCADE,
        key_value text   NOT NULL,
        fields    jsonb  NOT NULL,
        PRIMARY KEY (batch_id, key_value)
      )`);

    // Where each partition's consumption stands: written in the same transaction as the changes.
    await db.query(`
      CREATE TABLE consumer_offset (
        group_id    text        NOT NULL,
        topic       text        NOT NULL,
        partition   integer     NOT NULL,
        next_offset bigint      NOT NULL,
        updated_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (group_id, topic, partition)
      )`);

    // Dead letters wait here until the dead-letter topic has them, so a Kafka outage loses none.
    await db.query(`
      CREATE TABLE dead_letter_outbox (
        id           bigserial   PRIMARY KEY,
        stage        text        NOT NULL,
        message_key  bytea,
        message      bytea,
        headers      jsonb       NOT NULL,
        created_at   timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz,
        attempts     integer     NOT NULL DEFAULT 0,
        last_error   text
      )`);
    await db.query(`CREATE INDEX dead_letter_outbox_unpublished ON dead_letter_outbox (id) WHERE published_at IS NULL`);

    await db.query(`
      CREATE TABLE export_job (
        id           bigserial   PRIMARY KEY,
        account      text        NOT NULL,
        task_id      text,
        status       text        NOT NULL,
        fields       jsonb,
        target       text        NOT NULL,
        requested_at timestamptz NOT NULL DEFAULT now(),
        finished_at  timestamptz,
        row_count    integer,
        rows_written integer     NOT NULL DEFAULT 0,
        download_url text,
        expires_at   timestamptz,
        last_error   text,
        CONSTRAINT export_job_status CHECK (status IN ('requested', 'running', 'downloading', 'done', 'failed', 'expired'))
      )`);
    await db.query(`
      CREATE UNIQUE INDEX export_job_one_running ON export_job (account)
      WHERE status IN ('requested', 'running', 'downloading')`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`DROP TABLE export_job`);
    await db.query(`DROP TABLE dead_letter_outbox`);
    await db.query(`DROP TABLE consumer_offset`);
    await db.query(`DROP TABLE import_batch_item`);
    await db.query(`DROP TABLE import_batch`);
    await db.query(`DROP TABLE contact_state`);
    await db.query(`DROP TABLE pending_change`);
    await db.query(`DROP FUNCTION caac_sync_merge_fields(jsonb, jsonb)`);
  }
}
