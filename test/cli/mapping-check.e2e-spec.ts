import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../support/cli-process';
import { produce } from '../support/kafka-io';
import { createTopics, testKafka, uniqueName } from '../support/service';

/** The guide's worked example (docs/own-crm-table.md). */
const MEMBERS_MAPPING = resolve(__dirname, '../../config/members.mapping.json');

/** A row of the guide's `members` table as Debezium's Postgres connector sends it without schemas: DATE as days since 1970. */
function aMemberRow(i: number): Record<string, unknown> {
  return {
    member_no: `M-${1000 + i}`,
    mail: `Member${i}@Example.com`,
    phone: `0912-345-${String(100 + i).padStart(3, '0')}`,
    dob: 7395 + i, // 1990-04-01 + i days
    level: i % 2 === 0 ? 'Gold' : 'Silver',
    first: 'Amy',
    last: `Lin${i}`,
    vip: i % 3 === 0,
  };
}

function aSnapshotEvent(row: Record<string, unknown>): string {
  return JSON.stringify({
    before: null,
    after: row,
    source: { connector: 'postgresql', name: 'crm', ts_ms: 1_764_324_930_123, schema: 'public', table: 'members' },
    op: 'r',
    ts_ms: 1_764_324_930_456,
  });
}

describe('npm run cli -- mapping:check', () => {
  const topic = uniqueName('crm.public.members');
  let directory: string;
  // Only the Kafka settings: a mapping is checked before the database or the service's topics are set up.
  const env = {};

  beforeAll(async () => {
    directory = mkdtempSync(join(tmpdir(), 'caac-sync-mapping-check-'));
    await createTopics([{ topic, partitions: 2 }]);
    await produce(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ key: `M-${1000 + i}`, value: aSnapshotEvent(aMemberRow(i)) })),
    );
  });

  afterAll(() => {
    rmSync(directory, { recursive: true, force: true });
  });

  /** The guide's mapping with `change` applied, written to a file of its own. */
  function aMapping(name: string, change: (mapping: { keys: Array<Record<string, string>>; fields: Record<string, unknown> }) => void): string {
    const mapping = JSON.parse(JSON.stringify(require(MEMBERS_MAPPING)));
    change(mapping);
    const file = join(directory, `${name}.mapping.json`);
    writeFileSync(file, JSON.stringify(mapping));
    return file;
  }

  const check = (mapping: string, ...extra: string[]) => runCli(['mapping:check', '--topic', topic, '--mapping', mapping, ...extra], env);

  it('passes the guide\'s mapping, showing each column with a value and what it becomes in CAAC', async () => {
    const run = await check(MEMBERS_MAPPING);

    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const lines = run.stdout.split('\n');
    expect(lines[0]).toBe(`topic     ${topic}: 20 messages read, 20 row changes`);
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}member_no -> customer_id +seen 20\/20, with a value 20; "M-10\d\d" -> "M-10\d\d"$/));
    expect(lines).toContainEqual('  coverage: 20/20 rows have a usable import key');
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}dob -> birthday +seen 20\/20, with a value 20; \d+ -> "1990-0\d-\d\d"$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}phone -> display_mobile +seen 20\/20, with a value 20; "0912-345-1\d\d" -> "\+8869123451\d\d"$/));
    expect(lines).toContainEqual(expect.stringMatching(/^ {2}vip -> cl_custom_vip +seen 20\/20, with a value 20; (true|false) -> "(true|false)"$/));
    expect(lines.at(-2)).toBe('result    OK: every key and mapped column appears and converts');
  });

  it('fails on a mapped column that never appears, and names the column meant', async () => {
    const mapping = aMapping('column-typo', (m) => {
      delete m.fields.mail;
      m.fields.e_mail = 'display_email';
    });

    const run = await check(mapping);

    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/\n {2}e_mail -> display_email +NEVER SEEN \(did you mean "mail"\?\)\n/);
    expect(run.stdout).toContain('PROBLEM   mapped column "e_mail" never appears in the events (did you mean "mail"?)');
  });

  it('fails on a key column that never appears, with the key coverage of the others', async () => {
    const mapping = aMapping('key-typo', (m) => {
      m.keys[0]!.column = 'memberno';
    });

    const run = await check(mapping, '--json');

    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout);
    expect(report.keys).toEqual([
      { column: 'memberno', field: 'customer_id', role: 'key', seen: 0, withValue: 0, didYouMean: 'member_no' },
      { column: 'mail', field: 'display_email', role: 'key', seen: 20, withValue: 20, sample: { raw: expect.stringMatching(/^"Member\d+@Example.com"$/), converted: expect.stringMatching(/^"member\d+@example.com"$/) } },
    ]);
    expect(report.keyed).toBe(20);
    expect(report.problems).toEqual(['key column "memberno" never appears in the events (did you mean "member_no"?)']);
  });

  it('fails on a date column mapped without its conversion, saying what to add', async () => {
    const mapping = aMapping('no-date-conversion', (m) => {
      m.fields.dob = 'birthday';
    });

    const run = await check(mapping);

    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      'PROBLEM   column "dob" -> birthday: must be a real date written YYYY-MM-DD; an integer here looks like days since 1970 (a Debezium DATE): ' +
        'add "convert": "date" to column dob in the mapping (20 of 20 rows)',
    );
  });

  it('leaves no consumer group behind', async () => {
    const admin = testKafka().admin();
    await admin.connect();
    try {
      const { groups } = await admin.listGroups();
      expect(groups.filter((group) => group.groupId.startsWith('caac-sync-cli-reader-'))).toEqual([]);
    } finally {
      await admin.disconnect();
    }
  });
});
