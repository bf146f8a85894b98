// Reads a Kafka Connect connector's REST status and says it in one line; used by docker/connect.sh.
//   node connector-status.js <rest-url> <connector> [expected-state]
// Exit 0: the connector and every task are in the expected state [RUNNING]; 1: not (yet), or the
// worker does not answer; 2: the connector or a task FAILED (its trace's first lines follow).
const [base, name, expected = 'RUNNING'] = process.argv.slice(2);
const REQUEST_TIMEOUT_MS = 3000;

async function main() {
  let response;
  try {
    response = await fetch(`${base}/connectors/${encodeURIComponent(name)}/status`, {
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    console.log(`worker at ${base} does not answer (${error.cause?.code ?? error.name})`);
    return 1;
  }
  if (response.status === 404) {
    console.log(`worker answers; connector ${name} is not there (yet)`);
    return 1;
  }
  if (!response.ok) {
    console.log(`worker answered ${response.status} for ${name}`);
    return 1;
  }
  const status = await response.json();
  const tasks = status.tasks ?? [];
  const parts = [`connector ${status.connector?.state ?? '?'}`, ...tasks.map((t) => `task ${t.id} ${t.state}`)];
  if (tasks.length === 0) parts.push('no tasks yet');
  console.log(`${name}: ${parts.join(', ')}`);
  const failed = [status.connector, ...tasks].find((s) => s?.state === 'FAILED');
  if (failed) {
    console.log((failed.trace ?? '(no trace)').split('\n').slice(0, 8).join('\n'));
    return 2;
  }
  // A stopped connector has no tasks; a running one must have at least one, all running.
  const ok =
    status.connector?.state === expected &&
    (expected === 'STOPPED' ? true : tasks.length > 0 && tasks.every((t) => t.state === expected));
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.log(`cannot read the status: ${error.message}`);
    process.exit(1);
  },
);
