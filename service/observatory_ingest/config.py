"""The one validated, typed configuration object: flags > environment > TOML file > defaults."""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import platformdirs

from observatory_ingest.tls import TlsFiles

ENV_PREFIX = "OBSERVATORY_"


class ConfigError(ValueError):
    """An invalid option: the message names the option and what is wrong."""


@dataclass(frozen=True)
class ListenAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_listen(text: str) -> ListenAddress:
    host, sep, port_text = text.rpartition(":")
    if not sep or not host:
        raise ValueError(f"expected HOST:PORT, got {text!r}")
    host = host.strip("[]")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"port must be an integer, got {port_text!r}") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"port must be between 0 and 65535, got {port}")
    return ListenAddress(host, port)


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"expected true or false, got {text!r}")


def split_unit(text: str, units: dict[str, float]) -> tuple[str, float]:
    """('1.5', 60.0) from '1.5m'; a bare number has scale 1. Units are tried in order."""
    for suffix, scale in units.items():
        if text.endswith(suffix):
            return text[: -len(suffix)], scale
    return text, 1.0


def parse_duration(text: str) -> float:
    """Seconds from '200ms', '1.5s', '2m' or a bare number of seconds."""
    number, scale = split_unit(text.strip().lower(), {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0})
    try:
        seconds = float(number) * scale
    except ValueError:
        raise ValueError(f"expected a duration such as 200ms, 5s or 1m, got {text!r}") from None
    if seconds < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return seconds


def connection_age(text: str) -> float:
    """A duration gRPC can hold: it counts milliseconds in a signed 32-bit integer."""
    seconds = parse_duration(text)
    if seconds * 1000 > 2**31 - 1:
        raise ValueError(f"must be at most 596h (gRPC counts milliseconds in 32 bits), got {text!r}")
    return seconds


def parse_size(text: str) -> int:
    """Bytes from '64MiB', '512KiB', '1GiB' or a bare number."""
    number, scale = split_unit(text.strip(), {"KiB": 1024, "MiB": 1024**2, "GiB": 1024**3, "B": 1})
    try:
        size = float(number) * scale
    except ValueError:
        size = math.nan
    if not math.isfinite(size):
        raise ValueError(f"expected a size such as 64MiB, got {text!r}")
    if size < 0:
        raise ValueError(f"must not be negative, got {text!r}")
    return int(size)


# gRPC reads message sizes and stream counts as C ints.
GRPC_INT_MAX = 2**31 - 1


def grpc_message_size(text: str) -> int:
    size = parse_size(text)
    if not 1 <= size <= GRPC_INT_MAX:
        raise ValueError(f"must be between 1 and {GRPC_INT_MAX} bytes, got {text!r}")
    return size


def grpc_stream_count(text: str) -> int:
    count = positive_int(text)
    if count > GRPC_INT_MAX:
        raise ValueError(f"must be at most {GRPC_INT_MAX}, got {count}")
    return count


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"must be at least 1, got {value}")
    return value


def parse_workers(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    return positive_int(text)


def choice(*allowed: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}, got {text!r}")
        return text

    return parse


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("observatory-ingest", appauthor=False))


@dataclass(frozen=True)
class Option:
    """One setting: its name (flag --name, env OBSERVATORY_NAME, TOML key name), parser, help."""

    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    secret: bool = False

    @property
    def attribute(self) -> str:
        return self.name.replace("-", "_")

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.attribute.upper()


OPTIONS: tuple[Option, ...] = (
    Option(
        "database-url",
        str,
        None,
        "PostgreSQL DSN (env OBSERVATORY_DATABASE_URL, then DATABASE_URL); "
        "unset: embedded PostgreSQL under --data-dir",
        secret=True,
    ),
    Option("data-dir", Path, None, "Where the embedded PostgreSQL keeps its data"),
    Option("grpc-listen", parse_listen, "0.0.0.0:4317", "OTLP/gRPC listen address"),
    Option("http-listen", parse_listen, "0.0.0.0:4318", "OTLP/HTTP listen address"),
    Option("metrics-listen", parse_listen, "0.0.0.0:9464", "Prometheus /metrics, /healthz, /readyz"),
    Option("tls-cert-file", Path, None, "Server certificate (PEM) for gRPC and HTTP; enables TLS"),
    Option("tls-key-file", Path, None, "Private key (PEM) of --tls-cert-file"),
    Option("tls-client-ca-file", Path, None, "CA (PEM) that client certificates must chain to (mTLS)"),
    Option("migrate", parse_bool, "true", "Apply pending migrations at startup (--no-migrate)"),
    Option(
        "auth",
        choice("required", "disabled"),
        "disabled",
        "API keys: required (per-project keys) or disabled (all data in the default project)",
    ),
    Option(
        "llm-content", choice("keep", "drop"), "keep", "Prompt/completion content: keep or drop (privacy)"
    ),
    Option("llm-content-max-bytes", positive_int, "65536", "Largest stored prompt/completion field"),
    Option("workers", parse_workers, "1", "Processes sharing the ports (SO_REUSEPORT); auto = one per core"),
    Option(
        "max-attribute-bytes", parse_size, "64KiB", "Largest stored attribute value (longer ones are cut)"
    ),
    Option("queue-size", positive_int, "100000", "Rows buffered per signal before refusing"),
    Option(
        "queue-memory",
        parse_size,
        "32MiB",
        "Estimated memory of accepted, uncommitted rows per signal before refusing (shared by the workers)",
    ),
    Option(
        "batch-size",
        positive_int,
        "5000",
        "Rows a writer gathers into one transaction (a request is never split across transactions)",
    ),
    Option(
        "flush-interval",
        parse_duration,
        "0ms",
        "Longest a free writer waits to fill a batch while another commits (0: it takes what is queued)",
    ),
    Option(
        "writers",
        positive_int,
        "2",
        "Writer tasks (database connections) per signal, shared by the workers (at least one each)",
    ),
    Option(
        "max-recv-msg-size",
        grpc_message_size,
        "64MiB",
        "Largest accepted request, after decompression (Content-Encoding gzip, deflate or zstd)",
    ),
    Option(
        "grpc-max-concurrent-streams",
        grpc_stream_count,
        "100",
        "Requests one gRPC connection may have in flight at once; the client queues the others",
    ),
    Option(
        "max-connection-age",
        connection_age,
        "5m",
        "gRPC connections are closed (GOAWAY) at this age, so clients reconnect and spread over "
        "replicas; 0: never",
    ),
    Option(
        "max-connection-age-grace",
        connection_age,
        "30s",
        "Time the calls in flight on a connection closed for its age get to finish",
    ),
    Option(
        "ack-timeout",
        parse_duration,
        "10s",
        "Longest an Export waits for its commit before answering UNAVAILABLE",
    ),
    Option("shutdown-timeout", parse_duration, "30s", "Time to drain queues on SIGTERM"),
    Option("log-level", choice("debug", "info", "warning", "error"), "info", "Log level"),
    Option("log-format", choice("json", "logfmt"), "logfmt", "Log line format"),
)
OPTIONS_BY_ATTRIBUTE = {option.attribute: option for option in OPTIONS}


@dataclass(frozen=True)
class Settings:
    database_url: str | None
    data_dir: Path
    grpc_listen: ListenAddress
    http_listen: ListenAddress
    metrics_listen: ListenAddress
    tls_cert_file: Path | None
    tls_key_file: Path | None
    tls_client_ca_file: Path | None
    migrate: bool
    workers: int
    auth: str
    llm_content: str
    llm_content_max_bytes: int
    max_attribute_bytes: int
    queue_size: int
    queue_memory: int
    batch_size: int
    flush_interval: float
    writers: int
    max_recv_msg_size: int
    grpc_max_concurrent_streams: int
    max_connection_age: float
    max_connection_age_grace: float
    ack_timeout: float
    shutdown_timeout: float
    log_level: str
    log_format: str
    config_file: Path | None = field(default=None)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def tls(self) -> TlsFiles | None:
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return TlsFiles(self.tls_cert_file, self.tls_key_file, self.tls_client_ca_file)

    def masked(self) -> dict[str, str]:
        """The effective configuration as text, with secrets masked."""
        shown: dict[str, str] = {}
        for option in OPTIONS:
            value = getattr(self, option.attribute)
            shown[option.name] = mask_dsn(value) if option.secret and value else str(value)
        return shown


def mask_dsn(dsn: str) -> str:
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(
    flags: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
) -> Settings:
    """Build Settings; raise ConfigError naming the option on the first invalid value."""
    environ = os.environ if environ is None else environ
    file_values = read_toml(config_file) if config_file else {}
    unknown = set(file_values) - set(OPTIONS_BY_ATTRIBUTE)
    if unknown:
        raise ConfigError(f"{config_file}: unknown option {sorted(unknown)[0]!r}")
    values: dict[str, Any] = {}
    for option in OPTIONS:
        source, raw = pick_source(option, flags, environ, file_values)
        if raw is None:
            values[option.attribute] = None
            continue
        try:
            values[option.attribute] = option.parse(raw)
        except ValueError as error:
            raise ConfigError(f"invalid {source} for --{option.name}: {error}") from None
    if values["data_dir"] is None:
        values["data_dir"] = default_data_dir()
    settings = Settings(config_file=config_file, **values)
    check_consistency(settings)
    return settings


def pick_source(
    option: Option, flags: Mapping[str, Any], environ: Mapping[str, str], file_values: Mapping[str, Any]
) -> tuple[str, Any]:
    if flags.get(option.attribute) is not None:
        return "flag", flags[option.attribute]
    if option.env_name in environ:
        return f"environment variable {option.env_name}", environ[option.env_name]
    if option.attribute == "database_url" and "DATABASE_URL" in environ:
        return "environment variable DATABASE_URL", environ["DATABASE_URL"]
    if option.attribute in file_values:
        return "config file value", toml_text(file_values[option.attribute])
    return "default", option.default


def toml_text(value: Any) -> str:
    """TOML values as the text a flag would carry, so one parser serves every source."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as error:
        raise ConfigError(f"--config {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"--config {path}: {error}") from None
    return {key.replace("-", "_"): value for key, value in data.items()}


def check_consistency(settings: Settings) -> None:
    if (settings.tls_cert_file is None) != (settings.tls_key_file is None):
        raise ConfigError("invalid --tls-cert-file/--tls-key-file: give both or neither")
    if settings.tls_client_ca_file and not settings.tls_cert_file:
        raise ConfigError("invalid --tls-client-ca-file: needs --tls-cert-file and --tls-key-file")
    for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file"):
        path = getattr(settings, name)
        if path is not None and not path.is_file():
            raise ConfigError(f"invalid --{name.replace('_', '-')}: no such file {str(path)!r}")
    if settings.batch_size > settings.queue_size:
        raise ConfigError(
            f"invalid --batch-size: {settings.batch_size} exceeds --queue-size {settings.queue_size}"
        )
    if 0 < settings.max_connection_age < 1:
        age = settings.max_connection_age
        raise ConfigError(f"invalid --max-connection-age: must be 0 (never) or at least 1s, got {age:g}s")
    if settings.max_connection_age and settings.max_connection_age_grace < settings.ack_timeout:
        # An Export waits up to --ack-timeout for its commit; a shorter grace would cut it off.
        raise ConfigError(
            f"invalid --max-connection-age-grace: {settings.max_connection_age_grace:g}s is shorter than "
            f"--ack-timeout {settings.ack_timeout:g}s"
        )
    if settings.database_url is not None and not settings.database_url.startswith(
        ("postgres://", "postgresql://")
    ):
        raise ConfigError("invalid --database-url: must start with postgresql:// or postgres://")
