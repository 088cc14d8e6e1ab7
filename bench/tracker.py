"""The call tracker's memory under a flood of fake AMI events, at its ceiling.

Feeds ``--calls`` fake calls (200,000) to one :class:`cti.tracker.CallTracker` with the
default ceiling (``[asterisk] max_tracked_channels``, 20,000): each a ``Newchannel``
never hung up, and one in four of each also a ``BridgeEnter``, a ``DeviceStateChange``
of a made-up phone, or a ``CCEnqueue``. This is what anything posing as Asterisk can
send. Reports the process's resident memory before and after, the memory the Python
heap holds (tracemalloc) at the ceiling and at the end, what is tracked and what was
not, and events per second.

    python -m bench.tracker             # 200,000 calls
    python -m bench.tracker --quick     # 50,000 calls

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from collections.abc import Sequence
from typing import Any

import orjson

from cti.protocol import AmiMessage
from cti.tracker import CallTracker


def resident_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def fake_call(i: int) -> list[AmiMessage]:
    uid = f"1795000000.{i}"
    channel = f"PJSIP/trunk-{i:08x}"
    out = [
        AmiMessage(
            b"",
            {
                "Event": "Newchannel",
                "Channel": channel,
                "Uniqueid": uid,
                "Linkedid": uid,
                "Context": "cc-inbound",
                "CallerIDNum": f"+4420794{i % 100_000:05d}",
                "ChannelStateDesc": "Ring",
            },
        )
    ]
    kind = i % 4
    if kind == 0:
        out.append(
            AmiMessage(b"", {"Event": "BridgeEnter", "BridgeUniqueid": f"b-{i}", "Uniqueid": uid})
        )
    elif kind == 1:
        out.append(
            AmiMessage(
                b"", {"Event": "DeviceStateChange", "Device": f"PJSIP/x{i}", "State": "INUSE"}
            )
        )
    elif kind == 3:
        out.append(
            AmiMessage(
                b"",
                {
                    "Event": "UserEvent",
                    "UserEvent": "CCEnqueue",
                    "Channel": channel,
                    "Uniqueid": uid,
                    "Linkedid": uid,
                    "Queue": "support",
                },
            )
        )
    return out


def run(calls: int) -> dict[str, Any]:
    tracker = CallTracker("pbx", id_prefix="pbx:")
    # getattr: the same bench measures a tracker without a ceiling (before it existed).
    ceiling = getattr(tracker, "max_channels", 20_000)
    rss_before = resident_mb()
    tracemalloc.start()
    events = 0
    heap_at_ceiling = 0
    started = time.perf_counter()
    for i in range(calls):
        for msg in fake_call(i):
            tracker.feed(msg)
            events += 1
        if i + 1 == ceiling:
            heap_at_ceiling, _ = tracemalloc.get_traced_memory()
    elapsed = time.perf_counter() - started
    heap_end, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "calls": calls,
        "events": events,
        "max_tracked_channels": getattr(tracker, "max_channels", None),
        "tracked_channels": len(tracker.channels),
        "tracked_calls": len(tracker.calls),
        "phone_states": len(tracker.phone_states),
        "channels_not_tracked": getattr(tracker, "channels_not_tracked", 0),
        "heap_at_ceiling_mb": round(heap_at_ceiling / 2**20, 1),
        "heap_end_mb": round(heap_end / 2**20, 1),
        "rss_before_mb": round(rss_before, 1),
        "rss_after_mb": round(resident_mb(), 1),
        "events_per_s": round(events / elapsed),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--calls", type=int, default=None, help="fake calls (200,000)")
    parser.add_argument("--quick", action="store_true", help="50,000 calls")
    args = parser.parse_args(argv)
    if args.calls is None:
        args.calls = 50_000 if args.quick else 200_000
    if args.calls < 1:
        parser.error("--calls must be at least 1")
    return args


if __name__ == "__main__":
    figures = run(parse_args().calls)
    sys.stdout.write(orjson.dumps(figures).decode() + "\n")
