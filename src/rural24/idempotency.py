"""``Idempotency-Key`` on a POST handler: one explicit call around the part that creates things.

This module is the HTTP side (the header, replaying a response, the 409/422 answers); the claim
and the stored responses are ``infrastructure/idempotency.py`` (memory or Redis, chosen in
``rural24.services``).

.. code-block:: python

    @post("/api/ads", status_code=201)
    async def create_ad(
        self, request: Request[Any, Any, Any], data: JSONBody[NewAd], store: ...,
        idempotency_key: IdempotencyKeyHeader = None,  # documents the header in OpenAPI; optional
    ) -> Response[AdRead]:
        async def handle() -> Response[AdRead]:
            ad = await publish_ad(...)
            return Response(ad, status_code=201, headers={"Location": f"/api/ads/{ad.id}"})

        return await idempotent(
            request, scope="ads.create", user_id=str(user.id), store=store, handle=handle
        )

* No header: ``handle()`` runs as if this module did not exist.
* With a header: the key is claimed atomically for this caller and route; a retry with the same
  body gets the first response again (same status, body, ``Content-Type``, ``Location``,
  ``ETag``) plus ``Idempotent-Replayed: true``; another body → 422; while the first one still
  runs → 409 with ``Retry-After: 1``; a key that is not 1 to 255 printable ASCII characters → 400.
  All of them ``application/problem+json``.
* ``handle`` returns a ``Response``; its content is rendered to bytes here, once, with the
  route's own serializer (the route's type encoders and media type, like Litestar would), and
  the returned ``Response`` carries those bytes. Its static type stays ``Response[T]`` so the
  handler's annotation (and the OpenAPI schema built from it) is the real model.
* ``handle`` raising, or answering 5xx: the claim is released (the client may retry) and the
  exception or response goes out unchanged. 4xx responses that ``handle`` *returns* are
  remembered like any other; 4xx *raised* (HTTPException) are not.
* A cancelled request (client gone) does not release: its claim simply expires after
  ``in_flight_ttl`` — whether it created something is unknown, so a quick retry gets 409.
* Cookies and background tasks of the first response are sent with it but never replayed.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Final, TypeVar, cast

from litestar import Request, Response
from litestar.enums import MediaType
from litestar.exceptions import ClientException, ServiceUnavailableException
from litestar.handlers import HTTPRouteHandler
from litestar.params import HeaderParameter
from litestar.serialization import get_serializer
from litestar.utils.helpers import get_enum_string_value

from domain.shared.fields import TOKEN_PATTERN
from infrastructure.idempotency import (
    IDEMPOTENCY_TTL,
    IN_FLIGHT_TTL,
    MAX_KEY_LENGTH,
    Claimed,
    IdempotencyRecord,
    IdempotencyStore,
    IdempotencyStoreUnavailable,
    InFlight,
    Mismatch,
    Replay,
    request_fingerprint,
    storage_key,
    validate_key,
)

__all__ = (
    "IDEMPOTENCY_KEY_HEADER",
    "REPLAYED_HEADER",
    "IdempotencyKeyHeader",
    "idempotent",
)

logger = logging.getLogger("rural24.idempotency")

IDEMPOTENCY_KEY_HEADER: Final = "Idempotency-Key"
REPLAYED_HEADER: Final = "Idempotent-Replayed"

IdempotencyKeyHeader = Annotated[
    str | None,
    HeaderParameter(
        name=IDEMPOTENCY_KEY_HEADER,
        required=False,
        min_length=1,
        max_length=MAX_KEY_LENGTH,
        pattern=TOKEN_PATTERN,
        description=(
            "Any unique string (a UUID) chosen by the client, 1 to 255 printable ASCII characters. "
            "A retry with the same key and body returns the first response (with "
            "`Idempotent-Replayed: true`) and creates nothing new, for 24 hours; the same key with "
            "another body is 422; while the first request is still running, 409."
        ),
    ),
]
"""Declare ``idempotency_key: IdempotencyKeyHeader = None`` on a handler to document the header."""

T = TypeVar("T")


async def idempotent(
    request: Request[Any, Any, Any],
    *,
    scope: str,
    user_id: str,
    store: IdempotencyStore,
    handle: Callable[[], Awaitable[Response[T]]],
    ttl: int = IDEMPOTENCY_TTL,
    in_flight_ttl: float = IN_FLIGHT_TTL,
) -> Response[T]:
    """Run ``handle`` at most once per (``scope``, ``user_id``, ``Idempotency-Key``); see the module."""
    raw_key = request.headers.get(IDEMPOTENCY_KEY_HEADER)
    if raw_key is None:
        return await handle()
    try:
        key = storage_key(scope, user_id, validate_key(raw_key))
    except ValueError as exc:
        raise ClientException(status_code=400, detail=str(exc)) from None

    query = request.url.query
    fingerprint = request_fingerprint(
        request.method, request.url.path + (f"?{query}" if query else ""), await request.body()
    )
    try:
        claim = await store.claim(key, fingerprint, in_flight_ttl)
    except IdempotencyStoreUnavailable as exc:
        logger.warning("idempotency store unavailable on claim: %s", exc)
        # Running the handler unguarded could create the very duplicate the client is avoiding.
        raise ServiceUnavailableException(
            detail="Idempotency keys cannot be checked right now; retry.", headers={"Retry-After": "5"}
        ) from None

    if isinstance(claim, Replay):
        return cast("Response[T]", _replay(claim.record))
    if isinstance(claim, InFlight):
        raise ClientException(
            status_code=409,
            detail="A request with this Idempotency-Key is still being processed; retry shortly.",
            headers={"Retry-After": "1"},
        )
    if isinstance(claim, Mismatch):
        raise ClientException(status_code=422, detail="This Idempotency-Key was already used with a different request.")
    return await _run_claimed(request, key, claim, store, handle, ttl)


async def _run_claimed(
    request: Request[Any, Any, Any],
    key: str,
    claim: Claimed,
    store: IdempotencyStore,
    handle: Callable[[], Awaitable[Response[T]]],
    ttl: int,
) -> Response[T]:
    try:
        response = await handle()
        rendered, media_type = _render(request, response)
    except Exception:
        await _release(store, key, claim)
        raise
    if rendered.status_code is not None and rendered.status_code >= 500:
        await _release(store, key, claim)
        return cast("Response[T]", rendered)

    headers = {"content-type": media_type, **{name.lower(): str(value) for name, value in rendered.headers.items()}}
    record = IdempotencyRecord.done(claim.record.fingerprint, rendered.status_code or 200, headers, rendered.content)
    try:
        await store.complete(key, record, ttl)
    except IdempotencyStoreUnavailable as exc:
        # The work is done: answer it. A retry after the claim expires may run it again.
        logger.warning("idempotency store unavailable on complete: %s", exc)
    return cast("Response[T]", rendered)


async def _release(store: IdempotencyStore, key: str, claim: Claimed) -> None:
    try:
        await store.release(key, claim)
    except IdempotencyStoreUnavailable as exc:  # the claim expires by itself
        logger.warning("idempotency store unavailable on release: %s", exc)


def _render(request: Request[Any, Any, Any], response: Response[Any]) -> tuple[Response[bytes], str]:
    """``response`` with its content encoded to bytes as the route would encode it, and its media type."""
    handler = request.route_handler
    assert isinstance(handler, HTTPRouteHandler)  # idempotency is for HTTP handlers
    media_type = get_enum_string_value(response.media_type or handler.media_type or MediaType.JSON)
    encoders = {**handler.resolve_type_encoders(), **(response.response_type_encoders or {})}
    body = response.render(response.content, media_type, get_serializer(encoders))
    rendered = Response(
        body,
        status_code=response.status_code or handler.status_code,
        media_type=media_type,
        headers=response.headers,
        cookies=response.cookies,
        background=response.background,
        encoding=response.encoding,
    )
    return rendered, media_type


def _replay(record: IdempotencyRecord) -> Response[bytes]:
    headers = {name: value for name, value in record.headers if name != "content-type"}
    headers[REPLAYED_HEADER] = "true"
    return Response(
        record.body,
        status_code=record.status_code,
        media_type=record.header("content-type") or MediaType.JSON,
        headers=headers,
    )
