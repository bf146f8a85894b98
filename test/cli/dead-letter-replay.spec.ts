import { replayAction, type ReplayFilter } from '../../src/cli/dead-letter-replay';
import { importLetterChange } from '../../src/cli/dlq-replay.command';
import { DEAD_LETTER_HEADER } from '../../src/dead-letter/dead-letter';
import type { ReadMessage } from '../../src/kafka/kafka.adapter';

const SOURCES = new Set(['crm.changes']);

function aLetter(headers: Record<string, string> = {}, value: string | null = '{"event":1}'): ReadMessage {
  return {
    partition: 0,
    offset: '9',
    key: Buffer.from('C-1'),
    value: value === null ? null : Buffer.from(value),
    timestamp: Date.parse('2026-12-01T12:00:00Z'),
    headers: {
      [DEAD_LETTER_HEADER.stage]: 'validate',
      [DEAD_LETTER_HEADER.errorClass]: 'InvalidField',
      [DEAD_LETTER_HEADER.topic]: 'crm.changes',
      [DEAD_LETTER_HEADER.partition]: '2',
      [DEAD_LETTER_HEADER.offset]: '41',
      [DEAD_LETTER_HEADER.timestamp]: '2026-12-01T10:00:00.000Z',
      ...headers,
    },
  };
}

describe(replayAction.name, () => {
  it('sends an ingest letter back to its source topic, known by its source position', () => {
    expect(replayAction(aLetter(), {}, SOURCES)).toEqual({ kind: 'republish', identity: 'crm.changes/2/41', topic: 'crm.changes' });
  });

  it.each<[string, ReplayFilter]>([
    ['another stage', { stages: ['decode'] }],
    ['another class', { classes: ['SchemaViolation'] }],
    ['another source topic', { sourceTopics: ['crm.other'] }],
    ['a failure before --since', { since: Date.parse('2026-12-01T10:00:00.001Z') }],
    ['a failure at --until', { until: Date.parse('2026-12-01T10:00:00.000Z') }],
  ])('filters out %s', (_, filter) => {
    expect(replayAction(aLetter(), filter, SOURCES)).toEqual({ kind: 'skip', reason: 'filtered' });
  });

  it('takes a letter inside every criterion', () => {
    const filter = { stages: ['validate'], classes: ['InvalidField'], sourceTopics: ['crm.changes'], since: Date.parse('2026-12-01T10:00:00Z'), until: Date.parse('2026-12-01T10:00:00.001Z') };

    expect(replayAction(aLetter(), filter, SOURCES)).toMatchObject({ kind: 'republish' });
  });

  it.each([
    ['a cut value', { [DEAD_LETTER_HEADER.valueTruncated]: 'true' }, 'truncated'],
    ['a topic the service no longer reads', { [DEAD_LETTER_HEADER.topic]: 'crm.gone' }, 'not-a-source-topic'],
    ['an export letter', { [DEAD_LETTER_HEADER.stage]: 'export' }, 'not-replayable'],
  ])('skips %s', (_, headers, reason) => {
    expect(replayAction(aLetter(headers), {}, SOURCES)).toEqual({ kind: 'skip', reason });
  });

  it('re-queues an import letter, known by its content', () => {
    const letter = aLetter({ [DEAD_LETTER_HEADER.stage]: 'import' }, '{"key":{"customer_id":"C-1"},"profile":{"customer_id":"C-1","display_name":"Amy"}}');

    expect(replayAction(letter, {}, SOURCES)).toEqual({ kind: 'requeue', identity: expect.stringMatching(/^import:[0-9a-f]{64}$/) });
  });
});

describe(importLetterChange.name, () => {
  it('stamps every field but the key with the time the import failed', () => {
    const letter = aLetter({ [DEAD_LETTER_HEADER.stage]: 'import' }, '{"key":{"customer_id":"C-1"},"profile":{"customer_id":"C-1","display_name":"Amy","gender":null},"batch_id":"3"}');
    const ts = Date.parse('2026-12-01T10:00:00.000Z');

    expect(importLetterChange(letter)).toEqual({
      keyType: 'customer_id',
      keyValue: 'C-1',
      fields: Object.assign(Object.create(null), { display_name: { value: 'Amy', ts, seq: 0 }, gender: { value: null, ts, seq: 0 } }),
    });
  });

  it.each(['not json', '{"key":{"phone":"1"},"profile":{"display_name":"x"}}', '{"key":{"customer_id":"C-1"},"profile":{"customer_id":"C-1"}}'])('refuses %s', (value) => {
    expect(importLetterChange(aLetter({}, value))).toBeUndefined();
  });
});
