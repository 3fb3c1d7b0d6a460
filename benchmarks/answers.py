"""Answers of different servers brought to one canonical form, so they can be compared byte for byte.

govshare, PostGraphile and the raw baseline name things differently (``name`` vs ``nameZh``, a list
vs a connection's ``nodes``); each scenario says how to extract the rows from each server's answer.
The extracted rows are then serialised with sorted keys and compact separators, and the bytes must
be equal. A server that answered with errors never compares equal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Extract = Callable[[dict[str, Any]], Any]


class AnswersDiffer(AssertionError):
    """Two servers gave different answers to the same scenario: their figures would not compare."""


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def compare(answers: dict[str, dict[str, Any]], extractors: dict[str, Extract]) -> bytes:
    """The canonical rows all servers agree on; raise AnswersDiffer naming the first that does not."""
    reference: tuple[str, bytes] | None = None
    for server, answer in answers.items():
        if answer.get("errors"):
            raise AnswersDiffer(f"{server} answered with errors: {answer['errors']!r}"[:2000])
        try:
            rows = canonical(extractors[server](answer))
        except (KeyError, TypeError, IndexError) as exc:
            raise AnswersDiffer(f"{server}'s answer has an unexpected shape ({exc!r}): {answer!r}"[:2000]) from exc
        if reference is None:
            reference = (server, rows)
        elif rows != reference[1]:
            raise AnswersDiffer(f"{server} and {reference[0]} differ:\n{rows[:600]!r}\n{reference[1][:600]!r}")
    if reference is None:
        raise AnswersDiffer("no answers to compare")
    return reference[1]


# --- the shapes the scenarios use -----------------------------------------------------------------

def pg_resource(node: dict[str, Any]) -> dict[str, Any]:
    """A PostGraphile resource (amber inflection) in govshare's field names."""
    provider = node["departmentByProviderCode"]
    return {"code": node["code"], "name": node["nameZh"],
            "provider": {"code": provider["code"], "name": provider["nameZh"]} if provider else None,
            "dataItems": node["dataItemsByResourceCode"]["nodes"]}
