"""Command line: serve, migrate up|down|status|verify."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from observatory_ingest import __version__
from observatory_ingest.cli.admin_parsers import add_key_commands, add_pricing_commands
from observatory_ingest.config import OPTIONS, ConfigError, Settings, load_settings, toml_text
from observatory_ingest.runtime.logsetup import configure_logging

PROG = "observatory-ingest"


def add_options(parser: argparse.ArgumentParser, default: Any) -> None:
    """Every option, accepted before or after the subcommand (default=SUPPRESS on subparsers)."""
    group = parser.add_argument_group("configuration (flags > OBSERVATORY_* env > --config file > defaults)")
    group.add_argument("--config", type=Path, default=default, help="TOML file of options")
    for option in OPTIONS:
        if option.name == "migrate":
            group.add_argument(
                "--migrate", action=argparse.BooleanOptionalAction, default=default, help=option.help
            )
            continue
        group.add_argument(
            f"--{option.name}",
            default=default,
            metavar=option.name.upper().replace("-", "_"),
            help=f"{option.help} (env {option.env_name}; default {option.default})",
        )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description="OTLP ingestion into PostgreSQL/TimescaleDB")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    add_options(parser, None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bench", help="benchmarks (convert | e2e), from a source checkout", add_help=False)

    serve = commands.add_parser("serve", help="run the service")
    add_options(serve, argparse.SUPPRESS)
    serve.add_argument(
        "--print-config",
        action="store_true",
        help="print the effective configuration (secrets masked) and exit",
    )

    migrate = commands.add_parser("migrate", help="apply, revert, inspect or verify migrations")
    actions = migrate.add_subparsers(dest="action", required=True)
    up = actions.add_parser("up", help="apply pending migrations")
    up.add_argument("--to", type=int, help="stop after this version")
    down = actions.add_parser("down", help="revert applied migrations (default: the newest one)")
    which = down.add_mutually_exclusive_group()
    which.add_argument("--steps", type=int, help="how many to revert")
    which.add_argument("--to", type=int, help="revert every migration above this version")
    actions.add_parser("status", help="applied / pending / checksum state per migration")
    actions.add_parser("verify", help="check that the promised objects exist on this backend")
    for action in (up, down, *(actions.choices[name] for name in ("status", "verify"))):
        add_options(action, argparse.SUPPRESS)
    for action in add_key_commands(commands) + add_pricing_commands(commands):
        add_options(action, argparse.SUPPRESS)
    return parser


def settings_from(arguments: argparse.Namespace) -> Settings:
    flags = {}
    for option in OPTIONS:
        value = getattr(arguments, option.attribute, None)
        flags[option.attribute] = None if value is None else toml_text(value)
    return load_settings(flags, config_file=arguments.config)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        return run_bench(argv[1:])
    arguments = build_parser().parse_args(argv)
    try:
        settings = settings_from(arguments)
    except ConfigError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    if arguments.command == "serve":
        if arguments.print_config:
            for name, value in settings.masked().items():
                print(f"{name} = {value}")
            return 0
        from observatory_ingest.store.embedded import DataDirInUse

        try:
            if settings.workers > 1:
                from observatory_ingest.runtime.workers import supervise

                return supervise(settings, argv)  # no event loop: the supervisor only waits
            from observatory_ingest.runtime.app import serve

            return run(serve(settings))
        except DataDirInUse as error:
            print(f"{PROG}: error: {error}", file=sys.stderr)
            return 2
    # Listings piped into head and friends end quietly, as Unix tools do.
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    if arguments.command in ("keys", "pricing"):
        from observatory_ingest.cli.admin import keys_command, pricing_command

        command = keys_command if arguments.command == "keys" else pricing_command
        return run(command(settings, arguments))
    from observatory_ingest.cli.migrate import migrate_command

    return run(migrate_command(settings, arguments))


def run_bench(argv: list[str]) -> int:
    """`observatory-ingest bench ...` = `python -m bench ...` (the benchmarks live in the source tree)."""
    checkout = Path(__file__).resolve().parents[2]
    if not (checkout / "bench" / "__main__.py").is_file():
        print(
            f"{PROG}: error: the benchmarks come with the source tree; run from a checkout", file=sys.stderr
        )
        return 2
    sys.path.insert(0, str(checkout))
    bench = importlib.import_module("bench.__main__")
    result: int = bench.main(argv)
    return result


def run(coroutine: Any) -> int:
    import uvloop

    result: int = uvloop.run(coroutine)
    return result
