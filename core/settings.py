"""Settings read once from the environment (``GOVSHARE_*``)."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from .errors import ConfigurationError

DEFAULT_TOPOLOGY = Path(__file__).resolve().parent.parent / "federation" / "topology.toml"


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a number, got {raw!r}") from exc


def _positive_int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}") from exc
    if value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _positive(env: dict[str, str], name: str, default: float) -> float:
    """A finite number of seconds (or a count) above zero: 0, negatives, nan and inf are refused."""
    value = _float(env, name, default)
    if not math.isfinite(value) or value <= 0:
        raise ConfigurationError(f"{name} must be a positive number, got {env.get(name)!r}")
    return value


def _count(env: dict[str, str], name: str) -> int:
    """A whole number, 0 or more (0 switches the feature off); absent means 0."""
    raw = env.get(name) or "0"
    if not raw.isdigit():
        raise ConfigurationError(f"{name} must be a whole number (0 for none), got {raw!r}")
    return int(raw)


def _choice(env: dict[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or choices[0]
    if value not in choices:
        raise ConfigurationError(f"{name} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _origins(env: dict[str, str]) -> tuple[str, ...]:
    """GOVSHARE_CORS_ORIGINS: space-separated origins, each scheme://host[:port] with nothing after."""
    origins = []
    for origin in env.get("GOVSHARE_CORS_ORIGINS", "").split():
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path or parts.query \
                or parts.fragment or origin == "*":
            raise ConfigurationError(f"GOVSHARE_CORS_ORIGINS: {origin!r} is not an origin like "
                                     "https://dashboard.example (scheme, host, optional port; no '*')")
        origins.append(origin)
    return tuple(origins)


def _dsns(env: dict[str, str]) -> dict[str, str]:
    """GOVSHARE_DSN_<code> values, each checked to be a PostgreSQL URI with a usable port."""
    dsns: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith("GOVSHARE_DSN_") or not value:
            continue
        code = key.removeprefix("GOVSHARE_DSN_")
        dsns[code] = check_dsn(key, code, value)
    return dsns


def check_dsn(setting: str, code: str, value: str) -> str:
    """``value`` when it is a PostgreSQL URI with a usable port; else one line naming setting and node."""
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError when out of range or not a number
    except ValueError as exc:
        raise ConfigurationError(f"{setting} (node {code}) is not a valid DSN: {exc}") from exc
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigurationError(f"{setting} (node {code}) must be a postgresql:// URI, got {_redacted(value)!r}")
    if port is not None and not 1 <= port <= 65535:
        raise ConfigurationError(f"{setting} (node {code}): port {port} is outside 1-65535")
    return value


def _redacted(dsn: str) -> str:
    """A DSN as it may appear in an error message: never its password."""
    scheme, sep, rest = dsn.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rpartition("@")[2]
    return scheme + sep + rest


@dataclass(frozen=True)
class Settings:
    topology_path: Path = DEFAULT_TOPOLOGY
    # node code -> DSN; a node without a DSN (and not hosted) makes the service use embedded PostgreSQL
    dsns: dict[str, str] = field(default_factory=dict)
    data_dir: Path = Path(".govshare")
    host: str = "127.0.0.1"
    port: int = 8000
    node_timeout: float = 2.0
    pool_min_size: int = 1
    pool_max_size: int = 10
    # Demo key: symmetric HS256 signing, accepted only when explicitly enabled (never in production).
    demo_jwt_secret: str | None = None
    jwt_public_key_files: tuple[Path, ...] = ()
    jwt_issuer: str = "govshare"
    jwt_audience: str = "govshare"
    verify_per_minute: int = 30
    # Bounded work per request (README "Limits"): each refused with a LIMIT_EXCEEDED error.
    max_body_bytes: int = 256 * 1024
    max_list_length: int = 1000
    max_string_length: int = 1000
    max_variables: int = 50
    # JWKS sources (files or operator-configured https URLs) and how long a fetched key set is trusted.
    jwks_sources: tuple[str, ...] = ()
    jwks_refresh_seconds: float = 300.0
    # Whole-request deadline (each node also has node_timeout of its own waiting time).
    request_timeout: float = 5.0
    # Admission control per process: requests executing at once, requests waiting, and how long they wait.
    max_in_flight: int = 8
    max_queue: int = 256
    queue_timeout: float = 5.0
    # Working days of years chinese-calendar does not cover, and local rest days (policies/workdays.py).
    workdays_file: Path | None = None
    # Audit chain HMAC key (never stored in a database); None: `<data_dir>/audit-key`, created if missing.
    audit_key_file: Path | None = None
    # Append-only local file of audit checkpoints; None: `<data_dir>/audit-checkpoints.jsonl`.
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_seconds: float = 60.0
    # Browser origins (dashboards) allowed to call /graphql across origins; none by default.
    cors_origins: tuple[str, ...] = ()
    # "json" (one object per line) or "text"
    log_format: str = "json"
    # GraphQL requests per department per minute, shared by every process (0: no budget)
    query_budget_per_minute: int = 0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        dsns = _dsns(env)
        node_timeout = _positive(env, "GOVSHARE_NODE_TIMEOUT", 2.0)
        request_timeout = _positive(env, "GOVSHARE_REQUEST_TIMEOUT", max(5.0, 2 * node_timeout))
        if request_timeout < node_timeout:
            raise ConfigurationError(f"GOVSHARE_REQUEST_TIMEOUT ({request_timeout:g}) must not be shorter than "
                                     f"GOVSHARE_NODE_TIMEOUT ({node_timeout:g})")
        keys = tuple(Path(p) for p in env.get("GOVSHARE_JWT_PUBLIC_KEYS", "").split(os.pathsep) if p)
        try:
            port = int(env.get("GOVSHARE_PORT", "8000"))
        except ValueError as exc:
            raise ConfigurationError("GOVSHARE_PORT must be an integer") from exc
        if not 1 <= port <= 65535:
            raise ConfigurationError(f"GOVSHARE_PORT must be between 1 and 65535, got {port}")
        return cls(
            topology_path=Path(env.get("GOVSHARE_TOPOLOGY", str(DEFAULT_TOPOLOGY))),
            dsns=dsns,
            data_dir=Path(env.get("GOVSHARE_DATA_DIR", ".govshare")),
            host=env.get("GOVSHARE_HOST", "127.0.0.1"),
            port=port,
            node_timeout=node_timeout,
            request_timeout=request_timeout,
            max_in_flight=_positive_int(env, "GOVSHARE_MAX_IN_FLIGHT", 8),
            max_queue=_positive_int(env, "GOVSHARE_MAX_QUEUE", 256),
            queue_timeout=_positive(env, "GOVSHARE_QUEUE_TIMEOUT", 5.0),
            demo_jwt_secret=env.get("GOVSHARE_DEMO_JWT_SECRET") or None,
            jwt_public_key_files=keys,
            jwt_issuer=env.get("GOVSHARE_JWT_ISSUER", "govshare"),
            jwt_audience=env.get("GOVSHARE_JWT_AUDIENCE", "govshare"),
            verify_per_minute=int(_float(env, "GOVSHARE_VERIFY_PER_MINUTE", 30)),
            max_body_bytes=_positive_int(env, "GOVSHARE_MAX_BODY_BYTES", 256 * 1024),
            max_list_length=_positive_int(env, "GOVSHARE_MAX_LIST_LENGTH", 1000),
            max_string_length=_positive_int(env, "GOVSHARE_MAX_STRING_LENGTH", 1000),
            max_variables=_positive_int(env, "GOVSHARE_MAX_VARIABLES", 50),
            jwks_sources=tuple(s for s in env.get("GOVSHARE_JWKS", "").split() if s),
            jwks_refresh_seconds=_float(env, "GOVSHARE_JWKS_REFRESH_SECONDS", 300.0),
            # connections per node database per process: size against max_connections (docs/DEPLOYMENT.md)
            pool_max_size=_positive_int(env, "GOVSHARE_POOL_SIZE", 10),
            workdays_file=Path(env["GOVSHARE_WORKDAYS_FILE"]) if env.get("GOVSHARE_WORKDAYS_FILE") else None,
            audit_key_file=Path(env["GOVSHARE_AUDIT_KEY_FILE"]) if env.get("GOVSHARE_AUDIT_KEY_FILE") else None,
            audit_checkpoint_file=Path(env["GOVSHARE_AUDIT_CHECKPOINT_FILE"])
            if env.get("GOVSHARE_AUDIT_CHECKPOINT_FILE") else None,
            audit_checkpoint_seconds=_float(env, "GOVSHARE_AUDIT_CHECKPOINT_SECONDS", 60.0),
            cors_origins=_origins(env),
            log_format=_choice(env, "GOVSHARE_LOG_FORMAT", ("json", "text")),
            query_budget_per_minute=_count(env, "GOVSHARE_QUERY_BUDGET_PER_MINUTE"),
        )
