"""Bounded MIME parsing: raw bytes in, a :class:`ParsedEmail` out, or :class:`ParseRefused`.

The standard library's ``email`` package (policy ``default``) parses; this module bounds
what it is given and reads what it returns defensively, because mail comes from anyone:

* limits checked on the raw bytes before parsing: size, number of header fields, number
  of multipart containers (each is a level the parser recurses into);
* every header is read from its raw value and decoded here, so a broken encoded word or
  undeclared 8-bit text gives replacement characters, never an exception; charsets are
  widened to their supersets (GB2312 and GBK as GB18030, Big5 as Big5-HKSCS), as senders
  label text with the narrow name and write the wide one;
* parts are walked with an explicit depth; deeper parts and parts beyond the limit are
  skipped (noted as defects), attachments are kept as sent (never decompressed) with a
  safe name and the type their content shows (puremagic);
* HTML is sanitised with nh3 once here; :func:`display_html` blocks remote images (and
  points ``cid:`` images at their attachment) when the thread is shown.

Nothing here does I/O or reads the clock.
"""

from __future__ import annotations

import dataclasses
import email.header
import email.utils
import hashlib
import re
from collections.abc import Callable, Mapping
from email import policy
from email.message import Message
from email.parser import BytesParser
from typing import Any

import nh3
import puremagic

_MSG_ID = re.compile(r"<[^<>\s]{1,250}>")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")
_ADDRESS = re.compile(r"^[^@\s<>()\[\],;:\"]{1,64}@[A-Za-z0-9.-]{1,253}$")
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f<>:"|?*\\/]+')
_BOUNDARY = re.compile(rb"boundary\s*=", re.IGNORECASE)
_PART_HEADER = re.compile(rb"^content-type\s*:", re.IGNORECASE | re.MULTILINE)
_QUOTE_START = re.compile(
    r"^(On .{1,300} wrote:\s*$|-{2,} ?Original Message ?-{2,}|_{10,}\s*$|"
    r"From: .{1,300}$|发件人[:\uff1a]|寄件者[:\uff1a]|在.{1,200}写道[:\uff1a]\s*$|>)",
    re.MULTILINE,
)
# Charsets senders name narrower than what they write: read with the superset.
_WIDER = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "iso-2022-jp": "iso2022_jp_2",
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "unknown-8bit": "utf-8",
    "x-unknown": "utf-8",
}
_HEADER_VALUE_LIMIT = 2000
_TEXT_DECLARED = ("text/plain", "text/html")
_ALLOWED_SCHEMES = {"http", "https", "mailto", "cid", "tel"}
_TAGS = set(nh3.ALLOWED_TAGS) | {"font", "center"}
_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(attrs) for tag, attrs in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": {"src", "alt", "width", "height", "title"},
    "font": {"color", "face", "size"},
    "td": {"colspan", "rowspan", "align", "valign", "width"},
    "th": {"colspan", "rowspan", "align", "valign", "width"},
    "table": {"width", "border", "cellpadding", "cellspacing", "align"},
    "a": {"href", "title"},
}


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 25 * 1024 * 1024
    max_headers: int = 500
    max_parts: int = 200
    max_depth: int = 20
    max_text_chars: int = 200_000


class ParseRefused(Exception):
    """The message cannot be taken in as it is: it is quarantined with this reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclasses.dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    declared_type: str
    detected_type: str | None
    size: int
    sha256: str
    content: bytes
    inline: bool
    content_id: str | None


@dataclasses.dataclass(frozen=True, slots=True)
class ParsedEmail:
    message_id: str | None
    in_reply_to: tuple[str, ...]
    references: tuple[str, ...]
    from_address: str | None
    from_name: str
    reply_to: tuple[str, ...]
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    sent_at: float | None
    text: str
    html: str | None
    quoted_at: int | None
    attachments: tuple[Attachment, ...]
    automatic: str | None
    defects: tuple[str, ...]
    # Lower-cased header names and their decoded values (what the loop rule reads).
    headers: Mapping[str, list[str]]

    @property
    def participants(self) -> tuple[str, ...]:
        """Every address the message names (sender, recipients), once each."""
        seen: dict[str, None] = {}
        for address in (self.from_address, *self.reply_to, *self.to, *self.cc):
            if address:
                seen.setdefault(address, None)
        return tuple(seen)


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Text in ``charset`` (widened), else UTF-8, else GB18030, else Latin-1: never raises."""
    name = (charset or "").strip().strip('"').lower()
    if name:
        try:
            return data.decode(_WIDER.get(name, name), errors="strict")
        except (LookupError, UnicodeDecodeError):
            try:
                return data.decode(_WIDER.get(name, name), errors="replace")
            except LookupError:
                pass
    for fallback in ("utf-8", "gb18030"):
        try:
            return data.decode(fallback)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


def decode_words(raw: str) -> str:
    """A header value with its encoded words decoded and undeclared 8-bit read: never raises."""
    if any("\udc80" <= ch <= "\udcff" for ch in raw):
        raw = decode_bytes(raw.encode("utf-8", "surrogateescape"), None)
    if "=?" not in raw:
        return raw
    try:
        pieces = email.header.decode_header(raw)
    except Exception:  # a broken encoded word: show it as written
        return raw
    out: list[str] = []
    for value, charset in pieces:
        out.append(decode_bytes(value, charset) if isinstance(value, bytes) else value)
    return "".join(out)


def clean_line(text: str, limit: int = 300) -> str:
    """One line of display text: control characters (CR, LF: header injection) as spaces."""
    return _CONTROL.sub(" ", text).strip()[:limit]


def _addresses(values: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """(display name, lower-cased address) pairs of well-formed addresses, and defects."""
    found: list[tuple[str, str]] = []
    defects: list[str] = []
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        return [], ["unreadable-address-header"]
    for name, address in pairs[:100]:
        address = address.strip().lower()
        if not address:
            continue
        if not _ADDRESS.match(address):
            defects.append("malformed-address")
            continue
        found.append((clean_line(decode_words(name), 200), address))
    return found, defects


def _msg_ids(values: list[str], limit: int) -> tuple[str, ...]:
    found: list[str] = []
    for value in values:
        found.extend(_MSG_ID.findall(value))
    return tuple(found[-limit:])


def precheck(raw: bytes, limits: Limits) -> None:
    """The checks made before the parser sees the bytes (bounded time and memory)."""
    if len(raw) > limits.max_bytes:
        raise ParseRefused(
            "too-large", f"message of {len(raw)} bytes is over the limit of {limits.max_bytes}"
        )
    end = raw.find(b"\n\n")
    crlf_end = raw.find(b"\r\n\r\n")
    if crlf_end != -1 and (end == -1 or crlf_end < end):
        end = crlf_end
    head = raw if end == -1 else raw[:end]
    fields = sum(1 for line in head.split(b"\n") if line and line[:1] not in (b" ", b"\t"))
    if fields > limits.max_headers:
        raise ParseRefused(
            "too-many-headers", f"{fields} header fields (limit {limits.max_headers})"
        )
    # The parser reads every part's headers (slowly, with policy default): count first.
    parts = max(len(_BOUNDARY.findall(raw)), len(_PART_HEADER.findall(raw)))
    if parts > limits.max_parts:
        raise ParseRefused("too-many-parts", f"{parts} MIME parts (limit {limits.max_parts})")


def parse_message(raw: bytes, limits: Limits, *, return_path: str | None = None) -> ParsedEmail:
    """``raw`` parsed within ``limits``; raises :class:`ParseRefused` for what cannot be
    taken in (too large, too many headers or parts, no usable sender)."""
    precheck(raw, limits)
    try:
        msg = BytesParser(policy=policy.default).parsebytes(raw)
    except Exception as exc:  # the parser is lenient; anything else is a refusal
        raise ParseRefused("unparseable", f"MIME parser failed: {type(exc).__name__}") from None
    headers: dict[str, list[str]] = {}
    for name, value in msg.raw_items():
        values = headers.setdefault(name.strip().lower()[:80], [])
        if len(values) < 50:
            values.append(decode_words(str(value))[:_HEADER_VALUE_LIMIT])
    defects: list[str] = []
    senders, found = _addresses(headers.get("from", [])[:1])
    defects += found
    if not senders:
        raise ParseRefused("no-sender", "no readable From address")
    from_name, from_address = senders[0]
    reply_to, found = _addresses(headers.get("reply-to", []))
    defects += found
    to, found = _addresses(headers.get("to", []))
    defects += found
    cc, found = _addresses(headers.get("cc", []))
    defects += found
    subject = clean_line(headers.get("subject", [""])[0], 300)
    sent_at: float | None = None
    if headers.get("date"):
        try:
            sent_at = email.utils.parsedate_to_datetime(headers["date"][0]).timestamp()
        except Exception:
            defects.append("bad-date")
    body = _Body(limits)
    try:
        body.walk(msg)
    except RecursionError:
        defects.append("too-deep")
    defects += body.defects
    text = body.text
    if not text and body.html_raw:
        text = nh3.clean(body.html_raw, tags=set())  # the HTML's text, for the timeline
    text = text[: limits.max_text_chars]
    html = _sanitise(body.html_raw) if body.html_raw else None
    content_type = msg.get_content_type()
    report_type = msg.get_param("report-type") if content_type == "multipart/report" else None
    if "return-path" in headers and return_path is None:
        return_path = headers["return-path"][0]
    from email_channel.loops import automatic_reason

    automatic = automatic_reason(
        headers,
        sender=from_address,
        return_path=return_path,
        content_type=content_type,
        report_type=str(report_type) if isinstance(report_type, str) else None,
        subject=subject,
    )
    message_ids = _msg_ids(headers.get("message-id", [])[:1], 1)
    return ParsedEmail(
        message_id=message_ids[0] if message_ids else None,
        in_reply_to=_msg_ids(headers.get("in-reply-to", []), 5),
        references=_msg_ids(headers.get("references", []), 50),
        from_address=from_address,
        from_name=from_name,
        reply_to=tuple(a for _, a in reply_to),
        to=tuple(a for _, a in to),
        cc=tuple(a for _, a in cc),
        subject=subject,
        sent_at=sent_at,
        text=text,
        html=html,
        quoted_at=quoted_start(text),
        attachments=tuple(body.attachments),
        automatic=automatic,
        defects=tuple(dict.fromkeys(defects)),
        headers=headers,
    )


class _Body:
    """Walks the MIME tree with an explicit stack: the first text and HTML bodies, and
    attachments, within the part and depth limits."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.text = ""
        self.html_raw = ""
        self.attachments: list[Attachment] = []
        self.defects: list[str] = []
        self.parts = 0

    def walk(self, root: Message) -> None:
        stack: list[tuple[Message, int]] = [(root, 0)]
        while stack:
            part, depth = stack.pop()
            self.parts += 1
            if self.parts > self.limits.max_parts:
                self.defects.append("too-many-parts")
                return
            try:
                content_type = part.get_content_type()
            except Exception:
                content_type = "application/octet-stream"
            if content_type.startswith("multipart/"):
                if depth >= self.limits.max_depth:
                    self.defects.append("too-deep")
                    continue
                children = part.get_payload()
                if isinstance(children, list):
                    stack.extend(
                        (child, depth + 1)
                        for child in reversed(children)
                        if isinstance(child, Message)
                    )
                continue
            self._leaf(part, content_type)

    def _leaf(self, part: Message, content_type: str) -> None:
        try:
            disposition = (part.get_content_disposition() or "").lower()
        except Exception:
            disposition = ""
        filename = _filename(part)
        if content_type in _TEXT_DECLARED and disposition != "attachment" and not filename:
            decoded = self._text(part)
            if content_type == "text/plain" and not self.text:
                self.text = decoded
                return
            if content_type == "text/html" and not self.html_raw:
                self.html_raw = decoded[: self.limits.max_text_chars * 2]
                return
        content = _payload_bytes(part)
        if content is None:
            self.defects.append("unreadable-part")
            return
        content_id = _MSG_ID.findall(str(part.get("content-id", "") or ""))
        self.attachments.append(
            Attachment(
                filename=safe_filename(filename, len(self.attachments) + 1, content_type),
                declared_type=content_type[:100],
                detected_type=detect_type(content),
                size=len(content),
                sha256=hashlib.sha256(content).hexdigest(),
                content=content,
                inline=disposition == "inline",
                content_id=content_id[0][1:-1] if content_id else None,
            )
        )

    def _text(self, part: Message) -> str:
        data = _payload_bytes(part)
        if data is None:
            self.defects.append("unreadable-text")
            return ""
        try:
            charset = part.get_content_charset()
        except Exception:
            charset = None
        return decode_bytes(data, charset)


def _payload_bytes(part: Message) -> bytes | None:
    try:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                return bytes(inner[0].as_bytes(policy=policy.default.clone(max_line_length=0)))
            return None
        data = part.get_payload(decode=True)
    except Exception:
        return None
    return data if isinstance(data, bytes) else b""


def _filename(part: Message) -> str:
    try:
        name = part.get_filename()
    except Exception:
        return "unnamed"
    return decode_words(name) if name else ""


def safe_filename(name: str, number: int, content_type: str) -> str:
    """A name safe on any disk and in a Content-Disposition: no directories (path
    traversal), no control or reserved characters, no leading dots, at most 150 chars."""
    base = re.split(r"[\\/]", name)[-1] if name else ""
    base = _UNSAFE_NAME.sub("_", base).strip(" ._")
    if not base:
        extension = {"text/plain": ".txt", "text/html": ".html", "message/rfc822": ".eml"}
        base = f"attachment-{number}{extension.get(content_type, '')}"
    if len(base) > 150:
        stem, dot, ext = base.rpartition(".")
        base = (stem[: 150 - len(ext) - 1] + "." + ext) if dot and len(ext) <= 10 else base[:150]
    return base


def detect_type(content: bytes) -> str | None:
    """The media type the content shows (magic numbers), never what the sender declared."""
    if not content:
        return None
    try:
        found = puremagic.from_string(content[:65536], mime=True)
    except Exception:  # puremagic.PureError: nothing recognised
        return None
    return str(found) or None


def quoted_start(text: str) -> int | None:
    """Where the quoted earlier message starts in ``text`` (folded in the console)."""
    match = _QUOTE_START.search(text)
    return match.start() if match is not None and match.start() > 0 else None


def _sanitise(html: str) -> str:
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def display_html(
    html: str, *, allow_remote_images: bool, cid_url: Callable[[str], str | None]
) -> tuple[str, bool]:
    """Stored (sanitised) HTML as shown: remote images removed unless allowed, ``cid:``
    images pointing at their attachment. Returns the HTML and whether it had remote images."""
    found_remote = False

    def attribute_filter(tag: str, attribute: str, value: str) -> str | None:
        nonlocal found_remote
        if tag == "img" and attribute == "src":
            lowered = value.strip().lower()
            if lowered.startswith("cid:"):
                return cid_url(value.strip()[4:])
            if lowered.startswith(("http:", "https:", "//")):
                found_remote = True
                return value if allow_remote_images else None
        return value

    cleaned = nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes=_ALLOWED_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=attribute_filter,
    )
    return cleaned, found_remote


def summary(parsed: ParsedEmail) -> dict[str, Any]:
    """A few facts for log lines and tests (no personal data)."""
    return {
        "attachments": len(parsed.attachments),
        "text_chars": len(parsed.text),
        "html": parsed.html is not None,
        "automatic": parsed.automatic,
        "defects": list(parsed.defects),
    }
