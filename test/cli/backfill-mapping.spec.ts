import { BackfillMappingError, parseBackfillMapping, rowToEvent, type BackfillMapping } from '../../src/cli/backfill-mapping';

const FALLBACK = '2026-11-30T00:00:00.000Z';

function aMapping(overrides: Partial<BackfillMapping> = {}): BackfillMapping {
  return {
    key: { column: 'customer_id', type: 'customer_id' },
    fields: [
      { column: 'name', field: 'display_name' },
      { column: 'email', field: 'display_email' },
      { column: 'points', field: 'custom.points' },
    ],
    ...overrides,
  };
}

describe(parseBackfillMapping.name, () => {
  it('reads the key, the time column and the fields', () => {
    const sut = parseBackfillMapping({ key: { column: 'id', type: 'customer_id' }, occurred_at: 'updated_at', fields: { name: 'display_name', tier: 'custom.tier' } }, 'm.json');

    expect(sut).toEqual({
      key: { column: 'id', type: 'customer_id' },
      occurredAt: 'updated_at',
      fields: [
        { column: 'name', field: 'display_name' },
        { column: 'tier', field: 'custom.tier' },
      ],
    });
  });

  it('names every problem of a mapping at once', () => {
    const parse = () => parseBackfillMapping({ key: { column: '', type: 'phone' }, occurred_at: 7, fields: { name: 'Display Name' } }, 'm.json');

    expect(parse).toThrow(BackfillMappingError);
    expect(parse).toThrow(
      [
        'mapping m.json is not usable:',
        '  key.column: must name the CSV column of the import key',
        '  key.type: must be one of line_uid, display_email, display_mobile, connect_id, customer_id',
        '  occurred_at: must name the CSV column of the time a row last changed',
        '  fields.name: must be a CAAC field name, e.g. display_name or custom.points',
      ].join('\n'),
    );
  });
});

describe(rowToEvent.name, () => {
  it('makes a profile-change.v1 event, custom fields under custom, empty cells left out', () => {
    const sut = rowToEvent({ customer_id: 'C-1', name: 'Amy', email: '', points: '12', ignored: 'x' }, aMapping(), FALLBACK);

    expect(sut).toEqual({
      key: 'C-1',
      event: {
        event_id: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
        occurred_at: FALLBACK,
        key: { customer_id: 'C-1' },
        profile: { display_name: 'Amy', custom: { points: '12' } },
      },
    });
  });

  it('gives the same event the same id, and a changed value another one', () => {
    const id = (row: Record<string, string>) => {
      const outcome = rowToEvent(row, aMapping(), FALLBACK);
      return 'event' in outcome ? outcome.event.event_id : undefined;
    };

    expect(id({ customer_id: 'C-1', name: 'Amy' })).toBe(id({ customer_id: 'C-1', name: 'Amy' }));
    expect(id({ customer_id: 'C-1', name: 'Amy' })).not.toBe(id({ customer_id: 'C-1', name: 'Amie' }));
  });

  it("takes occurred_at from the mapping's column", () => {
    const sut = rowToEvent({ customer_id: 'C-1', name: 'Amy', changed: '2026-01-02T03:04:05Z' }, aMapping({ occurredAt: 'changed' }), FALLBACK);

    expect(sut).toMatchObject({ event: { occurred_at: '2026-01-02T03:04:05Z' } });
  });

  it.each([
    [{ customer_id: ' ', name: 'Amy' }, {}, 'customer_id: the import key is empty'],
    [{ customer_id: 'C-1', name: '' }, {}, 'no mapped column has a value'],
    [{ customer_id: 'C-1', name: 'Amy', changed: '' }, { occurredAt: 'changed' }, 'changed: the time of the change is empty'],
  ])('refuses %j with a reason', (row, overrides, error) => {
    expect(rowToEvent(row, aMapping(overrides), FALLBACK)).toEqual({ error });
  });
});
