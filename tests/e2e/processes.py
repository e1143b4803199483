"""Run the real console script as a child process and wait for it over HTTP (bounded polling)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

_T = TypeVar("_T")
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

    async def await_while_running(self, work: Awaitable[_T], timeout: float) -> _T:
        """Await ``work``, failing at once if the process dies first (instead of waiting forever)."""
        task = asyncio.ensure_future(work)
        deadline = time.monotonic() + timeout
        while not task.done():
            if self.process.poll() is not None:
                task.cancel()
                msg = f"process exited with {self.process.returncode}:\n{self.output()[-3000:]}"
                raise AssertionError(msg)
            if time.monotonic() > deadline:
                task.cancel()
                msg = f"no result within {timeout} s:\n{self.output()[-3000:]}"
                raise AssertionError(msg)
            await asyncio.wait([task], timeout=0.1)
        return task.result()

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


@contextmanager
def serving(env: Mapping[str, str], count: int, logs: Path) -> Iterator[list[tuple[Process, str]]]:
    """``count`` real ``rural24 serve`` processes on free loopback ports, each answering
    ``/api/health`` before the block runs, all stopped after it: ``[(process, base_url), …]``."""
    started: list[tuple[Process, str]] = []
    try:
        for n in range(count):
            port = free_port()
            env_n = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
            started.append((Process(["serve"], env_n, logs / f"serve-{n}.log"), f"http://127.0.0.1:{port}"))
        for process, url in started:
            process.wait_http(f"{url}/api/health")  # health is never rate limited: budgets untouched
        yield started
    finally:
        for process, _ in started:
            process.stop()
