#!/usr/bin/env bash
# The marketplace page in a real browser (see bench/marketplace-ui.mjs): 10,000 published datalabs
# generated into a fresh SQLite database (bench/marketplace.rs's generator), `labforge serve` with
# the built web UI, then Debian's Chromium loads /marketplace and types searches. Prints page-ready
# and keystroke-to-results figures beside their floors measured in the same run (the application
# shell alone, the search request alone). Targets (issue 12): page ready under 1 s, keystroke to
# updated results p95 under 150 ms.
#
# Usage: bench/marketplace-ui.sh [datalabs, default 10000] [page loads, default 10]
# Needs: cargo, Node 20 (scripts/lib.sh ensure_node), /usr/bin/chromium. Only 127.0.0.1 is contacted.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"

COUNT=${1:-10000}
LOADS=${2:-10}
WORK=$(mktemp -d /var/tmp/labforge-marketplace-ui-bench.XXXXXX)
SERVER=
cleanup() {
  [[ -n $SERVER ]] && { kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true; }
  rm -rf "$WORK"
}
trap cleanup EXIT

cargo build --quiet --release --bin labforge --example marketplace_bench
LABFORGE="$LABFORGE_ROOT/target/release/labforge"
BENCH="$LABFORGE_ROOT/target/release/examples/marketplace_bench"
build_web

say "generating $COUNT datalabs into SQLite"
"$BENCH" generate --database-url "sqlite://$WORK/labforge.db" --count "$COUNT"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
: >"$WORK/registry-grants.toml"
LABFORGE_DATABASE_URL="sqlite://$WORK/labforge.db" LABFORGE_LISTEN=127.0.0.1:$port LABFORGE_DATA_DIR=$WORK \
  LABFORGE_UI_DIR="$LABFORGE_ROOT/web/build" "$LABFORGE" serve >"$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 100); do
  curl -fsS -o /dev/null "http://127.0.0.1:$port/api/marketplace?per_page=1" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/serve.log" >&2; exit 1; }
  sleep 0.2
done
sleep 2 # at rest
say "measuring in Chromium (labforge serve on 127.0.0.1:$port)"
node bench/marketplace-ui.mjs "http://127.0.0.1:$port" "$LOADS"
