"""The console at /console in headless Chromium: sign-in, the supervision dashboard against the GraphQL
answers, languages (Uyghur right to left), and what a developer is not offered."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import urljoin

import httpx
from playwright.async_api import Browser, Page, expect

from .console_browsers import demo_token, graphql, sign_in

BY_NODE = """query($nodes: [String!]) { catalogStatistics(groupBy: [NODE], nodes: $nodes) {
  rows { node resources dataItems unconditionalItems conditionalItems notSharedItems overdueUpdates } } }"""
BY_PROVIDER = """query($nodes: [String!]) { catalogStatistics(groupBy: [PROVIDER, LEVEL], nodes: $nodes) {
  rows { provider level resources dataItems } } }"""
REQUESTS = """query($since: DateTime) { requestStatistics(groupBy: [NODE], since: $since) {
  rows { node received approved rejected pending overdue medianReplyWorkingDays } } }"""
DENIALS = """query($since: DateTime) { deniedFieldStatistics(since: $since) { rows { reason denials } } }"""
GRANT_USE = """{ grantStatistics(expiringWithinDays: 30) { expiringSoon { id } neverUsed { id } } }"""
ASSESSMENT = """query($since: DateTime, $nodes: [String!]) { assessment(since: $since, nodes: $nodes) {
  rows { department score parts { name points weight ratio } } } }"""
USAGE = """query($since: DateTime) { usageStatistics(since: $since) {
  rows { department provider requests rows deniedFields refused } } }"""



async def settled(page: Page) -> None:
    await page.locator("#dashboard-body[aria-busy=false]").wait_for(timeout=15_000)


async def cells(page: Page, table: str, column: str) -> list[str]:
    return await page.locator(f"#{table} td[data-col={column}]").all_inner_texts()


async def codes(page: Page, table: str, column: str) -> list[str | None]:
    """Department codes of a column ('' shown for none)."""
    return [code or None for code in await page.locator(f"#{table} td[data-col={column}] [data-code]").evaluate_all(
        "spans => spans.map(s => s.dataset.code)")]


def one_decimal(value: float) -> str:
    """As the page shows it (Intl.NumberFormat rounds halves away from zero)."""
    return f"{Decimal(repr(value)).quantize(Decimal('0.1'), ROUND_HALF_UP):,}"


def number(text: str) -> int:
    return int(text.replace(",", ""))


async def header_reads_apart(page: Page) -> None:
    """The header's name and sign-out button stand apart, on screen and in its text (an outside tester read
    "govshareSign out" in GraphiQL's header, tests/server/test_assets.py)."""
    brand, button = page.locator("#brand"), page.locator("#sign-out")
    assert await button.is_visible()
    left, right = await brand.bounding_box(), await button.bounding_box()
    assert left is not None and right is not None
    assert right["x"] - (left["x"] + left["width"]) >= 8  # ltr: the button after the name, with room between
    text = await page.inner_text("header#top")
    assert re.search(r"govshare\s", text) and re.search(r"\sSign out$", text), text
    assert "govshareSign out" not in text


async def test_sign_in_keeps_the_token_in_the_tab_and_talks_to_graphql_only(browser: Browser,
                                                                            live_root: str) -> None:
    bearer = demo_token("supervisor.region")
    tab = await sign_in(browser, live_root, "supervisor.region", bearer)
    try:
        stored = await tab.page.evaluate("() => [sessionStorage.getItem('govshare.token'),"
                                         " JSON.stringify(Object.assign({}, localStorage))]")
        assert stored[0] == bearer
        assert bearer not in stored[1]
        assert await tab.page.inner_text("#who") == "supervisor.region · 650000-ZW (supervisor@650000, developer@650000)"
        await header_reads_apart(tab.page)
        await tab.page.click("#sign-out")
        await tab.page.locator("#token").wait_for(state="visible")
        assert await tab.page.evaluate("() => sessionStorage.getItem('govshare.token')") is None
    finally:
        await tab.context.close()
    assert tab.blocked == []
    assert tab.graphql_only()
    assert all(auth == f"Bearer {bearer}" for method, path, auth in tab.requests if path == "/graphql")


async def test_dashboard_figures_equal_the_graphql_answers_and_filters_change_them(
        browser: Browser, live_root: str, client: httpx.AsyncClient) -> None:
    bearer = demo_token("supervisor.region")
    # Some use of shared data to show: a data query by a civil-affairs bureau (the client's default token),
    # with a NOT_SHARED field denied.
    await client.post("/graphql", json={"query": "{ population(first: 3, purpose: \"最低生活保障资格审核\") "
                                                 "{ edges { node { name biometricTemplateId } } } }"})
    tab = await sign_in(browser, live_root, "supervisor.region")
    page = tab.page
    try:
        await settled(page)
        assert await page.locator("#nav-dashboard").get_attribute("aria-current") == "page"
        everything = (await graphql(live_root, bearer, BY_NODE))["catalogStatistics"]["rows"]
        by_node = {r["node"]: r for r in everything}
        shown_nodes = [t.split()[0] for t in await cells(page, "table-by-node", "node")]
        assert sorted(shown_nodes) == sorted(by_node)
        for column in ("resources", "dataItems", "unconditionalItems", "conditionalItems", "notSharedItems",
                       "overdueUpdates"):
            shown = [number(t) for t in await cells(page, "table-by-node", column)]
            assert shown == [by_node[n][column] for n in shown_nodes], column
        total = sum(r["resources"] for r in everything)
        assert number(await page.inner_text("#kpi-resources .kpi-value")) == total
        # Use between departments: the same pairs and counts as usageStatistics over the period shown.
        usage = (await graphql(live_root, bearer, USAGE))["usageStatistics"]["rows"]
        requests: dict[tuple[str, str], int] = {}
        for row in usage:
            requests[(row["department"], row["provider"])] = requests.get((row["department"], row["provider"]),
                                                                          0) + row["requests"]
        consumers = await codes(page, "table-usage", "consumer")
        providers = await codes(page, "table-usage", "provider")
        shown_requests = [number(t) for t in await cells(page, "table-usage", "requests")]
        assert dict(zip(zip(consumers, providers, strict=True), shown_requests, strict=True)) == requests
        assert any(consumer == "650100-MZ" for consumer, _ in requests)
        # Share requests per node, denied fields by reason, grants near expiry and never used.
        since = {"since": (datetime.now(UTC) - timedelta(days=30)).isoformat()}
        by_node_requests = {r["node"]: r for r in
                            (await graphql(live_root, bearer, REQUESTS, since))["requestStatistics"]["rows"]}
        shown_nodes = [t.split()[0] for t in await cells(page, "table-requests-by-node", "node")]
        assert sorted(shown_nodes) == sorted(by_node_requests)
        for column in ("received", "approved", "rejected", "pending", "overdue"):
            assert [number(t) for t in await cells(page, "table-requests-by-node", column)] == [
                by_node_requests[n][column] for n in shown_nodes], column
        assert number(await page.inner_text("#kpi-overdue-requests .kpi-value")) == sum(
            r["overdue"] for r in by_node_requests.values())
        reasons: dict[str, int] = {}
        for row in (await graphql(live_root, bearer, DENIALS, since))["deniedFieldStatistics"]["rows"]:
            reasons[row["reason"]] = reasons.get(row["reason"], 0) + row["denials"]
        assert reasons.get("NOT_SHARED", 0) >= 1
        shown_reasons = dict(zip(await cells(page, "table-denials", "reason"),
                                 [number(t) for t in await cells(page, "table-denials", "denials")], strict=True))
        assert shown_reasons == reasons
        grant_use = (await graphql(live_root, bearer, GRANT_USE))["grantStatistics"]
        for table, key in (("table-grants-expiring", "expiringSoon"), ("table-grants-never-used", "neverUsed")):
            assert [int(t) for t in await cells(page, table, "id")] == [g["id"] for g in grant_use[key]], table
        # Assessment: each department's score and parts, as the assessment answer gives them.
        scores = {r["department"]: r for r in
                  (await graphql(live_root, bearer, ASSESSMENT, since))["assessment"]["rows"]}
        shown_departments = await codes(page, "table-assessment", "department")
        assert sorted(d for d in shown_departments if d) == sorted(scores)
        shown_scores = await cells(page, "table-assessment", "score")
        for department, score in zip(shown_departments, shown_scores, strict=True):
            expected = scores[department or ""]["score"]
            assert score == ("–" if expected is None else one_decimal(expected)), department
        sharing = await cells(page, "table-assessment", "part-sharing")
        for department, cell in zip(shown_departments, sharing, strict=True):
            part = next(p for p in scores[department or ""]["parts"] if p["name"] == "sharing")
            assert cell.startswith("–" if part["ratio"] is None else f"{one_decimal(part['points'])} / {part['weight']}")
        await tab.screenshot("console-dashboard")

        # Filter by node: the figures become that node's.
        await page.select_option("#filter-node", "650100")
        await settled(page)
        one = (await graphql(live_root, bearer, BY_NODE, {"nodes": ["650100"]}))["catalogStatistics"]["rows"]
        assert [t.split()[0] for t in await cells(page, "table-by-node", "node")] == ["650100"]
        assert number(await page.inner_text("#kpi-resources .kpi-value")) == one[0]["resources"] != total
        assert [number(t) for t in await cells(page, "table-by-node", "dataItems")] == [one[0]["dataItems"]]

        # Filter by level: only county departments' catalogs, with their counts.
        await page.select_option("#filter-level", "county")
        await settled(page)
        rows = (await graphql(live_root, bearer, BY_PROVIDER, {"nodes": ["650100"]}))["catalogStatistics"]["rows"]
        county = {r["provider"]: r["resources"] for r in rows if r["level"] == "county"}
        assert county
        shown_providers = await codes(page, "table-by-department", "provider")
        shown_resources = [number(t) for t in await cells(page, "table-by-department", "resources")]
        assert dict(zip(shown_providers, shown_resources, strict=True)) == county
        assert number(await page.inner_text("#kpi-resources .kpi-value")) == sum(county.values())
        assert await page.locator("#chart-by-node[data-ready=true] canvas").count() == 1
        await tab.screenshot("console-dashboard-filtered")
    finally:
        await tab.context.close()
    assert tab.blocked == []
    assert tab.console_errors == []
    assert tab.graphql_only()


async def test_a_developer_is_offered_no_supervision_or_admin_pages(browser: Browser, live_root: str) -> None:
    tab = await sign_in(browser, live_root, "developer.urumqi")
    try:
        nav = await tab.page.locator("#nav a").evaluate_all("links => links.map(a => a.id)")
        assert nav == ["nav-explain", "nav-graphiql"]
        # Asking for a page by its address does not show it either: the page is absent, not an error.
        await tab.page.goto(f"{live_root}/console#dashboard")
        await tab.page.reload()
        await tab.page.locator("#explain-form").wait_for(timeout=10_000)
        assert await tab.page.locator("#dashboard-body, #rules-list, .error").count() == 0
        # Explain asks about the developer's own department only: the field is fixed to it.
        department = tab.page.locator("#explain-form [data-field=department]")
        assert await department.input_value() == "650100-MZ"
        assert await department.get_attribute("readonly") is not None
        await tab.screenshot("console-developer")
        # An unknown item: the message names the resource's items, shown once (not again as "accepted").
        form = tab.page.locator("#explain-form")
        await form.locator("[data-field=resource]").fill("650000-B01-000001")
        await form.locator("[data-field=item]").fill("nosuch")
        await tab.page.click("#explain-ask")
        error = form.locator("[data-error-for=item]")
        await error.get_by_text("has no item 'nosuch'").wait_for(timeout=10_000)
        assert (await error.inner_text()).count("birth_date") == 1
    finally:
        await tab.context.close()
    assert tab.console_errors == []


async def test_uyghur_is_right_to_left_and_remembered(browser: Browser, live_root: str) -> None:
    tab = await sign_in(browser, live_root, "supervisor.region")
    page = tab.page
    try:
        await settled(page)
        await page.select_option("#lang", "ug")
        # The page renders again after a language change: wait for its labels (aria-busy is still false from
        # the last render for a moment, so settled() alone can read the old page).
        await expect(page.locator("#nav-dashboard")).to_have_text("نازارەت ۋە باھالاش", timeout=15_000)
        await settled(page)
        assert await page.evaluate("() => [document.documentElement.lang, document.documentElement.dir]") == [
            "ug", "rtl"]
        # Laid out right to left: the menu starts at the right edge, numbers' columns are aligned to the left.
        header = await page.locator("header#top").bounding_box()
        brand = await page.locator("#brand").bounding_box()
        assert header and brand and brand["x"] > header["x"] + header["width"] / 2
        assert await page.locator("#table-by-node th").first.evaluate("e => getComputedStyle(e).direction") == "rtl"
        await tab.screenshot("console-uyghur")
        await page.reload()
        await expect(page.locator("#nav-dashboard")).to_have_text("نازارەت ۋە باھالاش", timeout=15_000)
        await settled(page)
        assert await page.evaluate("() => document.documentElement.dir") == "rtl"
        await page.select_option("#lang", "zh")
        await expect(page.locator("#nav-dashboard")).to_have_text("监督考核", timeout=15_000)
        await settled(page)
        assert await page.evaluate("() => document.documentElement.dir") == "ltr"
    finally:
        await tab.context.close()


async def test_console_page_and_modules_come_from_this_server_only(client: httpx.AsyncClient) -> None:
    response = await client.get("/console")
    assert response.status_code == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert "connect-src 'self'" in response.headers["content-security-policy"]
    references = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert references == ["/favicon.ico", "/static/console.css", "/static/console-app.js"]
    # Every module the console imports, followed through their imports, is served from /static.
    pending, seen = ["/static/console-app.js"], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        asset = await client.get(path)
        assert asset.status_code == 200, path
        assert "javascript" in asset.headers["content-type"], path
        if "/vendor/" in path:
            continue
        imported = re.findall(r'(?:from |import\()"([^"]+)"', asset.text)
        assert all(i.startswith(("./", "/static/")) for i in imported), (path, imported)
        pending += [urljoin(path, i) for i in imported]
        assert "localStorage.setItem(\"govshare.token" not in asset.text
    assert "/static/vendor/echarts-5.6.0/echarts.esm.min.js" in seen
    assert {"/static/console-rules.js", "/static/console-dashboard.js", "/static/console-grants.js"} <= seen
