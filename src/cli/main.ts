import 'reflect-metadata';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../config/app-config';
import { backfill, BACKFILL_BAD_ROWS_LISTED } from './backfill.command';
import { BackfillMappingError } from './backfill-mapping';
import { CliContext, serviceUrl } from './cli-context';
import { replayDeadLetters } from './dlq-replay.command';
import { EXPORT_WAIT_DEFAULT_S, formatExport, runExport, type ExportJobView } from './export.command';
import { forget, formatForget } from './forget.command';
import { registerSchemas, type RegisteredFormat } from './schemas-register.command';
import { formatStatus, status } from './status.command';
import { formatMappingCheck } from './mapping-check';
import { checkMapping, MAPPING_CHECK_SAMPLE_DEFAULT, MAPPING_CHECK_SAMPLE_MAX, MappingFileError } from './mapping-check.command';
import { loadEnvFileOrExit } from '../config/env-file';

// Before anything reads the environment: settings in .env, under those already set.
loadEnvFileOrExit();

// The command line of caac-profile-sync: `npm run cli -- <command> --help`. It reads the same
// environment as the service, each command only the variables it uses. stdout carries the command's result, stderr progress and problems.
// Exit codes: 0 done, 1 failed, 2 done but some input was refused (bad rows).

const splitList = (value: string): string[] => value.split(',').map((part) => part.trim()).filter((part) => part !== '');
const isoTime = (value: string): number => {
  const at = Date.parse(value);
  if (!Number.isFinite(at)) throw new InvalidArgumentError('must be an ISO-8601 time, e.g. 2026-12-01T00:00:00Z');
  return at;
};
const print = (text: string) => console.log(text);
const serviceUrlOption = () => new Option('--url <url>', 'the running service').default(`http://127.0.0.1:${process.env.HTTP_PORT ?? '3000'}`);
const INSECURE_HELP = 'allow a plain http --url to another machine (ADMIN_TOKEN then crosses the network in clear)';

async function withContext<T>(work: (context: CliContext) => Promise<T>, env: NodeJS.ProcessEnv = process.env): Promise<T> {
  const context = new CliContext(env);
  try {
    return await work(context);
  } finally {
    await context.close();
  }
}

const program = new Command()
  .name('caac-sync')
  .description('Operate caac-profile-sync: its status, dead-letter replay, CRM backfill, exports, erasure, mapping checks. Reads the service\'s environment (.env).')
  .showHelpAfterError();

program
  .command('status')
  .description('backlog by key type, consumer lag, the in-flight import, the last imports and the last export of a running service')
  .addOption(serviceUrlOption())
  .option('--insecure', INSECURE_HELP)
  // No default shown for the URL: --help must not print a password from the environment.
  .option('--crm-database-url <url>', "the CRM's Postgres, to check the CDC connector's replication slot (default: CRM_DATABASE_URL; unset: no check)")
  .option('--cdc-slot <name>', "the CDC connector's replication slot (default: CDC_SLOT, else caac_sync_crm)", process.env.CDC_SLOT ?? 'caac_sync_crm')
  .option('--json', 'print the report as JSON')
  .action(async (options: { url: string; insecure?: boolean; json?: boolean; crmDatabaseUrl?: string; cdcSlot: string }) => {
    const url = serviceUrl(options.url, options.insecure === true);
    const crmDatabaseUrl = options.crmDatabaseUrl ?? process.env.CRM_DATABASE_URL;
    const cdc = crmDatabaseUrl ? { databaseUrl: crmDatabaseUrl, slot: options.cdcSlot } : undefined;
    const report = await withContext((context) => status(context, url, cdc));
    print(options.json ? JSON.stringify(report, null, 2) : formatStatus(report).join('\n'));
  });

program
  .command('schemas:register')
  .description(
    'register profile-change.v1 in the Schema Registry (SCHEMA_REGISTRY_URL, _USERNAME, _PASSWORD) under a topic\'s value subject, ' +
      'for topics read as profile-change.v1-avro or profile-change.v1-json-sr; prints the schema id producers frame events with',
  )
  .option('--topic <topic>', 'the topic; the subject is <topic>-value')
  .option('--subject <subject>', 'an explicit subject instead')
  .addOption(new Option('--format <format>', 'the schema to register').choices(['avro', 'json']).default('avro'))
  .option('--json', 'print the result as JSON')
  .action(async (options: { topic?: string; subject?: string; format: RegisteredFormat; json?: boolean }) => {
    const result = await registerSchemas(process.env, options);
    print(options.json ? JSON.stringify(result) : `registered profile-change.v1 (${result.schemaType}) under subject ${result.subject}: schema id ${result.id}`);
  });

program
  .command('dlq:replay')
  .description(
    'read the dead-letter topic and send matching letters back once: decode/validate letters as their original bytes to their source topic ' +
      '(with caac-sync.replay.* headers), import letters as pending changes',
  )
  .addOption(new Option('--stage <stages>', 'only these stages, comma separated').argParser(splitList))
  .option('--class <classes>', 'only these error classes, e.g. InvalidField,SchemaViolation', splitList)
  .option('--source-topic <topics>', 'only letters of these source topics', splitList)
  .option('--since <time>', 'only letters that failed at or after this time (ISO-8601)', isoTime)
  .option('--until <time>', 'only letters that failed before this time (ISO-8601)', isoTime)
  .option('--dry-run', 'count what would be replayed; send nothing')
  .option('--json', 'print the summary as JSON')
  .action(async (options: { stage?: string[]; class?: string[]; sourceTopic?: string[]; since?: number; until?: number; dryRun?: boolean; json?: boolean }) => {
    const summary = await withContext((context) =>
      replayDeadLetters(context, {
        dryRun: options.dryRun === true,
        filter: {
          ...(options.stage && { stages: options.stage }),
          ...(options.class && { classes: options.class }),
          ...(options.sourceTopic && { sourceTopics: options.sourceTopic }),
          ...(options.since !== undefined && { since: options.since }),
          ...(options.until !== undefined && { until: options.until }),
        },
      }),
    );
    if (options.json) return print(JSON.stringify(summary, null, 2));
    print(`${summary.dryRun ? 'dry run: would replay' : `run ${summary.run}: replayed`} from ${summary.read} letters read:`);
    for (const [what, count] of Object.entries(summary.matched)) print(`  ${count}\t${what}`);
    if (!summary.dryRun) print(`republished ${summary.republished}, re-queued ${summary.requeued}`);
    print(`duplicates skipped ${summary.duplicates}; others skipped: ${JSON.stringify(summary.skipped)}`);
  });

program
  .command('backfill')
  .description('publish a CRM CSV (header row first) as profile-change.v1 events on the source topic; bad rows are listed with their line numbers and not published')
  .argument('<file.csv>', 'the CSV file')
  .requiredOption('--mapping <file>', 'JSON mapping: {"key":{"column":"customer_id","type":"customer_id"},"occurred_at":"updated_at","fields":{"email":"display_email"}}')
  .option('--topic <topic>', 'the source topic (default: the profile-change.v1 topic of SOURCE_TOPICS)')
  .option('--occurred-at <time>', "occurred_at of every row when the mapping names no column for it (default: the file's modification time)", (value: string) => new Date(isoTime(value)).toISOString())
  .option('--dry-run', 'check every row; publish nothing')
  .action(async (file: string, options: { mapping: string; topic?: string; occurredAt?: string; dryRun?: boolean }) => {
    const summary = await withContext((context) => backfill(context, file, options));
    for (const bad of summary.bad) console.error(`line ${bad.line}: ${bad.reason}`);
    if (summary.badCount > summary.bad.length) console.error(`… and ${summary.badCount - summary.bad.length} more bad rows (the first ${BACKFILL_BAD_ROWS_LISTED} are listed)`);
    print(`${summary.rows} rows: ${options.dryRun ? 'would publish' : 'published'} ${summary.published} to ${summary.topic}, refused ${summary.badCount}`);
    if (summary.badCount > 0) process.exitCode = 2;
  });

const positiveWhole = (value: string): number => {
  if (!/^[1-9]\d{0,6}$/.test(value)) throw new InvalidArgumentError('must be a whole number of seconds, 1 or more');
  return Number(value);
};

program
  .command('export')
  .description('start an export of the CAAC contacts on the running service and wait for it (exit 0 done; 1 failed, expired, held, timed out, or another export runs)')
  .addOption(serviceUrlOption())
  .option('--insecure', INSECURE_HELP)
  .option('--fields <fields>', 'only these fields, comma separated (default: every field CAAC has)', splitList)
  .option('--attach', 'when an export already runs, wait for that one instead of failing')
  .option('--allow-deletions', 'let the held export (one that would delete more of the mirror than EXPORT_MAX_DELETE_RATIO) go on, and wait for it')
  .option('--no-wait', 'start it and return; follow it with GET /admin/exports/<id>')
  .option('--timeout-s <seconds>', 'stop waiting after this long (the export goes on in the service)', positiveWhole, EXPORT_WAIT_DEFAULT_S)
  .option('--json', 'print the job as JSON')
  .action(async (options: { url: string; insecure?: boolean; fields?: string[]; attach?: boolean; allowDeletions?: boolean; wait: boolean; timeoutS: number; json?: boolean }) => {
    const url = serviceUrl(options.url, options.insecure === true);
    // One line on stderr, redrawn in place, in a terminal only: a log would fill with redraws.
    const progress = process.stderr.isTTY
      ? (job: ExportJobView) => process.stderr.write(`\rexport ${job.id} ${job.status} rows ${String(job.rows_written ?? 0)}/${String(job.row_count ?? '?')}\x1b[K`)
      : undefined;
    const result = await withContext((context) =>
      runExport(context, url, { ...(options.fields && { fields: options.fields }), wait: options.wait, attach: options.attach === true, allowDeletions: options.allowDeletions === true, timeoutMs: options.timeoutS * 1000, ...(progress && { onProgress: progress }) }),
    );
    if (progress) process.stderr.write('\r\x1b[K');
    print(options.json ? JSON.stringify(result, null, 2) : formatExport(result, options.timeoutS).join('\n'));
    if (result.outcome !== 'done' && !(result.outcome === 'running' && result.how !== 'busy')) process.exitCode = 1;
  });

program
  .command('forget')
  .description(
    'erase one person from everything the running service keeps (staging, import state, dead letters, drift, the export table, ' +
      'with a tombstone on the export topic), under every key the last export ties to the same CAAC contact ' +
      '(exit 0 done; 2 done but something waits: run it again later; 1 failed). CAAC itself is not reached.',
  )
  .argument('<keyType>', 'line_uid, display_email, display_mobile, connect_id or customer_id')
  .argument('<keyValue>', 'the key, as the CRM spells it (it is normalised as events are)')
  .addOption(serviceUrlOption())
  .option('--insecure', INSECURE_HELP)
  .option('--json', 'print the result as JSON')
  .action(async (keyType: string, keyValue: string, options: { url: string; insecure?: boolean; json?: boolean }) => {
    const url = serviceUrl(options.url, options.insecure === true);
    const result = await withContext((context) => forget(context, url, keyType, keyValue));
    print(options.json ? JSON.stringify(result, null, 2) : formatForget(result).join('\n'));
    if (!result.complete) process.exitCode = 2;
  });

program
  .command('mapping:check')
  .description(
    'check a Debezium mapping file against a sample of its topic before going live: per column, seen or never seen, the field it maps to, ' +
      'a value and what it becomes in CAAC or the error it gives; the key columns\' coverage. Exit 1 when a key or mapped column never appears, ' +
      'a conversion fails or rows have no usable key. Reads in a consumer group of its own, deleted afterwards.',
  )
  .requiredOption('--topic <topic>', 'the Debezium topic, e.g. crm.public.members')
  .requiredOption('--mapping <file>', 'the mapping file, e.g. config/members.mapping.json')
  .addOption(
    new Option('--sample <messages>', `messages read from the start of the topic (at most ${MAPPING_CHECK_SAMPLE_MAX})`)
      .default(MAPPING_CHECK_SAMPLE_DEFAULT)
      .argParser((value) => {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1 || n > MAPPING_CHECK_SAMPLE_MAX) throw new InvalidArgumentError(`must be a whole number from 1 to ${MAPPING_CHECK_SAMPLE_MAX}`);
        return n;
      }),
  )
  .option('--timeout-s <seconds>', 'give up reading after this long', (value) => Number(value), 60)
  .option('--json', 'print the report as JSON')
  .action(async (options: { topic: string; mapping: string; sample: number; timeoutS: number; json?: boolean }) => {
    // Only Kafka's settings and the event rules are read: a mapping is checked before the rest is set up.
    const report = await withContext((context) => checkMapping(context, options.topic, options.mapping, options.sample, options.timeoutS * 1000));
    print(options.json ? JSON.stringify(report, null, 2) : formatMappingCheck(report).join('\n'));
    if (report.problems.length > 0) process.exitCode = 1;
  });

program.parseAsync(process.argv).catch((error: Error) => {
  // A configuration or mapping problem is the user's to fix: its lines, not a stack.
  console.error(error instanceof ConfigError || error instanceof BackfillMappingError || error instanceof MappingFileError ? error.message : `caac-sync: ${error.message}`);
  process.exitCode = 1;
});
