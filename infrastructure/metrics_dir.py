"""The directory of prometheus_client's multiprocess mode, prepared by ``rural24 serve``.

Kept apart from ``infrastructure.metrics``, and free of any prometheus_client import: the
variable must be set before prometheus_client is first imported, since it chooses how metric
values are stored once, at import, and granian's workers are forked from ``rural24 serve``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PREFIX = "rural24-metrics-"
_OWNED = re.compile(rf"^{_PREFIX}(\d+)-")


def multiprocess_dir() -> str | None:
    """The directory when this process is one of several sharing their metrics, else ``None``."""
    return os.environ.get(MULTIPROC_ENV) or None


def prepare_multiprocess_dir(workers: int) -> Path | None:
    """With more than one worker: a fresh private directory, exported as
    ``PROMETHEUS_MULTIPROC_DIR`` for the workers granian is about to fork; ``None`` (and the
    variable removed, so a stray value cannot switch the mode on) with one. Directories left by
    an earlier ``rural24 serve`` that did not exit cleanly (SIGKILL) are removed first. The
    caller removes the returned directory when the server stops (:func:`remove_multiprocess_dir`)."""
    os.environ.pop(MULTIPROC_ENV, None)
    if workers <= 1:
        return None
    _remove_orphans(Path(tempfile.gettempdir()))
    path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))  # mode 0700: this user's only
    os.environ[MULTIPROC_ENV] = str(path)
    return path


def remove_multiprocess_dir(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)
        if os.environ.get(MULTIPROC_ENV) == str(path):
            del os.environ[MULTIPROC_ENV]


def _remove_orphans(parent: Path) -> None:
    """Our directories whose ``rural24 serve`` (the pid in the name) is gone."""
    for entry in parent.glob(f"{_PREFIX}*"):
        match = _OWNED.match(entry.name)
        if match is None or not entry.is_dir() or entry.stat().st_uid != os.getuid():
            continue
        pid = int(match.group(1))
        if pid != os.getpid() and not alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (ours or not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
