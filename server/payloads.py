"""Why a JSON payload (a POST body, or GET's ``variables`` / ``extensions``) that orjson refused cannot be
taken: the answer the caller gets instead of a bare "not valid JSON".

orjson reads a number beyond a double (``1e999999``, a 400-digit integer) as an error of the document,
though the JSON is well formed; the README's rule for such values is BAD_USER_INPUT (as the same value in a
string is), so it is told apart here. Only a refusal whose reason is about a number is looked at further,
and only at C speed: the number at the position orjson names is read, blanked out (``0`` and spaces: every
other position stays where it was) and the text handed to orjson again, at most ``MAX_REREADS`` times. A
re-read of the whole text by the standard library (a Python call per number) cost ~60x orjson's refusal,
on a path any caller reaches at will (review-s7 finding 5). orjson's messages are not an interface: a
reason it words otherwise is answered as any document that is not JSON.
"""

from __future__ import annotations

import math
import re

import orjson

from govshare.core.errors import BadRequest, GovshareError, MalformedRequest

# orjson's reasons (orjson 3.x): a number beyond a double, and nesting deeper than it reads
NUMBER_REASON = "number is infinity when parsed as double"
DEPTH_REASON = "depth limit exceeded"
MAX_REREADS = 8  # out-of-range numbers blanked out before the document is answered as holding them
NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def _out_of_range(text: str, position: int) -> str | None:
    """The number at ``position`` of ``text`` when it is beyond a double (orjson's reading), else None."""
    found = NUMBER.match(text, position)
    if found is None or found.end() == position or not math.isinf(float(found.group())):
        return None
    return found.group()


def _beyond(text: str, reason: str, position: int) -> str | None:
    """The first number beyond a double in ``text`` when the rest of it is JSON (as far as ``MAX_REREADS``
    re-reads tell), else None."""
    first: str | None = None
    for _ in range(MAX_REREADS):
        if not reason.startswith(NUMBER_REASON):
            return None
        number = _out_of_range(text, position)
        if number is None:
            return None
        first = first or number
        text = f"{text[:position]}0{' ' * (len(number) - 1)}{text[position + len(number):]}"
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            reason, position = str(exc), exc.pos
            continue
        return first
    return first  # more numbers beyond a double than re-read: the document holds them all the same


def refusal(payload: bytes | str, what: str, reason: str, position: int | None = None) -> GovshareError:
    """The error for ``payload`` (called ``what`` in the message), which orjson refused with ``reason`` (at
    ``position``, orjson's ``pos``: read from the reason when not given)."""
    if reason.startswith(DEPTH_REASON):
        return MalformedRequest(f"{what} is nested too deeply to be read")
    if reason.startswith(NUMBER_REASON):
        if position is None:
            named = re.search(r"\(char ([0-9]+)\)$", reason)
            position = int(named.group(1)) if named else -1
        try:
            text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        except UnicodeDecodeError:
            text = ""
        beyond = _beyond(text, reason, position) if 0 <= position < len(text) else None
        if beyond is not None:
            shown = beyond if len(beyond) <= 24 else f"{beyond[:20]}..."
            return BadRequest(f"{what} holds the number {shown}, beyond the range of a 64-bit float: send a value "
                              "this large (or this precise) as a string", reason="NUMBER_OUT_OF_RANGE")
    return MalformedRequest(f"{what} is not valid JSON ({reason})")
