"""Reading catalog entries: a working copy is its provider's and its node's (registrars, reviewers);
anyone else gets NOT_FOUND for a never-published draft and keeps reading the published version of a
resource whose next version is being drafted."""

from __future__ import annotations

import httpx
import pytest

from .conftest import call, code_of
from .test_catalog import ENTRY, NEW_VERSION, walk_to

pytestmark = pytest.mark.usefixtures("actors")


async def test_drafts_are_not_shown_to_others(client: httpx.AsyncClient) -> None:
    code, _ = await walk_to(client, "draft")
    body = await call(client, "wf.applicant", ENTRY, code=code)
    assert code_of(body) == "NOT_FOUND"
    body = await call(client, "wf.reviewer", "{ catalogEntries(state: DRAFT) { code } }")
    assert code in {e["code"] for e in body["data"]["catalogEntries"]}
    body = await call(client, "wf.applicant", "{ catalogEntries { code } }")
    assert code not in {e["code"] for e in body["data"]["catalogEntries"]}


async def test_others_keep_reading_the_published_version_while_the_next_is_drafted(
        client: httpx.AsyncClient) -> None:
    code, revision = await walk_to(client, "published")
    body = await call(client, "wf.registrar", NEW_VERSION, code=code, revision=revision)
    assert body["data"]["newCatalogVersion"]["state"] == "DRAFT"
    body = await call(client, "wf.applicant", ENTRY, code=code)
    entry = body["data"]["catalogEntry"]
    assert (entry["state"], entry["version"]) == ("PUBLISHED", 1), "the live version, not the draft"
    body = await call(client, "wf.registrar", ENTRY, code=code)
    entry = body["data"]["catalogEntry"]
    assert (entry["state"], entry["version"]) == ("DRAFT", 2), "the provider's registrar sees its draft"
