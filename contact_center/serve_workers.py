"""Several server processes on one port: ``[server] workers`` for ``contact-center serve``.

One Python process runs its event loop on one core. With ``workers = N`` the command
forks N worker processes before anything connects; each builds the whole application
(its own database and Redis pools) and listens on the same address with
``SO_REUSEPORT``, so the kernel spreads new connections over them. The parent only
supervises: SIGINT or SIGTERM stops every worker (each finishes its requests, as a
single server does), and a worker that dies stops the others, so the service manager
sees one failed service and restarts it whole instead of running short-handed.

Several workers are several nodes of one deployment, so they are allowed only where
the product shares state between nodes (:func:`refusal`):

* ``redis.url`` set: the event bus (every console hears every event), browser sessions,
  login throttling and the consoles' presence live in Redis;
* the router on Redis (not ``routing.backend = "memory"``): one leader applies every
  command, every worker submits;
* no ``[[asterisk.servers]]``: each worker would open its own AMI link to the same
  Asterisk, hear every call and act on it. Telephony stays on a one-worker node.

Each worker's router node id is ``<server.node_id>-<n>`` when a node id is set (two
nodes with one id would read each other's replies).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable
from types import FrameType

from contact_center.errors import AppError
from contact_center.settings import Settings

log = logging.getLogger(__name__)


class WorkersRefused(AppError):
    error_id = "workers-refused"


def refusal(settings: Settings) -> str | None:
    """Why ``settings`` may not run with several workers, or None if they may."""
    from routing.settings import backend_name, parse_routing_settings

    if settings.server.workers <= 1:
        return None
    if not settings.redis.url:
        return (
            "several workers need Redis (redis.url): without it the router, the event bus, "
            "browser sessions and login throttling live inside one process"
        )
    routing = parse_routing_settings({k: v for k, v in settings.routing.items() if k != "agents"})
    if backend_name(routing, settings.redis.url) != "redis":
        return 'several workers need the router on Redis (routing.backend = "memory" is set)'
    if settings.asterisk.servers:
        return (
            "several workers cannot share the AMI links ([[asterisk.servers]]): each would "
            "hear and act on every call; run telephony on a node with server.workers = 1"
        )
    if settings.server.port == 0:
        return "several workers need a fixed port (server.port 0 picks one per process)"
    return None


def worker_settings(settings: Settings, index: int) -> Settings:
    """The settings of worker ``index``: its own router node id if one is set."""
    if not settings.server.node_id:
        return settings
    return settings.with_overrides(server={"node_id": f"{settings.server.node_id}-{index}"})


def check_port_free(host: str, port: int) -> None:
    """Raise OSError if something listens on ``host:port`` already.

    Workers bind with SO_REUSEPORT, which would let them join a listener left running
    by the same user (an old server) instead of failing: binding once without it
    first finds one (any listener, with or without SO_REUSEPORT, blocks this bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))


def run_workers(count: int, serve_one: Callable[[int], None]) -> int:
    """Fork ``count`` workers, each running ``serve_one(index)``; return the exit status.

    Call before any event loop, thread or connection exists in this process: the
    workers inherit its memory, and nothing in it may be shared between them.
    """
    if not hasattr(os, "fork"):
        raise WorkersRefused("several workers need os.fork (Linux or macOS)")
    children: dict[int, int] = {}  # pid -> worker index
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    stop_signals = {signal.SIGINT, signal.SIGTERM}
    previous = {s: signal.signal(s, stop) for s in stop_signals}
    status = 0
    try:
        for index in range(count):
            # Blocked across the fork: a worker must not run the parent's handler (it
            # would signal its siblings) before it has put back its own.
            signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
            pid = os.fork()
            if pid == 0:  # the worker
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
                os._exit(_worker(index, serve_one))
            children[pid] = index
            signal.pthread_sigmask(signal.SIG_UNBLOCK, stop_signals)
            if stopping:  # told to stop while starting: start no more
                break
        log.info("serving with %d workers (pids %s)", count, ", ".join(map(str, children)))
        while children:
            try:
                pid, wait_status = os.wait()
            except ChildProcessError:
                break
            except InterruptedError:  # pragma: no cover - PEP 475 retries os.wait
                continue
            index = children.pop(pid)
            code = os.waitstatus_to_exitcode(wait_status)
            if not stopping:
                # One worker gone: the others stop too (see the module's docstring).
                log.error("worker %d (pid %d) exited with status %d: stopping", index, pid, code)
                status = code or 1
                stop(signal.SIGTERM, None)
            elif code not in (0, -signal.SIGTERM, -signal.SIGINT):
                status = status or code
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return status if status >= 0 else 1


def _worker(index: int, serve_one: Callable[[int], None]) -> int:
    """Run one worker to its end; its exit status."""
    code = 0
    try:
        serve_one(index)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except AppError as exc:  # as the command prints it: one line
        print(f"contact-center: {exc.error_id}: {exc.message}", file=sys.stderr)
        code = 2
    except BaseException:
        log.exception("worker %d failed", index)
        code = 1
    finally:
        # os._exit skips the interpreter's clean-up: flush what would be lost.
        logging.shutdown()
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
    return code


def address_error(exc: OSError) -> bool:
    """Whether ``exc`` means the listening address cannot be used."""
    return exc.errno in (errno.EADDRINUSE, errno.EACCES, errno.EADDRNOTAVAIL)
