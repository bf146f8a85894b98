import type { Client } from 'pg';
import type { DataSource } from 'typeorm';
import { stamp } from '../../src/profile';
import { PendingChangeRepository, type ChangeSource, type StagedChange } from '../../src/store/pending-change.repository';
import { migratedDataSource } from '../support/database';

function aSource(offset: number, ts: number, topic = 'crm.changes', partition = 0): ChangeSource {
  return { topic, partition, offset: String(offset), ts };
}
function aChange(city: string, ts: number, seq: number, extra: Partial<StagedChange> = {}): StagedChange {
  return { keyType: 'customer_id', keyValue: 'C-1', fields: stamp({ city }, { ts, seq }), ...extra };
}

describe('PendingChangeRepository.merge (the source of the newest change)', () => {
  let db: Client;
  let dataSource: DataSource;
  let drop: () => Promise<void>;
  const sut = new PendingChangeRepository();

  beforeAll(async () => {
    const database = await migratedDataSource('pending_source');
    db = database.client;
    dataSource = database.dataSource;
    drop = database.drop;
  });

  afterAll(async () => {
    await drop();
  });

  beforeEach(async () => {
    await db.query(`DELETE FROM pending_change`);
  });

  async function merged(...batches: StagedChange[][]): Promise<unknown> {
    for (const changes of batches) await dataSource.transaction((manager) => sut.merge(manager, changes));
    const { rows } = await db.query(`SELECT source_topic, source_partition, source_offset::text AS source_offset, source_ts::text AS source_ts FROM pending_change`);
    return rows;
  }

  it('keeps the newest source by (ts, offset), in either order and when redelivered', async () => {
    const older = aChange('Taipei', 1_000, 7, { source: aSource(7, 1_000) });
    const newer = aChange('Tainan', 2_000, 5, { source: aSource(5, 2_000, 'crm.other', 3) });
    const expected = [{ source_topic: 'crm.other', source_partition: 3, source_offset: '5', source_ts: '2000' }];

    await expect(merged([older], [newer])).resolves.toEqual(expected);
    await db.query(`DELETE FROM pending_change`);
    await expect(merged([newer], [older], [newer])).resolves.toEqual(expected);
  });

  it('keeps the stored source when a put-back or requeue without one merges in, and takes one where none was stored', async () => {
    const putBack = aChange('Hsinchu', 9_000, 1, { firstStagedAt: new Date('2026-11-30T00:00:00.000Z') });
    const staged = aChange('Taipei', 1_000, 7, { source: aSource(7, 1_000) });

    await expect(merged([staged], [putBack])).resolves.toEqual([{ source_topic: 'crm.changes', source_partition: 0, source_offset: '7', source_ts: '1000' }]);
    await db.query(`DELETE FROM pending_change`);
    await expect(merged([putBack])).resolves.toEqual([{ source_topic: null, source_partition: null, source_offset: null, source_ts: null }]);
    await expect(merged([staged])).resolves.toEqual([{ source_topic: 'crm.changes', source_partition: 0, source_offset: '7', source_ts: '1000' }]);
  });
});
