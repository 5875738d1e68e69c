#!/usr/bin/env bash
# Rebase benchmark (see bench/rebase.rs): ten datalabs built on the current bases, a patched
# jl_base pushed, then rebuilding the ten onto it from warm caches beside `labforge rebase`'s image
# step, in one run. Usage: bench/rebase.sh [--labs N]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
prepare_benchmark --example rebase_bench
./target/release/examples/rebase_bench "$@"
