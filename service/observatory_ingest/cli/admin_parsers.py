"""The command-line shape of `observatory-ingest keys ...` and `pricing ...` (admin_commands runs
them): argument parsing needs no database driver, so neither does `serve --workers N`."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path


def add_key_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    actions = keys.add_subparsers(dest="action", required=True)
    create = actions.add_parser("create", help="create a key for a project (created on demand); printed once")
    create.add_argument("--project", required=True, help="project name")
    create.add_argument("--name", help="a label for the key")
    revoke = actions.add_parser("revoke", help="revoke the key with this prefix (as shown by keys list)")
    revoke.add_argument("prefix")
    return [create, actions.add_parser("list", help="list keys (prefix, project, usage, revocation)"), revoke]


def add_pricing_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> list[argparse.ArgumentParser]:
    pricing = commands.add_parser(
        "pricing",
        help="model prices: the genai-prices catalogue, your overrides (USD per million tokens), repricing",
    )
    actions = pricing.add_subparsers(dest="action", required=True)
    list_prices = actions.add_parser(
        "list", help="list prices (library rows after `pricing sync`, and yours)"
    )
    list_prices.add_argument("--source", choices=("user", "library"), help="only rows of this source")
    set_price = actions.add_parser(
        "set", help="set your price of one model (exact name or prefix); it overrides the library"
    )
    set_price.add_argument("--provider", required=True)
    set_price.add_argument(
        "--model", required=True, help="model name, or a prefix dated versions fall back to"
    )
    for name in ("input", "output"):
        set_price.add_argument(f"--{name}", required=True, help=f"USD per million {name} tokens")
    set_price.add_argument("--cache-read", help="USD per million cache-read input tokens")
    set_price.add_argument("--cache-write", help="USD per million cache-write input tokens")
    set_price.add_argument("--effective-from", help="ISO date or timestamp (default: always)")
    set_price.add_argument("--project", help="only for this project (wins over every other price)")
    set_price.add_argument(
        "--tier",
        action="append",
        default=[],
        metavar="START:INPUT:OUTPUT[:CACHE_READ[:CACHE_WRITE]]",
        help="rates for the whole call when its input tokens exceed START (repeatable)",
    )
    set_price.add_argument(
        "--price",
        action="append",
        default=[],
        metavar="KEY=USD",
        help="another genai-prices price key, e.g. input_audio_mtok=40 (repeatable)",
    )
    import_file = actions.add_parser(
        "import", help="import a CSV (header: provider,model,input_usd_per_mtok,...)"
    )
    import_file.add_argument("file", type=Path)
    sync = actions.add_parser(
        "sync", help="write the bundled genai-prices catalogue's current prices into model_pricing"
    )
    unpriced = actions.add_parser("unpriced", help="(provider, model) pairs stored without a cost")
    unpriced.add_argument("--since", type=timestamp, help="ISO date or timestamp (default: 30 days ago)")
    reprice = actions.add_parser("reprice", help="recompute stored costs with today's prices")
    reprice.add_argument("--since", type=timestamp, required=True, help="ISO date or timestamp")
    reprice.add_argument("--until", type=timestamp, help="ISO date or timestamp (default: now)")
    reprice.add_argument("--provider", help="only calls of this provider (any of its names)")
    reprice.add_argument("--model", help="only calls of this model (exact name or prefix)")
    return [list_prices, set_price, import_file, sync, unpriced, reprice]


def timestamp(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an ISO date or timestamp, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
