"""Bounds on the work one request may ask for, checked before anything executes (README "Limits").

Every bound here exists because something downstream costs more than linear time or reaches the
database: a string with a NUL byte cannot be a PostgreSQL text parameter; a 200,000-value list is
coerced value by value on the event loop; and graphql-core's check that fields with one response
name can be merged compares every pair of such fields and recurses into their selections, so a few
thousand tokens of repeated composite fields cost seconds of CPU. Checking the parsed document and
the variables takes one linear walk each.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    ListValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    Visitor,
    visit,
)
from graphql.language import get_location

from govshare.core.errors import BadRequest, LimitExceeded
from govshare.core.settings import Settings

# Fixed bounds on the document's shape (its size is bounded by the token limit in schema/).
MAX_LEAF_REPEATS = 10
MAX_FRAGMENTS = 50


@dataclass(frozen=True)
class Limits:
    body_bytes: int
    list_length: int
    string_length: int
    variables: int

    @classmethod
    def from_settings(cls, settings: Settings) -> Limits:
        return cls(settings.max_body_bytes, settings.max_list_length, settings.max_string_length,
                   settings.max_variables)

    def check_string(self, value: str, where: str) -> None:
        if len(value) > self.string_length:
            raise LimitExceeded(f"{where}: a string of {len(value)} characters; at most {self.string_length}",
                                limit="maxStringLength", maximum=self.string_length)
        if "\x00" in value:
            raise BadRequest(f"{where}: strings must not contain the NUL character")

    def check_list(self, length: int, where: str) -> None:
        if length > self.list_length:
            raise LimitExceeded(f"{where}: a list of {length} values; at most {self.list_length}",
                                limit="maxListLength", maximum=self.list_length)

    def check_variables(self, variables: Mapping[str, Any] | None) -> None:
        """Every string and list in the variables, however deeply nested (walked without recursion)."""
        if not variables:
            return
        if len(variables) > self.variables:
            raise LimitExceeded(f"{len(variables)} variables; at most {self.variables}",
                                limit="maxVariables", maximum=self.variables)
        stack: list[tuple[str, Any]] = [(f"variable ${name}", value) for name, value in variables.items()]
        while stack:
            where, value = stack.pop()
            if isinstance(value, str):
                self.check_string(value, where)
            elif isinstance(value, list):
                self.check_list(len(value), where)
                stack.extend((where, item) for item in value)
            elif isinstance(value, dict):
                for key, item in value.items():
                    self.check_string(key, where)
                    stack.append((where, item))

    def check_document(self, document: DocumentNode) -> None:
        """String and list literals, and the merge work the document asks of validation."""
        visit(document, _LiteralChecker(self))
        fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        if len(fragments) > MAX_FRAGMENTS:
            raise LimitExceeded(f"{len(fragments)} fragments; at most {MAX_FRAGMENTS}", limit="maxFragments",
                                maximum=MAX_FRAGMENTS)
        _SelectionChecker(fragments).check(document)


class _LiteralChecker(Visitor):
    def __init__(self, limits: Limits) -> None:
        super().__init__()
        self._limits = limits

    def enter_string_value(self, node: StringValueNode, *_: Any) -> None:
        self._limits.check_string(node.value, _where(node))

    def enter_list_value(self, node: ListValueNode, *_: Any) -> None:
        self._limits.check_list(len(node.values), _where(node))


def _where(node: Any) -> str:
    if node.loc is None:
        return "a literal"
    location = get_location(node.loc.source, node.loc.start)
    return f"the literal at line {location.line}, column {location.column}"


class _SelectionChecker:
    """Each response name once per merged selection set if it has a selection, a few times if a leaf.

    Merging repeated composite fields is what makes validation quadratic and, through nesting,
    exponential; a client merges such selections itself (or gives them aliases) at no loss.
    """

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._memo: dict[str, tuple[Counter[str], frozenset[str]]] = {}
        self._visiting: set[str] = set()

    def check(self, document: DocumentNode) -> None:
        for definition in document.definitions:
            if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
                self._check_set(definition.selection_set)

    def _check_set(self, selection_set: SelectionSetNode) -> None:
        counts, composite = self._names(selection_set)
        for name, count in counts.items():
            if count > 1 and name in composite:
                raise LimitExceeded(f"'{name}' is selected {count} times in one selection set; select it once "
                                    "(merge its selections) or give each an alias", limit="repeatedField")
            if count > MAX_LEAF_REPEATS:
                raise LimitExceeded(f"'{name}' is selected {count} times in one selection set; at most "
                                    f"{MAX_LEAF_REPEATS}", limit="repeatedField", maximum=MAX_LEAF_REPEATS)
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode | InlineFragmentNode) and selection.selection_set is not None:
                self._check_set(selection.selection_set)

    def _names(self, selection_set: SelectionSetNode, spread: set[str] | None = None
               ) -> tuple[Counter[str], frozenset[str]]:
        # A fragment spread twice into one selection set is collected once, as execution does.
        spread = set() if spread is None else spread
        counts: Counter[str] = Counter()
        composite: set[str] = set()
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = (selection.alias or selection.name).value
                counts[key] += 1
                if selection.selection_set is not None:
                    composite.add(key)
            elif isinstance(selection, InlineFragmentNode):
                inner, inner_composite = self._names(selection.selection_set, spread)
                counts.update(inner)
                composite |= inner_composite
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in spread:
                spread.add(selection.name.value)
                inner, inner_composite = self._fragment(selection.name.value)
                counts.update(inner)
                composite |= inner_composite
        return counts, frozenset(composite)

    def _fragment(self, name: str) -> tuple[Counter[str], frozenset[str]]:
        if name in self._memo:
            return self._memo[name]
        definition = self._fragments.get(name)
        if definition is None or name in self._visiting:
            return Counter(), frozenset()  # unknown or cyclic: validation reports it
        self._visiting.add(name)
        try:
            result = self._names(definition.selection_set)
        finally:
            self._visiting.discard(name)
        self._memo[name] = result
        return result
