#!/usr/bin/env bash
# Build pipeline benchmark (see benches/build.rs): starts what it needs, prints the table.
# Note: it prunes this dockerd's whole BuildKit cache before each cold run.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
prepare_benchmark
cargo bench --bench build
