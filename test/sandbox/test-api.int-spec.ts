import { IMPORT_PATH, OTHER_API_KEY, SandboxHttp, aRow, anImport, startTestSandbox, useTestSandbox } from './sandbox-fixtures';

describe('Sandbox test API', () => {
  const ctx = useTestSandbox();

  describe('contacts', () => {
    it('seeds contacts per api key and finds them by any key', async () => {
      const seeded = await ctx.sut.post('/__sandbox/contacts', { contacts: [{ customer_id: 'C-1', line_uid: 'U-1', display_name: 'Ada' }] });
      await ctx.sut.post('/__sandbox/contacts', { contacts: [{ customer_id: 'C-1', display_name: 'Other' }], api_key: OTHER_API_KEY });

      expect(seeded).toMatchObject({ status: 200, body: { seeded: 1 } });
      await expect(ctx.sut.contact('line_uid', 'U-1')).resolves.toEqual({ customer_id: 'C-1', line_uid: 'U-1', display_name: 'Ada' });
      await expect(ctx.sut.contact('customer_id', 'C-1', OTHER_API_KEY)).resolves.toEqual({ customer_id: 'C-1', display_name: 'Other' });
      await expect(ctx.sut.contact('customer_id', 'C-404')).resolves.toBeNull();
    });

    it('refuses a seed with any invalid contact, seeding none of them', async () => {
      const refused = await ctx.sut.post('/__sandbox/contacts', {
        contacts: [{ customer_id: 'C-1' }, { display_name: 'no key' }, { customer_id: 'C-3', age: 3 }],
      });

      expect(refused).toMatchObject({
        status: 422,
        body: {
          detail: [
            { loc: ['body', 'contacts', 1], msg: 'needs a key field (line_uid, display_email, display_mobile, connect_id, customer_id)', type: 'value_error' },
            { loc: ['body', 'contacts', 2, 'age'], msg: 'read-only field', type: 'value_error' },
          ],
        },
      });
      await expect(ctx.sut.contact('customer_id', 'C-1')).resolves.toBeNull();
    });

    it('gives each contact it creates a contact_id of its own, kept through updates', async () => {
      await ctx.sut.post('/__sandbox/contacts', { contacts: [{ customer_id: 'C-1' }, { customer_id: 'C-2' }] });
      const before = await ctx.sut.contactWithId('customer_id', 'C-1');
      await ctx.sut.importDone([{ customer_id: 'C-1', line_uid: 'U-1', display_name: 'Ada' }]);

      const after = await ctx.sut.contactWithId('line_uid', 'U-1');
      const other = await ctx.sut.contactWithId('customer_id', 'C-2');

      expect(before).toEqual({ contact_id: expect.stringMatching(/^[0-9a-f-]{36}$/), customer_id: 'C-1' });
      expect(after).toEqual({ contact_id: before!.contact_id, customer_id: 'C-1', line_uid: 'U-1', display_name: 'Ada' });
      expect(Object.keys(after!)[0]).toBe('contact_id');
      expect(other!.contact_id).not.toBe(before!.contact_id);
    });

    it('removes contacts named by a key, skipping unknown ones', async () => {
      await ctx.sut.post('/__sandbox/contacts', { contacts: [{ customer_id: 'C-1', line_uid: 'U-1' }, { customer_id: 'C-2' }] });

      const removed = await ctx.sut.post('/__sandbox/contacts/remove', { contacts: [{ line_uid: 'U-1' }, { customer_id: 'C-404' }] });

      expect(removed).toMatchObject({ status: 200, body: { removed: 1 } });
      await expect(ctx.sut.contact('customer_id', 'C-1')).resolves.toBeNull();
      await expect(ctx.sut.get('/__sandbox/contacts')).resolves.toMatchObject({ body: { contacts: [{ contact_id: expect.any(String), customer_id: 'C-2' }], next_cursor: null } });
    });

    it('pages through contacts in a stable order', async () => {
      const contacts = Array.from({ length: 5 }, (_, i) => ({ customer_id: `C-${i}` }));
      await ctx.sut.post('/__sandbox/contacts', { contacts });

      const first = await ctx.sut.get('/__sandbox/contacts?limit=2');
      const second = await ctx.sut.get(`/__sandbox/contacts?limit=2&cursor=${first.body.next_cursor}`);
      const last = await ctx.sut.get(`/__sandbox/contacts?limit=2&cursor=${second.body.next_cursor}`);

      const withIds = contacts.map((contact) => ({ contact_id: expect.any(String), ...contact }));
      expect([first.body, second.body, last.body]).toEqual([
        { contacts: withIds.slice(0, 2), next_cursor: '2' },
        { contacts: withIds.slice(2, 4), next_cursor: '4' },
        { contacts: withIds.slice(4), next_cursor: null },
      ]);
      await expect(ctx.sut.get('/__sandbox/contacts?limit=0')).resolves.toMatchObject({ status: 422 });
      await expect(ctx.sut.get('/__sandbox/contacts?key_type=age&key=1')).resolves.toMatchObject({ status: 422 });
      await expect(ctx.sut.get('/__sandbox/contacts?api_key=nope')).resolves.toMatchObject({ status: 422 });
    });
  });

  it('resets contacts, tasks, the request log, rate windows and faults', async () => {
    const limited = await startTestSandbox({ ratePerWindow: 2 });
    const client = new SandboxHttp(limited.url);
    try {
      await client.startImport([aRow()]);
      await client.post(IMPORT_PATH, '{');
      await client.post('/__sandbox/contacts', { contacts: [{ customer_id: 'C-1' }] });
      await client.setFaults({ error_rate: { export: 1 } });

      await expect(client.post('/__sandbox/reset')).resolves.toMatchObject({ status: 200, body: { reset: true } });

      await expect(client.requestLog()).resolves.toEqual({ requests: [], tasks: [] });
      await expect(client.get('/__sandbox/contacts')).resolves.toMatchObject({ body: { contacts: [], next_cursor: null } });
      await expect(client.get('/__sandbox/faults')).resolves.toMatchObject({ body: {} });
      await expect(client.post(IMPORT_PATH, anImport([aRow()]))).resolves.toMatchObject({ status: 202 });
    } finally {
      await limited.close();
    }
  });

  it('is 404 everywhere when the test API is off, while the Profile API works', async () => {
    const plain = await startTestSandbox({ testApi: false });
    const client = new SandboxHttp(plain.url);
    try {
      const answers = [
        await client.get('/__sandbox/contacts'),
        await client.get('/__sandbox/requests'),
        await client.post('/__sandbox/faults', {}),
        await client.post('/__sandbox/reset'),
      ];

      expect(answers.map((answer) => [answer.status, answer.body])).toEqual(Array(4).fill([404, { detail: 'Not Found' }]));
      await expect(client.post(IMPORT_PATH, anImport([aRow()]))).resolves.toMatchObject({ status: 202 });
    } finally {
      await plain.close();
    }
  });

  it('ends hung requests on close', async () => {
    const closing = await startTestSandbox();
    const client = new SandboxHttp(closing.url);
    await client.setFaults({ hang_rate: { import_status: 1 } });
    const hung = client.get(`${IMPORT_PATH}/x`, { timeoutMs: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const started = Date.now();

    await closing.close();

    await expect(hung).rejects.toThrow(/fetch failed/);
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});
