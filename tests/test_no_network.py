"""The guard behind `pytest --no-network` (`make test`): connections beyond loopback are refused, here and in
child processes; loopback still works."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import NO_NETWORK

OUTSIDE = ("192.0.2.1", 80)  # TEST-NET-1 (RFC 5737): never a real host

# The guard installs itself in a fresh interpreter that has the variable and the folder on PYTHONPATH.
PROBE = """
import socket, sys
listener = socket.create_server(("127.0.0.1", 0))
socket.create_connection(listener.getsockname(), timeout=5).close()  # loopback: allowed
try:
    socket.create_connection(("192.0.2.1", 80), timeout=5)
except ConnectionRefusedError as error:
    print("refused:", error)
try:
    socket.getaddrinfo("example.com", 443)
except ConnectionRefusedError as error:
    print("refused:", error)
"""


def guarded_env() -> dict[str, str]:
    path = os.pathsep.join(filter(None, [str(NO_NETWORK), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "VQA_TESTS_NO_NETWORK": "1", "PYTHONPATH": path}


def test_a_guarded_process_refuses_the_outside_and_keeps_loopback():
    run = subprocess.run([sys.executable, "-c", PROBE], env=guarded_env(), capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("refused: outbound network is refused") for line in lines), lines
    assert "192.0.2.1" in lines[0] and "example.com" in lines[1]


def test_this_run_is_guarded_when_asked():
    if os.environ.get("VQA_TESTS_NO_NETWORK") != "1":
        pytest.skip("run with --no-network (make test does) to check the guard of this process")
    with pytest.raises(ConnectionRefusedError, match="outbound network is refused"):
        socket.create_connection(OUTSIDE, timeout=5)
    assert str(NO_NETWORK) in os.environ["PYTHONPATH"].split(os.pathsep)  # children get it too
