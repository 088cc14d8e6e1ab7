"""A TCP proxy between the product and Asterisk's AMI port, to cut the link on purpose.

``cut()`` closes every proxied connection and, until ``restore()``, closes each new
one as soon as it is accepted (the product sees its link drop and its reconnects
fail, as with a network outage); Asterisk itself is untouched, so its calls go on.
"""

from __future__ import annotations

import contextlib
import socket
import threading


class AmiProxy:
    def __init__(self, upstream_port: int, host: str = "127.0.0.1") -> None:
        self._upstream = (host, upstream_port)
        self._listener = socket.create_server((host, 0))
        self._listener.settimeout(0.2)
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._down = threading.Event()
        self._stopping = threading.Event()
        self.accepted = 0
        self.refused = 0
        self._thread = threading.Thread(target=self._accept, name="ami-proxy", daemon=True)
        self._thread.start()

    def cut(self) -> None:
        """Drop every connection now and refuse new ones until ``restore``."""
        self._down.set()
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _close(*pair)

    def restore(self) -> None:
        self._down.clear()

    def close(self) -> None:
        self._stopping.set()
        self.cut()
        self._thread.join(5)
        self._listener.close()

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._down.is_set():
                self.refused += 1
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self._upstream, timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            self.accepted += 1
            with self._lock:
                self._pairs.append((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(src, dst), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        _close(src, dst)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            sock.close()
