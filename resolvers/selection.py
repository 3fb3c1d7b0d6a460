"""What the query selected below a field: names merged over aliases and fragments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

Tree = dict[str, "Tree"]


def included(selection: Any) -> bool:
    """False for a selection excluded by @skip(if: true) or @include(if: false) (variables resolved):
    such a field is not executed, so it is neither read nor decided nor reported."""
    directives = getattr(selection, "directives", None) or {}
    if directives.get("skip", {}).get("if") is True:
        return False
    return directives.get("include", {}).get("if") is not False


def _merge(into: Tree, other: Tree) -> None:
    for name, sub in other.items():
        _merge(into.setdefault(name, {}), sub)


def selection_tree(selections: Iterable[Any]) -> Tree:
    tree: Tree = {}
    for selection in selections:
        if not included(selection):
            continue
        if isinstance(selection, SelectedField):
            _merge(tree.setdefault(selection.name, {}), selection_tree(selection.selections))
        elif isinstance(selection, FragmentSpread | InlineFragment):
            _merge(tree, selection_tree(selection.selections))
    return tree


def current_field(selected_fields: Iterable[Any]) -> Tree:
    """The selection below the field being resolved (all its aliases merged)."""
    merged: Tree = {}
    for sub in selection_tree(selected_fields).values():
        _merge(merged, sub)
    return merged


MAX_REMEMBERED = 1024  # field nodes whose selection is remembered (cleared when full)
_remembered: dict[tuple[int, ...], tuple[tuple[Any, ...], Tree]] = {}


def selection_of(info: Any) -> Tree:
    """``current_field(info.selected_fields)`` for a strawberry ``Info``, worked out once per parsed field
    node when the operation has no variables: the tree then depends on the document alone (names, and
    @skip/@include with literal conditions), and strawberry's conversion of the selection plus the merge
    cost ~10% of a one-resource request. Callers only read the tree."""
    raw = info._raw_info
    if raw.operation.variable_definitions:
        return current_field(info.selected_fields)
    nodes = tuple(raw.field_nodes)
    key = tuple(id(node) for node in nodes)
    entry = _remembered.get(key)
    if entry is None or any(a is not b for a, b in zip(entry[0], nodes, strict=True)):
        if len(_remembered) >= MAX_REMEMBERED:
            _remembered.clear()
        # The nodes are kept with their tree: their ids cannot be reused while the entry lives.
        entry = _remembered[key] = (nodes, current_field(info.selected_fields))
    return entry[1]


def response_keys(selections: Iterable[Any], path: list[str]) -> dict[str, str]:
    """Field name -> the first response key (alias or name) under ``path`` below the current field."""
    keys: dict[str, str] = {}

    def walk(items: Iterable[Any], rest: list[str]) -> None:
        for selection in items:
            if not included(selection):
                continue
            if isinstance(selection, FragmentSpread | InlineFragment):
                walk(selection.selections, rest)
            elif isinstance(selection, SelectedField):
                if not rest:
                    keys.setdefault(selection.name, selection.alias or selection.name)
                elif selection.name == rest[0]:
                    walk(selection.selections, rest[1:])

    for field in selections:  # the current field itself (every alias of it)
        if isinstance(field, SelectedField):
            walk(field.selections, path)
    return keys
