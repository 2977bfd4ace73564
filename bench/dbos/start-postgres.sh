#!/usr/bin/env bash
# Starts a throwaway local PostgreSQL for the DBOS peer benchmark and prints the DBOS_DATABASE_URL to
# use, as a line `export DBOS_DATABASE_URL=...` on stdout (everything else goes to stderr):
#
#   eval "$(bench/dbos/start-postgres.sh)"
#   npm run bench -- roundtrip checkout          # DBOS_DATABASE_URL set: the DBOS scenarios run too
#   bench/dbos/stop-postgres.sh
#
# The server listens on 127.0.0.1 only, on a free port, with no Unix socket, password authentication
# (a random password, in the URL) and PostgreSQL's default durability settings (fsync on,
# synchronous_commit on, full_page_writes on). Its data lives in $DBOS_PG_DIR
# (default: $TMPDIR/durablite-dbos-postgres, so on the same file system as the SQLite benchmarks'
# temporary databases); stop-postgres.sh stops it and deletes that folder.
#
# Needs the PostgreSQL server binaries (initdb, pg_ctl) on PATH. initdb refuses to run as root: run
# as root, the script creates an unprivileged user ($DBOS_PG_USER, default dbosbench) if missing and
# runs the server as that user; run as anyone else, it runs the server as you.
set -euo pipefail

DIR="${DBOS_PG_DIR:-${TMPDIR:-/tmp}/durablite-dbos-postgres}"
PG_USER="${DBOS_PG_USER:-dbosbench}"
DATABASE_USER="dbosbench"

log() { printf '%s\n' "$*" >&2; }

for binary in initdb pg_ctl; do
  command -v "$binary" >/dev/null || { log "start-postgres: \`$binary\` is not on PATH (install the PostgreSQL server binaries)."; exit 1; }
done
command -v node >/dev/null || { log 'start-postgres: `node` is not on PATH (used to find a free port).'; exit 1; }

if [ -e "$DIR/data/postmaster.pid" ]; then
  log "start-postgres: a server is already set up in $DIR (stop it with bench/dbos/stop-postgres.sh)."
  [ -f "$DIR/url" ] && printf 'export DBOS_DATABASE_URL=%s\n' "$(cat "$DIR/url")"
  exit 1
fi
rm -rf "$DIR"
mkdir -p "$DIR"

# Run the server as an unprivileged user: ourselves, or (as root) $PG_USER, created if missing.
if [ "$(id -u)" -eq 0 ]; then
  if ! id "$PG_USER" >/dev/null 2>&1; then
    log "start-postgres: creating the unprivileged user $PG_USER for the server"
    useradd -m "$PG_USER"
  fi
  chown "$PG_USER": "$DIR"
  as_server_user() { runuser -u "$PG_USER" -- "$@"; }
else
  as_server_user() { "$@"; }
fi

cd "$DIR" # the server user may not be able to read the caller's working directory

# A free port on 127.0.0.1, as the kernel hands it out.
port="$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
password="$(node -e 'console.log(require("crypto").randomBytes(18).toString("hex"))')"

as_server_user bash -c 'umask 077 && cat > "$1/pwfile"' _ "$DIR" <<<"$password"
as_server_user initdb --pgdata="$DIR/data" --username="$DATABASE_USER" --pwfile="$DIR/pwfile" \
  --auth=scram-sha-256 --encoding=UTF8 --locale=C >"$DIR/initdb.log" 2>&1 ||
  { log "start-postgres: initdb failed:"; cat "$DIR/initdb.log" >&2; exit 1; }
rm -f "$DIR/pwfile"

# Only what isolation needs; every durability setting stays at PostgreSQL's default (fsync = on).
as_server_user bash -c 'cat >> "$1/data/postgresql.conf"' _ "$DIR" <<EOF

# durablite bench/dbos/start-postgres.sh
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
EOF
as_server_user bash -c 'cat > "$1/data/pg_hba.conf"' _ "$DIR" <<EOF
# TYPE  DATABASE  USER  ADDRESS        METHOD
host    all       all   127.0.0.1/32   scram-sha-256
EOF

as_server_user pg_ctl --pgdata="$DIR/data" --log="$DIR/server.log" --wait --timeout=60 start >&2 ||
  { log "start-postgres: the server did not start:"; tail -n 30 "$DIR/server.log" >&2; exit 1; }

url="postgresql://$DATABASE_USER:$password@127.0.0.1:$port/postgres"
printf '%s\n' "$url" >"$DIR/url"
chmod 600 "$DIR/url"
log "start-postgres: $(as_server_user pg_ctl --version) listening on 127.0.0.1:$port, data in $DIR/data"
log "start-postgres: stop it with bench/dbos/stop-postgres.sh"
printf 'export DBOS_DATABASE_URL=%s\n' "$url"
