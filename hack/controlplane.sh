#!/usr/bin/env bash
# Local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on 127.0.0.1: build | up | down | path.
# Binaries are built once from the pinned Go module in tests/controlplane/ into a cache outside the clone, keyed by
# a hash of go.mod, go.sum, the Go version and the build flags; they are rebuilt only when one of those changes.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
MODULE="$ROOT/tests/controlplane"
export PATH="/usr/local/go/bin:$PATH"
CACHE_ROOT="${XDG_CACHE_HOME:-$HOME/.cache}/robot-operator/controlplane"
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl)

kube_version() { sed -n 's#^\s*k8s.io/kubernetes \(v[^ ]*\).*#\1#p' "$MODULE/go.mod"; }

build_ldflags() {
  local v major minor
  v="$(kube_version)"; major="${v#v}"; major="${major%%.*}"; minor="${v#v*.}"; minor="${minor%%.*}"
  local flags="-s -w"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  echo "$flags"
}

version_hash() {
  { cat "$MODULE/go.mod" "$MODULE/go.sum"; go version; build_ldflags; echo "CGO_ENABLED=0 -trimpath"; } \
    | sha256sum | cut -c1-16
}

bin_dir() { echo "$CACHE_ROOT/$(kube_version)-$(version_hash)/bin"; }

cmd_build() {
  local dir; dir="$(bin_dir)"
  if [[ -f "$dir/.complete" ]]; then
    echo "controlplane: cached binaries in $dir"
    return 0
  fi
  echo "controlplane: building Kubernetes $(kube_version) and etcd into $dir (first time only; this takes a while)"
  local tmp="$dir.tmp.$$" start=$SECONDS
  rm -rf "$tmp"; mkdir -p "$tmp"
  (
    cd "$MODULE"
    CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "$(build_ldflags)" -o "$tmp/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
      k8s.io/kubernetes/cmd/kubectl go.etcd.io/etcd/server/v3
  )
  # go names the binary of a module path ending in /v3 after the element before it.
  if [[ -x "$tmp/server" ]]; then mv "$tmp/server" "$tmp/etcd"; elif [[ -x "$tmp/v3" ]]; then mv "$tmp/v3" "$tmp/etcd"; fi
  for b in "${BINARIES[@]}"; do [[ -x "$tmp/$b" ]] || { echo "controlplane: build did not produce $b" >&2; exit 1; }; done
  echo "$((SECONDS - start))" > "$tmp/.build-seconds"
  touch "$tmp/.complete"
  rm -rf "$dir"; mv "$tmp" "$dir"
  echo "controlplane: built in $((SECONDS - start)) s"
}

PYTHON="$ROOT/.venv/bin/python"
[[ -x "$PYTHON" ]] || PYTHON=python3

case "${1:-}" in
  build) cmd_build ;;
  bin-dir) bin_dir ;;
  up) cmd_build >&2 && exec "$PYTHON" "$ROOT/tests/kubecluster.py" up "${@:2}" ;;
  down) exec "$PYTHON" "$ROOT/tests/kubecluster.py" down "${@:2}" ;;
  *) echo "usage: hack/controlplane.sh build|up|down|bin-dir" >&2; exit 2 ;;
esac
