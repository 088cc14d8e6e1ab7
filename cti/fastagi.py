"""A small FastAGI server: the dialplan asks the product which agent's phone to dial.

The fast path (docs/cti.md, "The fast path"): right after a caller's ``CCEnqueue`` the
dialplan runs ``AGI(agi://<product>:<port>/route)``. Asterisk connects, sends its
``agi_*`` variables one per line (``agi_uniqueid: 1712.4``) and a blank line, then
waits for commands. The product answers ``SET VARIABLE CC_OFFER_EXTEN "1001"`` when
an agent was free for this caller, reads Asterisk's ``200 result=1`` and closes the
connection; the dialplan then dials that phone at once. When nobody is free, or the
product cannot decide in time, it closes without setting anything and the caller
goes to music on hold, to be offered later by AMI Redirect as before.

The server trusts nothing it reads: lines are length-capped, the number of variables
is capped, a client that stops sending is dropped after ``read_timeout``, only peers
in ``permit`` are served, and any error ends that connection only. Asterisk itself
gives up connecting after 2 s (``MAX_AGI_CONNECT``) and treats a refused or closed
connection as "no answer": the dialplan goes on to hold, so callers never depend on
the product being up.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ipaddress
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping

log = logging.getLogger(__name__)

# The dialplan variable the product sets to the extension to dial.
OFFER_VARIABLE = "CC_OFFER_EXTEN"
# Asterisk's own request lines are well under this; anything longer is not Asterisk.
MAX_LINE_BYTES = 2048
# Asterisk sends about 25 agi_* variables plus one per argument.
MAX_VARIABLES = 200


@dataclasses.dataclass(frozen=True, slots=True)
class AgiRequest:
    """What Asterisk sent at the start of one FastAGI connection."""

    variables: Mapping[str, str]
    peer: str

    @property
    def uniqueid(self) -> str:
        return self.variables.get("agi_uniqueid", "")

    @property
    def channel(self) -> str:
        return self.variables.get("agi_channel", "")

    @property
    def script(self) -> str:
        return self.variables.get("agi_network_script", "")

    def argument(self, index: int) -> str:
        return self.variables.get(f"agi_arg_{index}", "")


class AgiProtocolError(Exception):
    """The peer did not speak AGI (or stopped speaking): the connection is dropped."""


class AgiSession:
    """One connection after its request: send commands, read Asterisk's replies."""

    def __init__(
        self,
        request: AgiRequest,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        read_timeout: float,
    ) -> None:
        self.request = request
        self._reader = reader
        self._writer = writer
        self._read_timeout = read_timeout

    async def command(self, line: str, *, last: bool = False) -> str:
        """Send one AGI command; Asterisk's reply line (``200 result=1``...).

        ``last``: no command follows. The sending side is closed with it, so that
        Asterisk, having run it, reads the end of the script at once and goes on with
        the dialplan: it does not wait for the reply to reach us and our close to reach
        it (one round trip fewer between two processes). The reply is still read.
        """
        if "\n" in line or "\r" in line:
            raise ValueError("an AGI command is one line")
        self._writer.write(line.encode() + b"\n")
        if last and self._writer.can_write_eof():
            self._writer.write_eof()
        await self._writer.drain()
        return await _read_line(self._reader, self._read_timeout)

    async def set_variable(self, name: str, value: str, *, last: bool = False) -> bool:
        """``SET VARIABLE``; true when Asterisk confirmed it (``200 result=1``)."""
        quoted = value.replace("\\", "\\\\").replace('"', '\\"')
        reply = await self.command(f'SET VARIABLE {name} "{quoted}"', last=last)
        return reply.startswith("200 result=1")


# What the product does with one request; it may call ``session.set_variable``.
AgiHandler = Callable[[AgiSession], Awaitable[None]]


async def _read_line(reader: asyncio.StreamReader, timeout: float) -> str:
    try:
        async with asyncio.timeout(timeout):
            raw = await reader.readuntil(b"\n")
    except TimeoutError:
        raise AgiProtocolError(f"no complete line within {timeout:.1f} s") from None
    except asyncio.LimitOverrunError:
        raise AgiProtocolError(f"a line longer than {MAX_LINE_BYTES} bytes") from None
    except asyncio.IncompleteReadError:
        raise AgiProtocolError("connection closed") from None
    try:
        return raw.decode().rstrip("\r\n")
    except UnicodeDecodeError:
        raise AgiProtocolError("a line that is not UTF-8") from None


async def read_request(reader: asyncio.StreamReader, peer: str, timeout: float) -> AgiRequest:
    """The ``agi_*`` variables up to the blank line; each line must be ``agi_x: value``."""
    variables: dict[str, str] = {}
    while True:
        line = await _read_line(reader, timeout)
        if not line:
            break
        name, sep, value = line.partition(": ")
        if not sep or not name.startswith("agi_") or not name.isascii():
            raise AgiProtocolError(f"not an AGI variable line: {line[:60]!r}")
        if len(variables) >= MAX_VARIABLES:
            raise AgiProtocolError(f"more than {MAX_VARIABLES} variables")
        variables[name] = value
    if not variables:
        raise AgiProtocolError("an empty request")
    return AgiRequest(variables, peer)


def _permitted(peer: str, permit: Collection[str]) -> bool:
    try:
        address = ipaddress.ip_address(peer)
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(net, strict=False) for net in permit)


class FastAgiServer:
    """Serves FastAGI connections with ``handler``; one task per connection."""

    def __init__(
        self,
        handler: AgiHandler,
        *,
        host: str = "127.0.0.1",
        port: int = 4573,
        permit: Collection[str] = ("127.0.0.1/32", "::1/128"),
        read_timeout: float = 2.0,
        handler_timeout: float = 1.0,
    ) -> None:
        self.handler = handler
        self.host = host
        self.port = port
        self.permit = tuple(permit)
        self.read_timeout = read_timeout
        self.handler_timeout = handler_timeout
        self._server: asyncio.Server | None = None
        self.requests = 0
        self.rejected = 0
        self.last_error = ""

    async def start(self) -> int:
        """Listen; the bound port (``port = 0`` picks a free one: tests)."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_LINE_BYTES
        )
        bound: int = self._server.sockets[0].getsockname()[1]
        self.port = bound
        log.info("FastAGI listening on %s:%d", self.host, bound)
        return bound

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def health(self) -> dict[str, object]:
        return {
            "listening": self._server is not None,
            "port": self.port,
            "requests": self.requests,
            "rejected": self.rejected,
            "last_error": self.last_error,
        }

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if peername else ""
        try:
            if not _permitted(peer, self.permit):
                self._reject(f"a connection from {peer!r}, not in fastagi_permit")
                return
            request = await read_request(reader, peer, self.read_timeout)
            self.requests += 1
            session = AgiSession(request, reader, writer, self.read_timeout)
            async with asyncio.timeout(self.handler_timeout):
                await self.handler(session)
        except AgiProtocolError as exc:
            self._reject(f"from {peer!r}: {exc}")
        except TimeoutError:
            self._reject(f"from {peer!r}: no answer within {self.handler_timeout:.1f} s")
        except (ConnectionError, OSError) as exc:
            log.info("FastAGI connection from %r ended: %s", peer, exc)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("FastAGI request from %r failed", peer)
        finally:
            # Closing ends the AGI script: the dialplan goes on with what was set.
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    def _reject(self, why: str) -> None:
        self.rejected += 1
        self.last_error = why[:200]
        log.warning("FastAGI: dropped %s", self.last_error.encode("unicode_escape").decode())
