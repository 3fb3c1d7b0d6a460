"""The README's command table, built from the parser so that the two cannot drift apart.

``python -m govshare.server.usages`` prints it; tests/server/test_cli.py fails when the README's differs.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator


def _subcommands(parser: argparse.ArgumentParser) -> Iterator[tuple[str, str, argparse.ArgumentParser]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {choice.dest: choice.help or "" for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield name, helps.get(name, ""), child


def _argument(action: argparse.Action) -> str:
    if not action.option_strings:
        return str(action.metavar or action.dest.upper())
    flag = action.option_strings[-1]
    shown = flag if action.nargs == 0 else f"{flag} {action.metavar or action.dest.upper()}"
    return shown if action.required else f"[{shown}]"


def leaves(parser: argparse.ArgumentParser) -> Iterator[tuple[argparse.ArgumentParser, str]]:
    """Every runnable command (groups such as ``grant`` through their subcommands), with its help."""
    for _, help_text, child in _subcommands(parser):
        if any(isinstance(a, argparse._SubParsersAction) for a in child._actions):
            yield from leaves(child)
        else:
            yield child, help_text


def usage(parser: argparse.ArgumentParser) -> str:
    shown = [_argument(a) for a in parser._actions
             if not isinstance(a, argparse._HelpAction) and a.help != argparse.SUPPRESS]
    return " ".join([parser.prog, *shown])


def command_table(parser: argparse.ArgumentParser) -> str:
    rows = [f"| `{usage(child)}` | {help_text} |" for child, help_text in leaves(parser)]
    return "\n".join(["| command | what it does |", "|---|---|", *rows])


if __name__ == "__main__":
    from .cli import build_parser

    print(command_table(build_parser()))
