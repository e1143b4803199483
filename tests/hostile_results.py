"""Where the hostile-input and fault tests leave their figures for ``make hostile-report``.

With ``RURAL24_HOSTILE_RESULTS=<dir>`` (set by ``tests/hostile_report.py``) a fault test appends
one JSON line of figures to ``<dir>/faults.jsonl``; without it nothing is written.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

RESULTS_ENV = "RURAL24_HOSTILE_RESULTS"


def record_fault(name: str, **figures: Any) -> None:
    """``name``: what was done (``"PostgreSQL stopped twice under load"``); ``figures``: counts,
    with ``lost`` for acknowledged writes that are missing afterwards."""
    target = os.environ.get(RESULTS_ENV)
    if not target:
        return
    Path(target).mkdir(parents=True, exist_ok=True)
    with (Path(target) / "faults.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps({"name": name, **figures}, ensure_ascii=False) + "\n")
