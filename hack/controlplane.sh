#!/usr/bin/env bash
# Placeholder until the control plane lands (issue 4): build is a no-op so `make test` runs the other tiers.
set -euo pipefail
case "${1:-}" in
  build) exit 0 ;;
  *) echo "controlplane: '${1:-}' is not available yet" >&2; exit 2 ;;
esac
