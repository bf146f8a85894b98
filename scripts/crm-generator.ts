/**
 * A stand-in CRM for the Debezium chain (docker/connect.sh):
 *
 *   npx ts-node --transpile-only scripts/crm-generator.ts seed 1000 [--seed 42]
 *   npx ts-node --transpile-only scripts/crm-generator.ts churn 200 [--seed 7]
 *   npx ts-node --transpile-only scripts/crm-generator.ts schema
 *
 * Creates the database of CRM_DATABASE_URL [postgres://postgres@127.0.0.1:5432/crm] and its
 * customers table if needed, then does the command and prints a one-line JSON summary.
 */
import { Client } from 'pg';
import { CRM_DATABASE_URL_DEFAULT, applyCrmSchema, churn, ensureCrmDatabase, seedCustomers } from './crm/crm-generator';

const USAGE = 'usage: crm-generator.ts seed <n> [--seed <s>] | churn <m> [--seed <s>] | schema';
const DEFAULT_SEED = 42;

function parseArgs(argv: string[]): { command: string; count: number; seed: number } {
  const [command = '', ...rest] = argv;
  let count = 0;
  let seed = DEFAULT_SEED;
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--seed') seed = Number(rest[++i]);
    else if (/^\d+$/.test(arg)) count = Number(arg);
    else throw new Error(`unexpected argument "${arg}"\n${USAGE}`);
  }
  if (!['seed', 'churn', 'schema'].includes(command)) throw new Error(USAGE);
  if (command !== 'schema' && count <= 0) throw new Error(`${command} needs a positive count\n${USAGE}`);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer\n${USAGE}`);
  return { command, count, seed };
}

async function main(): Promise<void> {
  const { command, count, seed } = parseArgs(process.argv.slice(2));
  const url = process.env.CRM_DATABASE_URL ?? CRM_DATABASE_URL_DEFAULT;
  await ensureCrmDatabase(url);
  const client = new Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await applyCrmSchema(client);
    const database = client.database;
    if (command === 'schema') {
      console.log(JSON.stringify({ command, database }));
    } else if (command === 'seed') {
      console.log(JSON.stringify({ ...(await seedCustomers(client, count, seed)), database }));
    } else {
      const { operations: _operations, ...summary } = await churn(client, count, seed);
      console.log(JSON.stringify({ ...summary, database }));
    }
  } finally {
    await client.end();
  }
}

main().catch((error: Error) => {
  console.error(`crm-generator: ${error.message}`);
  process.exit(1);
});
