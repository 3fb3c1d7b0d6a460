"""Whether a row read from a node database is that database's own (README *Trust model*).

The SQL filters of the catalog (catalog.HOSTED_*) keep pages, counts and cursors right for an honest
server, but they are evaluated by the very server they distrust: its owner can define operators and
functions of its own, or put a view in front of a table, and so return any rows it likes. Every row read
from a node database is therefore checked again here, in the service, before it is used: a row is
database D's own when the node it names is hosted by D and its code (and its provider, where it has
one) belongs to a node hosted by D, a code belonging to node ``NNNNNN`` when it starts with
``NNNNNN-``. Any other row is dropped and logged as a warning naming the database.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any, Protocol, TypeVar

from govshare.federation.topology import Topology

logger = logging.getLogger("govshare.hosting")

NODE_LENGTH = 6  # a GB/T 2260 division code: the node a code belongs to, followed by '-'
NODE_CODE = re.compile(r"[0-9]{6}-", re.ASCII)


class Row(Protocol):
    """A row read from a database (an asyncpg Record, or a dict of its columns)."""

    def __getitem__(self, key: str, /) -> Any: ...


R = TypeVar("R", bound=Row)


def node_of(code: object) -> str | None:
    """The node ``code`` belongs to: its first 6 characters when they are ASCII digits and a '-' follows
    them (None otherwise)."""
    if not isinstance(code, str) or not NODE_CODE.fullmatch(code[:NODE_LENGTH + 1]):
        return None
    return code[:NODE_LENGTH]


def belongs(code: object, nodes: Iterable[str]) -> bool:
    """Whether ``code`` belongs to one of ``nodes`` (``<node>-...``)."""
    node = node_of(code)
    return node is not None and node in nodes


@functools.lru_cache(maxsize=256)
def _node_codes(nodes: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...]]:
    """The division codes (6 ASCII digits) among ``nodes``, and their codes' prefixes ('NNNNNN-'): with
    these, a code belongs to one of the nodes when it starts with one of the prefixes (node_of's test,
    without a regular expression)."""
    codes = frozenset(node for node in nodes if NODE_CODE.fullmatch(node + "-"))
    return codes, tuple(sorted(node + "-" for node in codes))


def _hosted(topology: Topology, database: str) -> tuple[frozenset[str], tuple[str, ...]]:
    return _node_codes(topology.hosted_on(database))


def owns(topology: Topology, database: str, node: object, code: object, provider: object = None, *,
         with_provider: bool = False) -> bool:
    """Whether a row naming ``node``, ``code`` (and, ``with_provider``, ``provider``) is ``database``'s own:
    the node is hosted by it and the codes belong to nodes it hosts."""
    hosted, prefixes = _hosted(topology, database)
    return (isinstance(node, str) and node in hosted and isinstance(code, str) and code.startswith(prefixes)
            and (not with_provider or (isinstance(provider, str) and provider.startswith(prefixes))))


def foreign_rows(topology: Topology, database: str, rows: Sequence[R], *, node: str = "node_code",
                 code: str = "code", provider: str | None = None) -> list[R]:
    """The rows of ``rows`` (read from ``database``) that are not its own (``owns``), for a caller that
    refuses them all at once (a page). Every row of every page of a federated list is checked (12 pages of
    51 rows for a page of 50 over the demo topology): first with C-level loops (map, str.startswith: 0.01
    ms a page), and only when one of them finds a row that is not its own, row by row to name them."""
    hosted, prefixes = _hosted(topology, database)
    try:
        if (all(map(hosted.__contains__, map(itemgetter(node), rows)))
                and all(map(str.startswith, map(itemgetter(code), rows), repeat(prefixes)))
                and (provider is None or all(map(str.startswith, map(itemgetter(provider), rows), repeat(prefixes))))):
            return []
    except TypeError:  # a value that is not a string (unhashable, or no str for startswith): not its own
        pass
    return [row for row in rows if not owns(topology, database, row[node], row[code],
                                            row[provider] if provider is not None else None,
                                            with_provider=provider is not None)]


def own_rows(topology: Topology, database: str, rows: Iterable[R], what: str, *, node: str = "node_code",
             code: str = "code", provider: str | None = None) -> list[R]:
    """The rows of ``rows`` (read from ``database``) that are its own (``owns``), in their order; each
    other one is dropped with a warning. ``node``, ``code`` and ``provider`` name the row's columns (no
    provider column: the row has no provider); ``what`` says what the rows are, for the log."""
    kept: list[R] = []
    for row in rows:
        if owns(topology, database, row[node], row[code], row[provider] if provider is not None else None,
                with_provider=provider is not None):
            kept.append(row)
        else:
            dropped(database, what, row[code], row[node], row[provider] if provider is not None else None)
    return kept


def dropped(database: str, what: str, code: object, node: object, provider: object = None) -> None:
    """Log a row of ``database`` that is not its own (the SQL filter its server ran let it through)."""
    logger.warning("database %s returned %s %r (node %r%s), which it does not host: dropped", database, what,
                   code, node, "" if provider is None else f", provider {provider!r}")
