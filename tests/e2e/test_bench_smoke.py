"""The wrk benchmark, bounded: it installs nothing new here (CI installs wrk), seeds a few ads, runs
four scenarios for a second each and writes a report whose rows have figures and no errors (so the
write rows' requests were accepted: any status of 400 or more counts as an error).

The real run (``make bench``: 100 000 ads, 10 s per scenario) is by hand; this keeps it working."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import service_unavailable

ROOT = Path(__file__).resolve().parents[2]
BOUNDED = ["--ads", "300", "--duration", "1", "--warmup", "1", "--connections", "4"]
BOUNDED += ["--scenarios", "health,hot-search,mixed,writes", "--no-redis"]


def test_the_wrk_benchmark_runs_and_reports(tmp_path: Path) -> None:
    if shutil.which("wrk") is None:
        service_unavailable("no wrk on PATH (apt-get install -y wrk)")
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    completed = subprocess.run(
        [sys.executable, "bench/wrk_bench.py", *BOUNDED, "--results", str(tmp_path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (report,) = tmp_path.glob("wrk-*.json")
    rows = {row["name"]: row for row in json.loads(report.read_text())["rows"]}
    expected = {"/api/health", "bare Struct", "hot search, memory", "bare bytes (search)"}
    assert expected | {"login", "publish", "send message"} <= set(rows), rows.keys()
    for name, row in rows.items():
        # a login is one argon2 verification (~0.2 s, longer on a loaded machine): a one-second row
        # may finish none, but none of those it sent may fail
        assert row["rps"] > 0 or name == "login", row
        assert not any(row["errors"].values()), row  # by kind: socket, timeout, status
    assert rows["/api/health"]["ceiling"] == "bare Struct"
    paced = rows["mixed 1,000/s, memory"]  # Poisson arrivals at an offered rate (bench/wrk/paced.lua)
    assert paced["offered"] == 1000
    assert paced["rps"] < 1500, paced  # paced, not as fast as answered (health ran at thousands)
    assert list(tmp_path.glob("wrk-*.md")), "the markdown report is written too"
