#!/usr/bin/env bash
# Build the binaries of the real-Kubernetes test tier from the Go module proxy:
#   etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kwok
#
# Versions come from versions.env next to this script (the only place they are
# pinned). Binaries land in
#   ${XDG_CACHE_HOME:-$HOME/.cache}/reconciler/controlplane/<k8s>-<etcd>-<kwok>/bin
# and the script is a no-op when that directory already holds every binary.
# The last line printed on stdout is always the bin directory; all progress
# output goes to stderr, so `BIN=$(tools/controlplane/build.sh | tail -n1)` works.
# `build.sh --check` builds nothing: it prints the bin dir and exits 0 when
# every binary is there, 1 when a build is due.
#
# Tunables (environment):
#   CONTROLPLANE_BUILD_JOBS  value for `go build -p` (default: 1 if less than
#                            ~6 GiB of memory is available, else nproc capped at 2)
#   CONTROLPLANE_BUILD_NICE  niceness of the go processes (default 10)
#   CONTROLPLANE_GOPROXY     module proxy (default https://proxy.golang.org,
#                            deliberately without ",direct")
#   CONTROLPLANE_KEEP_WORK=1 keep the throwaway build modules for debugging
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
source "$here/versions.env"

log() { printf '[controlplane-build] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

: "${K8S_VERSION:?versions.env must set K8S_VERSION}"
: "${ETCD_VERSION:?versions.env must set ETCD_VERSION}"
: "${KWOK_VERSION:?versions.env must set KWOK_VERSION}"
GO_MIN_VERSION=${GO_MIN_VERSION:-1.26}

BINARIES=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl kwok)
K8S_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)

cache_root="${XDG_CACHE_HOME:-$HOME/.cache}/reconciler/controlplane"
key="${K8S_VERSION}-${ETCD_VERSION}-${KWOK_VERSION}"
out="$cache_root/$key"
bin="$out/bin"

have_all() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -x "$bin/$b" ]] || return 1
  done
}

# --check: print the bin dir; exit 0 when it is complete, 1 when a build is due
if [[ "${1:-}" == --check ]]; then
  echo "$bin"
  have_all
  exit
fi

if have_all; then
  log "all binaries present for $key"
  echo "$bin"
  exit 0
fi

# ---------------------------------------------------------------- toolchain
command -v go >/dev/null || die "go is not on PATH (need go >= $GO_MIN_VERSION)"
export GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOPROXY="${CONTROLPLANE_GOPROXY:-https://proxy.golang.org}"
go_version=$(go env GOVERSION)          # e.g. go1.26.8
gv=${go_version#go}
if [[ "$(printf '%s\n%s\n' "$GO_MIN_VERSION" "$gv" | sort -V | head -n1)" != "$GO_MIN_VERSION" ]]; then
  die "$go_version is older than the required go$GO_MIN_VERSION (GOTOOLCHAIN=local forbids auto-download)"
fi

jobs=${CONTROLPLANE_BUILD_JOBS:-}
if [[ -z "$jobs" ]]; then
  cpus=$(nproc 2>/dev/null || echo 1)
  avail_kib=$(awk '/^MemAvailable:/{print $2}' /proc/meminfo 2>/dev/null || echo 0)
  if (( avail_kib < 6 * 1024 * 1024 )); then jobs=1
  elif (( cpus >= 2 )); then jobs=2
  else jobs=1; fi
fi
nice_level=${CONTROLPLANE_BUILD_NICE:-10}
run_go() { nice -n "$nice_level" go "$@"; }

# ---------------------------------------------------------------- locking
mkdir -p "$cache_root"
exec 9>"$cache_root/.$key.lock"
if ! flock -n 9; then
  log "another build of $key is running; waiting for it"
  flock 9
fi
if have_all; then
  log "built concurrently by another process"
  echo "$bin"
  exit 0
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/controlplane-build.XXXXXX")
staging_bin="$out/bin.partial"
cleanup() {
  if [[ "${CONTROLPLANE_KEEP_WORK:-0}" == 1 ]]; then
    log "keeping build modules in $work"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT
rm -rf "$staging_bin"
mkdir -p "$staging_bin"

start=$(date +%s)
log "building $key with $go_version, go build -p $jobs, nice $nice_level, GOPROXY=$GOPROXY"

# ---------------------------------------------------------------- kubernetes
# k8s.io/kubernetes requires every staging module at the fake version v0.0.0
# and resolves them through ./staging replaces that only apply inside its own
# repository. A consumer module must replace each of them with the published
# v0.<minor>.<patch>. The list is derived from the release's own go.mod so it
# stays right when the pin moves.
k8s_mod="$work/k8s"
mkdir -p "$k8s_mod"
cd "$k8s_mod"
go mod init reconciler.invalid/controlplane-k8s-build >/dev/null 2>&1

k8s_gomod=$(run_go mod download -json "k8s.io/kubernetes@$K8S_VERSION" \
  | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')
[[ -f "$k8s_gomod" ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION from $GOPROXY"

staging_version="v0.${K8S_VERSION#v1.}"           # v1.37.2 -> v0.37.2
mapfile -t staging_modules < <(
  awk '
    /^require[[:space:]]*\(/ { inreq = 1; next }
    inreq && /^\)/            { inreq = 0; next }
    inreq                     { if ($1 ~ /^k8s\.io\// && $2 == "v0.0.0") print $1; next }
    /^require[[:space:]]+k8s\.io\// { if ($3 == "v0.0.0") print $2 }
  ' "$k8s_gomod" | sort -u)
(( ${#staging_modules[@]} > 0 )) || die "found no v0.0.0 staging requirements in $k8s_gomod"
log "replacing ${#staging_modules[@]} staging modules with $staging_version"

# Mirror the go and godebug directives of k8s.io/kubernetes, because the main
# module decides the runtime GODEBUG defaults of the binaries.
go_directive=$(awk '$1 == "go" { print $2; exit }' "$k8s_gomod")
edit_args=("-go=$go_directive")
while read -r gd; do
  [[ -n "$gd" ]] && edit_args+=("-godebug=$gd")
done < <(awk '$1 == "godebug" && $2 != "(" { print $2 }' "$k8s_gomod")
for m in "${staging_modules[@]}"; do
  edit_args+=("-replace=$m=$m@$staging_version")
done
go mod edit "${edit_args[@]}"

tool_pkgs=()
for c in "${K8S_CMDS[@]}"; do tool_pkgs+=("k8s.io/kubernetes/cmd/$c@$K8S_VERSION"); done
log "resolving k8s.io/kubernetes@$K8S_VERSION (first run downloads a few hundred modules)"
run_go get -tool "${tool_pkgs[@]}" >&2

resolved=$(go list -m -f '{{.Version}}' k8s.io/kubernetes)
[[ "$resolved" == "$K8S_VERSION" ]] || die "k8s.io/kubernetes resolved to $resolved, expected $K8S_VERSION"

k8s_ver=${K8S_VERSION#v}
k8s_major=${k8s_ver%%.*}
k8s_minor=${k8s_ver#*.}; k8s_minor=${k8s_minor%%.*}
build_date=$(date -u ${SOURCE_DATE_EPOCH:+--date=@$SOURCE_DATE_EPOCH} +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $p.gitVersion=$K8S_VERSION"
  ldflags+=" -X $p.gitMajor=$k8s_major"
  ldflags+=" -X $p.gitMinor=$k8s_minor"
  ldflags+=" -X $p.gitTreeState=clean"
  ldflags+=" -X $p.buildDate=$build_date"
done

k8s_pkgs=()
for c in "${K8S_CMDS[@]}"; do k8s_pkgs+=("k8s.io/kubernetes/cmd/$c"); done
log "compiling ${K8S_CMDS[*]} (one go build, shared compile work)"
t0=$(date +%s)
run_go build -p "$jobs" -trimpath -tags selinux,notest,grpcnotrace \
  -ldflags "$ldflags" -o "$staging_bin/" "${k8s_pkgs[@]}" >&2
log "kubernetes binaries took $(( $(date +%s) - t0 ))s"

# ---------------------------------------------------------------- etcd
# Own module, so etcd gets exactly the dependency versions of its release
# (its go.mod replaces only point at sibling etcd modules of the same tag).
etcd_mod="$work/etcd"
mkdir -p "$etcd_mod"
cd "$etcd_mod"
go mod init reconciler.invalid/controlplane-etcd-build >/dev/null 2>&1
go mod edit -go="$go_directive"
run_go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
log "compiling etcd $ETCD_VERSION"
t0=$(date +%s)
# The main package lives at the module root and is named "server", hence -o.
run_go build -p "$jobs" -trimpath -ldflags "-s -w" -o "$staging_bin/etcd" go.etcd.io/etcd/server/v3 >&2
log "etcd took $(( $(date +%s) - t0 ))s"

# ---------------------------------------------------------------- kwok
# go install pkg@version uses kwok's own go.mod (no replace directives there);
# -mod must not be set for that form.
log "compiling kwok $KWOK_VERSION"
t0=$(date +%s)
cd "$work"
GOFLAGS= GOBIN="$staging_bin" run_go install -p "$jobs" -trimpath -ldflags "-s -w" \
  "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >&2
log "kwok took $(( $(date +%s) - t0 ))s"

# ---------------------------------------------------------------- publish
for b in "${BINARIES[@]}"; do
  [[ -x "$staging_bin/$b" ]] || die "build finished but $b is missing"
done
{
  echo "K8S_VERSION=$K8S_VERSION"
  echo "ETCD_VERSION=$ETCD_VERSION"
  echo "KWOK_VERSION=$KWOK_VERSION"
  echo "GO_VERSION=$go_version"
  echo "BUILD_DATE=$build_date"
  echo "BUILD_SECONDS=$(( $(date +%s) - start ))"
} > "$staging_bin/BUILDINFO"
rm -rf "$bin"
mv "$staging_bin" "$bin"
log "done in $(( $(date +%s) - start ))s"
echo "$bin"
