/**
 * bench:ingest-floor — the CPU an event costs in the stages every ingest pays, measured apart:
 * decoding and validating the JSON event, coalescing a batch, and the Postgres upsert per staged
 * contact (the service's merging upsert and, as a floor, a bare upsert that merges nothing). From
 * them, upper bounds on ingest throughput on this machine's cores if nothing else (broker, Kafka
 * client, transactions) cost anything. Needs Postgres, not the broker.
 *
 *   npm run bench:ingest-floor
 */
import { cpus } from 'node:os';
import { readFileSync } from 'node:fs';
import { DataSource } from 'typeorm';
import { coalesceBatch, type RawMessage } from '../src/ingest/batch-coalescer';
import { createProfileChangeDecoder } from '../src/ingest/decoders/profile-change.v1.decoder';
import { PendingChangeRepository, type StagedChange } from '../src/store/pending-change.repository';
import { toStored } from '../src/store/stored-patch';
import { createMigratedDatabase, dropDatabase, profileChangeEvents, startPostgres } from './bench-support';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
/** What one fetch of INGEST_MAX_BYTES_PER_PARTITION's default (1 MiB) holds, unless given. */
const FETCH_BYTES = 1_048_576;
/** Kafka's per-record overhead in a record batch (varint lengths, deltas, attributes), roughly. */
const RECORD_OVERHEAD_BYTES = 12;
const DATABASE = `caac_sync_bench_floor_${Date.now()}`;

const log = (message: string) => process.stderr.write(`bench:ingest-floor ${message}\n`);

/** CPU time (user + system) of this process, in µs. */
function ownCpuUs(): number {
  const usage = process.cpuUsage();
  return usage.user + usage.system;
}

/** CPU time of another process on this machine (Linux /proc), in µs. */
function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1_000_000) / 100; // USER_HZ is 100 on Linux
}

/** The stream split as the producer splits it (by key), then cut into fetch-sized batches. */
function partitionBatches(): { batches: RawMessage[][]; batchEvents: number } {
  const partitions: RawMessage[][] = Array.from({ length: PARTITIONS }, () => []);
  let bytes = 0;
  for (const { key, value } of profileChangeEvents(EVENTS, CONTACTS)) {
    const partition = Number(key.slice(2)) % PARTITIONS;
    const messages = partitions[partition]!;
    const message = { offset: String(messages.length), key: Buffer.from(key), value: Buffer.from(value) };
    bytes += message.key.length + message.value.length + RECORD_OVERHEAD_BYTES;
    messages.push(message);
  }
  const batchEvents = Number(process.env.BENCH_BATCH_EVENTS ?? Math.floor(FETCH_BYTES / (bytes / EVENTS)));
  const batches: RawMessage[][] = [];
  for (const messages of partitions) {
    for (let start = 0; start < messages.length; start += batchEvents) batches.push(messages.slice(start, start + batchEvents));
  }
  return { batches, batchEvents };
}

/** Runs `write` for every batch in its own transaction; returns the Postgres backend's CPU per row, in µs. */
async function postgresCpuPerRow(dataSource: DataSource, staged: StagedChange[][], write: (changes: StagedChange[]) => Promise<void>): Promise<number> {
  await dataSource.query(`TRUNCATE pending_change`);
  const [{ pid }] = await dataSource.query(`SELECT pg_backend_pid() AS pid`);
  const before = processCpuUs(pid);
  for (const changes of staged) {
    await dataSource.query('BEGIN');
    await write(changes);
    await dataSource.query('COMMIT');
  }
  const rows = staged.reduce((sum, changes) => sum + changes.length, 0);
  return (processCpuUs(pid) - before) / rows;
}

async function main(): Promise<void> {
  startPostgres();
  // One connection, so every statement runs on the one backend whose CPU is read.
  const { dataSource } = await createMigratedDatabase(DATABASE, 1);
  try {
    log(`generating ${EVENTS} events over ${CONTACTS} contacts (Zipf) in ${PARTITIONS} partitions`);
    const { batches, batchEvents } = partitionBatches();
    const decode = createProfileChangeDecoder({ defaultPhoneRegion: 'TW', maxFutureSkewMs: 86_400_000 });
    const now = Date.now();

    log('decoding');
    for (const message of batches[0]!) decode(message.value, now); // warm-up
    let started = ownCpuUs();
    for (const batch of batches) for (const message of batch) decode(message.value, now);
    const decodeUs = (ownCpuUs() - started) / EVENTS;

    log('coalescing');
    started = ownCpuUs();
    const staged = batches.map((batch, i) => coalesceBatch('bench', i % PARTITIONS, batch, decode, now).changes);
    const coalesceUs = (ownCpuUs() - started) / EVENTS;
    const rows = staged.reduce((sum, changes) => sum + changes.length, 0);

    log(`upserting ${rows} staged contacts, twice`);
    const repository = new PendingChangeRepository();
    const mergeUs = await postgresCpuPerRow(dataSource, staged, (changes) => repository.merge(dataSource.manager, changes));
    const bareUs = await postgresCpuPerRow(dataSource, staged, async (changes) => {
      const json = JSON.stringify(changes.map((change) => ({ t: change.keyType, k: change.keyValue, f: toStored(change.fields) })));
      await dataSource.query(
        `INSERT INTO pending_change AS p (key_type, key_value, fields)
         SELECT r.t, r.k, r.f FROM jsonb_to_recordset($1::jsonb) AS r(t text, k text, f jsonb)
         ON CONFLICT (key_type, key_value) DO UPDATE SET fields = EXCLUDED.fields`,
        [json],
      );
    });

    const rowsPerEvent = rows / EVENTS;
    // What the stages ingest must run cost an event: decode, validate and coalesce it, and its
    // share of a newest-wins upsert. The floor drops coalescing and merging: read, check, write.
    // Neither counts the broker, the Kafka client, transactions, offsets or anything else.
    const requiredUs = coalesceUs + mergeUs * rowsPerEvent;
    const floorUs = decodeUs + bareUs * rowsPerEvent;
    const cores = cpus().length;
    const round = (value: number, digits = 2) => Number(value.toFixed(digits));
    process.stdout.write(
      JSON.stringify({
        case: 'ingest-floor',
        events: EVENTS,
        contacts: CONTACTS,
        batch_events: batchEvents,
        staged_rows: rows,
        rows_per_event: round(rowsPerEvent, 3),
        decode_cpu_us_per_event: round(decodeUs),
        coalesce_cpu_us_per_event: round(coalesceUs),
        pg_merge_cpu_us_per_row: round(mergeUs),
        pg_bare_upsert_cpu_us_per_row: round(bareUs),
        required_cpu_us_per_event: round(requiredUs),
        floor_cpu_us_per_event: round(floorUs),
        cores,
        max_events_per_s: Math.round((cores * 1_000_000) / requiredUs),
        max_events_per_s_floor: Math.round((cores * 1_000_000) / floorUs),
      }) + '\n',
    );
  } finally {
    await dataSource.destroy();
    await dropDatabase(DATABASE);
  }
}

main().catch((error) => {
  process.stderr.write(`bench:ingest-floor failed: ${(error as Error).stack}\n`);
  process.exit(1);
});
