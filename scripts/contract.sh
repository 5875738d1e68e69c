#!/usr/bin/env bash
# The OpenAPI document is the contract: schemathesis (PyPI) generates requests from
# /api/openapi.json against a fresh `labforge serve` (SQLite, no build workers) as its first
# administrator, follows the document's links through its stateful phase, and fails on any
# finding: an answer the document does not describe, a schema-valid request refused, a
# schema-violating one accepted, a server error. Run by scripts/test.sh with the binary it built;
# `bash scripts/contract.sh <labforge binary>` alone needs only schemathesis installed.
#   LABFORGE_CONTRACT_EXAMPLES   examples per operation (default 25)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LABFORGE_ROOT"

binary=${1:?usage: contract.sh <labforge binary>}
address=${LABFORGE_CONTRACT_LISTEN:-127.0.0.1:5006}
folder=$(mktemp -d /var/tmp/labforge-contract.XXXXXX)
trap 'stop_started; rm -rf "$folder"' EXIT

mkdir -p "$folder/data"
say "starting labforge serve for the contract run on $address (log: $folder/serve.log)"
LABFORGE_LISTEN=$address LABFORGE_DATA_DIR=$folder/data \
  LABFORGE_BUILD_CONCURRENCY=0 LABFORGE_DATABASE_URL=sqlite://$folder/data/labforge.db \
  "$binary" serve >"$folder/serve.log" 2>&1 &
STARTED_PIDS+=($!)
for _ in $(seq 1 60); do
  curl -fsS -o /dev/null "http://$address/api/openapi.json" 2>/dev/null && break
  sleep 0.5
done
password=$(sed -n 's/.*one-time password \([A-Za-z0-9]*\).*/\1/p' "$folder/serve.log")
if [[ -z $password ]]; then
  say "labforge serve did not start or printed no administrator password; see $folder/serve.log"
  cat "$folder/serve.log" >&2
  exit 1
fi

say "running schemathesis against http://$address/api/openapi.json"
cd tests/contract
LABFORGE_CONTRACT_URL=http://$address LABFORGE_CONTRACT_PASSWORD=$password \
  PYTHONPATH=. SCHEMATHESIS_HOOKS=hooks \
  schemathesis --no-color --config-file schemathesis.toml run "http://$address/api/openapi.json" \
  --max-examples "${LABFORGE_CONTRACT_EXAMPLES:-25}" \
  --workers 2
