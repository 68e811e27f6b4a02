"""Refuse outbound network connections, so that a test run proves nothing is downloaded.

`pytest --no-network` (or `VQA_TESTS_NO_NETWORK=1`, which `make test` sets) installs this guard in the test
process (tests/conftest.py) and puts this folder on `PYTHONPATH`, where Python imports `sitecustomize` at the
start of every child process that inherits the environment (CLI runs, DDP workers), so they are guarded too.

Loopback stays allowed: DDP's rendezvous and the tests' local servers use it. Unix sockets are not touched.
"""

from __future__ import annotations

import ipaddress
import os
import socket

ENV = "VQA_TESTS_NO_NETWORK"
_INTERNET = (socket.AF_INET, socket.AF_INET6)


def is_local(host: object) -> bool:
    """Whether `host` (a name or an address) stays on this machine."""
    if isinstance(host, bytes):
        host = host.decode()
    if host in (None, "", "localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:  # a host name: resolving it would ask a name server
        return False


def _refuse(what: str, target: object) -> None:
    raise ConnectionRefusedError(f"outbound network is refused in this test run ({ENV}=1): {what} {target!r}")


def install() -> None:
    """Patch `socket` so that connections, datagrams and name lookups beyond loopback raise (idempotent)."""
    if getattr(socket, "_vqa_no_network", False):
        return
    connect, connect_ex, sendto = socket.socket.connect, socket.socket.connect_ex, socket.socket.sendto
    getaddrinfo = socket.getaddrinfo

    def guarded_connect(self, address):
        if self.family in _INTERNET and not is_local(address[0]):
            _refuse("connect to", address)
        return connect(self, address)

    def guarded_connect_ex(self, address):
        if self.family in _INTERNET and not is_local(address[0]):
            _refuse("connect to", address)
        return connect_ex(self, address)

    def guarded_sendto(self, data, *args):
        address = args[-1]
        if self.family in _INTERNET and not is_local(address[0]):
            _refuse("send to", address)
        return sendto(self, data, *args)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if not is_local(host):
            _refuse("look up", host)
        return getaddrinfo(host, *args, **kwargs)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex
    socket.socket.sendto = guarded_sendto
    socket.getaddrinfo = guarded_getaddrinfo
    socket._vqa_no_network = True


if os.environ.get(ENV) == "1":
    install()
