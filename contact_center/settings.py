"""Settings: one TOML file overridden by ``CC_*`` environment variables.

``config/contact-center.toml`` documents every key with its default. Any key can
be overridden as ``CC_<SECTION>_<KEY>`` (``CC_DATABASE_URL``, ``CC_REDIS_URL``,
``CC_SERVER_PORT`` ...). ``CC_AMI_HOST`` / ``_PORT`` / ``_USERNAME`` / ``_SECRET``
/ ``_NAME`` describe one Asterisk server (added if the file lists none, else
replacing the first). Invalid settings raise :class:`SettingsError` naming the key.

Relative paths (the default settings file, a relative SQLite database) are resolved
against one home directory, never the current one, so the server, the demo and every
CLI command find the same database wherever they are started (:func:`project_home`).
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from contact_center.errors import AppError

log = logging.getLogger(__name__)

DEFAULT_CONFIG_PATH = Path("config/contact-center.toml")
# Environment variables of the project that are not settings (tools, tests, builds).
NOT_SETTINGS = frozenset(
    {"CC_CONFIG", "CC_HOME", "CC_ROUTING_PURE", "CC_PURE_PYTHON", "CC_REQUIRE_SERVICES"}
)


class SettingsError(AppError):
    error_id = "invalid-settings"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    node_id: str = ""
    # serve and demo collect garbage at this interval, not automatically (see
    # contact_center/collection.py).
    gc_interval_seconds: float = Field(60.0, ge=1.0, le=86_400.0)


class DatabaseSettings(_Section):
    url: str = "sqlite+aiosqlite:///var/contact-center.db"
    pool_size: int = Field(10, ge=1, le=500)
    echo: bool = False

    @field_validator("url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
                f"(got {value.split('://')[0]!r})"
            )
        return value


class RedisSettings(_Section):
    # Empty: in-process state and event bus (single node).
    url: str = ""
    max_connections: int = Field(50, ge=1, le=10_000)
    # Names this deployment's keys and channel in Redis ("cc:<namespace>:..."), so
    # deployments sharing one Redis never see each other's state. Empty: derived from
    # the database (contact_center/deployment.py), the same on every node using it.
    namespace: str = Field("", max_length=64, pattern=r"^[A-Za-z0-9_.-]*$")

    @field_validator("url")
    @classmethod
    def _redis_scheme(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be empty or start with redis://, rediss:// or unix://")
        return value


class PhoneSettings(_Section):
    # Region used to read numbers written without a country code ("020 7946 0018").
    default_region: str = "US"

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        import phonenumbers

        if value.upper() not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(f"unknown region {value!r} (use an ISO 3166 code such as GB, US, CN)")
        return value.upper()


MAX_TOKEN_DAYS = 365


class SecuritySettings(_Section):
    session_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    login_max_attempts: int = Field(5, ge=1, le=1000)
    login_window_seconds: int = Field(300, ge=1, le=86_400)
    cookie_secure: bool = False
    # API tokens stop working this many days after they are issued. Bounded: a token
    # that outlives the people and scripts that know of it is a standing key.
    token_days: int = Field(90, ge=1, le=MAX_TOKEN_DAYS)
    # Customer searches per user within the window, and customer profiles those
    # searches may show (429 beyond either). An agent looks up a customer or two per
    # contact; a script walking the customer base by name prefix, page by page, is
    # slowed to this pace, and every search it made is in the audit log.
    search_max_per_window: int = Field(30, ge=1, le=10_000)
    search_max_results_per_window: int = Field(200, ge=1, le=100_000)
    search_window_seconds: int = Field(300, ge=1, le=86_400)


class ConsoleSettings(_Section):
    """The live hub of the consoles (agent_ui/hub, docs/hub.md)."""

    # A ready agent with no live console anywhere for this long goes not ready with the
    # reason "disconnected" (their ringing offers go back to the queue). A reload or a
    # short network drop within it changes nothing.
    disconnect_grace_seconds: float = Field(60.0, ge=5.0, le=86_400.0)
    # Websocket ping interval: a console that does not answer a ping within it is closed.
    heartbeat_seconds: float = Field(20.0, ge=1.0, le=300.0)
    # Messages kept per user (on each node) for a reconnecting tab to resume from.
    resume_messages: int = Field(256, ge=16, le=100_000)
    # Messages queued for one tab; a tab further behind is dropped (it resumes).
    send_queue_messages: int = Field(256, ge=8, le=100_000)


class TierRule(_Section):
    name: str = Field(min_length=1, max_length=40)
    min_spend: float = Field(0, ge=0)
    min_orders: int = Field(0, ge=0)


class ValueSettings(_Section):
    """Customer value (RFM) rules: tier from orders over a window, churn tier over tier."""

    window_days: int = Field(365, ge=1, le=3650)
    # A customer whose last order is older than this cannot hold a tier above the lowest.
    max_recency_days: int = Field(365, ge=1, le=3650)
    repeat_contact_days: int = Field(7, ge=1, le=365)
    screen_pop_interactions: int = Field(20, ge=1, le=200)
    # Highest tier first; the last one should have zero thresholds (everyone qualifies).
    tiers: tuple[TierRule, ...] = (
        TierRule(name="platinum", min_spend=10_000, min_orders=5),
        TierRule(name="gold", min_spend=2_500, min_orders=3),
        TierRule(name="silver", min_spend=500, min_orders=1),
        TierRule(name="standard", min_spend=0, min_orders=0),
    )

    @field_validator("tiers")
    @classmethod
    def _tiers_ordered(cls, value: tuple[TierRule, ...]) -> tuple[TierRule, ...]:
        if not value:
            raise ValueError("at least one tier is needed")
        names = [t.name for t in value]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        spends = [t.min_spend for t in value]
        if spends != sorted(spends, reverse=True):
            raise ValueError("tiers must be listed highest first (min_spend descending)")
        return value


class AsteriskServer(_Section):
    name: str = Field("asterisk", min_length=1, max_length=64)
    host: str = "127.0.0.1"
    port: int = Field(5038, ge=1, le=65535)
    username: str = "cc"
    secret: str = ""
    # Use the MD5 challenge login instead of a plain secret.
    md5_auth: bool = False


class AsteriskSettings(_Section):
    # Empty list: no real Asterisk; the demo runs a simulated PBX.
    servers: tuple[AsteriskServer, ...] = ()
    ping_interval_seconds: float = Field(20.0, gt=0, le=3600)
    reconnect_max_seconds: float = Field(30.0, gt=0, le=3600)
    # An agent's phone must stay unreachable this long before they are taken out of
    # routing (not ready, "phone-unreachable"); 0: at once.
    phone_unreachable_grace_seconds: float = Field(5.0, ge=0, le=3600)
    # Safety net: at most this many offers (Redirects to an agent) per caller within a
    # minute; past it the caller waits at its place until the minute is over. 0: no limit.
    max_offers_per_call_per_minute: int = Field(10, ge=0, le=1000)
    # A caller the router cannot take (its queue does not exist...) goes to this queue;
    # failing that, to this dialplan context and extension; failing that, it is hung up
    # with this cause. Empty queue or context: that step is skipped.
    unroutable_queue: str = Field("", max_length=64)
    unroutable_context: str = Field("cc-unroutable", max_length=80)
    unroutable_exten: str = Field("s", min_length=1, max_length=80)
    unroutable_hangup_cause: int = Field(21, ge=1, le=127)
    # Ceiling of live channels tracked per server (bounds the CTI's memory whatever
    # arrives over AMI); channels past it are not tracked and their callers go to the
    # unroutable fallback. About 1 KB per channel. docs/cti.md "Bounded state".
    max_tracked_channels: int = Field(20_000, ge=10, le=1_000_000)
    # Where Asterisk writes call recordings (MixMonitor), on the Asterisk host.
    recording_dir: str = Field(
        "/var/spool/asterisk/monitor", min_length=1, max_length=255, pattern=r"^/[^\r\n]*$"
    )
    # The fast path (docs/cti.md): the dialplan asks over FastAGI which phone to dial for a
    # caller who enters while an agent is free. 0: off (every caller waits on hold and is
    # Redirected). The dialplan's CC_FASTAGI must name this host and port.
    fastagi_port: int = Field(4573, ge=0, le=65535)
    fastagi_host: str = Field("127.0.0.1", min_length=1, max_length=255)
    # Peers allowed to ask (the Asterisk servers), as addresses or networks.
    fastagi_permit: tuple[str, ...] = ("127.0.0.1/32", "::1/128")
    # How long a FastAGI request waits for the router's decision before the caller goes
    # to hold (and is routed by Redirect).
    fastagi_decision_seconds: float = Field(0.5, gt=0, le=10)

    @model_validator(mode="after")
    def _unique_names(self) -> AsteriskSettings:
        names = [s.name for s in self.servers]
        if len(set(names)) != len(names):
            raise ValueError("asterisk server names must be unique")
        return self


class LoggingSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    @property
    def level_number(self) -> int:
        return int(getattr(logging, self.level))


class Settings(_Section):
    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    redis: RedisSettings = RedisSettings()
    phone: PhoneSettings = PhoneSettings()
    security: SecuritySettings = SecuritySettings()
    console: ConsoleSettings = ConsoleSettings()
    value: ValueSettings = ValueSettings()
    asterisk: AsteriskSettings = AsteriskSettings()
    logging: LoggingSettings = LoggingSettings()
    # Free-form sections owned by other packages (e.g. [routing]) are validated there.
    routing: dict[str, Any] = Field(default_factory=dict)
    # [chat]: web chat sites, pre-chat forms, hours and limits (chat/settings.py).
    chat: dict[str, Any] = Field(default_factory=dict)
    # [email]: validated by email_channel.settings.
    email: dict[str, Any] = Field(default_factory=dict)

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some keys replaced, validated again (used by tests and the CLI)."""
        data = self.model_dump()
        for section, values in sections.items():
            data.setdefault(section, {}).update(values)
        return _validate(data)


_AMI_ENV = {
    "HOST": "host",
    "PORT": "port",
    "USERNAME": "username",
    "SECRET": "secret",
    "NAME": "name",
    "MD5_AUTH": "md5_auth",
}


def project_home(environ: Mapping[str, str] | None = None) -> Path:
    """The directory relative paths in the settings are resolved against.

    ``CC_HOME`` if set; else the source checkout the code runs from (it has
    ``pyproject.toml`` and ``config/``), so ``make demo`` and ``.venv/bin/contact-center``
    share ``<checkout>/var``; else the user's data directory (an installed package).
    """
    env = os.environ if environ is None else environ
    if env.get("CC_HOME"):
        return Path(env["CC_HOME"]).expanduser().resolve()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / DEFAULT_CONFIG_PATH).is_file():
        return checkout
    data_home = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home) / "contact-center"


def load_settings(
    path: Path | str | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Read the TOML file (``CC_CONFIG`` or the default path if it exists) and the environment."""
    env = os.environ if environ is None else environ
    home = project_home(env)
    data: dict[str, Any] = {}
    chosen = Path(path) if path is not None else Path(env.get("CC_CONFIG", DEFAULT_CONFIG_PATH))
    if path is None and "CC_CONFIG" not in env:
        chosen = home / DEFAULT_CONFIG_PATH
    if path is not None or "CC_CONFIG" in env or chosen.exists():
        try:
            data = tomllib.loads(chosen.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise SettingsError(f"settings file {chosen} does not exist") from None
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"settings file {chosen} is not valid TOML: {exc}") from None
    _apply_environment(data, env)
    settings = _validate(data)
    return settings.with_overrides(
        database={"url": absolute_sqlite_url(settings.database.url, home)}
    )


def absolute_sqlite_url(url: str, home: Path) -> str:
    """A SQLite URL whose relative file path is made absolute under ``home``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return url
    if Path(database).is_absolute():
        return url
    return parsed.set(database=str(home / database)).render_as_string(hide_password=False)


def _environment_keys() -> dict[str, set[str] | None]:
    """Each section and the keys an environment variable may set (None: any key)."""
    from routing.settings import RoutingSettings

    keys: dict[str, set[str] | None] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            keys[name] = set(model.model_fields)
        else:
            keys[name] = None
    keys["routing"] = set(RoutingSettings.model_fields)
    from email_channel.settings import EmailSettings

    keys["email"] = set(EmailSettings.model_fields)
    return keys


def _apply_environment(data: dict[str, Any], env: Mapping[str, str]) -> None:
    # Longest section names first, so a section whose name prefixes another's cannot
    # take its variables.
    sections = sorted(_environment_keys().items(), key=lambda item: -len(item[0]))
    ami: dict[str, str] = {}
    for key, value in env.items():
        if not key.startswith("CC_") or key in NOT_SETTINGS or key.startswith("CC_TEST_"):
            continue
        rest = key[3:]
        if rest.startswith("AMI_") and rest[4:] in _AMI_ENV:
            ami[_AMI_ENV[rest[4:]]] = value
            continue
        for section, known in sections:
            prefix = section.upper() + "_"
            if rest.startswith(prefix):
                field = rest[len(prefix) :].lower()
                if known is not None and field not in known:
                    # Not a setting (a tool's variable, or a typo): never read as one.
                    log.warning("ignored environment variable %s: not a setting", key)
                    break
                data.setdefault(section, {})[field] = value
                break
    if ami:
        servers = list(data.setdefault("asterisk", {}).get("servers", []))
        first = {**(servers[0] if servers else {}), **ami}
        data["asterisk"]["servers"] = [first, *servers[1:]]


def _validate(data: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"]) or "(top level)"
            msg = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                msg = "unknown setting"
            problems.append(f"{key}: {msg}")
        raise SettingsError("invalid settings: " + "; ".join(problems)) from None
