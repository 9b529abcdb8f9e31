#!/usr/bin/env bash
# start-pg.sh - starts the PostgreSQL server the tests use, once, and prints
# its connection URL on stdout (everything else goes to stderr).
# `start-pg.sh stop` stops it (fast shutdown: sessions are cut), which the
# multi-node e2e test does to a private server of its own.
#
# Idempotent: a server already answering on the port is reused; the role and
# database are created when missing. The server runs from Debian's
# `postgresql` package binaries on its own port and data directory (never the
# system cluster), as the `postgres` user when started by root.
#
#   SKW_PG_DATA   data directory          (default /tmp/skw-pg)
#   SKW_PG_PORT   TCP port on 127.0.0.1   (default 55432)
#   SKW_PG_SOCK   Unix socket directory   (default /tmp)
#   SKW_PG_FSYNC  on: a durable server    (default off)
#
# fsync is off by default: the tests kill skwebhooks nodes and stop the server
# cleanly, never the machine, so durability of the test cluster itself is not
# needed. The benchmark (bench/run.sh) starts a server of its own with
# SKW_PG_FSYNC=on, so that PostgreSQL is compared with durable SQLite.
# The setting applies when this script starts the server, not to one that
# is already running.
# Exits non-zero (and says why) when the server cannot be started.
set -euo pipefail

DATA=${SKW_PG_DATA:-/tmp/skw-pg}
PORT=${SKW_PG_PORT:-55432}
SOCK=${SKW_PG_SOCK:-/tmp}
FSYNC=${SKW_PG_FSYNC:-off}
case $FSYNC in on|off) ;; *) echo "start-pg.sh: SKW_PG_FSYNC must be on or off" >&2; exit 1;; esac
ROLE=skw
PASSWORD=skw-test-pw
DB=skw_test

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/pg_ctl" ]; then
	echo "start-pg.sh: PostgreSQL server binaries not found (apt-get install postgresql)" >&2
	exit 1
fi

# root cannot run the server: use the postgres user; anyone else runs it as themselves
if [ "$(id -u)" = 0 ]; then
	SUPER=postgres
	as_owner() { runuser -u postgres -- "$@"; }
else
	SUPER=$(id -un)
	as_owner() { "$@"; }
fi

if [ "${1:-}" = stop ]; then
	as_owner "$BIN/pg_ctl" -D "$DATA" -w -t 60 -m fast stop >&2
	exit
fi

psql_super() {
	as_owner "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" -p "$PORT" -U "$SUPER" -d postgres "$@"
}

if ! "$BIN/pg_isready" -q -h "$SOCK" -p "$PORT"; then
	if [ ! -s "$DATA/PG_VERSION" ]; then
		mkdir -p "$DATA"
		[ "$(id -u)" = 0 ] && chown postgres: "$DATA"
		chmod 700 "$DATA"
		as_owner "$BIN/initdb" -D "$DATA" -U "$SUPER" -E UTF8 --no-locale \
			--auth-local=trust --auth-host=scram-sha-256 >&2
	fi
	as_owner "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w -t 60 start -o \
		"-p $PORT -k $SOCK -c listen_addresses=127.0.0.1 -c max_connections=400 \
		 -c fsync=$FSYNC -c full_page_writes=$FSYNC -c shared_buffers=128MB" >&2 || {
		echo "start-pg.sh: the server did not start; its log:" >&2
		tail -n 30 "$DATA/server.log" >&2 || true
		exit 1
	}
fi

psql_super <<SQL >&2
SELECT format('CREATE ROLE %I LOGIN CREATEDB PASSWORD %L', '$ROLE', '$PASSWORD')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$ROLE') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$DB', '$ROLE')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$DB') \gexec
SQL

echo "postgres://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"
