#!/usr/bin/env bash
# The main job on a fresh Debian machine: install what is missing, start dockerd and labforge's own
# registry, build the base images and the example datalabs into it, then keep the registry serving
# until Ctrl-C.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$LABFORGE_ROOT"
trap stop_started EXIT

export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5000}
export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/lib/labforge}
# The account the builds push as, which the registry accepts as a builder.
export LABFORGE_REGISTRY_USERNAME=${LABFORGE_REGISTRY_USERNAME:-builder}
PASSWORD_FILE=$LABFORGE_DATA_DIR/registry-builder-password

install_missing
start_dockerd
say "building labforge"
cargo build --release --quiet
LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$PASSWORD_FILE")
export LABFORGE_REGISTRY_PASSWORD
start_labforge_registry ./target/release/labforge "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR" \
  "$LABFORGE_REGISTRY_USERNAME" "$PASSWORD_FILE"
./target/release/labforge run --examples examples
say "images are in labforge's registry on $LABFORGE_REGISTRY: bases public, datalabs private to the"
say "account $LABFORGE_REGISTRY_USERNAME (password in $PASSWORD_FILE), e.g. skopeo list-tags --tls-verify=false"
say "--creds $LABFORGE_REGISTRY_USERNAME:\$(cat $PASSWORD_FILE) docker://$LABFORGE_REGISTRY/datalabs/jl-photometry-demo"
say "Ctrl-C stops what this script started"
wait
