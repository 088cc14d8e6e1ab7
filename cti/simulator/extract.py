"""Cut the recorded Asterisk captures into the templates the simulated PBX replays.

Run ``python -m cti.simulator.extract tests/fixtures/ami > cti/simulator/recorded.py``
after adding or re-recording a capture. Each template is a slice of one capture
(``SOURCES``) with the call-specific values replaced by ``${token}`` markers:
channel names, uniqueids, extensions, caller ids, queue, bridge ids, timestamps
(as offsets from the start of the slice). A test regenerates the module from
the fixtures and fails if it differs, so the simulator cannot drift from the
real bytes.
"""

from __future__ import annotations

import dataclasses
import re
import sys
from pathlib import Path

from cti.protocol import AmiMessage, frame_all
from cti.tracker import endpoint_of


@dataclasses.dataclass(frozen=True, slots=True)
class Source:
    capture: str
    first: int  # message index (the banner is index 0)
    last: int
    # extension in the capture -> role name in the template
    roles: tuple[tuple[str, str], ...] = (("1001", "agent"),)
    trunk_role: str = "caller"


_F = (("1001", "agent"), ("1002", "target"))

SOURCES: dict[str, Source] = {
    "login": Source("c-agent-answers-caller-hangs-up", 1, 3),
    "inbound": Source("c-agent-answers-caller-hangs-up", 4, 16),
    "offer_ring": Source("c-agent-answers-caller-hangs-up", 17, 43),
    "offer_answer": Source("c-agent-answers-caller-hangs-up", 44, 56),
    "caller_hangup": Source("c-agent-answers-caller-hangs-up", 58, 89),
    "agent_hangup": Source("d-agent-hangs-up-first", 58, 89),
    "offer_noanswer": Source("e-agent-noanswer-busy-then-answer", 47, 56),
    "offer_busy": Source("e-agent-noanswer-busy-then-answer", 57, 90, (("1003", "agent"),)),
    "abandon": Source("b-abandon", 17, 26),
    "transfer_redirect": Source("f1-transfer-by-redirect", 57, 96, _F),
    "blind_transfer": Source("f2-blind-transfer-action", 57, 100, _F),
    "blind_answer": Source("f2-blind-transfer-action", 101, 115, (("1002", "agent"),)),
    "blind_agent_hangup": Source("f2-blind-transfer-action", 116, 148, (("1002", "agent"),)),
    "atxfer_start": Source("f3-attended-transfer-atxfer", 57, 66, _F),
    "atxfer_consult_ring": Source("f3-attended-transfer-atxfer", 69, 114, _F),
    "atxfer_consult_answer": Source("f3-attended-transfer-atxfer", 115, 133, _F),
    "atxfer_complete": Source("f3-attended-transfer-atxfer", 135, 157, _F),
    "atxfer_optimize": Source("f3-attended-transfer-atxfer", 158, 185, _F),
    "atxfer_target_hangup": Source("f3-attended-transfer-atxfer", 187, 220, _F),
    "c2d_ring": Source("g-click-to-dial", 4, 12, trunk_role="customer"),
    "c2d_answer": Source("g-click-to-dial", 13, 38, trunk_role="customer"),
    "c2d_connected": Source("g-click-to-dial", 39, 51, trunk_role="customer"),
    "c2d_customer_hangup": Source("g-click-to-dial", 52, 83, trunk_role="customer"),
    "c2d_noanswer": Source("g2-click-to-dial-agent-noanswer", 12, 14, trunk_role="customer"),
    "spy_ring": Source("h-supervisor-chanspy", 57, 64, (("1001", "agent"), ("1901", "supervisor"))),
    "spy_answer": Source(
        "h-supervisor-chanspy", 65, 74, (("1001", "agent"), ("1901", "supervisor"))
    ),
    "spy_hangup": Source(
        "h-supervisor-chanspy", 76, 89, (("1001", "agent"), ("1901", "supervisor"))
    ),
    "mixmonitor_start": Source("i-mixmonitor", 57, 63),
    "mixmonitor_stop": Source("i-mixmonitor", 65, 70),
    "list_channel": Source("j-resync-coreshowchannels-status", 0, 0),
}

_CHANNEL_KEYS = re.compile(
    r"^(|Dest|Transferer|Transferee|TransferTarget|OrigTransferer|"
    r"SecondTransferer|Spyer|Spyee)Channel$"
)
_BRIDGE_KEYS = (
    "BridgeUniqueid",
    "BridgeId",
    "BridgeID",
    "DestBridgeUniqueid",
    "OrigBridgeUniqueid",
    "SecondBridgeUniqueid",
)
_EXACT_ONLY_KEYS = ("Exten", "DNID", "DestExten")


def _pairs(msg: AmiMessage) -> list[tuple[str, str]]:
    pairs = []
    for line in msg.raw.decode("utf-8", "surrogateescape").split("\r\n"):
        key, sep, value = line.partition(": ")
        if not sep and line.endswith(":"):
            key, value = line[:-1], ""
        pairs.append((key, value))
    return pairs


def _literals(messages: list[AmiMessage], source: Source) -> tuple[dict[str, str], dict[str, str]]:
    """(substring literals, exact-value literals) -> token, for one capture."""
    roles = dict(source.roles)
    subs: dict[str, str] = {}
    exact: dict[str, str] = {}
    bridges: list[str] = []
    for msg in messages:
        h = msg.headers
        for key, value in h.items():
            match = _CHANNEL_KEYS.match(key)
            if match and value and (value.startswith("Local/") or "-" in value.partition("/")[2]):
                prefix = match.group(1)
                uid = h.get(f"{prefix}Uniqueid", "")
                role = _role(value, roles, source.trunk_role)
                if role is None:
                    continue
                if value.startswith("Local/"):
                    base, _, half = value.rpartition(";")
                    subs[base] = "local.base"
                    if uid:
                        exact[uid] = f"local{half}.uid"
                    continue
                subs[value] = f"{role}.channel"
                if uid:
                    exact[uid] = f"{role}.uid"
            if key in _BRIDGE_KEYS and value and value not in bridges:
                bridges.append(value)
        if h.get("Variable") == "MIXMONITOR_FILENAME":
            exact[h["Value"]] = "file"
        if h.get("Event") == "UserEvent" and h.get("UserEvent") == "CCEnqueue":
            subs[h["Queue"]] = "queue"
        if (
            h.get("Event") == "Newchannel"
            and h.get("Context") == "cc-inbound"
            and h.get("Exten", "s") != "s"
        ):
            exact[h["Exten"]] = "dnid"
    for n, bridge in enumerate(bridges):
        subs[bridge] = "bridge" if n == 0 else f"bridge{n + 1}"
    for msg in messages:
        h = msg.headers
        channel = h.get("Channel", "")
        role = _role(channel, roles, source.trunk_role) if channel else None
        if role and not channel.startswith("Local/") and h.get("Event") == "Newchannel":
            number, name = h.get("CallerIDNum", ""), h.get("CallerIDName", "")
            if role in (source.trunk_role,) and source.trunk_role == "caller":
                subs[name] = f"{role}.name"
                subs[number] = f"{role}.number"
            elif role != source.trunk_role:
                subs[name] = f"{role}.name"
    for ext, role in roles.items():
        subs[ext] = f"{role}.ext"
    if source.trunk_role == "customer":
        for msg in messages:
            if msg.headers.get("Event") == "OriginateResponse":
                number = msg.headers.get("Exten", "")
                subs[number] = "customer.number"
                subs[f"Customer {number}"] = "customer.name"
    subs.pop("", None)
    exact.pop("", None)
    return subs, exact


def _role(channel: str, roles: dict[str, str], trunk_role: str) -> str | None:
    endpoint = endpoint_of(channel)
    if channel.startswith("Local/"):
        return "local"
    if endpoint == "trunk":
        return trunk_role
    return roles.get(endpoint)


def _templatize(
    pairs: list[tuple[str, str]], subs: dict[str, str], exact: dict[str, str], t0: float
) -> tuple[tuple[str, str], ...]:
    ordered = sorted(subs, key=len, reverse=True)
    pattern = re.compile("|".join(rf"(?<![\w.]){re.escape(s)}(?![\w])" for s in ordered))
    out = []
    for key, value in pairs:
        if key == "Timestamp":
            value = f"${{ts+{float(value) - t0:.6f}}}"
        elif key == "ActionID":
            value = "${action_id}"
        elif value in exact:
            value = f"${{{exact[value]}}}"
        elif key in _EXACT_ONLY_KEYS and value not in subs:
            pass
        elif ordered:
            value = pattern.sub(lambda m: f"${{{subs[m.group(0)]}}}", value)
        out.append((key, value))
    return tuple(out)


def extract(directory: Path) -> dict[str, tuple[tuple[tuple[str, str], ...], ...]]:
    segments: dict[str, tuple[tuple[tuple[str, str], ...], ...]] = {}
    cache: dict[str, list[AmiMessage]] = {}
    for name, source in SOURCES.items():
        if source.capture not in cache:
            frames = frame_all((directory / f"{source.capture}.ami.txt").read_bytes())
            cache[source.capture] = [f for f in frames if isinstance(f, AmiMessage)]
        messages = cache[source.capture]
        if name == "list_channel":
            picked = [
                m
                for m in messages
                if m.event
                in (
                    "CoreShowChannel",
                    "CoreShowChannelsComplete",
                    "BridgeListItem",
                    "BridgeListComplete",
                )
            ]
            chosen = [picked[0], *[m for m in picked if m.event != "CoreShowChannel"]]
            segments[name] = tuple(tuple(_pairs(m)) for m in chosen)
            continue
        # Indices count the banner as message 0, as in the captures' listings.
        # RTCP reports come from a media timer; the simulator has no media.
        window = [m for m in messages[source.first - 1 : source.last] if m.event != "RTCPSent"]
        subs, exact = _literals(messages, source)
        stamps = [float(m.headers["Timestamp"]) for m in window if "Timestamp" in m.headers]
        t0 = stamps[0] if stamps else 0.0
        segments[name] = tuple(_templatize(_pairs(m), subs, exact, t0) for m in window)
    return segments


def render(segments: dict[str, tuple[tuple[tuple[str, str], ...], ...]]) -> str:
    lines = [
        '"""Templates for the simulated PBX, cut from the real Asterisk captures.',
        "",
        "Generated by ``python -m cti.simulator.extract tests/fixtures/ami``; do not edit.",
        "Each message is its AMI lines joined by CRLF, with ``${token}`` markers.",
        '"""',
        "",
        "# ruff: noqa: E501",
        "",
        "SEGMENTS: dict[str, tuple[str, ...]] = {",
    ]
    for name, messages in segments.items():
        lines.append(f"    {name!r}: (")
        for msg in messages:
            text = "\r\n".join(f"{k}: {v}" for k, v in msg)
            lines.append(f"        {text!r},")
        lines.append("    ),")
    lines.append("}")
    return "\n".join(lines) + "\n"


def as_pairs(text: str) -> tuple[tuple[str, str], ...]:
    """One stored message back into (key, value) pairs."""
    out = []
    for line in text.split("\r\n"):
        key, _, value = line.partition(": ")
        out.append((key, value))
    return tuple(out)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    directory = Path(args[0] if args else "tests/fixtures/ami")
    sys.stdout.write(render(extract(directory)))


if __name__ == "__main__":
    main()
