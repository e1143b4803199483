"""The log line format: any record renders as one JSON object, exceptions as text (pure)."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

import structlog
from asyncpg import exceptions as pg

from rural24.logs import RequestContextFilter, structlog_config


def _formatter() -> logging.Formatter:
    config = structlog_config()
    assert config.standard_lib_logging_config is not None
    spec = dict(config.standard_lib_logging_config.formatters["standard"])
    factory = spec.pop("()")
    formatter: logging.Formatter = factory(**spec)
    return formatter


def _record(exc_info: Any = None, **extra: Any) -> logging.LogRecord:
    record = logging.LogRecord("rural24.errors", logging.ERROR, __file__, 1, "unhandled error", None, exc_info)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_a_driver_exception_and_unknown_values_render() -> None:
    try:
        raise pg.NotNullViolationError("null value in column")  # its metaclass broke the renderer
    except pg.PostgresError:
        exc_info = sys.exc_info()
    line = _formatter().format(_record(exc_info, status=500, error_class=pg.PostgresError, odd=object()))
    assert "\n" not in line
    record = json.loads(line)
    assert record["event"] == "unhandled error"
    assert record["level"] == "error"
    assert record["status"] == 500
    assert "NotNullViolationError: null value in column" in record["exception"]
    assert "PostgresError" in record["error_class"]
    assert record["odd"].startswith("<object object")


def test_the_request_context_is_copied_onto_records() -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(request_id="req-1")
    try:
        record = _record()
        assert RequestContextFilter().filter(record)
        explicit = _record(request_id="from-handler")
        RequestContextFilter().filter(explicit)
    finally:
        structlog.contextvars.clear_contextvars()
    assert json.loads(_formatter().format(record))["request_id"] == "req-1"
    assert json.loads(_formatter().format(explicit))["request_id"] == "from-handler"
