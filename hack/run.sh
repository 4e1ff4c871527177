#!/usr/bin/env bash
# `make run`: run the operator in the foreground. With a reachable cluster in the current kubeconfig, against it;
# otherwise start the project's own control plane on 127.0.0.1, install deploy/, create the example robot (its .env
# Secret with throwaway demo values, then the Robot) and run the operator as its own ServiceAccount. Ctrl-C stops all.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
OPERATOR="$ROOT/.venv/bin/robot-operator"
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/robot-operator"
RUN_DIR="${ROBOT_RUN_DIR:-$CACHE/run/make-run}"
EXAMPLE_NAMESPACE="${ROBOT_EXAMPLE_NAMESPACE:-robots}"

say() { printf '\033[1mrun:\033[0m %s\n' "$*" >&2; }
die() { printf 'run: %s\n' "$*" >&2; exit 1; }

[[ -x "$OPERATOR" ]] || die "$OPERATOR is missing: run 'make setup' first"

reachable() {
  local kubectl="$1"
  "$kubectl" --request-timeout=5s get --raw /readyz >/dev/null 2>&1
}

existing_kubectl="$(command -v kubectl || true)"
if [[ -z "$existing_kubectl" ]]; then
  bin_dir="$("$ROOT/hack/controlplane.sh" bin-dir)"
  [[ -x "$bin_dir/kubectl" ]] && existing_kubectl="$bin_dir/kubectl"
fi
if [[ -n "${KUBECONFIG:-}" || -f "$HOME/.kube/config" ]] && [[ -n "$existing_kubectl" ]] && reachable "$existing_kubectl"; then
  say "the current kubeconfig reaches a cluster: running the operator against it (install deploy/ there first)"
  exec "$OPERATOR" run "$@"
fi

say "no reachable cluster: starting the local control plane (the first build takes a while, then it is cached)"
"$ROOT/hack/controlplane.sh" build
bin_dir="$("$ROOT/hack/controlplane.sh" bin-dir)"
KUBECTL="$bin_dir/kubectl"
stop_all() {
  trap - EXIT INT TERM
  say "stopping the control plane"
  "$PYTHON" "$ROOT/tests/kubecluster.py" down --run-dir "$RUN_DIR" >&2 || true
}
trap stop_all EXIT
trap 'exit 130' INT TERM
"$PYTHON" "$ROOT/tests/kubecluster.py" up --run-dir "$RUN_DIR" >&2
export KUBECONFIG="$RUN_DIR/admin.kubeconfig"

say "installing deploy/ (CRD, RBAC, the operator's ServiceAccount)"
"$KUBECTL" apply -k "$ROOT/deploy" >&2
"$KUBECTL" wait --for=condition=Established crd/robots.gopherbot.io --timeout=60s >&2

say "creating the example robot in namespace $EXAMPLE_NAMESPACE"
"$PYTHON" "$ROOT/tests/kubecluster.py" example --kubectl "$KUBECTL" --namespace "$EXAMPLE_NAMESPACE" >&2

sa_ns="$("$KUBECTL" kustomize "$ROOT/deploy" | "$PYTHON" -c '
import sys, yaml
sa = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind") == "ServiceAccount"][0]["metadata"]
print(sa.get("namespace", "default"), sa["name"])')"
read -r sa_namespace sa_name <<<"$sa_ns"
operator_kubeconfig="$RUN_DIR/operator.kubeconfig"
"$PYTHON" - "$RUN_DIR" "$operator_kubeconfig" "$("$KUBECTL" create token "$sa_name" -n "$sa_namespace" --duration=24h)" \
  "system:serviceaccount:$sa_namespace:$sa_name" <<'EOF'
import sys
from pathlib import Path
import yaml
run_dir, out, token, user = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4]
config = yaml.safe_load((run_dir / "admin.kubeconfig").read_text())
config["users"] = [{"name": user, "user": {"token": token}}]
config["contexts"][0]["context"]["user"] = user
out.touch(mode=0o600)
out.write_text(yaml.safe_dump(config))
EOF

cat >&2 <<EOF

  Watch the robots in another terminal:
    KUBECONFIG=$KUBECONFIG $KUBECTL get robots -A -w
  and their children:
    KUBECONFIG=$KUBECONFIG $KUBECTL get secret,deploy,svc,cronjob,sa,role,rolebinding -n $EXAMPLE_NAMESPACE
  (there is no kubelet: pods stay Pending). Ctrl-C stops the operator and the control plane.

EOF
say "running the operator as system:serviceaccount:$sa_namespace:$sa_name"
KUBECONFIG="$operator_kubeconfig" "$OPERATOR" run "$@" || status=$?
exit "${status:-0}"
