"""Whether the values of catalog rows read from a node database are ones the catalog can serve.

A node's server holds its own catalog, and its owner can drop a column's NOT NULL or CHECK, alter its type,
or answer through a view: a row may then hold a NULL where the schema's field is non-null, a value that is
not one of its enum's (``update_cycle = 'hourly'``), a text where an Int is expected, a number beyond Int's
range, a day outside the service's range, or a code far longer than any code. Served,
such a value fails the field it sits in, and GraphQL nulls the nearest nullable parent: the whole federated
page, every other node's rows with it. So every row read is checked here as it arrives: a database whose
page holds such a row is left out of that page as one that did not answer (NODE_UNAVAILABLE, reason
InvalidRows, each row logged), as one returning rows it does not host is (``catalog.UNHOSTED_ROWS``); a row
read by code (a lookup, a provider, children, a provider's resources) or a resource's items cost only
themselves, reported the same way. ``provider_level`` and a department's ``level`` are not checked: they are
served as their code's level, whatever the row holds (schema/builders.py).

What is checked, per column read (``COLUMNS``): the Python type asyncpg decoded (one type per column of a
statement's result, so a column altered to another type fails on every row: a text, a bigint or numeric
``version``, a timestamp ``published_on``), NULL only where the field is nullable, an enum's values, a list's
elements, Int's range (and ``version >= 1``), the service's range of days (core/dates.py), and codes'
length: at most CODE_LENGTH characters (they are keys, cursors and log lines). Other texts' lengths are not
checked: any length can be served, a long one costs only size, and the node's answer is bounded already
(federation/answers.py: MAX_MESSAGE_BYTES, MAX_ANSWER_BYTES); a pass over every text cost a third of the
check. A column is checked with C-level passes over
its values (``set(map(type, ...))``, ``max(map(len, ...))``, set inclusion): no Python call per value; row by
row only once a column has failed, to name its rows.

The choices are the migrations' CHECKs, which are the schema's enums' values (tests/resolvers/
test_row_values.py compares them with schema/common.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import is_not, itemgetter
from typing import Any

from govshare.core.dates import EARLIEST, LATEST

from .hosting import Row

logger = logging.getLogger("govshare.row_values")

INVALID_ROWS = "InvalidRows"  # the reason a database's rows are left out: it holds a row the catalog cannot serve
CODE_LENGTH = 128  # as resolvers/entities.MAX_KEY_LENGTH: a longer code could not even be asked for by key
INT_MAX = 2**31 - 1  # GraphQL's Int

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
CODES = frozenset(("code", "node_code", "provider_code", "parent_code", "division_code", "resource_code",
                   "related_codes"))

_present = partial(filter, partial(is_not, None))  # a column's values without its NULLs (C-level)


@dataclass(frozen=True)
class Column:
    """What a column's values may be: of ``kinds`` (NoneType among them where the field is nullable); a list
    column's elements non-null texts; texts (or a list's elements) of ``choices`` or at most ``longest``
    characters; numbers and days within ``low``..``high``."""

    kinds: frozenset[type]
    choices: frozenset[str] | None = None
    listed: bool = False
    longest: int | None = None
    low: Any = None
    high: Any = None

    def servable(self, values: Sequence[Any]) -> bool:
        """Whether every one of ``values`` (one column of a result) can be served: C-level passes only."""
        kinds = set(map(type, values))
        if not kinds <= self.kinds:
            return False
        present: Iterable[Any] = _present(values) if type(None) in kinds else values
        if self.listed:
            elements = list(chain.from_iterable(present))
            if not set(map(type, elements)) <= {str}:
                return False
            present = elements
        if self.choices is not None:
            return set(present) <= self.choices
        if self.longest is not None:
            return max(map(len, present), default=0) <= self.longest
        if self.low is not None:
            present = list(present)
            return not present or (self.low <= min(present) and max(present) <= self.high)
        return True


def _text(column: str, nullable: bool) -> Column:
    return Column(frozenset((str, type(None)) if nullable else (str,)), longest=CODE_LENGTH if column in CODES else None)


def _columns(choices: Mapping[str, frozenset[str]], lists: Mapping[str, frozenset[str]], required: Sequence[str],
             texts: Collection[str], nullable: Sequence[str] = ()) -> dict[str, Column]:
    """The checks of a table's columns: ``required`` non-null texts, ``nullable`` texts, ``texts`` lists of
    texts, ``choices`` and ``lists`` (of choices) enums."""
    columns = {column: _text(column, False) for column in required}
    columns.update({column: _text(column, True) for column in nullable})
    columns.update({column: Column(frozenset((list,)), listed=True, longest=CODE_LENGTH) for column in texts})
    columns.update({column: Column(frozenset((str,)), allowed) for column, allowed in choices.items()})
    columns.update({column: Column(frozenset((list,)), allowed, listed=True) for column, allowed in lists.items()})
    return columns


_LANGUAGES = ("ug", "kk", "en")
RESOURCE_COLUMNS: dict[str, Column] = {
    **_columns(RESOURCE_CHOICES, RESOURCE_CHOICE_LISTS, RESOURCE_REQUIRED, RESOURCE_TEXT_LISTS,
               (*(f"{p}_{lang}" for p in ("name", "summary") for lang in _LANGUAGES), "share_conditions",
                "legal_basis", "data_table", "data_scope", "api_name")),
    "version": Column(frozenset((int,)), low=1, high=INT_MAX),
    "published_on": Column(frozenset((dt.date, type(None))), low=EARLIEST, high=LATEST),
}
DEPARTMENT_COLUMNS: dict[str, Column] = _columns(
    {}, {}, DEPARTMENT_REQUIRED, (), ("parent_code", *(f"name_{lang}" for lang in _LANGUAGES)))
ITEM_COLUMNS: dict[str, Column] = {
    **_columns(ITEM_CHOICES, {}, ("resource_code", "name", "title_zh", "data_type"), (),
               (*(f"title_{lang}" for lang in _LANGUAGES), "share_condition", "legal_basis")),
    "is_key": Column(frozenset((bool,))),
}


def _keys(row: Row) -> Iterable[str]:
    keys: Iterable[str] = row.keys()  # type: ignore[attr-defined]  # an asyncpg Record, or a dict
    return keys


_NONE = type(None)
MAX_PLANS = 256  # result shapes remembered per table (cleared when full)
MAX_KINDS = 64  # type tuples remembered as servable per plan (cleared when full)
# Rows of a statement's own columns are tested row by row (``_row_check``) up to this many (a lookup's
# rows), records by position always: there one compiled test per row cost less than the passes (1 resource
# row 3 us against 10; 8 items 2.6 us against 8.4, 32 items 8.4 against 25.5; at 32 resource rows both ~58 us)
FEW_ROWS = 8


def _getter(keys: Sequence[Any]) -> Callable[[Any], tuple[Any, ...]]:
    """A row's values at ``keys`` as a tuple (itemgetter answers one key with the bare value)."""
    if len(keys) == 1:
        key = keys[0]
        return lambda row: (row[key],)
    return itemgetter(*keys)


class _Plan:
    """How one result shape (its checked columns, by name or position) is checked as a whole. A few rows, and
    records by position (anonymous ``row(...)`` values, which name each value's type themselves), with one
    compiled test per row (``_row_check``). Rows of a statement's own columns (``uniform``) beyond FEW_ROWS
    with a few C-level passes however many columns they have: such rows hold one type per column (asyncpg
    decodes a column with the one codec of its type, whatever the server sends), so their types are those
    of the first row, with one pass for NULLs in the non-null columns and one per nullable column NULL in
    the first row; the codes' lengths in one pass; each enum's values as a set; each list's elements; each
    range's minimum and maximum. Anything the passes do not expect (a TypeError) fails the plan, and
    ``Column.servable`` decides: the plan only ever passes what the columns' own checks pass
    (tests/resolvers/test_row_values_lookups.py compares them)."""

    def __init__(self, names: Sequence[str], keys: Sequence[Any], columns: Mapping[str, Column],
                 uniform: bool) -> None:
        checked = [(name, key, columns[name]) for name, key in zip(names, keys, strict=True) if name in columns]
        self.empty = not checked
        self.uniform = uniform
        self.kinds = tuple(column.kinds for _, _, column in checked)
        self.types = _getter([key for _, key, _ in checked])
        self.keys = [key for _, key, _ in checked]
        required = [key for _, key, column in checked if _NONE not in column.kinds]
        self.required = _getter(required) if required else None
        self.servable_types: set[tuple[type, ...]] = set()
        plain = [(key, column) for _, key, column in checked if not column.listed and column.choices is None]
        self.texts = [(_getter([k for k, c in plain if c.longest == longest]), longest)
                      for longest in sorted({c.longest for _, c in plain if c.longest is not None})]
        self.choices = [(key, column.choices) for _, key, column in checked
                        if column.choices is not None and not column.listed]
        self.lists = [(key, column) for _, key, column in checked if column.listed]
        self.ranges = [(key, column.low, column.high) for _, key, column in checked if column.low is not None]
        self.row = _row_check([(key, column) for _, key, column in checked])

    def _types(self, kinds: tuple[type, ...]) -> bool:
        if kinds in self.servable_types:
            return True
        if not all(kind in allowed for kind, allowed in zip(kinds, self.kinds, strict=True)):
            return False
        if len(self.servable_types) >= MAX_KINDS:
            self.servable_types.clear()
        self.servable_types.add(kinds)
        return True

    def _uniform_types(self, rows: Sequence[Any]) -> bool:
        first = tuple(map(type, self.types(rows[0])))
        if not self._types(first):
            return False
        if len(rows) == 1:
            return True
        if self.required is not None and None in chain.from_iterable(map(self.required, rows)):
            return False
        for n, kind in enumerate(first):
            if kind is _NONE and not set(map(type, map(itemgetter(self.keys[n]), rows))) <= self.kinds[n]:
                return False
        return True

    def servable(self, rows: Sequence[Any]) -> bool:
        if self.empty:
            return True
        if not self.uniform or len(rows) <= FEW_ROWS:
            return all(map(self.row, rows))
        try:
            return self._servable(rows)
        except TypeError:  # a value of a type no pass expects: the columns' own checks decide
            return False

    def _servable(self, rows: Sequence[Any]) -> bool:
        if not self._uniform_types(rows):
            return False
        for texts, longest in self.texts:
            if max(map(len, _present(chain.from_iterable(map(texts, rows)))), default=0) > longest:
                return False
        for key, choices in self.choices:
            if not set(map(itemgetter(key), rows)) <= choices:
                return False
        for key, column in self.lists:
            if not column.servable(list(map(itemgetter(key), rows))):
                return False
        for key, low, high in self.ranges:
            values = list(_present(map(itemgetter(key), rows)))
            if values and not (low <= min(values) and max(values) <= high):
                return False
        return True


def _value_test(column: Column, names: _Names, value: str) -> str:
    """The expression testing ``value`` (an expression, evaluated once, as V) as ``column.servable([value])``
    does."""
    kinds = column.kinds - {_NONE}
    if column.listed:
        elements = [f"set(map(type, V)) <= {names(frozenset((str,)))}"]
        if column.choices is not None:
            elements.append(f"set(V) <= {names(column.choices)}")
        elif column.longest is not None:
            elements.append(f"max(map(len, V)) <= {column.longest}")
        test = f"type(V) is list and (not V or ({' and '.join(elements)}))"
    else:
        test = f"type(V) is {names(next(iter(kinds)))}" if len(kinds) == 1 else f"type(V) in {names(kinds)}"
        if column.choices is not None:
            test += f" and V in {names(column.choices)}"
        elif column.longest is not None:
            test += f" and len(V) <= {column.longest}"
        elif column.low is not None:
            test += f" and {names(column.low)} <= V <= {names(column.high)}"
    if _NONE in column.kinds:
        test = f"V is None or ({test})"
    # V first read where the test starts (no name or word of these tests holds a capital V)
    return "(" + test.replace("V", f"(V := {value})", 1) + ")"


class _Names:
    """The namespace of a compiled test: each value reaches its code only as a name."""

    def __init__(self) -> None:
        self.namespace: dict[str, Any] = {}

    def __call__(self, value: Any) -> str:
        name = f"n{len(self.namespace)}"
        self.namespace[name] = value
        return name


def _row_check(checked: Sequence[tuple[Any, Column]]) -> Callable[[Any], bool]:
    """One compiled function testing a row's ``checked`` columns (key, column) as their ``Column.servable``
    would, value by value: keys and limits are literals or names, never row values."""
    names = _Names()
    tests = [_value_test(column, names, f"r[{key!r}]") for key, column in checked]
    source = "def check(r):\n    return " + (" and ".join(tests) or "True") + "\n"
    exec(compile(source, "<row_values check>", "exec"), names.namespace)
    check: Callable[[Any], bool] = names.namespace["check"]
    return check


_plans: dict[tuple[int, tuple[str, ...], bool], _Plan] = {}


def _plan(names: tuple[str, ...], columns: Mapping[str, Column], by_position: bool) -> _Plan:
    key = (id(columns), names, by_position)
    plan = _plans.get(key)
    if plan is None:
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
        plan = _plans[key] = _Plan(names, range(len(names)) if by_position else names, columns, not by_position)
    return plan


def _unservable(rows: Sequence[Row], columns: Mapping[str, Column]) -> list[tuple[Row, str]]:
    """Each row (with the column) holding a value that cannot be served, among the columns the rows have.
    The rows are checked as a whole (``_Plan``), then column by column and row by row only when they fail."""
    if not rows:
        return []
    names = tuple(_keys(rows[0]))
    if _plan(names, columns, False).servable(rows):
        return []
    found: list[tuple[Row, str]] = []
    for name in names:
        column = columns.get(name)
        if column is not None and not column.servable(list(map(itemgetter(name), rows))):
            found.extend((row, name) for row in rows if not column.servable([row[name]]))
    return found


def _shown(value: Any) -> str:
    """A value as logged: a text cut short (an over-long one is the fault, not the content)."""
    shown = repr(value)
    return shown if len(shown) <= 80 else f"{shown[:60]}... ({len(shown)} characters)"


MAX_NAMED = 3  # codes named in a warning line; the others only counted
LEFT_OUT = ("the row is left out", "the rows are left out")
ITEMS = ("a data item of resource", "data items of resources")
ITEMS_LEFT_OUT = ("the resource's items are left out", "their resources' items are left out")


def _report(database: str, what: tuple[str, str], outcome: tuple[str, str],
            found: Iterable[tuple[Any, str, Any]]) -> None:
    """Log ``found`` ((code, column, value) of each value the catalog cannot serve) as one warning line per
    column: the value and its row's code when it is the column's only one, else how many, the first
    MAX_NAMED codes and the first value (``what`` and ``outcome``: singular and plural). A node holding
    20,000 bad items cost 20,000 lines (~1 s of the event loop) on every read of them (review-s8 finding 2)."""
    by_column: dict[str, tuple[list[str], list[Any]]] = {}  # column -> codes named, [count, first value, more]
    for code, column, value in found:
        named, counted = by_column.setdefault(column, ([], [0, value, False]))
        counted[0] += 1
        if counted[2] or code in named:  # a list's ``in`` compares (==): no code is hashed or shown here
            continue
        if len(named) < MAX_NAMED:
            named.append(code)
        else:
            counted[2] = True  # a code beyond the named ones: "..."
    for column, (codes, (count, value, more)) in by_column.items():
        named = [_shown(code) for code in codes]
        if count == 1:
            logger.warning("database %s returned %s %s whose %s is %s, which the catalog cannot serve: %s",
                           database, what[0], named[0], column, _shown(value), outcome[0])
        else:
            logger.warning("database %s returned %d %s (%s%s) whose %s the catalog cannot serve (the first is %s): "
                           "%s", database, count, what[1], ", ".join(named), ", ..." if more else "",
                           column, _shown(value), outcome[1])


def _invalid(database: str, rows: Sequence[Row], columns: Mapping[str, Column], what: tuple[str, str],
             outcome: tuple[str, str], key: str = "code") -> set[str]:
    """The ``key`` of each row that cannot be served, logged with ``outcome`` (``_report``)."""
    found = _unservable(rows, columns)
    if found:
        _report(database, what, outcome, ((row[key], column, row[column]) for row, column in found))
    return {row[key] for row, _ in found}


def _servable(database: str, rows: Sequence[Row], columns: Mapping[str, Column], what: str) -> bool:
    return not _invalid(database, rows, columns, (what, what + "s"), ("its page is left out",) * 2)


def servable_resources(database: str, rows: Sequence[Row]) -> bool:
    """Whether every resource row of a page read from ``database`` can be served; each that cannot is logged."""
    return _servable(database, rows, RESOURCE_COLUMNS, "resource")


def servable_departments(database: str, rows: Sequence[Row]) -> bool:
    """As ``servable_resources``, for a page of departments."""
    return _servable(database, rows, DEPARTMENT_COLUMNS, "department")


def invalid_resources(database: str, rows: Sequence[Row]) -> set[str]:
    """The codes of the resource rows read by code from ``database`` that cannot be served (each logged):
    they are left out, the others served."""
    return _invalid(database, rows, RESOURCE_COLUMNS, ("resource", "resources"), LEFT_OUT)


def invalid_departments(database: str, rows: Sequence[Row]) -> set[str]:
    """As ``invalid_resources``, for departments rows."""
    return _invalid(database, rows, DEPARTMENT_COLUMNS, ("department", "departments"), LEFT_OUT)


def invalid_items(database: str, rows: Sequence[Row]) -> set[str]:
    """The resources (``resource_code``) among data item rows read from ``database`` whose items cannot all be
    served (each value logged): those resources' items are left out."""
    return _invalid(database, rows, ITEM_COLUMNS, ITEMS, ITEMS_LEFT_OUT, "resource_code")


def _invalid_records(database: str, names: Sequence[str], records: Sequence[Sequence[Any]],
                     columns: Mapping[str, Column]) -> list[tuple[int, str, Any]]:
    """(index of the record, column, value) of each value that cannot be served among ``records`` (tuples of
    the columns ``names``), checked column by column as ``_unservable`` checks rows."""
    found: list[tuple[int, str, Any]] = []
    if not records or _plan(tuple(names), columns, True).servable(records):
        return found
    for n, values in enumerate(zip(*records, strict=True)):
        column = columns.get(names[n])
        if column is not None and not column.servable(values):
            found.extend((index, names[n], value) for index, value in enumerate(values)
                         if not column.servable([value]))
    return found


def servable_items(database: str, code: str, names: Sequence[str], items: Sequence[Sequence[Any]]) -> bool:
    """Whether every data item of resource ``code`` read beside a page from ``database`` (records of the
    columns ``names``) can be served; those that cannot are logged (``_report``)."""
    found = _invalid_records(database, names, items, ITEM_COLUMNS)
    if found:
        _report(database, ITEMS, ITEMS_LEFT_OUT, ((code, column, value) for _, column, value in found))
    return not found


def invalid_item_lists(database: str, names: Sequence[str], items: Mapping[str, Sequence[Sequence[Any]]]
                       ) -> list[str]:
    """The resources among ``items`` (code -> its items, records of the columns ``names``, read beside a page
    from ``database``) whose items cannot all be served, each value logged: all of a page's items are
    checked at once, resource by resource only when one fails (logged together: ``_report``)."""
    if not _invalid_records(database, names, list(chain.from_iterable(items.values())), ITEM_COLUMNS):
        return []
    found = [(code, _invalid_records(database, names, listed, ITEM_COLUMNS)) for code, listed in items.items()]
    _report(database, ITEMS, ITEMS_LEFT_OUT, ((code, column, value) for code, values in found for _, column, value in values))
    return [code for code, values in found if values]


def invalid_providers(database: str, names: Sequence[str], providers: Mapping[str, Sequence[Any]]) -> set[str]:
    """The codes among ``providers`` (provider code -> its departments row, a record of the columns ``names``,
    read beside a page from ``database``) whose row cannot be served, each value logged."""
    codes = list(providers)
    found = _invalid_records(database, names, [providers[code] for code in codes], DEPARTMENT_COLUMNS)
    if found:
        _report(database, ("provider", "providers"), ("the provider is left out", "the providers are left out"),
                ((codes[index], column, value) for index, column, value in found))
    return {codes[index] for index, _, _ in found}
