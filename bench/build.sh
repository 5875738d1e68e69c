#!/usr/bin/env bash
# Build pipeline benchmark (see benches/build.rs): starts what it needs, prints the tables: the
# dockerd engine against baselines A and B, then labforge on a standalone buildkitd for each layer
# compression (gzip, zstd, uncompressed) with the image's size and its pull by docker and podman.
# Note: it prunes this dockerd's whole BuildKit cache before each cold run, and the benchmark's
# buildkitd's (state in /var/tmp/labforge-bench-buildkitd) before each standalone run.
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
prepare_benchmark
start_buildkitd 127.0.0.1:1236 /var/tmp/labforge-bench-buildkitd "$LABFORGE_REGISTRY"
LABFORGE_BENCH_BUILDKITD=$BUILDKITD_ADDRESS cargo bench --bench build
