import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/common/logger';
import { TopicDecoders } from '../../src/ingest/topic-decoders';
import { Metrics } from '../../src/telemetry/metrics';
import { testConfigFor } from './topic-decoders.fixture';
import { aCustomerRow, anInsert, toMessage } from './decoders/debezium.factory';

describe(TopicDecoders.name, () => {
  it('warns once per topic and column when a mapped or key column is absent from the events, and sets the metric', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'caac-sync-mapping-'));
    const file = join(directory, 'members.mapping.json');
    writeFileSync(file, JSON.stringify({ keys: [{ column: 'customer_no', type: 'customer_id' }], fields: { e_mail: 'display_email', tier: 'member_level' } }));
    const lines: Array<Record<string, unknown>> = [];
    const metrics = new Metrics();
    const sut = new TopicDecoders(testConfigFor(`crm.public.members:debezium:${file}`), {
      logger: createLogger({ level: 'info', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } }),
      metrics,
    });

    const decode = sut.forTopic('crm.public.members');
    for (let i = 0; i < 3; i++) decode(toMessage(anInsert(aCustomerRow({ customer_id: `C-${i}` }))), Date.now());

    expect(lines.map(({ level, msg, column, role, didYouMean }) => ({ level, msg, column, role, didYouMean }))).toEqual([
      {
        level: 40,
        msg: 'key column "customer_no" of the mapping is not in the topic\'s events (did you mean "customer_id"?): events without another key column are dead-lettered',
        column: 'customer_no',
        role: 'key',
        didYouMean: 'customer_id',
      },
      {
        level: 40,
        msg: 'mapped column "e_mail" of the mapping is not in the topic\'s events (did you mean "email"?): its field is never sent',
        column: 'e_mail',
        role: 'mapped',
        didYouMean: 'email',
      },
    ]);
    const absent = await metrics.ingestAbsentColumns.get();
    expect(absent.values.map((v) => v.labels)).toEqual([
      { topic: 'crm.public.members', column: 'customer_no', role: 'key' },
      { topic: 'crm.public.members', column: 'e_mail', role: 'mapped' },
    ]);
  });
});
