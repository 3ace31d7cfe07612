from __future__ import annotations

import math
from pathlib import Path

import pytest

from observatory_ingest.cli.main import build_parser, main
from observatory_ingest.config import ConfigError, ListenAddress, load_settings, mask_dsn
from observatory_ingest.receiver.grpc import connection_age_options


def test_defaults() -> None:
    settings = load_settings({}, environ={})
    assert settings.database_url is None
    assert settings.grpc_listen == ListenAddress("0.0.0.0", 4317)
    assert settings.http_listen == ListenAddress("0.0.0.0", 4318)
    assert settings.metrics_listen == ListenAddress("0.0.0.0", 9464)
    assert (settings.queue_size, settings.batch_size, settings.writers) == (100000, 5000, 2)
    assert settings.flush_interval == 0.0
    assert settings.max_recv_msg_size == 64 * 1024 * 1024
    assert settings.grpc_max_concurrent_streams == 100
    assert settings.migrate is True
    assert settings.data_dir.name == "observatory-ingest"
    assert (settings.max_connection_age, settings.max_connection_age_grace) == (300.0, 30.0)


def test_flags_beat_environment_beat_file_beat_defaults(tmp_path: Path) -> None:
    config = tmp_path / "ingest.toml"
    config.write_text('queue-size = 300\nbatch-size = 30\nwriters = 3\nflush_interval = "1s"\n')
    environ = {"OBSERVATORY_QUEUE_SIZE": "200", "OBSERVATORY_BATCH_SIZE": "20"}
    settings = load_settings({"queue_size": "100"}, environ=environ, config_file=config)
    assert settings.queue_size == 100  # flag
    assert settings.batch_size == 20  # environment
    assert settings.writers == 3  # file
    assert settings.flush_interval == 1.0  # file, parsed like a flag
    assert settings.log_format == "logfmt"  # default


def test_database_url_falls_back_to_plain_database_url_env() -> None:
    assert (
        load_settings({}, environ={"DATABASE_URL": "postgresql://a@b/c"}).database_url == "postgresql://a@b/c"
    )
    both = {"DATABASE_URL": "postgresql://a@b/c", "OBSERVATORY_DATABASE_URL": "postgresql://x@y/z"}
    assert load_settings({}, environ=both).database_url == "postgresql://x@y/z"


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({"queue_size": "0"}, {}, "invalid flag for --queue-size: must be at least 1, got 0"),
        ({"writers": "two"}, {}, "invalid flag for --writers: expected an integer, got 'two'"),
        (
            {},
            {"OBSERVATORY_GRPC_LISTEN": "4317"},
            "invalid environment variable OBSERVATORY_GRPC_LISTEN for --grpc-listen: "
            "expected HOST:PORT, got '4317'",
        ),
        (
            {"http_listen": "h:99999"},
            {},
            "invalid flag for --http-listen: port must be between 0 and 65535, got 99999",
        ),
        (
            {"flush_interval": "soon"},
            {},
            "invalid flag for --flush-interval: expected a duration such as 200ms, 5s or 1m, got 'soon'",
        ),
        ({"log_format": "xml"}, {}, "invalid flag for --log-format: must be one of json, logfmt, got 'xml'"),
        (
            {"flush_interval": "-1s"},
            {},
            "invalid flag for --flush-interval: must not be negative, got '-1s'",
        ),
        (
            {"max_recv_msg_size": "-1"},
            {},
            "invalid flag for --max-recv-msg-size: must not be negative, got '-1'",
        ),
        (
            {},
            {"OBSERVATORY_QUEUE_MEMORY": "-32MiB"},
            "invalid environment variable OBSERVATORY_QUEUE_MEMORY for --queue-memory: "
            "must not be negative, got '-32MiB'",
        ),
        (
            {"max_attribute_bytes": "-0.5KiB"},
            {},
            "invalid flag for --max-attribute-bytes: must not be negative, got '-0.5KiB'",
        ),
        (
            {"max_attribute_bytes": "inf"},
            {},
            "invalid flag for --max-attribute-bytes: expected a size such as 64MiB, got 'inf'",
        ),
        (
            {"queue_memory": "nanMiB"},
            {},
            "invalid flag for --queue-memory: expected a size such as 64MiB, got 'nanMiB'",
        ),
        (
            {"max_recv_msg_size": "2GiB"},
            {},
            "invalid flag for --max-recv-msg-size: must be between 1 and 2147483647 bytes, got '2GiB'",
        ),
        (
            {"max_recv_msg_size": "0"},
            {},
            "invalid flag for --max-recv-msg-size: must be between 1 and 2147483647 bytes, got '0'",
        ),
        (
            {"grpc_max_concurrent_streams": "0"},
            {},
            "invalid flag for --grpc-max-concurrent-streams: must be at least 1, got 0",
        ),
        (
            {"grpc_max_concurrent_streams": "4294967296"},
            {},
            "invalid flag for --grpc-max-concurrent-streams: must be at most 2147483647, got 4294967296",
        ),
        ({"migrate": "maybe"}, {}, "invalid flag for --migrate: expected true or false, got 'maybe'"),
        (
            {"rate_limit_items": "lots"},
            {},
            "invalid flag for --rate-limit-items: "
            "expected a number of items per second or unlimited, got 'lots'",
        ),
        (
            {"rate_limit_items": "0"},
            {},
            "invalid flag for --rate-limit-items: must be more than 0, got '0'",
        ),
        (
            {},
            {"OBSERVATORY_RATE_LIMIT_BYTES": "-1MiB"},
            "invalid environment variable OBSERVATORY_RATE_LIMIT_BYTES for "
            "--rate-limit-bytes: must be more than 0, got '-1'",
        ),
        (
            {"rate_limit_burst": "0s"},
            {},
            "invalid flag for --rate-limit-burst: must be more than 0s, got '0s'",
        ),
        ({"batch_size": "10", "queue_size": "5"}, {}, "invalid --batch-size: 10 exceeds --queue-size 5"),
        (
            {"max_connection_age": "500ms"},
            {},
            "invalid --max-connection-age: must be 0 (never) or at least 1s, got 0.5s",
        ),
        (
            {"max_connection_age": "1000h"},
            {},
            "invalid flag for --max-connection-age: must be at most 596h (gRPC counts milliseconds "
            "in 32 bits), got '1000h'",
        ),
        (
            {"max_connection_age_grace": "5s"},
            {},
            "invalid --max-connection-age-grace: 5s is shorter than --ack-timeout 10s",
        ),
        (
            {"database_url": "mysql://x"},
            {},
            "invalid --database-url: must start with postgresql:// or postgres://",
        ),
    ],
)
def test_invalid_values_name_the_option(flags: dict[str, str], environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(flags, environ=environ)
    assert str(raised.value) == message


def test_project_limits_default_to_unlimited_and_take_rates_sizes_and_durations() -> None:
    defaults = load_settings({}, environ={})
    assert (defaults.rate_limit_items, defaults.rate_limit_bytes) == (math.inf, math.inf)
    assert defaults.rate_limit_burst == 2.0
    assert defaults.masked()["rate-limit-items"] == "unlimited"
    settings = load_settings(
        {
            "rate_limit_items": "2500.5",
            "rate_limit_bytes": "8MiB/s",
            "rate_limit_burst": "500ms",
        },
        environ={},
    )
    assert settings.rate_limit_items == 2500.5
    assert settings.rate_limit_bytes == 8 * 2**20
    assert settings.rate_limit_burst == 0.5


def test_connection_age_becomes_grpc_server_options() -> None:
    settings = load_settings({"max_connection_age": "2m", "max_connection_age_grace": "15s"}, environ={})
    assert connection_age_options(settings.max_connection_age, settings.max_connection_age_grace) == [
        ("grpc.max_connection_age_ms", 120_000),
        ("grpc.max_connection_age_grace_ms", 15_000),
    ]
    # 0 turns it off, whatever the grace (which then needs no room for --ack-timeout).
    never = load_settings({"max_connection_age": "0", "max_connection_age_grace": "0s"}, environ={})
    assert connection_age_options(never.max_connection_age, never.max_connection_age_grace) == []


def test_unknown_file_option_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("queue_sise = 5\n")
    with pytest.raises(ConfigError, match="unknown option 'queue_sise'"):
        load_settings({}, environ={}, config_file=config)


def test_secrets_are_masked() -> None:
    assert mask_dsn("postgresql://app:s3cret@db:5432/obs") == "postgresql://app:***@db:5432/obs"
    settings = load_settings({"database_url": "postgresql://app:s3cret@db/obs"}, environ={})
    assert settings.masked()["database-url"] == "postgresql://app:***@db/obs"


def test_cli_print_config_and_exit_codes(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OBSERVATORY_DATABASE_URL", "postgresql://app:s3cret@db/obs")
    assert main(["serve", "--print-config", "--queue-size", "50000", "--no-migrate"]) == 0
    out = capsys.readouterr().out
    assert "database-url = postgresql://app:***@db/obs" in out
    assert "queue-size = 50000" in out
    assert "migrate = False" in out
    assert "s3cret" not in out
    # Options also work before the subcommand.
    assert main(["--queue-size", "70000", "serve", "--print-config"]) == 0
    assert "queue-size = 70000" in capsys.readouterr().out
    assert main(["serve", "--writers", "0"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "observatory-ingest: error: invalid flag for --writers: must be at least 1, got 0"
    ]


@pytest.mark.parametrize("arguments", [["--max-recv-msg-size=-1"], ["--max-recv-msg-size", "-1"]])
def test_a_negative_size_flag_exits_2_with_one_line(
    arguments: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", *arguments]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "observatory-ingest: error: invalid flag for --max-recv-msg-size: must not be negative, got '-1'"
    ]


def test_subcommand_options_are_not_taken_for_abbreviations_of_service_options() -> None:
    # argparse matches prefixes: a service option starting with --project would make
    # `keys create --project` ambiguous.
    parser = build_parser()
    assert parser.parse_args(["keys", "create", "--project", "team"]).project == "team"
    limits = parser.parse_args(["projects", "set-limits", "team", "--items-per-second", "5", "--burst", "1s"])
    assert (limits.items_per_second, limits.burst, limits.signal) == ("5", "1s", "all")
