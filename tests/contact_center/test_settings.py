"""Settings: the shipped TOML documents the defaults; env overrides; clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from contact_center.settings import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_file_matches_the_code_defaults() -> None:
    assert load_settings(ROOT / "config" / "contact-center.toml", environ={}) == Settings()


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
    assert settings.database.url == "sqlite+aiosqlite:///x.db"
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
        ({"CC_SERVER_COLOUR": "blue"}, "server.colour: unknown setting"),
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
