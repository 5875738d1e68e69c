#!/usr/bin/env bash
# Launch-to-ready benchmark (see bench/launch.rs): a JupyterLab and a desktop datalab launched
# through labforge, one after another, side by side with the floor measured in the same run (the
# same container run directly on the same dockerd, its health endpoint polled directly); teardown;
# then 8 launches at once.
#  1. starts dockerd and `labforge serve` (release build) on a free loopback port with its own data
#     folder (kept in /var/tmp/labforge-launch-bench so that reruns reuse the built images) and a
#     configuration whose per-user quotas allow 8 sessions;
#  2. pushes two examples with the command-line client (`labforge push`), which builds them;
#  3. runs the measurements as the first administrator and prints the table.
# Usage: bench/launch.sh [runs, default 10] [launches at once, default 8]
# Builds push to the service's own registry, which needs the base images built into it once; to
# use a registry that has them (the test suite's), name it and its build account's password file:
#   LABFORGE_REGISTRY=127.0.0.1:5005 \
#   LABFORGE_REGISTRY_PASSWORD_FILE=/var/tmp/labforge-test/registry-builder-password bench/launch.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT

RUNS=${1:-10}
AT_ONCE=${2:-8}
DATA=/var/tmp/labforge-launch-bench
mkdir -p "$DATA"
cat >"$DATA/labforge.toml" <<TOML
[launcher]
max_sessions_per_user = $((AT_ONCE + 1))
max_cpu_per_user = 64
max_memory_gib_per_user = 256
TOML
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDRESS=127.0.0.1:$PORT
export LABFORGE_CONFIG=$DATA/labforge.toml LABFORGE_DATA_DIR=$DATA LABFORGE_LISTEN=$ADDRESS \
  LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-$ADDRESS} LABFORGE_REGISTRY_USERNAME=builder
PASSWORD_FILE=${LABFORGE_REGISTRY_PASSWORD_FILE:-$DATA/registry-builder-password}

install_missing
start_dockerd
cargo build --release --quiet --bin labforge --example launch_bench
LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_REGISTRY_PASSWORD
start_labforge serve ./target/release/labforge "$ADDRESS" "$DATA" builder "$PASSWORD_FILE"
# The first start of this data folder prints the administrator's one-time password; keep it.
if [[ ! -s $DATA/admin-password ]]; then
  sed -n 's/.*first administrator "\([^"]*\)" with the one-time password \([A-Za-z0-9]*\).*/\1 \2/p' \
    "$DATA/serve.log" | tail -1 >"$DATA/admin-password"
fi
read -r ADMIN ADMIN_PASSWORD <"$DATA/admin-password" || true
if [[ -z ${ADMIN_PASSWORD:-} ]]; then
  say "no administrator password in $DATA/serve.log; remove $DATA to start afresh"
  exit 1
fi
# Pushed with the command-line client under names of this run (a pushed tag never changes, and
# the registry may hold earlier runs' builds).
export XDG_CONFIG_HOME=$DATA/client
printf '%s\n' "$ADMIN_PASSWORD" | ./target/release/labforge login "http://$ADDRESS" --user "$ADMIN"
RUN=$(date +%s)
say "building examples/jl-photometry-demo and examples/x-ds9 as bench-jl-$RUN and bench-x-$RUN"
./target/release/labforge push examples/jl-photometry-demo --name "bench-jl-$RUN" 2>"$DATA/push.log" ||
  { tail -40 "$DATA/push.log" >&2; exit 1; }
./target/release/labforge push examples/x-ds9 --name "bench-x-$RUN" 2>>"$DATA/push.log" ||
  { tail -40 "$DATA/push.log" >&2; exit 1; }
say "measuring ($RUNS runs of each, then $AT_ONCE at once)"
./target/release/examples/launch_bench --url "http://$ADDRESS" --user "$ADMIN" \
  --password "$ADMIN_PASSWORD" --jupyterlab "bench-jl-$RUN" --desktop "bench-x-$RUN" \
  --runs "$RUNS" --at-once "$AT_ONCE"
