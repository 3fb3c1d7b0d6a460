"""Every example in the README (and docs/) runs verbatim against the demo data.

Examples are discovered, not listed: every fenced ```graphql block, and every ``./dev``/``govshare``
command in a shell block or an inline code span that can run offline against the databases. Sections
added later are covered without touching this file.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from govshare.core.settings import DEFAULT_TOPOLOGY, Settings
from govshare.federation.topology import Topology
from govshare.seed.writer import SeedOptions, seed_all
from govshare.server.app import create_app
from govshare.server.databases import migrate_all, provision_embedded
from govshare.server.identity import mint_demo_token

from .helpers import SECRET, audit_key_file, token

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# The demo's seed and topology at a smaller scale: rows are generated per node from the seed in a fixed
# order, so the first rows of every node (those the examples name) are the demo's own.
DEMO = SeedOptions(persons=3_000, entities=300, resources=300)
# The department `./dev demo` prints a token for.
DEMO_DEPARTMENT = "650100-MZ"
ADMIN_DEPARTMENT = "650000-ZW"  # admin.region's (seed/roles.py)
# Expected outcomes the README documents beside data (a denied field is null with one such error).
DOCUMENTED_ERRORS = {"FIELD_FORBIDDEN"}
# Commands that serve or run for minutes; what they print is covered by tests/server/test_cli.py.
LONG_RUNNING = {"demo", "serve", "pytest", "bench"}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"(?<!`)`((?:\./dev|govshare) [^`]+)`(?!`)")


@dataclass(frozen=True)
class Example:
    document: str
    text: str

    def __str__(self) -> str:
        return f"{self.document}: {self.text.splitlines()[0][:60]}"


def blocks(language: set[str]) -> list[Example]:
    return [Example(doc.name, m.group(2)) for doc in DOCUMENTS
            for m in FENCE.finditer(doc.read_text()) if m.group(1) in language]


def commands() -> list[Example]:
    """Shell commands: lines of shell blocks and inline spans, comments dropped, placeholders skipped."""
    found = []
    for doc in DOCUMENTS:
        text = doc.read_text()
        lines = [line for m in FENCE.finditer(text) if m.group(1) in {"bash", "sh", "shell", "console"}
                 for line in m.group(2).splitlines()]
        lines += INLINE.findall(FENCE.sub("", text))
        for line in lines:
            command = line.split(" #")[0].strip().removeprefix("$ ")
            words = command.split()
            if len(words) < 2 or words[0] not in {"./dev", "govshare"} or words[1] in LONG_RUNNING:
                continue
            # usage lines (`govshare token DEPARTMENT [--ttl SECONDS]`, `<node>-<kind>`, `…`) are checked
            # against the parser in tests/server/test_cli.py
            if re.search(r"[\[\]<>…]|(?<![-\w])[A-Z][A-Z_0-9]*\b", command):
                continue
            if command not in {e.text for e in found}:
                found.append(Example(doc.name, command))
    return found


def test_examples_are_found() -> None:
    """The discovery itself: the README has GraphQL examples and runnable commands."""
    assert len(blocks({"graphql"})) >= 2
    assert any("token" in c.text for c in commands())


@pytest.fixture(scope="module")
def demo_databases() -> Iterator[Topology]:
    """The demo's topology on one embedded server (as `./dev demo` runs it), migrated and seeded."""
    import asyncio

    root = Path(tempfile.mkdtemp(prefix="govshare-readme-", dir="/tmp"))

    async def prepare() -> tuple[Any, Topology]:
        server, topology = await provision_embedded(root, Topology.load(DEFAULT_TOPOLOGY))
        await migrate_all(topology)
        await seed_all({n.code: n.dsn or "" for n in topology.databases}, topology, DEMO)
        return server, topology

    server, topology = asyncio.run(prepare())
    try:
        yield topology
    finally:
        if server is not None:
            server.destroy()  # its private directory too (outside ``root`` when started as root)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
async def demo_client(demo_databases: Topology) -> AsyncIterator[httpx.AsyncClient]:
    data_dir = Path(tempfile.mkdtemp(prefix="govshare-readme-data-", dir="/tmp"))
    settings = replace(Settings(), demo_jwt_secret=SECRET, audit_key_file=audit_key_file(), data_dir=data_dir)
    app = create_app(settings, demo_databases)
    async with app.router.lifespan_context(app), httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://govshare.test",
        headers={"Authorization": f"Bearer {token(DEMO_DEPARTMENT)}"},
    ) as http:
        yield http
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.mark.parametrize("example", blocks({"graphql"}), ids=str)
async def test_graphql_example_runs_verbatim(demo_client: httpx.AsyncClient, example: Example) -> None:
    response = await demo_client.post("/graphql", json={"query": example.text})
    body = response.json()
    assert response.status_code == 200, body
    unexpected = [e for e in body.get("errors", []) if e.get("extensions", {}).get("code") not in DOCUMENTED_ERRORS]
    assert unexpected == [], unexpected
    # every root field answered (a null root field is a failure reported beside the data)
    assert body["data"] and all(value is not None for value in body["data"].values()), body["data"]
    verification = body["data"].get("verify")
    if verification is not None:
        assert verification["found"], "the verify example must name a citizen the demo seed contains"


@pytest.mark.parametrize("example", blocks({"graphql_admin"}), ids=str)
async def test_admin_graphql_example_runs_verbatim(demo_client: httpx.AsyncClient, example: Example) -> None:
    """```graphql_admin blocks run as the demo's policy admin of the region (admin.region)."""
    admin = f"Bearer {mint_demo_token(SECRET, ADMIN_DEPARTMENT, user='admin.region')}"
    response = await demo_client.post("/graphql", json={"query": example.text}, headers={"Authorization": admin})
    body = response.json()
    assert response.status_code == 200, body
    assert body.get("errors", []) == [], body["errors"]
    assert body["data"] and all(value is not None for value in body["data"].values()), body["data"]


@pytest.mark.parametrize("example", commands(), ids=str)
def test_command_example_runs_verbatim(demo_databases: Topology, example: Example, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVSHARE_")}
    env.update({f"GOVSHARE_DSN_{n.code}": n.dsn or "" for n in demo_databases.databases})
    env.update(GOVSHARE_DEMO_JWT_SECRET=SECRET, GOVSHARE_DATA_DIR=str(tmp_path),
               GOVSHARE_AUDIT_KEY_FILE=str(audit_key_file()))
    words = shlex.split(example.text)
    if words[0] == "govshare":
        words[0] = str(Path(sys.executable).parent / "govshare")  # the entry point of this environment
    result = subprocess.run(words, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_department_kind_table_is_the_seeds() -> None:
    from govshare.seed.vocabulary import COUNTY_KINDS, DEPARTMENT_KINDS, SUPERVISOR

    rows = re.findall(r"^\| `([A-Z]{2})` \| (\S+) ([^|]+?) \| ([a-z, ]+) \|$", (ROOT / "README.md").read_text(), re.M)
    expected = [(code, words.zh, words.en, "region, prefecture, county" if code in COUNTY_KINDS
                 else "region, prefecture") for code, words, _ in DEPARTMENT_KINDS]
    expected.append((SUPERVISOR[0], SUPERVISOR[1].zh, SUPERVISOR[1].en, "region"))
    assert [(c, zh, en.split(" (")[0], levels) for c, zh, en, levels in rows] == expected


def test_verify_outcomes_are_the_schemas() -> None:
    """The README's list of verify outcomes is the schema's (FORBIDDEN was missing: closing7 "Left")."""
    from govshare.schema.data_inputs import VerificationOutcome

    listed = re.search(r"\*\*Verification\*\* compares inside PostgreSQL and returns ([A-Z_ /\n]+?) per",
                       (ROOT / "README.md").read_text())
    assert listed is not None
    assert listed.group(1).replace("/", " ").split() == [o.value for o in VerificationOutcome]


def test_files_the_documents_name_are_in_the_repository() -> None:
    """No reference to files outside the repository: every relative path in a code span or link exists."""
    for doc in DOCUMENTS:
        text = FENCE.sub("", doc.read_text())
        spans = re.findall(r"`([\w./-]+/[\w./-]*)`", text) + re.findall(r"\]\(([^)#:]+)\)", text)
        for name in spans:
            # absolute paths are a deployment's own (/etc/govshare/...); media types are not paths;
            # .govshare/, .venv/ and tests/artifacts/ are created by the commands the README describes
            if name.startswith(("/", "http", "application/", ".govshare/", ".venv/", "tests/artifacts/")):
                continue
            assert (doc.parent / name).exists() or (ROOT / name).exists(), f"{doc.name} names {name}"
