import { readFile } from 'node:fs/promises';
import { ALERT_RULE_TESTS, ALERT_RULES, promtool } from '../support/prometheus';

/** promtool from Debian's package (installed by docker/prometheus.sh on first use). */
const PROMTOOL_TIMEOUT_MS = 360_000;

describe('alert rules (docker/prometheus/alerts.yml)', () => {
  it(
    'are valid Prometheus rules',
    async () => {
      const result = await promtool(['check', 'rules', ALERT_RULES]);

      expect(result).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS: 11 rules found') });
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
});
