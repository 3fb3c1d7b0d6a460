"""Authority findings of a catalog entry: what the register owner's classes would overrule if the
entry were served as it stands (a looser class is reported with the class that applies instead)."""

from __future__ import annotations

import httpx
import pytest

from .conftest import call
from .test_catalog import entry_input, walk_to

pytestmark = pytest.mark.usefixtures("actors")

FINDINGS = """query($code: String!) { catalogEntry(code: $code) { authorityFindings { kind column applied } } }"""


async def test_a_looser_class_than_the_owners_is_reported(client: httpx.AsyncClient) -> None:
    code, _ = await walk_to(client, "draft")
    body = await call(client, "wf.registrar", FINDINGS, code=code)
    # The register's owner (the region) classifies phone CONDITIONAL; the entry says UNCONDITIONAL.
    assert body["data"]["catalogEntry"]["authorityFindings"] == [
        {"kind": "class_conflict", "column": "phone", "applied": "CONDITIONAL"}]


async def test_an_entry_without_a_data_location_has_none(client: httpx.AsyncClient) -> None:
    # Nothing would be served from it, so the authority has nothing to overrule.
    code, _ = await walk_to(client, "draft", entry=entry_input(dataTable=None))
    body = await call(client, "wf.registrar", FINDINGS, code=code)
    assert body["data"]["catalogEntry"]["authorityFindings"] == []
