import fc from 'fast-check';
import type { Client } from 'pg';
import { fieldHash, type FieldValue } from '../../src/profile';
import { migratedDatabase } from '../support/database';

/** How an export file writes a value CAAC holds (the sandbox's cell: JSON's number text, true/false). */
function csvCell(value: FieldValue): string {
  return typeof value === 'string' ? value : String(value);
}

const text = fc.string({ maxLength: 6, unit: fc.constantFrom('a', 'Z', '0', '1', '.', '-', 'e', '+', ' ', '"', ',', '\\', 'é', '台', '\u{1F600}') });
const awkwardNumber = fc.constantFrom(1e-7, -1.5e-7, 0.5, 1e21, 1e20, 2 ** 53 + 2, 0.30000000000000004, 5e-324, 1.7976931348623157e308, -120, 0);
const number = fc.oneof(fc.integer(), awkwardNumber, fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => (Object.is(n, -0) ? 0 : n)));

describe('caac_sync_export_cell_hashes (an export cell read back as the value the importer hashes)', () => {
  let db: Client;
  let drop: () => Promise<void>;

  beforeAll(async () => {
    const database = await migratedDatabase('cell_hash');
    db = database.client;
    drop = database.drop;
  });

  afterAll(async () => {
    await drop();
  });

  async function sut(field: string, cell: string | null): Promise<string[]> {
    const { rows } = await db.query(`SELECT caac_sync_export_cell_hashes($1, $2) AS hashes`, [field, cell]);
    return rows[0].hashes;
  }

  it('reads a custom number cell as that number first, so a CRM number equal to CAAC is not sent', async () => {
    await fc.assert(
      fc.asyncProperty(number, async (value) => {
        await expect(sut('cl_custom_points', csvCell(value))).resolves.toEqual([fieldHash(value), fieldHash(csvCell(value))]);
      }),
      { numRuns: 300 },
    );
  });

  it('reads any other custom cell as its text, and a text field always as text', async () => {
    await fc.assert(
      fc.asyncProperty(text, async (value) => {
        const hashes = await sut('cl_custom_tier', value);
        expect(hashes[hashes.length - 1]).toBe(fieldHash(value));
        await expect(sut('display_name', value)).resolves.toEqual([fieldHash(value)]);
      }),
      { numRuns: 300 },
    );
  });

  it('never reads a cell JavaScript would not write for a number as a number', async () => {
    for (const cell of ['0120', '1.50', '1e21', '+1', '-0', '1.', '.5', ' 1', 'NaN', 'Infinity']) {
      await expect(sut('cl_custom_points', cell)).resolves.toEqual([fieldHash(cell)]);
    }
  });

  it('reads star_mark as a boolean, and an unreadable one as nothing known (so it is sent)', async () => {
    await expect(sut('star_mark', 'true')).resolves.toEqual([fieldHash(true)]);
    await expect(sut('star_mark', 'false')).resolves.toEqual([fieldHash(false)]);
    await expect(sut('star_mark', 'TRUE')).resolves.toEqual([]);
    await expect(sut('star_mark', '1')).resolves.toEqual([]);
  });

  it('reads an absent cell as a cleared field: null, or an empty text', async () => {
    await expect(sut('display_name', null)).resolves.toEqual([fieldHash(null), fieldHash('')]);
  });

  it('keeps dates as the text CAAC writes', async () => {
    await expect(sut('birthday', '1990-04-01')).resolves.toEqual([fieldHash('1990-04-01')]);
    await expect(sut('cl_custom_joined', '2024-03-05T10:15:30.000Z')).resolves.toEqual([fieldHash('2024-03-05T10:15:30.000Z')]);
  });
});
