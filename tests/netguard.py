"""A socket guard: every attempt to resolve a host name or open a network connection is recorded and refused.

Installed before anything else imports, it shows whether a piece of code tries to reach the network at all
(libraries that catch the error and fall back to a cache are still caught: the attempt is recorded).
"""
from __future__ import annotations

import socket

ATTEMPTS: list[str] = []
_ORIGINAL = {}


class NetworkBlocked(OSError):
    """Raised instead of any network access while the guard is on."""


def _refuse(what: str):
    ATTEMPTS.append(what)
    raise NetworkBlocked(f"network access attempted while blocked: {what}")


def _is_local(sock) -> bool:
    return getattr(socket, "AF_UNIX", None) is not None and sock.family == socket.AF_UNIX


def install() -> list[str]:
    """Block the network in this process; returns the list the attempts are appended to."""
    if _ORIGINAL:
        return ATTEMPTS
    _ORIGINAL.update(connect=socket.socket.connect, connect_ex=socket.socket.connect_ex,
                     create_connection=socket.create_connection, getaddrinfo=socket.getaddrinfo,
                     gethostbyname=socket.gethostbyname)

    def connect(self, address):
        return _ORIGINAL["connect"](self, address) if _is_local(self) else _refuse(f"connect {address!r}")

    def connect_ex(self, address):
        return _ORIGINAL["connect_ex"](self, address) if _is_local(self) else _refuse(f"connect_ex {address!r}")

    socket.socket.connect = connect
    socket.socket.connect_ex = connect_ex
    socket.create_connection = lambda address, *a, **k: _refuse(f"create_connection {address!r}")
    socket.getaddrinfo = lambda host, *a, **k: _refuse(f"getaddrinfo {host!r}")
    socket.gethostbyname = lambda host: _refuse(f"gethostbyname {host!r}")
    return ATTEMPTS


def uninstall() -> None:
    if not _ORIGINAL:
        return
    socket.socket.connect = _ORIGINAL["connect"]
    socket.socket.connect_ex = _ORIGINAL["connect_ex"]
    socket.create_connection = _ORIGINAL["create_connection"]
    socket.getaddrinfo = _ORIGINAL["getaddrinfo"]
    socket.gethostbyname = _ORIGINAL["gethostbyname"]
    _ORIGINAL.clear()
    ATTEMPTS.clear()
