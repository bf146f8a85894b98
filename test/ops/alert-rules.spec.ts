import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ALERT_RULE_TESTS, ALERT_RULES, promtool } from '../support/prometheus';

/** promtool from Debian's package (installed by docker/prometheus.sh on first use). */
const PROMTOOL_TIMEOUT_MS = 360_000;
const RUNBOOK = resolve(__dirname, '../../docs/runbook.md');

/** Each rule's name, severity and runbook link, read from the rules file. */
async function rulesOf(file: string): Promise<Array<{ alert: string; severity?: string; runbook?: string }>> {
  const text = await readFile(file, 'utf8');
  return text
    .split(/^ *- alert: /m)
    .slice(1)
    .map((block) => ({
      alert: /^\w+/.exec(block)![0],
      severity: /severity: (\w+)/.exec(block)?.[1],
      runbook: /runbook_url: "([^"]+)"/.exec(block)?.[1],
    }));
}

describe('alert rules (docker/prometheus/alerts.yml)', () => {
  it(
    'are valid Prometheus rules',
    async () => {
      const result = await promtool(['check', 'rules', ALERT_RULES]);

      expect(result).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS: 19 rules found') });
    },
    PROMTOOL_TIMEOUT_MS,
  );

  it(
    'fire on the series their unit tests give, after their `for`, and only there',
    async () => {
      const result = await promtool(['test', 'rules', ALERT_RULE_TESTS]);

      expect(result).toEqual({ code: 0, output: expect.stringContaining('SUCCESS') });
    },
    PROMTOOL_TIMEOUT_MS,
  );

  it('are each tested by alerts.test.yml', async () => {
    const rules = [...(await readFile(ALERT_RULES, 'utf8')).matchAll(/- alert: (\w+)/g)].map((match) => match[1]);
    const tests = await readFile(ALERT_RULE_TESTS, 'utf8');

    expect(rules.filter((rule) => !new RegExp(`alertname: ${rule}\\n`).test(tests))).toEqual([]);
  });

  it('each link their own section of docs/runbook.md, which says what it means, what to look at and what to do', async () => {
    const rules = await rulesOf(ALERT_RULES);
    const runbook = await readFile(RUNBOOK, 'utf8');
    const sections = new Map([...runbook.matchAll(/^## (\w+)\n([\s\S]*?)(?=^## |(?![\s\S]))/gm)].map((match) => [match[1]!, match[2]!]));

    expect(rules.filter((rule) => rule.runbook !== `docs/runbook.md#${rule.alert.toLowerCase()}`)).toEqual([]);
    expect([...sections.keys()].sort()).toEqual(rules.map((rule) => rule.alert).sort());
    for (const [alert, body] of sections) expect([alert, /\*\*Means\*\*[\s\S]*\*\*Look at\*\*[\s\S]*\*\*Do\*\*/.test(body)]).toEqual([alert, true]);
  });

  it('page on what stops data reaching CAAC for long, including the absence of every target and of the leader', async () => {
    const rules = await rulesOf(ALERT_RULES);
    const severities = Object.fromEntries(rules.map((rule) => [rule.alert, rule.severity]));

    expect(severities).toMatchObject({
      CaacSyncTargetsAbsent: 'page',
      CaacSyncNoImporter: 'page',
      CaacSyncBacklogTooOld: 'warn',
      CaacSyncBacklogVeryOld: 'page',
      CaacSyncBreakerOpen: 'warn',
      CaacSyncCaacOutage: 'page',
    });
    expect(rules.every((rule) => rule.severity === 'page' || rule.severity === 'warn')).toBe(true);
  });
});
