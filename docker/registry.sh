#!/usr/bin/env bash
# A Confluent-compatible Schema Registry on loopback, for development and tests, without Docker:
# Apicurio Registry (in memory) from Maven Central through Maven into a git-ignored cache. Its
# Confluent-compatible API answers under http://127.0.0.1:<port>/apis/ccompat/v7 — the URL to give
# the service as SCHEMA_REGISTRY_URL.
#
#   docker/registry.sh start    fetch the registry on first use, start it, wait until the API answers
#   docker/registry.sh stop     stop the registry started by this script (its schemas go with it)
#   docker/registry.sh status   exit 0 and say so when the Confluent-compatible API answers
#
# Settings: REGISTRY_LOCAL_PORT [8081], REGISTRY_LOCAL_DIR [<repo>/.cache/registry],
# REGISTRY_LOCAL_HEAP [256m], REGISTRY_LOCAL_START_TIMEOUT_S [120],
# REGISTRY_JAVA_HOME [the first Java 21+ JDK found: $JAVA_HOME, then /usr/lib/jvm/*].
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
port=${REGISTRY_LOCAL_PORT:-8081}
dir=${REGISTRY_LOCAL_DIR:-$repo/.cache/registry}
heap=${REGISTRY_LOCAL_HEAP:-256m}
start_timeout=${REGISTRY_LOCAL_START_TIMEOUT_S:-120}
version=$(sed -n 's:.*<apicurio.version>\(.*\)</apicurio.version>.*:\1:p' "$here/registry/pom.xml")
app=$dir/apicurio-registry-$version
pidfile=$dir/registry-$port.pid
logfile=$dir/registry-$port.log
api=http://127.0.0.1:$port/apis/ccompat/v7
# A probe never hangs on a stuck server.
CURL_MAX_TIME_S=5
STOP_TIMEOUT_S=30

say() { echo "registry: $*" >&2; }
die() { say "$*"; exit 1; }

case "$port" in '' | *[!0-9]*) die "REGISTRY_LOCAL_PORT must be a port number, got '$port'" ;; esac

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  # The Confluent-compatible API itself, not a health page: that is what the service calls.
  curl -fsS --max-time "$CURL_MAX_TIME_S" "$api/subjects" >/dev/null 2>&1
}

java_major() { "$1/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }

# Apicurio Registry 3.x needs Java 21+; the broker's Java 17 does not run it.
find_java() {
  local candidate
  for candidate in ${REGISTRY_JAVA_HOME:-} ${JAVA_HOME:-} /usr/lib/jvm/*; do
    [ -x "$candidate/bin/java" ] || continue
    local major; major=$(java_major "$candidate")
    if [ -n "$major" ] && [ "$major" -ge 21 ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

run_jar() { find "$app" -name quarkus-run.jar -not -path '*PaxHeaders*' -print -quit; }

fetch_app() {
  [ -f "$app/.complete" ] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Apicurio Registry"
  say "fetching Apicurio Registry $version from Maven Central into $app (first run only)"
  rm -rf "$app" "$dir/download"; mkdir -p "$app" "$dir/download"
  mvn -q -B -f "$here/registry/pom.xml" dependency:copy \
    -Dartifact="io.apicurio:apicurio-registry-app:$version:tar.gz:all" \
    -DoutputDirectory="$dir/download" >"$dir/mvn.log" 2>&1 \
    || { say "Maven failed; see $dir/mvn.log"; tail -20 "$dir/mvn.log" >&2; exit 1; }
  # TRICKY: the tarball's long names are PAX headers, which Maven's own unpack mangles (truncated
  # jar names, a PaxHeaders folder); the system tar reads them right.
  tar -xzf "$dir"/download/apicurio-registry-app-"$version"-all.tar.gz -C "$app" \
    || die "could not unpack the registry tarball in $dir/download"
  rm -rf "$dir/download"
  [ -f "$(run_jar)" ] || die "no quarkus-run.jar in the unpacked registry ($app)"
  touch "$app/.complete"
}

start() {
  mkdir -p "$dir"
  if pid=$(running_pid); then
    if answers; then say "already running (pid $pid) on $api"; return 0; fi
  elif answers; then
    # Another checkout's registry already serves this port: use it, start none.
    say "a registry already answers on $api; using it"
    return 0
  fi
  local java_home; java_home=$(find_java) || die "Java 21+ is needed to run Apicurio Registry $version (set REGISTRY_JAVA_HOME)"
  fetch_app
  local jar; jar=$(run_jar)
  say "starting Apicurio Registry $version on 127.0.0.1:$port (log: $logfile)"
  # In memory: every start is an empty registry, so tests and local runs never see stale schemas.
  nohup "$java_home/bin/java" -Xms64m -Xmx"$heap" -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dquarkus.log.level=WARN -Dquarkus.log.category.\"io.apicurio\".level=INFO \
    -jar "$jar" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + start_timeout))
  until answers; do
    if ! running_pid >/dev/null; then say "the registry exited during start; last lines of $logfile:"; tail -20 "$logfile" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then say "no answer within ${start_timeout}s; see $logfile"; exit 1; fi
    sleep 1
  done
  say "ready on $api"
}

stop() {
  local pid
  if ! pid=$(running_pid); then say "not running"; rm -f "$pidfile"; return 0; fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 "$STOP_TIMEOUT_S"); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "stopped"
}

status() {
  if answers; then say "running on $api"; return 0; fi
  say "not running on $api"; return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
