#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine: install what is missing, check formatting and
# clippy, start dockerd and labforge's own registry on loopback (the registry the pipeline tests
# push to), PostgreSQL, and etcd with kube-apiserver (built from Go modules once), build the base
# images into the registry, run every test (the web UI's browser journeys in Debian's chromium
# last), and stop what was started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT

export LABFORGE_DATA_DIR=${LABFORGE_TEST_DATA_DIR:-/var/tmp/labforge-test}
# The registry and build account the tests use (tests/common reads the same variables).
export LABFORGE_TEST_REGISTRY=${LABFORGE_TEST_REGISTRY:-127.0.0.1:5005}
export LABFORGE_TEST_REGISTRY_USERNAME=builder
export LABFORGE_REGISTRY=$LABFORGE_TEST_REGISTRY
PASSWORD_FILE=$LABFORGE_DATA_DIR/registry-builder-password

install_missing
say "checking formatting and clippy"
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi
cargo fmt --all -- --check
cargo clippy --quiet --all-targets -- -D warnings
start_dockerd
say "building labforge"
cargo build --quiet --bin labforge
LABFORGE=${CARGO_TARGET_DIR:-$LABFORGE_ROOT/target}/debug/labforge
LABFORGE_TEST_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_TEST_REGISTRY_PASSWORD
start_labforge_registry "$LABFORGE" "$LABFORGE_TEST_REGISTRY" "$LABFORGE_DATA_DIR" \
  "$LABFORGE_TEST_REGISTRY_USERNAME" "$PASSWORD_FILE"
start_postgres 5433 /var/tmp/labforge-test-postgres
export LABFORGE_TEST_POSTGRES_URL=$POSTGRES_URL
# A real API server for the kubernetes datazone tests (tests/api/kubernetes.rs); built from Go
# modules on the first run, then cached.
start_kube_apiserver /var/tmp/labforge-test-kube 2479 6444
export LABFORGE_TEST_KUBECONFIG=$KUBE_KUBECONFIG
start_buildkitd 127.0.0.1:1234 /var/tmp/labforge-test-buildkitd "$LABFORGE_TEST_REGISTRY"
export LABFORGE_TEST_BUILDKITD=tcp://127.0.0.1:1234
# A second engine, for the reproducibility test: the same environment built on each from an empty
# cache must give the same layers.
start_buildkitd 127.0.0.1:1235 /var/tmp/labforge-test-buildkitd-2 "$LABFORGE_TEST_REGISTRY"
export LABFORGE_TEST_BUILDKITD_SECOND=tcp://127.0.0.1:1235
say "building the base images"
LABFORGE_REGISTRY_USERNAME=$LABFORGE_TEST_REGISTRY_USERNAME \
  LABFORGE_REGISTRY_PASSWORD=$LABFORGE_TEST_REGISTRY_PASSWORD "$LABFORGE" base-images
# The official OCI distribution-spec conformance suite (built from its Go module once, then
# cached), all four workflows, against labforge's registry; its report stays in the data folder.
conformance=0
run_conformance "$LABFORGE_TEST_REGISTRY" "$LABFORGE_TEST_REGISTRY_USERNAME" "$PASSWORD_FILE" \
  "$LABFORGE_DATA_DIR/oci-conformance" >"$LABFORGE_DATA_DIR/oci-conformance.log" 2>&1 || conformance=$?
sed -n '/^OCI Conformance Result/,$p' "$LABFORGE_DATA_DIR/oci-conformance.log" | head -8 >&2
say "checking the API against its OpenAPI document"
contract=0
bash scripts/contract.sh "$LABFORGE" || contract=$?
say "running the tests"
cargo test --no-fail-fast --lib --bins --tests -- --test-threads 2
build_web
WEB_TEST_OUTPUT=${LABFORGE_WEB_TEST_OUTPUT:-$LABFORGE_DATA_DIR/web-test-results}
say "checking the web UI's types and running its browser journeys (screenshots: $WEB_TEST_OUTPUT)"
web=0
(
  cd web
  npm run --silent check &&
    LABFORGE_BIN=$LABFORGE LABFORGE_WEB_TEST_OUTPUT=$WEB_TEST_OUTPUT PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
      npx playwright test
) || web=$?
if ((web != 0)); then
  say "the web UI's checks or browser journeys failed; see above and $WEB_TEST_OUTPUT"
fi
if ((conformance != 0)); then
  say "the OCI conformance suite failed; see $LABFORGE_DATA_DIR/oci-conformance.log and its report.html"
  exit "$conformance"
fi
if ((contract != 0)); then
  say "the contract run (schemathesis) failed; its findings are above"
  exit "$contract"
fi
exit "$web"
