#!/usr/bin/env bash
# Stops what up.sh started: moto server and the throwaway PostgreSQL cluster.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
local_dir="$root/.local"
# The data directory up.sh chose, if it recorded one.
[ -f "$local_dir/local.env" ] && eval "$(grep '^PPMT_PG_DIR=' "$local_dir/local.env")"
moto_port="${PPMT_EMULATOR_PORT:-5055}"
pg_port="${PPMT_PG_PORT:-54329}"
pg_dir="${PPMT_PG_DIR:-/tmp/ppmt-amp-pg-$pg_port}"
if [ -f "$local_dir/moto.pid" ]; then
  kill "$(cat "$local_dir/moto.pid")" 2>/dev/null && echo "moto stopped"
  rm -f "$local_dir/moto.pid"
else
  # A moto started from another checkout has its pid file there; find it by its arguments.
  pkill -f "moto.server -H 127.0.0.1 -p $moto_port" 2>/dev/null && echo "moto (started elsewhere) stopped"
fi
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -n "$pg_bin" ] && [ -s "$pg_dir/PG_VERSION" ]; then
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir" -m fast stop >/dev/null 2>&1 && echo "PostgreSQL stopped"
  else
    "$pg_bin/pg_ctl" -D "$pg_dir" -m fast stop >/dev/null 2>&1 && echo "PostgreSQL stopped"
  fi
fi
exit 0
