import { aChange, aCustomer, seededRandom, type Customer } from '../scripts/crm/crm-generator';

/**
 * Change events of the CRM `customers` table (docker/crm/schema.sql) as the Debezium Postgres
 * connector publishes them through Connect's JsonConverter with `schemas.enable=true`: key and
 * value each wrapped as `{schema, payload}`, the value an envelope with before / after / source /
 * op / ts_ms. The shapes and schemas are those of a real capture (docker/connect.sh with
 * CDC_SCHEMAS_ENABLE=true, REPLICA IDENTITY FULL): Debezium 3.7, about 4 KB an event.
 *
 * The stream: a snapshot read (op "r") of every row, then changes of rows drawn uniformly: updates
 * (op "u", one to three columns and updated_at, the whole old row in before), deletes (op "d", then
 * a tombstone, as `tombstones.on.delete` sends) and, for a deleted row drawn again, its re-insert
 * (op "c"). The same seed gives the same events in every run.
 */
export const DEBEZIUM_SEED = 11;
/** Share of changes that delete the row (each followed by a tombstone). */
export const DELETE_SHARE = 0.01;

export interface DebeziumStreamSummary {
  reads: number;
  creates: number;
  updates: number;
  deletes: number;
  tombstones: number;
  /** Rows alive at the end: what a mirror of the table holds. */
  liveRows: number;
  /** sum(points) over the live rows, to check a mirror's content and not only its count. */
  livePoints: number;
}

type Field = Record<string, unknown>;
const field = (name: string, type: string, optional: boolean, extra: Field = {}): Field => ({ type, optional, ...extra, field: name });

function rowFields(): Field[] {
  return [
    field('customer_id', 'string', false),
    field('first_name', 'string', true),
    field('last_name', 'string', true),
    field('email', 'string', true),
    field('mobile', 'string', true),
    field('birthday', 'int32', true, { name: 'io.debezium.time.Date', version: 1 }),
    field('gender', 'string', true),
    field('tier', 'string', true),
    field('points', 'int32', false, { default: 0 }),
    field('opt_in_sms', 'boolean', false, { default: false }),
    field('updated_at', 'string', false, { name: 'io.debezium.time.ZonedTimestamp', version: 1, default: '1970-01-01T00:00:00.000000Z' }),
  ];
}

function sourceFields(): Field[] {
  const snapshot = 'true,first,first_in_data_collection,last_in_data_collection,last,false,incremental';
  return [
    field('version', 'string', false),
    field('connector', 'string', false),
    field('name', 'string', false),
    field('ts_ms', 'int64', false),
    field('snapshot', 'string', true, { name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: snapshot }, default: 'false' }),
    field('db', 'string', false),
    field('sequence', 'string', true),
    field('ts_us', 'int64', true),
    field('ts_ns', 'int64', true),
    field('schema', 'string', false),
    field('table', 'string', false),
    field('txId', 'int64', true),
    field('lsn', 'int64', true),
    field('xmin', 'int64', true),
    field('origin', 'string', true),
    field('origin_lsn', 'int64', true),
  ];
}

/** The key and value schemas of `topic` (`<prefix>.public.customers`), as JSON text. */
export function customerSchemas(topic: string): { key: string; value: string } {
  const row = { type: 'struct', fields: rowFields(), optional: true, name: `${topic}.Value` };
  const block = [field('id', 'string', false), field('total_order', 'int64', false), field('data_collection_order', 'int64', false)];
  const value = {
    type: 'struct',
    fields: [
      { ...row, field: 'before' },
      { ...row, field: 'after' },
      { type: 'struct', fields: sourceFields(), optional: false, name: 'io.debezium.connector.postgresql.Source', version: 1, field: 'source' },
      { type: 'struct', fields: block, optional: true, name: 'event.block', version: 1, field: 'transaction' },
      field('op', 'string', false),
      field('ts_ms', 'int64', true),
      field('ts_us', 'int64', true),
      field('ts_ns', 'int64', true),
    ],
    optional: false,
    name: `${topic}.Envelope`,
    version: 2,
  };
  const key = { type: 'struct', fields: [field('customer_id', 'string', false)], optional: false, name: `${topic}.Key` };
  return { key: JSON.stringify(key), value: JSON.stringify(value) };
}

interface Image extends Omit<Customer, 'birthday'> {
  birthday: number | null;
  updated_at: string;
}

const DAY_MS = 86_400_000;

function image(customer: Customer, tsMs: number): Image {
  const birthday = customer.birthday === null ? null : Date.parse(`${customer.birthday}T00:00:00Z`) / DAY_MS;
  return { ...customer, birthday, updated_at: `${new Date(tsMs).toISOString().slice(0, -1)}000Z` };
}

/**
 * `events` messages over `rows` rows of `topic`, tombstones included (`rows` snapshot reads first,
 * so `events` must be at least `rows`). `summary` is filled in as the stream is read.
 */
export function* debeziumCustomerEvents(
  events: number,
  rows: number,
  topic: string,
  summary: DebeziumStreamSummary,
): Generator<{ key: string; value: string | null }> {
  if (events < rows) throw new Error(`${events} events cannot snapshot ${rows} rows`);
  const [prefix] = topic.split('.');
  const schemas = customerSchemas(topic);
  const random = seededRandom(DEBEZIUM_SEED);
  const base = Date.parse('2026-11-02T00:00:00Z');
  const current: Array<Image | null> = new Array(rows).fill(null);
  const customers: Customer[] = [];
  let lsn = 800_000_000;
  let txId = 1_000;
  let sent = 0;
  Object.assign(summary, { reads: 0, creates: 0, updates: 0, deletes: 0, tombstones: 0, liveRows: 0, livePoints: 0 });

  const keyOf = (n: number) => `{"schema":${schemas.key},"payload":{"customer_id":"C-${String(n).padStart(6, '0')}"}}`;
  const envelope = (op: string, before: Image | null, after: Image | null, tsMs: number, snapshot: string): string => {
    lsn += 4_096 + Math.floor(random() * 4_096);
    const source = {
      version: '3.7.0.Final',
      connector: 'postgresql',
      name: prefix,
      ts_ms: tsMs,
      snapshot,
      db: 'crm',
      sequence: `[null,"${lsn}"]`,
      ts_us: tsMs * 1000,
      ts_ns: tsMs * 1_000_000,
      schema: 'public',
      table: 'customers',
      txId: ++txId,
      lsn,
      xmin: null,
      origin: null,
      origin_lsn: null,
    };
    const payload = { before, after, source, transaction: null, op, ts_ms: tsMs + 150, ts_us: (tsMs + 150) * 1000, ts_ns: (tsMs + 150) * 1_000_000 };
    return `{"schema":${schemas.value},"payload":${JSON.stringify(payload)}}`;
  };

  for (let n = 0; n < rows; n++, sent++) {
    const tsMs = base + sent;
    customers[n] = aCustomer(DEBEZIUM_SEED, n);
    current[n] = image(customers[n]!, tsMs);
    const snapshot = n === 0 ? 'first' : n === rows - 1 ? 'last' : 'true';
    summary.reads++;
    yield { key: keyOf(n), value: envelope('r', null, current[n]!, tsMs, snapshot) };
  }
  while (sent < events) {
    const tsMs = base + sent;
    const n = Math.floor(random() * rows);
    const before = current[n];
    if (before === null) {
      customers[n] = aCustomer(DEBEZIUM_SEED + txId, n);
      current[n] = image(customers[n]!, tsMs);
      summary.creates++;
      sent++;
      yield { key: keyOf(n), value: envelope('c', null, current[n]!, tsMs, 'false') };
    } else if (random() < DELETE_SHARE && sent + 2 <= events) {
      current[n] = null;
      summary.deletes++;
      summary.tombstones++;
      sent += 2;
      yield { key: keyOf(n), value: envelope('d', before, null, tsMs, 'false') };
      yield { key: keyOf(n), value: null };
    } else {
      customers[n] = { ...customers[n]!, ...aChange(random, customers[n]!) };
      current[n] = image(customers[n]!, tsMs);
      summary.updates++;
      sent++;
      yield { key: keyOf(n), value: envelope('u', before, current[n]!, tsMs, 'false') };
    }
  }
  for (const row of current) {
    if (row === null) continue;
    summary.liveRows++;
    summary.livePoints += row.points;
  }
}
