#!/usr/bin/env bash
# Throwaway PostgreSQL cluster on loopback for tests.
#   eval "$(scripts/pg-test-server.sh start)"   -> exports PGTEST_DIR, DATABASE_URL
#   scripts/pg-test-server.sh stop "$PGTEST_DIR"
# Needs Debian's postgresql-15 (server binaries live in /usr/lib/postgresql/15/bin, not on
# PATH). Works as root (runs the server as the 'postgres' user via runuser) or as any
# non-root user (runs as that user). Durability is off: test data is disposable.
set -euo pipefail
cmd=${1:-start}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}
[ -x "$PGBIN/initdb" ] || { echo "initdb not found; run scripts/install-test-deps.sh" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

case "$cmd" in
start)
  PGPORT=${PGPORT:-$(free_port)}
  dir=$(mktemp -d "${TMPDIR:-/tmp}/pgtest.XXXXXX")
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log"
  as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >/dev/null
  "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -qAtc "CREATE DATABASE vdc_test" >/dev/null
  echo "export PGTEST_DIR=$dir"
  echo "export DATABASE_URL=postgres://postgres@127.0.0.1:$PGPORT/vdc_test"
  ;;
stop)
  dir=${2:?usage: $0 stop PGTEST_DIR}
  if [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(head -n1 "$dir/data/postmaster.pid")
    as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || kill "$pid" 2>/dev/null || true
  fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
