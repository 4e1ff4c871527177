"""`robot-runtime`: the runtime's command line (bootstrap, restore, backup, encrypt, decrypt, run).

Every flag has an environment mirror; secrets come only from the environment or files. A user error prints one line,
`robot-runtime: <message>`, on stderr and exits 1, without a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from robot_runtime import crypto
from robot_runtime.errors import RobotError
from robot_runtime.results import BackupResult
from robot_runtime.settings import Settings, load_settings, redact_urls_in

PROG = "robot-runtime"
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
DEFAULT_BACKUP_TIMEOUT = 300.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
# Values that must never reach a log line, whatever a library puts in its messages.
SECRET_VARIABLES = ("GOPHER_ENCRYPTION_KEY", "GOPHER_DEPLOY_KEY", "ROBOT_CONTROL_TOKEN")
_TRUE_WORDS = ("1", "true", "yes", "on")
_FALSE_WORDS = ("", "0", "false", "no", "off")

log = logging.getLogger("robot_runtime.cli")

Command = Callable[[argparse.Namespace], int]


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; returns the process exit status."""
    env = os.environ
    try:
        parser = build_parser(env)
        args = parser.parse_args(argv)
        configure_logging(args.log_level, env)
        func: Command | None = getattr(args, "func", None)
        if func is None:
            parser.print_usage(sys.stderr)
            return EXIT_USAGE
        return int(func(args))
    except RobotError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except SystemExit as leaving:  # --help, --version and usage errors
        return leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 1)


# --- the parser ------------------------------------------------------------------------------------------------------


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line, in the same shape as every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{PROG}: {message} (see `{self.prog} --help`)\n")


def build_parser(env: Mapping[str, str]) -> argparse.ArgumentParser:
    """The whole command line; `run` is contributed by the supervisor module."""
    parser = OneLineErrorParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser, env, top_level=True)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=OneLineErrorParser)
    add_bootstrap(subparsers, env)
    add_restore(subparsers, env)
    add_backup(subparsers, env)
    add_encrypt(subparsers, env)
    add_decrypt(subparsers, env)
    add_run(subparsers, env)
    return parser


def add_common_arguments(parser: argparse.ArgumentParser, env: Mapping[str, str], *, top_level: bool) -> None:
    """--home, --known-hosts and --log-level, accepted before or after the subcommand."""

    def default(value: object) -> object:
        return value if top_level else argparse.SUPPRESS

    present = set(parser._option_string_actions)  # `run` may define some of these itself
    if "--home" not in present:
        parser.add_argument(
            "--home",
            type=Path,
            default=default(None),
            metavar="DIR",
            help="the robot's home: custom/, state/ (env ROBOT_HOME; default the current directory)",
        )
    if "--known-hosts" not in present:
        parser.add_argument(
            "--known-hosts",
            type=Path,
            default=default(None),
            metavar="FILE",
            help="ssh known_hosts file for the git host (env ROBOT_KNOWN_HOSTS; or GOPHER_HOST_KEYS)",
        )
    if "--log-level" not in present:
        parser.add_argument(
            "--log-level",
            default=default(env.get("ROBOT_LOG_LEVEL", "INFO")),
            metavar="LEVEL",
            help=f"one of {', '.join(LOG_LEVELS)} (env ROBOT_LOG_LEVEL; default INFO)",
        )


Subparsers: TypeAlias = "argparse._SubParsersAction[Any]"


def add_command(
    subparsers: Subparsers, env: Mapping[str, str], name: str, func: Command, *, help: str, description: str
) -> argparse.ArgumentParser:
    command: argparse.ArgumentParser = subparsers.add_parser(name, help=help, description=description)
    add_common_arguments(command, env, top_level=False)
    command.set_defaults(func=func)
    return command


def add_bootstrap(subparsers: Subparsers, env: Mapping[str, str]) -> None:
    add_command(
        subparsers,
        env,
        "bootstrap",
        cmd_bootstrap,
        help="clone the configuration (unless custom/conf exists), then restore the state",
        description="Clone GOPHER_CUSTOM_REPOSITORY (branch GOPHER_CUSTOM_BRANCH) into custom/ with the deploy key "
        "unless custom/conf exists, then restore state/ from GOPHER_STATE_BRANCH.",
    )


def add_restore(subparsers: Subparsers, env: Mapping[str, str]) -> None:
    command = add_command(
        subparsers,
        env,
        "restore",
        cmd_restore,
        help="fetch the robot's state branch into state/",
        description="Fetch GOPHER_STATE_BRANCH of the repository (or GOPHER_STATE_REPOSITORY) into state/, swapping "
        "directories only when the new one is complete. A missing branch means a new robot.",
    )
    command.add_argument(
        "--force",
        action="store_true",
        default=env_flag(env, "ROBOT_RESTORE_FORCE"),
        help="replace an existing state/ git work tree (env ROBOT_RESTORE_FORCE=true)",
    )


def add_backup(subparsers: Subparsers, env: Mapping[str, str]) -> None:
    command = add_command(
        subparsers,
        env,
        "backup",
        cmd_backup,
        help="commit and push state/ (or ask a running supervisor to); prints one JSON result",
        description="Back up the robot's state to its state branch, never force-pushing. Prints exactly one JSON "
        "object {result, commit, message} on stdout; exits 0 for Pushed or NoChanges, 1 for Failed.",
    )
    command.add_argument(
        "--remote",
        default=env.get("ROBOT_BACKUP_REMOTE") or None,
        metavar="URL",
        help="ask the supervisor at URL (http://HOST:PORT) to back up, with the bearer token from "
        "ROBOT_CONTROL_TOKEN (env ROBOT_BACKUP_REMOTE)",
    )
    command.add_argument(
        "--result-file",
        type=Path,
        default=_optional_path(env.get("ROBOT_RESULT_FILE")),
        metavar="FILE",
        help="also write the JSON result to FILE, e.g. /dev/termination-log (env ROBOT_RESULT_FILE)",
    )
    command.add_argument(
        "--timeout",
        default=env.get("ROBOT_BACKUP_TIMEOUT", str(DEFAULT_BACKUP_TIMEOUT)),
        metavar="SECONDS",
        help=f"how long to wait for a --remote backup (env ROBOT_BACKUP_TIMEOUT; default {DEFAULT_BACKUP_TIMEOUT:g})",
    )


def add_encrypt(subparsers: Subparsers, env: Mapping[str, str]) -> None:
    command = add_command(
        subparsers,
        env,
        "encrypt",
        cmd_encrypt,
        help="encrypt a value or file with the robot's runtime key (Gopherbot-compatible)",
        description='Encrypt TEXT (or standard input) into the base64 used in {{ decrypt "..." }}, or with -f '
        "FILE into a #GOPHERBOT-BASE64-DATA file on stdout. Needs GOPHER_ENCRYPTION_KEY and "
        "custom/binary-encrypted-key[.<GOPHER_ENVIRONMENT>].",
    )
    source = command.add_mutually_exclusive_group()
    source.add_argument("text", nargs="?", metavar="TEXT", help="the text to encrypt (default: standard input)")
    source.add_argument("-f", "--file", type=Path, metavar="FILE", help="encrypt this file's bytes")


def add_decrypt(subparsers: Subparsers, env: Mapping[str, str]) -> None:
    command = add_command(
        subparsers,
        env,
        "decrypt",
        cmd_decrypt,
        help="decrypt a value or file encrypted with the robot's runtime key",
        description='Decrypt a base64 value from {{ decrypt "..." }} (or standard input), or with -f FILE a '
        "#GOPHERBOT-BASE64-DATA file (such as a file-brain memory); the result goes to stdout.",
    )
    source = command.add_mutually_exclusive_group()
    source.add_argument("value", nargs="?", metavar="BASE64", help="the encrypted value (default: standard input)")
    source.add_argument("-f", "--file", type=Path, metavar="FILE", help="decrypt this #GOPHERBOT-BASE64-DATA file")


def add_run(subparsers: Subparsers, env: Mapping[str, str]) -> None:
    """`run` belongs to the supervisor module; the common flags are added to it here."""
    try:
        from robot_runtime import supervisor
    except ImportError as error:
        log.debug("the run subcommand is unavailable: %s", error)
        return
    supervisor.register(subparsers)
    run_parser = subparsers.choices.get("run")
    if isinstance(run_parser, argparse.ArgumentParser):
        add_common_arguments(run_parser, env, top_level=False)


# --- the commands ----------------------------------------------------------------------------------------------------


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(os.environ, home=args.home, known_hosts_file=args.known_hosts)


def cmd_bootstrap(args: argparse.Namespace) -> int:
    from robot_runtime.bootstrap import bootstrap

    bootstrap(settings_from(args))
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from robot_runtime.restore import restore

    print(restore(settings_from(args), force=bool(args.force)))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Exactly one JSON line on stdout, whatever happens; a configuration error is also said on stderr."""
    try:
        result = remote_backup(args) if args.remote else local_backup(args)
    except RobotError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        result = BackupResult(result="Failed", commit=None, message=str(error))
    except Exception as error:  # the JSON contract holds even for a bug; the log has the details (redacted)
        log.exception("backup failed unexpectedly")
        result = BackupResult(result="Failed", commit=None, message=f"unexpected {type(error).__name__} (see the log)")
    report_backup(result, args.result_file)
    return 0 if result.ok else 1


def local_backup(args: argparse.Namespace) -> BackupResult:
    from robot_runtime.backup import backup

    return backup(settings_from(args))


def remote_backup(args: argparse.Namespace) -> BackupResult:
    from robot_runtime.control import remote_backup as ask_supervisor

    timeout = positive_seconds(args.timeout, "ROBOT_BACKUP_TIMEOUT (--timeout)")
    token = os.environ.get("ROBOT_CONTROL_TOKEN", "").strip()
    if not token:
        raise RobotError("ROBOT_CONTROL_TOKEN is not set: `backup --remote` needs the control endpoint's token")
    return ask_supervisor(args.remote, token, timeout)


def report_backup(result: BackupResult, result_file: Path | None) -> None:
    text = result.to_json()
    print(text, flush=True)
    if result_file is not None:
        try:
            result_file.write_text(text)
        except OSError as error:
            print(f"{PROG}: cannot write --result-file {result_file} ({error.strerror})", file=sys.stderr)


def cmd_encrypt(args: argparse.Namespace) -> int:
    key = runtime_key_from(args)
    if args.file is not None:
        sys.stdout.buffer.write(crypto.encode_file(key, read_input_file(args.file)))
    else:
        text = args.text if args.text is not None else read_stdin_text()
        print(crypto.encrypt_value(key, text))
    return 0


def cmd_decrypt(args: argparse.Namespace) -> int:
    key = runtime_key_from(args)
    if args.file is not None:
        try:
            plaintext = crypto.decode_file(key, read_input_file(args.file))
        except crypto.DecryptionError as error:
            raise RobotError(f"{args.file}: {error}") from None
        sys.stdout.buffer.write(plaintext)
    else:
        value = args.value if args.value is not None else read_stdin_text()
        try:
            print(crypto.decrypt_value(key, value.strip()))
        except crypto.DecryptionError as error:
            raise RobotError(f"BASE64 value: {error}") from None
    return 0


def runtime_key_from(args: argparse.Namespace) -> bytes:
    settings = settings_from(args)
    return crypto.runtime_key(settings.custom_dir, settings.require_encryption_key(), settings.environment)


def read_input_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise RobotError(f"cannot read {path} ({error.strerror})") from None


def read_stdin_text() -> str:
    text = sys.stdin.read()
    return text[:-1] if text.endswith("\n") else text


# --- values and logging ----------------------------------------------------------------------------------------------


def env_flag(env: Mapping[str, str], name: str) -> bool:
    word = env.get(name, "").strip().lower()
    if word in _TRUE_WORDS:
        return True
    if word in _FALSE_WORDS:
        return False
    raise RobotError(f"{name} must be true or false")


def positive_seconds(value: str | float, name: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise RobotError(f"{name} must be a number of seconds") from None
    if not seconds > 0 or seconds == float("inf"):
        raise RobotError(f"{name} must be a positive number of seconds")
    return seconds


def _optional_path(value: str | None) -> Path | None:
    return Path(value) if value else None


class OneLineFormatter(logging.Formatter):
    """`LEVEL logger: message`, one line per record, secret values replaced by `***`, no credentials in URLs.

    An exception adds its type and message, not a traceback.
    """

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self._secrets = sorted({s for s in secrets if len(s) >= 8}, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        line = redact_urls_in(" ".join(super().format(record).splitlines()))
        for secret in self._secrets:
            line = line.replace(secret, "***")
        return line

    def formatException(self, ei: Any) -> str:
        kind, value = ei[0], ei[1]
        return f"({kind.__name__}: {value})" if kind is not None else ""


def configure_logging(level_name: str, env: Mapping[str, str]) -> None:
    """Plain one-line records on stderr at the given level, with secret values redacted."""
    level = level_name.strip().upper()
    if level not in LOG_LEVELS:
        raise RobotError(f"ROBOT_LOG_LEVEL (--log-level) must be one of {', '.join(LOG_LEVELS)}")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(OneLineFormatter(secret_values(env)))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def secret_values(env: Mapping[str, str]) -> list[str]:
    values = [env.get(name, "") for name in SECRET_VARIABLES]
    encryption_key = env.get("GOPHER_ENCRYPTION_KEY", "")
    values.append(encryption_key.encode()[: crypto.KEY_BYTES].decode(errors="ignore"))
    return [value.strip() for value in values if value.strip()]
