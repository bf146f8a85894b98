import { autovacuumWarning, CHURNED_TABLES } from '../../src/store/autovacuum-check';

describe(autovacuumWarning.name, () => {
  it('says nothing when autovacuum runs on the server and on every churned table', () => {
    expect(autovacuumWarning('on', { pending_change: ['autovacuum_vacuum_threshold=5000'], contact_state: null })).toBeUndefined();
  });

  it('names every churned table and the server setting when autovacuum is off for the server', () => {
    const sut = autovacuumWarning('off', {});

    expect(sut).toContain('autovacuum is off on this Postgres server');
    for (const table of CHURNED_TABLES) expect(sut).toContain(table);
    expect(sut).toContain('turn autovacuum on');
  });

  it('names only the tables whose own autovacuum is off, in any spelling of false', () => {
    const sut = autovacuumWarning('on', {
      pending_change: ['autovacuum_enabled=false'],
      contact_state: ['fillfactor=90', 'autovacuum_enabled=OFF'],
      import_batch_item: ['autovacuum_enabled=true'],
    });

    expect(sut).toMatch(/^autovacuum is off for pending_change, contact_state: /);
    expect(sut).not.toContain('import_batch_item');
    expect(sut).toContain('reset autovacuum_enabled');
  });
});
