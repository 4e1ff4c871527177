#!/usr/bin/env bash
# Installs what the project needs on a fresh Debian machine: system packages (as root) and the Python venv.
# Idempotent and quick when everything is already there. Usage: hack/setup.sh [--system-only|--venv-only]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests and the local control plane use: git, a real OpenSSH server for the git tests,
# podman (runc runtime) and debootstrap for the image tests.
DEB_PACKAGES=(git openssh-client openssh-server podman runc uidmap slirp4netns debootstrap iproute2 ca-certificates)
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

install_system() {
  local missing=()
  for p in "${DEB_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing Debian packages (${missing[*]}); run as root or install them" >&2
    return 1
  fi
  echo "setup: installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
  local stamp="$VENV/.installed"
  if [ -f "$stamp" ] && [ "$stamp" -nt pyproject.toml ]; then return 0; fi
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  local log="$VENV/install.log"
  echo "setup: installing the Python packages into $VENV (log: $log)" >&2
  if ! { "$VENV/bin/pip" install -q --upgrade pip && "$VENV/bin/pip" install -q -e '.[operator,dev]'; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "setup: pip install failed (full log: $log)" >&2
    return 1
  fi
  touch "$stamp"
}

case "${1:-}" in
  --system-only) install_system ;;
  --venv-only) install_venv ;;
  *) install_system; install_venv ;;
esac
