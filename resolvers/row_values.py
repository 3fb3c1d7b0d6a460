"""Whether the values of catalog rows read from a node database are ones the catalog can serve.

A node's server holds its own catalog, and its owner can drop a column's NOT NULL or CHECK, or answer
through a view: a row may then hold a NULL where the schema's field is non-null, or a value that is not one
of its enum's (``update_cycle = 'hourly'``). Served, such a value fails the field it sits in, and GraphQL
nulls the nearest nullable parent: the whole federated page, every other node's rows with it. So every
page read is checked here as it arrives, and a database whose page holds such a row is left out of that
page as one that did not answer (NODE_UNAVAILABLE, reason InvalidRows, each row logged), as one returning
rows it does not host is (``catalog.UNHOSTED_ROWS``). ``provider_level`` and a department's ``level`` are
not checked: they are served as their code's level, whatever the row holds (schema/builders.py).

The choices are the migrations' CHECKs, which are the schema's enums' values (tests/resolvers/
test_row_values.py compares them with schema/common.py).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from govshare.resolvers.hosting import Row

logger = logging.getLogger("govshare.row_values")

INVALID_ROWS = "InvalidRows"  # the reason a database's page is left out: it holds a row the catalog cannot serve

RESOURCE_CHOICES: dict[str, frozenset[str]] = {
    "classification": frozenset(("basic", "theme", "department")),
    "update_cycle": frozenset(("realtime", "daily", "weekly", "monthly", "quarterly", "half_yearly", "yearly")),
    "share_class": frozenset(("UNCONDITIONAL", "CONDITIONAL", "NOT_SHARED")),
    "status": frozenset(("draft", "submitted", "published", "retired")),
}
# Columns holding a list of choices.
RESOURCE_CHOICE_LISTS: dict[str, frozenset[str]] = {"share_modes": frozenset(("exchange", "interface", "database"))}
# Columns of non-null fields (beside those of RESOURCE_CHOICES*): a NULL there cannot be served.
RESOURCE_REQUIRED = ("code", "node_code", "category", "name_zh", "summary_zh", "provider_code", "format",
                     "open_attribute", "version")
# Columns of non-null lists of non-null texts.
RESOURCE_TEXT_LISTS = ("related_codes",)
DEPARTMENT_REQUIRED = ("code", "node_code", "name_zh", "division_code")
ITEM_CHOICES: dict[str, frozenset[str]] = {"share_class": RESOURCE_CHOICES["share_class"]}
ITEM_REQUIRED = ("name", "title_zh", "data_type", "is_key")


def _keys(row: Row) -> Iterable[str]:
    keys: Iterable[str] = row.keys()  # type: ignore[attr-defined]  # an asyncpg Record, or a dict
    return keys


def _choice_list(allowed: frozenset[str]) -> Any:
    def servable(value: Any) -> bool:
        return isinstance(value, list | tuple) and all(isinstance(v, str) and v in allowed for v in value)
    return servable


def _choice(allowed: frozenset[str]) -> Any:
    def servable(value: Any) -> bool:
        return isinstance(value, str) and value in allowed
    return servable


def _not_null(value: Any) -> bool:
    return value is not None


def _texts(value: Any) -> bool:
    return isinstance(value, list | tuple) and all(isinstance(v, str) for v in value)


def _tests(choices: Mapping[str, frozenset[str]], lists: Mapping[str, frozenset[str]],
           required: Sequence[str], texts: Sequence[str] = ()) -> dict[str, Any]:
    tests: dict[str, Any] = {column: _not_null for column in required}
    tests.update({column: _texts for column in texts})
    tests.update({column: _choice(allowed) for column, allowed in choices.items()})
    tests.update({column: _choice_list(allowed) for column, allowed in lists.items()})
    return tests


_RESOURCE_TESTS = _tests(RESOURCE_CHOICES, RESOURCE_CHOICE_LISTS, RESOURCE_REQUIRED, RESOURCE_TEXT_LISTS)
_DEPARTMENT_TESTS = _tests({}, {}, DEPARTMENT_REQUIRED)
_ITEM_TESTS = _tests(ITEM_CHOICES, {}, ITEM_REQUIRED)


def _unservable(rows: Sequence[Row], tests: Mapping[str, Any]) -> list[tuple[Row, str]]:
    """Each row (with the column) holding a value that cannot be served, among the columns the rows have.
    A page is checked column by column with C-level loops (all, map); row by row only when one fails."""
    if not rows:
        return []
    present = [(column, test) for column in _keys(rows[0]) if (test := tests.get(column)) is not None]
    found: list[tuple[Row, str]] = []
    for column, test in present:
        if not all(map(test, map(itemgetter(column), rows))):
            found.extend((row, column) for row in rows if not test(row[column]))
    return found


def _servable(database: str, rows: Sequence[Row], tests: Mapping[str, Any], what: str) -> bool:
    found = _unservable(rows, tests)
    for row, column in found:
        logger.warning("database %s returned %s %r whose %s is %r, which the catalog cannot serve: its page is "
                       "left out", database, what, row["code"], column, row[column])
    return not found


def servable_resources(database: str, rows: Sequence[Row]) -> bool:
    """Whether every resource row of a page read from ``database`` can be served; each that cannot is logged."""
    return _servable(database, rows, _RESOURCE_TESTS, "resource")


def servable_departments(database: str, rows: Sequence[Row]) -> bool:
    """As ``servable_resources``, for a page of departments."""
    return _servable(database, rows, _DEPARTMENT_TESTS, "department")


def servable_items(database: str, code: str, names: Sequence[str], items: Iterable[Sequence[Any]]) -> bool:
    """Whether every data item of resource ``code`` read beside a page from ``database`` (records of the
    columns ``names``) can be served; each value that cannot is logged."""
    tests = [(n, column, test) for n, column in enumerate(names) if (test := _ITEM_TESTS.get(column)) is not None]
    servable = True
    for item in items:
        for n, column, test in tests:
            if not test(item[n]):
                servable = False
                logger.warning("database %s returned a data item of resource %r whose %s is %r, which the catalog "
                               "cannot serve: the resource's items are left out", database, code, column, item[n])
    return servable
