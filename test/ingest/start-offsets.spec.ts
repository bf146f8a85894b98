import { planPartitionStarts } from '../../src/ingest/start-offsets';

describe(planPartitionStarts.name, () => {
  const assigned = [
    { topic: 'crm', partition: 0 },
    { topic: 'crm', partition: 1 },
    { topic: 'crm', partition: 2 },
  ];
  const broker = [
    { topic: 'crm', partition: 0, earliest: '0', committed: '40' },
    { topic: 'crm', partition: 1, earliest: '5', committed: '60' },
    { topic: 'crm', partition: 2, earliest: '0', committed: null },
  ];
  const stored = [{ topic: 'crm', partition: 0, offset: '42' }];

  it('starts where Postgres says, else at the group\'s committed offset, else the earliest (committed)', () => {
    const sut = planPartitionStarts(assigned, stored, broker, 'committed');

    expect(sut).toEqual([
      { topic: 'crm', partition: 0, offset: '42', from: 'postgres', why: 'the offset stored in Postgres with the staged changes', skipsRetained: false },
      {
        topic: 'crm',
        partition: 1,
        offset: '60',
        from: 'committed',
        why:
          "no offset in Postgres, so the consumer group's committed offset (INGEST_START_WITHOUT_STORED_OFFSET=committed): " +
          'messages from 5 are not read into this database; set INGEST_START_WITHOUT_STORED_OFFSET=earliest to read them',
        skipsRetained: true,
      },
      { topic: 'crm', partition: 2, offset: '0', from: 'earliest', why: 'no offset in Postgres, and the consumer group has committed none', skipsRetained: false },
    ]);
  });

  it('starts every partition Postgres holds no offset for at the earliest the broker holds (earliest)', () => {
    const sut = planPartitionStarts(assigned, stored, broker, 'earliest');

    expect(sut.map(({ partition, offset, from }) => ({ partition, offset, from }))).toEqual([
      { partition: 0, offset: '42', from: 'postgres' },
      { partition: 1, offset: '5', from: 'earliest' },
      { partition: 2, offset: '0', from: 'earliest' },
    ]);
  });
});
