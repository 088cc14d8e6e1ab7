"""The [chat] settings: every key in the shipped file, mistakes named, pure rules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from chat.model import RateLimiter, identity_signature, is_open, render_canned, signature_valid
from chat.settings import (
    ChatSettings,
    HoursSettings,
    InvalidChatSettings,
    QueueChatSettings,
    SiteSettings,
    TopicSettings,
    parse_chat_settings,
)
from contact_center.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_given_the_shipped_file_then_every_chat_key_is_listed_and_defaults_hold(
    tmp_path: Path,
) -> None:
    text = (ROOT / "config" / "contact-center.toml").read_text()
    section = text.split("# [chat]", 1)[1]
    written = set(re.findall(r"^#\s*([a-z0-9_]+)\s*=", section, flags=re.MULTILINE))
    written |= set(re.findall(r"[{,]\s*([a-z0-9_]+)\s*=", section))
    written |= set(re.findall(r"^# \[chat\.queues\.\w+\.([a-z_]+)\]", section, flags=re.MULTILINE))
    models: tuple[type[BaseModel], ...] = (
        ChatSettings, SiteSettings, QueueChatSettings, TopicSettings, HoursSettings,
    )  # fmt: skip
    expected = {key for model in models for key in model.model_fields} - {"sites", "queues"}
    assert expected - written == set()
    loaded = load_settings(
        ROOT / "config" / "contact-center.toml", environ={"CC_HOME": str(tmp_path)}
    )
    assert parse_chat_settings(loaded.chat) == ChatSettings()


def test_given_mistakes_then_each_is_named() -> None:
    with pytest.raises(InvalidChatSettings) as caught:
        parse_chat_settings(
            {"max_frame_bytes": 10, "sites": {"default": {"allowed_origins": ["shop.example"]}}}
        )
    assert "max_frame_bytes" in caught.value.message and "allowed_origins" in caught.value.message
    with pytest.raises(InvalidChatSettings) as unknown:
        parse_chat_settings({"queues": {"nowhere": {}}}, routing_queues={"support": {}})
    assert unknown.value.details == {"queues": ["nowhere"]}
    with pytest.raises(InvalidChatSettings):
        parse_chat_settings({"queues": {"support": {"hours": {"mon": ["18:00-09:00"]}}}})


def test_given_business_hours_then_open_only_inside_them() -> None:
    hours = HoursSettings(timezone="Europe/Paris", mon=("09:00-12:00", "14:00-18:00"))
    monday_10_paris = 1_765_184_400.0  # 2025-12-08 09:00 UTC = 10:00 in Paris
    assert is_open(hours, monday_10_paris)
    assert not is_open(hours, monday_10_paris + 3 * 3600)  # 13:00, lunch
    assert not is_open(hours, monday_10_paris + 86_400)  # Tuesday: not listed
    assert is_open(None, monday_10_paris)


def test_given_signatures_then_only_the_sites_own_is_valid() -> None:
    good = identity_signature("k", "user-1")
    assert signature_valid("k", "user-1", good)
    assert signature_valid("k", "user-1", good.upper())
    assert not signature_valid("k", "user-2", good)
    assert not signature_valid("", "user-1", identity_signature("", "user-1"))  # no secret: none
    assert not signature_valid("k", "user-1", "")


def test_given_a_bucket_then_bursts_are_bounded_and_refill_with_time() -> None:
    limiter = RateLimiter(3, 60.0)
    assert [limiter.take("v", 0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.take("v", 0.0) == pytest.approx(20.0)
    assert limiter.take("v", 20.0) == 0.0
    assert limiter.take("other", 0.0) == 0.0


def test_given_placeholders_then_known_ones_are_filled_and_others_kept() -> None:
    values = {"customer.first_name": "Ada", "agent.name": "Alice Smith"}
    assert render_canned("Hi {customer.first_name}, {agent.name} {unknown}", values) == (
        "Hi Ada, Alice Smith {unknown}"
    )
