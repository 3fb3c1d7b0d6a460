"""GraphiQL's examples are the README's GraphQL samples: ``python -m govshare.server.console_examples`` writes
``server/static/graphiql-examples.json`` from README.md (a test fails when the two drift apart).

Each ```graphql block becomes an example titled by its README section; ```graphql_admin blocks are the
ones the README runs as the region's policy admin, and say so in their title.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
EXAMPLES = Path(__file__).resolve().parent / "static" / "graphiql-examples.json"
BLOCK = re.compile(r"^## (?P<section>[^\n]+)$|^```(?P<lang>graphql(?:_admin)?)\n(?P<body>.*?)^```$",
                   re.MULTILINE | re.DOTALL)


def readme_examples(readme: str) -> list[dict[str, str]]:
    examples: list[dict[str, str]] = []
    section = ""
    counts: dict[str, int] = {}
    for match in BLOCK.finditer(readme):
        if match["section"]:
            section = match["section"].strip()
            continue
        counts[section] = counts.get(section, 0) + 1
        title = section if counts[section] == 1 else f"{section} ({counts[section]})"
        if match["lang"] == "graphql_admin":
            title += " — as admin.region"
        examples.append({"title": title, "query": match["body"]})
    return examples


def render(readme: str) -> str:
    return json.dumps(readme_examples(readme), ensure_ascii=False, indent=1) + "\n"


def main() -> None:
    sys.stdout.write(render(README.read_text(encoding="utf-8")))


if __name__ == "__main__":
    main()
