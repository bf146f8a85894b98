#!/usr/bin/env bash
# A real single-node Apache Kafka broker (KRaft) on loopback, for development and tests, without
# Docker: the broker's jars come from Maven Central through Maven into a git-ignored cache.
#
#   docker/kafka.sh start    fetch jars on first use, format storage once, start, wait until ready
#   docker/kafka.sh stop     stop the broker started by this script
#   docker/kafka.sh status   exit 0 and say so when the broker answers an admin call
#   docker/kafka.sh reset    stop and delete the broker's data (topics, offsets)
#
# Settings: KAFKA_LOCAL_PORT [9092], KAFKA_LOCAL_DIR [<repo>/.cache/kafka],
# KAFKA_LOCAL_HEAP [512m], KAFKA_LOCAL_START_TIMEOUT_S [90].
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
port=${KAFKA_LOCAL_PORT:-9092}
controller_port=$((port + 1))
dir=${KAFKA_LOCAL_DIR:-$repo/.cache/kafka}
heap=${KAFKA_LOCAL_HEAP:-512m}
start_timeout=${KAFKA_LOCAL_START_TIMEOUT_S:-90}
version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$here/kafka/pom.xml")
libs=$dir/libs-$version
data=$dir/data-$port
pidfile=$dir/kafka-$port.pid
logfile=$dir/kafka-$port.log

say() { echo "kafka: $*" >&2; }

running_pid() {
  [ -f "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  kill -0 "$pid" 2>/dev/null || return 1
  echo "$pid"
}

answers() {
  # An admin call through the service's own client proves both that the broker is up and that
  # kafkajs speaks its protocol versions.
  node "$here/kafka/admin-ping.js" "127.0.0.1:$port" >/dev/null 2>&1
}

fetch_jars() {
  [ -f "$libs/.complete" ] && return 0
  command -v mvn >/dev/null || { say "Maven (mvn) is needed to fetch the broker's jars"; exit 1; }
  command -v java >/dev/null || { say "Java 17+ is needed to run the broker"; exit 1; }
  say "fetching Kafka $version jars from Maven Central into $libs (first run only)"
  rm -rf "$libs"; mkdir -p "$libs"
  mvn -q -B -f "$here/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$libs" -DincludeScope=runtime >"$dir/mvn.log" 2>&1 \
    || { say "Maven failed; see $dir/mvn.log"; tail -20 "$dir/mvn.log" >&2; exit 1; }
  touch "$libs/.complete"
}

write_config() {
  mkdir -p "$data"
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$data/logs
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
PROPS
}

java_cmd() {
  java -Xms128m -Xmx"$heap" -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -Dlog4j2.configurationFile="$here/kafka/log4j2.xml" -cp "$libs/*" "$@"
}

start() {
  mkdir -p "$dir"
  if pid=$(running_pid); then
    if answers; then say "already running (pid $pid) on 127.0.0.1:$port"; return 0; fi
  elif answers; then
    # Another checkout's broker (or any Kafka) already serves this port: use it, start none.
    say "a broker already answers on 127.0.0.1:$port; using it"
    return 0
  fi
  fetch_jars
  write_config
  if [ ! -f "$data/logs/meta.properties" ]; then
    cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid | tail -1)
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" >>"$logfile" 2>&1 \
      || { say "formatting storage failed; see $logfile"; exit 1; }
  fi
  say "starting Kafka $version on 127.0.0.1:$port (log: $logfile)"
  nohup bash -c "$(declare -f java_cmd); heap=$heap here=$here libs='$libs'; java_cmd kafka.Kafka '$data/server.properties'" \
    >>"$logfile" 2>&1 </dev/null &
  echo $! >"$pidfile"
  local deadline=$((SECONDS + start_timeout))
  until answers; do
    if ! running_pid >/dev/null; then say "the broker exited during start; last lines of $logfile:"; tail -20 "$logfile" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then say "no answer within ${start_timeout}s; see $logfile"; exit 1; fi
    sleep 1
  done
  say "ready on 127.0.0.1:$port"
}

stop() {
  local pid
  if ! pid=$(running_pid); then say "not running"; rm -f "$pidfile"; return 0; fi
  kill "$pid" 2>/dev/null || true
  pkill -TERM -f "kafka.Kafka $data/server.properties" 2>/dev/null || true
  for _ in $(seq 1 30); do
    pgrep -f "kafka.Kafka $data/server.properties" >/dev/null || break
    sleep 1
  done
  pkill -KILL -f "kafka.Kafka $data/server.properties" 2>/dev/null || true
  rm -f "$pidfile"
  say "stopped"
}

status() {
  if answers; then say "running on 127.0.0.1:$port"; return 0; fi
  say "not running on 127.0.0.1:$port"; return 1
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  reset) stop; rm -rf "$data"; say "data removed" ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
