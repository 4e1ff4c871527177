#!/usr/bin/env bash
# Makes the Debian base image locally (no registry needed): debootstrap into a cache, then `podman import`.
# Usage: hack/podman/make-base.sh [IMAGE_REF]   (default: $BASE_IMAGE from hack/images.env)
# The root filesystem tarball is cached in ${XDG_CACHE_HOME:-$HOME/.cache}/robot-operator/images/ under a name
# derived from its inputs (suite, variant, packages, mirror), so CI reuses it and a change of inputs rebuilds it.
# The mirror is the one this machine's apt uses (/etc/apt/sources.list*), read here, never written in the project.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=../images.env
source "$here/../images.env"
IMAGE_REF=${1:-$BASE_IMAGE}
SUITE=${BASE_SUITE:-bookworm}
VARIANT=minbase
# Preloaded so that the Containerfiles' apt-get step is a no-op here (they still install these on a pulled base).
INCLUDE=python3,python3-venv,openssh-client,ca-certificates
CACHE_DIR=${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/robot-operator/images
PODMAN=${PODMAN:-podman}

die() { echo "make-base: $*" >&2; exit 1; }

apt_mirror() {
  # First Debian archive URI of this machine's apt sources (deb822 `URIs:` or one-line `deb URI suite`).
  local f uri
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    uri=$(awk '/^URIs:/ {print $2; exit}' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    uri=$(awk '$1 == "deb" && $0 !~ /security/ {for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {print $i; exit}}' "$f")
    [ -n "$uri" ] && { echo "$uri"; return 0; }
  done
  return 1
}

image_input_label() {
  "$PODMAN" image inspect --format '{{index .Labels "io.gopherbot.base.inputs"}}' "$IMAGE_REF" 2>/dev/null || true
}

MIRROR=$(apt_mirror) || die "no Debian mirror found in /etc/apt/sources.list*; set one up for apt first"
INPUTS=$(printf '%s\n' "$SUITE" "$VARIANT" "$INCLUDE" "$MIRROR" "v2" | sha256sum | cut -c1-16)
TARBALL="$CACHE_DIR/debian-$SUITE-$INPUTS.tar"

if [ "$(image_input_label)" = "$INPUTS" ]; then
  echo "$IMAGE_REF"
  exit 0
fi

if [ ! -s "$TARBALL" ]; then
  [ "$(id -u)" -eq 0 ] || die "debootstrap needs root to make $TARBALL (run as root, or pull $IMAGE_REF)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (hack/setup.sh --system-only)"
  mkdir -p "$CACHE_DIR"
  work=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  echo "make-base: debootstrap $SUITE ($VARIANT, +$INCLUDE) into $work" >&2
  debootstrap --variant="$VARIANT" --include="$INCLUDE" "$SUITE" "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 \
    || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap failed (log above)"; }
  # Slim it like the official -slim images: no package caches, lists, logs or docs.
  rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"* "$work/root/var/log/"* \
    "$work/root/usr/share/doc/"* "$work/root/usr/share/man/"* "$work/root/usr/share/info/"*
  find "$work/root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  tar --numeric-owner -C "$work/root" -cf "$TARBALL.tmp" .
  mv "$TARBALL.tmp" "$TARBALL"
  find "$CACHE_DIR" -maxdepth 1 -name "debian-$SUITE-*.tar" ! -path "$TARBALL" -delete  # older inputs' tarballs
fi

import_log=$("$PODMAN" import --change 'CMD ["/bin/bash"]' --change "LABEL io.gopherbot.base.inputs=$INPUTS" \
  "$TARBALL" "$IMAGE_REF" 2>&1) || { echo "$import_log" >&2; die "$PODMAN import of $TARBALL failed"; }
echo "$IMAGE_REF"
