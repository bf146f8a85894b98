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
import { compileAvro } from '../src/ingest/decoders/avro-connect';
import { createDebeziumDecoder, createDebeziumRecordDecoder } from '../src/ingest/decoders/debezium.decoder';
import { parseDebeziumMapping } from '../src/ingest/decoders/debezium-mapping';
import { PROFILE_CHANGE_V1_AVRO_SCHEMA } from '../src/ingest/decoders/profile-change.v1.decoder';
import { createFramedDecoder, debeziumFromAvro, profileChangeFromAvro } from '../src/ingest/decoders/registry-framed.decoder';
import type { Decoder } from '../src/ingest/decoders/decode-result';
import { frame } from '../src/schema-registry/wire-format';
import { customersAvroSchema, framedAvro } from '../test/ingest/decoders/debezium-avro.factory';
import { aCustomerRow, anInsert, SOURCE_TS_MS, withSchema } from '../test/ingest/decoders/debezium.factory';
import { createMigratedDatabase, dropDatabase, profileChangeEvents, startPostgres } from './bench-support';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);
const CONTACTS = Number(process.env.BENCH_CONTACTS ?? 100_000);
const PARTITIONS = Number(process.env.BENCH_PARTITIONS ?? 4);
/** A staged batch, unless given: what a fetch of 1 MiB holds, at most INGEST_MAX_BATCH_EVENTS's default. */
const FETCH_BYTES = 1_048_576;
const MAX_BATCH_EVENTS = 5_000;
/** Kafka's per-record overhead in a record batch (varint lengths, deltas, attributes), roughly. */
const RECORD_OVERHEAD_BYTES = 12;
const DATABASE = `caac_sync_bench_floor_${Date.now()}`;
/** Events per encoding in the decode-cost comparison (JSON against Avro through a Schema Registry). */
const CODEC_EVENTS = Number(process.env.BENCH_CODEC_EVENTS ?? 200_000);

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
  const batchEvents = Number(process.env.BENCH_BATCH_EVENTS ?? Math.min(MAX_BATCH_EVENTS, Math.floor(FETCH_BYTES / (bytes / EVENTS))));
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

/** CPU µs per event of `decode` over `values` (after a warm-up); every outcome must be a change. */
function decodeCost(decode: Decoder, values: Buffer[], now: number): number {
  for (const value of values.slice(0, 10_000)) decode(value, now);
  const started = ownCpuUs();
  let changes = 0;
  for (const value of values) if (decode(value, now).kind === 'change') changes++;
  const us = (ownCpuUs() - started) / values.length;
  if (changes !== values.length) throw new Error(`only ${changes} of ${values.length} events decoded to a change`);
  return us;
}

/**
 * Decode cost per event of the same changes in each encoding: Debezium inserts of the customers
 * table (JSON without and with the converter's schema, Avro framed for the Schema Registry) and
 * profile-change.v1 (JSON, Avro framed). The registry lookup is a per-batch map read, not counted.
 */
function codecCosts(now: number): Record<string, number> {
  const options = { defaultPhoneRegion: 'TW', maxFutureSkewMs: 86_400_000 };
  const mapping = parseDebeziumMapping(JSON.parse(readFileSync('config/customers.mapping.json', 'utf8')), 'customers.mapping.json');
  const avroSchema = customersAvroSchema();
  const schemaOf = (id: number, schema: unknown) => () => ({ id, schemaType: 'AVRO' as const, schema: JSON.stringify(schema) });
  const debeziumJson: Buffer[] = [];
  const debeziumWrapped: Buffer[] = [];
  const debeziumAvro: Buffer[] = [];
  for (let i = 0; i < CODEC_EVENTS; i++) {
    const payload = anInsert(aCustomerRow({ customer_id: `D-${i}`, email: `d${i}@example.com`, points: i % 1000 }));
    payload.source.ts_ms = SOURCE_TS_MS + i;
    debeziumJson.push(Buffer.from(JSON.stringify(payload)));
    debeziumWrapped.push(Buffer.from(JSON.stringify(withSchema(payload))));
    debeziumAvro.push(framedAvro(1, avroSchema, payload));
  }
  const profileAvroType = compileAvro(JSON.stringify(PROFILE_CHANGE_V1_AVRO_SCHEMA)).type;
  const profileJson: Buffer[] = [];
  const profileAvro: Buffer[] = [];
  for (const { value } of profileChangeEvents(CODEC_EVENTS, CODEC_EVENTS)) {
    profileJson.push(Buffer.from(value));
    profileAvro.push(frame(2, profileAvroType.toBuffer(JSON.parse(value))));
  }
  const debeziumJsonDecoder = createDebeziumDecoder(mapping, options);
  const profileJsonDecoder = createProfileChangeDecoder(options);
  const round = (value: number) => Number(value.toFixed(2));
  return {
    codec_events: CODEC_EVENTS,
    debezium_json_bytes: Math.round(debeziumJson.reduce((sum, v) => sum + v.length, 0) / CODEC_EVENTS),
    debezium_json_schema_bytes: Math.round(debeziumWrapped.reduce((sum, v) => sum + v.length, 0) / CODEC_EVENTS),
    debezium_avro_bytes: Math.round(debeziumAvro.reduce((sum, v) => sum + v.length, 0) / CODEC_EVENTS),
    decode_debezium_json_cpu_us: round(decodeCost(debeziumJsonDecoder, debeziumJson, now)),
    decode_debezium_json_schema_cpu_us: round(decodeCost(debeziumJsonDecoder, debeziumWrapped, now)),
    decode_debezium_avro_cpu_us: round(
      decodeCost(
        createFramedDecoder('avro', FETCH_BYTES, { avro: debeziumFromAvro(createDebeziumRecordDecoder(mapping, options)), json: debeziumJsonDecoder })(schemaOf(1, avroSchema)),
        debeziumAvro,
        now,
      ),
    ),
    decode_profile_change_json_cpu_us: round(decodeCost(profileJsonDecoder, profileJson, now)),
    decode_profile_change_avro_cpu_us: round(
      decodeCost(
        createFramedDecoder('avro', FETCH_BYTES, { avro: profileChangeFromAvro(profileJsonDecoder), json: profileJsonDecoder })(schemaOf(2, PROFILE_CHANGE_V1_AVRO_SCHEMA)),
        profileAvro,
        now,
      ),
    ),
  };
}

async function main(): Promise<void> {
  if (process.env.BENCH_CODEC_ONLY === '1') {
    log(`decode cost per encoding, ${CODEC_EVENTS} events each`);
    process.stdout.write(JSON.stringify({ case: 'ingest-floor-codecs', ...codecCosts(Date.now()) }) + '\n');
    return;
  }
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

    log(`decode cost per encoding, ${CODEC_EVENTS} events each`);
    const codecs = codecCosts(now);

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
        ...codecs,
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
