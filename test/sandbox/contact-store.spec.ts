import { ContactStore } from '../../src/sandbox/contact-store';
import { contactsAsOf } from '../../src/sandbox/export-csv';

describe(ContactStore.name, () => {
  const aStore = (maxCustomFields = 200) => new ContactStore(maxCustomFields);

  it('creates, then updates in place, keeping creation order', () => {
    const sut = aStore();
    sut.upsert('customer_id', { customer_id: 'C-1', city: 'Taipei' }, 0);
    sut.upsert('customer_id', { customer_id: 'C-2' }, 1);

    const outcome = sut.upsert('customer_id', { customer_id: 'C-1', city: null, company: 'Acme' }, 2);

    expect(outcome).toEqual({ created: false });
    expect(sut.all()).toEqual([{ customer_id: 'C-1', company: 'Acme' }, { customer_id: 'C-2' }]);
  });

  it('re-indexes a changed key and frees the old value', () => {
    const sut = aStore();
    sut.upsert('customer_id', { customer_id: 'C-1', line_uid: 'U-1' }, 0);

    sut.upsert('customer_id', { customer_id: 'C-1', line_uid: 'U-2' }, 0);

    expect(sut.find('line_uid', 'U-1')).toBeUndefined();
    expect(sut.find('line_uid', 'U-2')).toEqual({ customer_id: 'C-1', line_uid: 'U-2' });
  });

  it('refuses a key held by another contact, changing nothing', () => {
    const sut = aStore();
    sut.upsert('customer_id', { customer_id: 'C-1', line_uid: 'U-1' }, 0);

    const outcome = sut.upsert('customer_id', { customer_id: 'C-2', line_uid: 'U-1' }, 5);

    expect(outcome).toEqual({ error: { index: 5, key: 'C-2', field: 'line_uid', reason: 'line_uid U-1 already belongs to another contact' } });
    expect(sut.size).toBe(1);
  });

  it('counts custom fields after the row, clearing included', () => {
    const sut = aStore(1);
    sut.upsert('customer_id', { customer_id: 'C-1', cl_custom_a: 'x' }, 0);

    expect(sut.upsert('customer_id', { customer_id: 'C-1', cl_custom_a: null, cl_custom_b: 'y' }, 1)).toEqual({ created: false });
    expect(sut.upsert('customer_id', { customer_id: 'C-1', cl_custom_c: 'z' }, 2)).toEqual({
      error: { index: 2, key: 'C-1', field: 'cl_custom_c', reason: 'a contact may hold at most 1 custom fields' },
    });
  });

  it('restores a snapshot with its indexes', () => {
    const sut = aStore();
    sut.upsert('customer_id', { customer_id: 'C-1' }, 0);
    const snapshot = sut.snapshot();
    sut.upsert('customer_id', { customer_id: 'C-2', line_uid: 'U-2' }, 1);

    sut.restore(snapshot);

    expect(sut.all()).toEqual([{ customer_id: 'C-1' }]);
    expect(sut.find('line_uid', 'U-2')).toBeUndefined();
    expect(sut.find('customer_id', 'C-1')).toEqual({ customer_id: 'C-1' });
  });

  describe('as of a cutoff', () => {
    const ids = () => {
      let n = 0;
      return () => `id-${++n}`;
    };
    const asOf = (store: ContactStore, cutoff: number) => [...contactsAsOf(store, cutoff)];

    it('shows each contact as it was at the cutoff: later creations absent, later changes and removals undone', () => {
      const sut = new ContactStore(200, ids());
      sut.upsert('customer_id', { customer_id: 'C-1', city: 'Taipei' }, 0, { at: 100, keepSince: 0 });
      sut.upsert('customer_id', { customer_id: 'C-2' }, 1, { at: 100, keepSince: 0 });
      sut.upsert('customer_id', { customer_id: 'C-1', city: 'Tainan' }, 0, { at: 200, keepSince: 0 });
      sut.remove('customer_id', 'C-2', { at: 250, keepSince: 0 });
      sut.upsert('customer_id', { customer_id: 'C-3' }, 0, { at: 300, keepSince: 0 });

      expect(asOf(sut, 50)).toEqual([]);
      expect(asOf(sut, 150)).toEqual([{ id: 'id-1', contact: { customer_id: 'C-1', city: 'Taipei' } }, { id: 'id-2', contact: { customer_id: 'C-2' } }]);
      expect(asOf(sut, 260)).toEqual([{ id: 'id-1', contact: { customer_id: 'C-1', city: 'Tainan' } }]);
      expect(asOf(sut, 300)).toEqual([{ id: 'id-1', contact: { customer_id: 'C-1', city: 'Tainan' } }, { id: 'id-3', contact: { customer_id: 'C-3' } }]);
      expect(sut.all()).toEqual([{ customer_id: 'C-1', city: 'Tainan' }, { customer_id: 'C-3' }]);
    });

    it('keeps no version that no export can read any more', () => {
      const sut = new ContactStore(200, ids());
      sut.upsert('customer_id', { customer_id: 'C-1', city: 'Taipei' }, 0);
      sut.upsert('customer_id', { customer_id: 'C-1', city: 'Tainan' }, 0, { at: 200, keepSince: 100 });
      sut.upsert('customer_id', { customer_id: 'C-1', city: 'Hsinchu' }, 0, { at: 300, keepSince: 250 });

      expect(sut.slots()[0]!.history).toEqual([{ until: 300, fields: { customer_id: 'C-1', city: 'Tainan' } }]);
      expect(asOf(sut, 260)).toEqual([{ id: 'id-1', contact: { customer_id: 'C-1', city: 'Tainan' } }]);
    });
  });
});
