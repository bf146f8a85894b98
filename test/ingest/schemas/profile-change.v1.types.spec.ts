import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const REPO = resolve(__dirname, '../../..');
const SCHEMA_FILE = resolve(REPO, 'src/ingest/schemas/profile-change.v1.json');
const TYPES_FILE = resolve(REPO, 'src/ingest/schemas/profile-change.v1.types.ts');
// ts-node compiling the generator in a process of its own (see scripts/schemas/schema-types.ts) takes seconds on a busy machine.
const GENERATE_TIMEOUT_MS = 60_000;

/** What `npm run schemas:types` would write for `schemaFile`, without writing it. */
async function generatedTypes(schemaFile: string): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['-r', 'ts-node/register/transpile-only', 'scripts/schemas/schema-types.ts', '--stdout', '--schema', schemaFile],
    { cwd: REPO, maxBuffer: 4 * 1024 * 1024 },
  );
  return stdout;
}

describe('profile-change.v1: the TypeScript types generated from the JSON Schema', () => {
  it(
    'are committed exactly as `npm run schemas:types` generates them from the schema (run it after changing the schema)',
    async () => {
      await expect(generatedTypes(SCHEMA_FILE)).resolves.toBe(readFileSync(TYPES_FILE, 'utf8'));
    },
    GENERATE_TIMEOUT_MS,
  );

  it(
    'follow the schema: a field added to the profile appears in them, so the committed file no longer matches',
    async () => {
      const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8')) as { properties: { profile: { properties: Record<string, unknown> } } };
      schema.properties.profile.properties.nickname = { type: ['string', 'null'] };
      const dir = mkdtempSync(join(tmpdir(), 'profile-change-types-'));
      try {
        const edited = join(dir, 'profile-change.v1.json');
        writeFileSync(edited, JSON.stringify(schema));
        const types = await generatedTypes(edited);
        expect(types).toContain('    nickname?: string | null;\n');
        expect(types).not.toBe(readFileSync(TYPES_FILE, 'utf8'));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    GENERATE_TIMEOUT_MS,
  );
});
