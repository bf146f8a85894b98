import { migratedDatabase } from '../support/database';
import { ServiceProcess } from '../support/service-process';
import { createTopics, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

describe('the access log of a running service process', () => {
  let sut: ServiceProcess;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await migratedDatabase('access_log_process');
    drop = database.drop;
    const topic = uniqueName('access-log.changes');
    await createTopics([{ topic }]);
    await database.client.query(`INSERT INTO pending_change (key_type, key_value, fields) VALUES ('display_email', 'amy.lin@example.com', '{}')`);
    sut = new ServiceProcess({ DATABASE_URL: database.url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('access-log'), DLQ_TOPIC: uniqueName('access-log.dlq'), IMPORTER_ENABLED: 'false', LOG_LEVEL: 'info', CAAC_BASE_URL: 'http://127.0.0.1:4010' });
    await sut.start();
  });

  afterAll(async () => {
    await sut?.stop();
    await drop?.();
  });

  it('holds no e-mail address after a contact-story request, only the route template and the audit hash', async () => {
    const response = await fetch(sut.url('/admin/contacts/display_email/Amy.Lin%40Example.com?email=amy.lin%40example.com'), {
      headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}`, 'x-request-id': 'process-story-1' },
    });
    expect(response.status).toBe(200);

    const lines = await waitFor('both log lines of the request', async () => {
      const found = sut.logs().split('\n').filter((line) => line.includes('process-story-1'));
      return found.length >= 2 ? found : undefined;
    });
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg).sort()).toEqual([
      'GET /admin/contacts/:keyType/:keyValue 200',
      'admin GET /admin/contacts/:keyType/:keyValue 200',
    ]);
    expect(sut.logs().toLowerCase()).not.toMatch(/amy|example\.com|%40/);
  });
});
