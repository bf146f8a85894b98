import fc from 'fast-check';
import {
  applyPatch,
  compareStamped,
  fieldHash,
  hasField,
  mergeStamped,
  mergeStampedInto,
  stamp,
  unstamp,
  withoutOlderThan,
  withoutUnchanged,
} from '../../src/profile';
import type { FieldValue, ImportedField, Patch, StampedField, StampedPatch } from '../../src/profile';

// Few field names and few distinct stamps, so that generated patches overlap and tie often.
const fieldName = fc.constantFrom('display_name', 'gender', 'cl_custom_points', 'cl_custom_tier', 'constructor', '__proto__');
const fieldValue: fc.Arbitrary<FieldValue | null> = fc.oneof(
  fc.constantFrom<FieldValue | null>(null, '1', 1, 0, '', true, false),
  fc.string({ maxLength: 3 }),
  fc.integer({ min: -3, max: 3 }),
);
const stampedField: fc.Arbitrary<StampedField> = fc.record({
  value: fieldValue,
  ts: fc.integer({ min: 0, max: 3 }),
  seq: fc.integer({ min: 0, max: 3 }),
});

/** A null-prototype record, as the domain builds them, from generated entries. */
function record<T>(entries: [string, T][]): Record<string, T> {
  const result = Object.create(null) as Record<string, T>;
  for (const [key, value] of entries) result[key] = value;
  return result;
}

const stampedPatch: fc.Arbitrary<StampedPatch> = fc
  .array(fc.tuple(fieldName, stampedField), { maxLength: 6 })
  .map((entries) => record(entries));
const patch: fc.Arbitrary<Patch> = fc
  .array(fc.tuple(fieldName, fieldValue), { maxLength: 6 })
  .map((entries) => record(entries));
const state: fc.Arbitrary<Record<string, FieldValue>> = fc
  .array(fc.tuple(fieldName, fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.boolean())), { maxLength: 6 })
  .map((entries) => record(entries));

/** Events as a topic delivers them: a patch, a source time, and a unique offset. */
const events = fc
  .array(fc.tuple(patch, fc.integer({ min: 0, max: 5 })), { maxLength: 8 })
  .map((list) => list.map(([p, ts], offset) => ({ patch: p, ts, seq: offset })));

function plain<T>(value: Record<string, T>): Record<string, T> {
  return { ...value };
}

describe(mergeStamped.name, () => {
  it('folding events in any arrival order, then applying, equals applying them one by one in (ts, seq) order', () => {
    fc.assert(
      fc.property(
        state,
        events.chain((list) => fc.tuple(fc.constant(list), fc.shuffledSubarray(list, { minLength: list.length }))),
        (initial, [inOrder, arrived]) => {
          const sut = arrived.reduce<StampedPatch>((acc, e) => mergeStamped(acc, stamp(e.patch, e)), {});

          const sorted = [...inOrder].sort((a, b) => a.ts - b.ts || a.seq - b.seq);
          const expected = sorted.reduce((s, e) => applyPatch(s, e.patch), initial);
          expect(plain(applyPatch(initial, unstamp(sut)))).toEqual(plain(expected));
        },
      ),
    );
  });

  it('is commutative', () => {
    fc.assert(
      fc.property(stampedPatch, stampedPatch, (a, b) => {
        expect(plain(mergeStamped(a, b))).toEqual(plain(mergeStamped(b, a)));
      }),
    );
  });

  it('is associative', () => {
    fc.assert(
      fc.property(stampedPatch, stampedPatch, stampedPatch, (a, b, c) => {
        expect(plain(mergeStamped(mergeStamped(a, b), c))).toEqual(plain(mergeStamped(a, mergeStamped(b, c))));
      }),
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(stampedPatch, stampedPatch, (a, b) => {
        const merged = mergeStamped(a, b);
        expect(plain(mergeStamped(a, a))).toEqual(plain(a));
        expect(plain(mergeStamped(merged, b))).toEqual(plain(merged));
      }),
    );
  });

  it('keeps null and absent distinct: a field is present exactly when some patch has it, with the newest value', () => {
    fc.assert(
      fc.property(fc.array(stampedPatch, { maxLength: 5 }), (patches) => {
        const sut = patches.reduce<StampedPatch>((acc, p) => mergeStamped(acc, p), {});

        for (const field of ['display_name', 'gender', 'cl_custom_points', 'cl_custom_tier', 'constructor', '__proto__']) {
          const candidates = patches.filter((p) => hasField(p, field)).map((p) => p[field]!);
          if (candidates.length === 0) {
            expect(hasField(sut, field)).toBe(false);
          } else {
            const newest = candidates.reduce((x, y) => (compareStamped(y, x) > 0 ? y : x));
            expect(hasField(sut, field)).toBe(true);
            expect(sut[field]).toEqual(newest);
          }
        }
      }),
    );
  });

  it('sends a null set by the newer patch and keeps fields the newer patch does not name', () => {
    const older = stamp({ display_name: 'Amy', gender: 'female' }, { ts: 1_000, seq: 7 });
    const newer = stamp({ gender: null }, { ts: 2_000, seq: 3 });

    const sut = unstamp(mergeStamped(newer, older));

    expect(plain(sut)).toEqual({ display_name: 'Amy', gender: null });
  });

  it('lets the later offset win at equal source times', () => {
    const first = stamp({ display_name: 'Amy' }, { ts: 1_000, seq: 7 });
    const second = stamp({ display_name: 'Amy Lin' }, { ts: 1_000, seq: 8 });

    expect(mergeStamped(second, first).display_name).toEqual({ value: 'Amy Lin', ts: 1_000, seq: 8 });
  });

  it('does not change its inputs and never touches Object.prototype', () => {
    const a = record<StampedField>([['__proto__', { value: 'x', ts: 1, seq: 1 }]]);
    const b = stamp(record([['constructor', 'y']]), { ts: 2, seq: 2 });

    const sut = mergeStamped(a, b);

    expect(Object.keys(sut).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.keys(a)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).x).toBeUndefined();
    expect(Object.getPrototypeOf(sut)).toBeNull();
  });
});

describe(mergeStampedInto.name, () => {
  it('gives the same result as mergeStamped, in the target', () => {
    fc.assert(
      fc.property(stampedPatch, stampedPatch, (a, b) => {
        const target = mergeStamped(a, {});

        const sut = mergeStampedInto(target, b);

        expect(sut).toBe(target);
        expect(plain(sut)).toEqual(plain(mergeStamped(a, b)));
      }),
    );
  });
});

describe(applyPatch.name, () => {
  it('overwrites provided fields, deletes nulls and keeps absent ones', () => {
    const sut = applyPatch({ display_name: 'Amy', gender: 'female', city: 'Taipei' }, { display_name: 'Amy Lin', gender: null, region: 'tw' });

    expect(plain(sut)).toEqual({ display_name: 'Amy Lin', city: 'Taipei', region: 'tw' });
  });
});

describe(stamp.name, () => {
  it('stamps every field, null included, and unstamp gives the patch back', () => {
    const sut = stamp({ display_name: 'Amy', gender: null }, { ts: 1_700_000_000_000, seq: 42 });

    expect(plain(sut)).toEqual({
      display_name: { value: 'Amy', ts: 1_700_000_000_000, seq: 42 },
      gender: { value: null, ts: 1_700_000_000_000, seq: 42 },
    });
    expect(plain(unstamp(sut))).toEqual({ display_name: 'Amy', gender: null });
  });
});

describe(withoutUnchanged.name, () => {
  const importedField = fc.record({ value: fieldValue, ts: fc.integer({ min: 0, max: 3 }), seq: fc.integer({ min: 0, max: 3 }) });
  const imported = fc
    .array(fc.tuple(fieldName, importedField), { maxLength: 6 })
    .map((entries) => record(entries.map(([f, i]): [string, ImportedField] => [f, { hash: fieldHash(i.value), ts: i.ts, seq: i.seq }])));

  it('never keeps a field older than the one imported, and sorts every field into exactly one outcome', () => {
    fc.assert(
      fc.property(stampedPatch, imported, (sp, last) => {
        const sut = withoutUnchanged(sp, last);

        for (const field of Object.keys(sut.patch)) {
          if (!hasField(last, field)) continue;
          const kept = sut.patch[field]!;
          const was = last[field]!;
          expect(kept.ts > was.ts || (kept.ts === was.ts && kept.seq >= was.seq)).toBe(true);
          expect(fieldHash(kept.value)).not.toBe(was.hash);
        }
        const outcomes = [...Object.keys(sut.patch), ...sut.unchanged, ...sut.stale].sort();
        expect(outcomes).toEqual(Object.keys(sp).sort());
      }),
    );
  });

  it('drops equal values as unchanged and older values as stale, keeps the rest', () => {
    const sp = stamp({ display_name: 'Amy', gender: 'female', city: 'Taipei', region: null }, { ts: 2_000, seq: 5 });
    sp.city = { value: 'Tainan', ts: 1_000, seq: 1 };
    const last = {
      display_name: { hash: fieldHash('Amy'), ts: 9_000, seq: 1 },
      gender: { hash: fieldHash('male'), ts: 1_000, seq: 9 },
      city: { hash: fieldHash('Taipei'), ts: 1_500, seq: 0 },
    };

    const sut = withoutUnchanged(sp, last);

    expect(plain(sut.patch)).toEqual({
      gender: { value: 'female', ts: 2_000, seq: 5 },
      region: { value: null, ts: 2_000, seq: 5 },
    });
    expect(sut.unchanged).toEqual(['display_name']);
    expect(sut.stale).toEqual(['city']);
  });

  it('ignores inherited names in the imported record', () => {
    const sp = stamp({ constructor: 'x' }, { ts: 1, seq: 1 });

    expect(withoutUnchanged(sp, {}).patch.constructor).toEqual({ value: 'x', ts: 1, seq: 1 });
  });
});

describe(withoutOlderThan.name, () => {
  const newest = (value: FieldValue | null, ts: number, seq: number): ImportedField => ({ hash: fieldHash(value), ts, seq });

  it('drops a field another key of the contact carries newer, keeps one it carries older or not at all', () => {
    const sut = record<StampedField>([
      ['display_name', { value: 'Older', ts: 1, seq: 9 }],
      ['city', { value: 'Tainan', ts: 3, seq: 0 }],
      ['company', { value: 'Acme', ts: 1, seq: 0 }],
    ]);

    const result = withoutOlderThan(sut, record([['display_name', newest('Newer', 2, 0)], ['city', newest('Taipei', 2, 5)]]));

    expect(result.stale).toEqual(['display_name']);
    expect(plain(result.patch)).toEqual({ city: { value: 'Tainan', ts: 3, seq: 0 }, company: { value: 'Acme', ts: 1, seq: 0 } });
  });

  it('breaks an equal stamp as every merge does: the greater hash wins, the same value is kept', () => {
    fc.assert(
      fc.property(stampedField, stampedField, (mine, theirs) => {
        const result = withoutOlderThan(record([['f', mine]]), record([['f', { hash: fieldHash(theirs.value), ts: theirs.ts, seq: theirs.seq }]]));
        // Stale exactly when the other key's field wins the merge of the two.
        expect(result.stale.length === 1).toBe(compareStamped(mine, theirs) < 0);
      }),
    );
  });
});
