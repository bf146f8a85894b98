#!/usr/bin/env bash
# Makes sure the machine's own PostgreSQL answers on 127.0.0.1:5432, starting its cluster when it is
# down. (Where Docker runs, docker-compose.yml provides Postgres instead.)
#
#   docker/postgres.sh ensure    start the cluster if needed and wait until it answers (bounded)
#   docker/postgres.sh logical   also make sure wal_level = logical (the CDC chain needs it),
#                                setting it and restarting the cluster when it is not
set -euo pipefail

host=${PGHOST_LOCAL:-127.0.0.1}
port=${PGPORT_LOCAL:-5432}
timeout_s=${POSTGRES_START_TIMEOUT_S:-60}

answers() { pg_isready -h "$host" -p "$port" -q; }

ensure() {
  command -v pg_isready >/dev/null || { echo "postgres: pg_isready not found; install PostgreSQL's client tools" >&2; exit 1; }
  if answers; then echo "postgres: answering on $host:$port" >&2; return 0; fi
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    version=$(ls /etc/postgresql | sort -V | tail -1)
    echo "postgres: starting cluster $version/main" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  local deadline=$((SECONDS + timeout_s))
  until answers; do
    if [ $SECONDS -ge $deadline ]; then echo "postgres: no answer on $host:$port within ${timeout_s}s" >&2; exit 1; fi
    sleep 1
  done
  echo "postgres: answering on $host:$port" >&2
}

logical() {
  ensure
  local level
  level=$(psql -h "$host" -p "$port" -U postgres -Atc 'SHOW wal_level')
  [ "$level" = logical ] && { echo "postgres: wal_level is logical" >&2; return 0; }
  command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ] || {
    echo "postgres: wal_level is $level; set it with ALTER SYSTEM SET wal_level = logical and restart Postgres" >&2
    exit 1
  }
  echo "postgres: setting wal_level = logical (was $level) and restarting the cluster" >&2
  psql -h "$host" -p "$port" -U postgres -qc 'ALTER SYSTEM SET wal_level = logical'
  version=$(ls /etc/postgresql | sort -V | tail -1)
  pg_ctlcluster --skip-systemctl-redirect "$version" main restart
  ensure
}

case "${1:-}" in
  ensure) ensure ;;
  logical) logical ;;
  *) echo "usage: $0 ensure|logical" >&2; exit 2 ;;
esac
