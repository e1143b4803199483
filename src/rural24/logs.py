"""Logging: one JSON object a line, for our loggers and the libraries' alike, through structlog.

Litestar's default structlog setup renders standard-library records without turning
``exc_info`` into text and with an encoder that refuses unknown types, so a record carrying an
exception (every 500) failed to render and surfaced only as Python's ``--- Logging error ---``.
Here the traceback becomes an ``exception`` string, any value the encoder does not know is
written as its ``repr``, and the request's context (``request_id``) is copied onto each record
where it is logged: formatting may happen later on the queue listener's thread, which cannot
see the request's context variables.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
import structlog
from litestar.logging.config import LoggingConfig, StructLoggingConfig, default_handlers
from litestar.serialization import default_serializer
from structlog.typing import EventDict, Processor


def _fallback(value: Any) -> Any:
    try:
        return default_serializer(value)
    except TypeError:
        return repr(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback)


def _render_bytes(event: EventDict, **_: Any) -> bytes:
    return _encoder.encode(event)


def _render_text(event: EventDict, **_: Any) -> str:
    return _encoder.encode(event).decode()


class RequestContextFilter(logging.Filter):
    """Copies structlog's context variables (``request_id``) onto a standard-library record in
    the thread that logs it; the formatter's ``ExtraAdder`` then puts them into the line."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in structlog.contextvars.get_contextvars().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


def _shared() -> list[Processor]:
    return [
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.stdlib.add_log_level,
        structlog.processors.format_exc_info,  # the traceback as text, never the exception object
    ]


def structlog_config(level: str = "INFO") -> StructLoggingConfig:
    """The logging configuration for Litestar's ``StructlogPlugin``."""
    stdlib_processors: list[Processor] = [
        structlog.stdlib.add_logger_name,
        structlog.stdlib.ExtraAdder(),
        *_shared(),
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.JSONRenderer(serializer=_render_text),
    ]
    # Litestar's handlers (they differ by Python version), each with the context filter.
    handlers = {name: {**spec, "filters": ["request_context"]} for name, spec in default_handlers.items()}
    return StructLoggingConfig(
        processors=[
            structlog.contextvars.merge_contextvars,
            *_shared(),
            structlog.processors.JSONRenderer(serializer=_render_bytes),
        ],
        logger_factory=structlog.BytesLoggerFactory(),
        pretty_print_tty=False,  # the same JSON lines on a terminal: what is tested is what runs
        # 500s are logged once, by our own handler; expected 4xx need no traceback
        log_exceptions="never",
        standard_lib_logging_config=LoggingConfig(
            formatters={"standard": {"()": structlog.stdlib.ProcessorFormatter, "processors": stdlib_processors}},
            filters={"request_context": {"()": RequestContextFilter}},
            handlers=handlers,
            root={"handlers": ["queue_listener"], "level": level},
            log_exceptions="never",
        ),
    )
