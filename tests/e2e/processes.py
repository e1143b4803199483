"""Run the real console script as a child process and wait for it over HTTP (bounded polling)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx

SCRIPT = Path(sys.executable).parent / "rural24"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """``rural24 <args>`` with its output in a log file; ``stop()`` sends SIGTERM and waits."""

    def __init__(self, args: list[str], env: Mapping[str, str], log: Path) -> None:
        self.log_path = log
        self._log = log.open("wb")
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_", "REDIS_", "APP_"))}
        full_env.update(env)
        self.process = subprocess.Popen(
            [str(SCRIPT), *args], env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_http(self, url: str, timeout: float = 60.0) -> httpx.Response:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                msg = f"process exited with {self.process.returncode}:\n{self.output()[-3000:]}"
                raise AssertionError(msg)
            try:
                return httpx.get(url, timeout=2.0)
            except httpx.TransportError:
                time.sleep(0.1)
        msg = f"{url} did not answer within {timeout} s:\n{self.output()[-3000:]}"
        raise AssertionError(msg)

    def stop(self, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        self._log.close()
        return self.process.returncode
