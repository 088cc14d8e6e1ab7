"""Settings: the shipped TOML documents the defaults; env overrides; clear errors."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from contact_center.settings import (
    AsteriskServer,
    Settings,
    SettingsError,
    TierRule,
    absolute_sqlite_url,
    load_settings,
    project_home,
)
from contact_center.store.engine import describe_database
from email_channel.settings import (
    BusinessHours,
    EmailSettings,
    ImapMailbox,
    QueueEmailSettings,
    RelaySettings,
    parse_email_settings,
)
from routing.settings import (
    AgentSettings,
    BlockSettings,
    DispositionSettings,
    MaxWaitSettings,
    OverflowSettings,
    ProfileSettings,
    QueueSettings,
    RoutingSettings,
    ServiceLevelSettings,
    StickySettings,
    parse_routing_settings,
)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_file_matches_the_code_defaults(tmp_path: Path) -> None:
    loaded = load_settings(
        ROOT / "config" / "contact-center.toml", environ={"CC_HOME": str(tmp_path)}
    )
    defaults = Settings()
    expected = defaults.with_overrides(
        database={"url": absolute_sqlite_url(defaults.database.url, tmp_path)}
    )
    assert loaded.model_copy(update={"routing": {}, "email": {}}) == expected
    # [email] ships example addresses and a support queue; every other key is the default.
    email = parse_email_settings(loaded.email).model_dump()
    email_defaults = EmailSettings().model_dump()
    assert {k for k in email if email[k] != email_defaults[k]} == {"addresses", "queues"}
    routing = parse_routing_settings(loaded.routing)
    defaults_of_routing = RoutingSettings()
    differing = {
        key
        for key in RoutingSettings.model_fields
        if getattr(routing, key) != getattr(defaults_of_routing, key)
    }
    # The only key set to other than its default: the queues of the shipped dialplan.
    assert differing == {"queues"}
    assert set(routing.queues) == {"support", "sales"}


def _keys_of(model: type[BaseModel]) -> set[str]:
    return set(model.model_fields)


def test_shipped_config_file_lists_every_key_of_every_section() -> None:
    text = (ROOT / "config" / "contact-center.toml").read_text()
    written = set(re.findall(r"^#?\s*([a-z0-9_]+)\s*=", text, flags=re.MULTILINE))
    # Inline tables and arrays of tables name their keys inside the braces.
    written |= set(re.findall(r"[{,]\s*([a-z0-9_]+)\s*=", text))
    written |= set(re.findall(r"^#?\s*\[\[?[a-z_]+\.([a-z_]+)[\].]", text, flags=re.MULTILINE))
    expected: set[str] = set()
    for field in Settings.model_fields.values():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            expected |= _keys_of(model)
    for model in (
        AsteriskServer, TierRule, RoutingSettings, QueueSettings, ProfileSettings,
        AgentSettings, BlockSettings, ServiceLevelSettings, StickySettings,
        OverflowSettings, MaxWaitSettings, DispositionSettings,
        EmailSettings, BusinessHours, QueueEmailSettings, RelaySettings, ImapMailbox,
    ):  # fmt: skip
        expected |= _keys_of(model)
    assert expected - written == set()


def test_given_no_home_when_run_from_a_checkout_then_paths_resolve_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # another working directory changes nothing
    assert project_home({}) == ROOT
    settings = load_settings(environ={})
    assert settings.database.url == f"sqlite+aiosqlite:///{ROOT / 'var' / 'contact-center.db'}"
    assert not (tmp_path / "var").exists()


def test_given_cc_home_then_the_default_file_and_database_live_there(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "contact-center.toml").write_text("[server]\nport = 9321\n")
    settings = load_settings(environ={"CC_HOME": str(tmp_path)})
    assert settings.server.port == 9321
    assert settings.database.url == f"sqlite+aiosqlite:///{tmp_path / 'var' / 'contact-center.db'}"
    assert (
        describe_database(settings.database.url)
        == f"SQLite {tmp_path / 'var' / 'contact-center.db'}"
    )


def test_absolute_and_server_urls_are_left_alone(tmp_path: Path) -> None:
    assert absolute_sqlite_url("sqlite+aiosqlite:////srv/cc.db", tmp_path) == (
        "sqlite+aiosqlite:////srv/cc.db"
    )
    assert absolute_sqlite_url("sqlite+aiosqlite://", tmp_path) == "sqlite+aiosqlite://"
    pg = "postgresql+asyncpg://cc:secret@db:5432/cc"
    assert absolute_sqlite_url(pg, tmp_path) == pg
    assert describe_database(pg) == "PostgreSQL postgresql+asyncpg://cc:***@db:5432/cc"


def test_environment_variables_that_are_not_settings_are_not_read_as_settings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = load_settings(
        environ={
            "CC_ROUTING_PURE": "1",
            "CC_REQUIRE_SERVICES": "1",
            "CC_TEST_REDIS_URL": "redis://x",
            "CC_SERVER_COLOUR": "blue",
            "CC_SERVER_PORT": "9001",
        }
    )
    assert settings.server.port == 9001
    assert "pure" not in settings.routing
    assert "ignored environment variable CC_SERVER_COLOUR" in caplog.text
    assert "CC_ROUTING_PURE" not in caplog.text


def test_environment_overrides_file_and_fills_an_asterisk_server(tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text('[server]\nport = 9000\n[database]\nurl = "sqlite+aiosqlite:///x.db"\n')
    settings = load_settings(
        config,
        environ={
            "CC_SERVER_PORT": "9100",
            "CC_REDIS_URL": "redis://127.0.0.1:6379/2",
            "CC_AMI_HOST": "10.0.0.5",
            "CC_AMI_SECRET": "s3cret",
            "CC_PHONE_DEFAULT_REGION": "gb",
        },
    )
    assert settings.server.port == 9100
    assert settings.database.url == f"sqlite+aiosqlite:///{ROOT / 'x.db'}"
    assert settings.redis.url == "redis://127.0.0.1:6379/2"
    assert settings.phone.default_region == "GB"
    assert [(s.host, s.secret) for s in settings.asterisk.servers] == [("10.0.0.5", "s3cret")]


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"CC_SERVER_PORT": "eighty"}, "server.port"),
        ({"CC_SERVER_PORT": "70000"}, "server.port"),
        ({"CC_DATABASE_URL": "mysql://x"}, "database.url"),
        ({"CC_REDIS_URL": "http://x"}, "redis.url"),
        ({"CC_PHONE_DEFAULT_REGION": "XX"}, "phone.default_region"),
        ({"CC_LOGGING_LEVEL": "LOUD"}, "logging.level"),
    ],
)
def test_invalid_settings_name_the_key(environ: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as err:
        load_settings(environ=environ | {"CC_CONFIG": str(ROOT / "config/contact-center.toml")})
    assert named in str(err.value)


def test_broken_toml_and_missing_file_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server\nport = 1")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_settings(bad, environ={})
    with pytest.raises(SettingsError, match="does not exist"):
        load_settings(tmp_path / "missing.toml", environ={})


def test_tiers_must_be_highest_first(tmp_path: Path) -> None:
    config = tmp_path / "cc.toml"
    config.write_text(
        '[[value.tiers]]\nname = "low"\nmin_spend = 0\n'
        '[[value.tiers]]\nname = "high"\nmin_spend = 100\n'
    )
    with pytest.raises(SettingsError, match=r"value\.tiers"):
        load_settings(config, environ={})
