"""What the query selected below a field: names merged over aliases and fragments."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

Tree = dict[str, "Tree"]


def _merge(into: Tree, other: Tree) -> None:
    for name, sub in other.items():
        _merge(into.setdefault(name, {}), sub)


def selection_tree(selections: Iterable[Any]) -> Tree:
    tree: Tree = {}
    for selection in selections:
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
