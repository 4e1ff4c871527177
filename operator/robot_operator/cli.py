"""`robot-operator`: the operator's command line (`run` wraps kopf with this operator's settings)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from robot_operator import metrics

PROG: Final = "robot-operator"
ENV_PREFIX: Final = "ROBOT_OPERATOR_"
LOG_FORMATS: Final = ("plain", "json", "full")
DESCRIPTION: Final = """\
Run the Gopherbot Robot operator against any Kubernetes cluster.

Where it connects: inside a pod, the in-cluster ServiceAccount (deploy/ installs one with least-privilege RBAC);
elsewhere the kubeconfig named by KUBECONFIG (or ~/.kube/config), as kubectl does. The Robot CRD must be
installed first: `kubectl apply -f crds/robots.yaml` (or the whole install: `kubectl apply -k deploy/`).

Every flag has an environment mirror (ROBOT_OPERATOR_<FLAG>, shown in each help line); a flag wins over its
variable. Example, outside the cluster, watching one namespace:
  KUBECONFIG=~/.kube/config robot-operator run --namespace robots --log-format plain
"""


class ConfigError(Exception):
    """A setting is invalid; the message names the flag and its environment variable."""


@dataclass(frozen=True)
class RunSettings:
    """Validated settings of `robot-operator run`."""

    namespaces: tuple[str, ...]
    log_format: str
    liveness: str
    metrics_addr: str
    resync_seconds: float
    verbose: bool

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def env_name(flag: str) -> str:
    return ENV_PREFIX + flag.upper().replace("-", "_")


def build_parser(environ: Mapping[str, str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    run = commands.add_parser(
        "run",
        help="run the operator (kopf) until interrupted",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )

    def option(flag: str, default: str, help_text: str) -> None:
        variable = env_name(flag)
        run.add_argument(f"--{flag}", default=environ.get(variable, default), help=f"{help_text} [env {variable}]")

    option("namespaces", "", "comma-separated namespaces to watch; empty: all namespaces (clusterwide)")
    run.add_argument(
        "--namespace",
        dest="namespace_flags",
        action="append",
        default=[],
        help="a namespace to watch (repeatable; adds to --namespaces)",
    )
    option("log-format", "plain", "log format: plain, json or full")
    option("liveness", "http://0.0.0.0:8081/healthz", "liveness endpoint URL served by kopf; empty: none")
    option("metrics-addr", ":8090", "address of the Prometheus /metrics endpoint ([HOST]:PORT); empty: none")
    option("resync-seconds", "300", "seconds between full resyncs of all Robots (0: none)")
    run.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=environ.get(env_name("verbose"), "").lower() in ("1", "true", "yes"),
        help=f"debug logging [env {env_name('verbose')}=true]",
    )
    return parser


def settings_from(args: argparse.Namespace) -> RunSettings:
    """Validate parsed arguments; raises ConfigError naming the flag."""
    namespaces = [part.strip() for part in str(args.namespaces).split(",") if part.strip()]
    namespaces += [str(item).strip() for item in args.namespace_flags if str(item).strip()]
    log_format = str(args.log_format).lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"--log-format ({env_name('log-format')}) must be one of {', '.join(LOG_FORMATS)}")
    liveness = str(args.liveness)
    if liveness and not liveness.startswith(("http://", "https://")):
        raise ConfigError(f"--liveness ({env_name('liveness')}) must be an http:// URL or empty")
    metrics_addr = str(args.metrics_addr)
    if metrics_addr:
        try:
            metrics.parse_listen_address(metrics_addr)
        except ValueError as error:
            raise ConfigError(f"--metrics-addr ({env_name('metrics-addr')}): {error}") from None
    try:
        resync = float(args.resync_seconds)
    except ValueError:
        raise ConfigError(f"--resync-seconds ({env_name('resync-seconds')}) must be a number") from None
    if resync < 0:
        raise ConfigError(f"--resync-seconds ({env_name('resync-seconds')}) must not be negative")
    return RunSettings(
        namespaces=tuple(dict.fromkeys(namespaces)),
        log_format=log_format,
        liveness=liveness,
        metrics_addr=metrics_addr,
        resync_seconds=resync,
        verbose=bool(args.verbose),
    )


class QuietHandlerSuccess(logging.Filter):
    """Drops kopf's INFO line "Handler '<name>' succeeded." (one per watch event of every child, Secret and Pod);
    the reconciler logs what it changes, and failures are still logged. `--verbose` keeps them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        return not (message.startswith("Handler '") and message.endswith("' succeeded."))


def run(settings: RunSettings) -> int:
    """Start the metrics endpoint and run kopf with the handlers of robot_operator.handlers until stopped."""
    import kopf

    from robot_operator import handlers

    formats = {"plain": kopf.LogFormat.PLAIN, "json": kopf.LogFormat.JSON, "full": kopf.LogFormat.FULL}
    kopf.configure(verbose=settings.verbose, log_format=formats[settings.log_format])
    if not settings.verbose:
        logging.getLogger("kopf.objects").addFilter(QuietHandlerSuccess())
    handlers.RUNTIME.resync_seconds = settings.resync_seconds
    if settings.metrics_addr:
        metrics.serve(settings.metrics_addr)
    kopf.run(
        clusterwide=settings.clusterwide,
        namespaces=settings.namespaces,
        liveness_endpoint=settings.liveness or None,
        standalone=True,
    )
    return 0


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = build_parser(os.environ if environ is None else environ)
    args = parser.parse_args(argv)
    try:
        settings = settings_from(args)
    except ConfigError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    try:
        return run(settings)
    except KeyboardInterrupt:
        return 130
    except Exception as error:  # one line for the person running it; details at debug level
        logging.getLogger(__name__).debug("operator stopped", exc_info=True)
        print(f"{PROG}: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
