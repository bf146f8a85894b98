#!/usr/bin/env bash
# The real CDC chain for development and tests, without Docker: a standalone Kafka Connect worker
# running the Debezium Postgres connector on the CRM table(s), publishing change events to the
# local broker (docker/kafka.sh). Connect and Debezium come from Maven Central through Maven into a
# git-ignored cache (docker/connect/pom.xml); the connector has a plugin folder of its own.
#
#   docker/connect.sh start        fetch jars on first use, check Postgres and the broker, start the
#                                  worker with the connector, wait until connector and task RUNNING
#   docker/connect.sh stop         stop the worker started by this script (slot and offsets kept)
#   docker/connect.sh status       exit 0 and say so when the connector and its task are RUNNING
#   docker/connect.sh resnapshot   stop the connector, forget its offsets and replication slot,
#                                  resume: a fresh snapshot (op "r" for every row), then streaming
#   docker/connect.sh reset        stop, drop the replication slot and the publication, delete the
#                                  worker's state (offsets, configs, log)
#
# The other way round, a worker with the Debezium JDBC sink connector (the peer of the benchmarks):
# it reads SINK_TOPICS (Debezium change events with the schema wrapper) and upserts each event's row
# into SINK_TABLE of SINK_DATABASE_URL, deleting on "d" events. Its plugin is fetched like the rest.
#   docker/connect.sh sink start   fetch jars on first use, start the worker with the sink, wait until
#                                  connector and task RUNNING
#   docker/connect.sh sink stop    stop that worker (its state kept)
#   docker/connect.sh sink status  exit 0 when the sink connector and its tasks are RUNNING
#   docker/connect.sh sink reset   stop and delete the worker's state (the table is left alone)
#
# Settings (environment), defaults in brackets:
#   CRM_DATABASE_URL        the CRM database [postgres://postgres@127.0.0.1:5432/crm]
#   CDC_TABLES              tables to capture, comma separated [public.customers]
#   CDC_TOPIC_PREFIX        topic.prefix; topics are <prefix>.<schema>.<table> [crm]
#   CDC_SLOT                logical replication slot [caac_sync_crm]
#   CDC_PUBLICATION         publication (created for CDC_TABLES if missing) [caac_sync_crm]
#   CDC_SCHEMAS_ENABLE      JSON converter schema/payload wrapper, true or false [false]
#   CDC_SNAPSHOT_MODE       Debezium snapshot.mode [initial]
#   CDC_VALUE_FORMAT        json, or avro: Apicurio's Avro converter registers the value schema
#                           and frames values in Confluent's wire format (read as debezium-avro) [json]
#   CDC_SCHEMA_REGISTRY_URL with avro, Apicurio's v2 API [http://127.0.0.1:8081/apis/registry/v2]
#   CONNECT_NAME            connector name [crm-customers]
#   CONNECT_PORT            REST port on 127.0.0.1 [8083]
#   CONNECT_KAFKA_BROKERS   bootstrap servers [127.0.0.1:9092]
#   CONNECT_LOCAL_DIR       jars and state [<repo>/.cache/connect]
#   CONNECT_HEAP            worker -Xmx [384m]
#   CONNECT_START_TIMEOUT_S bound on start and resnapshot waits [120]
# The sink's settings (CONNECT_NAME defaults to crm-sink there; CONNECT_* apply as above):
#   SINK_DATABASE_URL       the database written to [postgres://postgres@127.0.0.1:5432/crm_mirror]
#   SINK_TOPICS             topics read, comma separated [crm.public.customers]
#   SINK_TABLE              the table written (collection.name.format), created if missing [customers]
#   SINK_TASKS              tasks.max: each task takes a share of the partitions [1]
#   SINK_BATCH_SIZE         batch.size, rows a task writes in one go; the worker's consumer fetches
#                           as many records a poll (max.poll.records) [500]
# One worker per CONNECT_PORT; its state lives in <CONNECT_LOCAL_DIR>/worker-<port>/.
#
# `start` keeps its settings in that folder (settings.env) and remembers its port as the last one
# started, so stop, status, resnapshot and reset act on that deployment without the variables
# again: a variable set in the environment still wins, and CONNECT_PORT picks another deployment.
# `start` checks that every CDC_TABLES table exists before anything is created, and stops the
# worker again when the connector does not come up. `reset` drops the replication slot and the
# publication only when this deployment's start created them (they did not exist before it).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)

# Every variable a deployment is started with, kept in its state folder by `start`.
SETTINGS=(CRM_DATABASE_URL CDC_TABLES CDC_TOPIC_PREFIX CDC_SLOT CDC_PUBLICATION CDC_SCHEMAS_ENABLE
  CDC_SNAPSHOT_MODE CONNECT_NAME CONNECT_PORT CONNECT_KAFKA_BROKERS CONNECT_HEAP CONNECT_START_TIMEOUT_S)

# The settings of the deployment a command acts on: CONNECT_PORT's, else the last one started,
# each under a variable already set in the environment.
if [ "${1:-}" != sink ]; then
  settings_dir=${CONNECT_LOCAL_DIR:-$repo/.cache/connect}
  if [ -z "${CONNECT_PORT:-}" ] && [ -f "$settings_dir/last-started-port" ]; then
    CONNECT_PORT=$(cat "$settings_dir/last-started-port")
  fi
  if [ -f "$settings_dir/worker-${CONNECT_PORT:-8083}/settings.env" ]; then
    # shellcheck disable=SC1090 # written by save_settings below: `: "${NAME:=value}"` lines
    . "$settings_dir/worker-${CONNECT_PORT:-8083}/settings.env"
    [ "${1:-}" = start ] || echo "connect: acting on the deployment started on port ${CONNECT_PORT:-8083} (settings in $settings_dir/worker-${CONNECT_PORT:-8083}/settings.env)" >&2
  fi
fi

crm_url=${CRM_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/crm}
tables=${CDC_TABLES:-public.customers}
topic_prefix=${CDC_TOPIC_PREFIX:-crm}
slot=${CDC_SLOT:-caac_sync_crm}
publication=${CDC_PUBLICATION:-caac_sync_crm}
schemas_enable=${CDC_SCHEMAS_ENABLE:-false}
snapshot_mode=${CDC_SNAPSHOT_MODE:-initial}
value_format=${CDC_VALUE_FORMAT:-json}
registry_url=${CDC_SCHEMA_REGISTRY_URL:-http://127.0.0.1:8081/apis/registry/v2}
name=${CONNECT_NAME:-crm-customers}
[ "${1:-}" = sink ] && name=${CONNECT_NAME:-crm-sink}
name_setting=$name
port=${CONNECT_PORT:-8083}
brokers=${CONNECT_KAFKA_BROKERS:-127.0.0.1:9092}
dir=${CONNECT_LOCAL_DIR:-$repo/.cache/connect}
heap=${CONNECT_HEAP:-384m}
start_timeout=${CONNECT_START_TIMEOUT_S:-120}
sink_url=${SINK_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/crm_mirror}
sink_topics=${SINK_TOPICS:-crm.public.customers}
sink_table=${SINK_TABLE:-customers}
sink_tasks=${SINK_TASKS:-1}
sink_batch_size=${SINK_BATCH_SIZE:-500}

pom=$here/connect/pom.xml
kafka_version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")
debezium_version=$(sed -n 's:.*<debezium.version>\(.*\)</debezium.version>.*:\1:p' "$pom")
worker_libs=$dir/worker-libs-$kafka_version
plugin_path=$dir/plugins-debezium-$debezium_version
plugin_libs=$plugin_path/debezium-connector-postgres
jdbc_version=$(sed -n 's:.*<debezium.jdbc.version>\(.*\)</debezium.jdbc.version>.*:\1:p' "$pom")
sink_plugin_path=$dir/plugins-debezium-jdbc-$jdbc_version
apicurio_converter_version=$(sed -n 's:.*<apicurio.converter.version>\(.*\)</apicurio.converter.version>.*:\1:p' "$pom")
avro_converter_libs=$dir/avro-converter-libs-$apicurio_converter_version
state=$dir/worker-$port
pidfile=$state/connect.pid
logfile=$state/connect.log
rest=http://127.0.0.1:$port

# Postgres calls never hang on a dead server; REST calls never hang on a stuck worker.
export PGCONNECT_TIMEOUT=5
PG_STATEMENT_TIMEOUT_MS=10000
CURL_MAX_TIME_S=10
STOP_TIMEOUT_S=30

say() { echo "connect: $*" >&2; }
die() { say "$*"; exit 1; }

case "$schemas_enable" in true | false) ;; *) die "CDC_SCHEMAS_ENABLE must be true or false, got '$schemas_enable'" ;; esac
case "$value_format" in json | avro) ;; *) die "CDC_VALUE_FORMAT must be json or avro, got '$value_format'" ;; esac
case "$port" in '' | *[!0-9]*) die "CONNECT_PORT must be a port number, got '$port'" ;; esac
for value in "$slot" "$publication"; do
  # Slot names allow only these characters; the same rule keeps the publication name safe in SQL.
  [[ "$value" =~ ^[a-z0-9_]{1,63}$ ]] || die "CDC_SLOT and CDC_PUBLICATION must be 1-63 of a-z, 0-9, _ (got '$value')"
done

# host, port, user, password and database of CRM_DATABASE_URL, one a line.
mapfile -t crm < <(node -e '
  const u = new URL(process.argv[1]);
  for (const v of [u.hostname, u.port || "5432", decodeURIComponent(u.username || "postgres"),
    decodeURIComponent(u.password), decodeURIComponent(u.pathname.slice(1)) || "postgres"]) console.log(v);
' "$crm_url" 2>/dev/null)
[ "${#crm[@]}" -eq 5 ] || die "CRM_DATABASE_URL is not a postgres:// URL: $crm_url"
crm_host=${crm[0]} crm_port=${crm[1]} crm_user=${crm[2]} crm_password=${crm[3]} crm_db=${crm[4]}

# psql against the CRM database, or against another one of the same server with $1=--db <name>.
# SQL with :'variables' goes on stdin (psql does not interpolate them in -c).
psql_crm() {
  local db=$crm_db
  if [ "${1:-}" = --db ]; then db=$2; shift 2; fi
  PGPASSWORD=$crm_password PGOPTIONS="-c statement_timeout=$PG_STATEMENT_TIMEOUT_MS" \
    psql -X -q -At -v ON_ERROR_STOP=1 -h "$crm_host" -p "$crm_port" -U "$crm_user" -d "$db" "$@"
}

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

connector_status() { node "$here/connect/connector-status.js" "$rest" "$name" "$@"; }

# Waits until the connector is in state $1, the worker dies, or $2 seconds pass.
wait_for_state() {
  local expected=$1 timeout=$2 line code deadline=$((SECONDS + $2))
  while :; do
    code=0; line=$(connector_status "$expected") || code=$?
    [ $code -eq 0 ] && { say "$line"; return 0; }
    if [ $code -eq 2 ]; then say "the connector failed:"; echo "$line" >&2; return 1; fi
    if ! running_pid >/dev/null; then
      say "the worker exited; last lines of $logfile:"; tail -25 "$logfile" >&2; return 1
    fi
    if [ $SECONDS -ge $deadline ]; then say "not $expected within ${timeout}s ($line); see $logfile"; return 1; fi
    sleep 1
  done
}

rest_call() {
  local method=$1 path=$2 body
  body=$(curl -sS --max-time "$CURL_MAX_TIME_S" -X "$method" -w '\n%{http_code}' "$rest$path") \
    || die "$method $path: the worker does not answer on $rest"
  local code=${body##*$'\n'}
  case "$code" in 2??) ;; *) die "$method $path answered $code: ${body%$'\n'*}" ;; esac
}

check_postgres() {
  command -v psql >/dev/null || die "psql is needed to check the CRM database"
  local wal_level
  wal_level=$(psql_crm --db postgres -c 'SHOW wal_level') \
    || die "cannot reach Postgres at $crm_host:$crm_port as $crm_user (CRM_DATABASE_URL)"
  if [ "$wal_level" != logical ]; then
    say "Postgres at $crm_host:$crm_port has wal_level=$wal_level; Debezium needs logical decoding. Run"
    say "  psql -h $crm_host -p $crm_port -U $crm_user -c 'ALTER SYSTEM SET wal_level = logical'"
    say "then restart the Postgres cluster (e.g. pg_ctlcluster <version> main restart, or restart the"
    say "service); wal_level only changes at server start."
    exit 1
  fi
  local exists
  exists=$(psql_crm --db postgres -v db="$crm_db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'")
  [ "$exists" = 1 ] || die "database $crm_db does not exist; create and fill it with the generator (it reads CRM_DATABASE_URL too): npx ts-node --transpile-only scripts/crm-generator.ts seed 1000"
  check_tables
}

# Every CDC_TABLES entry names a table of the CRM database; a typo would otherwise end in a
# Debezium stack trace, with a slot and a publication already made.
check_tables() {
  local table missing=() known listed=()
  IFS=, read -ra listed <<<"$tables"
  for table in "${listed[@]}"; do
    table=${table// /}
    [[ "$table" =~ ^[A-Za-z_][A-Za-z0-9_]*\.[A-Za-z_][A-Za-z0-9_]*$ ]] || die "CDC_TABLES: '$table' is not <schema>.<table>"
    [ "$(psql_crm -v t="$table" <<<"SELECT to_regclass(:'t') IS NOT NULL")" = t ] || missing+=("$table")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  known=$(psql_crm <<<"SELECT string_agg(schemaname || '.' || tablename, ', ' ORDER BY 1) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')")
  die "CDC_TABLES: ${missing[*]} not found in database $crm_db (its tables: ${known:-none}); nothing was created"
}

# Keeps this start's settings for the commands that follow (see the top), and which of the slot
# and the publication it is about to create, so that reset drops those only.
save_settings() {
  local setting value
  (umask 077
    for setting in "${SETTINGS[@]}"; do
      case "$setting" in
        CRM_DATABASE_URL) value=$crm_url ;; CDC_TABLES) value=$tables ;; CDC_TOPIC_PREFIX) value=$topic_prefix ;;
        CDC_SLOT) value=$slot ;; CDC_PUBLICATION) value=$publication ;; CDC_SCHEMAS_ENABLE) value=$schemas_enable ;;
        CDC_SNAPSHOT_MODE) value=$snapshot_mode ;; CONNECT_NAME) value=$name_setting ;; CONNECT_PORT) value=$port ;;
        CONNECT_KAFKA_BROKERS) value=$brokers ;; CONNECT_HEAP) value=$heap ;; CONNECT_START_TIMEOUT_S) value=$start_timeout ;;
      esac
      printf ': "${%s:=%s}"\n' "$setting" "$(printf '%s' "$value" | sed 's/["$`\\]/\\&/g')"
    done >"$state/settings.env") # it holds the database password
  echo "$port" >"$dir/last-started-port"
  if [ ! -f "$state/slot.created-here" ] && [ -z "$(psql_crm --db postgres -v slot="$slot" <<<"SELECT 1 FROM pg_replication_slots WHERE slot_name = :'slot'")" ]; then
    touch "$state/slot.created-here"
  fi
  if [ ! -f "$state/publication.created-here" ] && [ -z "$(psql_crm -v p="$publication" <<<"SELECT 1 FROM pg_publication WHERE pubname = :'p'")" ]; then
    touch "$state/publication.created-here"
  fi
}

check_broker() {
  node "$repo/docker/kafka/admin-ping.js" "${brokers%%,*}" >/dev/null 2>&1 \
    || die "no Kafka broker answers at $brokers; start one with: bash docker/kafka.sh start"
}

# copy-dependencies of one profile of the pom into a folder, marked complete only when it worked.
fetch_profile() {
  local profile=$1 into=$2
  [ -f "$into/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Kafka Connect and Debezium"
  say "fetching the $profile jars from Maven Central into $into (first run only)"
  rm -rf "$into"; mkdir -p "$into"
  mvn -q -B -f "$pom" -P "$profile" dependency:copy-dependencies \
    -DoutputDirectory="$into" -DincludeScope=runtime >"$dir/mvn-$profile.log" 2>&1 \
    || { say "Maven failed; see $dir/mvn-$profile.log"; tail -20 "$dir/mvn-$profile.log" >&2; exit 1; }
  touch "$into/.complete"
}

fetch_jars() {
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka Connect"
  fetch_profile worker "$worker_libs"
  fetch_profile debezium "$plugin_libs"
  [ "$value_format" = avro ] && fetch_profile avro-converter "$avro_converter_libs"
  return 0
}

# The JDBC sink's plugin tarball, unpacked into a plugin folder of its own (it brings its drivers).
fetch_sink_jars() {
  command -v java >/dev/null || die "Java 17+ is needed to run Kafka Connect"
  fetch_profile worker "$worker_libs"
  [ -f "$sink_plugin_path/.complete" ] && return 0
  local tarball=$dir/jdbc-sink-$jdbc_version
  fetch_profile jdbc-sink "$tarball"
  rm -rf "$sink_plugin_path"; mkdir -p "$sink_plugin_path"
  tar -xzf "$tarball"/debezium-connector-jdbc-*-plugin.tar.gz -C "$sink_plugin_path" \
    || die "cannot unpack the JDBC sink's plugin tarball from $tarball"
  touch "$sink_plugin_path/.complete"
}

write_worker_config() {
  cat <<PROPS
bootstrap.servers=$brokers
listeners=http://127.0.0.1:$port
rest.advertised.host.name=127.0.0.1
rest.advertised.port=$port
key.converter=org.apache.kafka.connect.json.JsonConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
offset.storage.file.filename=$state/offsets.dat
# Offsets reach the file within a second, so a stop or a crash replays little.
offset.flush.interval.ms=1000
plugin.path=$plugin_path
# Every plugin here ships ServiceLoader manifests; reading them is much faster than scanning jars.
plugin.discovery=service_load
PROPS
}

# The value converter: JSON, or Apicurio's Avro converter writing Confluent's wire format (magic
# byte, 4-byte content id, Avro binary) and registering the schema under <topic>-value.
value_converter_config() {
  if [ "$value_format" = json ]; then
    printf '%s\n' "value.converter=org.apache.kafka.connect.json.JsonConverter" "value.converter.schemas.enable=$schemas_enable"
    return
  fi
  printf '%s\n' \
    "value.converter=io.apicurio.registry.utils.converter.AvroConverter" \
    "value.converter.apicurio.registry.url=$registry_url" \
    "value.converter.apicurio.registry.auto-register=true" \
    "value.converter.apicurio.registry.find-latest=true" \
    "value.converter.apicurio.registry.as-confluent=true" \
    "value.converter.apicurio.registry.use-id=contentId" \
    "value.converter.apicurio.registry.headers.enabled=false"
}

write_connector_config() {
  cat <<PROPS
name=$name
connector.class=io.debezium.connector.postgresql.PostgresConnector
tasks.max=1
plugin.name=pgoutput
database.hostname=$crm_host
database.port=$crm_port
database.user=$crm_user
database.password=$crm_password
database.dbname=$crm_db
topic.prefix=$topic_prefix
table.include.list=$tables
slot.name=$slot
publication.name=$publication
publication.autocreate.mode=filtered
snapshot.mode=$snapshot_mode
# Numbers as JSON numbers or strings, never the bytes of the default "precise" mode.
decimal.handling.mode=string
# Deletes are followed by a tombstone (null value) so that compacted topics forget the row.
tombstones.on.delete=true
key.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=$schemas_enable
$(value_converter_config)
# One partition per table keeps every row's changes in order.
topic.creation.default.partitions=1
topic.creation.default.replication.factor=1
PROPS
}

# The sink connector's settings, from SINK_*: JSON with the schema wrapper in, one upsert a record out.
write_sink_config() {
  mapfile -t db < <(node -e '
    const u = new URL(process.argv[1]);
    for (const v of [`jdbc:postgresql://${u.hostname}:${u.port || "5432"}${u.pathname.length > 1 ? u.pathname : "/postgres"}`,
      decodeURIComponent(u.username || "postgres"), decodeURIComponent(u.password)]) console.log(v);
  ' "$sink_url" 2>/dev/null)
  [ "${#db[@]}" -eq 3 ] || die "SINK_DATABASE_URL is not a postgres:// URL: $sink_url"
  cat <<PROPS
name=$name
connector.class=io.debezium.connector.jdbc.JdbcSinkConnector
tasks.max=$sink_tasks
topics=$sink_topics
connection.url=${db[0]}
connection.username=${db[1]}
connection.password=${db[2]}
# Upserts keyed by the record key; "d" events delete the row (that needs record_key), tombstones pass.
insert.mode=upsert
delete.enabled=true
primary.key.mode=record_key
schema.evolution=basic
collection.name.format=$sink_table
batch.size=$sink_batch_size
# A put holds at most one poll's records: poll as many as a batch may hold.
consumer.override.max.poll.records=$sink_batch_size
key.converter=org.apache.kafka.connect.json.JsonConverter
key.converter.schemas.enable=true
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=true
PROPS
}

class_path="$worker_libs/*"
# TRICKY: with plugin.discovery=service_load a plugin folder needs ServiceLoader manifests, which the
# Apicurio converter's jar lacks; on the worker's class path it is found by class name instead.
[ "$value_format" = avro ] && class_path="$class_path:$avro_converter_libs/*"
java_args=(-Xms64m "-Xmx$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20
  "-Dlog4j2.configurationFile=$here/connect/log4j2.xml" -cp "$class_path")

# True (once its connector is RUNNING) when a worker runs here with the connector settings `$1`;
# a worker with other settings is stopped, and a port something else answers on is refused.
already_running() {
  local wanted=$1
  if pid=$(running_pid); then
    if [ "$wanted" = "$(cat "$state/connector.properties" 2>/dev/null)" ]; then
      say "already running (pid $pid) on $rest"
      wait_for_state RUNNING "$start_timeout"
      return 0
    fi
    say "the connector's settings changed; restarting the worker"
    stop
  fi
  if curl -s --max-time 2 -o /dev/null "$rest/"; then
    die "something else answers on $rest; choose another CONNECT_PORT"
  fi
  return 1
}

# Starts the worker on the configs in $state and waits, bounded, until its connector is RUNNING.
launch_worker() {
  local begun=$SECONDS
  nohup java "${java_args[@]}" org.apache.kafka.connect.cli.ConnectStandalone \
    "$state/worker.properties" "$state/connector.properties" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  if ! wait_for_state RUNNING "$start_timeout"; then
    # A worker whose connector never came up would hold the port and, maybe, a slot: stop it.
    say "stopping the worker: the connector did not start"
    stop
    exit 1
  fi
  say "ready in $((SECONDS - begun))s"
}

start() {
  mkdir -p "$state"
  local wanted; wanted=$(write_connector_config)
  already_running "$wanted" && return 0
  check_postgres
  check_broker
  fetch_jars
  save_settings
  write_worker_config >"$state/worker.properties"
  (umask 077; echo "$wanted" >"$state/connector.properties") # it holds the database password
  say "starting Kafka Connect $kafka_version with Debezium $debezium_version on $rest (log: $logfile)"
  say "capturing $tables of $crm_db into $topic_prefix.<schema>.<table> (slot $slot, schemas $schemas_enable, snapshot $snapshot_mode)"
  launch_worker
}

stop() {
  local pid
  if ! pid=$(running_pid); then say "not running on $rest"; rm -f "$pidfile"; return 0; fi
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + STOP_TIMEOUT_S))
  while kill -0 "$pid" 2>/dev/null; do
    if [ $SECONDS -ge $deadline ]; then
      say "still running after ${STOP_TIMEOUT_S}s; killing pid $pid"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.5
  done
  rm -f "$pidfile"
  say "stopped"
}

status() {
  local line code=0
  if ! running_pid >/dev/null; then say "not running on $rest"; return 1; fi
  line=$(connector_status RUNNING) || code=$?
  echo "$line" >&2
  return $code
}

# Drops the slot once no connection uses it (a stopping task lets go within seconds).
drop_slot() {
  local deadline=$((SECONDS + 30)) outcome
  while :; do
    outcome=$(psql_crm --db postgres -v slot="$slot" <<<"
      SELECT CASE WHEN active THEN 'busy' ELSE 'dropped' END, CASE WHEN NOT active THEN pg_drop_replication_slot(slot_name) END
      FROM pg_replication_slots WHERE slot_name = :'slot'" | cut -d'|' -f1)
    case "$outcome" in
      '') return 0 ;;
      dropped) say "replication slot $slot dropped"; return 0 ;;
    esac
    [ $SECONDS -ge $deadline ] && die "replication slot $slot is still in use after 30s; not dropped"
    sleep 1
  done
}

resnapshot() {
  running_pid >/dev/null || die "not running on $rest; start it first"
  case "$snapshot_mode" in
    initial | always | when_needed | initial_only) ;;
    *) say "warning: snapshot.mode $snapshot_mode may not snapshot a connector without offsets" ;;
  esac
  local begun=$SECONDS
  rest_call PUT "/connectors/$name/stop"
  wait_for_state STOPPED 30 || exit 1
  rest_call DELETE "/connectors/$name/offsets"
  drop_slot
  rest_call PUT "/connectors/$name/resume"
  wait_for_state RUNNING "$start_timeout" || exit 1
  say "resumed without offsets in $((SECONDS - begun))s: a fresh snapshot is under way"
}

reset() {
  stop
  # Only what this deployment's start created: on a shared Postgres, a slot or publication of the
  # same name that was there before may be another deployment's.
  if [ -f "$state/slot.created-here" ]; then drop_slot; else say "replication slot $slot was not created by this deployment's start; left alone"; fi
  if [ -f "$state/publication.created-here" ]; then
    local exists
    exists=$(psql_crm --db postgres -v db="$crm_db" <<<"SELECT 1 FROM pg_database WHERE datname = :'db'") || exists=
    if [ "$exists" = 1 ]; then
      psql_crm -c "DROP PUBLICATION IF EXISTS $publication" && say "publication $publication dropped"
    fi
  else
    say "publication $publication was not created by this deployment's start; left alone"
  fi
  rm -rf "$state"
  if [ "$(cat "$dir/last-started-port" 2>/dev/null)" = "$port" ]; then rm -f "$dir/last-started-port"; fi
  say "state removed ($state)"
}

sink_start() {
  mkdir -p "$state"
  plugin_path=$sink_plugin_path # what the worker's plugin.path names
  local wanted; wanted=$(write_sink_config)
  already_running "$wanted" && return 0
  check_broker
  fetch_sink_jars
  write_worker_config >"$state/worker.properties"
  (umask 077; echo "$wanted" >"$state/connector.properties") # it holds the database password
  say "starting Kafka Connect $kafka_version with the Debezium JDBC sink $jdbc_version on $rest (log: $logfile)"
  say "upserting $sink_topics into table $sink_table ($sink_tasks task(s), batches of $sink_batch_size)"
  launch_worker
}

sink() {
  case "${1:-}" in
    start) sink_start ;;
    stop) stop ;;
    status) status ;;
    reset) stop; rm -rf "$state"; say "state removed ($state)" ;;
    *) echo "usage: $0 sink start|stop|status|reset" >&2; exit 2 ;;
  esac
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  resnapshot) resnapshot ;;
  reset) reset ;;
  sink) sink "${2:-}" ;;
  *) echo "usage: $0 start|stop|status|resnapshot|reset|sink <command>" >&2; exit 2 ;;
esac
