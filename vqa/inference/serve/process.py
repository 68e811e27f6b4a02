"""`vqa serve` in a child process on a free loopback port, ready when its /healthz answers (for the load
benchmark, the browser test and the page screenshot)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vqa.errors import VQAError


class ServerStartError(VQAError):
    """The server process exited, or did not answer /healthz in time; the message ends with its log."""


# Requests to the local server never go through a proxy from the environment (HTTP_PROXY and the like).
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get_json(url: str, timeout_s: float = 10.0) -> Any:
    """GET `url` and parse its JSON body.

    Raises:
        urllib.error.URLError, OSError: no answer; urllib.error.HTTPError for a status other than 2xx.
    """
    with _DIRECT.open(url, timeout=timeout_s) as response:
        return json.load(response)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on now (the OS's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class ServerProcess:
    """`python -m vqa serve --model ... <arguments>` on 127.0.0.1 and a free port; a context manager.

    Args:
        models: the `--model` arguments ([NAME=]PATH).
        arguments: further `vqa serve` options (e.g. ["--max-batch", "1"]).
        env: extra environment variables for the child (e.g. {"OMP_NUM_THREADS": "1"}).
        start_timeout_s: how long to wait for /healthz.
        cwd: the child's working directory (default: this process's).

    Attributes:
        url: "http://127.0.0.1:<port>" once started.
        log: the file holding the child's stdout and stderr.
    """

    def __init__(
        self,
        models: Sequence[str],
        arguments: Sequence[str] = (),
        *,
        env: dict[str, str] | None = None,
        start_timeout_s: float = 120.0,
        cwd: str | os.PathLike | None = None,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._folder = tempfile.TemporaryDirectory(prefix="vqa-serve-")
        self.log = Path(self._folder.name) / "server.log"
        model_args = [arg for model in models for arg in ("--model", model)]
        self.command = [sys.executable, "-m", "vqa", "serve", *model_args, "--port", str(self.port), *arguments]
        self._env = {**os.environ, **(env or {})}
        self._cwd = cwd
        self._timeout_s = start_timeout_s
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> ServerProcess:
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdout=log, stderr=subprocess.STDOUT, env=self._env, cwd=self._cwd
            )
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerStartError(f"`vqa serve` exited with code {self.process.returncode}:\n{self.log_text()}")
            try:
                get_json(f"{self.url}/healthz", timeout_s=2.0)
                return self
            except (urllib.error.URLError, OSError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise ServerStartError(
            f"`vqa serve` did not answer /healthz within {self._timeout_s:.0f} s:\n{self.log_text()}"
        )

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
        self._folder.cleanup()

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Ask the server to shut down (SIGINT, as Ctrl-C) and wait; kill it if it does not. Returns its exit code."""
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_text(self) -> str:
        """What the server printed so far."""
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""
