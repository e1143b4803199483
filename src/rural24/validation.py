"""The validation boundary of request bodies, and the words of every validation error.

Litestar decodes a JSON body into builtins and converts it to the handler's Struct afterwards; it
accepts any ``Content-Type``, turns invalid UTF-8 and deep nesting into 500s, and reports only the
first bad field. :class:`ApiRequest` replaces that one step (``Request.json()``, which Litestar's
body extractor calls) so that:

* a body that is not ``application/json`` (charset UTF-8 if given) is 415;
* nesting deeper than :data:`MAX_DEPTH` is 400, found by a bounded scan before msgspec recurses;
* malformed JSON or invalid UTF-8 is 400 with a plain message;
* the body is decoded straight into the handler's Struct in one strict pass (the happy path);
* only when that fails, the body is examined field by field so that the 422 lists **every** bad
  field by its JSON name (:func:`body_errors`).

Body size is capped before this runs (``request_max_body_size``, 413).
"""

from __future__ import annotations

import re
from decimal import Decimal
from functools import cache
from typing import Any, Final, Literal, Union, get_args, get_origin

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, ValidationException

from domain.shared.fields import AMOUNT_PATTERN, PATTERN_MESSAGES

MAX_DEPTH: Final = 32
"""Our Structs nest three levels at most; anything far deeper is not a request of ours."""

JSON_MEDIA_TYPE: Final = "application/json"

_STRUCTURE = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')
_UNKNOWN: Final = "cannot be set here"


class ApiRequest(Request[Any, Any, Any]):
    """The app's request class: JSON bodies decoded through the validation boundary."""

    async def json(self) -> Any:
        body = await self.body()
        media_type, options = self.content_type
        charset = options.get("charset", "utf-8").lower()
        if media_type != JSON_MEDIA_TYPE or charset not in ("utf-8", "utf8"):
            raise ClientException(
                status_code=415, detail=f"The body must be {JSON_MEDIA_TYPE} (UTF-8), not {media_type or 'untyped'}."
            )
        check_depth(body)
        field = self.route_handler.parsed_data_field
        target = field.annotation if field is not None else None
        if not (isinstance(target, type) and issubclass(target, msgspec.Struct)):
            try:
                return _decode(body, _any_decoder)
            except msgspec.ValidationError as exc:  # a number out of range
                raise ClientException(status_code=400, detail=f"The body is not valid JSON: {exc}.") from None
        try:
            return _decode(body, _decoder(target))
        except msgspec.ValidationError as exc:
            try:
                # the typed pass may have stopped early: the rest can still be unreadable (400)
                errors = body_errors(target, _decode(body, _exact_decoder))
            except msgspec.ValidationError:  # a number no parser takes (thousands of digits)
                errors = [first_error(target, str(exc))]
            raise ValidationException(detail="The body is not valid.", extra=errors) from None


def _decode(body: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    try:
        return decoder.decode(body)
    except msgspec.ValidationError:
        raise
    except UnicodeDecodeError:
        raise ClientException(status_code=400, detail="The body is not valid UTF-8.") from None
    except msgspec.DecodeError as exc:
        raise ClientException(status_code=400, detail=f"The body is not valid JSON: {exc}.") from None


_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
# The failure path sees numbers as written: 1e999999 overflows a float, not a Decimal, and the
# encoder gives each value back as the same JSON number when fields are checked one by one.
_exact_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(float_hook=Decimal)
_exact_encoder = msgspec.json.Encoder(decimal_format="number")


@cache
def _decoder(target: type[msgspec.Struct]) -> msgspec.json.Decoder[Any]:
    return msgspec.json.Decoder(target)


def check_depth(body: bytes, limit: int = MAX_DEPTH) -> None:
    """400 when arrays/objects nest deeper than ``limit``. Counting brackets is C-speed and settles
    every ordinary body; only a body with more brackets than ``limit`` is scanned (skipping strings),
    and the scan stops as soon as the limit is crossed."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return
    depth = 0
    for token in _STRUCTURE.finditer(body):
        char = token.group()
        if char in (b"[", b"{"):
            depth += 1
            if depth > limit:
                raise ClientException(status_code=400, detail=f"The body nests deeper than {limit} levels.")
        elif char in (b"]", b"}"):
            depth -= 1


# -- every bad field at once (the failure path only) ----------------------------------------------


def body_errors(target: type[msgspec.Struct], raw: Any, prefix: str = "") -> list[dict[str, Any]]:
    """Every problem of ``raw`` (decoded JSON) against the Struct ``target``:
    ``[{key, message, source}]`` with dotted JSON names (``filters.minPrice``); an unknown field
    also carries ``unknown: True``."""
    if not isinstance(raw, dict):
        got = _json_type(raw)
        return [_error(prefix or None, f"must be a JSON object, not {got}")]
    errors: list[dict[str, Any]] = []
    fields = {f.encode_name: f for f in msgspec.structs.fields(target)}
    if target.__struct_config__.forbid_unknown_fields:
        errors.extend(_error(prefix + key, _UNKNOWN, unknown=True) for key in raw if key not in fields)
    for name, info in fields.items():
        if name not in raw:
            if info.required:
                errors.append(_error(prefix + name, "is required"))
            continue
        value = raw[name]
        try:
            msgspec.json.decode(_exact_encoder.encode(value), type=info.type)
        except msgspec.ValidationError as exc:
            nested = _struct_of(info.type)
            if nested is not None and isinstance(value, dict):
                errors.extend(body_errors(nested, value, f"{prefix}{name}."))
            else:
                message, path = _split(str(exc))
                words = human_message(message, info.type)
                wrong_type = _EXPECTED.match(message) or message == "Number out of range"
                if not path and wrong_type and AMOUNT_PATTERN in _patterns(info.type):
                    words = PATTERN_MESSAGES[AMOUNT_PATTERN]  # a JSON number as a price: say what it takes
                errors.append(_error(prefix + name + path, words))
    return errors


def first_error(target: type[msgspec.Struct], message: str) -> dict[str, Any]:
    """msgspec's one error (``"… - at `$.price`"``) as an entry of :func:`body_errors`."""
    text, path = _split(message)
    key = path.removeprefix(".") or None
    annotation = next((f.type for f in msgspec.structs.fields(target) if f.encode_name == key), None)
    if annotation is not None and AMOUNT_PATTERN in _patterns(annotation):
        return _error(key, PATTERN_MESSAGES[AMOUNT_PATTERN])
    return _error(key, human_message(text, annotation))


def _error(key: str | None, message: str, *, unknown: bool = False) -> dict[str, Any]:
    error: dict[str, Any] = {"message": message, "source": "body"}
    if key is not None:
        error["key"] = key
    if unknown:
        error["unknown"] = True
    return error


def _split(message: str) -> tuple[str, str]:
    """``"Expected `int` - at `$.a[0]`"`` → (``"Expected `int`"``, ``".a[0]"``)."""
    text, _, where = message.partition(" - at `$")
    return text, where.rstrip("`")


def _struct_of(annotation: Any) -> type[msgspec.Struct] | None:
    """The Struct inside ``X``, ``X | None``, ``Annotated[X, …]``, if any."""
    for candidate in _flatten(annotation):
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    return None


def _flatten(annotation: Any) -> list[Any]:
    origin = get_origin(annotation)
    if origin is Union or type(annotation).__name__ == "UnionType":
        return [t for arg in get_args(annotation) for t in _flatten(arg)]
    if origin is not None and getattr(annotation, "__metadata__", None) is not None:  # Annotated
        return _flatten(get_args(annotation)[0])
    return [annotation]


def _patterns(annotation: Any) -> list[str]:
    """The ``Meta(pattern=…)`` constraints anywhere in ``annotation``."""
    found: list[str] = []
    for arg in get_args(annotation):
        found.extend(_patterns(arg))
    for meta in getattr(annotation, "__metadata__", ()):
        if isinstance(meta, msgspec.Meta) and meta.pattern is not None:
            found.append(meta.pattern)
    return found


def _choices(annotation: Any) -> list[str]:
    return [
        str(value)
        for candidate in _flatten(annotation)
        if get_origin(candidate) is Literal
        for value in get_args(candidate)
    ]


_TYPE_WORDS: Final = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "true or false",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
    "uuid": "a UUID",
}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "a list" if isinstance(value, list) else "an object"


def _words(types: str) -> str:
    return " or ".join(_TYPE_WORDS.get(t.strip(), t.strip()) for t in types.split("|"))


_EXPECTED = re.compile(r"^Expected `(?P<types>[^`]+)`, got `(?P<got>[^`]+)`$")
_LENGTH = re.compile(r"^Expected `(?P<type>str|array|object)[^`]*` of length (?P<op>[<>]=) (?P<n>\d+)$")
_BOUND = re.compile(r"^Expected `(?P<type>int|float)[^`]*` (?P<op>[<>]=?) (?P<n>-?[\d.e+]+)$")
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")


def human_message(message: str, annotation: Any = None) -> str:
    """msgspec's wording → words for a person (and never the regular expression of a pattern)."""
    if "matching regex" in message:
        for pattern, words in PATTERN_MESSAGES.items():
            if repr(pattern) in message:
                return words
        return "has an invalid format"
    if match := _EXPECTED.match(message):
        return f"must be {_words(match['types'])}"
    if match := _LENGTH.match(message):
        unit = "characters" if match["type"] == "str" else "items"
        n = int(match["n"])
        if match["op"] == ">=":
            return "must not be empty" if n == 1 and unit == "characters" else f"needs at least {n} {unit}"
        return f"takes at most {n} {unit}"
    if match := _BOUND.match(message):
        op = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}[match["op"]]
        return f"must be {op} {match['n']}"
    if message.startswith("Invalid enum value"):
        choices = _choices(annotation)
        return f"must be one of: {', '.join(choices)}" if choices else "is not one of the allowed values"
    if message in ("Number out of range", "Integer value out of range"):
        return "is a number out of range"
    if message.startswith("Invalid UUID"):
        return "must be a UUID"
    if "datetime" in message or "date" in message:
        return "must be an ISO-8601 date-time with a time zone"
    if match := _MISSING.match(message):
        return "is required"
    if message.startswith("Object contains unknown field"):
        return _UNKNOWN
    return message
