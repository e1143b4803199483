"""Logging: one configuration for every process and every library, through structlog.

Every line — our modules, Litestar, granian, SAQ, alembic, SQLAlchemy, asyncio, warnings — runs
through :data:`PROCESSORS` and leaves as one JSON object a line (production, tests) or as readable
text, coloured on a terminal (``APP_ENV=development``). The same configuration is applied by the
console script before any command runs (:func:`configure_logging`), handed to granian for its
own processes (:func:`logging_dictconfig`) and to Litestar's structlog plugin
(:func:`structlog_config`), so the API, the worker and the CLI write the same lines.

Everything ends in the standard library: our modules log with ``logging.getLogger``; structlog's
loggers (Litestar's) run the same processors and hand the event over. One handler writes each
record synchronously, in the thread and task that logged it: the processors see that task's
context variables (the ``request_id`` a request binds, the ``job`` and ``request_id`` a worker
binds for a job). A queue and a listener thread would format later, elsewhere, without them —
and the listener's thread contends for the GIL with the event loop; one ``write`` of a line is
cheaper.

An exception becomes a structured ``exception`` field (type, message, frames; never the frames'
local variables, which may hold passwords); a value the encoder does not know is written as its
``repr`` (asyncpg's exceptions once broke every 500's record). Secrets and bodies are dropped by
key, and passwords in URLs are masked (:func:`redact`).
"""

from __future__ import annotations

import contextlib
import functools
import logging
import logging.config
import re
import sys
from typing import Any, Final, TextIO

import msgspec
import structlog
from litestar.logging.config import LoggingConfig, StructLoggingConfig
from litestar.serialization import default_serializer
from structlog.typing import EventDict, Processor, WrappedLogger

from rural24.tracing import add_trace_ids

REDACTED: Final = "[redacted]"

_SECRET_KEY = re.compile(
    r"passw|secret|token|authorization|cookie|api_?key|credential|^(?:email_|message_|html_|text_)?body$", re.I
)
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]*):[^/\s@]+@")
# SQLAlchemy's errors quote the statement's values (a password hash, a message's text …)
_SQL_PARAMETERS = re.compile(r"\[parameters: .*?\](?=\n\(Background|\Z)", re.S)


@functools.cache
def _is_secret(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _scrub(text: str) -> str:
    """Passwords in URLs masked, SQL statements' values dropped."""
    if "://" in text:
        text = _URL_PASSWORD.sub(r"\1:***@", text)
    if "[parameters: " in text:
        text = _SQL_PARAMETERS.sub("[parameters: redacted]", text)
    return text


def redact(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    """A field whose name says secret (``password``, ``token``, ``authorization``, ``cookie``,
    ``jwt_secret`` …) or body (``body``, ``email_body`` …) is replaced by ``[redacted]``; in the
    message, a password in a URL (``postgresql://user:pw@host``) is masked and the values
    SQLAlchemy quotes after a failed statement (``[parameters: …]``) are dropped. A safety net:
    the code logs none of them on purpose."""
    for key, value in event.items():
        if key != "event" and _is_secret(key) and value is not None:
            event[key] = REDACTED
    message = event.get("event")
    if isinstance(message, str):
        event["event"] = _scrub(message)
    return event


PROCESSORS: list[Processor] = [
    structlog.contextvars.merge_contextvars,  # request_id (a request), job and request_id (a job)
    add_trace_ids,  # trace_id and span_id inside a span, when tracing is on (rural24.tracing)
    structlog.stdlib.add_logger_name,
    structlog.stdlib.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
    redact,
]
"""Every line's processors, in order, whichever API logged it: a processor added here is on every
line of every process. Records of the standard library run them in the formatter (after their
``extra`` fields are added, which win over the context), structlog's loggers before handing over.
The renderers (:func:`line_formatter`) come after them."""


def _json_default(value: Any) -> Any:
    try:
        return default_serializer(value)
    except TypeError:
        return repr(value)


_encoder = msgspec.json.Encoder(enc_hook=_json_default)
_FIRST: Final = ("timestamp", "level", "logger", "event")


def _render_json(_: WrappedLogger, __: str, event: EventDict) -> str:
    # time, level, logger and message first: what a reader of the raw stream looks for
    ordered = {key: event.pop(key) for key in _FIRST if key in event}
    ordered.update(event)
    return _encoder.encode(ordered).decode()


def _scrub_exception(_: WrappedLogger, __: str, event: EventDict) -> EventDict:
    for exception in event.get("exception") or ():
        if isinstance(exception, dict) and isinstance(exception.get("exc_value"), str):
            exception["exc_value"] = _scrub(exception["exc_value"])
    return event


def _json_tail() -> list[Processor]:
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        # [{exc_type, exc_value, frames: [{filename, lineno, name}]}, …], causes included
        structlog.processors.ExceptionRenderer(
            structlog.tracebacks.ExceptionDictTransformer(show_locals=False, use_rich=False)
        ),
        _scrub_exception,
        _render_json,
    ]


def _console_tail(colors: bool) -> list[Processor]:
    return [
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.dev.ConsoleRenderer(
            colors=colors,
            exception_formatter=structlog.dev.RichTracebackFormatter(show_locals=False, max_frames=20)
            if colors
            else structlog.dev.plain_traceback,
        ),
    ]


def line_formatter(pretty: bool = False, colors: bool = False) -> structlog.stdlib.ProcessorFormatter:
    """The one formatter (``logging.config`` builds it by name, in granian's processes too):
    JSON lines, or readable text when ``pretty`` (coloured when ``colors``)."""
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *PROCESSORS],
        processors=_console_tail(colors) if pretty else _json_tail(),
    )


def _level(level: str) -> str:
    return level.upper()


def logging_dictconfig(level: str = "INFO", *, pretty: bool = False, stream: str = "stdout") -> dict[str, Any]:
    """The standard library's configuration (``logging.config.dictConfig``); also granian's
    ``log_dictconfig``, applied in its main process and in each of its workers (names and
    plain values only: it is pickled to them)."""
    level = _level(level)
    target: TextIO = sys.stderr if stream == "stderr" else sys.stdout
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "line": {"()": f"{__name__}.line_formatter", "pretty": pretty, "colors": pretty and target.isatty()}
        },
        "handlers": {
            "console": {"class": "logging.StreamHandler", "stream": f"ext://sys.{stream}", "formatter": "line"}
        },
        "loggers": {
            # everything propagates to the root's one handler; these only set levels
            "_granian": {"level": level},  # granian's own messages (Rust and Python)
            "granian.access": {"level": "WARNING"},  # off: our access line has the route and request id
            "litestar": {"level": level},
            "alembic.runtime.plugins": {"level": "WARNING"},  # its plugins, announced on every command
        },
        "root": {"level": level, "handlers": ["console"]},
    }


def configure_logging(level: str = "INFO", *, pretty: bool = False, stream: str = "stdout") -> None:
    """Apply the configuration to this process: the standard library, structlog and warnings."""
    _lean_records()
    logging.config.dictConfig(logging_dictconfig(level, pretty=pretty, stream=stream))
    structlog.configure(**_structlog_settings(level))
    logging.captureWarnings(True)


def _lean_records() -> None:
    """No caller lookup (``sys._getframe`` walks), thread, process or task names on records: the
    lines show none of them, and they were half the cost of the access line (the Python docs'
    "Optimization" section of the logging HOWTO names these switches)."""
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False


def _structlog_settings(level: str) -> dict[str, Any]:
    return {
        "processors": [*PROCESSORS, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        "logger_factory": structlog.stdlib.LoggerFactory(),
        "wrapper_class": structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[_level(level)]),
        "cache_logger_on_first_use": True,
    }


def structlog_config(level: str = "INFO", *, pretty: bool = False) -> StructLoggingConfig:
    """The same configuration for Litestar's ``StructlogPlugin``, which applies it when the app is
    built (the API's processes write to stdout)."""
    _lean_records()
    stdlib = logging_dictconfig(level, pretty=pretty)
    # Litestar adds a ``queue_listener`` handler of its own unless one is named: a silent one here
    stdlib["handlers"]["queue_listener"] = {"class": "logging.NullHandler"}
    return StructLoggingConfig(
        **_structlog_settings(level),
        pretty_print_tty=False,  # our `pretty` decides, not whether stderr is a terminal
        # 500s are logged once, by our own handler (rural24.errors); expected 4xx need no traceback
        log_exceptions="never",
        standard_lib_logging_config=LoggingConfig(
            version=1,
            disable_existing_loggers=False,
            formatters=stdlib["formatters"],
            handlers=stdlib["handlers"],
            loggers=stdlib["loggers"],
            root=stdlib["root"],
            log_exceptions="never",
        ),
    )


class DirectLines:
    """One logger's lines written straight through the configured formatter's processors, without
    the standard library's record machinery: the access line, once per request.

    ``logger.log(level, msg, extra=…)`` builds a ``LogRecord``, and ``ProcessorFormatter`` copies
    it into a second one before running the processors: ~30 µs a line here, a fifth of a cached
    search's throughput at ``LOG_LEVEL=info`` (measured with wrk). :meth:`emit` runs the same
    processors (``foreign_pre_chain`` then ``processors``: every line still gets the context, trace
    ids, timestamp, level, redaction and the one JSON or console renderer) on a dict and writes the
    line to the handler's stream under its lock. It does so only when the set-up is the one
    :func:`configure_logging` makes (the logger propagates to a single ``StreamHandler`` with a
    ``ProcessorFormatter`` and no filters); otherwise it returns ``False`` and the caller logs the
    ordinary way (tests that capture records, another configuration)."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    def _handler(self, level: int) -> logging.StreamHandler[TextIO] | None:
        logger = self._logger
        handlers = logging.root.handlers
        if logger.handlers or logger.filters or not logger.propagate or len(handlers) != 1:
            return None
        handler = handlers[0]
        if (
            type(handler) is not logging.StreamHandler
            or handler.filters
            or level < handler.level
            or not isinstance(handler.formatter, structlog.stdlib.ProcessorFormatter)
        ):
            return None
        return handler

    def emit(self, level: int, message: str, fields: dict[str, Any]) -> bool:
        handler = self._handler(level)
        if handler is None:
            return False
        formatter = handler.formatter
        assert isinstance(formatter, structlog.stdlib.ProcessorFormatter)
        method = logging.getLevelName(level).lower()
        event: Any = {**fields, "event": message}
        for processor in formatter.foreign_pre_chain or ():
            if not isinstance(processor, structlog.stdlib.ExtraAdder):  # the fields are the extras
                event = processor(self._logger, method, event)
        event["_record"], event["_from_structlog"] = None, False  # what the tail's first step removes
        for processor in formatter.processors:
            event = processor(self._logger, method, event)
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(f"{event}{handler.terminator}")
            handler.flush()
        return True
