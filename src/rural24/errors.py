"""Every error is RFC 9457 ``application/problem+json``: ``status``, ``title``, ``detail``.

Validation errors list the offending fields in ``errors``; an unexpected exception is a 500
with a generic detail (logged with its traceback, never sent).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from advanced_alchemy.exceptions import NotFoundError, RepositoryError
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.plugins.problem_details import ProblemDetailsConfig, ProblemDetailsException

from domain.shared.errors import DomainError, InvalidInput
from infrastructure.database.errors import DatabaseFailure, classify
from rural24.request_id import request_id
from rural24.validation import human_message

logger = logging.getLogger("rural24.errors")

RETRY_AFTER_SECONDS = 5
"""``Retry-After`` of every 503: a restarting database or Redis is usually back within seconds."""

PROBLEM_JSON = "application/problem+json"

CALLER_REFERENCES = frozenset(
    {
        "fk_ads_owner_id_users",
        "fk_messages_sender_id_users",
        "fk_reports_reporter_id_users",
        "fk_favorites_user_id_users",
        "fk_saved_searches_user_id_users",
        "fk_revoked_tokens_user_id_users",
    }
)
"""Foreign keys whose column is always the caller on our write paths: violated, they mean the
caller's account was deleted between the token check and the write (the session events close
that window within milliseconds; this answers the race): 401, not 422."""


_UNKNOWN_FIELD = "Object contains unknown field"


def _title(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


Parameters = Mapping[str, tuple[str, Any]]
"""A handler's parameters: Python name → (name on the wire, annotation)."""


def _field_errors(extra: Any, parameters: Parameters | None = None) -> list[dict[str, Any]]:
    """Litestar's and the body boundary's ``[{message, key, source}]`` → ``[{field, message,
    source}]``: parameters by their wire name (``pageSize``, not ``page_size``), messages in words.
    An unknown body field keeps ``unknown: True`` for :func:`to_problem` (removed before sending)."""
    if not isinstance(extra, list):
        return []
    errors = []
    for item in extra:
        if isinstance(item, dict):
            message = str(item.get("message", "invalid"))
            key, source = item.get("key"), item.get("source")
            source = getattr(source, "value", source)  # Litestar's ParamType is an Enum
            wire, annotation = key, None
            if key is not None and source != "body":  # body keys are JSON names already
                wire, annotation = (parameters or {}).get(str(key), (key, None))
            entry: dict[str, Any] = {"message": human_message(message, annotation)}
            if wire is not None:
                entry["field"] = str(wire)
            if source is not None:
                entry["source"] = str(source)
            if item.get("unknown") or message.startswith(_UNKNOWN_FIELD):
                entry["unknown"] = True
            errors.append(entry)
    return errors


def _is_missing_body(extra: Any) -> bool:
    """Litestar reports an empty body of a route that needs one as ``{key: "data", message: "'data'"}``."""
    return isinstance(extra, list) and any(
        isinstance(item, dict) and item.get("key") == "data" and item.get("message") == "'data'" for item in extra
    )


def to_problem(exc: HTTPException, parameters: Parameters | None = None) -> ProblemDetailsException:
    status = exc.status_code
    detail = exc.detail if exc.detail and exc.detail != _title(status) else ""
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and _is_missing_body(exc.extra):
        status, detail = 400, "This request needs a JSON body (Content-Type: application/json)."
    elif isinstance(exc, ValidationException):
        errors = _field_errors(exc.extra, parameters)
        if status == 400 and errors:
            status = 422  # understood, but values are wrong: 422; 400 is for bodies that cannot be read
        detail = "" if detail.startswith("Validation failed for") else detail
        detail = detail or "The request is not valid: see `errors`."
        if [e for e in errors if e.pop("unknown", False)]:  # a list: every marker is removed
            # A field the caller may not set (role, status, owner …): refused, not ignored.
            status = 422
            detail = "The body sets fields that cannot be set here."
        extra["errors"] = errors
    elif isinstance(exc.extra, dict):
        extra.update(exc.extra)
    return ProblemDetailsException(
        status_code=status,
        title=_title(status),
        detail=detail or _title(status),
        headers=exc.headers,
        extra=extra or None,
    )


def validation_error_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Validation errors with the handler at hand: parameters are named as the client sent them."""
    if _names_the_body(exc.extra) and _takes_multipart(request):
        return _problem(400, "This request needs a multipart/form-data body with a `file` part.")
    return to_problem(exc, _parameters(request)).to_response(request)


def _names_the_body(extra: Any) -> bool:
    return isinstance(extra, list) and any(isinstance(item, dict) and item.get("key") == "data" for item in extra)


def _takes_multipart(request: Request[Any, Any, Any]) -> bool:
    try:
        data = request.route_handler.parsed_fn_signature.parameters.get("data")
    except (KeyError, AttributeError):
        return False
    media_type = getattr(getattr(data, "kwarg_definition", None), "media_type", None)
    return str(getattr(media_type, "value", media_type)) == "multipart/form-data"


def _parameters(request: Request[Any, Any, Any]) -> Parameters:
    try:
        signature = request.route_handler.parsed_fn_signature
    except (KeyError, AttributeError):  # raised before routing: no handler to ask
        return {}
    return {
        name: (getattr(field.kwarg_definition, "name", None) or name, field.annotation)
        for name, field in signature.parameters.items()
    }


def problem_details_config() -> ProblemDetailsConfig:
    return ProblemDetailsConfig(exception_to_problem_detail_map={HTTPException: to_problem})


def _problem(
    status: int, detail: str, *, headers: dict[str, str] | None = None, errors: list[dict[str, str]] | None = None
) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": status, "title": _title(status), "detail": detail}
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _log_context(request: Request[Any, Any, Any], status: int) -> dict[str, Any]:
    # request_id explicitly too: an exception raised in middleware is answered outside the
    # request-id middleware's context.
    return {
        "status": status,
        "method": request.method,
        "path": request.url.path,
        "request_id": request_id(request.scope),
    }


def _server_error(request: Request[Any, Any, Any], exc: BaseException) -> Response[dict[str, Any]]:
    """The one log record of a 500 (traceback, request id, status); the body stays generic."""
    logger.error("unhandled error", exc_info=exc, extra=_log_context(request, 500))
    return _problem(500, "Something went wrong on our side.")


def _database_failure(
    request: Request[Any, Any, Any], exc: BaseException, failure: DatabaseFailure
) -> Response[dict[str, Any]]:
    """A failure the database named (see ``infrastructure.database.errors``):

    * unavailable (connection lost or refused, shutting down or starting up, too many
      connections, no pooled connection in time) → 503 with ``Retry-After``;
    * a value it refused (SQLSTATE class 22) → 422, naming the field when the server named the
      column; it slipped past validation, so it is logged;
    * a uniqueness conflict (23505), and only that → 409;
    * a foreign key pointing nowhere (23503: the row referred to is gone, e.g. deleted
      meanwhile) → 422: the request, not the addressed resource, refers to something missing.
    """
    if failure.kind == "conflict":
        return _problem(409, "This conflicts with existing data.")
    status = 503 if failure.kind == "unavailable" else 422
    extra = _log_context(request, status) | {"sqlstate": failure.sqlstate, "error": type(exc).__name__}
    if failure.kind == "unavailable":
        logger.warning("database unavailable", extra=extra)
        headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        return _problem(503, "The database is unavailable right now; retry in a few seconds.", headers=headers)
    if failure.kind == "missing_reference" and failure.constraint in CALLER_REFERENCES:
        logger.info("write by a deleted account", extra=extra)
        return _problem(401, "This account no longer exists.")
    if failure.kind == "missing_reference":
        logger.info("reference to a missing row", extra=extra)
        return _problem(422, "The request refers to something that does not exist.")
    logger.warning("value refused by the database", extra=extra)
    detail = "A value in the request cannot be stored."
    if failure.column is None:
        return _problem(422, detail)
    return _problem(422, detail, errors=[{"field": _camel(failure.column), "message": detail, "source": "body"}])


def _camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """Anything no other handler took: a database failure we can name, else a logged 500."""
    failure = classify(exc)
    if failure is not None:
        return _database_failure(request, exc, failure)
    return _server_error(request, exc)


def session_store_down_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    logger.warning("session store unavailable: %s", exc)
    return Response(
        {"status": 503, "title": "Service Unavailable", "detail": "Sessions cannot be checked right now; retry."},
        status_code=503,
        media_type=PROBLEM_JSON,
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def repository_error_handler(request: Request[Any, Any, Any], exc: RepositoryError) -> Response[dict[str, Any]]:
    """advanced-alchemy's errors: a missing row is 404; otherwise what the database error under
    it means. Its ``IntegrityError`` wraps *any* driver error (a refused value, a lost
    connection), so only the SQLSTATE tells a real conflict."""
    if isinstance(exc, NotFoundError):
        return _problem(404, "not found")
    return internal_error_handler(request, exc)


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    """Every context's errors: their status and detail; a rule broken by the input names its field."""
    body: dict[str, Any] = {"status": exc.status, "title": _title(exc.status), "detail": exc.detail}
    if isinstance(exc, InvalidInput):
        body["errors"] = [{"field": exc.field, "message": exc.detail, "source": exc.source}]
    return Response(body, status_code=exc.status, media_type=PROBLEM_JSON)
