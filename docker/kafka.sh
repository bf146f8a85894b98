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
#
# Secure Kafka: KAFKA_LOCAL_SASL_PORT adds a SASL_SSL listener on that port, next to the plaintext
# one, with a throw-away CA made by Java's keytool on first start (certificates for 127.0.0.1 and
# localhost). Its files land in <dir>/tls-<port>: ca.pem (for KAFKA_SSL_CA_FILE), the broker's
# keystore, and sasl.env with the user and password that PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512
# accept (KAFKA_LOCAL_SASL_USER [caac-sync], KAFKA_LOCAL_SASL_PASSWORD [random, made once]).
# SCRAM users are written at format time: add the listener to a fresh KAFKA_LOCAL_DIR.
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
sasl_port=${KAFKA_LOCAL_SASL_PORT:-}
tls=$dir/tls-$port

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

make_tls() {
  # A CA and a broker certificate it signs, for this broker only. Nothing here is a real secret:
  # the files live in the broker's own directory and go with it.
  [ -f "$tls/.complete" ] && return 0
  command -v keytool >/dev/null || { say "Java's keytool is needed for the SASL_SSL listener"; exit 1; }
  rm -rf "$tls"; mkdir -p "$tls"
  local storepass; storepass=$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
  local user=${KAFKA_LOCAL_SASL_USER:-caac-sync}
  local password=${KAFKA_LOCAL_SASL_PASSWORD:-$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')}
  local days=3650
  keytool -genkeypair -keystore "$tls/ca.p12" -storetype PKCS12 -storepass "$storepass" -alias ca \
    -dname "CN=caac-sync local test CA" -keyalg RSA -keysize 2048 -validity $days -ext bc:c >/dev/null 2>&1
  keytool -exportcert -keystore "$tls/ca.p12" -storepass "$storepass" -alias ca -rfc -file "$tls/ca.pem" >/dev/null 2>&1
  keytool -genkeypair -keystore "$tls/broker.p12" -storetype PKCS12 -storepass "$storepass" -alias broker \
    -dname "CN=127.0.0.1" -keyalg RSA -keysize 2048 -validity $days >/dev/null 2>&1
  keytool -certreq -keystore "$tls/broker.p12" -storepass "$storepass" -alias broker -file "$tls/broker.csr" >/dev/null 2>&1
  keytool -gencert -keystore "$tls/ca.p12" -storepass "$storepass" -alias ca -infile "$tls/broker.csr" \
    -outfile "$tls/broker.pem" -rfc -validity $days -ext "SAN=ip:127.0.0.1,dns:localhost" -ext ku:c=digitalSignature,keyEncipherment \
    -ext eku=serverAuth >/dev/null 2>&1
  keytool -importcert -keystore "$tls/broker.p12" -storepass "$storepass" -alias ca -file "$tls/ca.pem" -noprompt >/dev/null 2>&1
  keytool -importcert -keystore "$tls/broker.p12" -storepass "$storepass" -alias broker -file "$tls/broker.pem" >/dev/null 2>&1
  rm -f "$tls/broker.csr" "$tls/ca.p12" # the CA's key is not needed again: no other certificate is signed
  printf '%s\n' "$storepass" >"$tls/storepass"
  printf 'KAFKA_SASL_USERNAME=%s\nKAFKA_SASL_PASSWORD=%s\nKAFKA_SSL_CA_FILE=%s\n' "$user" "$password" "$tls/ca.pem" >"$tls/sasl.env"
  chmod 600 "$tls/storepass" "$tls/sasl.env"
  touch "$tls/.complete"
}

sasl_value() { sed -n "s/^$1=//p" "$tls/sasl.env"; }

write_config() {
  mkdir -p "$data"
  local listeners="PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port"
  local advertised="PLAINTEXT://127.0.0.1:$port"
  local protocols="PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
  if [ -n "$sasl_port" ]; then
    listeners="$listeners,SASL_SSL://127.0.0.1:$sasl_port"
    advertised="$advertised,SASL_SSL://127.0.0.1:$sasl_port"
    protocols="$protocols,SASL_SSL:SASL_SSL"
  fi
  cat >"$data/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=$listeners
advertised.listeners=$advertised
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=$protocols
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
  if [ -n "$sasl_port" ]; then
    local user password storepass
    user=$(sasl_value KAFKA_SASL_USERNAME); password=$(sasl_value KAFKA_SASL_PASSWORD); storepass=$(cat "$tls/storepass")
    cat >>"$data/server.properties" <<PROPS
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$user="$password";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PKCS12
listener.name.sasl_ssl.ssl.keystore.location=$tls/broker.p12
listener.name.sasl_ssl.ssl.keystore.password=$storepass
listener.name.sasl_ssl.ssl.key.password=$storepass
listener.name.sasl_ssl.ssl.client.auth=none
PROPS
  fi
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
  [ -z "$sasl_port" ] || make_tls
  write_config
  if [ ! -f "$data/logs/meta.properties" ]; then
    cluster_id=$(java_cmd kafka.tools.StorageTool random-uuid | tail -1)
    local scram=()
    if [ -n "$sasl_port" ]; then
      # KRaft keeps SCRAM credentials in its metadata log; a fresh cluster gets them at format time.
      local user password
      user=$(sasl_value KAFKA_SASL_USERNAME); password=$(sasl_value KAFKA_SASL_PASSWORD)
      scram=(--add-scram "SCRAM-SHA-256=[name=$user,password=$password]" --add-scram "SCRAM-SHA-512=[name=$user,password=$password]")
    fi
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$data/server.properties" "${scram[@]}" >>"$logfile" 2>&1 \
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
  say "ready on 127.0.0.1:$port${sasl_port:+, SASL_SSL on 127.0.0.1:$sasl_port (credentials: $tls/sasl.env)}"
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
  reset) stop; rm -rf "$data" "$tls"; say "data removed" ;;
  *) echo "usage: $0 start|stop|status|reset" >&2; exit 2 ;;
esac
