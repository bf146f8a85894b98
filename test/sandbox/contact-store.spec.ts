import { ContactStore } from '../../src/sandbox/contact-store';

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
});
