"""The email channel's pure parts: reply tokens, the loop rule, due times, charsets,
HTML for display, safe names and quoted text."""

from __future__ import annotations

import datetime as dt
from email.header import Header

import pytest

from email_channel.due import due_at
from email_channel.loops import OutgoingKind, automatic_reason, outbound_refusal
from email_channel.parsing import Limits, display_html, parse_message, safe_filename
from email_channel.settings import BusinessHours, EmailSettingsError, parse_email_settings
from email_channel.tokens import ReplyTokens

TOKENS = ReplyTokens("k" * 40, "cc.example.com")
OWN = frozenset({"support@example.com"})


def test_given_a_token_then_only_its_own_hmac_opens_the_thread() -> None:
    address = TOKENS.reply_address("support@example.com", 42)
    assert TOKENS.thread_of_address(address, OWN) == 42
    assert TOKENS.thread_of_address(address.upper(), OWN) == 42  # lower-cased by a server
    local, _, domain = address.partition("@")
    assert TOKENS.thread_of_address(local.replace("42-", "43-") + "@" + domain, OWN) is None
    assert TOKENS.thread_of_address(address.replace("example.com", "evil.com"), OWN) is None
    other = ReplyTokens("x" * 40, "cc.example.com")
    assert other.thread_of_address(address, OWN) is None
    message_id = TOKENS.message_id(42)
    assert message_id.endswith("@cc.example.com>")
    assert TOKENS.thread_of_message_id(message_id) == 42
    assert other.thread_of_message_id(message_id) is None
    assert TOKENS.thread_of_message_id("<cc.42-aaaaaaaaaaaaaaaaaaaa.abcdefgh@x>") is None


@pytest.mark.parametrize(
    ("headers", "sender", "return_path", "subject", "expected"),
    [
        ({"auto-submitted": ["auto-replied"]}, "a@x", None, "Hi", "auto-submitted"),
        ({"auto-submitted": ["no"]}, "a@x", None, "Hi", None),
        ({"x-autoreply": ["yes"]}, "a@x", None, "Hi", "x-autoreply"),
        ({"x-autorespond": ["1"]}, "a@x", None, "Hi", "x-autorespond"),
        ({"precedence": ["Bulk"]}, "a@x", None, "Hi", "precedence-bulk"),
        ({"precedence": ["junk"]}, "a@x", None, "Hi", "precedence-junk"),
        ({"precedence": ["list"]}, "a@x", None, "Hi", "precedence-list"),
        ({"x-loop": ["support@example.com"]}, "a@x", None, "Hi", "x-loop"),
        ({"x-auto-response-suppress": ["OOF, AutoReply"]}, "a@x", None, "Hi",
         "x-auto-response-suppress"),
        ({}, "a@x", "<>", "Hi", "null-return-path"),
        ({}, "MAILER-DAEMON@mx.example", None, "Hi", "system-sender"),
        ({}, "postmaster@example.com", None, "Hi", "system-sender"),
        ({}, "a@x", None, "Out of Office: back Monday", "out-of-office"),
        ({}, "a@x", None, "Automatic reply: Hello", "out-of-office"),
        ({}, "a@x", None, "自动回复: 你好", "out-of-office"),
        ({}, "a@x", None, "Re: Order 1234", None),
    ],
)  # fmt: skip
def test_given_mail_headers_then_automatic_mail_is_recognised(
    headers: dict[str, list[str]], sender: str, return_path: str | None, subject: str,
    expected: str | None,
) -> None:  # fmt: skip
    found = automatic_reason(
        headers, sender=sender, return_path=return_path, content_type="text/plain",
        report_type=None, subject=subject,
    )  # fmt: skip
    assert found == expected


def test_given_a_delivery_report_then_it_is_automatic() -> None:
    found = automatic_reason({}, sender="a@x", return_path=None, content_type="multipart/report",
                             report_type="delivery-status", subject="Undelivered")  # fmt: skip
    assert found == "report-delivery-status"


def test_given_the_loop_rule_then_automatic_mail_never_answers_automatic_mail() -> None:
    def refusal(kind: OutgoingKind, to: list[str], automatic: str | None = None,
                recent: int = 0) -> str | None:  # fmt: skip
        return outbound_refusal(kind, to, own_addresses=OWN, answering_automatic=automatic,
                                sent_recently=recent, per_hour_limit=3)  # fmt: skip

    ack = OutgoingKind.ACKNOWLEDGEMENT
    assert refusal(ack, ["ada@example.org"]) is None
    assert refusal(ack, ["ada@example.org"], "auto-submitted") == "answers-automatic-mail"
    assert refusal(ack, ["mailer-daemon@example.org"]) == "system-recipient"
    assert refusal(ack, ["ada@example.org"], recent=3) == "rate-limited"
    assert refusal(ack, ["support+5-abc@example.com"]) == "own-address"
    reply = OutgoingKind.AGENT_REPLY
    assert refusal(reply, ["ada@example.org"], "auto-submitted", recent=9) is None
    assert refusal(reply, ["Support@Example.com"]) == "own-address"
    assert refusal(reply, [""]) == "no-recipient"


def test_given_business_hours_then_the_due_time_skips_nights_and_weekends() -> None:
    hours = BusinessHours(start="09:00", end="17:00", days=(1, 2, 3, 4, 5), timezone="UTC")
    friday_4pm = dt.datetime(2026, 12, 4, 16, 0, tzinfo=dt.UTC).timestamp()
    due = dt.datetime.fromtimestamp(due_at(friday_4pm, 4, hours), dt.UTC)
    assert due == dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)  # Monday noon
    saturday = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC).timestamp()
    due = dt.datetime.fromtimestamp(due_at(saturday, 1, hours), dt.UTC)
    assert due == dt.datetime(2026, 12, 7, 10, 0, tzinfo=dt.UTC)
    shanghai = BusinessHours(timezone="Asia/Shanghai")
    monday_8am_local = dt.datetime(2026, 12, 7, 0, 0, tzinfo=dt.UTC).timestamp()  # 08:00 CST
    assert due_at(monday_8am_local, 2, shanghai) == monday_8am_local + 3 * 3600


@pytest.mark.parametrize("charset", ["utf-8", "gb2312", "gbk", "gb18030", "big5", "iso-2022-jp"])
def test_given_a_charset_of_our_users_then_subject_name_and_body_are_read(charset: str) -> None:
    text = {"big5": "您好訂單", "iso-2022-jp": "こんにちは注文"}.get(charset, "您好订单")
    subject = Header(text, charset).encode()
    name = Header("王小明" if charset != "iso-2022-jp" else "山田", charset).encode()
    raw = (
        (
            f"From: {name} <wang@example.cn>\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Content-Type: text/plain; charset={charset}\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n"
        ).encode()
        + text.encode(charset)
        + b"\r\n"
    )
    parsed = parse_message(raw, Limits())
    assert parsed.subject == text
    assert parsed.from_name in ("王小明", "山田")
    assert parsed.text.strip() == text


def test_given_gbk_text_labelled_gb2312_then_it_is_read_as_gb18030() -> None:
    text = "镕"  # in GBK, not in GB2312
    raw = (
        b"From: a@example.cn\r\nTo: support@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=gb2312\r\n\r\n" + text.encode("gbk") + b"\r\n"
    )
    assert parse_message(raw, Limits()).text.strip() == text


def test_given_html_then_remote_images_are_blocked_until_allowed() -> None:
    html = '<p>Hi<img src="https://track.example/p.gif"><img src="cid:logo@x"></p>'
    shown, remote = display_html(html, allow_remote_images=False, cid_url=lambda c: f"/a/{c}")
    assert remote and "track.example" not in shown and 'src="/a/logo@x"' in shown
    shown, _ = display_html(html, allow_remote_images=True, cid_url=lambda c: None)
    assert "https://track.example/p.gif" in shown


def test_given_hostile_attachment_names_then_they_are_made_safe() -> None:
    assert safe_filename("../../etc/passwd", 1, "x") == "passwd"
    assert safe_filename("..\\..\\cmd.exe", 1, "x") == "cmd.exe"
    assert safe_filename(".htaccess", 1, "x") == "htaccess"
    assert safe_filename("", 3, "text/plain") == "attachment-3.txt"
    assert safe_filename("a\x00b<>.txt", 1, "x") == "a_b_.txt"
    assert len(safe_filename("x" * 500 + ".pdf", 1, "x")) == 150


def test_given_a_reply_then_the_quoted_part_is_marked() -> None:
    raw = (
        b"From: a@example.org\r\nTo: support@example.com\r\nSubject: Re: x\r\n\r\n"
        b"Thanks!\r\n\r\nOn Mon, 7 Dec 2026, Support <support@example.com> wrote:\r\n> Hello\r\n"
    )
    parsed = parse_message(raw, Limits())
    assert parsed.quoted_at is not None
    assert parsed.text[: parsed.quoted_at].strip() == "Thanks!"


def test_given_settings_without_a_secret_when_enabled_then_they_are_refused() -> None:
    with pytest.raises(EmailSettingsError, match="secret"):
        parse_email_settings({"enabled": True, "addresses": {"a@example.com": "support"}})
    with pytest.raises(EmailSettingsError, match=r"email\.addresses"):
        parse_email_settings({"addresses": {"a+b@example.com": "support"}})
