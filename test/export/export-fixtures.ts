import type { Client } from 'pg';
import { readTopic, highWatermarks } from '../support/kafka-io';
import { sandboxContactList } from '../support/sandbox-client';
import { TEST_ADMIN_TOKEN } from '../support/service';
import { waitFor } from '../support/wait-for';

export const ADMIN = { Authorization: `Bearer ${TEST_ADMIN_TOKEN}` };


const AWKWARD = ['Lin, "Lucky" & Co.', 'line one\r\nline two', 'bare\nnewline', 'cr\ronly', '林美玲 🎵', '😀👍🏽 emoji', 'タナカ・ハナコ', '"quoted"', ' spaced ', 'tab\there', 'back\\slash', "o'neil", '', ','];

/**
 * A contact with hard values: commas, quotes, CR/LF inside values, emoji, CJK, backslashes and
 * tabs, custom fields of every kind; optional fields left out at random.
 */
export function aHardContact(i: number, random: () => number): Record<string, unknown> {
  const pick = () => AWKWARD[Math.floor(random() * AWKWARD.length)]!;
  const contact: Record<string, unknown> = { customer_id: `C-${i}` };
  if (random() < 0.5) contact.line_uid = `U${i.toString(16).padStart(32, '0')}`;
  const name = `${pick()}${i}${pick()}`.trim();
  if (name !== '') contact.display_name = name;
  if (random() < 0.6) contact.company = `${pick()} ${i}`;
  if (random() < 0.3) contact.star_mark = random() < 0.5;
  if (random() < 0.4) contact.cl_custom_points = Math.round(random() * 10_000) / 100 - 20;
  if (random() < 0.4) contact.cl_custom_tier = `${pick()}tier-${i % 7}`;
  if (random() < 0.2) contact.cl_custom_joined = '2024-03-05T10:15:30.000Z';
  return contact;
}

export async function seedSandbox(url: string, contacts: Array<Record<string, unknown>>): Promise<void> {
  const CHUNK = 5_000; // well under the sandbox's 10 MB body limit
  for (let i = 0; i < contacts.length; i += CHUNK) {
    const response = await fetch(`${url}/__sandbox/contacts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ contacts: contacts.slice(i, i + CHUNK) }) });
    if (response.status !== 200) throw new Error(`seeding refused: ${response.status} ${await response.text()}`);
  }
}

export async function removeFromSandbox(url: string, customerIds: string[]): Promise<void> {
  const response = await fetch(`${url}/__sandbox/contacts/remove`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ contacts: customerIds.map((customer_id) => ({ customer_id })) }),
  });
  if (response.status !== 200) throw new Error(`remove refused: ${response.status}`);
}

/** What the table must hold: every sandbox contact by contact_id, each other field as the CSV writes it. */
export async function expectedRows(sandboxUrl: string): Promise<Map<string, Record<string, string>>> {
  const expected = new Map<string, Record<string, string>>();
  for (const { contact_id, ...fields } of await sandboxContactList(sandboxUrl)) {
    expected.set(contact_id as string, Object.fromEntries(Object.entries(fields).map(([field, value]) => [field, String(value)])));
  }
  return expected;
}

export async function tableRows(db: Client): Promise<Map<string, { fields: Record<string, string>; export_id: string; exported_at: Date }>> {
  const { rows } = await db.query(`SELECT contact_id, fields, export_id::text AS export_id, exported_at FROM caac_contact`);
  return new Map(rows.map((row) => [row.contact_id as string, { fields: row.fields, export_id: row.export_id, exported_at: row.exported_at }]));
}

/** The topic as a compacted reader ends up seeing it: the last value per key (null for a tombstone). */
export async function topicState(topic: string): Promise<{ latest: Map<string, unknown>; messages: number }> {
  const total = [...(await highWatermarks(topic)).values()].reduce((sum, high) => sum + Number(high), 0);
  const read = total === 0 ? [] : await readTopic(topic, total, 60_000);
  const latest = new Map<string, unknown>();
  const ordered = [...read].sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  for (const message of ordered) latest.set(message.key!.toString(), message.value === null ? null : JSON.parse(message.value.toString()));
  return { latest, messages: total };
}

/** Waits until the export job ends (or waits as held) and returns it as GET /admin/exports/:id shows it. */
export async function jobEnded(baseUrl: string, id: string, timeoutMs = 120_000): Promise<Record<string, any>> {
  return waitFor(
    `export ${id} to end`,
    async () => {
      const response = await fetch(`${baseUrl}/admin/exports/${id}`, { headers: ADMIN });
      const job = (await response.json()) as Record<string, any>;
      return ['done', 'failed', 'expired', 'held', 'superseded'].includes(job.status) ? job : undefined;
    },
    { timeoutMs, intervalMs: 100 },
  );
}
