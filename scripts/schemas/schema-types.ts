/**
 * schemas:types — the TypeScript types of the `profile-change.v1` event, generated from its JSON
 * Schema, so that the event's shape is written once: in the schema the service validates with.
 *
 *   npm run schemas:types              # writes src/ingest/schemas/profile-change.v1.types.ts
 *   npm run schemas:types -- --stdout  # prints them instead (what the unit test compares)
 *   npm run schemas:types -- --stdout --schema other.json  # from another schema file
 *
 * TRICKY: json-schema-to-typescript formats with prettier 3, which loads its parsers by dynamic
 * import; jest's module sandbox refuses that without --experimental-vm-modules, so the unit test
 * runs this script in its own process rather than calling generateTypes() in the test.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { compile, type JSONSchema } from 'json-schema-to-typescript';

const REPO = resolve(__dirname, '../..');
export const PROFILE_CHANGE_SCHEMA_FILE = resolve(REPO, 'src/ingest/schemas/profile-change.v1.json');
export const PROFILE_CHANGE_TYPES_FILE = resolve(REPO, 'src/ingest/schemas/profile-change.v1.types.ts');

// The project's own line width and quotes, so the generated file reads like the code around it.
const STYLE = { singleQuote: true, printWidth: 150, trailingComma: 'all', bracketSpacing: true } as const;

/** The types file for the schema at `schemaFile`, header included, exactly as it is committed. */
export async function generateTypes(schemaFile = PROFILE_CHANGE_SCHEMA_FILE): Promise<string> {
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as JSONSchema;
  const bannerComment = [
    '/**',
    ` * Generated from ${relative(REPO, schemaFile)} by \`npm run schemas:types\` (json-schema-to-typescript).`,
    ' * Do not edit: change the schema and run the command again; a unit test fails while the two differ.',
    ' */',
  ].join('\n');
  return compile(schema, 'ProfileChangeV1', { bannerComment, additionalProperties: false, style: STYLE });
}

async function main(): Promise<void> {
  const at = process.argv.indexOf('--schema');
  const types = await generateTypes(at > 0 ? resolve(process.argv[at + 1]!) : PROFILE_CHANGE_SCHEMA_FILE);
  if (process.argv.includes('--stdout')) process.stdout.write(types);
  else {
    writeFileSync(PROFILE_CHANGE_TYPES_FILE, types);
    process.stderr.write(`schemas:types wrote ${relative(REPO, PROFILE_CHANGE_TYPES_FILE)}\n`);
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    process.stderr.write(`schemas:types: ${error.message}\n`);
    process.exitCode = 1;
  });
}
