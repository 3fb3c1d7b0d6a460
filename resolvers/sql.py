"""A WHERE clause assembled from constant fragments; every value is a ``$n`` parameter."""

from __future__ import annotations

from typing import Any


class Where:
    def __init__(self) -> None:
        self.fragments: list[str] = []
        self.args: list[Any] = []

    def add(self, fragment: str, value: Any) -> None:
        """``fragment`` is a constant with one ``{}`` where the parameter goes."""
        self.args.append(value)
        self.fragments.append(fragment.replace("{}", f"${len(self.args)}"))

    def param(self, value: Any) -> str:
        self.args.append(value)
        return f"${len(self.args)}"

    def sql(self) -> str:
        return " and ".join(self.fragments) if self.fragments else "true"
