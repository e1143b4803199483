"""What a database failure means for the caller, whatever layer raised it.

The same failure reaches the app as an asyncpg error (the read side), a SQLAlchemy
``DBAPIError`` whose ``.orig`` carries the SQLSTATE (the write side), or advanced-alchemy's
``RepositoryError`` raised *from* either; a failed connect may even surface as a bare
``OSError`` under them. :func:`classify` looks through that wrapping (``.orig`` and ``__cause__``,
not ``__context__``: a bug in an ``except`` block stays a bug) and sorts by exception type and
SQLSTATE; the HTTP mapping lives in the app.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final, Literal

import asyncpg
import msgspec
from sqlalchemy import exc as sa_exc

FailureKind = Literal["unavailable", "invalid_data", "conflict", "missing_reference"]
"""``unavailable``: try again later (503); ``invalid_data``: a value the database refused (422);
``conflict``: a uniqueness conflict (409); ``missing_reference``: a row referred to does not
exist (any more) (422)."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached, or no connection became free in time."""


class DatabaseFailure(msgspec.Struct, frozen=True):
    kind: FailureKind
    sqlstate: str | None = None
    column: str | None = None
    """The column the server named, when it named one (rare for data errors)."""
    constraint: str | None = None
    """The constraint the server named (foreign keys: which reference points nowhere)."""


# SQLSTATEs that mean "not now" rather than "not this": class 08 connection exceptions,
# class 53 insufficient resources (53300 too many connections), and the operator
# intervention codes for a server shutting down, crashing or still starting.
_UNAVAILABLE_CLASSES: Final = ("08", "53")
_UNAVAILABLE_CODES: Final = frozenset({"57P01", "57P02", "57P03"})
_DATA_CLASS: Final = "22"
_UNIQUE_VIOLATION: Final = "23505"
_FOREIGN_KEY_VIOLATION: Final = "23503"
_SQLSTATE: Final = re.compile(r"[0-9A-Z]{5}")
_DRIVER_MODULES: Final = ("asyncpg.", "sqlalchemy.")
_MAX_DEPTH: Final = 16  # a chain longer than this is not a database error's wrapping


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and everything it wraps, breadth first, each once."""
    seen: set[int] = set()
    queue: list[BaseException] = [exc]
    while queue and len(seen) < _MAX_DEPTH:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        for inner in (getattr(current, "orig", None), current.__cause__):
            if isinstance(inner, BaseException):
                queue.append(inner)


def _sqlstate(exc: BaseException) -> str | None:
    code = getattr(exc, "sqlstate", None)
    return code if isinstance(code, str) and _SQLSTATE.fullmatch(code) else None


def _from_sqlstate(code: str, exc: BaseException) -> DatabaseFailure | None:
    if code[:2] in _UNAVAILABLE_CLASSES or code in _UNAVAILABLE_CODES:
        return DatabaseFailure("unavailable", code)
    column = getattr(exc, "column_name", None)
    column = column if isinstance(column, str) and column else None
    if code.startswith(_DATA_CLASS):
        return DatabaseFailure("invalid_data", code, column)
    if code == _UNIQUE_VIOLATION:
        return DatabaseFailure("conflict", code)
    if code == _FOREIGN_KEY_VIOLATION:
        # SQLAlchemy's adapted error carries the SQLSTATE; asyncpg's, under it, the constraint
        names = (getattr(inner, "constraint_name", None) for inner in _chain(exc))
        constraint = next((name for name in names if isinstance(name, str)), None)
        return DatabaseFailure("missing_reference", code, constraint=constraint)
    return None


def _raised_in_driver(exc: BaseException) -> bool:
    """Whether the traceback passes through the database driver or SQLAlchemy: a refused
    connect reaches the app as a bare ``OSError``, SQLAlchemy wraps only the driver's own errors."""
    tb = exc.__traceback__
    while tb is not None:
        module = tb.tb_frame.f_globals.get("__name__", "")
        if isinstance(module, str) and module.startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def _is_database_error(exc: BaseException) -> bool:
    # advanced-alchemy's errors are matched by module: importing them here would tie the adapter
    # to the service layer for one isinstance check.
    return isinstance(
        exc, asyncpg.PostgresError | asyncpg.InterfaceError | sa_exc.SQLAlchemyError | DatabaseUnavailable
    ) or type(exc).__module__.startswith("advanced_alchemy")


def classify(exc: BaseException) -> DatabaseFailure | None:
    """What ``exc`` means when it is (or wraps) a database failure we can name; else ``None``
    (a bug or an unknown failure: the app answers 500 and logs it)."""
    inside_database_error = False
    for current in _chain(exc):
        code = _sqlstate(current)
        if code is not None:
            # The innermost driver error decides; a SQLSTATE that is not ours to name is a 500.
            return _from_sqlstate(code, current)
        if isinstance(current, DatabaseUnavailable | sa_exc.TimeoutError):
            return DatabaseFailure("unavailable")  # no connection in time (pool exhausted or server gone)
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return DatabaseFailure("unavailable")
        if isinstance(current, asyncpg.exceptions._base.DataError):
            return DatabaseFailure("invalid_data")  # the driver refused a value before sending it
        if isinstance(current, asyncpg.InterfaceError) and "connection" in str(current) and "closed" in str(current):
            return DatabaseFailure("unavailable")
        if isinstance(current, asyncpg.exceptions._base.InternalClientError):
            return DatabaseFailure("unavailable")  # the protocol state broke with the connection
        if isinstance(current, OSError | TimeoutError) and (inside_database_error or _raised_in_driver(current)):
            return DatabaseFailure("unavailable")  # a refused, reset or timed-out connection
        inside_database_error = inside_database_error or _is_database_error(current)
    return None
