"""Classifying database failures by type and SQLSTATE, through every layer's wrapping (pure)."""

from __future__ import annotations

import pytest
from advanced_alchemy.exceptions import IntegrityError as RepositoryIntegrityError
from advanced_alchemy.exceptions import RepositoryError
from asyncpg import exceptions as pg
from sqlalchemy import exc as sa_exc

from infrastructure.database.errors import DatabaseFailure, DatabaseUnavailable, classify


def wrapped(driver_error: BaseException) -> BaseException:
    """As the write side raises it: advanced-alchemy's error from SQLAlchemy's from the driver's."""
    dbapi = sa_exc.DBAPIError("INSERT …", None, driver_error)  # type: ignore[arg-type]
    try:
        try:
            raise dbapi from driver_error
        except sa_exc.DBAPIError as exc:
            raise RepositoryIntegrityError(detail="An integrity error occurred") from exc
    except RepositoryError as outer:
        return outer


@pytest.mark.parametrize(
    ("error", "kind", "sqlstate"),
    [
        (pg.ConnectionDoesNotExistError("gone"), "unavailable", "08003"),
        (pg.ConnectionFailureError("reset"), "unavailable", "08006"),
        (pg.AdminShutdownError("terminating connection due to administrator command"), "unavailable", "57P01"),
        (pg.CrashShutdownError("crash"), "unavailable", "57P02"),
        (pg.CannotConnectNowError("the database system is starting up"), "unavailable", "57P03"),
        (pg.TooManyConnectionsError("sorry, too many clients already"), "unavailable", "53300"),
        (pg.NumericValueOutOfRangeError("numeric field overflow"), "invalid_data", "22003"),
        (pg.InvalidTextRepresentationError("invalid input syntax"), "invalid_data", "22P02"),
        (pg.CharacterNotInRepertoireError("invalid byte sequence 0x00"), "invalid_data", "22021"),
        (pg.StringDataRightTruncationError("value too long"), "invalid_data", "22001"),
        (pg.UniqueViolationError("duplicate key"), "conflict", "23505"),
        (pg.ForeignKeyViolationError("not present in table"), "missing_reference", "23503"),
    ],
)
def test_sqlstates_raw_and_wrapped(error: BaseException, kind: str, sqlstate: str) -> None:
    expected = DatabaseFailure(kind, sqlstate)  # type: ignore[arg-type]
    assert classify(error) == expected
    assert classify(wrapped(error)) == expected


@pytest.mark.parametrize(
    "error",
    [
        pg.NotNullViolationError("null value"),  # our bug, not the caller's
        pg.CheckViolationError("violates check constraint"),
        pg.UndefinedTableError("relation does not exist"),
        pg.DeadlockDetectedError("deadlock"),
    ],
)
def test_other_sqlstates_are_not_named(error: BaseException) -> None:
    assert classify(error) is None
    assert classify(wrapped(error)) is None


def test_the_column_the_server_names_is_kept() -> None:
    error = pg.StringDataRightTruncationError("value too long")
    error.column_name = "locality"
    assert classify(wrapped(error)) == DatabaseFailure("invalid_data", "22001", "locality")


def test_pool_timeouts_and_lost_connections_are_unavailable() -> None:
    assert classify(sa_exc.TimeoutError("QueuePool limit of size 4 overflow 4 reached")) == DatabaseFailure(
        "unavailable"
    )
    assert classify(DatabaseUnavailable("no connection in time")) == DatabaseFailure("unavailable")
    invalidated = sa_exc.DBAPIError("SELECT 1", None, Exception("closed"), connection_invalidated=True)  # type: ignore[arg-type]
    assert classify(invalidated) == DatabaseFailure("unavailable")
    assert classify(wrapped(pg.InterfaceError("connection is closed"))) == DatabaseFailure("unavailable")
    assert classify(wrapped(ConnectionResetError("reset by peer"))) == DatabaseFailure("unavailable")


def test_a_value_the_driver_refuses_is_invalid_data() -> None:
    error = pg._base.DataError("invalid input for query argument $1 (value out of int64 range)")
    assert classify(wrapped(error)) == DatabaseFailure("invalid_data")


def test_a_refused_connect_is_unavailable_only_when_raised_by_the_driver() -> None:
    code = compile("def connect():\n    raise ConnectionRefusedError(111, 'Connect call failed')\n", "driver", "exec")
    driver: dict[str, object] = {"__name__": "asyncpg.connect_utils"}
    exec(code, driver)
    with pytest.raises(ConnectionRefusedError) as refused:
        driver["connect"]()  # type: ignore[operator]
    assert classify(refused.value) == DatabaseFailure("unavailable")
    # The same error from anywhere else (an SMTP server, a media store) is not the database's.
    assert classify(ConnectionRefusedError(111, "Connect call failed")) is None
    assert classify(TimeoutError()) is None


def _bug_in_except_block(first: BaseException, *, explicit: bool) -> BaseException:
    try:
        raise first
    except type(first):
        if explicit:
            raise RuntimeError("a bug in an except block") from None
        raise ValueError("implicit context only")  # noqa: B904 - the point of the test


def test_bugs_stay_bugs() -> None:
    assert classify(RuntimeError("boom")) is None
    assert classify(KeyError("x")) is None
    for explicit in (True, False):
        with pytest.raises(Exception) as bug:  # noqa: PT011 - either kind of bug
            _bug_in_except_block(pg.UniqueViolationError("duplicate key"), explicit=explicit)
        assert bug.value.__context__ is not None
        assert classify(bug.value) is None
