import fc from 'fast-check';
import { decodeStateEntry, encodeStateEntry } from '../../src/importer/state-entry';
import { aStateEntry } from '../support/contact-state-entries';

describe('contact_state entries', () => {
  it('read back exactly as written', () => {
    fc.assert(fc.property(aStateEntry, (entry) => expect(decodeStateEntry(encodeStateEntry(entry))).toEqual(entry)));
  });

  it('are one string unless something besides the core is known', () => {
    expect(encodeStateEntry({ hash: 'AbCdEfGhIjKlMnOp', ts: 1_764_547_200_123, seq: 3, at: 1_764_547_260_000, batchId: '42', extras: {} })).toBe(
      'AbCdEfGhIjKlMnOp 1764547200123 3 1764547260000 42',
    );
    expect(encodeStateEntry({ hash: 'AbCdEfGhIjKlMnOp', ts: 5, seq: 0, at: 7, extras: {} })).toBe('AbCdEfGhIjKlMnOp 5 0 7');
    expect(encodeStateEntry({ hash: 'AbCdEfGhIjKlMnOp', ts: 5, seq: 0, batchId: '9', extras: {} })).toBe('AbCdEfGhIjKlMnOp 5 0  9');
    expect(encodeStateEntry({ hash: 'x', ts: 5, seq: -1, extras: { l: true } })).toEqual(['x 5 -1', { l: true }]);
  });

  it('are read in the object layout too, as an instance of the previous version writes them', () => {
    expect(decodeStateEntry({ h: 'AbCdEfGhIjKlMnOp', ts: 5, seq: 0, at: 7, b: '9', v: 'Amy' } as never)).toEqual({
      hash: 'AbCdEfGhIjKlMnOp',
      ts: 5,
      seq: 0,
      at: 7,
      batchId: '9',
      extras: { v: 'Amy' },
    });
  });
});
