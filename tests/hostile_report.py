"""Runs the hostile-input catalogue, the OpenAPI fuzzer and the fault tests, then writes
``docs/hostile-input.md``.

``make hostile-report`` (or ``python -m tests.hostile_report``). The test modules record each
outcome in ``RURAL24_HOSTILE_RESULTS`` (the fault tests through ``tests/hostile_results.py``);
this script only runs them and counts. Extra arguments
go to pytest. ``RURAL24_FUZZ_EXAMPLES`` makes the fuzzing longer, as for ``make fuzz``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "hostile-input.md"
MODULES = ["tests/integration/test_bad_input_catalogue.py", "tests/integration/test_fuzz_openapi.py"]
FAULT_TESTS = [
    "tests/e2e/test_database_outage.py",
    "tests/e2e/test_queue_outage.py",
    "tests/e2e/test_image_worker.py::test_a_worker_killed_mid_image_leaves_it_to_the_next_worker",
    "tests/e2e/test_email_worker.py::test_a_worker_killed_mid_send_leaves_the_email_to_the_next_worker",
]


def _run(results: Path, extra: list[str]) -> tuple[int, float]:
    environ = os.environ | {"RURAL24_HOSTILE_RESULTS": str(results)}
    started = time.monotonic()
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *MODULES, *FAULT_TESTS, *extra]
    code = subprocess.call(command, cwd=ROOT, env=environ)
    return code, time.monotonic() - started


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True).stdout
    except OSError:
        return "unknown"
    return out.stdout.strip() + (" (with uncommitted changes)" if dirty.strip() else "")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ").replace("`", "'")


def catalogue_section(outcomes: list[dict[str, Any]]) -> list[str]:
    lines = ["## Bad-input catalogue", ""]
    if not outcomes:
        return [*lines, "No results: the catalogue did not run.", ""]
    modes = Counter(o["mode"] for o in outcomes)
    lines.append(
        f"{len(outcomes)} requests: {modes.get('memory', 0)} cases in memory mode (stage 1), "
        f"{modes.get('redis', 0)} of them again in Redis mode (stage 2). Each must be a 4xx "
        "`application/problem+json` with `status`, `title`, `detail` (and the field named, for a refused "
        "field) and leave every table of the database unchanged."
    )
    lines += [
        "",
        "| class | requests | 4xx | 5xx | other wrong answers | rows changed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome["kind"]].append(outcome)
    totals = Counter[str]()
    for kind, group in sorted(by_kind.items()):
        row = Counter[str](
            requests=len(group),
            ok4xx=sum(400 <= o["status"] < 500 for o in group),
            server=sum(o["status"] >= 500 for o in group),
            wrong=sum(not o["ok"] and o["status"] < 500 for o in group),
            lost=sum(o["lostWrite"] for o in group),
        )
        totals.update(row)
        lines.append(
            f"| {kind} | {row['requests']} | {row['ok4xx']} | {row['server']} | {row['wrong']} | {row['lost']} |"
        )
    lines.append(
        f"| **all** | **{totals['requests']}** | **{totals['ok4xx']}** | **{totals['server']}** | "
        f"**{totals['wrong']}** | **{totals['lost']}** |"
    )
    failing = [o for o in outcomes if not o["ok"]]
    lines += ["", f"Failing cases: {len(failing)}.", ""]
    if failing:
        lines += ["| mode | case | route | status | what is wrong | body (start) |", "|---|---|---|---:|---|---|"]
        for o in sorted(failing, key=lambda o: (o["kind"], o["route"], o["id"], o["mode"])):
            lines.append(
                f"| {o['mode']} | {_cell(o['id'])} | `{_cell(o['route'])}` | {o['status']} | "
                f"{_cell('; '.join(o['problems']))} | {_cell(o['body'][:120])} |"
            )
        lines.append("")
    return lines


def fuzz_section(fuzz: dict[str, Any] | None) -> list[str]:
    lines = ["## Schemathesis (OpenAPI fuzzing)", ""]
    if not fuzz:
        return [*lines, "No results: the fuzzer did not run.", ""]
    operations: dict[str, dict[str, Any]] = fuzz["operations"]
    examples = sum(o["examples"] for o in operations.values())
    errors = sum(len(o["serverErrors"]) for o in operations.values())
    documented = fuzz.get("documented", [])
    missed = sorted(set(documented) - set(operations) - set(fuzz.get("excluded", {})))
    lines.append(
        f"{len(operations)} of the {len(documented)} operations of `/schema/openapi.json`"
        + (f" (not run: {', '.join(missed)})" if missed else "")
        + f", {examples} generated requests (valid and "
        f"invalid data; phases examples, coverage and fuzzing, up to {fuzz['examplesPerPhase']} examples per "
        f"operation and phase), check `not_a_server_error`: **{errors} server errors**."
    )
    if fuzz.get("excluded"):
        lines += ["", "Excluded operations:", ""]
        lines += [f"* `{name}`: {reason}" for name, reason in sorted(fuzz["excluded"].items())]
    lines += ["", "| operation | requests | statuses | 5xx |", "|---|---:|---|---:|"]
    for name, stats in sorted(operations.items(), key=lambda item: item[0].split(" ", 1)[::-1]):
        statuses = ", ".join(f"{code}: {count}" for code, count in sorted(stats["statuses"].items()))
        lines.append(f"| `{name}` | {stats['examples']} | {statuses} | {len(stats['serverErrors'])} |")
    for name, stats in sorted(operations.items()):
        for error in stats["serverErrors"][:3]:
            lines += ["", f"* `{name}` → {error['status']}: {_cell(error['body'])}", f"  `{_cell(error['curl'])}`"]
    lines.append("")
    return lines


def faults_section(faults: list[dict[str, Any]]) -> list[str]:
    lines = ["## Faults with real processes", ""]
    if not faults:
        return [*lines, "No results: the fault tests did not run.", ""]
    lost = sum(int(f.get("lost", 0)) for f in faults)
    lines += [
        f"{len(faults)} runs (`tests/e2e/`): real `rural24 serve` / `rural24 worker` processes, a PostgreSQL or "
        f"Redis of the test's own stopped or a worker SIGKILLed mid-job. **Lost writes: {lost}.**",
        "",
        "| fault | figures | lost |",
        "|---|---|---:|",
    ]
    for fault in faults:
        figures = ", ".join(f"{key} {value}" for key, value in fault.items() if key not in {"name", "lost"})
        lines.append(f"| {_cell(fault['name'])} | {_cell(figures)} | {fault.get('lost', 0)} |")
    lines.append("")
    return lines


def main(argv: list[str]) -> int:
    with tempfile.TemporaryDirectory(prefix="hostile-") as folder:
        results = Path(folder)
        code, seconds = _run(results, argv)
        catalogue_file, fuzz_file = results / "catalogue.json", results / "fuzz.json"
        outcomes = json.loads(catalogue_file.read_text()) if catalogue_file.exists() else []
        fuzz = json.loads(fuzz_file.read_text()) if fuzz_file.exists() else None
        faults_file = results / "faults.jsonl"
        faults = [json.loads(line) for line in faults_file.read_text().splitlines()] if faults_file.exists() else []
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Hostile input: what the API was sent and how it answered",
        "",
        f"Generated by `make hostile-report` on {now} at commit {_commit()}, in {seconds:.0f} s "
        f"(pytest exit status {code}). The cases live in `tests/integration/test_bad_input_catalogue.py`, the "
        "fuzzer in `tests/integration/test_fuzz_openapi.py`, the faults in `tests/e2e/`; all run in CI with the "
        "rest of the suite.",
        "",
        *catalogue_section(outcomes),
        *fuzz_section(fuzz),
        *faults_section(faults),
    ]
    REPORT.parent.mkdir(exist_ok=True)
    REPORT.write_text("\n".join(lines).rstrip() + "\n")
    print(f"wrote {REPORT.relative_to(ROOT)}")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
