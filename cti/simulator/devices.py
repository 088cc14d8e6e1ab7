"""Phone (PJSIP device) states of the simulated PBX, as a real Asterisk 22 reports them.

Asterisk derives a device's state from its channels and announces every change with
``DeviceStateChange``; registration changes come as ``PeerStatus``, ``DeviceStateChange``
and ``ContactStatus``. What is modelled here was recorded with the product's AMI user
(``tests/fixtures/ami-product/``, ``tests/cti/captures/``):

- a phone's channel ringing makes it RINGING right after that channel's ``Newstate
  Ringing``; once up, INUSE right after its ``Newstate Up``; NOT_INUSE right after its
  last channel's ``Hangup`` (p1, p2, m1); a leg that never left ``Down`` (no RTP port
  for it: p4) changes nothing;
- a phone that REGISTERs: ``PeerStatus Reachable``, NOT_INUSE, ``ContactStatus
  NonQualified``; one that un-REGISTERs: ``PeerStatus Unreachable``, UNAVAILABLE,
  ``ContactStatus Removed`` (p3); a qualify failure: UNAVAILABLE, ``ContactStatus
  Unreachable`` (m3).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

Message = list[tuple[str, str]]


class DeviceStates:
    """Adds the ``DeviceStateChange`` each channel event causes, per PJSIP device."""

    def __init__(self, unreachable: Callable[[str], bool], clock: Callable[[], float]) -> None:
        # unreachable(extension): the phone has no contact (unregistered or unqualified).
        self._unreachable = unreachable
        self._clock = clock
        self._channels: dict[str, dict[str, str]] = {}  # device -> channel -> state
        self._shown: dict[str, str] = {}  # device -> state last announced

    def with_changes(self, messages: Iterable[Message]) -> list[Message]:
        """``messages`` with a ``DeviceStateChange`` after each event that changes one."""
        out: list[Message] = []
        for msg in messages:
            out.append(msg)
            if not msg or msg[0][0] != "Event":
                continue
            event, headers = msg[0][1], dict(msg)
            if event == "DeviceStateChange":
                self._shown[headers.get("Device", "")] = headers.get("State", "")
                continue
            channel = headers.get("Channel", "")
            if event not in ("Newchannel", "Newstate", "Hangup") or not channel.startswith(
                "PJSIP/"
            ):
                continue
            device = channel.rpartition("-")[0]
            live = self._channels.setdefault(device, {})
            if event == "Hangup":
                live.pop(channel, None)
            else:
                live[channel] = headers.get("ChannelStateDesc", "")
            state = self.state(device)
            if self._shown.get(device, "NOT_INUSE") == state:
                continue
            self._shown[device] = state
            out.append(change(device, state, headers.get("Timestamp", f"{self._clock():.6f}")))
        return out

    def state(self, device: str) -> str:
        live = self._channels.get(device, {})
        states = set(live.values())
        ringing = "Ringing" in states
        # An inbound channel in Ring (being answered) shows as in use once it is Up.
        up = bool(states - {"Ringing", "Ring", "Down"})
        if ringing and up:
            return "RINGINUSE"
        if ringing:
            return "RINGING"
        if up:
            return "INUSE"
        if not live and self._unreachable(device.partition("/")[2]):
            return "UNAVAILABLE"
        return "NOT_INUSE"

    def forget(self) -> None:
        """An Asterisk restart: no channel left."""
        self._channels.clear()


def change(device: str, state: str, timestamp: str) -> Message:
    return [
        ("Event", "DeviceStateChange"),
        ("Privilege", "call,all"),
        ("Timestamp", timestamp),
        ("Device", device),
        ("State", state),
    ]


def registration(extension: str, uri: str, registered: bool, now: float) -> list[Message]:
    """What a phone's REGISTER (or un-REGISTER) shows on AMI (capture p3)."""
    ts = f"{now:.6f}"
    return [
        [
            ("Event", "PeerStatus"),
            ("Privilege", "system,all"),
            ("Timestamp", ts),
            ("ChannelType", "PJSIP"),
            ("Peer", f"PJSIP/{extension}"),
            ("PeerStatus", "Reachable" if registered else "Unreachable"),
        ],
        change(f"PJSIP/{extension}", "NOT_INUSE" if registered else "UNAVAILABLE", ts),
        [
            ("Event", "ContactStatus"),
            ("Privilege", "system,all"),
            ("Timestamp", ts),
            ("URI", uri),
            ("ContactStatus", "NonQualified" if registered else "Removed"),
            ("AOR", extension),
            ("EndpointName", extension),
            ("RoundtripUsec", "0"),
        ],
    ]


def qualify(extension: str, reachable: bool, now: float) -> list[Message]:
    """A qualify check's verdict on a phone (capture m3)."""
    ts = f"{now:.6f}"
    return [
        [
            ("Event", "ContactStatus"),
            ("Privilege", "system,all"),
            ("Timestamp", ts),
            ("URI", f"sip:{extension}@127.0.0.1:5060"),
            ("ContactStatus", "Reachable" if reachable else "Unreachable"),
            ("AOR", extension),
            ("EndpointName", extension),
            ("RoundtripUsec", "1200" if reachable else "0"),
        ],
        change(f"PJSIP/{extension}", "NOT_INUSE" if reachable else "UNAVAILABLE", ts),
    ]
