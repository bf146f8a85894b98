import type { INestApplication } from '@nestjs/common';
import type { Client } from 'pg';
import { startSandbox, type RunningSandbox } from '../../src/sandbox/sandbox.server';
import { seedSandbox } from '../export/export-fixtures';
import { migratedDatabase } from '../support/database';
import { waitUntilImported, waitUntilStaged } from '../support/pipeline';
import { sandboxContacts } from '../support/sandbox-client';
import { createTopics, startService, testConfig, uniqueName } from '../support/service';
import { exportReconciled, importedRows, publishProfiles } from './reconcile-fixtures';

const CONTACTS = 5_000;
const DIFFERING = CONTACTS / 10;

/** A contact as CAAC holds it before the first sync: every kind of value the export writes as text. */
function aCaacContact(i: number): Record<string, unknown> {
  return {
    customer_id: `C-${i}`,
    display_email: `person.${i}@example.com`,
    display_name: `Person ${i}`,
    birthday: '1990-04-01',
    gender: i % 2 === 0 ? 'female' : 'male',
    region: 'tw',
    star_mark: i % 3 === 0,
    cl_custom_points: i * 1.5 - 100,
    cl_custom_big: 1e21 + i * 1e6,
    cl_custom_tiny: 1.5e-7,
    cl_custom_tier: `tier-${i % 7}`,
    cl_custom_code: `00${i}`,
    cl_custom_joined: '2024-03-05T10:15:30.000Z',
  };
}

describe('baseline: the first full sync after an export sends only what CAAC lacks', () => {
  let sandbox: RunningSandbox;
  let db: Client;
  let drop: () => Promise<void>;
  let sut: INestApplication;
  let base: string;
  const changes = uniqueName('baseline.changes');

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0, testApi: true, taskMinMs: 100, taskMsPerRow: 0.01, taskPendingMs: 20, logLevel: 'silent' });
    const database = await migratedDatabase('baseline');
    drop = database.drop;
    db = database.client;
    await createTopics([{ topic: changes, partitions: 3 }]);
    sut = await startService(
      testConfig({
        DATABASE_URL: database.url,
        SOURCE_TOPICS: `${changes}:profile-change.v1`,
        KAFKA_GROUP_ID: uniqueName('baseline'),
        CAAC_BASE_URL: sandbox.url,
        EXPORT_POLL_MS: '50',
        FLUSH_INTERVAL_MS: '500',
      }),
    );
    base = (await sut.getUrl()).replace('[::1]', '127.0.0.1');
  });

  afterAll(async () => {
    await sut?.close();
    await sandbox?.close();
    await drop?.();
  });

  it('imports exactly the contacts that differ from the export, and CAAC ends as the CRM', async () => {
    const contacts = Array.from({ length: CONTACTS }, (_, i) => aCaacContact(i));
    await seedSandbox(sandbox.url, contacts);

    const { reconcile } = await exportReconciled(base, db);
    // The full stream of the same contacts: one in ten with a new name.
    const model = contacts.map((contact, i) => (i % 10 === 0 ? { ...contact, display_name: `Renamed ${i}` } : contact));
    await publishProfiles(
      changes,
      model.map(({ customer_id, cl_custom_points, cl_custom_big, cl_custom_tiny, cl_custom_tier, cl_custom_code, cl_custom_joined, ...profile }) => ({
        customerId: customer_id as string,
        profile: { ...profile, custom: { points: cl_custom_points, big: cl_custom_big, tiny: cl_custom_tiny, tier: cl_custom_tier, code: cl_custom_code, joined: cl_custom_joined } },
      })),
    );
    await waitUntilStaged(db, changes);
    await waitUntilImported(db);

    expect(reconcile).toEqual({ matched: 0, learned: 2 * CONTACTS, driftFields: {}, driftContacts: 0, requeued: 0, newerKnown: 0, identityKeys: 2 * CONTACTS });
    await expect(importedRows(sandbox.url)).resolves.toBe(DIFFERING);
    const held = await sandboxContacts(sandbox.url);
    expect(held.size).toBe(CONTACTS);
    for (const contact of model) expect(held.get(contact.customer_id as string)).toEqual(contact);
  });
});
