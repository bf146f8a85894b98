/** Reads the sandbox's test API: the oracle's view of CAAC. */
export interface SandboxRequest {
  at: string;
  method: string;
  path: string;
  status: number;
  rows?: number;
  task_id?: string;
}
export interface SandboxTask {
  task_id: string;
  kind: 'import' | 'export';
  rows: number;
  accepted_at: string;
  started_at: string;
  finished_at: string;
  status: string;
  success: boolean | null;
}

export async function sandboxLog(url: string): Promise<{ requests: SandboxRequest[]; tasks: SandboxTask[] }> {
  const response = await fetch(`${url}/__sandbox/requests`);
  return (await response.json()) as { requests: SandboxRequest[]; tasks: SandboxTask[] };
}

/** The sandbox's contacts by customer_id, as CAAC holds their fields (without `contact_id`). */
export async function sandboxContacts(url: string): Promise<Map<string, Record<string, unknown>>> {
  const contacts = new Map<string, Record<string, unknown>>();
  for (const { contact_id: _id, ...fields } of await sandboxContactList(url)) contacts.set(String(fields.customer_id), fields);
  return contacts;
}

/** Every contact of the sandbox's first account, in creation order, each with its `contact_id`. */
export async function sandboxContactList(url: string): Promise<Array<Record<string, unknown>>> {
  const contacts: Array<Record<string, unknown>> = [];
  let cursor: string | null = '0';
  while (cursor !== null) {
    const response = await fetch(`${url}/__sandbox/contacts?limit=10000&cursor=${cursor}`);
    const page = (await response.json()) as { contacts: Array<Record<string, unknown>>; next_cursor: string | null };
    contacts.push(...page.contacts);
    cursor = page.next_cursor;
  }
  return contacts;
}

export async function setFaults(url: string, faults: Record<string, unknown>): Promise<void> {
  const response = await fetch(`${url}/__sandbox/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(faults) });
  if (!response.ok) throw new Error(`faults refused: ${response.status} ${await response.text()}`);
}

/**
 * Invariant 6 as seen by CAAC: import tasks never overlap, no rolling window holds more than
 * `perWindow` import requests (of any status), and no request carries more than `maxRows` rows.
 * Returns the violations, empty when the rules held.
 */
export function apiRuleViolations(log: { requests: SandboxRequest[]; tasks: SandboxTask[] }, rules: { windowMs: number; perWindow: number; maxRows: number }): string[] {
  const violations: string[] = [];
  const tasks = log.tasks.filter((t) => t.kind === 'import').sort((a, b) => Date.parse(a.accepted_at) - Date.parse(b.accepted_at));
  for (let i = 1; i < tasks.length; i++) {
    if (Date.parse(tasks[i]!.accepted_at) < Date.parse(tasks[i - 1]!.finished_at)) {
      violations.push(`import ${tasks[i]!.task_id} accepted before ${tasks[i - 1]!.task_id} finished`);
    }
  }
  const posts = log.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/member/import')).map((r) => Date.parse(r.at)).sort((a, b) => a - b);
  for (let i = 0, j = 0; i < posts.length; i++) {
    while (posts[i]! - posts[j]! >= rules.windowMs) j++;
    if (i - j + 1 > rules.perWindow) violations.push(`${i - j + 1} import requests within ${rules.windowMs} ms ending at ${new Date(posts[i]!).toISOString()}`);
  }
  for (const request of log.requests) {
    if ((request.rows ?? 0) > rules.maxRows) violations.push(`a request carried ${request.rows} rows`);
  }
  return violations;
}
