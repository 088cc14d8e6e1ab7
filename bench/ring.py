"""Ring to agent on a real Asterisk: the product against Asterisk's own app_queue.

``python -m bench.ring`` (``--quick``: one short block, under 30 s) starts the shared
kit's Asterisk (``../shared/asterisk``, as the real-Asterisk tests do, honouring
``CC_AST_PORT_OFFSET`` and ``CC_AST_PREFIX``) with the product's own dialplan plus two
bench numbers, the kit's sipp agent phones 1001-1003, and ``contact-center serve`` as a
subprocess on a new operator home (SQLite, the shipped settings: as the README tells an
operator). Then, in interleaved blocks, the same callers go to:

* ``app_queue``: number 300, ``UserEvent(BenchQueueEntry)`` then ``Queue(bench)``, a
  queues.conf queue (rrmemory, ``ringinuse = no``) with the same three phones as members;
* ``product`` (``fast_path``): number 100, the shipped dialplan as is (``CCEnqueue``,
  then the FastAGI question; an agent free: dialled at once);
* ``redirect``: number 101, the shipped dialplan with ``CC_FASTAGI`` empty for that
  caller: it waits on hold and the product Redirects it to the agent.

Each block runs every system through the same two patterns: one call a second, then
bursts of three callers at once (as many as agents). Every caller is a number the
product has never seen (``--callers known``: numbers it saw in a warm-up round).

Measured from Asterisk's own event timestamps (``timestampevents = yes``): the caller's
queue entry (its ``CCEnqueue`` or ``BenchQueueEntry`` user event) to the first
``DialBegin`` towards an agent's phone. ``ring_to_offer`` is the product's own figure
from ``/status`` (a ``CCEnqueue`` read by the CTI to the offer leaving it, FastAGI
answer or Redirect), over both product systems.

The last line printed is one JSON object with the figures. Without a built Asterisk
(or sipp, or the kit) it prints why and ``{"skipped": "<why>"}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.telephony_real.ami import AmiEvent, AmiMonitor
from tests.telephony_real.kit import (
    AGENT_EXTENSIONS,
    MONITOR_SECRET,
    MONITOR_USER,
    PROJECT,
    AsteriskKit,
    Callers,
    Phones,
    PlannedCall,
    find_kit,
    find_prefix,
)
from tests.telephony_real.product import ContactCenter, make_home

APP_QUEUE_ENTRY = "BenchQueueEntry"
PRODUCT_ENTRY = "CCEnqueue"


@dataclasses.dataclass(frozen=True, slots=True)
class System:
    name: str
    service: str  # the number the callers dial
    entry_event: str  # the user event marking the caller's queue entry


APP_QUEUE = System("app_queue", "300", APP_QUEUE_ENTRY)
FAST_PATH = System("fast_path", "100", PRODUCT_ENTRY)
REDIRECT = System("redirect", "101", PRODUCT_ENTRY)
SYSTEMS = (APP_QUEUE, FAST_PATH, REDIRECT)

# Added to a copy of the product's dialplan: app_queue's number, and the product's
# support queue with the fast path off for that caller (a channel variable hides the
# CC_FASTAGI global, exactly as an empty global would).
DIALPLAN_ADDITION = f"""
; ---- added by bench.ring ----
[cc-inbound](+)
exten => {APP_QUEUE.service},1,NoOp(bench.ring: app_queue caller ${{CALLERID(num)}})
 same => n,Answer()
 same => n,UserEvent({APP_QUEUE_ENTRY},Queue: bench)
 same => n,Queue(bench)
 same => n,Hangup()

exten => {REDIRECT.service},1,NoOp(bench.ring: support caller without the fast path)
 same => n,Answer()
 same => n,Set(CC_QUEUE=support)
 same => n,Set(CC_FASTAGI=)
 same => n,Goto(cc-inbound,enqueue,1)
"""

# The kit's queues (kept) and the bench's own, with the three agent phones as members.
QUEUES_CONF = """; written by bench.ring
[general]
persistentmembers = no
shared_lastcall = yes

[support]
strategy = rrmemory
timeout = 15
ringinuse = no

[sales]
strategy = rrmemory
timeout = 15
ringinuse = no

[bench]
strategy = rrmemory
timeout = 15
ringinuse = no
wrapuptime = 0
retry = 1
autofill = yes
joinempty = yes
""" + "".join(f"member => PJSIP/{ext}\n" for ext in AGENT_EXTENSIONS)

# The phones: ring briefly, answer, talk, hang up (the caller waits for the BYE).
RING_MS, TALK_MS = 100, 300
BURST = len(AGENT_EXTENSIONS)
BURST_GAP_MS = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    steady_calls: int  # one a second
    bursts: int  # of BURST callers at once, BURST_GAP_MS apart

    def plan(self, numbers: Iterator[str]) -> list[tuple[str, PlannedCall]]:
        """(pattern, call) for one round."""
        calls = [
            ("steady", PlannedCall(next(numbers), start_ms=i * 1000, hold_ms=-1))
            for i in range(self.steady_calls)
        ]
        start = self.steady_calls * 1000
        for b in range(self.bursts):
            calls += [
                ("burst", PlannedCall(next(numbers), start_ms=start + b * BURST_GAP_MS, hold_ms=-1))
                for _ in range(BURST)
            ]
        return calls

    @property
    def calls(self) -> int:
        return self.steady_calls + self.bursts * BURST


@dataclasses.dataclass(slots=True)
class Sample:
    system: str
    pattern: str
    block: int
    ms: float
    heard_music: bool
    # The product's answer reaching Asterisk (FastAGI SET VARIABLE run, or music on hold
    # stopped by the Redirect), ms after entry; None for app_queue.
    answered_ms: float | None = None


def numbers_from(start: int) -> Iterator[str]:
    """Caller numbers valid for the shipped phone region (US), each used once."""
    n = start
    while True:
        yield f"6175{n:06d}"
        n += 1


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def figures_of(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {}
    return {
        "p50_ms": round(percentile(values, 0.5), 3),
        "p99_ms": round(percentile(values, 0.99), 3),
    }


class Bench:
    def __init__(self, kit: AsteriskKit, work: Path) -> None:
        self.kit = kit
        self.work = work
        self.ami = AmiMonitor("127.0.0.1", kit.ami_port, MONITOR_USER, MONITOR_SECRET)
        sipp_dir = work / "sipp"
        self.phones = Phones(kit, sipp_dir)
        self.callers = Callers(kit, sipp_dir)
        self.product: ContactCenter | None = None
        self.samples: list[Sample] = []
        self.unserved: dict[str, int] = {s.name: 0 for s in SYSTEMS}

    # ------------------------------------------------------------------ set-up

    def prepare_asterisk(self) -> None:
        self.kit.cli(f"dialplan set global CC_FASTAGI agi://127.0.0.1:{self.kit.fastagi_port}")
        (self.kit.run_dir / "etc" / "queues.conf").write_text(QUEUES_CONF)
        self.kit.cli("module reload app_queue.so")
        shown = self.kit.cli("queue show bench")
        missing = [ext for ext in AGENT_EXTENSIONS if f"PJSIP/{ext}" not in shown]
        if missing:
            raise RuntimeError(f"app_queue did not load the bench queue's members: {shown}")

    def start(self, home: Path, made: Future[dict[str, str]]) -> None:
        """Phones and the AMI monitor, then the product on ``home`` once ``made``."""
        self.ami.connect()
        for ext in AGENT_EXTENSIONS:
            self.phones.start(ext, "answer-hangup", ring_ms=RING_MS, talk_ms=TALK_MS)
        tokens = made.result(timeout=300)
        self.product = ContactCenter(
            home, tokens, ami_port=self.kit.ami_port, fastagi_port=self.kit.fastagi_port
        )
        self.product.start()
        self.agents_ready()

    def agents_ready(self) -> None:
        assert self.product is not None
        for ext in AGENT_EXTENSIONS:
            if self.product.state(ext)["state"] != "ready":
                self.product.set_state(ext, "ready")

    def close(self) -> None:
        try:
            self.callers.stop()
            self.phones.stop_all()
        finally:
            if self.product is not None:
                self.product.stop()
            self.ami.close()

    # ------------------------------------------------------------------ rounds

    def warm_up(self, numbers: list[str]) -> None:
        """The product sees each number once (its customer is made), unmeasured: callers
        20 ms apart who hang up 0.2 s after entering."""
        calls = [PlannedCall(n, start_ms=i * 20, hold_ms=200) for i, n in enumerate(numbers)]
        self.callers.place(calls, service=FAST_PATH.service)
        self.callers.wait(60 + len(calls))
        self.kit.wait_no_channels(15)
        self.agents_ready()

    def round(self, system: System, plan: list[tuple[str, PlannedCall]], block: int) -> None:
        if system is not APP_QUEUE:
            self.agents_ready()
        mark = self.ami.mark()
        self.callers.place([call for _, call in plan], service=system.service)
        result = self.callers.wait(60 + 2 * len(plan))
        left = self.kit.wait_no_channels(15)
        if result.returncode != 0 or result.failed or left:
            print(
                f"  {system.name} block {block}: {result.summary()}; {left} channel(s) left",
                file=sys.stderr,
            )
            self.kit.hang_up_everything()
        self.collect(system, plan, block, self.ami.events(mark))

    def collect(
        self,
        system: System,
        plan: list[tuple[str, PlannedCall]],
        block: int,
        events: list[AmiEvent],
    ) -> None:
        pattern_of = {call.number: pattern for pattern, call in plan}
        number_of: dict[str, str] = {}
        entered: dict[str, float] = {}
        dialled: dict[str, float] = {}
        answered: dict[str, float] = {}
        music: set[str] = set()
        for e in events:
            uid = e.get("Uniqueid")
            if e.name == "Newchannel" and e.get("Channel").startswith("PJSIP/trunk-"):
                number_of[uid] = e.get("CallerIDNum")
            elif e.is_user_event(system.entry_event) and uid in number_of:
                entered.setdefault(uid, e.ts)
            elif e.name == "DialBegin" and uid in entered:
                dialled.setdefault(uid, e.ts)
            elif e.name == "MusicOnHoldStart" and uid in entered and uid not in dialled:
                music.add(uid)
            elif (
                uid in entered
                and uid not in dialled
                and (
                    e.name == "MusicOnHoldStop"
                    or (e.name == "AGIExecStart" and e.get("Command").startswith("SET VARIABLE"))
                )
            ):
                answered.setdefault(uid, e.ts)
        for uid, at in entered.items():
            if uid not in dialled:
                self.unserved[system.name] += 1
                continue
            pattern = pattern_of.get(number_of[uid], "?")
            ms = (dialled[uid] - at) * 1000
            answer = (answered[uid] - at) * 1000 if uid in answered else None
            self.samples.append(Sample(system.name, pattern, block, ms, uid in music, answer))
        self.unserved[system.name] += len(plan) - len(entered)

    # ------------------------------------------------------------------ figures

    def values(
        self, system: str, pattern: str | None = None, music: bool | None = None
    ) -> list[float]:
        return [
            s.ms
            for s in self.samples
            if s.system == system
            and (pattern is None or s.pattern == pattern)
            and (music is None or s.heard_music == music)
        ]

    def figures(self) -> dict[str, Any]:
        aq = self.values(APP_QUEUE.name)
        product = self.values(FAST_PATH.name)
        redirect = self.values(REDIRECT.name)
        out: dict[str, Any] = {}
        if not (aq and product):
            return {"error": "no call measured", "unserved": self.unserved}
        aq_f, pr_f, rd_f = figures_of(aq), figures_of(product), figures_of(redirect)
        out.update(
            app_queue_p50_ms=aq_f["p50_ms"],
            app_queue_p99_ms=aq_f["p99_ms"],
            product_p50_ms=pr_f["p50_ms"],
            product_p99_ms=pr_f["p99_ms"],
            ratio_p50=round(pr_f["p50_ms"] / aq_f["p50_ms"], 2),
            ratio_p99=round(pr_f["p99_ms"] / aq_f["p99_ms"], 2),
            calls=len(product),
            app_queue_calls=len(aq),
        )
        at_once = self.values(FAST_PATH.name, music=False)
        fast = figures_of(at_once)
        out.update(
            fast_path_p50_ms=fast.get("p50_ms"),
            fast_path_p99_ms=fast.get("p99_ms"),
            fast_path_dialled_at_once=len(at_once),
            fast_path_fell_back_to_hold=len(product) - len(at_once),
        )
        if redirect:
            out.update(
                redirect_p50_ms=rd_f["p50_ms"],
                redirect_p99_ms=rd_f["p99_ms"],
                redirect_ratio_p50=round(rd_f["p50_ms"] / aq_f["p50_ms"], 2),
                redirect_ratio_p99=round(rd_f["p99_ms"] / aq_f["p99_ms"], 2),
                redirect_calls=len(redirect),
            )
        # Where the product's time goes, as Asterisk saw it: entry to its answer (the
        # product's decision), then its answer to DialBegin (Asterisk's part).
        for system in (FAST_PATH, REDIRECT):
            mine = [s for s in self.samples if s.system == system.name and s.answered_ms]
            decision = figures_of([s.answered_ms for s in mine if s.answered_ms is not None])
            rest = figures_of([s.ms - s.answered_ms for s in mine if s.answered_ms is not None])
            if decision:
                out[f"{system.name}_answer_p50_ms"] = decision["p50_ms"]
                out[f"{system.name}_answer_p99_ms"] = decision["p99_ms"]
                out[f"{system.name}_asterisk_p50_ms"] = rest["p50_ms"]
                out[f"{system.name}_asterisk_p99_ms"] = rest["p99_ms"]
        out["by_pattern"] = {
            system.name: {
                pattern: figures_of(self.values(system.name, pattern))
                for pattern in ("steady", "burst")
            }
            for system in SYSTEMS
        }
        blocks = sorted({s.block for s in self.samples})
        out["block_p50_ms"] = {
            system.name: [
                round(percentile(v, 0.5), 3)
                for b in blocks
                if (v := [s.ms for s in self.samples if s.system == system.name and s.block == b])
            ]
            for system in SYSTEMS
        }
        out["unserved"] = self.unserved
        if self.product is not None:
            asterisk = self.product.status()["services"]["asterisk"]
            r2o = asterisk.get("ring_to_offer", {})
            out.update(
                ring_to_offer_p50_ms=r2o.get("p50_ms"),
                ring_to_offer_p99_ms=r2o.get("p99_ms"),
                ring_to_offer_count=r2o.get("count"),
            )
            fp = asterisk.get("fast_path", {})
            out["fast_path_status"] = {
                k: fp.get(k) for k in ("dialled_at_once", "sent_to_hold", "handoffs_missed")
            }
        return out


def _asterisk_version(prefix: Path) -> str:
    try:
        out = subprocess.run(
            [str(prefix / "sbin" / "asterisk"), "-V"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except OSError:
        return "?"
    return out.strip()


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(PROJECT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout
    except OSError:
        return "?"
    return out.strip()


def run(args: argparse.Namespace) -> dict[str, Any]:
    test_kit, why = find_kit()
    prefix = None
    if test_kit is not None:
        prefix, why = find_prefix()
    if test_kit is None or prefix is None:
        print(f"bench.ring skipped: {why}", file=sys.stderr)
        return {"skipped": why}
    offset = int(os.environ.get("CC_AST_PORT_OFFSET") or 0)
    shape = Shape(steady_calls=2, bursts=1) if args.quick else Shape(args.steady, args.bursts)
    blocks = 1 if args.quick else args.blocks
    work = Path(tempfile.mkdtemp(prefix="cc-ring-"))  # short: Asterisk's socket path
    dialplan = work / "extensions_bench.conf"
    dialplan.write_text(
        (PROJECT / "config" / "asterisk" / "extensions_cc.conf").read_text() + DIALPLAN_ADDITION
    )
    kit = AsteriskKit(test_kit, prefix, work / "asterisk", offset, dialplan=dialplan)
    started = time.monotonic()
    # The machine's load (1-minute average) at the start and the end: the product (Python)
    # feels a busy machine far more than app_queue (C, inside Asterisk).
    load_at_start = os.getloadavg()[0]
    # The operator home (seven contact-center commands) is made while Asterisk starts.
    pool = ThreadPoolExecutor(1, thread_name_prefix="make-home")
    made = pool.submit(make_home, work / "home")
    try:
        kit.start()
    except BaseException:
        pool.shutdown(wait=True)
        raise
    bench = Bench(kit, work)
    try:
        bench.prepare_asterisk()
        bench.start(work / "home", made)
        numbers = numbers_from(1)
        known: list[str] = []
        if args.callers == "known":
            known = [next(numbers) for _ in range(shape.calls)]
            bench.warm_up(known)
        for block in range(blocks):
            # Each block the systems take turns going first (no position advantage).
            order = SYSTEMS[block % 3 :] + SYSTEMS[: block % 3]
            for system in order:
                source = iter(known) if known else numbers
                if system is APP_QUEUE and not known:
                    source = numbers_from(900_000 + block * 100)  # app_queue: any number
                bench.round(system, shape.plan(source), block)
                print(
                    f"block {block} {system.name}: "
                    + ", ".join(
                        f"{s.ms:.1f}"
                        for s in bench.samples
                        if s.system == system.name and s.block == block
                    )
                    + " ms",
                    file=sys.stderr,
                )
        figures: dict[str, Any] = {"quick": args.quick, "callers": args.callers}
        figures.update(bench.figures())
        figures.update(
            blocks=blocks,
            calls_per_round=shape.calls,
            asterisk=_asterisk_version(prefix),
            commit=_git_commit(),
            seconds=round(time.monotonic() - started, 1),
            load_1min=[round(load_at_start, 2), round(os.getloadavg()[0], 2)],
            cpus=os.cpu_count(),
        )
        return figures
    finally:
        pool.shutdown(wait=True)
        try:
            bench.close()
        finally:
            kit.stop()
            if not args.keep:
                shutil.rmtree(work, ignore_errors=True)
            else:
                print(f"bench.ring: run files kept in {work}", file=sys.stderr)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short block, under 30 s")
    parser.add_argument("--blocks", type=int, default=6, help="interleaved blocks")
    parser.add_argument("--steady", type=int, default=8, help="calls at 1/s per round")
    parser.add_argument("--bursts", type=int, default=2, help=f"bursts of {BURST} per round")
    parser.add_argument(
        "--callers",
        choices=("new", "known"),
        default="new",
        help="numbers the product never saw (its provisional customer is made on the "
        "path) or numbers it saw in an unmeasured warm-up",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run files")
    args = parser.parse_args(argv)
    figures = run(args)
    if "app_queue_p50_ms" in figures:
        print(
            f"queue entry -> agent DialBegin over {figures['calls']} calls each: "
            f"app_queue p50 {figures['app_queue_p50_ms']} / p99 {figures['app_queue_p99_ms']} ms; "
            f"product p50 {figures['product_p50_ms']} / p99 {figures['product_p99_ms']} ms "
            f"(ratio {figures['ratio_p50']} / {figures['ratio_p99']}); "
            f"Redirect path p50 {figures.get('redirect_p50_ms')} / "
            f"p99 {figures.get('redirect_p99_ms')} ms"
        )
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
