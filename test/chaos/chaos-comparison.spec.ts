import { compareDeadLetters, compareWithModel } from '../../bench/chaos/chaos-runner';
import { REJECTION_REASON, type FieldHistory, type Workload } from '../../bench/chaos/chaos-workload';

function aField(value: unknown, older: unknown[] = []): FieldHistory {
  return { ts: 1_000, value, older: new Set(older.map((v) => JSON.stringify(v))) };
}

function aWorkload(overrides: Partial<Workload> = {}): Workload {
  return {
    seed: 1,
    messages: [],
    model: new Map([
      ['C-00001', new Map([['display_name', aField('Amy Lin', ['Amy'])], ['city', aField(null, ['Taipei'])]])],
      ['C-00077', new Map([['display_name', aField('Rejected')]])],
    ]),
    badValues: new Set([Buffer.from('{"broken').toString('base64')]),
    rejected: new Set(['C-00077']),
    counts: { events: 3, duplicates: 0, bad: 1, debezium: 0, profileChange: 2, nulls: 1, keyChanges: 0 },
    ...overrides,
  };
}

describe(compareWithModel.name, () => {
  it('finds nothing when CAAC holds the newest values, cleared fields absent and rejected contacts absent', () => {
    const sut = compareWithModel(aWorkload(), new Map([['C-00001', { customer_id: 'C-00001', display_name: 'Amy Lin' }]]));
    expect(sut).toEqual({ lost: 0, stale: 0, problems: [] });
  });

  it('counts a value the field had at an older source time as a stale overwrite', () => {
    const sut = compareWithModel(aWorkload(), new Map([['C-00001', { customer_id: 'C-00001', display_name: 'Amy', city: 'Taipei' }]]));
    expect(sut).toEqual({
      lost: 0,
      stale: 2,
      problems: [
        'C-00001.display_name: CAAC holds the older "Amy", the newest is "Amy Lin"',
        'C-00001.city: CAAC holds the older "Taipei", the newest is null',
      ],
    });
  });

  it('counts a missing contact, a value never sent and a rejected contact in CAAC as lost', () => {
    const held = new Map([
      ['C-00077', { customer_id: 'C-00077', display_name: 'Rejected' }],
      ['C-00002', { customer_id: 'C-00002' }],
    ]);
    const sut = compareWithModel(aWorkload(), held);
    expect(sut).toEqual({
      lost: 3,
      stale: 0,
      problems: ['C-00001: missing from CAAC', 'C-00077: CAAC holds a contact whose every row it rejects', 'C-00002: in CAAC, never in a good event'],
    });
  });
});

describe(compareDeadLetters.name, () => {
  const badLetter = { key: null, value: Buffer.from('{"broken').toString('base64'), stage: 'decode', reason: 'not JSON' };
  const rejectedLetter = { key: 'customer_id:C-00077', value: '', stage: 'import', reason: `customer_id: ${REJECTION_REASON}` };

  it('matches each bad event and each rejected contact once, however often they were sent', () => {
    const sut = compareDeadLetters(aWorkload(), [badLetter, badLetter, rejectedLetter, rejectedLetter]);
    expect(sut).toEqual({ expected: 2, found: 2, unexpected: 0, problems: [] });
  });

  it('reports a missing letter and a letter nobody expected', () => {
    const stray = { key: 'customer_id:C-00001', value: '', stage: 'import', reason: 'ImportFailed' };
    const sut = compareDeadLetters(aWorkload(), [badLetter, stray]);
    expect(sut).toEqual({
      expected: 2,
      found: 1,
      unexpected: 1,
      problems: ['unexpected dead letter: stage import, key customer_id:C-00001, reason ImportFailed', 'rejected contact never dead-lettered: customer_id:C-00077'],
    });
  });
});
