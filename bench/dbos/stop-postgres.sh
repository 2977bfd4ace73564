#!/usr/bin/env bash
# Stops the throwaway PostgreSQL started by start-postgres.sh and deletes its folder
# ($DBOS_PG_DIR, default $TMPDIR/durablite-dbos-postgres). Set DBOS_PG_KEEP=1 to keep the folder.
set -euo pipefail

DIR="${DBOS_PG_DIR:-${TMPDIR:-/tmp}/durablite-dbos-postgres}"
PG_USER="${DBOS_PG_USER:-dbosbench}"

log() { printf '%s\n' "$*" >&2; }

if [ ! -d "$DIR/data" ]; then
  log "stop-postgres: no server set up in $DIR."
  exit 0
fi

if [ "$(id -u)" -eq 0 ] && id "$PG_USER" >/dev/null 2>&1; then
  as_server_user() { runuser -u "$PG_USER" -- "$@"; }
else
  as_server_user() { "$@"; }
fi

cd "$DIR"
if [ -e "$DIR/data/postmaster.pid" ]; then
  as_server_user pg_ctl --pgdata="$DIR/data" --mode=fast --wait --timeout=60 stop >&2
else
  log "stop-postgres: the server in $DIR is not running."
fi

if [ "${DBOS_PG_KEEP:-}" = "1" ]; then
  log "stop-postgres: kept $DIR"
else
  cd /
  rm -rf "$DIR"
  log "stop-postgres: removed $DIR"
fi
