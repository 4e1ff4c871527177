#!/usr/bin/env bash
# Regenerates go.mod for KUBE_VERSION: replace lines derived from k8s.io/kubernetes's own go.mod replace block.
set -euo pipefail
cd "$(dirname "$0")"
KUBE_VERSION="${1:?usage: pin.sh v1.X.Y}"
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
export PATH="/usr/local/go/bin:$PATH" GOFLAGS=-mod=mod
upstream_mod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" | sed -n 's/.*"GoMod": "\(.*\)",/\1/p')"
etcd_version="$(sed -n 's#^\s*go.etcd.io/etcd/server/v3 \(v[^ ]*\).*#\1#p' "$upstream_mod")"
{
  echo "// Builds the pinned Kubernetes control plane for the cluster tests (see hack/controlplane.sh)."
  echo "module robot-operator/tests/controlplane"
  echo
  echo "go 1.26.0"
  echo
  echo "godebug default=go1.26"
  echo
  echo "require ("
  echo "	k8s.io/kubernetes ${KUBE_VERSION}"
  echo "	go.etcd.io/etcd/server/v3 ${etcd_version}"
  echo ")"
  echo
  echo "tool ("
  echo "	go.etcd.io/etcd/server/v3"
  echo "	k8s.io/kubernetes/cmd/kube-apiserver"
  echo "	k8s.io/kubernetes/cmd/kube-controller-manager"
  echo "	k8s.io/kubernetes/cmd/kubectl"
  echo ")"
  echo
  echo "replace ("
  sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/k8s.io/.*#\t\1 => \1 '"${STAGING_VERSION}"'#p' "$upstream_mod"
  echo ")"
} > go.mod
rm -f go.sum
go mod tidy
