"""Short progress lines for commands that take a while: each step with the time since the command
started, and while seeding, the rows written so far (a bar redrawn in place on a terminal, a line
every few seconds otherwise)."""

from __future__ import annotations

import sys
import time
from typing import TextIO

# What the seed writes, per table, as counted against the requested scale.
TRACKED = {"population": "persons", "legal_entities": "entities", "resources": "resources"}


class Steps:
    def __init__(self, out: TextIO = sys.stdout) -> None:
        self.out = out
        self.started = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def step(self, text: str) -> None:
        print(f"[{self.elapsed:5.1f} s] {text}", file=self.out, flush=True)


class SeedMeter:
    """Counts rows as the seed writer reports them; draws at most every ``interval`` seconds."""

    def __init__(self, steps: Steps, targets: dict[str, int], interval: float | None = None) -> None:
        self.steps = steps
        self.targets = targets  # "persons" -> requested count, ...
        self.done = dict.fromkeys(targets, 0)
        self.rows = 0
        self.tty = steps.out.isatty()
        self.interval = interval if interval is not None else (0.2 if self.tty else 5.0)
        self._last = time.monotonic()

    def __call__(self, table: str, rows: int) -> None:
        self.rows += rows
        if table in TRACKED and TRACKED[table] in self.done:
            self.done[TRACKED[table]] += rows
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.draw()

    def line(self) -> str:
        total = sum(self.targets.values())
        share = min(sum(self.done.values()) / total, 1.0) if total else 1.0
        bar = "#" * int(share * 20)
        counts = ", ".join(f"{self.done[k]:,}/{v:,} {k}" for k, v in self.targets.items())
        return f"[{self.steps.elapsed:5.1f} s] seeding [{bar:<20}] {share:4.0%}  {counts}  ({self.rows:,} rows)"

    def draw(self) -> None:
        if self.tty:
            print("\r" + self.line(), end="", file=self.steps.out, flush=True)
        else:
            print(self.line(), file=self.steps.out, flush=True)

    def finish(self) -> None:
        if self.tty and self.rows:
            print("\r" + self.line(), file=self.steps.out, flush=True)
