#!/usr/bin/env bash
# Starts the local stack on 127.0.0.1, installing what is missing:
#   - moto server (AWS emulator: S3, SQS, SNS, DynamoDB) from PyPI;
#   - a throwaway PostgreSQL 15 cluster (the Redshift stand-in) from Debian's packages.
# Idempotent: what already runs is left alone. Writes .local/local.env for make and tests.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
local_dir="$root/.local"
moto_port="${PPMT_EMULATOR_PORT:-5055}"
pg_port="${PPMT_PG_PORT:-54329}"
# Outside the work tree: the postgres user must be able to reach it.
pg_dir="${PPMT_PG_DIR:-/tmp/ppmt-amp-pg-$pg_port}"
mkdir -p "$local_dir"

listening() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() {
  local port=$1 what=$2
  for _ in $(seq 1 100); do
    listening "$port" && return 0
    sleep 0.3
  done
  echo "$what did not start on port $port" >&2
  return 1
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1; fi
}

# --- moto -------------------------------------------------------------------------
# moto goes into the python3 on PATH; where that Python refuses pip installs (PEP 668,
# Debian's own), into a virtualenv under .local/venv.
moto_python=python3
has_moto() { "$1" -c 'import moto.server, flask_cors' >/dev/null 2>&1; }
if ! has_moto python3; then
  if [ -x "$local_dir/venv/bin/python" ] && has_moto "$local_dir/venv/bin/python"; then
    moto_python="$local_dir/venv/bin/python"
  else
    echo "installing moto[server] ..."
    if ! python3 -m pip install --quiet 'moto[server]>=5.1,<6' 2>"$local_dir/pip.log"; then
      echo "pip refused ($(tail -n 1 "$local_dir/pip.log")); using a virtualenv"
      python3 -m venv "$local_dir/venv" 2>/dev/null || {
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
        python3 -m venv "$local_dir/venv"
      }
      "$local_dir/venv/bin/python" -m pip install --quiet 'moto[server]>=5.1,<6'
      moto_python="$local_dir/venv/bin/python"
    fi
  fi
fi
if listening "$moto_port"; then
  echo "moto already listening on $moto_port"
else
  # moto's server with its TransactWriteItems copying each table once per call
  # (infra/local/moto_server.py says why).
  nohup "$moto_python" "$root/infra/local/moto_server.py" -H 127.0.0.1 -p "$moto_port" >"$local_dir/moto.log" 2>&1 &
  echo $! >"$local_dir/moto.pid"
  wait_for "$moto_port" "moto server"
  echo "moto started on $moto_port"
fi

# --- PostgreSQL -------------------------------------------------------------------
pg_bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/initdb" ]; then
  echo "installing PostgreSQL ..."
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  pg_bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)"
fi
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if listening "$pg_port"; then
  echo "PostgreSQL already listening on $pg_port"
else
  if [ ! -s "$pg_dir/PG_VERSION" ]; then
    mkdir -p "$pg_dir"
    [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$pg_dir"
    chmod 700 "$pg_dir"
    as_pg "$pg_bin/initdb" -D "$pg_dir" -A trust -U postgres --lc-collate=C >/dev/null
  fi
  as_pg "$pg_bin/pg_ctl" -D "$pg_dir" -w -l "$pg_dir/server.log" \
    -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
  wait_for "$pg_port" "PostgreSQL"
  echo "PostgreSQL started on $pg_port (data in $pg_dir)"
fi

cat >"$local_dir/local.env" <<ENV
AWS_ENDPOINT_URL=http://127.0.0.1:$moto_port
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=test
AWS_SECRET_ACCESS_KEY=test
PPMT_DATABASE_URL=postgres://postgres@127.0.0.1:$pg_port/postgres
PPMT_PG_DIR=$pg_dir
ENV
echo "local stack ready; environment in .local/local.env"
