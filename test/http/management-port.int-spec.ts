import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { INestApplication } from '@nestjs/common';
import { ManagementServer } from '../../src/http/management-server';
import { migratedDatabase } from '../support/database';
import { createTopics, startService, testConfig, TEST_ADMIN_TOKEN, uniqueName } from '../support/service';
import { waitFor } from '../support/wait-for';

const auth = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };

async function statusOf(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers });
  await response.arrayBuffer();
  return response.status;
}

describe('MANAGEMENT_PORT and DOCS_ENABLED', () => {
  let drop: () => Promise<void>;
  let url: string;
  const topic = uniqueName('mgmt.profile-changes');
  const apps: INestApplication[] = [];

  beforeAll(async () => {
    const database = await migratedDatabase('management_port');
    drop = database.drop;
    url = database.url;
    await createTopics([{ topic }]);
  });

  afterAll(async () => {
    for (const app of apps) await app.close();
    await drop?.();
  });

  async function start(env: Record<string, string>): Promise<{ app: INestApplication; httpPort: number; managementPort: number | undefined }> {
    const app = await startService(
      testConfig({ DATABASE_URL: url, SOURCE_TOPICS: `${topic}:profile-change.v1`, KAFKA_GROUP_ID: uniqueName('mgmt'), DLQ_TOPIC: uniqueName('mgmt.dlq'), IMPORTER_ENABLED: 'false', ...env }),
    );
    apps.push(app);
    return {
      app,
      httpPort: ((app.getHttpServer() as Server).address() as AddressInfo).port,
      managementPort: app.get(ManagementServer).port(),
    };
  }

  it('serves health, metrics and docs on the management port only, and admin and schemas on HTTP_PORT only', async () => {
    const { httpPort, managementPort } = await start({ MANAGEMENT_PORT: '0' });
    expect(managementPort).toEqual(expect.any(Number));
    expect(managementPort).not.toBe(httpPort);
    const management = managementPort!;

    await expect(statusOf(management, '/health/live')).resolves.toBe(200);
    await expect(waitFor('ready on the management port', async () => ((await statusOf(management, '/health/ready')) === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 })).resolves.toBe(true);
    await expect(statusOf(management, '/metrics')).resolves.toBe(200);
    await expect(statusOf(management, '/docs-json')).resolves.toBe(200);
    await expect(statusOf(management, '/docs')).resolves.toBe(200);
    await expect(statusOf(management, '/admin/backlog', auth)).resolves.toBe(404);
    await expect(statusOf(management, '/schemas/profile-change.v1.json')).resolves.toBe(404);

    await expect(statusOf(httpPort, '/admin/backlog', auth)).resolves.toBe(200);
    await expect(statusOf(httpPort, '/schemas/profile-change.v1.json')).resolves.toBe(200);
    await expect(statusOf(httpPort, '/health/ready')).resolves.toBe(404);
    await expect(statusOf(httpPort, '/metrics')).resolves.toBe(404);
    await expect(statusOf(httpPort, '/docs-json')).resolves.toBe(404);
  });

  it('serves everything on HTTP_PORT without a management port, and no /docs when DOCS_ENABLED=false', async () => {
    const { httpPort, managementPort } = await start({ DOCS_ENABLED: 'false' });

    expect(managementPort).toBeUndefined();
    // Ready once the consumer has joined: a moment after start on a busy machine.
    await expect(waitFor('ready on HTTP_PORT', async () => ((await statusOf(httpPort, '/health/ready')) === 200 ? true : undefined), { timeoutMs: 30_000, intervalMs: 200 })).resolves.toBe(true);
    await expect(statusOf(httpPort, '/metrics')).resolves.toBe(200);
    await expect(statusOf(httpPort, '/admin/backlog', auth)).resolves.toBe(200);
    await expect(statusOf(httpPort, '/docs-json')).resolves.toBe(404);
    await expect(statusOf(httpPort, '/docs')).resolves.toBe(404);
  });

  it('stops listening on the management port when the application closes', async () => {
    const { app, managementPort } = await start({ MANAGEMENT_PORT: '0' });
    await expect(statusOf(managementPort!, '/health/live')).resolves.toBe(200);

    await app.close();
    apps.splice(apps.indexOf(app), 1);

    await expect(statusOf(managementPort!, '/health/live')).rejects.toThrow(/fetch failed/);
  });
});
