#!/usr/bin/env bash
# The main job on the local stack, in one command (`npm run start:local`):
#   Postgres (the machine's) and a Kafka broker (docker/kafka.sh), the CAAC sandbox, a CRM database
#   whose customers table is captured by Debezium in Kafka Connect (docker/connect.sh), and the
#   service, which imports the changes into the sandbox. It seeds the CRM, makes a stream of inserts,
#   updates (including NULLs) and deletes, publishes a few profile-change.v1 events, waits until
#   everything is imported, and prints the imports with their task_ids, contacts as CAAC holds
#   them, and dead letters; then exports CAAC's contacts into the caac_contact table and prints a
#   few. Then the service keeps running until Ctrl-C (`--once`: stop after the report).
#   Logs: .cache/local/*.log
#
# Stopping (Ctrl-C, `--once`, or a failure) stops every process it started (the broker only if it
# started it) and removes what it made: the CDC replication slot and publication, which would
# otherwise keep the CRM database's WAL forever, the Connect worker's state, the databases
# caac_sync_local and crm, and the demo's topics. `--keep` keeps them for a look afterwards
# (`docker/connect.sh reset` removes the slot later).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

once=false
keep=false
for arg in "$@"; do
  case "$arg" in
    --once) once=true ;;
    --keep) keep=true ;;
    *) echo "usage: $0 [--once] [--keep]" >&2; exit 2 ;;
  esac
done
dir=.cache/local
mkdir -p "$dir"
export LOCAL_DATABASE_URL=${LOCAL_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/caac_sync_local}
export CRM_DATABASE_URL=${CRM_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/crm}
export LOCAL_HTTP_PORT=${LOCAL_HTTP_PORT:-3000}
export LOCAL_SANDBOX_PORT=${LOCAL_SANDBOX_PORT:-4010}
export LOCAL_ADMIN_TOKEN=${LOCAL_ADMIN_TOKEN:-local-admin-token-0123456789}
ts_node="node_modules/.bin/ts-node --transpile-only"
pids=()

say() { echo "start-local: $*" >&2; }
started_broker=false
started_connect=false
cleaned=false
cleanup() {
  $cleaned && return 0
  cleaned=true
  trap - INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if $keep; then
    ! $started_connect || bash docker/connect.sh stop || true
    say "kept the replication slot, the publication, the databases and the topics (--keep); docker/connect.sh reset drops the slot"
  else
    ! $started_connect || bash docker/connect.sh reset || say "could not reset the CDC connector; run docker/connect.sh reset"
    $ts_node scripts/local/teardown.ts || say "could not remove the databases or topics (see above)"
  fi
  ! $started_broker || bash docker/kafka.sh stop || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_http() { # url, what, seconds
  local deadline=$((SECONDS + $3))
  until curl -fsS -o /dev/null "$1" 2>/dev/null; do
    [ $SECONDS -ge "$deadline" ] && { say "$2 did not answer within $3 s (see $dir)"; exit 1; }
    sleep 0.5
  done
}

bash docker/postgres.sh logical
# A broker that already answers (another checkout's, or a shared one) is used and left running.
bash docker/kafka.sh status 2>/dev/null || started_broker=true
bash docker/kafka.sh start
say "building"
npm run build --silent

say "starting the CAAC sandbox on 127.0.0.1:$LOCAL_SANDBOX_PORT"
SANDBOX_PORT=$LOCAL_SANDBOX_PORT SANDBOX_TEST_API=1 SANDBOX_TASK_MIN_MS=1000 \
  node dist/sandbox/main.js >"$dir/sandbox.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$LOCAL_SANDBOX_PORT/__sandbox/requests" "the sandbox" 30
curl -fsS -X POST "http://127.0.0.1:$LOCAL_SANDBOX_PORT/__sandbox/reset" >/dev/null

say "preparing the CRM database, its CDC connector and the topics"
$ts_node scripts/local/prepare.ts
$ts_node scripts/crm-generator.ts schema
started_connect=true
bash docker/connect.sh start

say "starting the service on 127.0.0.1:$LOCAL_HTTP_PORT"
KAFKA_BROKERS=127.0.0.1:9092 \
SOURCE_TOPICS="crm.profile-changes:profile-change.v1,crm.public.customers:debezium:config/customers.mapping.json" \
DATABASE_URL=$LOCAL_DATABASE_URL MIGRATE_ON_START=true \
CAAC_BASE_URL="http://127.0.0.1:$LOCAL_SANDBOX_PORT" CAAC_API_KEY=sandbox-key \
ADMIN_TOKEN=$LOCAL_ADMIN_TOKEN HTTP_HOST=127.0.0.1 HTTP_PORT=$LOCAL_HTTP_PORT \
FLUSH_INTERVAL_MS=${FLUSH_INTERVAL_MS:-3000} EXPORT_POLL_MS=500 KAFKA_SESSION_TIMEOUT_MS=10000 LOG_LEVEL=${LOG_LEVEL:-info} \
  node dist/main.js >"$dir/service.log" 2>&1 &
service=$!
pids+=($service)
wait_http "http://127.0.0.1:$LOCAL_HTTP_PORT/health/ready" "the service" 90

say "seeding the CRM and making changes"
$ts_node scripts/crm-generator.ts seed 300
$ts_node scripts/crm-generator.ts churn 1500
$ts_node scripts/local/publish-events.ts

$ts_node scripts/local/report.ts
say "exporting CAAC's contacts into the caac_contact table"
$ts_node scripts/local/export.ts

if $once; then exit 0; fi
say "the service keeps running (http://127.0.0.1:$LOCAL_HTTP_PORT/metrics); Ctrl-C stops it"
wait "$service"
