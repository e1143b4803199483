"""The multiprocess metrics folder of ``rural24 serve`` and the bookkeeping of exited workers,
with real processes writing real metric files."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector

from infrastructure.metrics import forget_dead_processes
from infrastructure.metrics_dir import MULTIPROC_ENV, prepare_multiprocess_dir, remove_multiprocess_dir

WRITE_A_LIVE_GAUGE = """
import sys
from prometheus_client import Gauge, Counter
Gauge("pool_in_use", "x", multiprocess_mode="liveall").set(3)
Counter("served", "x").inc(5)
print("written", flush=True)
sys.stdin.read()  # alive until the test closes stdin
"""


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``tempfile.gettempdir()`` is a folder of this test's (no other run's folders in sight)."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    return tmp_path


def _exited_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_one_worker_uses_no_folder_and_ignores_a_stray_variable(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(MULTIPROC_ENV, str(private_tmp / "stray"))
    assert prepare_multiprocess_dir(1) is None
    assert MULTIPROC_ENV not in os.environ
    assert list(private_tmp.iterdir()) == []


def test_several_workers_get_a_private_folder_removed_at_the_end(private_tmp: Path) -> None:
    folder = prepare_multiprocess_dir(2)
    assert folder is not None
    assert folder.parent == private_tmp
    assert folder.name.startswith(f"rural24-metrics-{os.getpid()}-")
    assert folder.stat().st_mode & 0o777 == 0o700
    assert os.environ[MULTIPROC_ENV] == str(folder)
    (folder / "counter_1.db").write_bytes(b"")
    remove_multiprocess_dir(folder)
    assert not folder.exists()
    assert MULTIPROC_ENV not in os.environ


def test_a_killed_servers_folder_is_removed_at_the_next_start(private_tmp: Path) -> None:
    sleeper = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        orphan = private_tmp / f"rural24-metrics-{_exited_pid()}-abc"
        running = private_tmp / f"rural24-metrics-{sleeper.pid}-def"
        unrelated = private_tmp / "rural24-metrics-notes"
        for folder in (orphan, running, unrelated):
            folder.mkdir()
        folder = prepare_multiprocess_dir(2)
        assert not orphan.exists()  # its server is gone
        assert running.exists()  # another server still running
        assert unrelated.exists()  # not one of ours
        remove_multiprocess_dir(folder)
    finally:
        assert sleeper.stdin is not None
        sleeper.stdin.close()
        sleeper.wait(10)


def test_an_exited_workers_live_gauges_leave_and_its_counts_stay(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = private_tmp / "metrics"
    folder.mkdir()
    env = {**os.environ, MULTIPROC_ENV: str(folder)}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITE_A_LIVE_GAUGE], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        for _ in range(2)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline() == b"written\n"
        gone, alive = workers
        assert gone.stdin is not None
        gone.stdin.close()
        gone.wait(10)
        monkeypatch.setenv(MULTIPROC_ENV, str(folder))

        assert forget_dead_processes() == [gone.pid]

        registry = CollectorRegistry()
        MultiProcessCollector(registry, str(folder))  # type: ignore[no-untyped-call]
        gauge = {s.labels["pid"]: s.value for m in registry.collect() for s in m.samples if s.name == "pool_in_use"}
        served = [s.value for m in registry.collect() for s in m.samples if s.name == "served_total"]
        assert gauge == {str(alive.pid): 3.0}
        assert served == [10.0]  # the exited worker's count is still part of the total
        assert forget_dead_processes() == []  # nothing more to forget
    finally:
        for worker in workers:
            if worker.stdin is not None and not worker.stdin.closed:
                worker.stdin.close()
            worker.wait(10)
