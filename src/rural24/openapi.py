"""What the OpenAPI document says about every operation, declared once (API.md: Conventions, "OpenAPI").

Each handler's decorator takes ``**documented(operationId, access, ...)``: the stable operationId,
its security (public routes none, auth-optional ones ``{}`` or bearer), every error status it can
really send as one ``ProblemDetails`` body in ``application/problem+json`` (through Litestar's
``responses=``, which also replaces Litestar's default 400 ``{status_code, detail, extra}``) and
its success headers (``response_headers=``, documentation only). Litestar has no way to declare
headers on additional responses, so :class:`DocumentedOperation` (the handlers' ``operation_class``)
adds them to the generated operation: ``X-Request-ID`` on every response, ``Retry-After`` and the
``RateLimit-*`` headers on 429, ``Retry-After`` on 503. Also here: the components (a valid bearer
scheme, the shared headers), :class:`ClosedStructSchemaPlugin` (``additionalProperties: false`` on
bodies that refuse unknown fields) and the committed snapshot: ``make openapi`` runs this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
from litestar._openapi.schema_generation import SchemaCreator  # no public name; the plugin protocol needs it
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.datastructures import ResponseHeader
from litestar.enums import ParamType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import (
    Components,
    OpenAPIHeader,
    OpenAPIResponse,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.params import HeaderParameter
from litestar.plugins import PluginProtocol
from litestar.typing import FieldDefinition

PROBLEM_JSON = "application/problem+json"
BEARER = "BearerToken"

Access = Literal["public", "optional", "user", "admin"]


class FieldProblem(msgspec.Struct, kw_only=True):
    """One offending field of a 422 (or a 400 naming a parameter)."""

    message: str
    field: str | msgspec.UnsetType = msgspec.UNSET
    """The JSON or parameter name (``pageSize``, ``filters.minPrice``); absent when the whole body is refused."""
    source: Literal["body", "query", "header", "path", "cookie"]


class ProblemDetails(msgspec.Struct, rename="camel"):
    """RFC 9457 problem details: every error this API sends."""

    status: int
    title: str
    detail: str
    errors: list[FieldProblem] | msgspec.UnsetType = msgspec.UNSET
    """Validation errors: every offending field at once."""
    reset_at: int | msgspec.UnsetType = msgspec.UNSET
    """429 only: when the limit's window resets (epoch seconds)."""


_WHY: dict[int, str] = {
    400: "The body or a header cannot be read (malformed JSON, invalid UTF-8, nested too deep, bad Idempotency-Key), "
    "or an emailed link's token is not valid (mistyped, forged, for another purpose or another account).",
    401: "No valid bearer token (missing, expired, revoked, or its user is blocked or gone).",
    403: "The caller may not do this (not the owner, not an admin, email not verified yet, wrong current password).",
    404: "Not found, or not visible to the caller.",
    409: "Conflicts with the current state (a duplicate, a limit reached, the same Idempotency-Key still running).",
    410: "The emailed link was real but no longer works (used, replaced by a newer one, expired): ask for a new one.",
    412: "`If-Match` names a revision that is no longer current.",
    413: "The body is larger than allowed.",
    415: "The body is not of the operation's media type (`application/json` in UTF-8; uploads `multipart/form-data`).",
    422: "Values that break the rules: `errors` lists every offending field.",
    429: "Rate-limited: see `Retry-After`, `RateLimit-*` and `resetAt`.",
    500: "An unexpected error (logged with the request id; no details sent).",
    503: "The database or the session store is unavailable: retry after `Retry-After` seconds.",
}

_SECURITY: dict[Access, list[dict[str, list[str]]] | None] = {
    "public": [],
    "optional": [{}, {BEARER: []}],
    "user": [{BEARER: []}],
    "admin": [{BEARER: []}],
}

_STRING = Schema(type=OpenAPIType.STRING)
_INTEGER = Schema(type=OpenAPIType.INTEGER, minimum=0)


def _header(description: str, schema: Schema = _STRING, *, required: bool = False) -> OpenAPIHeader:
    return OpenAPIHeader(description=description, schema=schema, required=required)


HEADERS: dict[str, OpenAPIHeader] = {
    "X-Request-ID": _header("The request's id, taken from the request's `X-Request-ID` when valid, else generated."),
    "Retry-After": _header("Seconds to wait before retrying.", _INTEGER, required=True),
    "RateLimit-Limit": _header("Requests allowed per window.", _INTEGER),
    "RateLimit-Remaining": _header("Requests left in this window.", _INTEGER),
    "RateLimit-Reset": _header("Seconds until the window resets.", _INTEGER),
    "RateLimit-Policy": _header("The limit as `N;w=seconds`."),
}
"""Response headers every operation shares: declared once in ``components/headers``, referenced."""

_RATE_LIMIT = ("RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy")


def _shared(name: str) -> Reference:
    return Reference(ref=f"#/components/headers/{name}")


REQUEST_ID_PARAMETER = Parameter(
    name="X-Request-ID",
    param_in=ParamType.HEADER,
    required=False,
    schema=_STRING,
    description="Echoed back when at most 128 characters of `A-Z a-z 0-9 . _ : -`; otherwise another id is made.",
)

COMPONENTS = Components(
    security_schemes={
        BEARER: SecurityScheme(
            type="http",
            scheme="bearer",
            bearer_format="JWT",
            description="`Authorization: Bearer <token>`, the `token` of register or login.",
        )
    },
    headers=dict(HEADERS),
)
"""Replaces the JWT auth's components: its scheme carries a ``name`` (meant for ``apiKey`` schemes only,
which validators refuse)."""


def _documented_header(name: str, description: str) -> ResponseHeader:
    # `value=""` gives the header its string schema in the document (documentation only: never sent as is).
    return ResponseHeader(name=name, documentation_only=True, value="", description=description)


ETAG = _documented_header("ETag", "The representation's version (an ad: its revision).")
CACHE_CONTROL = _documented_header("Cache-Control", "How caches may keep it.")
CDN_CACHE_CONTROL = _documented_header(
    "CDN-Cache-Control", "How long a CDN in front may keep it (RFC 9213); other caches follow `Cache-Control`."
)
X_CACHE = _documented_header("X-Cache", "`hit` or `miss`: whether the origin's cache answered.")
CONTENT_ENCODING = _documented_header(
    "Content-Encoding",
    "`gzip` when `Accept-Encoding` accepts gzip (q > 0) and the body is 1 KB or more (the `ETag` then ends "
    "in `-gz`); absent: identity.",
)
VARY = _documented_header("Vary", "`Accept-Encoding`: the body's encoding follows that request header.")
LOCATION = _documented_header("Location", "The created resource's path.")
REPLAYED = _documented_header(
    "Idempotent-Replayed",
    "`true` when this is the stored first response of an earlier request with this Idempotency-Key.",
)


@dataclass
class DocumentedOperation(Operation):
    """Adds the headers Litestar cannot declare on additional responses (see the module's docstring)."""

    def __post_init__(self) -> None:
        responses = self.responses or {}
        default = responses.get("400")
        if isinstance(default, OpenAPIResponse) and PROBLEM_JSON not in (default.content or {}):
            # Litestar's default 400 {status_code, detail, extra}: parameters that break their rules are
            # 422 problems here (rural24/errors.py); a route whose 400 is real declares it as a problem.
            del responses["400"]
        limited = "429" in responses
        for status, response in responses.items():
            if not isinstance(response, OpenAPIResponse):
                continue
            if status in ("204", "304"):
                response.content = None  # no body, whatever the handler's return annotation says
            headers: dict[str, Any] = dict(response.headers or {})
            names = ["X-Request-ID"]
            problem = PROBLEM_JSON in (response.content or {})
            if status == "429":
                names += ["Retry-After", *_RATE_LIMIT]
            elif status == "503" and problem:
                names.append("Retry-After")
            elif status.startswith("2") and limited:
                names += _RATE_LIMIT  # the API limit's figures, on allowed requests
            headers.update({name: _shared(name) for name in names})
            response.headers = headers
        self.parameters = [*(self.parameters or []), REQUEST_ID_PARAMETER]
        for parameter in self.parameters:
            if isinstance(parameter, Parameter):
                publish_patterns(parameter.schema)


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """One ``ProblemDetails`` response per status."""
    return {
        status: ResponseSpec(
            data_container=ProblemDetails, media_type=PROBLEM_JSON, description=_WHY[status], generate_examples=False
        )
        for status in sorted(set(statuses))
    }


def documented(
    operation_id: str,
    access: Access,
    *,
    errors: Iterable[int] = (),
    body: bool = False,
    database: bool = True,
    rate_limited: bool = True,
    not_modified: bool = False,
    headers: Iterable[ResponseHeader] = (),
    responses: dict[int, ResponseSpec] | None = None,
) -> dict[str, Any]:
    """The decorator arguments that document one operation.

    ``errors``: the statuses this operation adds to the ones every route of its kind can send —
    400/413/415/422 with a JSON ``body``, 401 (authenticated), 403 (admin), 429 (the global API
    limit, ``rate_limited``), 503 (``database``) and 500.
    """
    statuses = {500, *errors}
    if body:
        statuses |= {400, 413, 415, 422}
    if access in ("optional", "user", "admin"):
        statuses.add(401)
    if access == "admin":
        statuses.add(403)
    if rate_limited:
        statuses.add(429)
    if database:
        statuses.add(503)
    responses = {**problems(*statuses), **(responses or {})}
    if not_modified:
        responses[304] = ResponseSpec(
            data_container=None, description="Not modified: `If-None-Match` names the current `ETag`."
        )
    return {
        "operation_id": operation_id,
        "security": _SECURITY[access],
        "responses": responses,
        "response_headers": list(headers),
        "operation_class": DocumentedOperation,
    }


IfNoneMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-None-Match",
        required=False,
        description="An `ETag` of an earlier answer (or a list of them, or `*`): 304 with no body when it is current.",
    ),
]
"""Declared on a handler (``if_none_match: IfNoneMatch = None``) to document the conditional header."""

IfMatch = Annotated[
    str | None,
    HeaderParameter(
        name="If-Match",
        required=False,
        description="The ad's `ETag` as last read: 412 when the ad changed since (lost updates are refused).",
    ),
]


_SURROGATES = r"\ud800-\udfff"


def publish_patterns(schema: Schema | Reference | None) -> None:
    """Our patterns refuse lone surrogates (``\ud800-\udfff``), which no UTF-8 JSON text can carry
    (msgspec refuses the escapes); that range is not portable between regex engines (generators
    that read the document ignore the whole pattern), so the document leaves it out."""
    if not isinstance(schema, Schema):
        return
    if schema.pattern:
        schema.pattern = schema.pattern.replace(_SURROGATES, "")
    for nested in (*(schema.one_of or ()), *(schema.any_of or ()), *(schema.all_of or ())):
        publish_patterns(nested)
    if isinstance(schema.items, Schema | Reference):
        publish_patterns(schema.items)


class ClosedStructSchemaPlugin(StructSchemaPlugin):
    """Litestar's Struct schemas, plus ``additionalProperties: false`` where the Struct refuses unknown
    fields (``forbid_unknown_fields``: request bodies, 422), which Litestar's own plugin never emits.
    Replaces Litestar's instance in the app's plugins (the registry does not keep an order to rely on)."""

    def to_openapi_schema(self, field_definition: FieldDefinition, schema_creator: SchemaCreator) -> Schema:
        schema = super().to_openapi_schema(field_definition, schema_creator)
        for prop in (schema.properties or {}).values():
            publish_patterns(prop)
        config = getattr(field_definition.type_, "__struct_config__", None)
        if getattr(config, "forbid_unknown_fields", False):
            schema.additional_properties = False
        return schema


def close_struct_schemas(plugins: list[PluginProtocol]) -> None:
    """Puts :class:`ClosedStructSchemaPlugin` in the place of Litestar's Struct schema plugin, in place
    (called from ``on_app_init``, while Litestar iterates this very list)."""
    for index, plugin in enumerate(plugins):
        if type(plugin) is StructSchemaPlugin:
            plugins[index] = ClosedStructSchemaPlugin()
