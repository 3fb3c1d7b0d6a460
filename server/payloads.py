"""Why a JSON payload (a POST body, or GET's ``variables`` / ``extensions``) that orjson refused cannot be
taken: the answer the caller gets instead of a bare "not valid JSON".

orjson reads a number beyond a double (``1e999999``, a 400-digit integer) as an error of the document,
though the JSON is well formed; the README's rule for such values is BAD_USER_INPUT (as the same value in a
string is), so it is told apart here. orjson's messages are not an interface, so the refused text is read
again by the standard library, whose hooks see each number: only the error path pays for it, and the
payload is bounded by GOVSHARE_MAX_BODY_BYTES.
"""

from __future__ import annotations

import json
import math

from govshare.core.errors import BadRequest, GovshareError, MalformedRequest


def _not_json(name: str) -> float:
    raise ValueError(f"{name} is not JSON")  # the standard library would take NaN and Infinity


def refusal(payload: bytes | str, what: str, reason: str) -> GovshareError:
    """The error for ``payload`` (called ``what`` in the message), which orjson refused with ``reason``."""
    beyond: list[str] = []  # numbers beyond a double, in order; counted only when the whole text is JSON

    def finite(text: str) -> float:
        value = float(text)  # never raises for JSON's number grammar; beyond a double it is infinite
        if math.isinf(value):
            beyond.append(text)
        return value

    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
        json.loads(text, parse_float=finite, parse_int=finite, parse_constant=_not_json)
    except RecursionError:
        return MalformedRequest(f"{what} is nested too deeply to be read")
    except ValueError:  # UnicodeDecodeError and json.JSONDecodeError included
        pass
    else:
        if beyond:
            shown = beyond[0] if len(beyond[0]) <= 24 else f"{beyond[0][:20]}..."
            return BadRequest(f"{what} holds the number {shown}, beyond the range of a 64-bit float: send a value "
                              "this large (or this precise) as a string", reason="NUMBER_OUT_OF_RANGE")
    return MalformedRequest(f"{what} is not valid JSON ({reason})")
