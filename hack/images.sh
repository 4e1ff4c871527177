#!/usr/bin/env bash
# Builds the robot and operator images with podman (or docker where that is what works here): `make images`.
# Names and tags come from hack/images.env. When the base image is a localhost/ one that is not there, it is made
# with debootstrap (hack/podman/make-base.sh), so this works with no container registry. pip inside the build gets
# this machine's CA bundle and index settings as build secrets (never stored in a layer).
# The last two lines of output are the robot image's reference and the operator image's reference.
# Environment: CONTAINER_ENGINE (podman|docker), GOPHERBOT_IMAGE (optional image holding /opt/gopherbot),
# ROBOT_IMAGE / OPERATOR_IMAGE / BASE_IMAGE override hack/images.env, IMAGES_ONLY=robot|operator builds one
# (and prints only its reference).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
declare -A overrides=([BASE_IMAGE]=${BASE_IMAGE:-} [ROBOT_IMAGE]=${ROBOT_IMAGE:-} [OPERATOR_IMAGE]=${OPERATOR_IMAGE:-})
# shellcheck source=images.env
source hack/images.env
BASE_IMAGE=${overrides[BASE_IMAGE]:-$BASE_IMAGE}
ROBOT_IMAGE=${overrides[ROBOT_IMAGE]:-$ROBOT_IMAGE}
OPERATOR_IMAGE=${overrides[OPERATOR_IMAGE]:-$OPERATOR_IMAGE}

log() { echo "images: $*" >&2; }
die() { echo "images: $*" >&2; exit 1; }

pick_engine() {
  local e
  for e in ${CONTAINER_ENGINE:-podman docker}; do
    if command -v "$e" >/dev/null && "$e" info >/dev/null 2>&1; then echo "$e"; return 0; fi
  done
  return 1
}

pip_setting() {
  # A pip setting as this machine's pip sees it (environment first, then its config files), or nothing.
  local env_name=$1 key=$2 pip=${PIP:-$root/.venv/bin/pip}
  if [ -n "${!env_name:-}" ]; then echo "${!env_name}"; return 0; fi
  [ -x "$pip" ] || pip="python3 -m pip"
  $pip config get "global.$key" 2>/dev/null || true
}

write_pip_conf() {
  local out=$1 key value
  echo "[global]" >"$out"
  for key in index-url extra-index-url trusted-host; do
    value=$(pip_setting "PIP_$(echo "$key" | tr 'a-z-' 'A-Z_')" "$key")
    [ -n "$value" ] && printf '%s = %s\n' "$key" "$value" >>"$out"
  done
  return 0
}

ENGINE=$(pick_engine) || die "neither podman nor docker works here (hack/setup.sh --system-only installs podman)"
if [ "$ENGINE" = podman ]; then
  export CONTAINERS_CONF=${CONTAINERS_CONF:-$root/hack/podman/containers.conf}
fi

case "$BASE_IMAGE" in
  # Made here with debootstrap (cached; re-imported only when its inputs change): no registry needed.
  localhost/*) log "base image $BASE_IMAGE: $(PODMAN=$ENGINE hack/podman/make-base.sh "$BASE_IMAGE")" ;;
  *) log "base image $BASE_IMAGE: from a registry" ;;
esac

secrets=$(mktemp -d)
trap 'rm -rf "$secrets"' EXIT
cacert=$(pip_setting PIP_CERT cert)
cacert=${cacert:-/etc/ssl/certs/ca-certificates.crt}
[ -r "$cacert" ] || die "CA bundle $cacert is not readable (PIP_CERT or pip's global.cert)"
write_pip_conf "$secrets/pip.conf"

build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE" --network host
  --secret "id=cacert,src=$cacert" --secret "id=pipconf,src=$secrets/pip.conf")
[ "$ENGINE" = podman ] && build_args+=(--pull=never --format docker)
[ -n "${GOPHERBOT_IMAGE:-}" ] && build_args+=(--build-arg "GOPHERBOT_IMAGE=$GOPHERBOT_IMAGE")

build() {
  local containerfile=$1 ref=$2 start end
  start=$(date +%s)
  log "building $ref from $containerfile with $ENGINE"
  "$ENGINE" build "${build_args[@]}" -f "$containerfile" -t "$ref" . >"$secrets/build.log" 2>&1 \
    || { tail -n 30 "$secrets/build.log" >&2; die "building $ref failed (last lines above)"; }
  end=$(date +%s)
  log "built $ref in $((end - start))s, size $("$ENGINE" image inspect --format '{{.Size}}' "$ref") bytes"
}

case "${IMAGES_ONLY:-}" in
  robot) build robot/Containerfile "$ROBOT_IMAGE"; echo "$ROBOT_IMAGE" ;;
  operator) build operator/Containerfile "$OPERATOR_IMAGE"; echo "$OPERATOR_IMAGE" ;;
  "") build robot/Containerfile "$ROBOT_IMAGE"
      build operator/Containerfile "$OPERATOR_IMAGE"
      echo "$ROBOT_IMAGE"
      echo "$OPERATOR_IMAGE" ;;
  *) die "IMAGES_ONLY must be robot or operator" ;;
esac
