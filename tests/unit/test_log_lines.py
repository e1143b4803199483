"""The log line format (pure): any record renders as one JSON object, exceptions as structured
fields, the log context on every line, secrets and bodies never written."""

from __future__ import annotations

import json
import logging
import logging.config
import pickle
import sys
from typing import Any

import structlog
from asyncpg import exceptions as pg

from rural24.logs import PROCESSORS, REDACTED, line_formatter, logging_dictconfig, redact, structlog_config


def _record(exc_info: Any = None, level: int = logging.ERROR, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("rural24.errors", level, __file__, 1, "unhandled error", None, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def _line(record: logging.LogRecord) -> dict[str, Any]:
    line = line_formatter().format(record)
    assert "\n" not in line
    parsed: dict[str, Any] = json.loads(line)
    return parsed


def test_a_driver_exception_and_unknown_values_render() -> None:
    def fail(password: str) -> None:
        raise pg.NotNullViolationError("null value in column")  # its metaclass broke the renderer

    try:
        fail("hunter2-local")
    except pg.PostgresError:
        exc_info = sys.exc_info()
    record = _line(_record(exc_info, status=500, error_class=pg.PostgresError, odd=object()))
    assert list(record)[:4] == ["timestamp", "level", "logger", "event"]
    assert record["event"] == "unhandled error"
    assert record["level"] == "error"
    assert record["logger"] == "rural24.errors"
    assert record["status"] == 500
    assert "PostgresError" in record["error_class"]
    assert record["odd"].startswith("<object object")
    (exception,) = record["exception"]
    assert exception["exc_type"] == "NotNullViolationError"
    assert exception["exc_value"] == "null value in column"
    assert [frame["name"] for frame in exception["frames"]][-1] == "fail"
    assert all(set(frame) == {"filename", "lineno", "name"} for frame in exception["frames"])
    assert "hunter2-local" not in json.dumps(record)  # the frames' locals are never written


def test_a_chained_exception_keeps_its_cause() -> None:
    try:
        try:
            raise KeyError("province")
        except KeyError as cause:
            raise RuntimeError("lookup failed") from cause
    except RuntimeError:
        exc_info = sys.exc_info()
    record = _line(_record(exc_info))
    assert [e["exc_type"] for e in record["exception"]] == ["RuntimeError", "KeyError"]
    assert record["exception"][1]["is_cause"] is True


def test_the_log_context_is_on_records_and_an_explicit_field_wins() -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-1", job="send_email")
    try:
        bound = _line(_record(level=logging.INFO))
        explicit = _line(_record(request_id="from-handler"))
    finally:
        structlog.contextvars.clear_contextvars()
    assert (bound["request_id"], bound["job"], bound["level"]) == ("req-1", "send_email", "info")
    assert explicit["request_id"] == "from-handler"
    assert "request_id" not in _line(_record())  # nothing bound, nothing invented


def test_secrets_and_bodies_are_redacted_by_key() -> None:
    event = redact(
        None,
        "info",
        {
            "event": "login",
            "password": "pasturas-2026",
            "new_password": "x",
            "jwt_secret": "s" * 40,
            "Authorization": "Bearer abc",
            "access_token": "t",
            "cookie": "c",
            "body": "Hola Rosa, tu cuenta …",
            "email_body": "…",
            "email": "rosa@chacra.com.ar",
            "status": 201,
            "nothing": None,
        },
    )
    for key in (
        "password",
        "new_password",
        "jwt_secret",
        "Authorization",
        "access_token",
        "cookie",
        "body",
        "email_body",
    ):
        assert event[key] == REDACTED, key
    assert (event["email"], event["status"], event["nothing"]) == ("rosa@chacra.com.ar", 201, None)


def test_a_password_in_a_url_is_masked_in_the_message_and_the_exception() -> None:
    try:
        raise ConnectionError("cannot reach postgresql://rural24:s3cr3t@db.internal:5432/rural24")
    except ConnectionError:
        exc_info = sys.exc_info()
    record = logging.LogRecord(
        "infrastructure.database",
        logging.WARNING,
        __file__,
        1,
        "retrying %s",
        ("redis://:p4ss@cache:6379/0",),
        exc_info,
    )
    line = line_formatter().format(record)
    assert "s3cr3t" not in line
    assert "p4ss" not in line
    parsed = json.loads(line)
    assert parsed["event"] == "retrying redis://:***@cache:6379/0"
    assert parsed["exception"][0]["exc_value"] == "cannot reach postgresql://rural24:***@db.internal:5432/rural24"


def test_the_values_of_a_failed_statement_are_dropped() -> None:
    from sqlalchemy.exc import IntegrityError

    try:
        raise IntegrityError(
            "INSERT INTO users (email, password_hash) VALUES ($1, $2)", ("rosa@chacra.com.ar", "$argon2id$v=19$x"), None
        )
    except IntegrityError as exc:
        error = exc
    record = _record((type(error), error, error.__traceback__))
    record.msg, record.args = "could not dispatch: %s", (str(error),)
    line = line_formatter().format(record)
    assert "argon2id" not in line
    assert "rosa@chacra.com.ar" not in line
    parsed = json.loads(line)
    assert "INSERT INTO users" in parsed["event"]  # the statement stays: it says what failed
    assert "[parameters: redacted]" in parsed["event"]
    assert "[parameters: redacted]" in parsed["exception"][0]["exc_value"]


def test_development_lines_are_readable_text() -> None:
    try:
        raise ValueError("bad province")
    except ValueError:
        exc_info = sys.exc_info()
    text = line_formatter(pretty=True).format(_record(exc_info, request_id="req-9", password="x"))
    first, *rest = text.splitlines()
    assert "unhandled error" in first
    assert "request_id=req-9" in first
    assert "[rural24.errors]" in first
    assert f"password={REDACTED}" in first
    assert "\x1b[" not in text  # colours only on a terminal
    assert any("ValueError: bad province" in line for line in rest)
    assert not first.startswith("{")


def test_the_configuration_is_one_handler_and_granian_can_take_it() -> None:
    config = logging_dictconfig("warning", stream="stderr")
    assert pickle.loads(pickle.dumps(config)) == config  # granian pickles it to its workers
    assert config["root"] == {"level": "WARNING", "handlers": ["console"]}
    assert config["handlers"]["console"]["stream"] == "ext://sys.stderr"
    assert all("handlers" not in spec for spec in config["loggers"].values())  # all lines meet at the root
    assert config["loggers"]["_granian"]["level"] == "WARNING"

    litestar = structlog_config("error")
    assert litestar.processors is not None
    assert litestar.processors[: len(PROCESSORS)] == PROCESSORS  # structlog's loggers: the same chain
    assert litestar.standard_lib_logging_config is not None
    assert litestar.standard_lib_logging_config.root["level"] == "ERROR"


def test_direct_lines_write_what_the_record_path_writes_and_step_aside_otherwise() -> None:
    """The access line's short cut (``DirectLines``) runs the configured formatter's processors on a
    dict: the line is the one the ``LogRecord`` path writes (timestamp aside), with the log
    context; with any other set-up (a second handler, a capturing one) it declines."""
    import io

    from rural24.logs import DirectLines

    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(line_formatter())
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    logger = logging.getLogger("rural24.access")
    fields = {"method": "GET", "path": "/api/ads/search", "status": 200, "password": "hunter2"}
    try:
        structlog.contextvars.bind_contextvars(request_id="req-direct")
        direct = DirectLines(logger)
        assert direct.emit(logging.INFO, "GET /api/ads/search 200", dict(fields)) is True
        logger.log(logging.INFO, "GET /api/ads/search 200", extra=dict(fields))
        first, second = (json.loads(line) for line in stream.getvalue().splitlines())
        assert first.pop("timestamp")
        assert second.pop("timestamp")
        assert list(first.items()) == list(second.items())
        assert first["request_id"] == "req-direct"
        assert first["password"] == REDACTED

        root.handlers.append(logging.StreamHandler(io.StringIO()))  # not the standard set-up
        assert direct.emit(logging.INFO, "GET /x 200", {}) is False
        root.handlers[:] = [handler]
        handler.setLevel(logging.WARNING)  # below the handler's level: nothing written, the caller decides
        assert direct.emit(logging.INFO, "GET /x 200", {}) is False
    finally:
        structlog.contextvars.clear_contextvars()
        root.handlers[:], level = saved
        root.setLevel(level)
