#!/usr/bin/env bash
# SBOM benchmark (see bench/sbom.rs): builds the reference lab into labforge's registry (or takes
# IMAGE), then prints the SBOM time beside the time to read the same layers without parsing them.
# Usage: bench/sbom.sh [registry/repository:tag]
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT
prepare_benchmark --example sbom_bench
./target/release/examples/sbom_bench ${1:+--image "$1"}
