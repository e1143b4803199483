"""Every error is RFC 9457 ``application/problem+json``: ``status``, ``title``, ``detail``.

Validation errors list the offending fields in ``errors``; an unexpected exception is a 500
with a generic detail (logged with its traceback, never sent).
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from advanced_alchemy.exceptions import DuplicateKeyError, IntegrityError, NotFoundError, RepositoryError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException

from domain.shared.errors import DomainError, InvalidInput

logger = logging.getLogger("rural24.errors")


PROBLEM_JSON = "application/problem+json"


_UNKNOWN_FIELD = "Object contains unknown field"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _field_errors(extra: Any) -> list[dict[str, Any]]:
    """Litestar's ``[{message, key, source}]`` → ``[{field, message, source}]``."""
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            entry: dict[str, Any] = {"message": str(item.get("message", "invalid"))}
            if item.get("key") is not None:
                entry["field"] = str(item["key"])
            if item.get("source") is not None:
                entry["source"] = str(item["source"])
            errors.append(entry)
    return errors


def to_problem(exc: HTTPException) -> ProblemDetailsException:
    status = exc.status_code
    detail = exc.detail if exc.detail and exc.detail != _title(status) else ""
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra)
        extra["errors"] = errors
        detail = detail or "The request is not valid."
        if any(e["message"].startswith(_UNKNOWN_FIELD) for e in errors):
            # A field the caller may not set (role, status, owner …): refused, not ignored.
            status = 422
            detail = "The body sets fields that cannot be set here."
    elif isinstance(exc.extra, dict):
        extra.update(exc.extra)
    return ProblemDetailsException(
        status_code=status,
        title=_title(status),
        detail=detail or _title(status),
        headers=exc.headers,
        extra=extra or None,
    )


def problem_details_config() -> ProblemDetailsConfig:
    return ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: to_problem})


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return Response(
        {"status": 500, "title": "Internal Server Error", "detail": "Something went wrong on our side."},
        status_code=500,
        media_type=PROBLEM_JSON,
    )


def session_store_down_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.warning("session store unavailable: %s", exc)
    return Response(
        {"status": 503, "title": "Service Unavailable", "detail": "Sessions cannot be checked right now; retry."},
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": "5"},
    )


def repository_error_handler(request: Request[Any, Any, Any], exc: RepositoryError) -> Response[dict[str, Any]]:
    """advanced-alchemy's errors: a missing row is 404, a conflicting one 409, anything else is ours."""
    if isinstance(exc, NotFoundError):
        status, detail = 404, "not found"
    elif isinstance(exc, IntegrityError | DuplicateKeyError):
        status, detail = 409, "this conflicts with existing data"
    else:
        return internal_error_handler(request, exc)
    return Response(
        {"status": status, "title": _title(status), "detail": detail}, status_code=status, media_type=PROBLEM_JSON
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    """Every context's errors: their status and detail; a rule broken by the input names its field."""
    body: dict[str, Any] = {"status": exc.status, "title": _title(exc.status), "detail": exc.detail}
    if isinstance(exc, InvalidInput):
        body["errors"] = [{"field": exc.field, "message": exc.detail, "source": exc.source}]
    return Response(body, status_code=exc.status, media_type=PROBLEM_JSON)
