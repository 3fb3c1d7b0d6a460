"""The equivalence suites of the catalog lane (test_catalog_reads.py) and of direct reads
(test_direct_read_equivalence.py), checked to take their reference answers from graphql-core itself.

Their `both` once sent one fresh text twice (`query + "\\n# <uuid>"`: once to warm caches, then as
graphql-core's answer); but the first request plans that text, so the second was answered by a catalog lane
or a direct read of its own, and each case compared the fast path with itself (found by an independent
review). Here texts ending in such a comment are never planned, so every reference answer comes from
strawberry and graphql-core, and the harnesses are checked to send each reference text once.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from govshare.schema import plans

from ..helpers import gql
from .test_catalog_reads import (  # noqa: F401 (collected again here, with the fixture below)
    test_generated_documents_answer_as_graphql_core_does,
    test_languages_from_the_header_and_pages_after_a_cursor,
    test_the_catalog_lane_answers_as_graphql_core_does,
)
from .test_direct_read_equivalence import (  # noqa: F401
    review_grants,
    test_case,
    test_get_and_operation_name,
    test_variable_case,
)

REFERENCE = re.compile(r"\n# ([0-9a-f]{32}|graphql-core)$")


@pytest.fixture(autouse=True)
def reference_texts_are_never_planned(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    put = plans.Plans.put

    def put_unless_reference(self: plans.Plans, query: str, operation_name: str | None, plan: Any) -> None:
        if not REFERENCE.search(query):
            put(self, query, operation_name, plan)

    monkeypatch.setattr(plans.Plans, "put", put_unless_reference)
    yield


async def test_a_reference_text_is_answered_by_graphql_core_every_time(client: httpx.AsyncClient) -> None:
    query = '{ resources(first: 2) { edges { node { code } } } }\n# ' + uuid.uuid4().hex
    for _ in range(2):
        body, _ = await gql(client, query)
        assert body["data"]["resources"]["edges"]
    assert plans.plans_for(client.app.state.schemas.current.schema).get(query, None) is None  # type: ignore[attr-defined]
