import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { systemClock } from '../../src/common/clock';
import { ScriptedServer, type Answer } from '../caac/caac-test-server';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { ADMIN, jobEnded } from './export-fixtures';

/** A CAAC whose export file has a row of the wrong length and a row without contact_id among good ones. */
function aCaacWithAMalformedFile(server: ScriptedServer): void {
  const file = 'contact_id,customer_id,display_name\r\nid-1,C-1,Ada\r\nid-2,C-2,Bo,extra\r\n,C-3,Cy\r\nid-4,C-4,"Di, ""D"""\r\n';
  server.answer = (request): Answer => {
    if (request.method === 'POST' && request.path === '/cdh/v1/member/export') return { status: 202, body: { task_id: 't-1' } };
    if (request.path === '/cdh/v1/member/export/t-1') {
      const at = new Date().toISOString();
      return { status: 200, body: { task_id: 't-1', status: 'done', created_at: at, updated_at: at, result: { row_count: 4, download_url: `${server.url}/files/t-1.csv?signature=abc`, expires_at: new Date(Date.now() + 3_600_000).toISOString() } } };
    }
    if (request.path.startsWith('/files/t-1.csv')) return { status: 200, body: file };
    if (request.path === '/cdh/v1/member/export') return { status: 200, body: { exports: [] } };
    return { status: 404, body: { detail: 'Not Found' } };
  };
}

describe('export of a file with malformed rows', () => {
  let server: ScriptedServer;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;

  beforeAll(async () => {
    server = await new ScriptedServer(systemClock).start();
    aCaacWithAMalformedFile(server);
    const database = await migratedDatabase('export_malformed');
    drop = database.drop;
    db = database.client;
    const source = uniqueName('export-malformed.changes');
    await createTopics([{ topic: source }]);
    sut = await startService(
      testConfig({ DATABASE_URL: database.url, SOURCE_TOPICS: `${source}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('export-malformed'), DLQ_TOPIC: uniqueName('export-malformed.dlq'), CAAC_BASE_URL: server.url, EXPORT_POLL_MS: '20' }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await sut?.close();
    await server?.close();
    await drop?.();
  });

  it('dead-letters each malformed row (stage export) and delivers the others', async () => {
    const started = await fetch(`${base}/admin/exports`, { method: 'POST', headers: ADMIN });
    const { id } = (await started.json()) as { id: string };

    const job = await jobEnded(base, id);

    expect(job).toMatchObject({ status: 'done', rows_written: 2, malformed_rows: 2, attempts: 0 });
    const { rows: table } = await db.query(`SELECT contact_id, fields FROM caac_contact ORDER BY contact_id`);
    expect(table).toEqual([
      { contact_id: 'id-1', fields: { customer_id: 'C-1', display_name: 'Ada' } },
      { contact_id: 'id-4', fields: { customer_id: 'C-4', display_name: 'Di, "D"' } },
    ]);
    // In file order, keyed by the row's contact_id where it has one.
    const { rows: letters } = await db.query(`SELECT stage, convert_from(message_key, 'UTF8') AS key, convert_from(message, 'UTF8') AS value, headers FROM dead_letter_outbox ORDER BY id`);
    expect(letters).toEqual([
      {
        stage: 'export',
        key: 'id-2',
        value: '["id-2","C-2","Bo","extra"]',
        headers: expect.objectContaining({ 'caac-sync.errors.stage': 'export', 'caac-sync.errors.class': 'MalformedExportRow', 'caac-sync.errors.task_id': 't-1', 'caac-sync.errors.message': `export ${id}, record 3: 4 cells where the header has 3` }),
      },
      {
        stage: 'export',
        key: null,
        value: '["","C-3","Cy"]',
        headers: expect.objectContaining({ 'caac-sync.errors.message': `export ${id}, record 4: no contact_id` }),
      },
    ]);
  });

  it('fails a job at once, without retrying, when CAAC refuses the request itself', async () => {
    server.answer = (request): Answer =>
      request.method === 'POST' ? { status: 422, body: { detail: [{ loc: ['body', 'fields', 0], msg: 'shoe_size: unknown field' }] } } : { status: 404, body: { detail: 'Not Found' } };
    const before = server.received.length;
    const started = await fetch(`${base}/admin/exports`, { method: 'POST', headers: { ...ADMIN, 'content-type': 'application/json' }, body: JSON.stringify({ fields: ['shoe_size'] }) });
    const { id } = (await started.json()) as { id: string };

    const job = await jobEnded(base, id);

    expect(job).toMatchObject({ status: 'failed', attempts: 1, task_id: null, last_error: expect.stringContaining('POST /cdh/v1/member/export -> 422') });
    expect(server.received.slice(before).filter((request) => request.method === 'POST')).toHaveLength(1);
  });
});
