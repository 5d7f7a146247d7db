"""Test-only network guard: imported at start-up by every Python process whose PYTHONPATH holds this folder
(the test process, parser workers, flow subprocesses). Any connection that is not loopback or a Unix socket
raises before a packet is sent, so a test passes only if nothing downloads at run time."""

import socket

_LOOPBACK = ("127.", "::1", "localhost", "0.0.0.0")
_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


def _allowed(sock: socket.socket, address: object) -> bool:
    if sock.family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    return str(host).startswith(_LOOPBACK)


def _guarded_connect(self: socket.socket, address: object) -> None:
    if not _allowed(self, address):
        raise ConnectionRefusedError(f"docmill test network guard: connection to {address!r} blocked")
    return _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if not _allowed(self, address):
        raise ConnectionRefusedError(f"docmill test network guard: connection to {address!r} blocked")
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> list:  # type: ignore[type-arg]
    if host is not None and not str(host).startswith(_LOOPBACK):
        raise socket.gaierror(f"docmill test network guard: name lookup of {host!r} blocked")
    return _getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo  # type: ignore[assignment]
