#!/usr/bin/env bash
# Marketplace search on SQLite and on PostgreSQL, side by side (see bench/marketplace.rs):
#  1. generates the same 10,000 datalabs (varied metadata, stars) into a fresh SQLite file and a
#     fresh PostgreSQL database;
#  2. for each, starts `labforge serve` as its own process on loopback and measures search latency
#     one request at a time (p50, p99, by kind of search), requests per second with several in
#     flight, and the server's VmRSS at rest before and after.
#
# Usage: bench/marketplace.sh [datalabs, default 10000]
# Needs: cargo, Debian's postgresql (a private cluster on port 5434 is started and stopped unless
# one already answers there). Only 127.0.0.1 is contacted.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"

COUNT=${1:-10000}
WORK=$(mktemp -d /var/tmp/labforge-marketplace-bench.XXXXXX)
SERVER_PIDS=()
cleanup() {
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  stop_started
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --quiet --release --bin labforge --example marketplace_bench
LABFORGE="$LABFORGE_ROOT/target/release/labforge"
BENCH="$LABFORGE_ROOT/target/release/examples/marketplace_bench"

start_postgres 5434 /var/tmp/labforge-bench-postgres
DATABASE=labforge_marketplace_bench
psql --quiet "$POSTGRES_URL" -c "DROP DATABASE IF EXISTS $DATABASE" -c "CREATE DATABASE $DATABASE"
POSTGRES_DATABASE_URL="${POSTGRES_URL%/*}/$DATABASE"
SQLITE_DATABASE_URL="sqlite://$WORK/labforge.db"

say "generating $COUNT datalabs into SQLite and PostgreSQL"
"$BENCH" generate --database-url "$SQLITE_DATABASE_URL" --count "$COUNT"
"$BENCH" generate --database-url "$POSTGRES_DATABASE_URL" --count "$COUNT"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

measure() { # label, database URL
  local label=$1 url=$2 port
  port=$(free_port)
  mkdir -p "$WORK/$label"
  # The registry served alongside needs a grants file; no one pulls here.
  : >"$WORK/$label/registry-grants.toml"
  LABFORGE_DATABASE_URL=$url LABFORGE_LISTEN=127.0.0.1:$port LABFORGE_DATA_DIR=$WORK/$label \
    "$LABFORGE" serve >"$WORK/$label/serve.log" 2>&1 &
  local pid=$!
  SERVER_PIDS+=("$pid")
  local ready=no
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:$port/api/marketplace?per_page=1" >/dev/null 2>&1 && ready=yes && break
    sleep 0.2
  done
  if [[ $ready == no ]]; then
    say "labforge serve did not answer on port $port:"
    cat "$WORK/$label/serve.log" >&2
    exit 1
  fi
  sleep 2 # at rest
  say "measuring $label (server pid $pid, port $port)"
  "$BENCH" load --url "http://127.0.0.1:$port" --server-pid "$pid" --label "$label" \
    --count "$COUNT" --out "$WORK/$label.json"
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

measure SQLite "$SQLITE_DATABASE_URL"
measure PostgreSQL "$POSTGRES_DATABASE_URL"
"$BENCH" report "$WORK/SQLite.json" "$WORK/PostgreSQL.json"
